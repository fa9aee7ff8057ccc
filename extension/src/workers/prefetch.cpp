#include "workers/prefetch.hpp"

#include <pthread.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "nomnom/backoff.hpp"
#include "nomnom/js_delivery.hpp"
#include "nomnom/message_id.hpp"
#include "nomnom/nats_fetch.hpp"
#include "pg/signal_safe_thread.hpp"
#include "streams/jetstream_client.hpp"
#include "workers/in_progress.hpp"

namespace nomnom {
namespace {

// Of the prefetch thread; the backend's stays as it was. Low enough that the writer goes
// first on a core they share, high enough that the thread is not starved by nats-server
// (bench/README.md, "Why the code is so").
constexpr int kNiceness = 5;

// Empties a written message's PremappedMessage for the next batch, keeping its storage.
// Its trees were released by finish(), on the backend.
void recycle(PremappedMessage& message) {
    recycle(message.rows);
    message.error.message.clear();
    message.error.sqlstate = MappingError{}.sqlstate;
    message.written_entity.clear();
    message.written_tree = nullptr;
}

} // namespace

void read_facts(natsMsg* msg, const std::string& stream, const StreamOptions& options,
                MessageFacts& facts) {
    facts = MessageFacts{};
    const char* entity_header = nullptr;
    const char* nomnom_id = nullptr;
    const char* msg_id = nullptr;
    // Nomnom-Entity is only looked up on a stream that trusts it (below): each header lookup
    // costs this thread (bench/README.md, item 35).
    if (options.trust_headers)
        natsMsgHeader_Get(msg, "Nomnom-Entity", &entity_header);
    natsMsgHeader_Get(msg, "Nomnom-Message-Id", &nomnom_id);
    natsMsgHeader_Get(msg, "Nats-Msg-Id", &msg_id);
    const char* subject = natsMsg_GetSubject(msg);
    // A publisher's Nomnom-Entity and Nomnom-Message-Id count only on a stream that trusts
    // them (else they could write another entity, or suppress a message by reusing a
    // completed id); a dead letter nomnom.replay_dead_letters republished keeps its id.
    if (!options.trust_headers) {
        const char* signature = nullptr;
        if (nomnom_id != nullptr &&
            (natsMsgHeader_Get(msg, "Nomnom-Replay-Signature", &signature) != NATS_OK ||
             !replay_signature_valid(options.replay_key, signature ? signature : "", nomnom_id,
                                     msg_id ? msg_id : "", subject ? subject : "")))
            nomnom_id = nullptr;
    }
    JsDelivery delivery;
    if (read_js_delivery(msg, delivery)) {
        facts.stream_seq = delivery.stream_seq;
        facts.delivered = static_cast<int>(delivery.delivered);
        facts.timestamp_ns = delivery.timestamp_ns;
        facts.pending = static_cast<int64_t>(delivery.pending);
    }
    facts.entity = route_entity(options, subject ? subject : "", entity_header ? entity_header : "");
    // The id's bytes and its text, with no string in between (bench/README.md, item 29).
    message_uuid_bytes(stream, facts.stream_seq, nomnom_id, msg_id, facts.id.data);
    format_uuid(facts.id.data, facts.id_text);
    facts.known = true;
}

Prefetcher::~Prefetcher() {
    stop_signal_safe_thread(thread_, mutex_, wake_, stopping_);
}

void Prefetcher::start(natsSubscription* sub, int batch_size, int wait_ms, const std::string& stream,
                       const StreamOptions& options, uint64_t options_generation, TreeSnapshot trees) {
    if (!thread_.joinable())
        thread_ = start_signal_safe_thread([this] { run(); });
    // The thread waits for requested_ and reads none of these until then.
    sub_ = sub;
    batch_size_ = batch_size;
    wait_ms_ = wait_ms;
    stream_ = stream;
    options_ = options;
    options_generation_ = options_generation;
    trees_ = std::move(trees);
    list_ = natsMsgList{nullptr, 0};
    status_ = NATS_OK;
    premapped_.clear();
    {
        std::lock_guard<std::mutex> lock(mutex_);
        requested_ = true;
        finishing_ = false;
    }
    wake_.notify_all();
    running_ = true;
}

natsStatus Prefetcher::finish(natsMsgList* list, std::vector<PremappedMessage>& premapped) {
    {
        std::unique_lock<std::mutex> lock(mutex_);
        finishing_ = true;
        wake_.notify_all();
        done_.wait(lock, [this] { return !requested_; });
    }
    running_ = false;
    for (PremappedMessage& written : premapped) {
        written.mapped_with.reset();
        written.written_tree.reset();
    }
    spent_ = std::move(premapped);
    *list = list_;
    list_ = natsMsgList{nullptr, 0};
    premapped = std::move(premapped_);
    premapped_.clear();
    // A mapping that failed to allocate is simply not there: the writer maps again.
    premapped.resize(static_cast<size_t>(list->Count));
    return status_;
}

void Prefetcher::run() noexcept {
    // The backend's writing is what the drain waits for: when both want the same core, the
    // writer goes first (bench/README.md, "Why the code is so"). Linux: per thread.
    setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), kNiceness);
    // Its name in /proc/PID/task/TID/comm: bench/waits.sh reads its CPU time by it.
    pthread_setname_np(pthread_self(), "nn_prefetch");
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
        wake_.wait(lock, [this] { return requested_ || stopping_; });
        if (!requested_)
            return;
        lock.unlock();
        fetch();
        lock.lock();
        // Until finish(): the batch before this one may be slow to write (a lock, a
        // batch-level failure), so what was fetched is marked in progress every third of
        // ack_wait. The first mark is due a third of ack_wait after the fetch started, not
        // after it returned: the pull may have held a message for up to its wait, and the
        // mapping took its time too. Each time (and as often when nothing was fetched), the
        // messages that reached the subscription after the fetch returned join the batch
        // and are marked with it: the next fetch, which would take them, waits for this
        // batch to be joined (e2e 046; 037 was redelivered so, rarely). A batch joined
        // before its first mark is due, the drain's, does none of this.
        auto ended = [this] { return finishing_ || stopping_; };
        int64_t period = in_progress_period_ms(options_.ack_wait_ms);
        if (list_.Count > 0)
            schedule_.hold(delivered_after_ms_, period);
        int64_t look_ms = delivered_after_ms_ + period; // when nothing is held
        while (!ended()) {
            int64_t now = monotonic_ms();
            int64_t due = schedule_.holding() ? schedule_.due_ms() : look_ms;
            if (now < due) {
                wake_.wait_for(lock, std::chrono::milliseconds(due - now), ended);
                continue;
            }
            for (int i = 0; i < list_.Count; ++i)
                natsMsg_InProgress(list_.Msgs[i], nullptr);
            int held = list_.Count;
            if (take_late_messages(&list_, sub_, batch_size_, options_.batch_bytes) > 0) {
                if (!schedule_.holding())
                    schedule_.hold(delivered_after_ms_, period);
                for (int i = held; i < list_.Count; ++i)
                    natsMsg_InProgress(list_.Msgs[i], nullptr);
            }
            if (schedule_.holding())
                schedule_.marked(now);
            look_ms = now + period;
        }
        marked_ms_ = schedule_.release(); // kNothingHeld when nothing was fetched
        requested_ = false;
        done_.notify_all();
    }
}

void Prefetcher::fetch() noexcept {
    // The last batch's messages, written (the backend is done with them: finish() handed
    // them over), become this batch's: their storage is taken again, not freed and allocated
    // anew (bench/README.md, item 26). premapped_ is empty here (finish() took it).
    premapped_ = std::move(spent_);
    spent_.clear();
    // What says a message was worked out ahead is cleared first, and cannot fail: should
    // the rest run out of memory, no message keeps the facts or mapping of an earlier one.
    for (PremappedMessage& message : premapped_) {
        message.facts = MessageFacts{};
        message.mapped_with = nullptr;
        message.ok = false;
    }
    // Its messages are delivered after this, unless an earlier pull left some in the
    // subscription (fetch_bounded takes those first): they have waited unmarked since, so
    // their first mark is due as soon as this fetch returns.
    delivered_after_ms_ = monotonic_ms();
    int left = 0;
    if (natsSubscription_GetPending(sub_, &left, nullptr) == NATS_OK && left > 0)
        delivered_after_ms_ -= in_progress_period_ms(options_.ack_wait_ms);
    status_ = fetch_bounded(&list_, sub_, batch_size_, options_.batch_bytes, wait_ms_);
    // nats.c's error text is per thread: taken here, for the backend (handle_fetch_failure).
    error_[0] = '\0';
    if (status_ != NATS_OK && status_ != NATS_TIMEOUT)
        nn_describe(status_, error_, sizeof error_);
    try {
        premapped_.resize(static_cast<size_t>(list_.Count));
        for (int i = 0; i < list_.Count; ++i) {
            // Each one just before it is mapped: its rows go into this thread's small pool
            // (nomnom::recycle), which the mapping takes them from again.
            recycle(premapped_[static_cast<size_t>(i)]);
            natsMsg* msg = list_.Msgs[i];
            MessageFacts& facts = premapped_[static_cast<size_t>(i)].facts;
            read_facts(msg, stream_, options_, facts);
            facts.options_generation = options_generation_;
            // Delivered more often than max_deliver: never settled, perhaps because mapping it
            // crashed the worker. It is dead-lettered unmapped (settle_overdelivered), so it
            // is not mapped here either: a crash must not loop.
            if (trees_.empty() || facts.delivered > options_.max_deliver)
                continue;
            auto found = trees_.find(facts.entity);
            if (!facts.known || found == trees_.end() || found->second->uses_metadata)
                continue;
            const char* body = natsMsg_GetData(msg);
            PremappedMessage& ahead = premapped_[static_cast<size_t>(i)];
            ahead.ok = map_document(found->second->tree,
                                    std::string_view(body ? body : "",
                                                     static_cast<size_t>(natsMsg_GetDataLength(msg))),
                                    MessageMeta{}, ahead.rows.doc, ahead.error);
            if (ahead.ok)
                preconvert_document(*found->second, ahead.rows);
            ahead.mapped_with = found->second;
        }
    } catch (...) {
        // Out of memory: what is not mapped yet is mapped by the writer.
    }
}

TreeSnapshot written_trees(const std::vector<PremappedMessage>& batch) {
    TreeSnapshot trees;
    for (const PremappedMessage& message : batch)
        if (message.written_tree != nullptr)
            trees.emplace(message.written_entity, message.written_tree);
    return trees;
}

} // namespace nomnom
