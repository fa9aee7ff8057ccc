// The boundary between C++ and PostgreSQL error handling (CONTRIBUTING.md, "Error handling").
//
// PostgreSQL reports errors with ereport(ERROR), a longjmp that must never cross a C++
// frame with live destructors, and a C++ exception must never reach a PostgreSQL frame.
// One guard for each direction:
// - C++-style code calls PostgreSQL through pg_call(), which turns a PostgreSQL error into
//   a PgError exception;
// - PostgreSQL-style code (and every entry point PostgreSQL calls) runs C++ through
//   run_guarded(), which turns any exception back into a PostgreSQL error once no C++
//   object is left alive, or through catch_into() where an error must not raise.
// SQL functions are defined with NOMNOM_FUNCTION, which runs their body under run_guarded.
#pragma once

#include <stdexcept>
#include <string>
#include <utility>

#include "pg/pg_prelude.hpp"

namespace nomnom {

// A PostgreSQL error caught by pg_call, carried as a C++ exception.
class PgError : public std::exception {
  public:
    explicit PgError(ErrorData* data) : data_(data) {}
    const char* what() const noexcept override { return data_->message ? data_->message : "error"; }
    ErrorData* data() const { return data_; }
    int sqlerrcode() const { return data_->sqlerrcode; }

  private:
    ErrorData* data_; // palloc'd in the context that was current at the call
};

// A data problem found by nomnom itself, with the SQLSTATE to report.
class DataError : public std::runtime_error {
  public:
    DataError(const std::string& message, int sqlerrcode, std::string detail = {})
        : std::runtime_error(message), sqlerrcode_(sqlerrcode), detail_(std::move(detail)) {}
    int sqlerrcode() const { return sqlerrcode_; }
    const std::string& detail() const { return detail_; }

  private:
    int sqlerrcode_;
    std::string detail_;
};

// Throws a DataError: the one way nomnom's own checks fail.
[[noreturn]] inline void fail(const std::string& message, int sqlerrcode) {
    throw DataError(message, sqlerrcode);
}

// "22023" -> ERRCODE value.
inline int sqlstate_code(const char* sqlstate) {
    return MAKE_SQLSTATE(sqlstate[0], sqlstate[1], sqlstate[2], sqlstate[3], sqlstate[4]);
}

// Runs `body`, a call into PostgreSQL, and rethrows its ERROR as PgError.
template <typename Body> void pg_call(Body&& body) {
    MemoryContext caller_context = CurrentMemoryContext;
    ErrorData* volatile error = nullptr;
    PG_TRY();
    {
        body();
    }
    PG_CATCH();
    {
        MemoryContextSwitchTo(caller_context);
        error = CopyErrorData();
        FlushErrorState();
    }
    PG_END_TRY();
    if (error != nullptr)
        throw PgError(error);
}

// What run_guarded found, to raise after every C++ frame is gone.
struct PendingError {
    ErrorData* pg = nullptr; // a PostgreSQL error to rethrow as it was
    int sqlerrcode = 0;      // else a nomnom error
    char* message = nullptr;
    char* detail = nullptr;
};

// Catches any exception `body` throws into `pending` (messages copied into palloc'd memory).
template <typename Body> bool catch_into(PendingError& pending, Body&& body) noexcept {
    try {
        body();
        return true;
    } catch (const PgError& error) {
        pending.pg = error.data();
    } catch (const DataError& error) {
        pending.sqlerrcode = error.sqlerrcode();
        pending.message = pstrdup(error.what());
        if (!error.detail().empty())
            pending.detail = pstrdup(error.detail().c_str());
    } catch (const std::bad_alloc&) {
        pending.sqlerrcode = ERRCODE_OUT_OF_MEMORY;
        pending.message = pstrdup("out of memory");
    } catch (const std::exception& error) {
        pending.sqlerrcode = ERRCODE_INTERNAL_ERROR;
        pending.message = pstrdup(error.what());
    } catch (...) {
        pending.sqlerrcode = ERRCODE_INTERNAL_ERROR;
        pending.message = pstrdup("unexpected C++ exception");
    }
    return false;
}

// Raises what catch_into caught. PostgreSQL-style: call it from a frame with no C++ objects.
[[noreturn]] void raise_pending(const PendingError& pending);

// The shape of every entry point PostgreSQL calls: run the C++ body, and raise its error from
// this frame, where the only C++ objects left (the lambda's references) have no destructors.
template <typename Body> void run_guarded(Body&& body) {
    PendingError pending;
    if (!catch_into(pending, body))
        raise_pending(pending);
}

} // namespace nomnom

// Defines the SQL function `name` (the C symbol of its CREATE FUNCTION ... AS
// 'MODULE_PATHNAME', 'name'), the shape of every SQL entry point (pg_duckdb's
// DECLARE_PG_FUNCTION): the body that follows the macro runs under run_guarded, so an
// exception it throws becomes a PostgreSQL ERROR. A PostgreSQL-style body may ereport where
// no C++ object is alive; a C++-style body calls PostgreSQL through pg_call.
//
//     NOMNOM_FUNCTION(nomnom_drop_entity) {
//         ...
//         PG_RETURN_VOID();
//     }
#define NOMNOM_FUNCTION(name)                                                                      \
    extern "C" {                                                                                   \
    PGDLLEXPORT Datum name(PG_FUNCTION_ARGS);                                                      \
    PG_FUNCTION_INFO_V1(name);                                                                     \
    }                                                                                              \
    static Datum name##_body(FunctionCallInfo fcinfo);                                             \
    Datum name(PG_FUNCTION_ARGS) {                                                                 \
        Datum result = (Datum)0;                                                                   \
        nomnom::run_guarded([&] { result = name##_body(fcinfo); });                                \
        return result;                                                                             \
    }                                                                                              \
    static Datum name##_body(FunctionCallInfo fcinfo)
