#include "writer/bulk_insert.hpp"

#include "gucs.hpp"
#include "pg/pg_guard.hpp"

extern "C" {
#include "access/heapam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "commands/trigger.h"
#include "executor/nodeModifyTable.h"
#include "optimizer/optimizer.h"
#include "parser/parse_relation.h"
#include "rewrite/rewriteHandler.h"
#include "utils/rls.h"
#include "utils/typcache.h"
}

namespace nomnom {
namespace {

// Tuples a heap_multi_insert takes at most (copyfrom.c's MAX_BUFFERED_TUPLES).
constexpr size_t kMaxBuffered = 1000;

bool has_insert_triggers(const TriggerDesc* trig) {
    return trig != nullptr &&
           (trig->trig_insert_before_row || trig->trig_insert_after_row ||
            trig->trig_insert_instead_row || trig->trig_insert_before_statement ||
            trig->trig_insert_after_statement || trig->trig_insert_new_table);
}

// The NOT NULL columns (attribute numbers) of a table, which an image row is tested against.
int not_null_columns(TupleDesc desc, AttrNumber* out) {
    int n = 0;
    for (int a = 0; a < desc->natts; ++a)
        if (TupleDescAttr(desc, a)->attnotnull)
            out[n++] = static_cast<AttrNumber>(a + 1);
    return n;
}

// Whether the tuple has a NULL in one of those columns, read from its NULL bitmap.
bool breaks_not_null(HeapTuple tuple, const AttrNumber* not_null, int count) {
    if (HeapTupleNoNulls(tuple))
        return false;
    for (int i = 0; i < count; ++i)
        if (heap_attisnull(tuple, not_null[i], nullptr))
            return true;
    return false;
}

// The defaults of the columns not written, as copyfrom.c's BeginCopyFrom builds them; false
// when one has a volatile function other than nextval, or when an INSERT would check a
// domain's constraints on a NULL (COPY does not; INSERT does, so this path steps aside).
bool build_defaults(Relation rel, const bool* written, AttrNumber* attnums, ExprState** states,
                    int* count) {
    TupleDesc desc = RelationGetDescr(rel);
    *count = 0;
    for (int a = 0; a < desc->natts; ++a) {
        Form_pg_attribute att = TupleDescAttr(desc, a);
        if (att->attisdropped || att->attgenerated || written[a])
            continue;
        Expr* expr = reinterpret_cast<Expr*>(build_column_default(rel, a + 1));
        if (expr == nullptr) {
            if (get_typtype(att->atttypid) == TYPTYPE_DOMAIN)
                return false;
            continue;
        }
        if (contain_volatile_functions_not_nextval(reinterpret_cast<Node*>(expr)))
            return false;
        expr = expression_planner(expr);
        attnums[*count] = static_cast<AttrNumber>(a + 1);
        states[*count] = ExecInitExpr(expr, nullptr);
        ++*count;
    }
    return true;
}

// PostgreSQL-style (may ereport): see bulk_insert.
bool bulk_insert_pg(Oid relid, const BulkColumn* columns, int ncolumns, size_t count,
                    const RowFiller* fill, int64* ids, const TupleImages* images) {
    Relation rel = table_open(relid, RowExclusiveLock);
    TupleDesc desc = RelationGetDescr(rel);
    bool possible = rel->rd_rel->relkind == RELKIND_RELATION && !rel->rd_rel->relispartition &&
                    !has_insert_triggers(rel->trigdesc) &&
                    check_enable_rls(relid, InvalidOid, true) != RLS_ENABLED;

    AttrNumber* attnums = static_cast<AttrNumber*>(palloc(sizeof(AttrNumber) * ncolumns));
    bool* written = static_cast<bool*>(palloc0(sizeof(bool) * desc->natts));
    RangeTblEntry* rte = makeNode(RangeTblEntry);
    rte->rtekind = RTE_RELATION;
    rte->relid = relid;
    rte->relkind = rel->rd_rel->relkind;
    rte->rellockmode = RowExclusiveLock;
    rte->requiredPerms = ACL_INSERT;
    for (int i = 0; possible && i < ncolumns; ++i) {
        attnums[i] = attnameAttNum(rel, columns[i].name, false);
        if (attnums[i] <= 0 || written[attnums[i] - 1]) {
            possible = false; // the INSERT reports it
            break;
        }
        Form_pg_attribute att = TupleDescAttr(desc, attnums[i] - 1);
        // A value of another type or modifier would be cast by the INSERT; a generated or
        // GENERATED ALWAYS column may not be written.
        if (att->atttypid != columns[i].type ||
            (att->atttypmod != -1 && att->atttypmod != columns[i].typmod) || att->attgenerated ||
            att->attidentity == ATTRIBUTE_IDENTITY_ALWAYS)
            possible = false;
        written[attnums[i] - 1] = true;
        rte->insertedCols =
            bms_add_member(rte->insertedCols, attnums[i] - FirstLowInvalidHeapAttributeNumber);
    }
    List* range_table = list_make1(rte);
    // The INSERT privilege as an INSERT checks it (the table's, or every written column's;
    // ExecutorCheckPerms_hook too). Without it the INSERT runs, and raises the error.
    if (possible && !ExecCheckRTPerms(range_table, false))
        possible = false;

    AttrNumber* default_attnums =
        static_cast<AttrNumber*>(palloc(sizeof(AttrNumber) * desc->natts));
    ExprState** default_states = static_cast<ExprState**>(palloc(sizeof(ExprState*) * desc->natts));
    int ndefaults = 0;
    if (possible && !build_defaults(rel, written, default_attnums, default_states, &ndefaults))
        possible = false;
    AttrNumber id_attnum = InvalidAttrNumber;
    if (possible && ids != nullptr) {
        id_attnum = attnameAttNum(rel, "id", false);
        if (id_attnum <= 0 || TupleDescAttr(desc, id_attnum - 1)->atttypid != INT8OID)
            possible = false;
    }
    if (!possible) {
        table_close(rel, NoLock); // the INSERT takes the same lock
        return false;
    }
    // Images hold the fields in the table's order after the id, which nextval fills in.
    bool use_images = images != nullptr && layout_matches(*images->layout, desc) &&
                      ndefaults == 1 && default_attnums[0] == 1;
    for (int i = 0; use_images && i < ncolumns; ++i)
        use_images = attnums[i] == i + 2;

    // As CopyFrom: a result relation with its indexes, slots filled and checked one by one,
    // inserted a buffer at a time, then each row's index entries.
    EState* estate = CreateExecutorState();
    ExecInitRangeTable(estate, range_table);
    ResultRelInfo* rri = makeNode(ResultRelInfo);
    InitResultRelInfo(rri, rel, 1, nullptr, 0);
    CheckValidResultRel(rri, CMD_INSERT);
    ExecOpenIndices(rri, false);
    CommandId cid = GetCurrentCommandId(true);
    BulkInsertState bistate = GetBulkInsertState();
    ExprContext* econtext = GetPerTupleExprContext(estate);
    const bool generated = desc->constr && desc->constr->has_generated_stored;
    const bool constrained = desc->constr != nullptr;
    // An image row with no NULL in a NOT NULL column needs no ExecConstraints (it deforms the
    // tuple to test them); one with such a NULL calls it, which raises the INSERT's error.
    const bool has_checks = constrained && desc->constr->num_check > 0;
    AttrNumber* not_null = static_cast<AttrNumber*>(palloc(sizeof(AttrNumber) * desc->natts));
    const int nnot_null = use_images && constrained ? not_null_columns(desc, not_null) : 0;
    TupleTableSlot** slots =
        static_cast<TupleTableSlot**>(palloc0(sizeof(TupleTableSlot*) * kMaxBuffered));
    // The slots share one copy of the descriptor: the relation's own is reference-counted,
    // and a thousand pins a batch made the resource owner's bookkeeping cost more than the
    // rows' heap insertion.
    TupleDesc slot_desc = CreateTupleDescCopy(desc);
    // (A heap tuple slot takes an image's tuple as it is; the heap's own buffer slot would
    // copy it. Both form a row of values with heap_form_tuple.)
    const TupleTableSlotOps* slot_ops = use_images ? &TTSOpsHeapTuple : table_slot_callbacks(rel);
    Datum* values = static_cast<Datum*>(palloc(sizeof(Datum) * ncolumns));
    bool* nulls = static_cast<bool*>(palloc(sizeof(bool) * ncolumns));
    size_t used = 0, first = 0; // rows in the buffer, and the batch row of slots[0]
    size_t from_images = 0;

    auto flush = [&] {
        MemoryContext caller = MemoryContextSwitchTo(GetPerTupleMemoryContext(estate));
        table_multi_insert(rel, slots, static_cast<int>(used), cid, 0, bistate);
        MemoryContextSwitchTo(caller);
        for (size_t i = 0; i < used; ++i) {
            if (rri->ri_NumIndices > 0)
                list_free(ExecInsertIndexTuples(rri, slots[i], estate, false, false, nullptr, NIL));
            if (ids != nullptr) {
                bool is_null;
                Datum id = slot_getattr(slots[i], id_attnum, &is_null);
                ids[first + i] = is_null ? 0 : DatumGetInt64(id);
            }
            ExecClearTuple(slots[i]);
        }
        ResetPerTupleExprContext(estate);
        first += used;
        used = 0;
    };

    for (size_t r = 0; r < count; ++r) {
        ResetPerTupleExprContext(estate);
        if (slots[used] == nullptr)
            slots[used] = ExecAllocTableSlot(&estate->es_tupleTable, slot_desc, slot_ops);
        TupleTableSlot* slot = slots[used];
        ExecClearTuple(slot);
        HeapTupleHeader image = use_images ? images->image(r) : nullptr;
        if (image != nullptr) {
            MemoryContext caller = MemoryContextSwitchTo(GetPerTupleMemoryContext(estate));
            bool id_null;
            Datum id = ExecEvalExpr(default_states[0], econtext, &id_null);
            MemoryContextSwitchTo(caller);
            if (id_null) // (nextval never is)
                elog(ERROR, "nomnom: the identity of \"%s\" gave NULL",
                     RelationGetRelationName(rel));
            HeapTuple tuple = tuple_from_image(image, DatumGetInt64(id), slot->tts_mcxt);
            ++from_images;
            ExecStoreHeapTuple(tuple, slot, true);
            slot->tts_tableOid = relid;
            if (has_checks || breaks_not_null(tuple, not_null, nnot_null))
                ExecConstraints(rri, slot, estate);
        } else {
            for (int a = 0; a < desc->natts; ++a) {
                slot->tts_values[a] = 0;
                slot->tts_isnull[a] = true;
            }
            (*fill)(r, values, nulls);
            for (int i = 0; i < ncolumns; ++i) {
                slot->tts_values[attnums[i] - 1] = values[i];
                slot->tts_isnull[attnums[i] - 1] = nulls[i];
            }
            MemoryContext caller = MemoryContextSwitchTo(GetPerTupleMemoryContext(estate));
            for (int d = 0; d < ndefaults; ++d) {
                int a = default_attnums[d] - 1;
                slot->tts_values[a] =
                    ExecEvalExpr(default_states[d], econtext, &slot->tts_isnull[a]);
            }
            MemoryContextSwitchTo(caller);
            ExecStoreVirtualTuple(slot);
            slot->tts_tableOid = relid;
            if (generated)
                ExecComputeStoredGenerated(rri, estate, slot, CMD_INSERT);
            if (constrained)
                ExecConstraints(rri, slot, estate);
            ExecMaterializeSlot(slot); // its own copy: the per-tuple memory is reset next row
        }
        if (++used == kMaxBuffered)
            flush();
    }
    if (used > 0)
        flush();
    // Which way the rows went, for tests and for a user checking that a table of theirs keeps
    // the fast path (an altered table, or other defaults, leave its images aside).
    if (message_level_is_interesting(DEBUG2))
        ereport(DEBUG2, (errmsg_internal("nomnom: %zu rows into \"%s\" COPY-style, %zu of them from "
                                         "tuple images",
                                         count, RelationGetRelationName(rel), from_images)));

    FreeBulkInsertState(bistate);
    table_finish_bulk_insert(rel, 0);
    ExecCloseIndices(rri);
    ExecResetTupleTable(estate->es_tupleTable, false);
    FreeExecutorState(estate);
    table_close(rel, NoLock);
    CommandCounterIncrement(); // the statements after this see its rows
    return true;
}

} // namespace

bool bulk_insert(Oid relid, const std::vector<BulkColumn>& columns, size_t count,
                 const RowFiller& fill, std::vector<int64>* returned_ids,
                 const TupleImages* images) {
    if (!nomnom_copy_insert_guc)
        return false;
    if (returned_ids != nullptr)
        returned_ids->assign(count, 0);
    int64* ids = returned_ids != nullptr ? returned_ids->data() : nullptr;
    bool written = false;
    pg_call([&] {
        written = bulk_insert_pg(relid, columns.data(), static_cast<int>(columns.size()), count,
                                 &fill, ids, images);
    });
    return written;
}

} // namespace nomnom
