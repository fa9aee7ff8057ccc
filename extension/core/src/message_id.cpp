#include "nomnom/message_id.hpp"

#include <pthread.h>
#include <sys/random.h>
#include <uuid/uuid.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <system_error>

namespace nomnom {
namespace {

// The namespace of nomnom's UUIDv5 ids: fixed and arbitrary. Changing it changes every
// derived id, so it never changes.
constexpr const char* kNomnomNamespace = "4e6f6d6e-6f6d-5a1e-9c3b-6d7e8f901a2b";

std::string unparse(const uuid_t id) {
    char text[37];
    uuid_unparse_lower(id, text);
    return text;
}

// The namespace as bytes, parsed once.
struct Namespace {
    uuid_t bytes;
    Namespace() { uuid_parse(kNomnomNamespace, bytes); }
};

std::string uuid_v5(std::string_view name) {
    static const Namespace ns;
    uuid_t out;
    uuid_generate_sha1(out, ns.bytes, name.data(), name.size());
    return unparse(out);
}

// Kernel randomness for version 4 ids, read 4 KiB at a time: uuid_generate_random asks
// the kernel (and reseeds libc's random()) for every id, which was an eighth of the
// bridge's batch path. One pool per thread; a forked child starts with an empty one, so
// it never repeats its parent's ids.
struct RandomPool {
    unsigned char bytes[4096];
    size_t used = sizeof bytes;
};
thread_local RandomPool random_pool;

void empty_pool_in_child() { random_pool.used = sizeof random_pool.bytes; }

void random_bytes(unsigned char* out, size_t n) {
    static std::once_flag at_fork;
    std::call_once(at_fork, [] { pthread_atfork(nullptr, nullptr, empty_pool_in_child); });
    if (random_pool.used + n > sizeof random_pool.bytes) {
        size_t filled = 0;
        while (filled < sizeof random_pool.bytes) {
            ssize_t got = getrandom(random_pool.bytes + filled, sizeof random_pool.bytes - filled, 0);
            if (got < 0 && errno != EINTR)
                throw std::system_error(errno, std::generic_category(), "getrandom");
            if (got > 0)
                filled += static_cast<size_t>(got);
        }
        random_pool.used = 0;
    }
    std::memcpy(out, random_pool.bytes + random_pool.used, n);
    random_pool.used += n;
}

} // namespace

std::optional<std::string> parse_uuid(std::string_view text) {
    if (text.size() != 36)
        return std::nullopt;
    char buffer[37];
    text.copy(buffer, 36);
    buffer[36] = '\0';
    uuid_t id;
    if (uuid_parse(buffer, id) != 0)
        return std::nullopt;
    return unparse(id);
}

std::string message_uuid_from_id(std::string_view id) {
    if (auto parsed = parse_uuid(id))
        return *parsed;
    return uuid_v5(id);
}

std::string message_uuid_from_sequence(std::string_view stream, uint64_t sequence) {
    std::string name(stream);
    name += ':';
    name += std::to_string(sequence);
    return uuid_v5(name);
}

std::string message_uuid(std::string_view stream, uint64_t sequence, const char* nomnom_id,
                         const char* nats_msg_id) {
    if (nomnom_id != nullptr) {
        if (std::optional<std::string> id = parse_uuid(nomnom_id))
            return *id;
    }
    if (nats_msg_id != nullptr && nats_msg_id[0] != '\0')
        return message_uuid_from_id(nats_msg_id);
    return message_uuid_from_sequence(stream, sequence);
}

std::string random_uuid() {
    uuid_t id;
    random_bytes(id, sizeof id);
    id[6] = (id[6] & 0x0f) | 0x40; // version 4
    id[8] = (id[8] & 0x3f) | 0x80; // RFC 4122 variant
    return unparse(id);
}

std::string replay_signature(std::string_view key, std::string_view message_id,
                             std::string_view nats_msg_id, std::string_view subject) {
    if (key.empty())
        return {};
    std::string data;
    data.reserve(message_id.size() + nats_msg_id.size() + subject.size() + 2);
    data.append(message_id).append(1, '\n').append(nats_msg_id).append(1, '\n').append(subject);
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
             reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest,
             &length) == nullptr)
        return {};
    static const char hex[] = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < length; i++) {
        out.push_back(hex[digest[i] >> 4]);
        out.push_back(hex[digest[i] & 15]);
    }
    return out;
}

bool replay_signature_valid(std::string_view key, std::string_view signature,
                            std::string_view message_id, std::string_view nats_msg_id,
                            std::string_view subject) {
    std::string expected = replay_signature(key, message_id, nats_msg_id, subject);
    if (expected.empty() || expected.size() != signature.size())
        return false;
    unsigned char differ = 0;
    for (size_t i = 0; i < expected.size(); i++)
        differ |= static_cast<unsigned char>(expected[i] ^ signature[i]);
    return differ == 0;
}

} // namespace nomnom
