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
