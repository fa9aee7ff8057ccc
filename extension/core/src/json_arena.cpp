#include "nomnom/json_arena.hpp"

#include <jansson.h>

#include <cstdlib>
#include <vector>

namespace nomnom {
namespace {

constexpr size_t kBlockSize = 64 * 1024;
constexpr size_t kAlign = 16;

// One arena a thread: the worker maps documents on a second thread too.
struct Arena {
    struct Block {
        char* data;
        size_t size;
    };
    std::vector<Block> blocks; // blocks[0..current] are in use
    size_t current = 0;
    size_t offset = 0;         // next free byte in blocks[current]
    size_t live = 0;           // allocations not yet freed

    ~Arena() {
        for (Block& block : blocks)
            std::free(block.data);
    }

    void* allocate(size_t size) {
        size = (size + kAlign - 1) & ~(kAlign - 1);
        if (blocks.empty() || offset + size > blocks[current].size) {
            // Move to the next block that fits, or add one.
            size_t next = blocks.empty() ? 0 : current + 1;
            while (next < blocks.size() && blocks[next].size < size)
                ++next;
            if (next >= blocks.size()) {
                size_t block_size = size > kBlockSize ? size : kBlockSize;
                char* data = static_cast<char*>(std::malloc(block_size));
                if (data == nullptr)
                    return nullptr;
                blocks.push_back(Block{data, block_size});
                next = blocks.size() - 1;
            }
            current = next;
            offset = 0;
        }
        void* out = blocks[current].data + offset;
        offset += size;
        ++live;
        return out;
    }

    void release() {
        if (--live == 0) {
            // Nothing jansson made on this thread is alive: start over at the first block.
            current = 0;
            offset = 0;
        }
    }
};

thread_local Arena arena;

void* arena_malloc(size_t size) { return arena.allocate(size); }

void arena_free(void* pointer) {
    if (pointer != nullptr)
        arena.release();
}

} // namespace

void use_json_arena() {
    json_set_alloc_funcs(arena_malloc, arena_free);
}

size_t json_arena_capacity() {
    size_t total = 0;
    for (const Arena::Block& block : arena.blocks)
        total += block.size;
    return total;
}

} // namespace nomnom
