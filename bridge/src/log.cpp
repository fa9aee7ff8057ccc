#include "log.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>

namespace bridge::log {

namespace {
std::atomic<int> g_level{static_cast<int>(LogLevel::Info)};

const char* level_name(LogLevel level) {
    switch (level) {
    case LogLevel::Debug:
        return "debug";
    case LogLevel::Info:
        return "info";
    case LogLevel::Warn:
        return "warn";
    case LogLevel::Error:
        return "error";
    }
    return "info";
}
} // namespace

void set_level(LogLevel level) {
    g_level.store(static_cast<int>(level));
}

bool enabled(LogLevel level) {
    return static_cast<int>(level) >= g_level.load();
}

std::string quote(const std::string& value) {
    bool bare = !value.empty();
    for (char ch : value)
        if (ch == ' ' || ch == '"' || ch == '=' || ch == '\\' ||
            static_cast<unsigned char>(ch) < 0x20)
            bare = false;
    if (bare)
        return value;
    std::string out = "\"";
    for (char ch : value) {
        if (ch == '"' || ch == '\\') {
            out += '\\';
            out += ch;
        } else if (ch == '\n') {
            out += "\\n";
        } else if (static_cast<unsigned char>(ch) < 0x20) {
            out += ' ';
        } else {
            out += ch;
        }
    }
    return out + "\"";
}

void write(LogLevel level, const std::string& msg, std::initializer_list<Field> fields) {
    if (!enabled(level))
        return;
    auto now = std::chrono::system_clock::now();
    std::time_t secs = std::chrono::system_clock::to_time_t(now);
    int millis = static_cast<int>(
        std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() %
        1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char ts[64];
    std::snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
    std::string line =
        std::string("ts=") + ts + " level=" + level_name(level) + " msg=" + quote(msg);
    for (const Field& f : fields)
        line += std::string(" ") + f.first + "=" + quote(f.second);
    line += '\n';
    // One fwrite per line: stdio locks the stream, so lines from threads never interleave.
    std::fwrite(line.data(), 1, line.size(), stderr);
}

} // namespace bridge::log
