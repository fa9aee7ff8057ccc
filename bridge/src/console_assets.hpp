// The dashboard's files (bridge/console/), embedded in the binary at build time: CMake turns
// each into a byte array of a generated source (bridge/cmake/embed_assets.cmake), so the
// bridge serves its page with nothing to install beside it and no request leaves the host.
#pragma once

#include <cstddef>
#include <string>

namespace bridge {

struct EmbeddedAsset {
    const char* name; // file name under bridge/console/
    const char* content_type;
    const unsigned char* data;
    size_t size;
};

// nullptr when there is no such file.
const EmbeddedAsset* find_console_asset(const std::string& name);

} // namespace bridge
