// SQL functions for streams: create_stream, alter_stream, drop_stream, notify_stream_change,
// worker_slots, worker_consumer_info (replay_dead_letters is in dead_letters.cpp).
// PostgreSQL-style bodies (NOMNOM_FUNCTION); NATS through the status-code functions of
// jetstream_client.hpp, whose objects are destroyed before any error is raised.
#include "pg/pg_guard.hpp"
#include "pg/role_scope.hpp"
#include "streams/jetstream_at_end.hpp"
#include "streams/jetstream_client.hpp"
#include "streams/options.hpp"
#include "workers/shmem.hpp"

#include "nomnom/stream_options.hpp"

extern "C" {
#include "catalog/pg_authid.h"
#include "utils/acl.h"
#include "utils/array.h"
}

#include <cstdio>
#include <new>

namespace {

// `options` checked and normalised (2.0 and "2" stored as 2); an error names what is wrong.
Jsonb* normalized_options(Jsonb* options) {
    char* text = JsonbToCString(nullptr, &options->root, VARSIZE(options));
    char* copy = nullptr;
    nomnom::run_guarded([&] {
        std::string normalized, error;
        if (!nomnom::normalize_stream_options(text, normalized, error))
            nomnom::fail("nomnom: " + error, ERRCODE_INVALID_PARAMETER_VALUE);
        nomnom::pg_call([&] { copy = pstrdup(normalized.c_str()); });
    });
    return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(copy)));
}

// A stream's workers connect as its run_as role: naming one needs membership in it (a
// superuser is a member of every role), and the role must be able to log in.
void check_may_run_as(const char* role_name) {
    Oid role = get_role_oid(role_name, true);
    if (!OidIsValid(role))
        ereport(ERROR,
                (errcode(ERRCODE_UNDEFINED_OBJECT),
                 errmsg("nomnom: option \"run_as\": role \"%s\" does not exist", role_name)));
    if (!is_member_of_role(GetUserId(), role))
        ereport(ERROR,
                (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                 errmsg("nomnom: permission denied to run a stream as role \"%s\"", role_name),
                 errdetail("Only members of role \"%s\" may name it in \"run_as\" or change a "
                           "stream that runs as it.",
                           role_name)));
    HeapTuple tuple = SearchSysCache1(AUTHOID, ObjectIdGetDatum(role));
    bool can_login =
        HeapTupleIsValid(tuple) && reinterpret_cast<Form_pg_authid>(GETSTRUCT(tuple))->rolcanlogin;
    if (HeapTupleIsValid(tuple))
        ReleaseSysCache(tuple);
    if (!can_login)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("nomnom: option \"run_as\": role \"%s\" cannot log in", role_name),
                        errdetail("The stream's workers connect to the database as this role."),
                        errhint("ALTER ROLE %s LOGIN, or name another role.",
                                quote_identifier(role_name))));
}

// The run_as of a stored stream (NULL: none recorded, the stream runs as nomnom's owner),
// and whether the stream exists. SPI connected; reads as nomnom's owner.
bool stored_run_as(const char* name, char** run_as, bool lock) {
    nomnom::SavedUser saved = nomnom::become_owner();
    Oid types[1] = {TEXTOID};
    Datum values[1] = {CStringGetTextDatum(name)};
    int rc =
        SPI_execute_with_args(lock ? "SELECT c.options->>'run_as' FROM nomnom.stream_catalog c "
                                     "WHERE c.name = $1 FOR UPDATE"
                                   : "SELECT c.options->>'run_as' FROM nomnom.stream_catalog c "
                                     "WHERE c.name = $1",
                              1, types, values, nullptr, false, 1);
    nomnom::restore(saved);
    if (rc != SPI_OK_SELECT)
        elog(ERROR, "nomnom: reading the stream failed: %s", SPI_result_code_string(rc));
    *run_as = nullptr;
    if (SPI_processed == 0)
        return false;
    *run_as = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
    return true;
}

// Changing a stream needs membership in the role it runs as (nomnom's owner when it names
// none: a stream from before run_as existed).
void check_may_change(const char* run_as) {
    if (run_as != nullptr) {
        check_may_run_as(run_as);
    } else if (!superuser()) {
        ereport(ERROR,
                (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                 errmsg("nomnom: permission denied to change a stream without \"run_as\""),
                 errdetail("Its workers run as nomnom's owner: only a superuser may change it.")));
    }
}

// `options` with run_as filled in: the caller when it names none.
Jsonb* with_run_as(Jsonb* options) {
    Oid types[1] = {JSONBOID};
    Datum values[1] = {JsonbPGetDatum(options)};
    int rc = SPI_execute_with_args(
        "SELECT CASE WHEN $1 ? 'run_as' THEN $1 "
        "ELSE $1 || jsonb_build_object('run_as', current_user::text) END, $1->>'run_as'",
        1, types, values, nullptr, true, 1);
    if (rc != SPI_OK_SELECT || SPI_processed != 1)
        elog(ERROR, "nomnom: filling in run_as failed");
    bool isnull;
    Jsonb* result =
        DatumGetJsonbP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
    char* named = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
    if (named != nullptr)
        check_may_run_as(named);
    return result;
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
    nomnom::StreamOptions* parsed = nomnom::palloc_options();
    nomnom::parse_options_or_raise(text, *parsed, "nomnom");
    if (effective_text)
        *effective_text = text;
    return parsed;
}

void check_name(const char* name) {
    if (!nomnom::valid_jetstream_name(name) || strlen(name) >= NAMEDATALEN * 2)
        ereport(
            ERROR,
            (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
             errmsg("nomnom: \"%s\" is not a valid JetStream stream name", name),
             errhint("Use letters, digits, '-' and '_': no spaces, '.', '*', '>', '/' or '\\'.")));
}

// Connects, ensures the stream, the DLQ stream and the consumer, disconnects; then raises
// what failed. A stream `name` made here is deleted again if the transaction rolls back
// (the DLQ and entities streams, which other streams share, stay).
void ensure_on_nats(const char* name, char** subjects, int nsubjects,
                    const nomnom::StreamOptions* options, const char* effective_text,
                    NnEnsureMode mode) {
    char err[2048];
    natsConnection* nc = nullptr;
    jsCtx* js = nullptr;
    natsStatus s =
        nn_connect(*options, "nomnom create_stream", nullptr, 3000, &nc, &js, err, sizeof err);
    if (s != NATS_OK)
        ereport(ERROR, (errcode(nomnom::nats_connect_errcode(err)), errmsg("nomnom: %s", err)));
    bool created = false;
    s = nn_ensure_jetstream(js, name, subjects, nsubjects, *options, mode, err, sizeof err, nullptr,
                            &created);
    nn_disconnect(nc, js, 0);
    if (created)
        nomnom::delete_stream_at(nomnom::StreamDeletedAt::kAbort, name, effective_text);
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
    bool refused = strstr(err, "is beyond what JetStream") != nullptr ||
                   strstr(err, "more than the NATS cluster can place") != nullptr;
    ereport(ERROR,
            (errcode(refused ? ERRCODE_CONFIGURATION_LIMIT_EXCEEDED : ERRCODE_CONNECTION_FAILURE),
             errmsg("nomnom: %s (NATS at %s)", err, nomnom::redacted_nats_url(*options))));
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

} // namespace

NOMNOM_FUNCTION(nomnom_create_stream) {
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
        if (!nomnom::valid_subject(subjects[i], true))
            ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                            errmsg("nomnom: \"%s\" is not a valid NATS subject", subjects[i])));
    }

    if (SPI_connect() != SPI_OK_CONNECT)
        elog(ERROR, "nomnom: SPI_connect failed");
    // Every check before any network I/O: the options, the roles, the stream it replaces.
    options_arg = with_run_as(normalized_options(options_arg));
    char* previous_run_as = nullptr;
    if (stored_run_as(name, &previous_run_as, true))
        check_may_change(previous_run_as);
    if (nomnom::stream_deleted_at_commit(name))
        ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                        errmsg("nomnom: stream \"%s\" was dropped with delete_jetstream in this "
                               "transaction",
                               name),
                        errdetail("Its JetStream stream is deleted when the transaction commits."),
                        errhint("Commit the drop_stream first, then create the stream again.")));
    char* effective_text = nullptr;
    nomnom::StreamOptions* options = effective_options(options_arg, &effective_text);
    if (strcmp(options->dlq_stream.c_str(), name) == 0)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("nomnom: the stream \"%s\" cannot be its own DLQ stream", name)));
    if (options->publish_entities && strcmp(options->entities_stream.c_str(), name) == 0)
        ereport(ERROR,
                (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                 errmsg("nomnom: the stream \"%s\" cannot be its own entities_stream", name)));

    ensure_on_nats(name, subjects, nsubjects, options, effective_text, NN_ENSURE_VERIFY);

    Oid types[3] = {TEXTOID, TEXTARRAYOID, JSONBOID};
    Datum values[3] = {CStringGetTextDatum(name), PointerGetDatum(subjects_array),
                       JsonbPGetDatum(options_arg)};
    nomnom::SavedUser saved = nomnom::become_owner();
    int rc = SPI_execute_with_args(
        "INSERT INTO nomnom.stream_catalog (name, subjects, options) VALUES ($1, $2, $3) "
        "ON CONFLICT (name) DO UPDATE SET subjects = EXCLUDED.subjects, options = "
        "EXCLUDED.options, "
        "updated_at = now()",
        3, types, values, nullptr, false, 0);
    nomnom::restore(saved);
    if (rc != SPI_OK_INSERT)
        elog(ERROR, "nomnom: recording the stream failed: %s", SPI_result_code_string(rc));
    SPI_finish();
    nomnom_notify_after_commit();
    PG_RETURN_VOID();
}

NOMNOM_FUNCTION(nomnom_alter_stream) {
    char* name = text_to_cstring(PG_GETARG_TEXT_PP(0));
    Jsonb* changes = PG_GETARG_JSONB_P(1);
    if (SPI_connect() != SPI_OK_CONNECT)
        elog(ERROR, "nomnom: SPI_connect failed");
    // Every check before any network I/O: who may change it, the options, the new role.
    char* run_as = nullptr;
    if (!stored_run_as(name, &run_as, true))
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
                        errmsg("nomnom: stream \"%s\" does not exist", name)));
    check_may_change(run_as);
    changes = normalized_options(changes);
    {
        // run_as: null gives the stream to its caller, never back to nomnom's owner.
        Oid types[1] = {JSONBOID};
        Datum values[1] = {JsonbPGetDatum(changes)};
        int rc = SPI_execute_with_args(
            "SELECT CASE WHEN $1 ? 'run_as' AND $1->'run_as' = 'null' "
            "THEN $1 || jsonb_build_object('run_as', current_user::text) ELSE $1 END, "
            "$1->>'run_as'",
            1, types, values, nullptr, true, 1);
        if (rc != SPI_OK_SELECT || SPI_processed != 1)
            elog(ERROR, "nomnom: reading the changes failed");
        bool isnull;
        changes =
            DatumGetJsonbP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
        char* named = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
        if (named != nullptr)
            check_may_run_as(named);
    }
    Oid types[2] = {TEXTOID, JSONBOID};
    Datum values[2] = {CStringGetTextDatum(name), JsonbPGetDatum(changes)};
    // A JSON null removes an option (back to its default).
    nomnom::SavedUser saved = nomnom::become_owner();
    int rc = SPI_execute_with_args("UPDATE nomnom.stream_catalog c SET options = "
                                   "jsonb_strip_nulls(c.options || $2), updated_at = now() "
                                   "WHERE c.name = $1 RETURNING c.subjects, c.options",
                                   2, types, values, nullptr, false, 0);
    nomnom::restore(saved);
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
    char* effective_text = nullptr;
    nomnom::StreamOptions* options = effective_options(merged, &effective_text);
    ensure_on_nats(name, subjects, nsubjects, options, effective_text, NN_ENSURE_UPDATE);
    SPI_finish();
    nomnom_notify_after_commit();
    PG_RETURN_VOID();
}

NOMNOM_FUNCTION(nomnom_drop_stream) {
    char* name = text_to_cstring(PG_GETARG_TEXT_PP(0));
    bool delete_jetstream = PG_GETARG_BOOL(1);
    if (SPI_connect() != SPI_OK_CONNECT)
        elog(ERROR, "nomnom: SPI_connect failed");
    char* run_as = nullptr;
    if (stored_run_as(name, &run_as, true))
        check_may_change(run_as);
    Oid types[1] = {TEXTOID};
    Datum values[1] = {CStringGetTextDatum(name)};
    nomnom::SavedUser saved = nomnom::become_owner();
    int rc = SPI_execute_with_args(
        "DELETE FROM nomnom.stream_catalog c WHERE c.name = $1 RETURNING c.options", 1, types,
        values, nullptr, false, 0);
    nomnom::restore(saved);
    if (rc != SPI_OK_DELETE_RETURNING)
        elog(ERROR, "nomnom: dropping the stream failed: %s", SPI_result_code_string(rc));
    if (SPI_processed != 1)
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
                        errmsg("nomnom: stream \"%s\" does not exist", name)));
    if (delete_jetstream) {
        // Deleted once the transaction commits: a drop rolled back keeps its JetStream
        // stream, and a failure then is a WARNING (nothing can roll back any more).
        bool isnull;
        Jsonb* stored =
            DatumGetJsonbP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
        char* effective_text = nullptr;
        effective_options(stored, &effective_text);
        nomnom::delete_stream_at(nomnom::StreamDeletedAt::kCommit, name, effective_text);
    }
    SPI_finish();
    nomnom_notify_after_commit();
    PG_RETURN_VOID();
}

// The trigger function of nomnom.stream_catalog: the launcher and the workers read the
// catalog again once the change commits.
NOMNOM_FUNCTION(nomnom_notify_stream_change) {
    nomnom_notify_after_commit();
    PG_RETURN_VOID();
}

// The workers' shared memory slots of this database's streams (the nomnom.stream_status view).
NOMNOM_FUNCTION(nomnom_worker_slots) {
    ReturnSetInfo* rsinfo = reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo);
    InitMaterializedSRF(fcinfo, 0);
    nomnom_for_each_slot([&](const NomnomWorkerSlot& copy, NomnomWorkerSlot&) {
        Datum values[12];
        bool nulls[12] = {false};
        values[0] = CStringGetTextDatum(copy.stream);
        values[1] = Int32GetDatum(copy.worker_index);
        values[2] = Int32GetDatum(copy.pid);
        nulls[2] = copy.pid == 0;
        values[3] = CStringGetTextDatum(copy.state[0] ? copy.state : "starting");
        values[4] = CStringGetTextDatum(copy.last_error);
        nulls[4] = copy.last_error[0] == '\0';
        values[5] = TimestampTzGetDatum(copy.last_error_at);
        nulls[5] = copy.last_error_at == 0;
        values[6] = Int64GetDatum(static_cast<int64>(copy.consumed));
        values[7] = Int64GetDatum(static_cast<int64>(copy.completed));
        values[8] = Int64GetDatum(static_cast<int64>(copy.failed));
        values[9] = Int64GetDatum(static_cast<int64>(copy.dead_lettered));
        values[10] = Int64GetDatum(copy.pending);
        nulls[10] = copy.pending < 0;
        values[11] = TimestampTzGetDatum(copy.last_batch_at);
        nulls[11] = copy.last_batch_at == 0;
        tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
    });
    return (Datum)0;
}

// Each worker's consumer info (the lag thread's atomics), rate and batch commit latency
// histogram, the same slots as worker_slots (the console's columns of stream_status).
NOMNOM_FUNCTION(nomnom_worker_consumer_info) {
    ReturnSetInfo* rsinfo = reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo);
    InitMaterializedSRF(fcinfo, 0);
    nomnom_for_each_slot([&](const NomnomWorkerSlot& copy, NomnomWorkerSlot& slot) {
        uint64 atomics[4] = {
            pg_atomic_read_u64(&slot.num_pending), pg_atomic_read_u64(&slot.num_ack_pending),
            pg_atomic_read_u64(&slot.num_redelivered), pg_atomic_read_u64(&slot.rate_1m_milli)};
        Datum values[9];
        bool nulls[9] = {false};
        values[0] = CStringGetTextDatum(copy.stream);
        values[1] = Int32GetDatum(copy.worker_index);
        for (int a = 0; a < 3; a++) {
            values[2 + a] = Int64GetDatum(static_cast<int64>(atomics[a]));
            nulls[2 + a] = atomics[a] == PG_UINT64_MAX;
        }
        values[5] = Float8GetDatum(static_cast<double>(atomics[3]) / 1000.0);
        nulls[5] = atomics[3] == PG_UINT64_MAX;
        Datum cumulative[NN_COMMIT_BUCKETS];
        uint64 running = 0;
        for (int b = 0; b < NN_COMMIT_BUCKETS; b++) {
            running += copy.commit_buckets[b];
            cumulative[b] = Int64GetDatum(static_cast<int64>(running));
        }
        values[6] = PointerGetDatum(construct_array(cumulative, NN_COMMIT_BUCKETS, INT8OID, 8,
                                                    FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
        values[7] = Float8GetDatum(static_cast<double>(copy.commit_sum_us) / 1e6);
        values[8] = Int64GetDatum(static_cast<int64>(copy.commit_count));
        tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
    });
    return (Datum)0;
}
