#include "writer/tuple_image.hpp"

#include <cstring>

#include "catalog/entity_registry.hpp"
#include "pg/pg_guard.hpp"

extern "C" {
#include "access/relation.h"
#include "access/tupmacs.h"
}

namespace nomnom {
namespace {

TupleLayout::Attr attr_of(Form_pg_attribute att) {
    return {att->attlen, att->attbyval, att->attalign, att->attstorage};
}

// heap_compute_data_size's test: a varlena that will be given a 1-byte header.
bool packable(const TupleLayout::Attr& attr) {
    return attr.len == -1 && attr.storage != TYPSTORAGE_PLAIN;
}

} // namespace

TupleLayout tuple_layout(const ResolvedEntity& entity) {
    TupleLayout layout;
    const EntitySpec& spec = *entity.spec;
    for (size_t f = 0; f < spec.fields.size(); ++f)
        if (!entity.columns[f].function_sql.empty() ||
            (entity.parent >= 0 && spec.fields[f].from_parent == "id"))
            return layout;
    pg_call([&] {
        Relation rel = relation_open(entity.relid, AccessShareLock);
        TupleDesc desc = RelationGetDescr(rel);
        bool same = desc->natts == static_cast<int>(spec.fields.size()) + 1 &&
                    !(desc->constr && desc->constr->has_generated_stored);
        for (int a = 0; same && a < desc->natts; ++a) {
            Form_pg_attribute att = TupleDescAttr(desc, a);
            if (att->attisdropped || att->attgenerated) {
                same = false;
            } else if (a == 0) {
                same = strcmp(NameStr(att->attname), "id") == 0 && att->atttypid == INT8OID &&
                       att->attidentity != '\0';
            } else {
                const Column& column = entity.columns[a - 1];
                same = spec.fields[a - 1].name == NameStr(att->attname) &&
                       att->atttypid == column.type_oid &&
                       (att->atttypmod == -1 || att->atttypmod == column.typmod);
            }
        }
        if (same) {
            for (int a = 0; a < desc->natts; ++a)
                layout.attrs.push_back(attr_of(TupleDescAttr(desc, a)));
            layout.type_id = desc->tdtypeid;
            layout.typmod = desc->tdtypmod;
        }
        relation_close(rel, AccessShareLock);
    });
    return layout;
}

bool layout_matches(const TupleLayout& layout, TupleDesc desc) {
    if (!layout.usable() || desc->natts != static_cast<int>(layout.attrs.size()) ||
        desc->tdtypeid != layout.type_id || desc->tdtypmod != layout.typmod ||
        (desc->constr && desc->constr->has_generated_stored))
        return false;
    for (int a = 0; a < desc->natts; ++a) {
        Form_pg_attribute att = TupleDescAttr(desc, a);
        if (att->attisdropped || att->attgenerated || !(attr_of(att) == layout.attrs[a]))
            return false;
    }
    return true;
}

// heap_form_tuple, heap_compute_data_size and heap_fill_tuple (PostgreSQL 15's heaptuple.c)
// step by step, over the layout's copy of the TupleDesc.
HeapTupleHeader make_tuple_image(const TupleLayout& layout, const Datum* values, const char* nulls,
                                 Arena& arena) {
    const int natts = static_cast<int>(layout.attrs.size());
    // Attribute a's value: the id is 0 here, the backend writes it.
    auto value = [&](int a) { return a == 0 ? Datum(0) : values[a - 1]; };
    auto is_null = [&](int a) { return a > 0 && nulls[a - 1] == 'n'; };
    bool hasnull = false;
    size_t data_len = 0;
    for (int a = 0; a < natts; ++a) {
        if (is_null(a)) {
            hasnull = true;
            continue;
        }
        const TupleLayout::Attr& attr = layout.attrs[a];
        Pointer p = DatumGetPointer(value(a));
        if (attr.len == -1 && VARATT_IS_EXTERNAL(p))
            return nullptr; // (heap_form_tuple would flatten or point at it)
        if (packable(attr) && VARATT_CAN_MAKE_SHORT(p)) {
            data_len += VARATT_CONVERTED_SHORT_SIZE(p);
        } else {
            data_len = att_align_datum(data_len, attr.align, attr.len, value(a));
            data_len = att_addlength_datum(data_len, attr.len, value(a));
        }
    }
    size_t hoff = offsetof(HeapTupleHeaderData, t_bits);
    if (hasnull)
        hoff += BITMAPLEN(natts);
    hoff = MAXALIGN(hoff);
    const size_t len = hoff + data_len;
    // The arena's 8-byte alignment is palloc's: the attributes' alignment, which
    // heap_fill_tuple takes of the data pointer, comes out the same.
    auto td = static_cast<HeapTupleHeader>(arena.allocate(len));
    std::memset(td, 0, len); // (palloc0: the padding bytes are zeros)
    HeapTupleHeaderSetDatumLength(td, len);
    HeapTupleHeaderSetTypeId(td, layout.type_id);
    HeapTupleHeaderSetTypMod(td, layout.typmod);
    ItemPointerSetInvalid(&td->t_ctid);
    HeapTupleHeaderSetNatts(td, natts);
    td->t_hoff = static_cast<uint8>(hoff);

    char* data = reinterpret_cast<char*>(td) + hoff;
    bits8* bit = hasnull ? td->t_bits - 1 : nullptr;
    int bitmask = hasnull ? HIGHBIT : 0;
    uint16 infomask = 0;
    for (int a = 0; a < natts; ++a) {
        const TupleLayout::Attr& attr = layout.attrs[a];
        if (bit != nullptr) {
            if (bitmask != HIGHBIT) {
                bitmask <<= 1;
            } else {
                bit += 1;
                *bit = 0;
                bitmask = 1;
            }
            if (is_null(a)) {
                infomask |= HEAP_HASNULL;
                continue;
            }
            *bit |= bitmask;
        }
        Datum datum = value(a);
        size_t length;
        if (attr.byval) {
            data = reinterpret_cast<char*>(att_align_nominal(data, attr.align));
            store_att_byval(data, datum, attr.len);
            length = attr.len;
        } else if (attr.len == -1) {
            Pointer p = DatumGetPointer(datum);
            infomask |= HEAP_HASVARWIDTH;
            if (VARATT_IS_SHORT(p)) {
                length = VARSIZE_SHORT(p);
                std::memcpy(data, p, length);
            } else if (packable(attr) && VARATT_CAN_MAKE_SHORT(p)) {
                length = VARATT_CONVERTED_SHORT_SIZE(p);
                SET_VARSIZE_SHORT(data, length);
                std::memcpy(data + 1, VARDATA(p), length - 1);
            } else {
                data = reinterpret_cast<char*>(att_align_nominal(data, attr.align));
                length = VARSIZE(p);
                std::memcpy(data, p, length);
            }
        } else if (attr.len == -2) {
            infomask |= HEAP_HASVARWIDTH;
            length = std::strlen(DatumGetCString(datum)) + 1;
            std::memcpy(data, DatumGetPointer(datum), length);
        } else {
            data = reinterpret_cast<char*>(att_align_nominal(data, attr.align));
            length = attr.len;
            std::memcpy(data, DatumGetPointer(datum), length);
        }
        data += length;
    }
    td->t_infomask = infomask;
    return td;
}

HeapTuple tuple_from_image(HeapTupleHeader image, int64 id, MemoryContext context) {
    const uint32 len = HeapTupleHeaderGetDatumLength(image);
    auto tuple = static_cast<HeapTuple>(MemoryContextAlloc(context, HEAPTUPLESIZE + len));
    tuple->t_len = len;
    ItemPointerSetInvalid(&tuple->t_self);
    tuple->t_tableOid = InvalidOid;
    tuple->t_data =
        reinterpret_cast<HeapTupleHeader>(reinterpret_cast<char*>(tuple) + HEAPTUPLESIZE);
    std::memcpy(tuple->t_data, image, len);
    // The id: attribute 1, never NULL, at the data's start (8-byte aligned, as int8 is).
    store_att_byval(reinterpret_cast<char*>(tuple->t_data) + tuple->t_data->t_hoff,
                    Int64GetDatum(id), sizeof(int64));
    return tuple;
}

} // namespace nomnom
