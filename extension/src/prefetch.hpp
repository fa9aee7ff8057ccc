// The worker's next batch, fetched and mapped on a second thread while the backend writes
// the current one. Fetching (a round trip to NATS) and JSON mapping (pure C++) then overlap
// the writing and the commit, which must stay on the backend's thread.
//
// C++-style; the thread calls nats.c and the pure C++ core only, with signals blocked.
#pragma once

#include <nats/nats.h>

#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "message_writer.hpp"
#include "nomnom/stream_options.hpp"

namespace nomnom {

// Root entity name -> the tree to map its documents with (those of the last batch).
using TreeSnapshot = std::unordered_map<std::string, std::shared_ptr<ResolvedTree>>;

class Prefetcher {
  public:
    Prefetcher() = default;
    Prefetcher(const Prefetcher&) = delete;
    Prefetcher& operator=(const Prefetcher&) = delete;
    ~Prefetcher(); // waits for the thread

    // Starts the thread: it fetches up to `batch_size` messages from `sub` (waiting at most
    // `wait_ms`), routes each with `options`, and maps those whose entity has a tree in
    // `trees` that takes no message metadata (the metadata's text needs PostgreSQL).
    // Throws std::system_error when no thread can be started.
    void start(natsSubscription* sub, int batch_size, int wait_ms, const StreamOptions& options,
               TreeSnapshot trees);

    bool running() const { return thread_.joinable(); }

    // Waits for the thread. Hands over the fetched messages (the caller destroys `list`)
    // and, in the same order, their mappings; returns the fetch's status.
    natsStatus finish(natsMsgList* list, std::vector<PremappedMessage>& premapped);

  private:
    void run() noexcept;

    std::thread thread_;
    natsSubscription* sub_ = nullptr;
    int batch_size_ = 0;
    int wait_ms_ = 0;
    StreamOptions options_;
    TreeSnapshot trees_; // holds the trees while the thread maps with them
    natsMsgList list_{nullptr, 0};
    natsStatus status_ = NATS_OK;
    std::vector<PremappedMessage> premapped_;
};

// The trees a batch was written with, for the next prefetch.
TreeSnapshot written_trees(const std::vector<PremappedMessage>& batch);

} // namespace nomnom
