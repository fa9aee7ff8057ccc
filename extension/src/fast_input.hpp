// Input functions of the most common column types in plain C++, so that the worker's
// prefetch thread can turn a batch's text into Datums while the backend writes the last
// batch (the input functions were ~12% of the backend's time). Each gives exactly the Datum
// PostgreSQL's own input function gives for the same text, or declines: then the backend
// calls the type's input function, which also reports any error. Only canonical forms are
// taken (e.g. `-12.50`, `2025-03-01`, `true`); anything else is declined.
//
// No PostgreSQL function is called: safe on any thread.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "pg_prelude.hpp"

namespace nomnom {

// Memory for pass-by-reference Datums made off the backend (text, numeric): stable
// addresses, MAXALIGN'd, freed with the arena.
class ValueArena {
  public:
    ValueArena() = default;
    ValueArena(ValueArena&& other) noexcept; // the values stay where they are
    ValueArena& operator=(ValueArena&& other) noexcept;

    void* allocate(size_t size); // std::bad_alloc

  private:
    std::vector<std::unique_ptr<char[]>> blocks_;
    char* current_ = nullptr; // the block small values are taken from
    size_t used_ = 0;
};

// The Datum of `text` for a column of type `type_oid` with `typmod`; false when declined.
bool fast_input(Oid type_oid, int32 typmod, const std::string& text, ValueArena& arena, Datum* out);

// A canonical `YYYY-MM-DD` of years 1000 to 9999 as a date Datum; false otherwise.
bool iso_date(const std::string& text, Datum* out);

} // namespace nomnom
