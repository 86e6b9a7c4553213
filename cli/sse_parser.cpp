#include "cli/sse_parser.hpp"

namespace kiwi::cli {

std::vector<sse_event> sse_parser::feed(std::string_view bytes) {
  std::vector<sse_event> out;
  for (char c : bytes) {
    if (skip_lf_) {
      skip_lf_ = false;
      if (c == '\n') {
        continue;
      }
    }
    if (c == '\r' || c == '\n') {
      skip_lf_ = c == '\r';
      line(pending_, out);
      pending_.clear();
      continue;
    }
    if (pending_.size() + data_.size() >= max_event_bytes) {
      overflowed_ = true;
      continue;
    }
    pending_ += c;
  }
  return out;
}

void sse_parser::line(std::string_view l, std::vector<sse_event>& out) {
  if (l.empty()) {  // dispatch
    if (has_data_) {
      out.push_back(sse_event{last_id_, type_.empty() ? "message" : type_, data_});
    }
    type_.clear();
    data_.clear();
    has_data_ = false;
    return;
  }
  if (l.front() == ':') {
    return;  // a comment: keep-alive
  }
  std::string_view field = l;
  std::string_view value;
  if (auto colon = l.find(':'); colon != std::string_view::npos) {
    field = l.substr(0, colon);
    value = l.substr(colon + 1);
    if (value.starts_with(' ')) {
      value.remove_prefix(1);
    }
  }
  if (field == "data") {
    if (has_data_) {
      data_ += '\n';
    }
    data_ += value;
    has_data_ = true;
  } else if (field == "event") {
    type_ = std::string(value);
  } else if (field == "id") {
    if (value.find('\0') == std::string_view::npos) {
      last_id_ = std::string(value);
    }
  }
  // "retry" and unknown fields are ignored.
}

}  // namespace kiwi::cli
