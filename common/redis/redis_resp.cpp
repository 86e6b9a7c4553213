#include "common/redis/redis_resp.hpp"

#include <array>

#include <hiredis/hiredis.h>
#include <openssl/sha.h>

#include "common/redis/redis_client.hpp"

namespace kiwi {
namespace {

// RESP encoding of a command, built in one buffer (hiredis' own argv formatting goes through
// sdscatfmt, several reallocations per argument).
class resp_command {
 public:
  explicit resp_command(std::size_t argc, std::size_t payload_bytes) {
    // "*<argc>\r\n", then "$<len>\r\n<data>\r\n" per argument: at most 25 bytes besides
    // the data (a length has at most 20 digits).
    text_.reserve(25 + 25 * argc + payload_bytes);
    text_ += '*';
    text_ += std::to_string(argc);
    text_ += "\r\n";
  }
  void add(std::string_view arg) {
    text_ += '$';
    text_ += std::to_string(arg.size());
    text_ += "\r\n";
    text_ += arg;
    text_ += "\r\n";
  }
  const std::string& text() const { return text_; }

 private:
  std::string text_;
};

std::size_t total_size(const std::vector<std::string>& args) {
  std::size_t n = 0;
  for (const auto& a : args) {
    n += a.size();
  }
  return n;
}

}  // namespace

std::string format_command(const std::vector<std::string>& args) {
  resp_command cmd(args.size(), total_size(args));
  for (const auto& a : args) {
    cmd.add(a);
  }
  return cmd.text();
}

std::string format_eval(std::string_view verb, std::string_view head,
                        const std::vector<std::string>& keys,
                        const std::vector<std::string>& args) {
  std::string key_count = std::to_string(keys.size());
  resp_command cmd(3 + keys.size() + args.size(),
                   head.size() + key_count.size() + total_size(keys) + total_size(args) + 8);
  cmd.add(verb);
  cmd.add(head);
  cmd.add(key_count);
  for (const auto& k : keys) {
    cmd.add(k);
  }
  for (const auto& a : args) {
    cmd.add(a);
  }
  return cmd.text();
}

redis_value copy_reply(const redisReply* r) {
  redis_value v;
  if (r == nullptr) {
    return v;
  }
  switch (r->type) {
    case REDIS_REPLY_INTEGER:
      v.type = redis_value::kind::integer;
      v.integer = r->integer;
      break;
    case REDIS_REPLY_STRING:
      v.type = redis_value::kind::string;
      v.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      v.type = redis_value::kind::status;
      v.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      v.type = redis_value::kind::error;
      v.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ARRAY:
      v.type = redis_value::kind::array;
      v.elements.reserve(r->elements);
      for (std::size_t i = 0; i < r->elements; ++i) {
        v.elements.push_back(copy_reply(r->element[i]));
      }
      break;
    default:
      break;
  }
  return v;
}

std::optional<std::string> redis_value::as_string() const {
  switch (type) {
    case kind::string:
    case kind::status: return str;
    case kind::integer: return std::to_string(integer);
    default: return std::nullopt;
  }
}

lua_script::lua_script(std::string src) : source(std::move(src)) {
  std::array<unsigned char, SHA_DIGEST_LENGTH> digest{};
  SHA1(reinterpret_cast<const unsigned char*>(source.data()), source.size(), digest.data());
  static constexpr char hex[] = "0123456789abcdef";
  for (unsigned char b : digest) {
    sha1.push_back(hex[b >> 4]);
    sha1.push_back(hex[b & 0xf]);
  }
}

}  // namespace kiwi
