// Dead letters, written, published and replayed (dead_letters.hpp).
#include "streams/dead_letters.hpp"

#include "nomnom/message_id.hpp"
#include "nomnom/stream_options.hpp"
#include "pg/pg_guard.hpp"
#include "pg/role_scope.hpp"
#include "pg/spi_session.hpp"
#include "streams/jetstream_client.hpp"
#include "streams/options.hpp"

extern "C" {
#include "mb/pg_wchar.h"
#include "utils/json.h"
}

#include <cstdio>
#include <cstring>

namespace nomnom {
namespace {

// Calls fn(key, values, nvalues) for each header of `msg` but `skip` (when not NULL).
template <typename Fn> void for_each_header(natsMsg* msg, const char* skip, Fn&& fn) {
    const char** keys = nullptr;
    int nkeys = 0;
    if (natsMsgHeader_Keys(msg, &keys, &nkeys) != NATS_OK)
        return;
    for (int k = 0; k < nkeys; k++) {
        const char** values = nullptr;
        int nvalues = 0;
        if ((skip == nullptr || strcmp(keys[k], skip) != 0) &&
            natsMsgHeader_Values(msg, keys[k], &values, &nvalues) == NATS_OK)
            fn(keys[k], values, nvalues);
        free(values);
    }
    free(keys);
}

// The message's headers as a JSON object (several values of a key: an array); keys that are
// not valid text are left out, values that are not become "?".
char* headers_json(natsMsg* msg) {
    StringInfoData out;
    initStringInfo(&out);
    appendStringInfoChar(&out, '{');
    bool first = true;
    for_each_header(msg, nullptr, [&](const char* key, const char** values, int nvalues) {
        if (!pg_verifymbstr(key, strlen(key), true))
            return;
        if (!first)
            appendStringInfoChar(&out, ',');
        first = false;
        escape_json(&out, key);
        appendStringInfoChar(&out, ':');
        if (nvalues != 1)
            appendStringInfoChar(&out, '[');
        for (int v = 0; v < nvalues; v++) {
            if (v)
                appendStringInfoChar(&out, ',');
            escape_json(&out, pg_verifymbstr(values[v], strlen(values[v]), true) ? values[v] : "?");
        }
        if (nvalues != 1)
            appendStringInfoChar(&out, ']');
    });
    appendStringInfoChar(&out, '}');
    return out.data;
}

SPIPlanPtr dead_letter_plan = nullptr;

} // namespace

void write_dead_letter(const DeadLetter& letter) {
    if (dead_letter_plan == nullptr) {
        Oid types[9] = {UUIDOID,  TEXTOID, TEXTOID, TEXTOID, TEXTOID,
                        BYTEAOID, TEXTOID, TEXTOID, INT4OID};
        dead_letter_plan =
            prepare_kept_plan("INSERT INTO nomnom.dead_letters AS d "
                              "(message_id, stream, subject, entity, payload, payload_bytes, "
                              "headers, error, attempts, failed_at) "
                              "VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, now()) "
                              "ON CONFLICT (message_id) DO UPDATE SET stream = EXCLUDED.stream, "
                              "subject = EXCLUDED.subject, "
                              "entity = EXCLUDED.entity, payload = EXCLUDED.payload, "
                              "payload_bytes = EXCLUDED.payload_bytes, "
                              "headers = EXCLUDED.headers, error = EXCLUDED.error, attempts = "
                              "EXCLUDED.attempts, failed_at = now()",
                              9, types);
    }
    Datum values[9];
    char nulls[9];
    memset(nulls, ' ', sizeof nulls);
    bool is_text = memchr(letter.body, '\0', letter.body_len) == nullptr &&
                   pg_verifymbstr(letter.body, letter.body_len, true);
    values[0] = UUIDPGetDatum(const_cast<pg_uuid_t*>(letter.id));
    values[1] = CStringGetTextDatum(letter.stream);
    values[2] = CStringGetTextDatum(letter.subject);
    values[3] = CStringGetTextDatum(letter.entity);
    if (is_text) {
        values[4] = PointerGetDatum(cstring_to_text_with_len(letter.body, letter.body_len));
        nulls[5] = 'n';
    } else {
        nulls[4] = 'n';
        bytea* bytes = static_cast<bytea*>(palloc(VARHDRSZ + letter.body_len));
        SET_VARSIZE(bytes, VARHDRSZ + letter.body_len);
        memcpy(VARDATA(bytes), letter.body, letter.body_len);
        values[5] = PointerGetDatum(bytes);
    }
    values[6] = CStringGetTextDatum(headers_json(letter.msg));
    values[7] = CStringGetTextDatum(letter.error ? letter.error : "error");
    values[8] = Int32GetDatum(letter.attempts);
    // nomnom's bookkeeping: written as its owner, whatever role the worker runs as.
    SavedUser saved = become_owner();
    int rc = SPI_execute_plan(dead_letter_plan, values, nulls, false, 0);
    restore(saved);
    if (rc != SPI_OK_INSERT)
        elog(ERROR, "nomnom worker: writing dead_letters failed: %s", SPI_result_code_string(rc));
}

bool publish_dead_letter(jsCtx* js, const DeadLetter& letter, char* err, size_t errlen) {
    char subject[NAMEDATALEN * 2 + 32];
    PendingError pending;
    if (!catch_into(pending, [&] {
            snprintf(subject, sizeof subject, "%s", dlq_subject(letter.entity).c_str());
        })) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    natsMsg* out = nullptr;
    natsStatus s = natsMsg_Create(&out, subject, nullptr, letter.body, letter.body_len);
    if (s == NATS_OK) {
        for_each_header(letter.msg, "Nats-Msg-Id",
                        [&](const char* key, const char** values, int nvalues) {
                            for (int v = 0; v < nvalues; v++)
                                natsMsgHeader_Add(out, key, values[v]);
                        });
        char value[1024];
        snprintf(value, sizeof value, "%s:%llu", letter.id_text,
                 static_cast<unsigned long long>(letter.stream_seq));
        natsMsgHeader_Set(out, "Nats-Msg-Id", value);
        natsMsgHeader_Set(out, "Nomnom-Message-Id", letter.id_text);
        natsMsgHeader_Set(out, "Nomnom-Stream", letter.stream);
        natsMsgHeader_Set(out, "Nomnom-Subject", letter.subject);
        snprintf(value, sizeof value, "%llu", static_cast<unsigned long long>(letter.stream_seq));
        natsMsgHeader_Set(out, "Nomnom-Stream-Seq", value);
        snprintf(value, sizeof value, "%s", letter.error ? letter.error : "error");
        for (char* c = value; *c; c++) {
            if (*c == '\r' || *c == '\n')
                *c = ' ';
        }
        natsMsgHeader_Set(out, "Nomnom-Error", value);
        s = nn_publish(js, out, 5000, err, errlen);
    } else {
        nn_describe(s, err, errlen);
    }
    if (out != nullptr)
        natsMsg_Destroy(out);
    return s == NATS_OK;
}

} // namespace nomnom

// ---------------------------------------------------------------------------------------
// nomnom.replay_dead_letters

namespace {

// The NATS connection of a replay in progress: closed at the end of the transaction when an
// error leaves the function early.
struct ReplayConnection {
    natsConnection* nc;
    jsCtx* js;
};
ReplayConnection replay_connection = {nullptr, nullptr};

void close_replay_connection(XactEvent event, void*) {
    if ((event == XACT_EVENT_ABORT || event == XACT_EVENT_COMMIT) &&
        replay_connection.nc != nullptr) {
        nn_disconnect(replay_connection.nc, replay_connection.js, 0);
        replay_connection.nc = nullptr;
        replay_connection.js = nullptr;
    }
}

// The replay signature (message_id.hpp) into `out` (65 bytes); false when it cannot be made.
bool replay_signature_into(const char* key, const char* id, const char* nats_msg_id,
                           const char* subject, char* out, size_t outlen) {
    bool made = false;
    nomnom::PendingError ignored;
    nomnom::catch_into(ignored, [&] {
        std::string signature = nomnom::replay_signature(key, id, nats_msg_id, subject);
        made = !signature.empty() && signature.size() < outlen;
        if (made)
            memcpy(out, signature.c_str(), signature.size() + 1);
    });
    return made;
}

// Runs a statement of the replay that must do what it says.
void replay_execute(const char* sql, Datum id, int expected) {
    Oid types[1] = {TEXTOID};
    Datum args[1] = {id};
    int rc = SPI_execute_with_args(sql, 1, types, args, nullptr, false, 0);
    if (rc != expected)
        elog(ERROR, "nomnom: replaying dead letters failed: %s", SPI_result_code_string(rc));
}

} // namespace

// Republishes dead letters to their original subjects, with their original headers, and
// `Nomnom-Message-Id` so that the message keeps its id. Published rows leave dead_letters
// and their status goes back to pending.
NOMNOM_FUNCTION(nomnom_replay_dead_letters) {
    Datum args[2];
    char nulls[2] = {' ', ' '};
    Oid types[2] = {TEXTOID, UUIDARRAYOID};
    args[0] = PG_ARGISNULL(0) ? (Datum)0 : PG_GETARG_DATUM(0);
    nulls[0] = PG_ARGISNULL(0) ? 'n' : ' ';
    args[1] = PG_ARGISNULL(1) ? (Datum)0 : PG_GETARG_DATUM(1);
    nulls[1] = PG_ARGISNULL(1) ? 'n' : ' ';

    static bool callback_registered = false;
    if (!callback_registered) {
        RegisterXactCallback(close_replay_connection, nullptr);
        callback_registered = true;
    }
    if (SPI_connect() != SPI_OK_CONNECT)
        elog(ERROR, "nomnom: SPI_connect failed");
    // The dead letters are nomnom's: its owner reads and settles them (EXECUTE on this
    // function is what lets a role replay).
    nomnom::SavedUser saved = nomnom::become_owner();
    int rc = SPI_execute_with_args(
        "SELECT d.message_id::text, d.subject, d.payload, d.payload_bytes, d.headers::text, "
        "       nomnom.effective_stream_options(coalesce(s.options, '{}'))::text "
        "FROM nomnom.dead_letters d LEFT JOIN nomnom.stream_catalog s ON s.name = d.stream "
        "WHERE ($1 IS NULL OR d.stream = $1) AND ($2 IS NULL OR d.message_id = ANY ($2)) "
        "  AND d.subject IS NOT NULL "
        "ORDER BY 6, d.failed_at, d.message_id FOR UPDATE OF d",
        2, types, args, nulls, false, 0);
    if (rc != SPI_OK_SELECT)
        elog(ERROR, "nomnom: reading dead letters failed: %s", SPI_result_code_string(rc));
    SPITupleTable* rows = SPI_tuptable;
    uint64 nrows = SPI_processed;
    // The key that lets a replayed message keep its id on a stream that trusts no headers.
    rc = SPI_execute("SELECT key FROM nomnom.replay_key LIMIT 1", true, 1);
    if (rc != SPI_OK_SELECT || SPI_processed != 1)
        ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                        errmsg("nomnom: the replay key (nomnom.replay_key) is missing")));
    char* replay_key = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

    int64 replayed = 0;
    ReplayConnection& conn = replay_connection;
    nn_disconnect(conn.nc, conn.js, 0); // left by an earlier call that failed in a subtransaction
    conn.nc = nullptr;
    conn.js = nullptr;
    char* current_options = nullptr;
    char* current_url = nullptr;
    char err[2048];
    for (uint64 r = 0; r < nrows; r++) {
        HeapTuple tuple = rows->vals[r];
        TupleDesc desc = rows->tupdesc;
        char* id = SPI_getvalue(tuple, desc, 1);
        char* subject = SPI_getvalue(tuple, desc, 2);
        bool payload_null, bytes_null;
        Datum payload = SPI_getbinval(tuple, desc, 3, &payload_null);
        Datum bytes = SPI_getbinval(tuple, desc, 4, &bytes_null);
        char* headers = SPI_getvalue(tuple, desc, 5);
        char* options_text = SPI_getvalue(tuple, desc, 6);

        if (current_options == nullptr || strcmp(current_options, options_text) != 0) {
            nn_disconnect(conn.nc, conn.js, 1000);
            conn.nc = nullptr;
            conn.js = nullptr;
            nomnom::StreamOptions* options = nomnom::palloc_options();
            nomnom::parse_options_or_raise(options_text, *options, "nomnom");
            current_url = nomnom::redacted_nats_url(*options);
            current_options = options_text;
            if (nn_connect(*options, "nomnom replay_dead_letters", nullptr, 3000, &conn.nc,
                           &conn.js, err, sizeof err) != NATS_OK)
                ereport(ERROR,
                        (errcode(nomnom::nats_connect_errcode(err)), errmsg("nomnom: %s", err)));
        }

        const char* data = "";
        int len = 0;
        if (!payload_null) {
            text* t = DatumGetTextPP(payload);
            data = VARDATA_ANY(t);
            len = VARSIZE_ANY_EXHDR(t);
        } else if (!bytes_null) {
            bytea* b = DatumGetByteaPP(bytes);
            data = VARDATA_ANY(b);
            len = VARSIZE_ANY_EXHDR(b);
        }
        natsMsg* msg = nullptr;
        natsStatus s = natsMsg_Create(&msg, subject, nullptr, data, len);
        // Original headers (all but Nats-Msg-Id), then the id headers.
        if (s == NATS_OK && headers != nullptr) {
            Oid htypes[1] = {TEXTOID};
            Datum hargs[1] = {CStringGetTextDatum(headers)};
            int hrc = SPI_execute_with_args("SELECT h.key, v.value FROM jsonb_each($1::jsonb) h, "
                                            "LATERAL jsonb_array_elements_text(CASE "
                                            "jsonb_typeof(h.value) WHEN 'array' THEN h.value "
                                            "ELSE jsonb_build_array(h.value) END) v(value) WHERE "
                                            "h.key NOT IN ('Nats-Msg-Id', 'Nomnom-Message-Id', "
                                            "'Nomnom-Replay-Signature')",
                                            1, htypes, hargs, nullptr, true, 0);
            if (hrc != SPI_OK_SELECT) {
                natsMsg_Destroy(msg);
                elog(ERROR, "nomnom: reading the headers of dead letter %s failed: %s", id,
                     SPI_result_code_string(hrc));
            }
            for (uint64 h = 0; h < SPI_processed && s == NATS_OK; h++) {
                char* key = SPI_getvalue(SPI_tuptable->vals[h], SPI_tuptable->tupdesc, 1);
                char* value = SPI_getvalue(SPI_tuptable->vals[h], SPI_tuptable->tupdesc, 2);
                if (key && value)
                    s = natsMsgHeader_Add(msg, key, value);
            }
        }
        char msg_id[128];
        snprintf(msg_id, sizeof msg_id, "%s:replay:%ld", id,
                 static_cast<long>(GetCurrentTimestamp()));
        if (s == NATS_OK)
            s = natsMsgHeader_Set(msg, "Nats-Msg-Id", msg_id);
        if (s == NATS_OK)
            s = natsMsgHeader_Set(msg, "Nomnom-Message-Id", id);
        char signature[128];
        if (s == NATS_OK &&
            !replay_signature_into(replay_key, id, msg_id, subject, signature, sizeof signature))
            s = NATS_NO_MEMORY;
        if (s == NATS_OK)
            s = natsMsgHeader_Set(msg, "Nomnom-Replay-Signature", signature);
        if (s == NATS_OK) {
            s = nn_publish(conn.js, msg, 5000, err, sizeof err);
        } else {
            nn_describe(s, err, sizeof err);
        }
        if (msg != nullptr)
            natsMsg_Destroy(msg);
        if (s != NATS_OK) {
            ereport(
                ERROR,
                (errcode(ERRCODE_CONNECTION_FAILURE),
                 errmsg("nomnom: replaying dead letter %s to NATS at %s failed: %s", id,
                        current_url, err),
                 errdetail("%ld dead letters were republished before it; they are processed again "
                           "without duplicating rows.",
                           static_cast<long>(replayed))));
        }
        Datum id_datum = CStringGetTextDatum(id);
        replay_execute("DELETE FROM nomnom.dead_letters WHERE message_id = $1::uuid", id_datum,
                       SPI_OK_DELETE);
        replay_execute("UPDATE nomnom.message_status SET status = 'pending', error = NULL "
                       "WHERE message_id = $1::uuid AND status = 'dead_letter'",
                       id_datum, SPI_OK_UPDATE);
        replayed++;
    }
    nn_disconnect(conn.nc, conn.js, 1000);
    conn.nc = nullptr;
    conn.js = nullptr;
    nomnom::restore(saved);
    SPI_finish();
    PG_RETURN_INT64(replayed);
}
