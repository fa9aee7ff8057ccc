#include "pg.hpp"

namespace bridge {

namespace {
std::string first_line(const char* text) {
    std::string s = text != nullptr ? text : "";
    auto nl = s.find('\n');
    if (nl != std::string::npos)
        s.resize(nl);
    return s;
}
} // namespace

std::string pg_error(const PGconn* conn) {
    return first_line(PQerrorMessage(conn));
}

std::string pg_error(const PGresult* result) {
    return first_line(PQresultErrorMessage(result));
}

PgConn pg_connect(const std::string& conninfo, std::string& error, const char* application_name) {
    // Our defaults come before dbname: libpq expands the conninfo in place, so anything the
    // user wrote there overrides them.
    const char* keys[] = {"connect_timeout", "application_name", "options", "dbname", nullptr};
    const char* values[] = {"3", application_name, "-c statement_timeout=5000", conninfo.c_str(),
                            nullptr};
    PgConn conn(PQconnectdbParams(keys, values, 1));
    if (!conn) {
        error = "out of memory connecting to PostgreSQL";
        return nullptr;
    }
    if (PQstatus(conn.get()) != CONNECTION_OK &&
        pg_error(conn.get()).find("unsupported startup parameter") != std::string::npos) {
        // pgbouncer refuses "options" (unless told to ignore it): connect without our
        // statement_timeout rather than not at all.
        keys[2] = "dbname";
        values[2] = conninfo.c_str();
        keys[3] = nullptr;
        values[3] = nullptr;
        conn.reset(PQconnectdbParams(keys, values, 1));
        if (!conn) {
            error = "out of memory connecting to PostgreSQL";
            return nullptr;
        }
    }
    if (PQstatus(conn.get()) != CONNECTION_OK) {
        error = pg_error(conn.get());
        return nullptr;
    }
    return conn;
}

PgConn PgPool::acquire(std::string& error) {
    {
        std::unique_lock<std::mutex> lock(mutex_);
        if (!freed_.wait_for(lock, wait_, [&] { return !idle_.empty() || open_ < max_open_; })) {
            error = "all " + std::to_string(max_open_) + " PostgreSQL connections are busy";
            return nullptr;
        }
        if (!idle_.empty()) {
            PgConn conn = std::move(idle_.back());
            idle_.pop_back();
            return conn;
        }
        ++open_; // reserved before connecting, outside the lock
    }
    PgConn conn = pg_connect(conninfo_, error);
    if (!conn) {
        std::lock_guard<std::mutex> lock(mutex_);
        --open_;
        freed_.notify_one();
    }
    return conn;
}

void PgPool::release(PgConn conn) {
    bool healthy = conn && PQstatus(conn.get()) == CONNECTION_OK &&
                   PQtransactionStatus(conn.get()) == PQTRANS_IDLE;
    std::lock_guard<std::mutex> lock(mutex_);
    if (healthy)
        idle_.push_back(std::move(conn));
    else
        --open_; // closed when `conn` goes out of scope

    freed_.notify_one();
}

} // namespace bridge
