#include "common/build_event.hpp"

#include <ctime>

#include <fmt/format.h>

namespace kiwi {

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
          if (c < 0x20) {
            out += fmt::format("\\u{:04x}", c);
          } else {
            out += static_cast<char>(c);
          }
      }
      ++i;
      continue;
    }
    // Multi-byte sequence: copy it if well-formed (no overlongs, surrogates or > U+10FFFF).
    std::size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
    bool ok = len != 0 && c <= 0xF4 && i + len <= s.size();
    for (std::size_t k = 1; ok && k < len; ++k) {
      ok = (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
    }
    if (ok && len >= 3) {
      const auto c1 = static_cast<unsigned char>(s[i + 1]);
      ok = !(c == 0xE0 && c1 < 0xA0) && !(c == 0xED && c1 >= 0xA0) &&
           !(c == 0xF0 && c1 < 0x90) && !(c == 0xF4 && c1 >= 0x90);
    }
    if (ok) {
      out.append(s.data() + i, len);
      i += len;
    } else {
      out += "\xEF\xBF\xBD";  // U+FFFD
      ++i;
    }
  }
  out += '"';
}

namespace {

void append_field(std::string& out, std::string_view key, std::string_view value) {
  out += ",\"";
  out += key;
  out += "\":";
  append_json_string(out, value);
}

}  // namespace

std::string_view to_string(event_type t) {
  switch (t) {
    case event_type::build_queued: return "build.queued";
    case event_type::stage_started: return "stage.started";
    case event_type::stage_log: return "stage.log";
    case event_type::stage_succeeded: return "stage.succeeded";
    case event_type::stage_failed: return "stage.failed";
    case event_type::build_succeeded: return "build.succeeded";
    case event_type::build_failed: return "build.failed";
    case event_type::build_retrying: return "build.retrying";
    case event_type::build_requeued: return "build.requeued";
    case event_type::build_superseded: return "build.superseded";
    case event_type::build_cancelled: return "build.cancelled";
  }
  return "unknown";
}

long long unix_millis(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

std::string format_timestamp(std::chrono::system_clock::time_point t) {
  long long ms = unix_millis(t);
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms % 1000);
}

std::string_view stored_event_field(std::string_view event, std::string_view name) {
  std::string key = "\"";
  key.append(name).append("\":\"");
  auto at = event.find(key);
  if (at == std::string_view::npos) {
    return {};
  }
  at += key.size();
  auto end = event.find('"', at);
  return end == std::string_view::npos ? std::string_view() : event.substr(at, end - at);
}

std::string event_json_prefix(const build_event& e) {
  std::string out = "{\"v\":1";
  out.reserve(256 + e.message.size());
  append_field(out, "type", to_string(e.type));
  append_field(out, "build_id", e.build_id);
  append_field(out, "service", e.service);
  append_field(out, "ref", e.ref);
  append_field(out, "sha", e.sha);
  append_field(out, "stage", e.stage);
  append_field(out, "status", e.status);
  append_field(out, "ts", format_timestamp(e.ts));
  append_field(out, "message", e.message);
  return out;
}

std::string event_json(const build_event& e, long long seq) {
  return event_json_prefix(e) + ",\"seq\":" + std::to_string(seq) + "}";
}

}  // namespace kiwi
