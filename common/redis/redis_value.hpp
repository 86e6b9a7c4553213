#pragma once
// A Redis reply copied out of hiredis (whose replies live only for the duration of a callback).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace kiwi {

struct redis_value {
  enum class kind { nil, integer, string, status, error, array };
  kind type = kind::nil;
  long long integer = 0;
  std::string str;  // string, status and error replies
  std::vector<redis_value> elements;

  bool is_error() const { return type == kind::error; }
  bool is_nil() const { return type == kind::nil; }
  // The string form of a bulk string, status or integer reply; nullopt otherwise.
  std::optional<std::string> as_string() const;
};

// Calls fn(id, event) for each entry of a build event stream as XRANGE returns it,
// [[id, [field, value, ...]], ...]; event is the entry's "event" field (Kiwi's streams store
// that one field), empty if it has none. Malformed entries are skipped.
template <class F>
void for_each_stream_entry(const redis_value& entries, F&& fn) {
  for (const auto& entry : entries.elements) {
    if (entry.elements.size() != 2) {
      continue;
    }
    const std::string* event = nullptr;
    const auto& kv = entry.elements[1].elements;
    for (std::size_t i = 0; i + 1 < kv.size() && event == nullptr; i += 2) {
      if (kv[i].str == "event") {
        event = &kv[i + 1].str;
      }
    }
    static const std::string none;
    fn(entry.elements[0].str, event != nullptr ? *event : none);
  }
}

// The same for an XREAD reply, [[key, <entries as XRANGE returns them>], ...].
template <class F>
void for_each_read_entry(const redis_value& reply, F&& fn) {
  for (const auto& stream : reply.elements) {
    if (stream.elements.size() == 2) {
      for_each_stream_entry(stream.elements[1], fn);
    }
  }
}

}  // namespace kiwi
