// Stream options (the core's StreamOptions) from PostgreSQL-style code.
#pragma once

#include "pg/pg_prelude.hpp"

namespace nomnom {
struct StreamOptions;

// Parses the options' JSON text into `out`. PostgreSQL-style: a problem raises ERROR
// (invalid_parameter_value) with the message "<prefix>: <what is wrong>".
void parse_options_or_raise(const char* json, StreamOptions& out, const char* prefix);

// A StreamOptions in the current memory context, destroyed when the context is reset or
// deleted, so that an ERROR never leaks it.
StreamOptions* palloc_options();

// The options' NATS URL (or server list) with any user info redacted, palloc'd: the only
// form in which a URL is shown (errors, logs, views).
char* redacted_nats_url(const StreamOptions& options);

// The SQLSTATE for a failed connection (nn_connect's `err`): refused credentials (28000),
// an unusable option such as an unreadable file (22023), else connection_failure.
int nats_connect_errcode(const char* err);

} // namespace nomnom
