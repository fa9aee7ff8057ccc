// Memory for many small values that all die together (one document's): taken from blocks
// in order and freed with the arena. Nothing moves: moving the arena keeps every address.
#pragma once

#include <cstddef>
#include <memory>
#include <string_view>
#include <vector>

namespace nomnom {

class Arena {
  public:
    static constexpr size_t kAlign = 8; // of every allocation: PostgreSQL's MAXALIGN on 64-bit

    Arena() = default;
    Arena(Arena&& other) noexcept;
    Arena& operator=(Arena&& other) noexcept;

    // `size` uninitialised bytes, aligned to kAlign. Throws std::bad_alloc.
    void* allocate(size_t size);

    // A copy of `text` followed by a NUL byte. Throws std::bad_alloc.
    std::string_view copy(std::string_view text);

  private:
    char* new_block(size_t size);

    std::vector<std::unique_ptr<char[]>> blocks_;
    char* current_ = nullptr; // the block small values are taken from
    size_t used_ = 0;
};

} // namespace nomnom
