#include "nomnom/arena.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

using namespace nomnom;

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
    std::vector<std::pair<unsigned char*, size_t>> spans;
    for (size_t i = 0; i < 500; ++i) {
        size_t size = 1 + (i * 37) % 600;
        auto* memory = static_cast<unsigned char*>(arena.allocate(size));
        std::fill(memory, memory + size, static_cast<unsigned char>(i));
        spans.emplace_back(memory, size);
    }
    for (size_t i = 0; i < spans.size(); ++i)
        for (size_t k = 0; k < spans[i].second; ++k)
            ASSERT_EQ(spans[i].first[k], static_cast<unsigned char>(i)) << i;
}

TEST(Arena, ResetKeepsAtMostItsBytesOfSmallBlocksForTheNextValues) {
    Arena arena;
    // ~20 blocks of small values, and large ones between them.
    std::vector<char*> first;
    for (int i = 0; i < 400; ++i) {
        first.push_back(static_cast<char*>(arena.allocate(48)));
        if (i % 50 == 0)
            arena.allocate(4000);
    }
    arena.reset(4096); // 4 blocks of 960 bytes kept
    // The next values are taken from the kept blocks, in their order, then from new ones;
    // they do not overlap, and what was taken before the reset is not handed out twice.
    std::vector<std::pair<unsigned char*, size_t>> spans;
    for (size_t i = 0; i < 300; ++i) {
        size_t size = 1 + (i * 37) % 400;
        auto* memory = static_cast<unsigned char*>(arena.allocate(size));
        std::fill(memory, memory + size, static_cast<unsigned char>(i));
        spans.emplace_back(memory, size);
    }
    EXPECT_EQ(reinterpret_cast<char*>(spans[0].first), first[0]); // the first kept block
    for (size_t i = 0; i < spans.size(); ++i)
        for (size_t k = 0; k < spans[i].second; ++k)
            ASSERT_EQ(spans[i].first[k], static_cast<unsigned char>(i)) << i;
    // Reset to nothing kept, and again after a move: still a working arena.
    arena.reset(0);
    Arena moved(std::move(arena));
    moved.reset(960);
    std::string_view copy = moved.copy("after");
    EXPECT_EQ(copy, "after");
    EXPECT_EQ(copy.data()[copy.size()], '\0');
    arena.reset(960); // the moved-from arena too
    EXPECT_EQ(arena.copy("x"), "x");
}
