#include "nomnom/arena.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <thread>
#include <utility>
#include <vector>

using namespace nomnom;

namespace {

using Spans = std::vector<std::pair<unsigned char*, size_t>>;

// `count` values of 1 to `max_size` bytes from `arena`, value i filled with the byte i.
Spans fill_values(Arena& arena, size_t count, size_t max_size) {
    Spans spans;
    for (size_t i = 0; i < count; ++i) {
        size_t size = 1 + (i * 37) % max_size;
        auto* memory = static_cast<unsigned char*>(arena.allocate(size));
        std::fill(memory, memory + size, static_cast<unsigned char>(i));
        spans.emplace_back(memory, size);
    }
    return spans;
}

// Every value still holds its own byte: none overlapped another.
void expect_values_intact(const Spans& spans) {
    for (size_t i = 0; i < spans.size(); ++i)
        for (size_t k = 0; k < spans[i].second; ++k)
            ASSERT_EQ(spans[i].first[k], static_cast<unsigned char>(i)) << i;
}

} // namespace

TEST(Arena, CopiesAreNulTerminatedAlignedAndStayWhereTheyAreWhenTheArenaMoves) {
    Arena arena;
    std::vector<std::string_view> copies;
    std::vector<std::string> originals;
    // Small and large texts, enough to fill several blocks.
    for (int i = 0; i < 300; ++i)
        originals.push_back(std::string(static_cast<size_t>(i % 7 == 0 ? 700 : i % 13), 'a' + i % 26));
    for (const std::string& text : originals) {
        std::string_view copy = arena.copy(text);
        EXPECT_EQ(reinterpret_cast<uintptr_t>(copy.data()) % Arena::kAlign, 0u);
        EXPECT_EQ(copy.data()[copy.size()], '\0');
        copies.push_back(copy);
    }
    Arena moved(std::move(arena));
    Arena assigned;
    assigned = std::move(moved);
    for (size_t i = 0; i < originals.size(); ++i)
        EXPECT_EQ(copies[i], originals[i]) << i;
}

TEST(Arena, AllocationsDoNotOverlap) {
    Arena arena;
    expect_values_intact(fill_values(arena, 500, 600));
}

// The pool is the calling thread's: each test of it runs on a thread of its own, whose pool
// starts empty.
template <typename F> void on_new_thread(F body) {
    std::thread thread(body);
    thread.join();
}

TEST(Arena, ResetHandsItsBlocksToTheThreadsPoolAndTheNextArenaTakesThemInOrder) {
    on_new_thread([] {
        Arena arena;
        // ~20 blocks of small values, and large ones between them.
        std::vector<char*> first;
        for (int i = 0; i < 400; ++i) {
            first.push_back(static_cast<char*>(arena.allocate(48)));
            if (i % 50 == 0)
                arena.allocate(4000);
        }
        size_t held = arena.held_blocks();
        EXPECT_GE(held, 20u);
        arena.reset();
        EXPECT_EQ(arena.held_blocks(), 0u);
        EXPECT_EQ(Arena::pooled_blocks(), held);
        // Another arena takes them, in the first one's order, then new ones; the values do
        // not overlap, and what was taken before the reset is not handed out twice.
        Arena next;
        Spans spans = fill_values(next, 300, 400);
        EXPECT_EQ(reinterpret_cast<char*>(spans[0].first), first[0]);
        EXPECT_EQ(Arena::pooled_blocks(), 0u);
        expect_values_intact(spans);
        // Reset, and again after a move: still a working arena.
        next.reset();
        Arena moved(std::move(next));
        moved.reset();
        std::string_view copy = moved.copy("after");
        EXPECT_EQ(copy, "after");
        EXPECT_EQ(copy.data()[copy.size()], '\0');
        next.reset(); // the moved-from arena too
        EXPECT_EQ(next.copy("x"), "x");
    });
}

TEST(Arena, APoolKeepsAtMostItsBoundOfBlocks) {
    on_new_thread([] {
        Arena huge;
        for (int i = 0; i < 1000; ++i)
            huge.allocate(480); // two a block: 500 blocks
        EXPECT_EQ(huge.held_blocks(), 500u);
        huge.reset();
        EXPECT_EQ(huge.held_blocks(), 0u);
        EXPECT_EQ(Arena::pooled_blocks(), Arena::kPooledBlocks);
    });
}

// The prefetch thread's way (item 38): two batches of documents, each recycled just before
// the next one is mapped into it, of mixed sizes with a rare large one. What the arenas hold
// must be what their documents take now, plus at most the pool, not what each arena's largest
// document so far took (that ratcheted up through a drain when each arena kept its blocks).
TEST(Arena, RecycledArenasHoldWhatTheirDocumentsTakeNowNotTheirLargestSoFar) {
    on_new_thread([] {
        std::vector<Arena> slots(2000);
        uint32_t random = 12345;
        for (int round = 0; round < 30; ++round) {
            size_t taken = 0;
            for (Arena& slot : slots) {
                slot.reset();
                random = random * 1103515245u + 12345u;
                size_t blocks = (random >> 16) % 50 == 0 ? 8 : 2 + (random >> 20) % 4;
                for (size_t b = 0; b < 2 * blocks; ++b)
                    slot.allocate(480); // two fill a block of 960 bytes
                taken += blocks;
            }
            size_t held = 0;
            for (const Arena& slot : slots)
                held += slot.held_blocks();
            ASSERT_EQ(held, taken) << "round " << round;
            ASSERT_LE(Arena::pooled_blocks(), Arena::kPooledBlocks) << "round " << round;
        }
    });
}
