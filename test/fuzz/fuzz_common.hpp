// Shared by the libFuzzer targets (test/fuzz/README.md): a check that aborts with a message,
// so a disagreement is a crash libFuzzer keeps as an artifact.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#define FUZZ_CHECK(condition, what)                                                                \
    do {                                                                                           \
        if (!(condition)) {                                                                        \
            std::fprintf(stderr, "fuzz check failed: %s\n  %s\n  at %s:%d\n", #condition,          \
                         std::string(what).c_str(), __FILE__, __LINE__);                           \
            std::abort();                                                                          \
        }                                                                                          \
    } while (0)

inline std::string_view as_text(const uint8_t* data, size_t size) {
    return {reinterpret_cast<const char*>(data), size};
}
