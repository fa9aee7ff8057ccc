#include "nomnom/nats_connect.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace nomnom;

namespace {

// A temporary directory with files, removed at the end of the test.
class Files {
  public:
    Files() {
        char tmpl[] = "/tmp/nomnom-nats-connect-XXXXXX";
        dir_ = mkdtemp(tmpl);
    }
    ~Files() {
        for (const std::string& f : made_)
            unlink(f.c_str());
        rmdir(dir_.c_str());
    }
    std::string write(const std::string& name, const std::string& content) {
        std::string path = dir_ + "/" + name;
        std::ofstream(path) << content;
        made_.push_back(path);
        return path;
    }
    std::string path(const std::string& name) const { return dir_ + "/" + name; }

  private:
    std::string dir_;
    std::vector<std::string> made_;
};

// Made by nkeys.js createUser(): a user seed and its public key.
const char kSeed[] = "SUAIR4CZK4XIZW57KZBQAMSVDIPHQTRKXVPPONIEHDW46AQHPQAXRZMENI";
const char kPublic[] = "UALDXQNC23L44JL6AT7WCT7BCNX4FJZZBDRACQI2ZWMPQPHHXL54XDUE";

struct NatsConnectLib : ::testing::Test {
    static void SetUpTestSuite() { ASSERT_EQ(nats_Open(-1), NATS_OK); }
};

// A NATS server that is only its handshake, as nats-server does it for NKey users: the Nth
// connection gets an INFO that asks for credentials with the Nth nonce; a CONNECT with a
// "sig" gets PONG (and the connection stays until the client closes it), one without gets
// "-ERR 'Authorization Violation'" and is closed. Every CONNECT line is kept.
class HandshakeServer {
  public:
    explicit HandshakeServer(std::vector<std::string> nonces) : nonces_(std::move(nonces)) {
        fd_ = socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof a;
        if (bind(fd_, reinterpret_cast<sockaddr*>(&a), len) != 0 || listen(fd_, 8) != 0 ||
            getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
            ADD_FAILURE() << "cannot listen: " << strerror(errno);
        port_ = ntohs(a.sin_port);
        thread_ = std::thread([this] { run(); });
    }
    ~HandshakeServer() {
        shutdown(fd_, SHUT_RDWR); // ends a waiting accept()
        thread_.join();
        close(fd_);
    }
    std::string url() const { return "nats://127.0.0.1:" + std::to_string(port_); }
    std::vector<std::string> connects() {
        std::lock_guard<std::mutex> lock(mutex_);
        return connects_;
    }

  private:
    void run() {
        for (const std::string& nonce : nonces_) {
            int c = accept(fd_, nullptr, nullptr);
            if (c < 0)
                return;
            std::string info = "INFO {\"server_id\":\"handshake\",\"version\":\"2.9.10\","
                               "\"proto\":1,\"headers\":true,\"auth_required\":true,"
                               "\"max_payload\":1048576,\"nonce\":\"" +
                               nonce + "\"}\r\n";
            send(c, info.data(), info.size(), MSG_NOSIGNAL);
            std::string in;
            char buf[4096];
            ssize_t n;
            while (in.find("\r\n") == std::string::npos && (n = recv(c, buf, sizeof buf, 0)) > 0)
                in.append(buf, static_cast<size_t>(n));
            std::string line = in.substr(0, in.find("\r\n"));
            {
                std::lock_guard<std::mutex> lock(mutex_);
                connects_.push_back(line);
            }
            if (line.find("\"sig\":\"") != std::string::npos) {
                send(c, "PONG\r\n", 6, MSG_NOSIGNAL);
                while (recv(c, buf, sizeof buf, 0) > 0) {
                }
            } else {
                const char refused[] = "-ERR 'Authorization Violation'\r\n";
                send(c, refused, sizeof refused - 1, MSG_NOSIGNAL);
            }
            close(c);
        }
    }

    std::vector<std::string> nonces_;
    int fd_ = -1;
    int port_ = 0;
    std::mutex mutex_;
    std::vector<std::string> connects_;
    std::thread thread_;
};

// Nonces like nats-server's (15 characters): with kSeed, the Ed25519 signatures of these
// begin with a zero byte (about 1 nonce in 256 does; found by trying "nomnom-%08d" in turn),
// and of kOtherNonce not.
const char* const kZeroNonces[] = {"nomnom-00000714", "nomnom-00000991", "nomnom-00001324",
                                   "nomnom-00001371"};
const char kOtherNonce[] = "nomnom-00000000";

bool signature_begins_with_zero(const char* nonce) {
    unsigned char* sig = nullptr;
    int len = 0;
    bool zero = nats_Sign(kSeed, nonce, &sig, &len) == NATS_OK && len == 64 && sig[0] == 0;
    free(sig);
    return zero;
}

// nats.c before 3.8.0 (nats.c #705): a signature that begins with a zero byte is left out.
bool drops_zero_signatures() {
    return nats_GetVersionNumber() < 0x030800;
}

} // namespace

TEST(NatsConnect, SplitsServerLists) {
    std::vector<std::string> servers;
    std::string error;
    ASSERT_TRUE(split_server_list("nats://a:1", servers, error)) << error;
    EXPECT_EQ(servers, std::vector<std::string>{"nats://a:1"});
    ASSERT_TRUE(split_server_list(" nats://a:1, nats://b:2 ,tls://c:3", servers, error));
    EXPECT_EQ(servers, (std::vector<std::string>{"nats://a:1", "nats://b:2", "tls://c:3"}));
    EXPECT_FALSE(split_server_list("nats://a:1,,nats://b:2", servers, error));
    EXPECT_NE(error.find("empty entry"), std::string::npos) << error;
    EXPECT_FALSE(split_server_list("", servers, error));
    EXPECT_FALSE(split_server_list("nats://u:secret@a:1,", servers, error));
    EXPECT_EQ(error.find("secret"), std::string::npos) << error;
    EXPECT_FALSE(split_server_list("nats://u:sec ret@a:1", servers, error));
    EXPECT_EQ(error.find("sec"), std::string::npos) << error;
}

TEST(NatsConnect, RedactsUserInfo) {
    EXPECT_EQ(redact_urls("nats://127.0.0.1:4222"), "nats://127.0.0.1:4222");
    EXPECT_EQ(redact_urls("nats://user:pw@127.0.0.1:4222"), "nats://***@127.0.0.1:4222");
    EXPECT_EQ(redact_urls("tls://token@h:1,nats://h2:2,nats://a:b@h3"),
              "tls://***@h:1,nats://h2:2,nats://***@h3");
    EXPECT_EQ(redact_urls("user:p@ss@host:4222"), "***@host:4222");
    EXPECT_EQ(redact_urls("nats://h:1/path@x"), "nats://h:1/path@x");
    EXPECT_EQ(redact_text("could not connect to nats://u:p@h:1 (refused)"),
              "could not connect to nats://***@h:1 (refused)");
    EXPECT_EQ(redact_text("servers nats://a:1,tls://t@b:2 and nats://c:3."),
              "servers nats://a:1,tls://***@b:2 and nats://c:3.");
    EXPECT_EQ(redact_text("no url here"), "no url here");
}

TEST(NatsConnect, SecretFilesNameTheFileNeverTheContent) {
    Files files;
    std::string out, error;
    std::string pw = files.write("pw", "s3cret-value\n");
    ASSERT_TRUE(read_secret_file(pw, "NATS password", out, error)) << error;
    EXPECT_EQ(out, "s3cret-value");

    EXPECT_FALSE(read_secret_file(files.path("missing"), "NATS password", out, error));
    EXPECT_NE(error.find(files.path("missing")), std::string::npos) << error;
    EXPECT_NE(error.find("NATS password"), std::string::npos) << error;
    EXPECT_NE(error.find("No such file"), std::string::npos) << error;

    std::string empty = files.write("empty", "\n");
    EXPECT_FALSE(read_secret_file(empty, "NATS token", out, error));
    EXPECT_NE(error.find("is empty"), std::string::npos) << error;

    // A directory cannot be read: the error names it and holds nothing else of it.
    EXPECT_FALSE(read_secret_file("/tmp", "NATS token", out, error));
    EXPECT_NE(error.find("\"/tmp\""), std::string::npos) << error;
}

TEST(NatsConnect, NKeyPublicKeyFromSeed) {
    std::string pub, error;
    ASSERT_TRUE(nkey_public_key(kSeed, pub, error)) << error;
    EXPECT_EQ(pub, kPublic);
    std::string bad = kSeed;
    bad[10] = bad[10] == 'A' ? 'B' : 'A';
    EXPECT_FALSE(nkey_public_key(bad, pub, error));
    EXPECT_EQ(error.find(kSeed + 5), std::string::npos);
    EXPECT_FALSE(nkey_public_key("SUshort", pub, error));
    EXPECT_FALSE(nkey_public_key(kPublic, pub, error)); // a public key is no seed
}

TEST(NatsConnect, ChecksTheConfiguration) {
    std::string error;
    NatsConnectConfig c;
    EXPECT_TRUE(check_connect_config(c, error)) << error;
    c.url = "http://h:1";
    EXPECT_FALSE(check_connect_config(c, error));
    EXPECT_NE(error.find("nats:// or tls://"), std::string::npos) << error;
    c.url = "nats://h:1,tls://h:2";
    EXPECT_TRUE(check_connect_config(c, error)) << error;
    c.password_file = "/x";
    EXPECT_FALSE(check_connect_config(c, error));
    EXPECT_NE(error.find("nats_user"), std::string::npos) << error;
    c.user = "u";
    EXPECT_TRUE(check_connect_config(c, error)) << error;
    c.token_file = "/t";
    EXPECT_FALSE(check_connect_config(c, error));
    EXPECT_NE(error.find("one kind"), std::string::npos) << error;
    c = NatsConnectConfig{};
    c.tls_cert_file = "/c";
    EXPECT_FALSE(check_connect_config(c, error));
    EXPECT_NE(error.find("nats_tls_key_file"), std::string::npos) << error;
}

TEST_F(NatsConnectLib, BuildsOptions) {
    Files files;
    std::string error;
    natsOptions* opts = nullptr;
    NatsConnectConfig c;
    c.url = "nats://127.0.0.1:1,nats://127.0.0.1:2";
    c.user = "nomnom";
    c.password_file = files.write("pw", "pw\n");
    ASSERT_EQ(build_nats_options(c, {}, &opts, error), NATS_OK) << error;
    natsOptions_Destroy(opts);

    c = NatsConnectConfig{};
    c.nkey_seed_file = files.write("seed", "# comment\n" + std::string(kSeed) + "\n");
    ASSERT_EQ(build_nats_options(c, {}, &opts, error), NATS_OK) << error;
    natsOptions_Destroy(opts);

    c.nkey_seed_file = files.write("noseed", "nothing here\n");
    EXPECT_NE(build_nats_options(c, {}, &opts, error), NATS_OK);
    EXPECT_EQ(opts, nullptr);
    EXPECT_NE(error.find(c.nkey_seed_file), std::string::npos) << error;

    c = NatsConnectConfig{};
    c.token_file = files.path("no-token");
    EXPECT_NE(build_nats_options(c, {}, &opts, error), NATS_OK);
    EXPECT_NE(error.find("NATS token file \"" + c.token_file + "\""), std::string::npos) << error;

    c = NatsConnectConfig{};
    c.tls_ca_file = files.write("ca.pem", "not a certificate\n");
    EXPECT_NE(build_nats_options(c, {}, &opts, error), NATS_OK);
    EXPECT_NE(error.find(c.tls_ca_file), std::string::npos) << error;
    EXPECT_EQ(error.find("not a certificate"), std::string::npos) << error;

    c = NatsConnectConfig{};
    c.creds_file = files.path("none.creds");
    EXPECT_NE(build_nats_options(c, {}, &opts, error), NATS_OK);
    EXPECT_NE(error.find("NATS credentials file"), std::string::npos) << error;
}

TEST_F(NatsConnectLib, ConnectFailureOverAServerList) {
    // Nothing listens on these ports: each is tried once, and the error is redacted.
    std::string error;
    natsOptions* opts = nullptr;
    NatsConnectConfig c;
    c.url = "nats://u:topsecret@127.0.0.1:1,nats://127.0.0.1:2";
    NatsConnectBehaviour how;
    how.reconnect = false;
    how.timeout_ms = 500;
    ASSERT_EQ(build_nats_options(c, how, &opts, error), NATS_OK) << error;
    natsConnection* nc = nullptr;
    natsStatus s = natsConnection_Connect(&nc, opts);
    EXPECT_EQ(s, NATS_NO_SERVER);
    std::string text = describe_connect_failure(s);
    EXPECT_EQ(text.find("topsecret"), std::string::npos) << text;
    EXPECT_EQ(text.find("authorization"), std::string::npos) << text;
    natsConnection_Destroy(nc);
    natsOptions_Destroy(opts);
    EXPECT_NE(describe_connect_failure(NATS_CONNECTION_AUTH_FAILED).find("authorization failed"),
              std::string::npos);
}

TEST_F(NatsConnectLib, NKeySignatureBeginningWithZeroIsTriedAgain) {
    Files files;
    std::vector<std::string> zero(std::begin(kZeroNonces), std::end(kZeroNonces));
    ASSERT_EQ(zero.size(), static_cast<size_t>(kSignedConnectTries));
    for (const std::string& nonce : zero)
        ASSERT_TRUE(signature_begins_with_zero(nonce.c_str())) << nonce;
    ASSERT_FALSE(signature_begins_with_zero(kOtherNonce));
    std::vector<std::string> other = {kOtherNonce};
    NatsConnectConfig c;
    c.nkey_seed_file = files.write("user.seed", std::string(kSeed) + "\n");
    // Connects to `server` with `config` (by connect_nats, or by nats.c alone) and closes.
    auto connect = [](HandshakeServer& server, NatsConnectConfig config, bool retrying) {
        config.url = server.url();
        NatsConnectBehaviour how;
        how.reconnect = false;
        natsOptions* opts = nullptr;
        std::string error;
        natsStatus s = build_nats_options(config, how, &opts, error);
        EXPECT_EQ(s, NATS_OK) << error;
        natsConnection* nc = nullptr;
        if (s == NATS_OK)
            s = retrying ? connect_nats(&nc, opts, config) : natsConnection_Connect(&nc, opts);
        natsConnection_Destroy(nc);
        natsOptions_Destroy(opts);
        return s;
    };

    {
        // What the server saw in e2e 130 once: the NKey and no signature ("Signature missing").
        HandshakeServer server({zero[0]});
        natsStatus s = connect(server, c, false);
        std::vector<std::string> seen = server.connects();
        ASSERT_EQ(seen.size(), 1u);
        EXPECT_NE(seen[0].find("\"nkey\":\"" + std::string(kPublic) + "\""), std::string::npos)
            << seen[0];
        if (drops_zero_signatures()) {
            EXPECT_EQ(s, NATS_CONNECTION_AUTH_FAILED);
            EXPECT_EQ(seen[0].find("\"sig\""), std::string::npos) << seen[0];
        } else {
            EXPECT_EQ(s, NATS_OK);
        }
    }
    {
        // connect_nats: the next connection, with another nonce, is signed.
        HandshakeServer server({zero[0], other[0]});
        EXPECT_EQ(connect(server, c, true), NATS_OK);
        EXPECT_EQ(server.connects().size(), drops_zero_signatures() ? 2u : 1u);
    }
    if (drops_zero_signatures()) {
        // Refused every time: kSignedConnectTries connections, then the refusal.
        HandshakeServer server(zero);
        EXPECT_EQ(connect(server, c, true), NATS_CONNECTION_AUTH_FAILED);
        EXPECT_EQ(server.connects().size(), static_cast<size_t>(kSignedConnectTries));
    }
    {
        // A refused token signs nothing: tried once.
        NatsConnectConfig t;
        t.token_file = files.write("token", "tok\n");
        HandshakeServer server({other[0], other[0]});
        EXPECT_EQ(connect(server, t, true), NATS_CONNECTION_AUTH_FAILED);
        EXPECT_EQ(server.connects().size(), 1u);
    }
}
