#include "common/redis/redis_login.hpp"

#include <filesystem>
#include <stdexcept>

namespace asio = boost::asio;

namespace kiwi {

std::unique_ptr<asio::ssl::context> make_tls_context(const redis_endpoint& ep) {
  if (!ep.tls) {
    return nullptr;
  }
  auto ctx = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
  ctx->set_options(asio::ssl::context::no_sslv2 | asio::ssl::context::no_sslv3 |
                   asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
  ctx->set_verify_mode(asio::ssl::verify_peer);
  const auto load = [](const char* key, const std::filesystem::path& file, auto&& fn) {
    boost::system::error_code ec;
    fn(file.string(), ec);
    if (ec) {
      throw std::runtime_error(std::string("config key \"redis_tls.") + key + "\": cannot load " +
                               file.string() + ": " + ec.message());
    }
  };
  const redis_tls_config& t = ep.tls_options;
  if (t.ca_file.empty()) {
    ctx->set_default_verify_paths();
  } else {
    load("ca_file", t.ca_file,
         [&](const std::string& f, auto& ec) { ctx->load_verify_file(f, ec); });
  }
  if (!t.cert_file.empty()) {
    load("cert_file", t.cert_file,
         [&](const std::string& f, auto& ec) { ctx->use_certificate_chain_file(f, ec); });
    load("key_file", t.key_file, [&](const std::string& f, auto& ec) {
      ctx->use_private_key_file(f, asio::ssl::context::pem, ec);
    });
  }
  return ctx;
}

std::string login_advice(const redis_endpoint& ep, std::string_view error) {
  if (error.starts_with("WRONGPASS") || error.starts_with("ERR invalid password") ||
      error.starts_with("ERR AUTH")) {
    return "Redis refused the password from config key \"" + ep.password_source + "\"" +
           (ep.username.empty() ? "" : " for user \"" + ep.username + "\"") + " (" +
           std::string(error) + "): check the password and the user in the redis URL";
  }
  if (error.starts_with("NOAUTH")) {
    return "Redis requires a password (" + std::string(error) +
           "): put it in the \"redis\" URL (redis://user:password@host:port/db) or in "
           "redis_password_file";
  }
  if (error.starts_with("NOPERM")) {
    return "Redis user \"" + (ep.username.empty() ? std::string("default") : ep.username) +
           "\" lacks a permission Kiwi needs (" + std::string(error) +
           "): grant it as docs/security.md shows";
  }
  return std::string(error);
}

}  // namespace kiwi
