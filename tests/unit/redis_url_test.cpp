// The `redis` URL with a user, a password and TLS, redis_password_file and redis_tls
// (common/config/redis_url.cpp).
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "common/config/config.hpp"
#include "common/config/redis_url.hpp"

using kiwi::config_error;
using kiwi::parse_redis_url;

namespace {

std::string config_with(const std::string& redis_fields) {
  return "{" + redis_fields + R"(,"data_dir":"/tmp/kiwi","services":[]})";
}

std::string error_of(const std::string& json, const std::filesystem::path& base = "/tmp") {
  try {
    kiwi::parse_config(json, base);
  } catch (const config_error& e) {
    return e.what();
  }
  return "";
}

std::string url_error(const std::string& url) {
  try {
    parse_redis_url(url);
  } catch (const config_error& e) {
    return e.what();
  }
  return "";
}

struct temp_dir {
  temp_dir() {
    char tmpl[] = "/tmp/kiwi-redis-url-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~temp_dir() { std::filesystem::remove_all(path); }
  std::filesystem::path write(const std::string& name, const std::string& text) const {
    std::ofstream(path / name) << text;
    return path / name;
  }
  std::filesystem::path path;
};

}  // namespace

TEST_CASE("redis URL: user and password, percent-decoded, never in describe()") {
  auto ep = parse_redis_url("redis://kiwi:s3cr%40t%3Apw%25@10.0.0.5:6380/3");
  CHECK(ep.host == "10.0.0.5");
  CHECK(ep.port == 6380);
  CHECK(ep.db == 3);
  CHECK(ep.username == "kiwi");
  CHECK(ep.password == "s3cr@t:pw%");
  CHECK(ep.password_source == "redis");
  CHECK_FALSE(ep.tls);
  CHECK(ep.describe() == "redis://kiwi@10.0.0.5:6380/3");
  CHECK(ep.describe().find("s3cr") == std::string::npos);
}

TEST_CASE("redis URL: a password without a user logs in as the default user") {
  auto ep = parse_redis_url("redis://:only-password@localhost/1");
  CHECK(ep.username.empty());
  CHECK(ep.password == "only-password");
  CHECK(ep.port == 6379);
  CHECK(ep.db == 1);
  CHECK(ep.describe() == "redis://localhost:6379/1");
}

TEST_CASE("redis URL: a raw '@' in the password splits at the last '@'") {
  auto ep = parse_redis_url("redis://u:p@ss@host:1/0");
  CHECK(ep.password == "p@ss");
  CHECK(ep.host == "host");
}

TEST_CASE("redis URL: rediss:// is TLS; IPv6 hosts in brackets") {
  auto ep = parse_redis_url("rediss://kiwi:pw@redis.internal:6380/2");
  CHECK(ep.tls);
  CHECK(ep.host == "redis.internal");
  CHECK(ep.port == 6380);
  CHECK(ep.describe() == "rediss://kiwi@redis.internal:6380/2");
  auto v6 = parse_redis_url("redis://[::1]:6390/0");
  CHECK(v6.host == "::1");
  CHECK(v6.port == 6390);
  CHECK(v6.describe() == "redis://[::1]:6390/0");
  CHECK(parse_redis_url("redis://[::1]").port == 6379);
}

TEST_CASE("redis URL: a unix socket with a user and password") {
  auto ep = parse_redis_url("unix://kiwi:pw@/run/redis/redis.sock");
  CHECK(ep.unix_path == "/run/redis/redis.sock");
  CHECK(ep.username == "kiwi");
  CHECK(ep.password == "pw");
  CHECK(ep.describe() == "unix://kiwi@/run/redis/redis.sock");
  CHECK(parse_redis_url("unix:///tmp/r.sock").password.empty());
}

TEST_CASE("redis URL: errors name the key, say what to fix and never quote the password") {
  const std::string bad_escape = url_error("redis://kiwi:pa%zzword-7@host:6379/0");
  CHECK(bad_escape.find("config key \"redis\"") != std::string::npos);
  CHECK(bad_escape.find("%-escape") != std::string::npos);
  CHECK(bad_escape.find("word-7") == std::string::npos);
  CHECK(url_error("redis://kiwi:pw%4@host").find("%-escape") != std::string::npos);
  CHECK(url_error("redis://kiwi:secret-9@host:0/0").find("port") != std::string::npos);
  CHECK(url_error("redis://kiwi:secret-9@host:0/0").find("secret-9") == std::string::npos);
  CHECK(url_error("redis://kiwi:secret-9@host/x").find("database") != std::string::npos);
  CHECK(url_error("redis://kiwi:secret-9@:6379").find("host is missing") != std::string::npos);
  CHECK(url_error("redis://h:1/0?password=x").find("query") != std::string::npos);
  CHECK(url_error("http://localhost:6379").find("rediss://") != std::string::npos);
  CHECK(url_error("redis://[::1:6379").find("']'") != std::string::npos);
}

TEST_CASE("redis_password_file: the password from a file, not both, and a user needs one") {
  temp_dir d;
  d.write("redis.pass", "from-the-file\n");
  auto c = kiwi::parse_config(
      config_with(R"("redis":"redis://kiwi@127.0.0.1:6379/0","redis_password_file":"redis.pass")"),
      d.path);
  CHECK(c.redis.username == "kiwi");
  CHECK(c.redis.password == "from-the-file");
  CHECK(c.redis.password_source == "redis_password_file");

  const std::string both = error_of(
      config_with(R"("redis":"redis://kiwi:in-url-5@h:1/0","redis_password_file":"redis.pass")"),
      d.path);
  CHECK(both.find("redis_password_file") != std::string::npos);
  CHECK(both.find("in-url-5") == std::string::npos);

  const std::string missing = error_of(
      config_with(R"("redis":"redis://h:1/0","redis_password_file":"nope.pass")"), d.path);
  CHECK(missing.find("redis_password_file") != std::string::npos);
  CHECK(missing.find("cannot read") != std::string::npos);

  const std::string no_password = error_of(config_with(R"("redis":"redis://kiwi@h:1/0")"));
  CHECK(no_password.find("redis_password_file") != std::string::npos);
}

TEST_CASE("redis_tls: only with rediss://, files must exist, cert and key together") {
  temp_dir d;
  d.write("ca.pem", "x");
  d.write("client.pem", "x");
  auto c = kiwi::parse_config(
      config_with(R"("redis":"rediss://:pw@redis.internal:6380/0",)"
                  R"("redis_tls":{"ca_file":"ca.pem","server_name":"redis"})"),
      d.path);
  CHECK(c.redis.tls);
  CHECK(c.redis.tls_options.ca_file == d.path / "ca.pem");
  CHECK(c.redis.tls_options.server_name == "redis");

  CHECK(error_of(config_with(R"("redis":"redis://h:1/0","redis_tls":{"ca_file":"ca.pem"})"),
                 d.path)
            .find("rediss://") != std::string::npos);
  CHECK(error_of(config_with(R"("redis":"rediss://h:1/0","redis_tls":{"ca_file":"no.pem"})"),
                 d.path)
            .find("redis_tls.ca_file") != std::string::npos);
  CHECK(error_of(config_with(R"("redis":"rediss://h:1/0","redis_tls":{"cert_file":"client.pem"})"),
                 d.path)
            .find("key_file") != std::string::npos);
  CHECK(error_of(config_with(R"("redis":"rediss://h:1/0","redis_tls":{"verify":false})"), d.path)
            .find("redis_tls.verify") != std::string::npos);
}
