// libpq helpers: owning handles and a small connection pool for request-path queries.
// The bridge is a PostgreSQL *client*: libpq only, never server headers.
#pragma once

#include <libpq-fe.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace bridge {

struct PgConnClose {
    void operator()(PGconn* c) const { PQfinish(c); }
};
using PgConn = std::unique_ptr<PGconn, PgConnClose>;

struct PgResultClear {
    void operator()(PGresult* r) const { PQclear(r); }
};
using PgResult = std::unique_ptr<PGresult, PgResultClear>;

// Connects as `application_name` with a short connect_timeout and statement_timeout (values
// in `conninfo` win); nullptr and `error` set on failure.
PgConn pg_connect(const std::string& conninfo, std::string& error,
                  const char* application_name = "nomnom-bridge");

// The first line of libpq's message for a failed connection or result.
std::string pg_error(const PGconn* conn);
std::string pg_error(const PGresult* result);

// Connections for queries made while answering a request (status lookups, ?wait=committed).
// At most `max_open` exist at once, so a thousand waiting clients cannot exhaust
// PostgreSQL's max_connections: the others wait their turn (up to `wait`).
class PgPool {
  public:
    PgPool(std::string conninfo, size_t max_open, std::chrono::milliseconds wait)
        : conninfo_(std::move(conninfo)), max_open_(max_open), wait_(wait) {}
    PgConn acquire(std::string& error);
    // Gives `conn` back: kept for reuse when healthy, else closed. Call once per acquire
    // that returned a connection.
    void release(PgConn conn);

  private:
    std::string conninfo_;
    size_t max_open_;
    std::chrono::milliseconds wait_;
    std::mutex mutex_;
    std::condition_variable freed_;
    size_t open_ = 0; // connections handed out or idle
    std::vector<PgConn> idle_;
};

} // namespace bridge
