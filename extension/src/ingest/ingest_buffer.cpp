#include "ingest/ingest_buffer.hpp"

#include <memory>
#include <vector>

#include "pg/pg_guard.hpp"
#include "pg/role_scope.hpp"
#include "pg/spi_session.hpp"
#include "pg/subtransaction.hpp"

namespace nomnom {
namespace {

constexpr size_t kFlushAt = 1000;

struct QueuedMessage {
    std::unique_ptr<PreparedMessage> prepared;
    SubTransactionId subtransaction; // dropped if this subtransaction aborts
    // Who called ingest: the rows are written with this user's rights (and security
    // context), not those of whoever is current when the statement ends (a SECURITY
    // DEFINER function's owner, say).
    Oid user;
    int security_context;
};

std::vector<QueuedMessage> queue;
MemoryContext datum_context = nullptr; // the queued messages' Datums
bool flushing = false;
bool enqueuing = false; // our own catalog reads must not flush mid-call
ExecutorFinish_hook_type previous_executor_finish = nullptr;

void discard(SubTransactionId from) {
    // A flush writes in subtransactions of its own; the batch it took out of the queue
    // still needs its Datums when one of those rolls back.
    if (flushing)
        return;
    while (!queue.empty() && queue.back().subtransaction >= from)
        queue.pop_back();
    if (queue.empty() && datum_context)
        MemoryContextReset(datum_context);
}

// Writes one run of messages queued by the same user, as that user.
void write_run(std::vector<PreparedMessage*>& messages) {
    if (messages.size() == 1) {
        write_prepared(messages);
        return;
    }
    // Set-wise first. If that fails (two versions of one order in the batch, a constraint
    // violation), write one by one, in order: the same result as one call at a time, and
    // the culprit's own error.
    set_wise_then_one_by_one(
        messages.size(), [&] { write_prepared(messages); },
        [&](size_t i) { write_prepared({messages[i]}); },
        [](size_t, std::exception_ptr thrown) { std::rethrow_exception(thrown); });
}

// Restores the user and security context of the flush when the scope ends.
struct UserScope {
    UserScope() { GetUserIdAndSecContext(&user, &context); }
    ~UserScope() { SetUserIdAndSecContext(user, context); }
    Oid user;
    int context;
};

void write_queue(std::vector<QueuedMessage>& batch) {
    SpiSession spi;
    UserScope flusher;
    for (size_t start = 0; start < batch.size();) {
        size_t end = start;
        std::vector<PreparedMessage*> messages;
        while (end < batch.size() && batch[end].user == batch[start].user &&
               batch[end].security_context == batch[start].security_context)
            messages.push_back(batch[end++].prepared.get());
        SetUserIdAndSecContext(batch[start].user, batch[start].security_context);
        write_run(messages);
        start = end;
    }
}

void executor_finish(QueryDesc* query) {
    if (previous_executor_finish)
        previous_executor_finish(query);
    else
        standard_ExecutorFinish(query);
    if (!queue.empty() && !flushing && !enqueuing)
        run_guarded([] { ingest_flush(); });
}

void on_transaction(XactEvent event, void*) {
    switch (event) {
    case XACT_EVENT_PRE_COMMIT:
    case XACT_EVENT_PARALLEL_PRE_COMMIT:
    case XACT_EVENT_PRE_PREPARE:
        if (!queue.empty())
            run_guarded([] { ingest_flush(); });
        break;
    case XACT_EVENT_ABORT:
    case XACT_EVENT_PARALLEL_ABORT:
    case XACT_EVENT_COMMIT:
    case XACT_EVENT_PARALLEL_COMMIT:
    case XACT_EVENT_PREPARE:
        queue.clear();
        datum_context = nullptr; // a child of TopTransactionContext: gone with it
        flushing = enqueuing = false;
        break;
    }
}

void on_subtransaction(SubXactEvent event, SubTransactionId subtransaction, SubTransactionId,
                       void*) {
    if (event == SUBXACT_EVENT_ABORT_SUB)
        discard(subtransaction);
}

// Resets a flag when the scope ends, by return or by exception.
struct FlagScope {
    explicit FlagScope(bool& flag) : flag_(flag) { flag_ = true; }
    ~FlagScope() { flag_ = false; }
    bool& flag_;
};

} // namespace

void ingest_enqueue(const MessageToWrite& message) {
    if (datum_context == nullptr)
        pg_call([] {
            datum_context = AllocSetContextCreate(TopTransactionContext, "nomnom ingest queue",
                                                  ALLOCSET_DEFAULT_SIZES);
        });
    {
        FlagScope scope(enqueuing);
        SpiSession spi;
        QueuedMessage queued{prepare_message(message, datum_context), GetCurrentSubTransactionId(),
                             InvalidOid, 0};
        GetUserIdAndSecContext(&queued.user, &queued.security_context);
        queue.push_back(std::move(queued));
    }
    if (queue.size() >= kFlushAt)
        ingest_flush();
}

void ingest_flush() {
    if (queue.empty() || flushing)
        return;
    FlagScope scope(flushing);
    std::vector<QueuedMessage> batch;
    batch.swap(queue);
    // At the end of a top-level statement the portal's snapshot is already gone.
    bool push_snapshot = false;
    pg_call([&] {
        push_snapshot = !ActiveSnapshotSet();
        if (push_snapshot)
            PushActiveSnapshot(GetTransactionSnapshot());
    });
    write_queue(batch);
    if (push_snapshot)
        pg_call([] { PopActiveSnapshot(); });
    batch.clear();
    MemoryContextReset(datum_context);
}

void ingest_buffer_init() {
    previous_executor_finish = ExecutorFinish_hook;
    ExecutorFinish_hook = executor_finish;
    RegisterXactCallback(on_transaction, nullptr);
    RegisterSubXactCallback(on_subtransaction, nullptr);
}

} // namespace nomnom
