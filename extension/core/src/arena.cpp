#include "nomnom/arena.hpp"

#include <cstring>
#include <utility>

namespace nomnom {
namespace {

// Below glibc's 1 KiB threshold for large requests, each of which first consolidates the
// free lists (bench/README.md, "Why the code is so").
constexpr size_t kBlockSize = 960;

} // namespace

Arena::Arena(Arena&& other) noexcept
    : blocks_(std::move(other.blocks_)), large_(std::move(other.large_)),
      next_(std::exchange(other.next_, 0)), current_(std::exchange(other.current_, nullptr)),
      used_(std::exchange(other.used_, 0)) {}

Arena& Arena::operator=(Arena&& other) noexcept {
    blocks_ = std::move(other.blocks_);
    large_ = std::move(other.large_);
    other.blocks_.clear();
    other.large_.clear();
    next_ = std::exchange(other.next_, 0);
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
        if (next_ < blocks_.size())
            current_ = blocks_[next_].get();
        else
            current_ = new_block(blocks_, kBlockSize);
        ++next_;
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

void Arena::reset(size_t keep_bytes) {
    large_.clear();
    size_t keep = keep_bytes / kBlockSize;
    if (blocks_.size() > keep)
        blocks_.resize(keep);
    if (blocks_.capacity() > 2 * keep + 8) // a huge document's block list, not kept either
        blocks_.shrink_to_fit();
    next_ = 0;
    current_ = nullptr;
    used_ = 0;
}

} // namespace nomnom
