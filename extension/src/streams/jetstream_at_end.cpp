// JetStream streams deleted at the end of a transaction (jetstream_at_end.hpp).
// PostgreSQL-style: the list lives in TopTransactionContext, gone with the transaction; the
// callbacks call only the status-code functions of jetstream_client.hpp and never raise.
#include "streams/jetstream_at_end.hpp"

#include "pg/pg_prelude.hpp"
#include "streams/jetstream_client.hpp"
#include "streams/options.hpp"

#include "nomnom/stream_options.hpp"

extern "C" {
#include "access/xact.h"
#include "utils/memutils.h"
}

#include <cstring>

namespace nomnom {
namespace {

struct PendingDeletion {
    char* name;
    StreamOptions* options;
    StreamDeletedAt when;
    SubTransactionId subtransaction; // the (sub)transaction that asked for it
    PendingDeletion* next;
};

PendingDeletion* pending = nullptr; // in TopTransactionContext
bool callbacks_registered = false;

// Connects and deletes; what fails is a WARNING, since the transaction has already ended.
void delete_now(const PendingDeletion& deletion) {
    char err[2048];
    natsConnection* nc = nullptr;
    jsCtx* js = nullptr;
    natsStatus s = nn_connect(*deletion.options, "nomnom drop_stream", nullptr, 3000, &nc, &js, err,
                              sizeof err);
    if (s == NATS_OK)
        s = nn_delete_stream(js, deletion.name, err, sizeof err);
    nn_disconnect(nc, js, 0);
    if (s == NATS_OK)
        return;
    bool at_commit = deletion.when == StreamDeletedAt::kCommit;
    ereport(WARNING,
            (errcode(nats_connect_errcode(err)),
             errmsg("nomnom: JetStream stream \"%s\" was not deleted: %s", deletion.name, err),
             errdetail(at_commit ? "drop_stream deletes it once its transaction commits; the "
                                   "transaction has committed, the stream is no longer in the "
                                   "catalog."
                                 : "create_stream made it in a transaction that rolled back."),
             errhint("Delete it with the nats CLI (nats stream rm %s), or use it again with "
                     "create_stream.",
                     deletion.name)));
}

// Runs the deletions of `list` due `when` (the list already unlinked: none runs twice).
void run_due(PendingDeletion* list, StreamDeletedAt when) {
    for (PendingDeletion* d = list; d != nullptr; d = d->next)
        if (d->when == when)
            delete_now(*d);
}

void on_transaction(XactEvent event, void*) {
    if (pending == nullptr)
        return;
    PendingDeletion* list = pending;
    switch (event) {
    case XACT_EVENT_PRE_PREPARE:
        ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                        errmsg("nomnom: cannot PREPARE a transaction that created or dropped a "
                               "JetStream stream")));
        break;
    case XACT_EVENT_COMMIT:
    case XACT_EVENT_PARALLEL_COMMIT:
        pending = nullptr;
        run_due(list, StreamDeletedAt::kCommit);
        break;
    case XACT_EVENT_ABORT:
    case XACT_EVENT_PARALLEL_ABORT:
        pending = nullptr;
        run_due(list, StreamDeletedAt::kAbort);
        break;
    case XACT_EVENT_PREPARE:
        pending = nullptr;
        break;
    default:
        break;
    }
}

// A savepoint released hands its deletions to its parent; one rolled back runs its
// abort-time deletions and forgets its commit-time ones.
void on_subtransaction(SubXactEvent event, SubTransactionId subtransaction, SubTransactionId parent,
                       void*) {
    if (event == SUBXACT_EVENT_COMMIT_SUB) {
        for (PendingDeletion* d = pending; d != nullptr; d = d->next)
            if (d->subtransaction == subtransaction)
                d->subtransaction = parent;
    } else if (event == SUBXACT_EVENT_ABORT_SUB) {
        PendingDeletion* aborted = nullptr;
        PendingDeletion** link = &pending;
        while (*link != nullptr) {
            PendingDeletion* d = *link;
            if (d->subtransaction == subtransaction) {
                *link = d->next;
                d->next = aborted;
                aborted = d;
            } else {
                link = &d->next;
            }
        }
        run_due(aborted, StreamDeletedAt::kAbort);
    }
}

} // namespace

void delete_stream_at(StreamDeletedAt when, const char* name, const char* effective_options_json) {
    if (!callbacks_registered) {
        RegisterXactCallback(on_transaction, nullptr);
        RegisterSubXactCallback(on_subtransaction, nullptr);
        callbacks_registered = true;
    }
    MemoryContext previous = MemoryContextSwitchTo(TopTransactionContext);
    auto* deletion = static_cast<PendingDeletion*>(palloc0(sizeof(PendingDeletion)));
    deletion->name = pstrdup(name);
    deletion->options = palloc_options();
    parse_options_or_raise(effective_options_json, *deletion->options, "nomnom");
    deletion->when = when;
    deletion->subtransaction = GetCurrentSubTransactionId();
    MemoryContextSwitchTo(previous);
    deletion->next = pending;
    pending = deletion;
}

bool stream_deleted_at_commit(const char* name) {
    for (PendingDeletion* d = pending; d != nullptr; d = d->next)
        if (d->when == StreamDeletedAt::kCommit && strcmp(d->name, name) == 0)
            return true;
    return false;
}

} // namespace nomnom
