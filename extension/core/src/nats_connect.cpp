#include "nomnom/nats_connect.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>

namespace nomnom {
namespace {

bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_space(s.front()))
        s.remove_prefix(1);
    while (!s.empty() && is_space(s.back()))
        s.remove_suffix(1);
    return s;
}

// One URL: "scheme://userinfo@rest" -> "scheme://***@rest".
std::string redact_one(std::string_view url) {
    size_t scheme = url.find("://");
    size_t start = scheme == std::string_view::npos ? 0 : scheme + 3;
    size_t end = url.find_first_of("/?#", start);
    std::string_view authority =
        url.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    size_t at = authority.rfind('@');
    if (at == std::string_view::npos)
        return std::string(url);
    std::string out(url.substr(0, start));
    out += "***";
    out += url.substr(start + at);
    return out;
}

// Reads at most `limit` bytes of `path`; the error names `what` and the path only.
bool read_file(const std::string& path, const char* what, size_t limit, std::string& out,
               std::string& error) {
    out.clear();
    if (path.empty()) {
        error = std::string("the ") + what + " file name is empty";
        return false;
    }
    FILE* f = fopen(path.c_str(), "rb");
    if (f == nullptr) {
        error = std::string("could not open the ") + what + " file \"" + path +
                "\": " + strerror(errno);
        return false;
    }
    char buffer[4096];
    size_t n;
    bool too_large = false;
    while ((n = fread(buffer, 1, sizeof buffer, f)) > 0) {
        if (out.size() + n > limit) {
            too_large = true;
            break;
        }
        out.append(buffer, n);
    }
    bool failed = ferror(f) != 0;
    int saved = errno;
    OPENSSL_cleanse(buffer, sizeof buffer);
    fclose(f);
    if (failed) {
        OPENSSL_cleanse(out.data(), out.size());
        out.clear();
        error = std::string("could not read the ") + what + " file \"" + path +
                "\": " + strerror(saved);
        return false;
    }
    if (too_large) {
        OPENSSL_cleanse(out.data(), out.size());
        out.clear();
        error = std::string("the ") + what + " file \"" + path + "\" is larger than " +
                std::to_string(limit) + " bytes";
        return false;
    }
    return true;
}

// The file is there and readable now (nats.c reads it again when it connects).
bool check_readable(const std::string& path, const char* what, std::string& error) {
    std::string content;
    bool ok = read_file(path, what, 1 << 20, content, error);
    if (ok && trim(content).empty()) {
        error = std::string("the ") + what + " file \"" + path + "\" is empty";
        ok = false;
    }
    OPENSSL_cleanse(content.data(), content.size());
    return ok;
}

const char kBase32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

bool base32_decode(std::string_view text, std::vector<uint8_t>& out) {
    out.clear();
    uint32_t bits = 0;
    int count = 0;
    for (char c : text) {
        const char* p = c == '\0' ? nullptr : strchr(kBase32, c);
        if (p == nullptr)
            return false;
        bits = (bits << 5) | static_cast<uint32_t>(p - kBase32);
        count += 5;
        if (count >= 8) {
            count -= 8;
            out.push_back(static_cast<uint8_t>(bits >> count));
        }
    }
    return true;
}

std::string base32_encode(const uint8_t* data, size_t len) {
    std::string out;
    uint32_t bits = 0;
    int count = 0;
    for (size_t i = 0; i < len; i++) {
        bits = (bits << 8) | data[i];
        count += 8;
        while (count >= 5) {
            count -= 5;
            out.push_back(kBase32[(bits >> count) & 31]);
        }
    }
    if (count > 0)
        out.push_back(kBase32[(bits << (5 - count)) & 31]);
    return out;
}

uint16_t crc16(const uint8_t* data, size_t len) {
    uint16_t crc = 0;
    for (size_t i = 0; i < len; i++) {
        crc ^= static_cast<uint16_t>(data[i]) << 8;
        for (int b = 0; b < 8; b++)
            crc = (crc & 0x8000) ? static_cast<uint16_t>((crc << 1) ^ 0x1021)
                                 : static_cast<uint16_t>(crc << 1);
    }
    return crc;
}

// The seed's line in a seed file: the first token that starts with 'S' and is 58 long.
std::string_view find_seed(std::string_view content) {
    size_t i = 0;
    while (i < content.size()) {
        while (i < content.size() && is_space(content[i]))
            i++;
        size_t j = i;
        while (j < content.size() && !is_space(content[j]))
            j++;
        std::string_view token = content.substr(i, j - i);
        if (token.size() == 58 && token[0] == 'S')
            return token;
        i = j;
    }
    return {};
}

struct Status {
    natsStatus s = NATS_OK;
    std::string* error;
    // Runs `call` unless an earlier step failed; a failure's text names `what`.
    void step(natsStatus result, const std::string& what) {
        if (s != NATS_OK)
            return;
        s = result;
        if (s != NATS_OK)
            *error = what + ": " + nats_status_text(s);
    }
};

} // namespace

bool split_server_list(std::string_view list, std::vector<std::string>& out, std::string& error) {
    out.clear();
    size_t start = 0;
    while (true) {
        size_t comma = list.find(',', start);
        std::string_view item = trim(list.substr(
            start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
        if (item.empty()) {
            error = "the NATS server list \"" + redact_urls(list) + "\" has an empty entry";
            out.clear();
            return false;
        }
        if (item.find_first_of(" \t\r\n") != std::string_view::npos) {
            error = "the NATS server URL \"" + redact_one(item) + "\" contains whitespace";
            out.clear();
            return false;
        }
        out.emplace_back(item);
        if (comma == std::string_view::npos)
            break;
        start = comma + 1;
    }
    return true;
}

std::string redact_urls(std::string_view list) {
    std::string out;
    size_t start = 0;
    while (true) {
        size_t comma = list.find(',', start);
        std::string_view item = list.substr(
            start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
        out += redact_one(item);
        if (comma == std::string_view::npos)
            break;
        out += ',';
        start = comma + 1;
    }
    return out;
}

std::string redact_text(std::string_view text) {
    std::string out;
    size_t pos = 0;
    while (true) {
        size_t scheme = text.find("://", pos);
        if (scheme == std::string_view::npos) {
            out += text.substr(pos);
            return out;
        }
        size_t start = scheme + 3;
        size_t end = start;
        while (end < text.size() && !is_space(text[end]) && text[end] != '/' && text[end] != ',' &&
               text[end] != '"' && text[end] != '\'' && text[end] != ')')
            end++;
        std::string_view authority = text.substr(start, end - start);
        size_t at = authority.rfind('@');
        out += text.substr(pos, start - pos);
        if (at != std::string_view::npos) {
            out += "***";
            out += authority.substr(at);
        } else {
            out += authority;
        }
        pos = end;
    }
}

bool read_secret_file(const std::string& path, const char* what, std::string& out,
                      std::string& error) {
    if (!read_file(path, what, 64 * 1024, out, error))
        return false;
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r'))
        out.pop_back();
    if (out.empty()) {
        error = std::string("the ") + what + " file \"" + path + "\" is empty";
        return false;
    }
    return true;
}

bool nkey_public_key(std::string_view seed, std::string& public_key, std::string& error) {
    std::vector<uint8_t> raw;
    if (!base32_decode(seed, raw) || raw.size() != 36) {
        OPENSSL_cleanse(raw.data(), raw.size());
        error = "not an NKey seed";
        return false;
    }
    uint16_t crc = static_cast<uint16_t>(raw[34] | (raw[35] << 8));
    bool ok = crc16(raw.data(), 34) == crc && (raw[0] & 0xF8) == (18 << 3);
    uint8_t type = static_cast<uint8_t>(((raw[0] & 7) << 5) | ((raw[1] & 0xF8) >> 3));
    uint8_t pub[35];
    size_t publen = 32;
    if (ok) {
        EVP_PKEY* key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, raw.data() + 2, 32);
        ok = key != nullptr && EVP_PKEY_get_raw_public_key(key, pub + 1, &publen) == 1 &&
             publen == 32;
        EVP_PKEY_free(key);
    }
    OPENSSL_cleanse(raw.data(), raw.size());
    if (!ok) {
        error = "not an NKey seed (its checksum or key does not verify)";
        return false;
    }
    pub[0] = type;
    uint16_t pcrc = crc16(pub, 33);
    pub[33] = static_cast<uint8_t>(pcrc & 0xff);
    pub[34] = static_cast<uint8_t>(pcrc >> 8);
    public_key = base32_encode(pub, sizeof pub);
    return true;
}

bool check_connect_config(const NatsConnectConfig& c, std::string& error) {
    std::vector<std::string> servers;
    if (!split_server_list(c.url, servers, error))
        return false;
    for (const std::string& url : servers) {
        size_t scheme = url.find("://");
        if (scheme != std::string::npos) {
            std::string s = url.substr(0, scheme);
            if (s != "nats" && s != "tls") {
                error = "the NATS server URL \"" + redact_one(url) +
                        "\" must start with nats:// or tls://";
                return false;
            }
        }
    }
    if (!c.password_file.empty() && c.user.empty()) {
        error = "nats_password_file needs nats_user";
        return false;
    }
    if (!c.user.empty() && c.password_file.empty()) {
        error = "nats_user needs nats_password_file";
        return false;
    }
    int kinds = (c.user.empty() ? 0 : 1) + (c.token_file.empty() ? 0 : 1) +
                (c.nkey_seed_file.empty() ? 0 : 1) + (c.creds_file.empty() ? 0 : 1);
    if (kinds > 1) {
        error = "choose one kind of NATS credentials: nats_user + nats_password_file, "
                "nats_token_file, nats_nkey_seed_file or nats_creds_file";
        return false;
    }
    if (c.tls_cert_file.empty() != c.tls_key_file.empty()) {
        error = "nats_tls_cert_file and nats_tls_key_file go together (mutual TLS)";
        return false;
    }
    return true;
}

natsStatus build_nats_options(const NatsConnectConfig& c, const NatsConnectBehaviour& how,
                              natsOptions** opts, std::string& error) {
    *opts = nullptr;
    if (!check_connect_config(c, error))
        return NATS_INVALID_ARG;
    std::vector<std::string> servers;
    split_server_list(c.url, servers, error);
    bool tls = !c.tls_ca_file.empty() || !c.tls_cert_file.empty();
    for (const std::string& url : servers)
        if (url.compare(0, 6, "tls://") == 0)
            tls = true;

    // Every file first, so a missing one is an error naming it rather than nats.c's
    // "file not found" at connect time.
    std::string password, token, public_key;
    auto wipe = [&] {
        OPENSSL_cleanse(password.data(), password.size());
        OPENSSL_cleanse(token.data(), token.size());
    };
    bool files_ok = true;
    if (!c.password_file.empty())
        files_ok = read_secret_file(c.password_file, "NATS password", password, error);
    if (files_ok && !c.token_file.empty())
        files_ok = read_secret_file(c.token_file, "NATS token", token, error);
    if (files_ok && !c.nkey_seed_file.empty()) {
        std::string content;
        files_ok = read_file(c.nkey_seed_file, "NATS NKey seed", 64 * 1024, content, error);
        if (files_ok) {
            std::string_view seed = find_seed(content);
            std::string why;
            if (seed.empty() || !nkey_public_key(seed, public_key, why)) {
                error = "the NATS NKey seed file \"" + c.nkey_seed_file +
                        "\" holds no valid user NKey seed (a line \"SU...\")";
                files_ok = false;
            }
        }
        OPENSSL_cleanse(content.data(), content.size());
    }
    if (files_ok && !c.creds_file.empty())
        files_ok = check_readable(c.creds_file, "NATS credentials", error);
    if (files_ok && !c.tls_ca_file.empty())
        files_ok = check_readable(c.tls_ca_file, "NATS TLS CA", error);
    if (files_ok && !c.tls_cert_file.empty())
        files_ok = check_readable(c.tls_cert_file, "NATS TLS certificate", error);
    if (files_ok && !c.tls_key_file.empty())
        files_ok = check_readable(c.tls_key_file, "NATS TLS key", error);
    if (!files_ok) {
        wipe();
        return NATS_INVALID_ARG;
    }

    Status st{NATS_OK, &error};
    natsOptions* o = nullptr;
    st.step(natsOptions_Create(&o), "could not create NATS options");
    std::vector<const char*> urls;
    for (const std::string& url : servers)
        urls.push_back(url.c_str());
    st.step(natsOptions_SetServers(o, urls.data(), static_cast<int>(urls.size())),
            "the NATS server list \"" + redact_urls(c.url) + "\" is not usable");
    st.step(natsOptions_SetName(o, how.name), "could not set the NATS connection name");
    st.step(natsOptions_SetTimeout(o, how.timeout_ms), "could not set the NATS timeout");
    if (how.reconnect) {
        st.step(natsOptions_SetMaxReconnect(o, -1), "could not set NATS reconnects");
        st.step(natsOptions_SetReconnectWait(o, 250), "could not set the NATS reconnect wait");
        st.step(natsOptions_SetReconnectJitter(o, 100, 1000),
                "could not set the NATS reconnect jitter");
    } else {
        st.step(natsOptions_SetAllowReconnect(o, false), "could not set NATS reconnects");
    }
    if (!c.user.empty())
        st.step(natsOptions_SetUserInfo(o, c.user.c_str(), password.c_str()),
                "could not set the NATS user");
    if (!c.token_file.empty())
        st.step(natsOptions_SetToken(o, token.c_str()), "could not set the NATS token");
    if (!c.nkey_seed_file.empty())
        st.step(natsOptions_SetNKeyFromSeed(o, public_key.c_str(), c.nkey_seed_file.c_str()),
                "the NATS NKey seed file \"" + c.nkey_seed_file + "\" is not usable");
    if (!c.creds_file.empty())
        st.step(natsOptions_SetUserCredentialsFromFiles(o, c.creds_file.c_str(), nullptr),
                "the NATS credentials file \"" + c.creds_file + "\" is not usable");
    if (tls)
        st.step(natsOptions_SetSecure(o, true), "could not turn NATS TLS on");
    if (!c.tls_ca_file.empty())
        st.step(natsOptions_LoadCATrustedCertificates(o, c.tls_ca_file.c_str()),
                "could not load the NATS TLS CA file \"" + c.tls_ca_file + "\"");
    if (!c.tls_cert_file.empty())
        st.step(
            natsOptions_LoadCertificatesChain(o, c.tls_cert_file.c_str(), c.tls_key_file.c_str()),
            "could not load the NATS TLS certificate \"" + c.tls_cert_file + "\" and key \"" +
                c.tls_key_file + "\"");
    wipe();
    if (st.s != NATS_OK) {
        if (o != nullptr)
            natsOptions_Destroy(o);
        return st.s;
    }
    *opts = o;
    return NATS_OK;
}

natsStatus connect_nats(natsConnection** nc, natsOptions* opts, const NatsConnectConfig& config) {
    bool signs = !config.nkey_seed_file.empty() || !config.creds_file.empty();
    for (int tries = 1;; tries++) {
        *nc = nullptr;
        natsStatus s = natsConnection_Connect(nc, opts);
        if (s != NATS_CONNECTION_AUTH_FAILED || !signs || tries == kSignedConnectTries)
            return s;
    }
}

static bool uses_tls(const NatsConnectConfig& c) {
    return !c.tls_ca_file.empty() || !c.tls_cert_file.empty() ||
           c.url.find("tls://") != std::string::npos;
}

std::string nats_status_text(natsStatus s) {
    natsStatus last_status = NATS_OK;
    const char* last = nats_GetLastError(&last_status);
    std::string text = natsStatus_GetText(s);
    if (last != nullptr && last[0] != '\0' && last_status == s && text != last) {
        // nats.c starts its last error with where it was raised: "(conn.c:1905): ".
        std::string_view detail = last;
        size_t close = detail.find("): ");
        if (!detail.empty() && detail[0] == '(' && close != std::string_view::npos &&
            detail.substr(0, close).find(".c:") != std::string_view::npos)
            detail.remove_prefix(close + 3);
        if (detail != text)
            text += " (" + std::string(detail) + ")";
    }
    return redact_text(text);
}

std::string describe_connect_failure(natsStatus s) {
    std::string text = nats_status_text(s);
    std::string lower;
    for (char ch : text)
        lower.push_back(static_cast<char>(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch));
    if (s == NATS_CONNECTION_AUTH_FAILED || s == NATS_NOT_PERMITTED ||
        lower.find("authorization") != std::string::npos ||
        lower.find("authentication") != std::string::npos)
        return "authorization failed: the NATS server refused the credentials (" + text + ")";
    return text;
}

} // namespace nomnom

namespace nomnom {
std::string describe_connect_failure(natsStatus s, const NatsConnectConfig& config) {
    std::string text = describe_connect_failure(s);
    if (uses_tls(config) && (s == NATS_PROTOCOL_ERROR || s == NATS_IO_ERROR))
        text += "; the TLS connection was closed by the server: it may require a client "
                "certificate signed by a CA it trusts";
    return text;
}
} // namespace nomnom
