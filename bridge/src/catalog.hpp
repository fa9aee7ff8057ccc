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

    // Re-reads now (at most every 250 ms, so a client repeating an unknown entity cannot
    // hammer PostgreSQL) and returns the newest snapshot.
    std::shared_ptr<const Catalog> refresh_now();

    bool postgres_ok() const { return pg_ok_.load(); }
    std::string last_error() const;

  private:
    void run();
    bool refresh(); // one read; false when PostgreSQL did not answer

    std::string conninfo_;
    std::string stream_;
    std::chrono::milliseconds interval_;

    mutable std::mutex snapshot_mutex_;
    std::shared_ptr<const Catalog> snapshot_;

    std::mutex refresh_mutex_; // one refresh at a time; guards conn_ and last_refresh_
    PgConn conn_;
    std::chrono::steady_clock::time_point last_refresh_{};

    std::atomic<bool> pg_ok_{false};
    mutable std::mutex error_mutex_;
    std::string last_error_;

    std::mutex wake_mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
    std::thread thread_;
};

} // namespace bridge
