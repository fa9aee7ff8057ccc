// The worker's next batch, fetched and mapped on a second thread while the backend writes
// the current one. Fetching (a round trip to NATS), reading each message's id and metadata,
// JSON mapping (pure C++) and freeing the last batch's rows then overlap the writing and the
// commit, which must stay on the backend's thread.
//
// One thread for the worker's life, handed one fetch after the other. glibc gives a thread
// its malloc arena at its first allocation, the one an exited thread left last; with a new
// thread a batch, the writer's mapping thread (map_in_parallel, since removed, started just after it and at a
// higher priority) sometimes allocated first and took it, and a batch's mapping (~10 MiB
// resident for 1,000 orders) was then kept in two arenas (bench/README.md, item 20).
//
// C++-style; the thread calls nats.c and the pure C++ core only, with signals blocked.
#pragma once

#include <nats/nats.h>

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "writer/message_writer.hpp"
#include "nomnom/in_progress_schedule.hpp"
#include "nomnom/stream_options.hpp"

namespace nomnom {

// Root entity name -> the tree to map its documents with (those of the last batch).
using TreeSnapshot = std::unordered_map<std::string, std::shared_ptr<ResolvedTree>>;

class Prefetcher {
  public:
    Prefetcher() = default;
    Prefetcher(const Prefetcher&) = delete;
    Prefetcher& operator=(const Prefetcher&) = delete;
    ~Prefetcher(); // ends the thread, once its fetch (if one runs) is done

    // Hands the thread a fetch (starting the thread the first time): it fetches up to
    // `batch_size` messages from `sub` (waiting at most `wait_ms`), reads each one's facts
    // (routed with `options`, of `options_generation`; ids derived for `stream`), and maps
    // those whose entity has a tree in `trees` that takes no message metadata (the metadata's
    // text needs PostgreSQL). Only when running() is false.
    // Throws std::system_error when no thread can be started.
    void start(natsSubscription* sub, int batch_size, int wait_ms, const std::string& stream,
               const StreamOptions& options, uint64_t options_generation, TreeSnapshot trees);

    // A fetch was handed over and not finished yet.
    bool running() const { return running_; }

    // How many entity trees the last run could map with (for the worker's debug log).
    size_t tree_count() const { return trees_.size(); }

    // Tells the thread to end the fetch and waits for it. Hands over the fetched messages (the
    // caller destroys `list`) and, in the same order, what was worked out for them; returns the
    // fetch's status. What `premapped` held (the last batch, written) is freed by the next run, its
    // trees released here first: a tree's destructor frees plans, a PostgreSQL call.
    natsStatus finish(natsMsgList* list, std::vector<PremappedMessage>& premapped);
    // Why the last fetch failed (nats.c's text, taken on the thread that fetched).
    const char* error() const { return error_; }
    // When the messages the last finish() handed over were marked in progress last, or their
    // fetch started (monotonic_ms()): the worker's InProgressKeeper marks them next a period
    // after that, not a period after it takes them (in_progress_schedule.hpp).
    int64_t marked_ms() const { return marked_ms_; }

  private:
    void run() noexcept;   // the thread: waits for a fetch, does it, waits again
    void fetch() noexcept; // one fetch, and its mapping

    std::thread thread_;
    bool running_ = false; // the backend's: between start() and finish()
    natsSubscription* sub_ = nullptr;
    int batch_size_ = 0;
    int wait_ms_ = 0;
    std::string stream_;
    StreamOptions options_;
    uint64_t options_generation_ = 0;
    TreeSnapshot trees_; // holds the trees while the thread maps with them
    std::vector<PremappedMessage> spent_; // the last batch's, to free
    natsMsgList list_{nullptr, 0};
    natsStatus status_ = NATS_OK;
    char error_[512] = "";
    std::vector<PremappedMessage> premapped_;
    int64_t delivered_after_ms_ = 0; // the thread's: its messages were delivered after this
    // Until finish() says so, the thread keeps what it fetched from being redelivered
    // (natsMsg_InProgress every third of ack_wait): the batch before may be slow to write.
    // Messages that reach the subscription after the fetch returned join list_ then.
    std::mutex mutex_;
    std::condition_variable wake_; // the thread's: a fetch to do, its end, or the thread's end
    std::condition_variable done_; // the backend's: the fetch has ended
    bool requested_ = false;       // set by start(), cleared by the thread when the fetch ends
    bool finishing_ = false;
    bool stopping_ = false;
    InProgressSchedule schedule_; // the thread's, under mutex_
    int64_t marked_ms_ = 0;       // set by the thread, under mutex_, when the fetch ends
};

// A message's entity (routed with `options`), id (derived for `stream`) and JetStream
// metadata, as the worker needs them. C++-style (std::bad_alloc); nats.c and core only.
void read_facts(natsMsg* msg, const std::string& stream, const StreamOptions& options,
                MessageFacts& facts);

// The trees a batch was written with, for the next prefetch.
TreeSnapshot written_trees(const std::vector<PremappedMessage>& batch);

} // namespace nomnom
