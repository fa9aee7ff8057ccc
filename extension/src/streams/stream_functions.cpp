// SQL functions for streams: create_stream, alter_stream, drop_stream, replay_dead_letters.
// PostgreSQL-style code; NATS through the status-code functions of nats_glue, whose objects
// are destroyed before any error is raised.
#include "streams/jetstream_client.hpp"
#include "workers/shmem.hpp"

#include "nomnom/stream_options.hpp"

extern "C" {
#include "utils/array.h"
}

#include <cstdio>
#include <new>

namespace {

// StreamOptions live in palloc'd memory whose context runs their destructor when reset,
// so an ERROR never leaks them.
void destroy_options(void* arg) {
    static_cast<nomnom::StreamOptions*>(arg)->~StreamOptions();
}

bool cpp_parse_into(const char* json, nomnom::StreamOptions* out, char* err,
                    size_t errlen) noexcept {
    try {
        std::string error;
        if (nomnom::parse_stream_options(json, *out, error))
            return true;
        snprintf(err, errlen, "%s", error.c_str());
    } catch (...) {
        snprintf(err, errlen, "out of memory");
    }
    return false;
}

bool cpp_valid_name(const char* name) noexcept {
    try {
        return nomnom::valid_jetstream_name(name);
    } catch (...) {
        return false;
    }
}

bool cpp_valid_subject(const char* subject) noexcept {
    try {
        return nomnom::valid_subject(subject, true);
    } catch (...) {
        return false;
    }
}

nomnom::StreamOptions* new_options(void) {
    void* memory = palloc(sizeof(nomnom::StreamOptions));
    nomnom::StreamOptions* options = new (memory) nomnom::StreamOptions();
    MemoryContextCallback* callback =
        static_cast<MemoryContextCallback*>(palloc0(sizeof(MemoryContextCallback)));
    callback->func = destroy_options;
    callback->arg = options;
    MemoryContextRegisterResetCallback(CurrentMemoryContext, callback);
    return options;
}

// Effective options (defaults filled in by nomnom.effective_stream_options), validated.
nomnom::StreamOptions* effective_options(Jsonb* options, char** effective_text) {
    Oid types[1] = {JSONBOID};
    Datum values[1] = {JsonbPGetDatum(options)};
    int rc = SPI_execute_with_args("SELECT nomnom.effective_stream_options($1)::text", 1, types,
                                   values, nullptr, true, 1);
    if (rc != SPI_OK_SELECT || SPI_processed != 1)
        elog(ERROR, "nomnom: computing the effective stream options failed");
    char* text = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
    nomnom::StreamOptions* parsed = new_options();
    char err[1024];
    if (!cpp_parse_into(text, parsed, err, sizeof err))
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("nomnom: %s", err)));
    if (effective_text)
        *effective_text = text;
    return parsed;
}

void check_name(const char* name) {
    if (!cpp_valid_name(name) || strlen(name) >= NAMEDATALEN * 2)
        ereport(
            ERROR,
            (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
             errmsg("nomnom: \"%s\" is not a valid JetStream stream name", name),
             errhint("Use letters, digits, '-' and '_': no spaces, '.', '*', '>', '/' or '\\'.")));
}

// Connects, ensures the stream, the DLQ stream and the consumer, disconnects; then raises
// what failed.
void ensure_on_nats(const char* name, char** subjects, int nsubjects,
                    const nomnom::StreamOptions* options, NnEnsureMode mode) {
    char err[2048];
    natsConnection* nc = nullptr;
    jsCtx* js = nullptr;
    natsStatus s = nn_connect(options->nats_url.c_str(), "nomnom create_stream", nullptr, 3000, &nc,
                              &js, err, sizeof err);
    if (s != NATS_OK)
        ereport(ERROR, (errcode(ERRCODE_CONNECTION_FAILURE), errmsg("nomnom: %s", err)));
    s = nn_ensure_jetstream(js, name, subjects, nsubjects, *options, mode, err, sizeof err);
    nn_disconnect(nc, js, 0);
    if (s == NATS_OK)
        return;
    char* bar = strchr(err, '|');
    if (bar != nullptr) {
        *bar = '\0';
        ereport(ERROR,
                (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE), errmsg("nomnom: %s", err),
                 errdetail("%s", bar + 1),
                 errhint("Use another stream name, or make the existing JetStream stream match.")));
    }
    ereport(ERROR, (errcode(ERRCODE_CONNECTION_FAILURE),
                    errmsg("nomnom: %s (NATS at %s)", err, options->nats_url.c_str())));
}

char** text_array_to_cstrings(ArrayType* array, int* count) {
    Datum* elems;
    bool* nulls;
    deconstruct_array(array, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, count);
    char** out = static_cast<char**>(palloc0(sizeof(char*) * (*count + 1)));
    for (int i = 0; i < *count; i++) {
        if (nulls[i])
            ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
                            errmsg("nomnom: subjects cannot contain NULL")));
        out[i] = TextDatumGetCString(elems[i]);
    }
    return out;
}

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

} // namespace

extern "C" {
PGDLLEXPORT Datum nomnom_create_stream(PG_FUNCTION_ARGS);
PG_FUNCTION_INFO_V1(nomnom_create_stream);
PGDLLEXPORT Datum nomnom_alter_stream(PG_FUNCTION_ARGS);
PG_FUNCTION_INFO_V1(nomnom_alter_stream);
PGDLLEXPORT Datum nomnom_drop_stream(PG_FUNCTION_ARGS);
PG_FUNCTION_INFO_V1(nomnom_drop_stream);
PGDLLEXPORT Datum nomnom_replay_dead_letters(PG_FUNCTION_ARGS);
PG_FUNCTION_INFO_V1(nomnom_replay_dead_letters);
}

Datum nomnom_create_stream(PG_FUNCTION_ARGS) {
    char* name = text_to_cstring(PG_GETARG_TEXT_PP(0));
    ArrayType* subjects_array = PG_GETARG_ARRAYTYPE_P(1);
    Jsonb* options_arg = PG_GETARG_JSONB_P(2);
    check_name(name);
    int nsubjects = 0;
    char** subjects = text_array_to_cstrings(subjects_array, &nsubjects);
    if (nsubjects == 0)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("nomnom: a stream needs at least one subject")));
    for (int i = 0; i < nsubjects; i++) {
        if (!cpp_valid_subject(subjects[i]))
            ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                            errmsg("nomnom: \"%s\" is not a valid NATS subject", subjects[i])));
    }

    if (SPI_connect() != SPI_OK_CONNECT)
        elog(ERROR, "nomnom: SPI_connect failed");
    nomnom::StreamOptions* options = effective_options(options_arg, nullptr);
    if (strcmp(options->dlq_stream.c_str(), name) == 0)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("nomnom: the stream \"%s\" cannot be its own DLQ stream", name)));

    ensure_on_nats(name, subjects, nsubjects, options, NN_ENSURE_VERIFY);

    Oid types[3] = {TEXTOID, TEXTARRAYOID, JSONBOID};
    Datum values[3] = {CStringGetTextDatum(name), PointerGetDatum(subjects_array),
                       JsonbPGetDatum(options_arg)};
    int rc = SPI_execute_with_args(
        "INSERT INTO nomnom.stream_catalog (name, subjects, options) VALUES ($1, $2, $3) "
        "ON CONFLICT (name) DO UPDATE SET subjects = EXCLUDED.subjects, options = "
        "EXCLUDED.options, "
        "updated_at = now()",
        3, types, values, nullptr, false, 0);
    if (rc != SPI_OK_INSERT)
        elog(ERROR, "nomnom: recording the stream failed: %s", SPI_result_code_string(rc));
    SPI_finish();
    nomnom_notify_after_commit();
    PG_RETURN_VOID();
}

Datum nomnom_alter_stream(PG_FUNCTION_ARGS) {
    char* name = text_to_cstring(PG_GETARG_TEXT_PP(0));
    Jsonb* changes = PG_GETARG_JSONB_P(1);
    if (SPI_connect() != SPI_OK_CONNECT)
        elog(ERROR, "nomnom: SPI_connect failed");
    Oid types[2] = {TEXTOID, JSONBOID};
    Datum values[2] = {CStringGetTextDatum(name), JsonbPGetDatum(changes)};
    // A JSON null removes an option (back to its default).
    int rc = SPI_execute_with_args("UPDATE nomnom.stream_catalog c SET options = "
                                   "jsonb_strip_nulls(c.options || $2), updated_at = now() "
                                   "WHERE c.name = $1 RETURNING c.subjects, c.options",
                                   2, types, values, nullptr, false, 0);
    if (rc != SPI_OK_UPDATE_RETURNING)
        elog(ERROR, "nomnom: updating the stream failed: %s", SPI_result_code_string(rc));
    if (SPI_processed != 1)
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
                        errmsg("nomnom: stream \"%s\" does not exist", name)));
    bool isnull;
    ArrayType* subjects_array =
        DatumGetArrayTypeP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
    Jsonb* merged =
        DatumGetJsonbP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
    int nsubjects = 0;
    char** subjects = text_array_to_cstrings(subjects_array, &nsubjects);
    nomnom::StreamOptions* options = effective_options(merged, nullptr);
    ensure_on_nats(name, subjects, nsubjects, options, NN_ENSURE_UPDATE);
    SPI_finish();
    nomnom_notify_after_commit();
    PG_RETURN_VOID();
}

Datum nomnom_drop_stream(PG_FUNCTION_ARGS) {
    char* name = text_to_cstring(PG_GETARG_TEXT_PP(0));
    bool delete_jetstream = PG_GETARG_BOOL(1);
    if (SPI_connect() != SPI_OK_CONNECT)
        elog(ERROR, "nomnom: SPI_connect failed");
    Oid types[1] = {TEXTOID};
    Datum values[1] = {CStringGetTextDatum(name)};
    int rc = SPI_execute_with_args(
        "DELETE FROM nomnom.stream_catalog c WHERE c.name = $1 RETURNING c.options", 1, types,
        values, nullptr, false, 0);
    if (rc != SPI_OK_DELETE_RETURNING)
        elog(ERROR, "nomnom: dropping the stream failed: %s", SPI_result_code_string(rc));
    if (SPI_processed != 1)
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
                        errmsg("nomnom: stream \"%s\" does not exist", name)));
    if (delete_jetstream) {
        bool isnull;
        Jsonb* stored =
            DatumGetJsonbP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
        nomnom::StreamOptions* options = effective_options(stored, nullptr);
        char err[2048];
        natsConnection* nc = nullptr;
        jsCtx* js = nullptr;
        natsStatus s = nn_connect(options->nats_url.c_str(), "nomnom drop_stream", nullptr, 3000,
                                  &nc, &js, err, sizeof err);
        if (s == NATS_OK)
            s = nn_delete_stream(js, name, err, sizeof err);
        nn_disconnect(nc, js, 0);
        if (s != NATS_OK)
            ereport(ERROR, (errcode(ERRCODE_CONNECTION_FAILURE), errmsg("nomnom: %s", err)));
    }
    SPI_finish();
    nomnom_notify_after_commit();
    PG_RETURN_VOID();
}

// Republishes dead letters to their original subjects, with their original headers, and
// `Nomnom-Message-Id` so that the message keeps its id. Published rows leave dead_letters
// and their status goes back to pending.
Datum nomnom_replay_dead_letters(PG_FUNCTION_ARGS) {
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
    int rc = SPI_execute_with_args(
        "SELECT d.message_id::text, d.subject, d.payload, d.payload_bytes, d.headers::text, "
        "       coalesce(s.options::text, nomnom.effective_stream_options('{}')::text) "
        "FROM nomnom.dead_letters d LEFT JOIN nomnom.streams s ON s.name = d.stream "
        "WHERE ($1 IS NULL OR d.stream = $1) AND ($2 IS NULL OR d.message_id = ANY ($2)) "
        "  AND d.subject IS NOT NULL "
        "ORDER BY 6, d.failed_at, d.message_id FOR UPDATE OF d",
        2, types, args, nulls, false, 0);
    if (rc != SPI_OK_SELECT)
        elog(ERROR, "nomnom: reading dead letters failed: %s", SPI_result_code_string(rc));
    SPITupleTable* rows = SPI_tuptable;
    uint64 nrows = SPI_processed;

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
            nomnom::StreamOptions* options = new_options();
            if (!cpp_parse_into(options_text, options, err, sizeof err))
                ereport(ERROR,
                        (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("nomnom: %s", err)));
            current_url = pstrdup(options->nats_url.c_str());
            current_options = options_text;
            if (nn_connect(current_url, "nomnom replay_dead_letters", nullptr, 3000, &conn.nc,
                           &conn.js, err, sizeof err) != NATS_OK)
                ereport(ERROR, (errcode(ERRCODE_CONNECTION_FAILURE), errmsg("nomnom: %s", err)));
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
                                            "h.key NOT IN ('Nats-Msg-Id', 'Nomnom-Message-Id')",
                                            1, htypes, hargs, nullptr, true, 0);
            if (hrc == SPI_OK_SELECT) {
                for (uint64 h = 0; h < SPI_processed && s == NATS_OK; h++) {
                    char* key = SPI_getvalue(SPI_tuptable->vals[h], SPI_tuptable->tupdesc, 1);
                    char* value = SPI_getvalue(SPI_tuptable->vals[h], SPI_tuptable->tupdesc, 2);
                    if (key && value)
                        s = natsMsgHeader_Add(msg, key, value);
                }
            }
        }
        char msg_id[128];
        snprintf(msg_id, sizeof msg_id, "%s:replay:%ld", id,
                 static_cast<long>(GetCurrentTimestamp()));
        if (s == NATS_OK)
            s = natsMsgHeader_Set(msg, "Nats-Msg-Id", msg_id);
        if (s == NATS_OK)
            s = natsMsgHeader_Set(msg, "Nomnom-Message-Id", id);
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
        Oid dtypes[1] = {TEXTOID};
        Datum dargs[1] = {CStringGetTextDatum(id)};
        SPI_execute_with_args("DELETE FROM nomnom.dead_letters WHERE message_id = $1::uuid", 1,
                              dtypes, dargs, nullptr, false, 0);
        SPI_execute_with_args("UPDATE nomnom.message_status SET status = 'pending', error = NULL "
                              "WHERE message_id = $1::uuid AND status = 'dead_letter'",
                              1, dtypes, dargs, nullptr, false, 0);
        replayed++;
    }
    nn_disconnect(conn.nc, conn.js, 1000);
    conn.nc = nullptr;
    conn.js = nullptr;
    SPI_finish();
    PG_RETURN_INT64(replayed);
}
