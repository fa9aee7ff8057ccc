#include "writer/batch_rows.hpp"

#include <algorithm>
#include <vector>

extern "C" {
PG_FUNCTION_INFO_V1(nomnom_batch_rows);
}

namespace nomnom {
namespace {

// The batches being written now: a statement may run inside another's trigger, so a few.
std::vector<const BatchRows*> registered;
int64 last_handle = 0;

} // namespace

BatchRows::BatchRows(std::vector<Oid> types, size_t count, RowFiller fill)
    : handle_(++last_handle), types_(std::move(types)), count_(count), fill_(std::move(fill)) {
    registered.push_back(this);
}

BatchRows::~BatchRows() {
    registered.erase(std::remove(registered.begin(), registered.end(), this), registered.end());
}

const BatchRows* find_batch_rows(int64 handle) {
    for (const BatchRows* batch : registered)
        if (DatumGetInt64(batch->handle()) == handle)
            return batch;
    return nullptr;
}

} // namespace nomnom

// nomnom.batch_rows(handle bigint) RETURNS SETOF record. PostgreSQL-style: nothing in this
// frame has a destructor, so an ERROR from the tuplestore may longjmp through it.
Datum nomnom_batch_rows(PG_FUNCTION_ARGS) {
    const nomnom::BatchRows* batch = nomnom::find_batch_rows(PG_GETARG_INT64(0));
    if (batch == nullptr)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("nomnom.batch_rows: no batch %lld is being written in this session",
                               static_cast<long long>(PG_GETARG_INT64(0))),
                        errhint("The function is nomnom's own: its writer's statements call it.")));
    InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
    ReturnSetInfo* rsinfo = reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo);
    // The filler writes Datums of its own types: any other row shape would misread them.
    int natts = rsinfo->setDesc->natts;
    bool same_shape = static_cast<size_t>(natts) == batch->types().size();
    for (int i = 0; same_shape && i < natts; ++i)
        same_shape = TupleDescAttr(rsinfo->setDesc, i)->atttypid == batch->types()[i];
    if (!same_shape)
        ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH),
                        errmsg("nomnom.batch_rows: the column definition list does not match batch %lld",
                               static_cast<long long>(PG_GETARG_INT64(0)))));
    Datum* values = static_cast<Datum*>(palloc(sizeof(Datum) * natts));
    bool* nulls = static_cast<bool*>(palloc(sizeof(bool) * natts));
    for (size_t row = 0; row < batch->count(); ++row) {
        batch->fill(row, values, nulls);
        tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
    }
    return (Datum)0;
}
