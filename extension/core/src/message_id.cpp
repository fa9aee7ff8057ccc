#include "nomnom/message_id.hpp"

#include <pthread.h>
#include <sys/random.h>
#include <uuid/uuid.h>

// SHA1_Init and the like: deprecated in OpenSSL 3.0 for the EVP interface, whose context
// allocation and algorithm fetch cost more than the hash of a short name; still there.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <mutex>
#include <system_error>

namespace nomnom {
namespace {

// The namespace of nomnom's UUIDv5 ids: fixed and arbitrary. Changing it changes every
// derived id, so it never changes.
constexpr const char* kNomnomNamespace = "4e6f6d6e-6f6d-5a1e-9c3b-6d7e8f901a2b";

std::string unparse(const unsigned char id[16]) {
    char text[37];
    format_uuid(id, text);
    return std::string(text, 36);
}

// The namespace as bytes, parsed once.
struct Namespace {
    uuid_t bytes;
    Namespace() { parse_uuid_bytes(kNomnomNamespace, bytes); }
};

// What libuuid's uuid_generate_sha1 gives (RFC 4122 section 4.3: the SHA-1 of the
// namespace and the name, its first 16 bytes with the version and variant set), with
// OpenSSL's SHA-1 (libuuid's own was about a third of reading a message's facts on the
// worker's prefetch thread, bench/README.md, item 29). The unit tests compare the two.
void uuid_v5(std::string_view name, unsigned char out[16]) {
    static const Namespace ns;
    SHA_CTX context;
    unsigned char digest[SHA_DIGEST_LENGTH];
    SHA1_Init(&context);
    SHA1_Update(&context, ns.bytes, sizeof ns.bytes);
    SHA1_Update(&context, name.data(), name.size());
    SHA1_Final(digest, &context);
    std::memcpy(out, digest, 16);
    out[6] = static_cast<unsigned char>((out[6] & 0x0F) | 0x50); // version 5
    out[8] = static_cast<unsigned char>((out[8] & 0x3F) | 0x80); // RFC 4122 variant
}

// A hex digit's value; -1 for any other byte.
// clang-format off
constexpr signed char kHexValue[256] = {
#define NN16 -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1
    NN16, NN16, NN16,
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, -1, -1, -1, -1, -1, -1,           // 0x30
    -1, 10, 11, 12, 13, 14, 15, -1, -1, -1, -1, -1, -1, -1, -1, -1, // 0x40
    NN16,
    -1, 10, 11, 12, 13, 14, 15, -1, -1, -1, -1, -1, -1, -1, -1, -1, // 0x60
    NN16, NN16, NN16, NN16, NN16, NN16, NN16, NN16, NN16}; // 0x70-0xFF
#undef NN16
// clang-format on

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

bool parse_uuid_bytes(std::string_view text, unsigned char out[16]) {
    if (text.size() != 36 || text[8] != '-' || text[13] != '-' || text[18] != '-' ||
        text[23] != '-')
        return false;
    // The 32 hex digits' offsets in the 8-4-4-4-12 form.
    static constexpr unsigned char kDigitAt[16] = {0,  2,  4,  6,  9,  11, 14, 16,
                                                   19, 21, 24, 26, 28, 30, 32, 34};
    unsigned bad = 0;
    for (size_t i = 0; i < 16; ++i) {
        int high = kHexValue[static_cast<unsigned char>(text[kDigitAt[i]])];
        int low = kHexValue[static_cast<unsigned char>(text[kDigitAt[i] + 1])];
        bad |= static_cast<unsigned>(high | low) & 0x80u; // -1: not a hex digit
        out[i] = static_cast<unsigned char>(((high & 0xF) << 4) | (low & 0xF));
    }
    return bad == 0;
}

void format_uuid(const unsigned char id[16], char out[37]) {
    static const char kHex[] = "0123456789abcdef";
    char* p = out;
    for (size_t i = 0; i < 16; ++i) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *p++ = '-';
        *p++ = kHex[id[i] >> 4];
        *p++ = kHex[id[i] & 0xF];
    }
    *p = '\0';
}

std::optional<std::string> parse_uuid(std::string_view text) {
    unsigned char id[16];
    if (!parse_uuid_bytes(text, id))
        return std::nullopt;
    return unparse(id);
}

std::string message_uuid_from_id(std::string_view id) {
    unsigned char bytes[16];
    if (!parse_uuid_bytes(id, bytes))
        uuid_v5(id, bytes);
    return unparse(bytes);
}

namespace {

void uuid_from_sequence(std::string_view stream, uint64_t sequence, unsigned char out[16]) {
    // "<stream>:<sequence>", in a buffer on the stack when the stream name fits (most do).
    char digits[24];
    char* end = std::to_chars(digits, digits + sizeof digits, sequence).ptr;
    size_t length = stream.size() + 1 + static_cast<size_t>(end - digits);
    char small[256];
    std::string large;
    char* name = small;
    if (length > sizeof small) {
        large.resize(length);
        name = large.data();
    }
    std::memcpy(name, stream.data(), stream.size());
    name[stream.size()] = ':';
    std::memcpy(name + stream.size() + 1, digits, static_cast<size_t>(end - digits));
    uuid_v5(std::string_view(name, length), out);
}

} // namespace

std::string message_uuid_from_sequence(std::string_view stream, uint64_t sequence) {
    unsigned char bytes[16];
    uuid_from_sequence(stream, sequence, bytes);
    return unparse(bytes);
}

void message_uuid_bytes(std::string_view stream, uint64_t sequence, const char* nomnom_id,
                        const char* nats_msg_id, unsigned char out[16]) {
    if (nomnom_id != nullptr && parse_uuid_bytes(nomnom_id, out))
        return;
    if (nats_msg_id != nullptr && nats_msg_id[0] != '\0') {
        std::string_view id(nats_msg_id);
        if (!parse_uuid_bytes(id, out))
            uuid_v5(id, out);
        return;
    }
    uuid_from_sequence(stream, sequence, out);
}

std::string message_uuid(std::string_view stream, uint64_t sequence, const char* nomnom_id,
                         const char* nats_msg_id) {
    unsigned char bytes[16];
    message_uuid_bytes(stream, sequence, nomnom_id, nats_msg_id, bytes);
    return unparse(bytes);
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
