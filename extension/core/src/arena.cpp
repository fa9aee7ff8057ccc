#include "nomnom/arena.hpp"

#include <cstring>
#include <utility>

namespace nomnom {
namespace {

// Below glibc's 1 KiB threshold for large requests, each of which first consolidates the
// free lists (bench/README.md, "Why the code is so").
constexpr size_t kBlockSize = 960;

// Blocks reset() gave back on this thread, for the next arena that needs one. One pool a
// thread, so no lock: the prefetch thread recycles its batch's documents just before it maps
// into them, and the backend its own.
std::vector<std::unique_ptr<char[]>>& spare_blocks() {
    thread_local std::vector<std::unique_ptr<char[]>> blocks;
    return blocks;
}

} // namespace

Arena::Arena(Arena&& other) noexcept
    : blocks_(std::move(other.blocks_)), large_(std::move(other.large_)),
      current_(std::exchange(other.current_, nullptr)), used_(std::exchange(other.used_, 0)) {}

Arena& Arena::operator=(Arena&& other) noexcept {
    blocks_ = std::move(other.blocks_);
    large_ = std::move(other.large_);
    other.blocks_.clear();
    other.large_.clear();
    current_ = std::exchange(other.current_, nullptr);
    used_ = std::exchange(other.used_, 0);
    return *this;
}

char* Arena::new_block(std::vector<std::unique_ptr<char[]>>& into, size_t size) {
    std::unique_ptr<char[]> block(new char[size]); // uninitialised, unlike make_unique
    char* memory = block.get();
    into.push_back(std::move(block));
    return memory;
}

void* Arena::allocate(size_t size) {
    size = (size + kAlign - 1) & ~(kAlign - 1);
    if (size > kBlockSize / 2) // a large value: a block of its own
        return new_block(large_, size);
    if (current_ == nullptr || used_ + size > kBlockSize) {
        std::vector<std::unique_ptr<char[]>>& spare = spare_blocks();
        if (!spare.empty()) {
            blocks_.emplace_back(); // may throw: the block stays in the pool
            blocks_.back() = std::move(spare.back());
            spare.pop_back();
            current_ = blocks_.back().get();
        } else {
            if (spare.capacity() < kPooledBlocks)
                spare.reserve(kPooledBlocks); // once a thread, so reset() never allocates
            current_ = new_block(blocks_, kBlockSize);
        }
        used_ = 0;
    }
    void* value = current_ + used_;
    used_ += size;
    return value;
}

std::string_view Arena::copy(std::string_view text) {
    char* out = static_cast<char*>(allocate(text.size() + 1));
    std::memcpy(out, text.data(), text.size());
    out[text.size()] = '\0';
    return {out, text.size()};
}

void Arena::reset() {
    large_.clear();
    std::vector<std::unique_ptr<char[]>>& spare = spare_blocks();
    // Last first, so that the next arena takes them in this one's order. Only into room the
    // pool has (a thread that never made a block has none): reset() does not allocate.
    while (!blocks_.empty() && spare.size() < spare.capacity()) {
        spare.push_back(std::move(blocks_.back()));
        blocks_.pop_back();
    }
    blocks_.clear();                        // what the pool has no room for is freed
    if (blocks_.capacity() > kPooledBlocks) // a huge document's block list, not kept either
        std::vector<std::unique_ptr<char[]>>().swap(blocks_);
    current_ = nullptr;
    used_ = 0;
}

size_t Arena::pooled_blocks() {
    return spare_blocks().size();
}

} // namespace nomnom
