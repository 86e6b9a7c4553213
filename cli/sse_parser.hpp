#pragma once
// Server-Sent Events (the WHATWG event-stream format) split into events, fed with the bytes as
// they arrive. No I/O: the build follower feeds it from the HTTP stream.

#include <string>
#include <string_view>
#include <vector>

namespace kiwi::cli {

struct sse_event {
  std::string id;     // the last `id:` seen (kept across events, as the spec says)
  std::string type;   // `event:`; "message" when absent
  std::string data;   // `data:` lines joined with '\n'
};

class sse_parser {
 public:
  // The events completed by `bytes` (a blank line ends one). Comment lines (':') are skipped.
  std::vector<sse_event> feed(std::string_view bytes);

  // Upper bound on a pending line or event; a stream exceeding it is broken.
  static constexpr std::size_t max_event_bytes = 8 * 1024 * 1024;
  bool overflowed() const { return overflowed_; }

 private:
  void line(std::string_view l, std::vector<sse_event>& out);

  std::string pending_;   // a line without its end yet
  bool skip_lf_ = false;  // the previous chunk ended in '\r' (CRLF split across chunks)
  std::string last_id_;
  std::string type_;
  std::string data_;
  bool has_data_ = false;
  bool overflowed_ = false;
};

}  // namespace kiwi::cli
