// Keeps a fresh copy of the stream's subjects (nomnom.streams) and the entities
// (nomnom.entities), so the bridge publishes where the workers consume without a restart.
#pragma once

#include "pg.hpp"
#include "routing.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace bridge {

class CatalogService {
  public:
    CatalogService(std::string conninfo, std::string stream, std::chrono::milliseconds interval);
    ~CatalogService();

    void start();
    void stop();

    std::shared_ptr<const Catalog> snapshot() const;

    // Re-reads now (concurrent callers share one read) and returns the newest snapshot:
    // an entity defined a moment ago is found before the client is told it is unknown.
    std::shared_ptr<const Catalog> refresh_now();

    bool postgres_ok() const { return pg_ok_.load(); }
    std::string last_error() const;

  private:
    void run();
    // One read, unless a read that started at or after `wanted_after` already finished;
    // false when PostgreSQL did not answer.
    bool refresh(std::chrono::steady_clock::time_point wanted_after);

    std::string conninfo_;
    std::string stream_;
    std::chrono::milliseconds interval_;

    mutable std::mutex snapshot_mutex_;
    std::shared_ptr<const Catalog> snapshot_;

    std::mutex refresh_mutex_; // one refresh at a time; guards conn_ and last_refresh_
    PgConn conn_;
    std::chrono::steady_clock::time_point last_refresh_{}; // when the latest read started

    std::atomic<bool> pg_ok_{false};
    mutable std::mutex error_mutex_;
    std::string last_error_;

    std::mutex wake_mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
    std::thread thread_;
};

} // namespace bridge
