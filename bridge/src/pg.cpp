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

std::string pg_error(const PGconn* conn) { return first_line(PQerrorMessage(conn)); }

std::string pg_error(const PGresult* result) { return first_line(PQresultErrorMessage(result)); }

PgConn pg_connect(const std::string& conninfo, std::string& error) {
    // Our defaults come before dbname: libpq expands the conninfo in place, so anything the
    // user wrote there overrides them.
    const char* keys[] = {"connect_timeout", "application_name", "options", "dbname", nullptr};
    const char* values[] = {"3", "nomnom-bridge", "-c statement_timeout=5000", conninfo.c_str(),
                            nullptr};
    PgConn conn(PQconnectdbParams(keys, values, 1));
    if (!conn) {
        error = "out of memory connecting to PostgreSQL";
        return nullptr;
    }
    if (PQstatus(conn.get()) != CONNECTION_OK) {
        error = pg_error(conn.get());
        return nullptr;
    }
    return conn;
}

PgConn PgPool::acquire(std::string& error) {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!idle_.empty()) {
            PgConn conn = std::move(idle_.back());
            idle_.pop_back();
            return conn;
        }
    }
    return pg_connect(conninfo_, error);
}

void PgPool::release(PgConn conn) {
    if (!conn || PQstatus(conn.get()) != CONNECTION_OK ||
        PQtransactionStatus(conn.get()) != PQTRANS_IDLE)
        return;
    std::lock_guard<std::mutex> lock(mutex_);
    if (idle_.size() < max_idle_)
        idle_.push_back(std::move(conn));
}

} // namespace bridge
