// A stream's options (nomnom.create_stream / nomnom.streams) and message routing.
// Pure C++: the extension validates options with it and the worker routes messages with it.
#pragma once

#include "nomnom/nats_connect.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace nomnom {

struct StreamOptions {
    std::string nats_url = "nats://127.0.0.1:4222"; // one URL or a comma-separated list
    // Credentials and TLS (DESIGN.md, "Connecting to NATS"): file names, never secrets.
    std::string nats_user;
    std::string nats_password_file;
    std::string nats_token_file;
    std::string nats_nkey_seed_file;
    std::string nats_creds_file;
    std::string nats_tls_ca_file;
    std::string nats_tls_cert_file;
    std::string nats_tls_key_file;
    std::string consumer = "workers"; // durable pull consumer, shared by the workers
    int workers = 1;
    int batch_size = 1000; // per transaction: each commit waits for its WAL flush
    int max_wait_ms = 500; // fetch timeout: the idle wait
    int64_t batch_bytes =
        16 * 1024 * 1024; // a fetch stops before passing this (JetStream max_bytes)
    int max_deliver = 5;
    int64_t ack_wait_ms = 30000;
    // The workers' writes (0: none): a lock waited for longer fails the batch, which is
    // written again later; a write that takes longer is canceled.
    int64_t lock_timeout_ms = 10000;
    int64_t statement_timeout_ms = 300000;
    std::string dlq_stream = "MESSAGESDLQ";
    std::string storage = "file"; // file | memory
    int replicas = 1;
    int64_t max_age_ms = 0; // 0: unlimited
    int64_t max_bytes = -1; // -1: unlimited
    int64_t duplicate_window_ms = 120000;
    bool track_status = true;
    std::string entity; // a fixed entity for every message, or empty
    std::vector<std::pair<std::string, std::string>> routes; // subject pattern -> entity
    // The role the workers connect as (empty: nomnom's owner, for streams made before 0.2.0;
    // create_stream records its caller).
    std::string run_as;
    // Whether the publisher's Nomnom-Entity and Nomnom-Message-Id headers are believed.
    // Off: routing by subject and options only, ids from Nats-Msg-Id or the sequence.
    bool trust_headers = false;
    // Entity events (DESIGN.md, "Entity events"): after a batch commits, every row it wrote
    // is published as JSON to entities.<Entity> in the JetStream stream `entities_stream`.
    bool publish_entities = false;
    std::string entities_stream = "ENTITIES";
    // Not an option: the database's replay key (nomnom.replay_key), which the worker fills in
    // so that replayed dead letters keep their ids (message_id.hpp, replay_signature).
    std::string replay_key;
};

// Parses a JSON object of options (effective or partial: missing keys keep their default).
// Unknown keys, wrong types and out-of-range values are errors naming the option.
bool parse_stream_options(std::string_view json, StreamOptions& out, std::string& error);

// Validates a JSON object of options as parse_stream_options does and writes it back to
// `normalized` with every integer option as a JSON integer (2, 2.0 and "2" become 2); a
// null (alter_stream: back to the default) stays null.
bool normalize_stream_options(std::string_view json, std::string& normalized, std::string& error);

// A `nats_url` value: one URL or a comma-separated list (split_server_list), each
// [nats:// | tls://][user[:pass]@]host[:port] with a port from 1 to 65535. Errors name the
// server by its place and show it redacted (redact_urls): never its user info.
bool valid_nats_url(std::string_view url, std::string& error);

// The connection settings of a stream's options, for build_nats_options.
NatsConnectConfig nats_connect_config(const StreamOptions& options);

// A JetStream stream or consumer name: non-empty, at most 255 bytes, no whitespace, '.', '*',
// '>', '/' or '\\'.
bool valid_jetstream_name(std::string_view name);

// A subject or a pattern with '*' and a trailing '>': non-empty tokens separated by '.'.
bool valid_subject(std::string_view subject, bool allow_wildcards);

// NATS subject matching: '*' matches one token, a final '>' one or more.
bool subject_matches(std::string_view pattern, std::string_view subject);

// Where a message goes: the Nomnom-Entity header when present (pass it only when the stream
// trusts headers), else the first matching route, else the `entity` option, else the
// subject's last token.
std::string route_entity(const StreamOptions& options, std::string_view subject,
                         std::string_view entity_header);

// The DLQ subject for an entity: messages.dlq.<Entity>, with characters that cannot be in a
// subject token replaced by '_' ("unknown" when empty).
std::string dlq_subject(std::string_view entity);

// The subjects of a stream's `entities_stream`, and the subject of an entity's events:
// entities.<Entity>, with characters that cannot be in a subject token replaced by '_'.
constexpr const char kEntitiesSubjects[] = "entities.>";
std::string entity_event_subject(std::string_view entity);

} // namespace nomnom
