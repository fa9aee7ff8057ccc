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
    : blocks_(std::move(other.blocks_)), current_(std::exchange(other.current_, nullptr)),
      used_(std::exchange(other.used_, 0)) {}

Arena& Arena::operator=(Arena&& other) noexcept {
    blocks_ = std::move(other.blocks_);
    current_ = std::exchange(other.current_, nullptr);
    used_ = std::exchange(other.used_, 0);
    return *this;
}

char* Arena::new_block(size_t size) {
    std::unique_ptr<char[]> block(new char[size]); // uninitialised, unlike make_unique
    char* memory = block.get();
    blocks_.push_back(std::move(block));
    return memory;
}

void* Arena::allocate(size_t size) {
    size = (size + kAlign - 1) & ~(kAlign - 1);
    if (size > kBlockSize / 2) // a large value: a block of its own
        return new_block(size);
    if (current_ == nullptr || used_ + size > kBlockSize) {
        current_ = new_block(kBlockSize);
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

} // namespace nomnom
