#include "catalog.hpp"

#include "log.hpp"

#include <cstring>

namespace bridge {

CatalogService::CatalogService(std::string conninfo, std::string stream,
                               std::chrono::milliseconds interval)
    : conninfo_(std::move(conninfo)), stream_(std::move(stream)), interval_(interval),
      snapshot_(std::make_shared<Catalog>()) {}

CatalogService::~CatalogService() {
    stop();
}

void CatalogService::start() {
    refresh(std::chrono::steady_clock::now()); // before accepting requests, when PG is there
    thread_ = std::thread([this] { run(); });
}

void CatalogService::stop() {
    {
        std::lock_guard<std::mutex> lock(wake_mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable())
        thread_.join();
}

std::shared_ptr<const Catalog> CatalogService::snapshot() const {
    std::lock_guard<std::mutex> lock(snapshot_mutex_);
    return snapshot_;
}

std::string CatalogService::last_error() const {
    std::lock_guard<std::mutex> lock(error_mutex_);
    return last_error_;
}

std::shared_ptr<const Catalog> CatalogService::refresh_now() {
    refresh(std::chrono::steady_clock::now());
    return snapshot();
}

void CatalogService::run() {
    std::unique_lock<std::mutex> lock(wake_mutex_);
    while (!stopping_) {
        wake_.wait_for(lock, interval_);
        if (stopping_)
            break;
        lock.unlock();
        refresh(std::chrono::steady_clock::now());
        lock.lock();
    }
}

namespace {
bool is_missing_relation(const PGresult* res) {
    const char* state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    // undefined_table, invalid_schema_name: the extension (or this version of it) is absent.
    return state != nullptr &&
           (std::strcmp(state, "42P01") == 0 || std::strcmp(state, "3F000") == 0);
}

std::string join(const std::vector<std::string>& items) {
    std::string out;
    for (size_t i = 0; i < items.size(); ++i)
        out += (i ? "," : "") + items[i];
    return out;
}
} // namespace

bool CatalogService::refresh(std::chrono::steady_clock::time_point wanted_after) {
    std::lock_guard<std::mutex> guard(refresh_mutex_);
    // Requests that asked while another read was running share that read's result, so a
    // burst of unknown entities costs one query, not one each.
    if (last_refresh_ >= wanted_after)
        return pg_ok_.load();
    last_refresh_ = std::chrono::steady_clock::now();

    auto fail = [&](const std::string& error) {
        if (pg_ok_.exchange(false) || last_error() != error)
            log::warn("cannot read the catalog from PostgreSQL", {{"error", error}});
        std::lock_guard<std::mutex> lock(error_mutex_);
        last_error_ = error;
        conn_.reset(); // reconnect next time
        return false;
    };

    if (!conn_ || PQstatus(conn_.get()) != CONNECTION_OK) {
        std::string error;
        conn_ = pg_connect(conninfo_, error);
        if (!conn_)
            return fail(error);
    }

    auto next = std::make_shared<Catalog>();
    next->loaded = true;

    const char* stream_param[] = {stream_.c_str()};
    PgResult subjects(
        PQexecParams(conn_.get(),
                     "SELECT s FROM nomnom.streams, unnest(subjects) WITH ORDINALITY AS u(s, n) "
                     "WHERE name = $1 ORDER BY n",
                     1, nullptr, stream_param, nullptr, nullptr, 0));
    if (PQresultStatus(subjects.get()) == PGRES_TUPLES_OK) {
        if (PQntuples(subjects.get()) > 0) {
            next->subjects.clear();
            next->default_subjects = false;
            for (int i = 0; i < PQntuples(subjects.get()); ++i)
                next->subjects.emplace_back(PQgetvalue(subjects.get(), i, 0));
        }
    } else if (!is_missing_relation(subjects.get())) {
        return fail(pg_error(subjects.get()));
    }

    PgResult entities(PQexec(conn_.get(), "SELECT name, coalesce(parent, '') FROM nomnom.entities "
                                          "ORDER BY name"));
    if (PQresultStatus(entities.get()) == PGRES_TUPLES_OK) {
        for (int i = 0; i < PQntuples(entities.get()); ++i)
            next->entities.push_back(
                {PQgetvalue(entities.get(), i, 0), PQgetvalue(entities.get(), i, 1)});
    } else if (!is_missing_relation(entities.get())) {
        return fail(pg_error(entities.get()));
    }

    if (!pg_ok_.exchange(true))
        log::info("connected to PostgreSQL");
    {
        std::lock_guard<std::mutex> lock(error_mutex_);
        last_error_.clear();
    }

    std::lock_guard<std::mutex> lock(snapshot_mutex_);
    const Catalog& old = *snapshot_;
    std::vector<std::string> old_names, new_names;
    for (const auto& e : old.entities)
        old_names.push_back(e.name + (e.parent.empty() ? "" : "<" + e.parent));
    for (const auto& e : next->entities)
        new_names.push_back(e.name + (e.parent.empty() ? "" : "<" + e.parent));
    if (!old.loaded || old.subjects != next->subjects || old_names != new_names ||
        old.default_subjects != next->default_subjects) {
        if (next->default_subjects)
            log::warn("nomnom.streams has no row for the stream; using the default subjects",
                      {{"stream", stream_}, {"subjects", join(next->subjects)}});
        log::info("catalog loaded", {{"stream", stream_},
                                     {"subjects", join(next->subjects)},
                                     {"entities", join(new_names)}});
    }
    snapshot_ = std::move(next);
    return true;
}

} // namespace bridge
