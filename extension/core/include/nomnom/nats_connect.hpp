// How nomnom connects to NATS: one natsOptions set-up shared by the extension (workers,
// create_stream, replay) and nomnom-bridge. Pure C++ (nats.c and OpenSSL, no PostgreSQL).
//
// Secrets live only in files. Every error here names the file and what it was for, never
// its content; every URL that is shown goes through redact_urls() first, so user info in a
// URL (nats://user:password@host) never reaches a log line, a view or an HTTP answer.
#pragma once

#include <nats/nats.h>

#include <string>
#include <string_view>
#include <vector>

namespace nomnom {

struct NatsConnectConfig {
    std::string url = "nats://127.0.0.1:4222"; // one URL or a comma-separated server list
    std::string user;                          // with password_file
    std::string password_file;
    std::string token_file;
    std::string nkey_seed_file; // the server holds the public key
    std::string creds_file;     // decentralised JWT auth: user JWT + NKey seed
    std::string tls_ca_file;    // the CA that signs the servers' certificates
    std::string tls_cert_file;  // client certificate (mutual TLS), with tls_key_file
    std::string tls_key_file;
};

// "nats://a:4222, nats://b:4222" -> each URL, trimmed. An empty list or an empty item is an
// error (which shows the list redacted).
bool split_server_list(std::string_view list, std::vector<std::string>& out, std::string& error);

// The URL, or every URL of a comma-separated list, with its user info replaced by "***":
// nats://u:p@h:4222 -> nats://***@h:4222. Text without user info is returned as it is.
std::string redact_urls(std::string_view list);

// Any "scheme://userinfo@" inside a free text (a library's error message) redacted the same way.
std::string redact_text(std::string_view text);

// Reads a small secret file (password, token): its content without the trailing newline.
// Errors name `what` and the path, and why (missing, unreadable, empty, too large).
bool read_secret_file(const std::string& path, const char* what, std::string& out,
                      std::string& error);

// The public key ("U...") of an NKey seed ("SU..."): base32, CRC16 checked, Ed25519.
bool nkey_public_key(std::string_view seed, std::string& public_key, std::string& error);

// A configuration that cannot work (a key without a certificate, two kinds of credentials,
// a password file without a user, ...): false and the reason.
bool check_connect_config(const NatsConnectConfig& config, std::string& error);

struct NatsConnectBehaviour {
    const char* name = "nomnom"; // the connection's name, shown by the server
    int timeout_ms = 2000;       // per connection attempt
    // Reconnect forever to any server of the list (250 ms apart, with jitter), or never.
    bool reconnect = true;
};

// Creates `*opts` for `config`: servers, credentials, TLS, timeout and reconnects. Callbacks
// are the caller's to add. On failure `*opts` is NULL and `error` says what, naming the file
// or the option. Call with nats_Open done.
natsStatus build_nats_options(const NatsConnectConfig& config, const NatsConnectBehaviour& how,
                              natsOptions** opts, std::string& error);

// How many times connect_nats() tries a connection that signs the server's nonce.
constexpr int kSignedConnectTries = 4;

// natsConnection_Connect(nc, opts), for `config`'s options. A connection that signs the
// server's nonce (an NKey seed or a .creds file) and is refused ("Authorization Violation")
// is tried again, up to kSignedConnectTries in all, each time with a new nonce: nats.c
// before 3.8.0 (Debian 12 ships 3.4.1) leaves the signature out of CONNECT when its first
// byte is 0, once in 256 connections (nats.c #705, its base64 encoder stops at a zero
// byte), and the server answers "Authorization Violation" ("Signature missing" in its log).
// A refused password or token is not tried again; a wrong seed is refused every time.
natsStatus connect_nats(natsConnection** nc, natsOptions* opts, const NatsConnectConfig& config);

// Why a connection could not be made, for people: "authorization failed (...)" when the
// server refused the credentials, else nats.c's text with its last error. Redacted.
// With `config`: a TLS connection the server dropped during the handshake also says that the
// server may want a client certificate it did not get or did not trust.
std::string describe_connect_failure(natsStatus s);
std::string describe_connect_failure(natsStatus s, const NatsConnectConfig& config);

// nats.c's text for a status, with this thread's last error when it is about `s`. Redacted.
std::string nats_status_text(natsStatus s);

} // namespace nomnom
