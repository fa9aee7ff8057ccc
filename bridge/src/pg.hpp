// libpq helpers: owning handles and a small connection pool for request-path queries.
// The bridge is a PostgreSQL *client*: libpq only, never server headers.
#pragma once

#include <libpq-fe.h>

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

// Connects with a short connect_timeout and statement_timeout (values in `conninfo` win);
// nullptr and `error` set on failure.
PgConn pg_connect(const std::string& conninfo, std::string& error);

// The first line of libpq's message for a failed connection or result.
std::string pg_error(const PGconn* conn);
std::string pg_error(const PGresult* result);

// Connections for queries made while answering a request (status lookups, ?wait=committed).
class PgPool {
  public:
    PgPool(std::string conninfo, size_t max_idle) : conninfo_(std::move(conninfo)), max_idle_(max_idle) {}
    PgConn acquire(std::string& error);
    // Keeps `conn` for reuse when it is healthy and the pool has room.
    void release(PgConn conn);

  private:
    std::string conninfo_;
    size_t max_idle_;
    std::mutex mutex_;
    std::vector<PgConn> idle_;
};

} // namespace bridge
