// nomnom-bridge configuration: flags, environment variables, precedence, value formats.
#include "config.hpp"

#include <gtest/gtest.h>

#include <map>

using namespace bridge;

namespace {
EnvLookup env_of(const std::map<std::string, std::string>& vars) {
    return [vars](const char* name) -> std::optional<std::string> {
        auto it = vars.find(name);
        if (it == vars.end())
            return std::nullopt;
        return it->second;
    };
}
} // namespace

TEST(BridgeConfig, DefaultsMatchTheDesign) {
    ParseResult r = parse_config({}, env_of({}));
    ASSERT_FALSE(r.exit_now);
    EXPECT_EQ(r.config.listen, "127.0.0.1:8080");
    EXPECT_EQ(r.config.nats.url, "nats://127.0.0.1:4222");
    EXPECT_EQ(r.config.database_url, "postgresql:///postgres");
    EXPECT_EQ(r.config.stream, "MESSAGES");
    EXPECT_EQ(r.config.token_file, "");
}

TEST(BridgeConfig, EnvironmentThenFlagsWin) {
    ParseResult r = parse_config({"--stream", "OTHER", "--listen=127.0.0.1:9000"},
                                 env_of({{"NATS_STREAM", "FROMENV"},
                                         {"NATS_URL", "nats://h:1"},
                                         {"DATABASE_URL", "postgresql://x/y"},
                                         {"NOMNOM_LISTEN", "0.0.0.0:1"},
                                         {"NOMNOM_TOKEN_FILE", "/t"},
                                         {"NOMNOM_MAX_BODY", "1k"},
                                         {"NOMNOM_WAIT_TIMEOUT", "250ms"},
                                         {"NOMNOM_LOG_LEVEL", "debug"}}));
    ASSERT_FALSE(r.exit_now) << r.output;
    EXPECT_EQ(r.config.stream, "OTHER");
    EXPECT_EQ(r.config.listen, "127.0.0.1:9000");
    EXPECT_EQ(r.config.nats.url, "nats://h:1");
    EXPECT_EQ(r.config.database_url, "postgresql://x/y");
    EXPECT_EQ(r.config.token_file, "/t");
    EXPECT_EQ(r.config.max_body, 1024u);
    EXPECT_EQ(r.config.wait_timeout_ms, 250);
    EXPECT_EQ(r.config.log_level, LogLevel::Debug);
}

TEST(BridgeConfig, HelpDocumentsEveryFlagAndVariable) {
    ParseResult r = parse_config({"--help"}, env_of({}));
    EXPECT_TRUE(r.exit_now);
    EXPECT_EQ(r.exit_code, 0);
    for (const char* word :
         {"--listen", "NOMNOM_LISTEN", "--nats", "NATS_URL", "--database", "DATABASE_URL",
          "--stream", "NATS_STREAM", "--token-file", "NOMNOM_TOKEN_FILE", "--max-body",
          "NOMNOM_MAX_BODY", "--wait-timeout", "NOMNOM_WAIT_TIMEOUT", "--log-level",
          "NOMNOM_LOG_LEVEL", "--publish-timeout", "--status-queue"})
        EXPECT_NE(r.output.find(word), std::string::npos) << word;
}

TEST(BridgeConfig, ErrorsNameTheProblem) {
    ParseResult r = parse_config({"--bogus"}, env_of({}));
    EXPECT_TRUE(r.exit_now);
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.output.find("--bogus"), std::string::npos);

    r = parse_config({"--max-body", "lots"}, env_of({}));
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.output.find("--max-body"), std::string::npos);

    r = parse_config({"--stream"}, env_of({}));
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.output.find("needs a value"), std::string::npos);

    r = parse_config({}, env_of({{"NOMNOM_LISTEN", "nonsense"}}));
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.output.find("NOMNOM_LISTEN"), std::string::npos);
}

TEST(BridgeConfig, Sizes) {
    EXPECT_EQ(parse_size("100"), 100u);
    EXPECT_EQ(parse_size("2k"), 2048u);
    EXPECT_EQ(parse_size("16MiB"), 16u * 1024 * 1024);
    EXPECT_EQ(parse_size("1G"), 1024u * 1024 * 1024);
    EXPECT_FALSE(parse_size(""));
    EXPECT_FALSE(parse_size("k"));
    EXPECT_FALSE(parse_size("12 parsecs"));
    EXPECT_FALSE(parse_size("999999999999999g")); // overflows size_t
}

TEST(BridgeConfig, Durations) {
    EXPECT_EQ(parse_duration_ms("10s"), 10000);
    EXPECT_EQ(parse_duration_ms("10"), 10000);
    EXPECT_EQ(parse_duration_ms("1.5"), 1500);
    EXPECT_EQ(parse_duration_ms("250ms"), 250);
    EXPECT_EQ(parse_duration_ms("2m"), 120000);
    EXPECT_FALSE(parse_duration_ms("-1s"));
    EXPECT_FALSE(parse_duration_ms("soon"));
    EXPECT_FALSE(parse_duration_ms("5h"));
}

TEST(BridgeConfig, ListenAddresses) {
    auto hp = parse_listen("127.0.0.1:8080");
    ASSERT_TRUE(hp);
    EXPECT_EQ(hp->host, "127.0.0.1");
    EXPECT_EQ(hp->port, 8080);
    hp = parse_listen("[::1]:81");
    ASSERT_TRUE(hp);
    EXPECT_EQ(hp->host, "::1");
    EXPECT_EQ(hp->port, 81);
    hp = parse_listen(":9");
    ASSERT_TRUE(hp);
    EXPECT_EQ(hp->host, "0.0.0.0");
    EXPECT_FALSE(parse_listen("8080"));
    EXPECT_FALSE(parse_listen("host:"));
    EXPECT_FALSE(parse_listen("host:70000"));
    EXPECT_FALSE(parse_listen("::1:80"));
}

TEST(BridgeConfig, NatsServerListCredentialsAndTls) {
    ParseResult r = parse_config({"--nats", "tls://a:1,tls://b:2", "--nats-user", "bridge",
                                  "--nats-tls-ca-file=/ca.pem", "--nats-tls-cert-file", "/c.pem",
                                  "--nats-tls-key-file", "/k.pem"},
                                 env_of({{"NATS_PASSWORD_FILE", "/pw"}}));
    ASSERT_FALSE(r.exit_now) << r.output;
    EXPECT_EQ(r.config.nats.url, "tls://a:1,tls://b:2");
    EXPECT_EQ(r.config.nats.user, "bridge");
    EXPECT_EQ(r.config.nats.password_file, "/pw");
    EXPECT_EQ(r.config.nats.tls_ca_file, "/ca.pem");
    EXPECT_EQ(r.config.nats.tls_cert_file, "/c.pem");
    EXPECT_EQ(r.config.nats.tls_key_file, "/k.pem");

    r = parse_config({}, env_of({{"NATS_TOKEN_FILE", "/t"}, {"NATS_NKEY_SEED_FILE", "/s"}}));
    EXPECT_TRUE(r.exit_now);
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.output.find("--nats-token-file"), std::string::npos) << r.output;

    r = parse_config({"--nats-creds-file", "/u.creds"}, env_of({}));
    ASSERT_FALSE(r.exit_now) << r.output;
    EXPECT_EQ(r.config.nats.creds_file, "/u.creds");

    r = parse_config({"--nats-tls-cert-file", "/c.pem"}, env_of({}));
    EXPECT_TRUE(r.exit_now);
    EXPECT_NE(r.output.find("--nats-tls-key-file"), std::string::npos) << r.output;

    r = parse_config({"--nats-password-file", "/pw"}, env_of({}));
    EXPECT_TRUE(r.exit_now);
    EXPECT_NE(r.output.find("--nats-user"), std::string::npos) << r.output;

    // A bad list is refused, and its user info is not repeated.
    r = parse_config({"--nats", "nats://u:hunter2@a:1,,nats://b:2"}, env_of({}));
    EXPECT_TRUE(r.exit_now);
    EXPECT_EQ(r.output.find("hunter2"), std::string::npos) << r.output;

    r = parse_config({"--help"}, env_of({}));
    for (const char* word :
         {"--nats-user", "NATS_USER", "--nats-password-file", "NATS_PASSWORD_FILE",
          "--nats-token-file", "NATS_TOKEN_FILE", "--nats-nkey-seed-file", "NATS_NKEY_SEED_FILE",
          "--nats-creds-file", "NATS_CREDS_FILE", "--nats-tls-ca-file", "NATS_TLS_CA_FILE",
          "--nats-tls-cert-file", "NATS_TLS_CERT_FILE", "--nats-tls-key-file", "NATS_TLS_KEY_FILE"})
        EXPECT_NE(r.output.find(word), std::string::npos) << word;
}

TEST(BridgeConfig, HardeningDefaultsAndFlags) {
    ParseResult r = parse_config({}, env_of({}));
    EXPECT_EQ(r.config.max_connections_per_client, 64u);
    EXPECT_EQ(r.config.request_timeout_ms, 30000);
    EXPECT_EQ(r.config.max_batch_lines, 10000u);
    EXPECT_EQ(r.config.max_line_bytes, 1024u * 1024);
    EXPECT_FALSE(r.config.public_details);
    EXPECT_EQ(r.config.tls_cert_file, "");

    r = parse_config({"--max-connections-per-client", "0", "--request-timeout", "2s",
                      "--max-batch-lines", "5", "--max-line-bytes", "2k", "--public-details", "yes",
                      "--tls-cert-file", "/c.pem", "--tls-key-file", "/k.pem"},
                     env_of({}));
    ASSERT_FALSE(r.exit_now) << r.output;
    EXPECT_EQ(r.config.max_connections_per_client, 0u);
    EXPECT_EQ(r.config.request_timeout_ms, 2000);
    EXPECT_EQ(r.config.max_batch_lines, 5u);
    EXPECT_EQ(r.config.max_line_bytes, 2048u);
    EXPECT_TRUE(r.config.public_details);
    EXPECT_EQ(r.config.tls_cert_file, "/c.pem");
    EXPECT_EQ(r.config.tls_key_file, "/k.pem");

    r = parse_config({}, env_of({{"NOMNOM_TLS_CERT_FILE", "/e.pem"},
                                 {"NOMNOM_TLS_KEY_FILE", "/ek.pem"},
                                 {"NOMNOM_PUBLIC_DETAILS", "TRUE"},
                                 {"NOMNOM_MAX_CONNECTIONS_PER_CLIENT", "3"}}));
    ASSERT_FALSE(r.exit_now) << r.output;
    EXPECT_EQ(r.config.tls_cert_file, "/e.pem");
    EXPECT_EQ(r.config.tls_key_file, "/ek.pem");
    EXPECT_TRUE(r.config.public_details);
    EXPECT_EQ(r.config.max_connections_per_client, 3u);
}

TEST(BridgeConfig, HardeningErrors) {
    ParseResult r = parse_config({"--tls-cert-file", "/c.pem"}, env_of({}));
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.output.find("--tls-key-file"), std::string::npos) << r.output;
    r = parse_config({"--public-details", "maybe"}, env_of({}));
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.output.find("--public-details"), std::string::npos) << r.output;
    r = parse_config({"--request-timeout", "0"}, env_of({}));
    EXPECT_EQ(r.exit_code, 2);
    r = parse_config({"--max-batch-lines", "0"}, env_of({}));
    EXPECT_EQ(r.exit_code, 2);
    r = parse_config({"--max-connections-per-client", "70000"}, env_of({}));
    EXPECT_EQ(r.exit_code, 2);
    r = parse_config({"--help"}, env_of({}));
    for (const char* word :
         {"--max-connections-per-client", "--request-timeout", "--max-batch-lines",
          "--max-line-bytes", "--public-details", "--tls-cert-file", "--tls-key-file",
          "NOMNOM_TLS_CERT_FILE", "NOMNOM_TLS_KEY_FILE"})
        EXPECT_NE(r.output.find(word), std::string::npos) << word;
}

TEST(BridgeConfig, Booleans) {
    EXPECT_EQ(parse_bool("true"), true);
    EXPECT_EQ(parse_bool("On"), true);
    EXPECT_EQ(parse_bool("1"), true);
    EXPECT_EQ(parse_bool("no"), false);
    EXPECT_EQ(parse_bool("FALSE"), false);
    EXPECT_FALSE(parse_bool(""));
    EXPECT_FALSE(parse_bool("2"));
}
