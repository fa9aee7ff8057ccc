// A worker's configuration: its stream's row in nomnom.streams, re-read after every committed
// catalog change (nomnom_shared->config_generation) and on SIGHUP.
#include "workers/worker.hpp"

#include "nomnom/stream_options.hpp"
#include "pg/background.hpp"
#include "pg/pg_guard.hpp"
#include "pg/role_scope.hpp"
#include "pg/spi_session.hpp"
#include "streams/options.hpp"

extern "C" {
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "utils/array.h"
}

namespace nomnom::worker {
namespace {

// The stream's row, copied into TopMemoryContext.
struct StreamRow {
    bool found;
    bool paused;
    char* options_text;
    char* replay_key; // nomnom.replay_key (NULL when missing)
    char** subjects;
    int nsubjects;
};

StreamRow read_stream_row(const Worker& w) {
    StreamRow row = {};
    bool installed = in_catalog_transaction("nomnom worker: reading nomnom.streams", [&] {
        // The catalog is nomnom's: read as its owner, whatever role the worker runs as.
        SavedUser saved = become_owner();
        Oid types[1] = {TEXTOID};
        Datum values[1] = {CStringGetTextDatum(w.stream)};
        int rc = SPI_execute("SELECT key FROM nomnom.replay_key LIMIT 1", true, 1);
        if (rc == SPI_OK_SELECT && SPI_processed == 1)
            row.replay_key = MemoryContextStrdup(
                TopMemoryContext, SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
        // The catalog, not the view: the view redacts URL user info.
        spi_execute_expect(
            "SELECT nomnom.effective_stream_options(options)::text, paused, subjects "
            "FROM nomnom.stream_catalog WHERE name = $1",
            1, types, values, nullptr, true, 1, SPI_OK_SELECT,
            "nomnom worker: reading nomnom.streams");
        restore(saved);
        if (SPI_processed != 1)
            return;
        row.found = true;
        HeapTuple tuple = SPI_tuptable->vals[0];
        TupleDesc desc = SPI_tuptable->tupdesc;
        bool isnull;
        row.options_text = MemoryContextStrdup(TopMemoryContext, SPI_getvalue(tuple, desc, 1));
        row.paused = DatumGetBool(SPI_getbinval(tuple, desc, 2, &isnull));
        ArrayType* array = DatumGetArrayTypeP(SPI_getbinval(tuple, desc, 3, &isnull));
        Datum* elems;
        bool* elem_nulls;
        deconstruct_array(array, TEXTOID, -1, false, TYPALIGN_INT, &elems, &elem_nulls,
                          &row.nsubjects);
        row.subjects = static_cast<char**>(
            MemoryContextAllocZero(TopMemoryContext, sizeof(char*) * (row.nsubjects + 1)));
        for (int i = 0; i < row.nsubjects; i++)
            row.subjects[i] = MemoryContextStrdup(TopMemoryContext, TextDatumGetCString(elems[i]));
    });
    row.found = row.found && installed;
    return row;
}

// What the connection, the streams and the consumer depend on: when it changes, reconnect.
void connection_key(const nomnom::StreamOptions& options, char** subjects, int nsubjects, char* key,
                    size_t keylen) {
    int len = snprintf(key, keylen, "%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%d|%ld|%s",
                       options.nats_url.c_str(), options.nats_user.c_str(),
                       options.nats_password_file.c_str(), options.nats_token_file.c_str(),
                       options.nats_nkey_seed_file.c_str(), options.nats_creds_file.c_str(),
                       options.nats_tls_ca_file.c_str(), options.nats_tls_cert_file.c_str(),
                       options.nats_tls_key_file.c_str(), options.consumer.c_str(),
                       options.dlq_stream.c_str(), options.storage.c_str(), options.replicas,
                       static_cast<long>(options.ack_wait_ms), options.track_status ? "t" : "f");
    for (int i = 0; i < nsubjects && len < static_cast<int>(keylen); i++)
        len += snprintf(key + len, keylen - len, "|%s", subjects[i]);
}

} // namespace

void load_config(Worker& w) {
    w.generation = pg_atomic_read_u64(&nomnom_shared->config_generation);
    StreamRow row = read_stream_row(w);
    if (!row.found) {
        ereport(LOG, (errmsg("nomnom worker %s/%d: the stream is no longer defined; exiting",
                             w.stream, w.index)));
        proc_exit(0);
    }
    nomnom::StreamOptions* options = nullptr;
    run_guarded([&] { options = new nomnom::StreamOptions(); });
    char prefix[NAMEDATALEN * 2 + 64];
    snprintf(prefix, sizeof prefix, "nomnom worker %s/%d: invalid stream options", w.stream,
             w.index);
    parse_options_or_raise(row.options_text, *options, prefix);
    if (row.replay_key != nullptr) {
        run_guarded([&] { options->replay_key = row.replay_key; });
        pfree(row.replay_key);
    }
    // The workers connect as run_as (the launcher passes its role): when it changes, exit,
    // and the launcher starts this worker again as the new role.
    if (strcmp(options->run_as.c_str(), w.run_as) != 0) {
        ereport(LOG, (errmsg("nomnom worker %s/%d: run_as changed from \"%s\" to \"%s\"; exiting",
                             w.stream, w.index, w.run_as, options->run_as.c_str())));
        delete options;
        proc_exit(0);
    }
    if (row.paused || w.index >= options->workers) {
        delete options;
        ereport(LOG, (errmsg("nomnom worker %s/%d: the stream is %s; exiting", w.stream, w.index,
                             row.paused ? "paused" : "running fewer workers")));
        proc_exit(0);
    }

    char key[4096];
    connection_key(*options, row.subjects, row.nsubjects, key, sizeof key);
    if (strcmp(key, w.connection_key) != 0) {
        if (w.nc != nullptr)
            ereport(LOG, (errmsg("nomnom worker %s/%d: configuration changed; reconnecting",
                                 w.stream, w.index)));
        w.reconnect = true; // the loop disconnects, after settling what it holds
        strlcpy(w.connection_key, key, sizeof w.connection_key);
        w.next_connect = 0;
        w.connect_failures = 0;
    }
    delete w.options;
    w.options = options;
    if (w.subjects != nullptr) {
        for (int i = 0; i < w.nsubjects; i++)
            pfree(w.subjects[i]);
        pfree(w.subjects);
    }
    w.subjects = row.subjects;
    w.nsubjects = row.nsubjects;
    pfree(row.options_text);
}

// Step: re-reads the stream's row after SIGHUP or a committed catalog change, and drops the
// connection when what it depends on changed.
bool follow_configuration(Worker& w) {
    bool reload = false;
    if (ConfigReloadPending) {
        ConfigReloadPending = false;
        ProcessConfigFile(PGC_SIGHUP);
        reload = true;
    }
    if (reload || pg_atomic_read_u64(&nomnom_shared->config_generation) != w.generation)
        load_config(w);
    if (w.reconnect) {
        disconnect_nats(w, 1000);
        w.reconnect = false;
    }
    return true;
}

// Step, once a batch is fetched: a change committed while the fetch waited applies to what
// it brought (a message published after alter_stream returned is routed by the new options).
// When the connection must change, the batch is nak'd and the next round reconnects.
bool apply_late_changes(Worker& w) {
    if (pg_atomic_read_u64(&nomnom_shared->config_generation) != w.generation)
        load_config(w); // may exit: the exit callback naks the fetched messages
    if (w.reconnect) {
        nak_fetched(w);
        return false;
    }
    return true;
}

} // namespace nomnom::worker
