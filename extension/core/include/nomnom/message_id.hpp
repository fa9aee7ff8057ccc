// Message ids: every message has a UUID. Ids that are not UUIDs, and messages without an
// id, get a stable UUIDv5, so a redelivery or a retried request keeps its id.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace nomnom {

// The canonical lower-case form of `text` when it is a UUID; nullopt otherwise.
std::optional<std::string> parse_uuid(std::string_view text);

// The 16 bytes of `text` when it is a UUID in the 8-4-4-4-12 hex form (either case), as
// libuuid's uuid_parse takes it; false otherwise (`out` is then undefined).
bool parse_uuid_bytes(std::string_view text, unsigned char out[16]);

// The canonical lower-case text of a UUID's bytes: 36 characters and a NUL.
void format_uuid(const unsigned char id[16], char out[37]);

// A UUID for a `Nats-Msg-Id` or `Idempotency-Key`: the id itself when it is a UUID, else
// UUIDv5(nomnom namespace, id).
std::string message_uuid_from_id(std::string_view id);

// UUIDv5(nomnom namespace, "<stream>:<sequence>") for a message that carries no id.
std::string message_uuid_from_sequence(std::string_view stream, uint64_t sequence);

// A JetStream message's id, from its headers (either may be null): `Nomnom-Message-Id` when
// it is a UUID, else from `Nats-Msg-Id` when there is one, else from (stream, sequence).
std::string message_uuid(std::string_view stream, uint64_t sequence, const char* nomnom_id,
                         const char* nats_msg_id);
// The same id as its 16 bytes, with no string made (the worker's prefetch thread, a message).
void message_uuid_bytes(std::string_view stream, uint64_t sequence, const char* nomnom_id,
                        const char* nats_msg_id, unsigned char out[16]);

// What proves that a message carrying `Nomnom-Message-Id` was republished by
// nomnom.replay_dead_letters, so that a stream that does not trust publisher headers still
// lets a replayed message keep its id: hex HMAC-SHA256 under the database's replay key of the
// id, the message's Nats-Msg-Id and its subject. Empty when the key is empty.
std::string replay_signature(std::string_view key, std::string_view message_id,
                             std::string_view nats_msg_id, std::string_view subject);

// Whether `signature` is replay_signature(...) of these (in constant time; false for an
// empty key).
bool replay_signature_valid(std::string_view key, std::string_view signature,
                            std::string_view message_id, std::string_view nats_msg_id,
                            std::string_view subject);

// A random (version 4) UUID.
std::string random_uuid();

} // namespace nomnom
