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

    // Empties the arena for the next document: everything allocated is gone, as when a new
    // arena replaces it, but up to `keep_bytes` of its small-value blocks stay to be taken
    // again (a large value's own block never does), so a thread mapping one document after
    // the other into the same arena does not free and allocate them each time.
    void reset(size_t keep_bytes);

  private:
    char* new_block(std::vector<std::unique_ptr<char[]>>& into, size_t size);

    std::vector<std::unique_ptr<char[]>> blocks_; // small-value blocks, kBlockSize each
    std::vector<std::unique_ptr<char[]>> large_;  // one large value each
    size_t next_ = 0;                             // blocks_[next_...] are kept ones, not taken yet
    char* current_ = nullptr;                     // the block small values are taken from
    size_t used_ = 0;
};

} // namespace nomnom
