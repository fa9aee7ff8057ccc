// Logging: one line per event on stderr, logfmt-style (`ts=... level=info msg="..." k=v`),
// so a line is greppable and a log shipper can parse it without a schema.
#pragma once

#include "config.hpp"

#include <initializer_list>
#include <string>
#include <utility>

namespace bridge::log {

using Field = std::pair<const char*, std::string>;

void set_level(LogLevel level);
bool enabled(LogLevel level);
void write(LogLevel level, const std::string& msg, std::initializer_list<Field> fields = {});

inline void debug(const std::string& m, std::initializer_list<Field> f = {}) {
    if (enabled(LogLevel::Debug))
        write(LogLevel::Debug, m, f);
}
inline void info(const std::string& m, std::initializer_list<Field> f = {}) {
    write(LogLevel::Info, m, f);
}
inline void warn(const std::string& m, std::initializer_list<Field> f = {}) {
    write(LogLevel::Warn, m, f);
}
inline void error(const std::string& m, std::initializer_list<Field> f = {}) {
    write(LogLevel::Error, m, f);
}

// A logfmt value: bare when it is a simple token, else quoted with escapes.
std::string quote(const std::string& value);

} // namespace bridge::log
