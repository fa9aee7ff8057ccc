#include "nomnom/nats_connect.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <unistd.h>

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
