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
    // arena replaces it. Its small-value blocks go to the calling thread's pool of spare
    // blocks (up to kPooledBlocks; a large value's own block is freed), which every arena
    // on that thread takes its blocks from first. So a thread mapping one document after
    // the other does not free and allocate blocks each time, and what its arenas hold is
    // what their documents take now plus the pool, not each arena's largest document so
    // far (the prefetch thread's 2,000 recycled documents kept that: bench/README.md, item
    // 38).
    void reset();

    // Small-value blocks this arena holds (960 bytes each).
    size_t held_blocks() const { return blocks_.size(); }
    // Spare blocks in the calling thread's pool.
    static size_t pooled_blocks();
    // A thread's pool keeps at most this many blocks (60 KiB): enough for the documents
    // mapped one after the other to differ by a few blocks without a malloc or free.
    static constexpr size_t kPooledBlocks = 64;

  private:
    char* new_block(std::vector<std::unique_ptr<char[]>>& into, size_t size);

    std::vector<std::unique_ptr<char[]>> blocks_; // small-value blocks, 960 bytes each
    std::vector<std::unique_ptr<char[]>> large_;  // one large value each
    char* current_ = nullptr;                     // the last of blocks_, small values' next
    size_t used_ = 0;
};

} // namespace nomnom
