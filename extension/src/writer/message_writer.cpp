#include "writer/message_writer.hpp"

#include <algorithm>
#include <cstring>
#include <exception>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include "catalog/entity_tables.hpp"
#include "nomnom/mapper.hpp"
#include "nomnom/stream_options.hpp"
#include "pg/pg_guard.hpp"
#include "pg/pg_text.hpp"
#include "pg/role_scope.hpp"
#include "pg/spi_session.hpp"
#include "writer/batch_rows.hpp"
#include "writer/bulk_insert.hpp"
#include "writer/plain_first.hpp"

extern "C" {
#include "port/pg_bswap.h"
#include "utils/array.h"
#include "utils/datum.h"
}

namespace nomnom {
namespace {

// Claims ids: inserts them as completed, or turns pending/failed rows completed. A row that
// is already completed is left alone and not returned. A conflicting row is locked, so a
// concurrent writer of the same id waits and then sees it completed.
// kClaimInsert alone, a plain INSERT, is tried first (plain_first.hpp): ids are usually new.
// A concurrent writer's uncommitted row of the same id makes it wait, then fail with a
// unique violation, and the upsert follows.
constexpr const char kClaimInsert[] =
    "INSERT INTO nomnom.message_status AS s "
    "  (message_id, stream, subject, entity, status, attempts, stream_seq, "
    "received_at, completed_at) "
    "SELECT r.message_id, r.stream, r.subject, r.entity, 'completed', r.attempts, r.stream_seq, "
    "       r.received_at, clock_timestamp() "
    "FROM nomnom.batch_rows($1) AS r(message_id uuid, stream text, subject text, entity text, "
    "                                attempts int4, stream_seq int8, received_at timestamptz) ";
const std::string kClaimSql =
    std::string(kClaimInsert) +
    "ON CONFLICT (message_id) DO UPDATE SET status = 'completed', "
    "  stream = COALESCE(EXCLUDED.stream, s.stream), "
    "subject = COALESCE(EXCLUDED.subject, s.subject), "
    "  entity = EXCLUDED.entity, attempts = GREATEST(EXCLUDED.attempts, s.attempts), "
    "  stream_seq = COALESCE(EXCLUDED.stream_seq, s.stream_seq), error = NULL, "
    "  completed_at = clock_timestamp() "
    "WHERE s.status <> 'completed' "
    "RETURNING s.message_id";

// The batch's rows that are not completed (the bridge's pending rows, a failed message's
// row), removed to be written again COPY-style with what the upsert would keep of them
// (claim_existing). Index order: the rows are taken in message id order, as everywhere.
constexpr const char kReplaceDelete[] =
    "DELETE FROM nomnom.message_status s "
    "WHERE s.message_id = ANY($1) AND s.status <> 'completed' "
    "RETURNING s.message_id, s.stream, s.subject, s.attempts, s.stream_seq, s.received_at";

SPIPlanPtr claim_plan = nullptr;
SPIPlanPtr plain_claim_plan = nullptr;
SPIPlanPtr replace_plan = nullptr;
PlainFirst plain_claim;

SPIPlanPtr prepare_claim(const char* sql, Oid type = INT8OID) { // INT8OID: a batch_rows handle
    SPIPlanPtr plan = nullptr;
    Oid types[] = {type};
    pg_call([&] { plan = prepare_kept_plan(sql, 1, types, CURSOR_OPT_GENERIC_PLAN); });
    return plan;
}

// A message id as a hash key. (A std::string of its 16 bytes is one more than the short
// string buffer holds: a heap allocation a message, twice.)
struct IdKey {
    uint64 high, low;
    bool operator==(const IdKey& other) const { return high == other.high && low == other.low; }
};
struct IdKeyHash {
    size_t operator()(const IdKey& key) const {
        uint64 mixed = key.high ^ (key.low * 0x9E3779B97F4A7C15ULL);
        return static_cast<size_t>(mixed * 0xBF58476D1CE4E5B9ULL);
    }
};
using IdSet = std::unordered_set<IdKey, IdKeyHash>;

IdKey id_key(const pg_uuid_t& id) {
    IdKey key;
    memcpy(&key.high, id.data, 8);
    memcpy(&key.low, id.data + 8, 8);
    return key;
}

// kClaimInsert's rows written COPY-style (bulk_insert.hpp): `fill` gives kClaimInsert's
// batch_rows columns, the first seven of the bulk columns, straight into the row's values;
// status and completed_at follow. False, with nothing written, when bulk_insert cannot.
bool bulk_claim(size_t count, const RowFiller& fill) {
    static const std::vector<BulkColumn> columns = {{"message_id", UUIDOID, -1},
                                                    {"stream", TEXTOID, -1},
                                                    {"subject", TEXTOID, -1},
                                                    {"entity", TEXTOID, -1},
                                                    {"attempts", INT4OID, -1},
                                                    {"stream_seq", INT8OID, -1},
                                                    {"received_at", TIMESTAMPTZOID, -1},
                                                    {"status", TEXTOID, -1},
                                                    {"completed_at", TIMESTAMPTZOID, -1}};
    Oid relid = InvalidOid;
    Datum completed = 0;
    TimestampTz now = 0;
    pg_call([&] {
        relid = get_relname_relid("message_status", get_namespace_oid("nomnom", false));
        completed = CStringGetTextDatum("completed");
        now = GetCurrentTimestamp(); // clock_timestamp() in kClaimInsert: one for the batch here
    });
    if (relid == InvalidOid)
        return false;
    return bulk_insert(relid, columns, count, [&](size_t i, Datum* values, bool* nulls) {
        fill(i, values, nulls); // message_id ... received_at
        values[7] = completed;
        nulls[7] = false;
        values[8] = TimestampTzGetDatum(now);
        nulls[8] = false;
    });
}

// kClaimInsert's batch_rows columns
const std::vector<Oid> kClaimTypes = {UUIDOID, TEXTOID, TEXTOID,       TEXTOID,
                                      INT4OID, INT8OID, TIMESTAMPTZOID};

// Below this many ids a batch's claim is the upsert alone (as PlainFirst's tries).
constexpr size_t kReplaceFrom = 16;

// kClaimSql for `count` rows of kClaimTypes' columns: the ids it claimed into `claimed`.
void upsert_claim(size_t count, const RowFiller& fill, IdSet& claimed) {
    BatchRows rows(kClaimTypes, count, fill);
    std::vector<Datum> params = {rows.handle()};
    if (claim_plan == nullptr)
        claim_plan = prepare_claim(kClaimSql.c_str());
    execute(claim_plan, params, "status claim");
    pg_call([&] {
        for (uint64 r = 0; r < SPI_processed; ++r) {
            bool is_null;
            Datum id = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &is_null);
            claimed.insert(id_key(*DatumGetUUIDP(id)));
        }
    });
}

// The claim when some ids have rows already (the plain claim met one, or did lately): as
// kClaimSql's upsert, for less. A row that is not completed (nearly always the bridge's
// pending row) is deleted and written again completed, COPY-style with the batch's new
// rows, keeping what the upsert keeps of it (received_at; stream, subject and stream_seq
// where the message has none; the larger attempts). The upsert instead locks each row,
// writes a new version of it (to another page: a full page leaves no room for a HOT
// update) and a new primary key entry, one row at a time: about 6x the claim of a new id
// (bench/README.md, item 24). Deleted rows stay locked to the end of the transaction, so a
// concurrent writer of the same id waits, then finds the completed row. The other ids
// (completed already: a redelivery; or with no row yet) go by the upsert, as before.
// `messages` are sorted by id; `fill` gives kClaimTypes' columns of each.
bool claim_existing(const std::vector<PreparedMessage*>& messages, const RowFiller& fill,
                    IdSet& claimed) {
    const size_t n = messages.size();
    struct Existing {
        bool found = false;
        bool stream_null = true, subject_null = true, seq_null = true;
        Datum stream = 0, subject = 0;
        int32 attempts = 0;
        int64 stream_seq = 0;
        TimestampTz received_at = 0;
    };
    std::vector<Existing> existing(n);
    if (replace_plan == nullptr)
        replace_plan = prepare_claim(kReplaceDelete, UUIDARRAYOID);
    std::vector<Datum> params(1), ids(n);
    for (size_t i = 0; i < n; ++i)
        ids[i] = UUIDPGetDatum(const_cast<pg_uuid_t*>(&messages[i]->message.message_id));
    pg_call([&] {
        params[0] = PointerGetDatum(construct_array(ids.data(), static_cast<int>(n), UUIDOID,
                                                    UUID_LEN, false, TYPALIGN_CHAR));
    });
    // Through the primary key, whatever the ledger's size when the plan was made: a
    // sequential scan planned on an emptied table and kept would read the whole ledger,
    // every row against every id, for each batch as it grew (bench/e2e_cpu.sh's end to end,
    // after its TRUNCATE: the worker at 106-124 us a document, not 34). The plan is made
    // (and remade) only inside this scope.
    int guc_level = 0;
    pg_call([&] {
        guc_level = NewGUCNestLevel();
        (void)set_config_option("enable_seqscan", "off", PGC_USERSET, PGC_S_SESSION,
                                GUC_ACTION_SAVE, true, 0, false);
    });
    execute(replace_plan, params, "status claim (pending rows)");
    pg_call([&] { AtEOXact_GUC(true, guc_level); });
    pg_call([&] {
        TupleDesc desc = SPI_tuptable->tupdesc;
        for (uint64 r = 0; r < SPI_processed; ++r) {
            HeapTuple row = SPI_tuptable->vals[r];
            bool null;
            const pg_uuid_t* id = DatumGetUUIDP(SPI_getbinval(row, desc, 1, &null));
            auto at = std::lower_bound(messages.begin(), messages.end(), id,
                                       [](const PreparedMessage* m, const pg_uuid_t* key) {
                                           return memcmp(m->message.message_id.data, key->data,
                                                         UUID_LEN) < 0;
                                       });
            if (at == messages.end() ||
                memcmp((*at)->message.message_id.data, id->data, UUID_LEN) != 0)
                elog(ERROR, "nomnom: status claim: deleted a row of another message");
            Existing& e = existing[at - messages.begin()];
            e.found = true;
            Datum v = SPI_getbinval(row, desc, 2, &e.stream_null);
            if (!e.stream_null)
                e.stream = datumCopy(v, false, -1);
            v = SPI_getbinval(row, desc, 3, &e.subject_null);
            if (!e.subject_null)
                e.subject = datumCopy(v, false, -1);
            v = SPI_getbinval(row, desc, 4, &null);
            e.attempts = null ? 0 : DatumGetInt32(v);
            v = SPI_getbinval(row, desc, 5, &e.seq_null);
            e.stream_seq = e.seq_null ? 0 : DatumGetInt64(v);
            e.received_at = DatumGetTimestampTz(SPI_getbinval(row, desc, 6, &null));
        }
    });
    std::vector<size_t> replaced, rest;
    for (size_t i = 0; i < n; ++i)
        (existing[i].found ? replaced : rest).push_back(i);
    if (!replaced.empty()) {
        // kClaimSql's SET list, for the deleted rows
        RowFiller merged = [&](size_t k, Datum* values, bool* nulls) {
            size_t i = replaced[k];
            fill(i, values, nulls);
            const Existing& e = existing[i];
            if (nulls[1] && !e.stream_null) {
                values[1] = e.stream;
                nulls[1] = false;
            }
            if (nulls[2] && !e.subject_null) {
                values[2] = e.subject;
                nulls[2] = false;
            }
            values[4] = Int32GetDatum(std::max(DatumGetInt32(values[4]), e.attempts));
            if (nulls[5] && !e.seq_null) {
                values[5] = Int64GetDatum(e.stream_seq);
                nulls[5] = false;
            }
            values[6] = TimestampTzGetDatum(e.received_at);
        };
        if (!bulk_claim(replaced.size(), merged)) {
            if (plain_claim_plan == nullptr)
                plain_claim_plan = prepare_claim(kClaimInsert);
            BatchRows rows(kClaimTypes, replaced.size(), merged);
            std::vector<Datum> insert_params = {rows.handle()};
            execute(plain_claim_plan, insert_params, "status claim");
        }
    }
    if (rest.empty())
        return true; // every id claimed
    for (size_t i : replaced)
        claimed.insert(id_key(messages[i]->message.message_id));
    RowFiller rest_fill = [&](size_t k, Datum* values, bool* nulls) {
        fill(rest[k], values, nulls);
    };
    upsert_claim(rest.size(), rest_fill, claimed);
    return false;
}

// Claims the messages, which come in message id order (write_prepared): true when every one
// was new, else false with the ids that were not already completed in `claimed`. Message id
// order is the order nomnom-bridge writes its pending rows in: two transactions that take
// the same ids in the same order wait on each other, but never deadlock (a batch in stream
// order did, now and then, against the bridge's rows).
bool claim(const std::vector<PreparedMessage*>& messages, IdSet& claimed) {
    // The text columns as Datums (PostgreSQL calls: made here, not in the filler), one for
    // each run of equal values: a batch's messages mostly share stream, subject and entity.
    struct TextColumns {
        Datum stream = 0, subject = 0, entity = 0;
    };
    std::vector<TextColumns> texts(messages.size());
    auto text_datum = [](const char* value, const char* previous_value, Datum previous) {
        if (value == nullptr)
            return Datum(0);
        if (previous_value != nullptr &&
            (previous_value == value || strcmp(previous_value, value) == 0))
            return previous;
        return CStringGetTextDatum(value);
    };
    pg_call([&] {
        const MessageToWrite* previous = nullptr;
        TextColumns last;
        for (size_t i = 0; i < messages.size(); ++i) {
            const MessageToWrite& m = messages[i]->message;
            texts[i].stream =
                text_datum(m.stream, previous ? previous->stream : nullptr, last.stream);
            texts[i].subject =
                text_datum(m.subject, previous ? previous->subject : nullptr, last.subject);
            texts[i].entity =
                text_datum(m.entity, previous ? previous->entity : nullptr, last.entity);
            previous = &m;
            last = texts[i];
        }
    });
    RowFiller fill = [&](size_t i, Datum* values, bool* nulls) {
        const MessageToWrite& m = messages[i]->message;
        values[0] = UUIDPGetDatum(const_cast<pg_uuid_t*>(&m.message_id));
        values[1] = texts[i].stream;
        values[2] = texts[i].subject;
        values[3] = texts[i].entity;
        values[4] = Int32GetDatum(m.attempts);
        values[5] = Int64GetDatum(m.stream_seq);
        values[6] = TimestampTzGetDatum(m.received_at);
        for (int c = 0; c < 7; ++c)
            nulls[c] = false;
        nulls[1] = m.stream == nullptr;
        nulls[2] = m.subject == nullptr;
        nulls[5] = m.stream_seq <= 0;
    };
    // message_status is nomnom's bookkeeping: written with its owner's rights, so that the
    // caller of ingest (or a stream's run_as role) needs rights on its own tables only.
    AsOwner bookkeeping;
    if (plain_claim.worth_trying(messages.size())) {
        if (plain_claim_plan == nullptr)
            plain_claim_plan = prepare_claim(kClaimInsert);
        // COPY-style when it can, else the plain INSERT
        if (plain_claim.try_write([&] {
                if (!bulk_claim(messages.size(), fill)) {
                    BatchRows batch(kClaimTypes, messages.size(), fill);
                    std::vector<Datum> params = {batch.handle()};
                    execute(plain_claim_plan, params, "status claim");
                }
            }))
            return true; // every id was new
    }
    if (messages.size() >= kReplaceFrom)
        return claim_existing(messages, fill, claimed);
    upsert_claim(messages.size(), fill, claimed);
    return false;
}

// Entity events (DESIGN.md): the rows written for messages of a stream with
// publish_entities, into nomnom.entity_outbox in the batch's own transaction, in the batch's
// order (message by message, each message's rows in the order its document maps them). The
// worker publishes them once the transaction has committed (workers/worker_events.cpp).
// A row's Nats-Msg-Id is "<message id>:<entity>:<row's place in the document>": the same
// for a redelivery or a republish, so that JetStream drops the repeat.
SPIPlanPtr outbox_plan = nullptr;

constexpr const char kOutboxInsert[] =
    "INSERT INTO nomnom.entity_outbox (stream, subject, msg_id, message_id, entity, payload) "
    "SELECT * FROM nomnom.batch_rows($1) AS r(stream text, subject text, msg_id text, "
    "                                         message_id uuid, entity text, payload json)";

struct OutboxRow {
    const PreparedMessage* message;
    size_t order; // the message's place in the batch
    int row;      // the row's place in its document
    const ResolvedEntity* entity;
    Datum payload;
};

void write_outbox(std::vector<OutboxRow>& events) {
    if (events.empty())
        return;
    std::sort(events.begin(), events.end(), [](const OutboxRow& a, const OutboxRow& b) {
        return a.order != b.order ? a.order < b.order : a.row < b.row;
    });
    const size_t n = events.size();
    std::vector<Datum> texts(n * 4);
    std::vector<std::string> subjects(n);
    pg_call([&] {
        Datum stream = 0, subject = 0, entity = 0;
        const char* last_stream = nullptr;
        const ResolvedEntity* last_entity = nullptr;
        for (size_t i = 0; i < n; ++i) {
            const OutboxRow& e = events[i];
            const MessageToWrite& m = e.message->message;
            if (last_stream == nullptr || strcmp(last_stream, m.stream) != 0) {
                stream = CStringGetTextDatum(m.stream);
                last_stream = m.stream;
            }
            const std::string& name = e.entity->spec->name;
            if (e.entity != last_entity) {
                subject = CStringGetTextDatum(entity_event_subject(name).c_str());
                entity = CStringGetTextDatum(name.c_str());
                last_entity = e.entity;
            }
            std::string msg_id = uuid_text(m.message_id) + ":" + name + ":" + std::to_string(e.row);
            texts[i * 4] = stream;
            texts[i * 4 + 1] = subject;
            texts[i * 4 + 2] = CStringGetTextDatum(msg_id.c_str());
            texts[i * 4 + 3] = entity;
        }
    });
    RowFiller fill = [&](size_t i, Datum* values, bool* nulls) {
        values[0] = texts[i * 4];
        values[1] = texts[i * 4 + 1];
        values[2] = texts[i * 4 + 2];
        values[3] = UUIDPGetDatum(const_cast<pg_uuid_t*>(&events[i].message->message.message_id));
        values[4] = texts[i * 4 + 3];
        values[5] = events[i].payload;
        for (int c = 0; c < 6; ++c)
            nulls[c] = false;
    };
    static const std::vector<BulkColumn> columns = {
        {"stream", TEXTOID, -1},     {"subject", TEXTOID, -1}, {"msg_id", TEXTOID, -1},
        {"message_id", UUIDOID, -1}, {"entity", TEXTOID, -1},  {"payload", JSONOID, -1}};
    AsOwner bookkeeping; // nomnom's own table, as message_status
    Oid relid = InvalidOid;
    pg_call(
        [&] { relid = get_relname_relid("entity_outbox", get_namespace_oid("nomnom", false)); });
    if (relid != InvalidOid && bulk_insert(relid, columns, n, fill))
        return;
    BatchRows batch({TEXTOID, TEXTOID, TEXTOID, UUIDOID, TEXTOID, JSONOID}, n, fill);
    std::vector<Datum> params = {batch.handle()};
    if (outbox_plan == nullptr)
        outbox_plan = prepare_claim(kOutboxInsert);
    execute(outbox_plan, params, "entity outbox");
}

} // namespace

namespace {

// The entity tree of the batch's last message: a batch's messages mostly share their entity,
// so the tree is resolved (a std::string made, the cache checked and searched) once for each
// run of messages with the same entity, not for each message.
struct LastTree {
    std::string entity;
    std::shared_ptr<ResolvedTree> tree;

    std::shared_ptr<ResolvedTree> resolve(const char* name) {
        if (tree == nullptr || entity != name) {
            tree = nullptr;
            tree = resolve_tree(name);
            entity = name;
        }
        return tree;
    }
};

// Step 1 (PostgreSQL calls): resolves the message's entity tree and the metadata its
// fields may take, into `prepared`. With `own_strings`, copies the message's strings into
// it, so that it can wait (the ingest buffer); write_batch's messages outlive the batch, so
// it points at theirs. The body is kept only until it is mapped.
void begin_prepare(const MessageToWrite& message, MessageMeta& meta, LastTree& last,
                   PreparedMessage& prepared, bool own_strings) {
    prepared.message = message;
    if (own_strings) {
        prepared.entity = message.entity;
        prepared.message.entity = prepared.entity.c_str();
        if (message.stream) {
            prepared.stream = message.stream;
            prepared.message.stream = prepared.stream.c_str();
        }
        if (message.subject) {
            prepared.subject = message.subject;
            prepared.message.subject = prepared.subject.c_str();
        }
    }
    prepared.tree = last.resolve(message.entity);
    // Formatting the id and time costs on every message: only when a field takes them.
    if (prepared.tree->uses_metadata) {
        meta.message_id = uuid_text(message.message_id);
        if (message.subject)
            meta.subject = message.subject;
        if (message.stream_seq > 0)
            meta.stream_seq = message.stream_seq;
        meta.received_at = timestamptz_text(message.received_at);
    }
}

// Step 2 (pure C++, safe on another thread): maps the body.
bool map_prepared(PreparedMessage& prepared, const MessageMeta& meta, MappingError& error) {
    bool ok = map_document(prepared.tree->tree,
                           std::string_view(prepared.message.body, prepared.message.body_len), meta,
                           prepared.rows.doc, error);
    prepared.message.body = nullptr; // mapped: the body is not kept
    prepared.message.body_len = 0;
    return ok;
}

// Step 3 (PostgreSQL calls): converts every value with its type's input function, the
// Datums allocated in `datum_context` (the current memory context when null).
void finish_prepare(PreparedMessage& prepared, MemoryContext datum_context) {
    MemoryContext caller_context = CurrentMemoryContext;
    if (datum_context)
        MemoryContextSwitchTo(datum_context);
    try {
        convert_document(*prepared.tree, prepared.doc_rows());
    } catch (...) {
        MemoryContextSwitchTo(caller_context);
        throw;
    }
    MemoryContextSwitchTo(caller_context);
}

} // namespace

std::unique_ptr<PreparedMessage> prepare_message(const MessageToWrite& message,
                                                 MemoryContext datum_context) {
    MessageMeta meta;
    LastTree last;
    auto prepared = std::make_unique<PreparedMessage>();
    begin_prepare(message, meta, last, *prepared, true);
    MappingError error;
    if (!map_prepared(*prepared, meta, error))
        throw DataError(error.message, sqlstate_code(error.sqlstate));
    finish_prepare(*prepared, datum_context);
    return prepared;
}

void write_prepared(const std::vector<PreparedMessage*>& messages) {
    // The batch in message id order, then batch order (the key's words big-endian, so that
    // comparing them compares the ids as memcmp does): an id repeated within the batch is
    // written once, the first time; and the claim takes its ids in this order. One sort of
    // integers in place of a hash set of the ids and a sort by memcmp of the messages.
    struct Sorted {
        uint64 high, low;
        size_t index;
        bool operator<(const Sorted& other) const {
            if (high != other.high)
                return high < other.high;
            if (low != other.low)
                return low < other.low;
            return index < other.index;
        }
    };
    const size_t n = messages.size();
    std::vector<Sorted> order(n);
    for (size_t i = 0; i < n; ++i) {
        PreparedMessage* message = messages[i];
        IdKey key = id_key(message->message.message_id);
        order[i] = {pg_ntoh64(key.high), pg_ntoh64(key.low), i};
        message->kind = NOMNOM_WRITTEN;
        reset_write_state(message->doc_rows());
    }
    std::sort(order.begin(), order.end());
    std::vector<PreparedMessage*> fresh, to_claim;
    fresh.reserve(n);
    for (size_t k = 0; k < n; ++k) {
        PreparedMessage* message = messages[order[k].index];
        if (k > 0 && order[k].high == order[k - 1].high && order[k].low == order[k - 1].low)
            message->kind = NOMNOM_DUPLICATE;
        else if (message->message.track_status)
            to_claim.push_back(message);
    }
    for (PreparedMessage* message : messages) // in batch order: the rows are written so
        if (message->kind == NOMNOM_WRITTEN)
            fresh.push_back(message);
    // The rows are written with the current user's rights (ingest's caller, a stream's
    // run_as role): what it may not do is a data error naming the privilege and the table,
    // before anything is claimed.
    {
        std::unordered_set<const ResolvedTree*> checked;
        const ResolvedTree* last = nullptr; // a batch's messages mostly share their tree
        Oid user = InvalidOid;
        pg_call([&] { user = GetUserId(); });
        for (PreparedMessage* message : fresh) {
            const ResolvedTree* tree = message->tree.get();
            if (tree == nullptr || tree == last)
                continue;
            last = tree;
            if (checked.insert(tree).second)
                for (const ResolvedEntity& entity : tree->entities)
                    check_table_privileges(*entity.spec, entity.relid, user);
        }
    }
    IdSet claimed;
    bool all_claimed = to_claim.empty() || claim(to_claim, claimed);
    if (!all_claimed) {
        for (PreparedMessage* message : to_claim)
            if (claimed.count(id_key(message->message.message_id)) == 0)
                message->kind = NOMNOM_DUPLICATE; // already completed: a redelivery
    }
    // One set-wise write per entity tree.
    std::map<ResolvedTree*, std::vector<DocumentRows*>> groups;
    ResolvedTree* last_tree = nullptr; // and its group: one map look-up a run of messages
    std::vector<DocumentRows*>* last_group = nullptr;
    bool events = false;
    for (PreparedMessage* message : fresh)
        if (message->kind == NOMNOM_WRITTEN) {
            if (last_group == nullptr || message->tree.get() != last_tree) {
                last_tree = message->tree.get();
                last_group = &groups[last_tree];
                last_group->reserve(fresh.size());
            }
            last_group->push_back(&message->doc_rows());
            events = events || (message->message.publish_entities && message->message.stream);
        }
    if (!events) {
        for (auto& [tree, docs] : groups)
            write_documents(*tree, docs);
        return;
    }
    std::unordered_map<const DocumentRows*, std::pair<const PreparedMessage*, size_t>> owner;
    for (size_t i = 0; i < messages.size(); ++i)
        owner.emplace(&messages[i]->doc_rows(), std::make_pair(messages[i], i));
    std::vector<OutboxRow> outbox;
    for (auto& [tree, docs] : groups) {
        std::vector<WrittenRow> written;
        write_documents(*tree, docs, &written);
        for (const WrittenRow& w : written) {
            const auto& [message, order] = owner.at(w.doc);
            if (message->message.publish_entities && message->message.stream)
                outbox.push_back({message, order, w.row, &tree->entities[w.entity], w.payload});
        }
    }
    write_outbox(outbox);
}

void write_batch(const MessageToWrite* messages, int count, MessageOutcome* outcomes) {
    SpiSession spi;
    // A message's own problem rejects it and the others go on. The text goes in the
    // caller's memory context, as SPI's is gone once the batch returns.
    auto reject = [&](int i, int sqlerrcode, const char* text) {
        outcomes[i].kind = NOMNOM_REJECTED;
        outcomes[i].sqlerrcode = sqlerrcode;
        pg_call([&] {
            outcomes[i].error = static_cast<char*>(SPI_palloc(strlen(text) + 1));
            strcpy(outcomes[i].error, text);
        });
    };
    // One allocation for the batch, not one a message; a message that begin_prepare rejects
    // is not `valid`.
    std::vector<PreparedMessage> prepared(count);
    std::vector<char> valid(count, 0);
    std::vector<MessageMeta> metas(count);
    LastTree last;
    for (int i = 0; i < count; ++i) {
        outcomes[i] = MessageOutcome{NOMNOM_WRITTEN, 0, nullptr};
        try {
            begin_prepare(messages[i], metas[i], last, prepared[i], false);
            valid[i] = 1;
        } catch (const DataError& error) {
            reject(i, error.sqlerrcode(), error.what());
        }
    }
    std::vector<MappingError> mapping_errors(count);
    std::vector<char> mapped(count, 0);
    std::vector<int> to_map; // not mapped ahead, or with a tree that has changed since
    for (int i = 0; i < count; ++i) {
        if (!valid[i])
            continue;
        PremappedMessage* ahead = messages[i].premapped;
        if (ahead != nullptr && ahead->mapped_with != nullptr &&
            ahead->mapped_with == prepared[i].tree) {
            ahead->mapped_with = nullptr; // taken
            prepared[i].borrowed = &ahead->rows;
            prepared[i].message.body = nullptr;
            prepared[i].message.body_len = 0;
            mapped[i] = ahead->ok;
            if (!ahead->ok) // (not a read of its lines otherwise)
                mapping_errors[i] = std::move(ahead->error);
        } else {
            to_map.push_back(i);
        }
        if (ahead != nullptr) {
            ahead->written_entity = prepared[i].message.entity;
            ahead->written_tree = prepared[i].tree;
        }
    }
    // On this thread alone: a second thread for half of them took more CPU and no less time
    // on this 2-core machine (bench/README.md, item 25).
    for (int i : to_map)
        mapped[i] = map_prepared(prepared[i], metas[i], mapping_errors[i]);
    std::vector<PreparedMessage*> to_write;
    std::vector<int> index_of;
    for (int i = 0; i < count; ++i) {
        if (!valid[i])
            continue;
        if (!mapped[i]) {
            reject(i, sqlstate_code(mapping_errors[i].sqlstate), mapping_errors[i].message.c_str());
            continue;
        }
        try {
            finish_prepare(prepared[i], nullptr);
        } catch (const DataError& error) {
            reject(i, error.sqlerrcode(), error.what());
            continue;
        }
        to_write.push_back(&prepared[i]);
        index_of.push_back(i);
    }
    write_prepared(to_write);
    for (size_t k = 0; k < to_write.size(); ++k)
        outcomes[index_of[k]].kind = to_write[k]->kind;
    // What this thread mapped itself is freed here, with `prepared`, not handed to the
    // prefetch thread in the message's slot: a slot keeps its storage from batch to batch, so
    // the backend's allocations would stay in it and be replaced, as the slot regrows, by
    // the prefetch thread's, each thread's malloc arena keeping the pages the other's frees
    // left, and the worker's memory grew through a long drain (bench/README.md, item 47).
}

} // namespace nomnom
