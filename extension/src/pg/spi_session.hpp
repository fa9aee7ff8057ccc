// SPI from C++-style code: connect/finish as a scope, statements through pg_call.
#pragma once

#include <exception>
#include <optional>
#include <string>
#include <vector>

#include "pg/pg_guard.hpp"

namespace nomnom {

// Connects SPI for the life of the scope. When the scope is left by an exception the
// connection is left to the (sub)transaction abort that follows, which cleans it up:
// calling SPI_finish while unwinding could raise an ERROR through C++ frames.
class SpiSession {
  public:
    SpiSession() : uncaught_(std::uncaught_exceptions()) {
        pg_call([] {
            if (SPI_connect() != SPI_OK_CONNECT)
                elog(ERROR, "nomnom: SPI_connect failed");
        });
    }
    ~SpiSession() {
        if (std::uncaught_exceptions() == uncaught_)
            SPI_finish();
    }
    SpiSession(const SpiSession&) = delete;
    SpiSession& operator=(const SpiSession&) = delete;

  private:
    int uncaught_;
};

// Prepares `sql` (SPI connected) and keeps the plan for the life of the backend.
// PostgreSQL-style: raises ERROR when it cannot; from C++-style code call it through pg_call.
SPIPlanPtr prepare_kept_plan(const char* sql, int nargs, const Oid* types, int cursor_options = 0);

// Runs one statement with arguments (SPI connected) and raises ERROR "<what> failed: <SPI's
// result>" unless SPI answers `expected` (SPI_OK_SELECT, ...). PostgreSQL-style.
void spi_execute_expect(const char* sql, int nargs, Oid* types, Datum* values, const char* nulls,
                        bool read_only, long count, int expected, const char* what);

// Runs one statement with text parameters (nullopt = NULL) and returns the rows' columns as
// text (nullopt = NULL). For catalog work, not for the hot path.
using TextRow = std::vector<std::optional<std::string>>;
std::vector<TextRow> spi_query(const std::string& sql,
                               const std::vector<std::optional<std::string>>& params = {},
                               bool read_only = false);

// The rows SPI just returned, as text (copied out before another statement replaces them).
std::vector<TextRow> result_rows();

// Quotes an identifier for SQL text.
std::string quote_ident(const std::string& name);

// Quotes each name, prefixes it, and joins them with ", ": "a", "b" -> t."a", t."b".
std::string quote_ident_list(const std::vector<std::string>& names, const std::string& prefix = "");

// A table named in a spec ("orders", "shop.orders"): quoted for SQL text, and its oid
// (InvalidOid when it does not exist).
struct TableName {
    std::string sql;
    Oid relid = InvalidOid;
};
TableName resolve_table_name(const std::string& table);

} // namespace nomnom
