#include "common/base/child_output.hpp"

#include <algorithm>

namespace kiwi {

void child_output::feed(std::string_view data) {
  while (!data.empty()) {
    if (after_cr_) {
      after_cr_ = false;
      if (data.front() == '\n') {  // CRLF ends the line normally
        emit_pending();
        data.remove_prefix(1);
        continue;
      }
      overwrite_pending();
    }
    const auto stop = data.find_first_of("\r\n");
    append(data.substr(0, stop));
    if (stop == std::string_view::npos) {
      return;
    }
    if (data[stop] == '\n') {
      emit_pending();
    } else {
      after_cr_ = true;
    }
    data.remove_prefix(stop + 1);
  }
}

void child_output::finish() {
  after_cr_ = false;
  if (!pending_.empty()) {
    emit_pending();
  }
}

void child_output::append(std::string_view text) {
  const std::size_t max = std::max<std::size_t>(request_.max_line_bytes, 4);
  while (!text.empty()) {
    const std::size_t room = max - pending_.size();
    pending_.append(text.substr(0, room));
    text.remove_prefix(std::min(room, text.size()));
    if (pending_.size() >= max) {
      // Cut before the last character when it is incomplete, so characters stay whole.
      std::size_t cut = max;
      std::size_t start = cut;
      for (int i = 0; i < 4 && start > 0; ++i) {
        --start;
        if ((static_cast<unsigned char>(pending_[start]) & 0xC0) != 0x80) {
          break;
        }
      }
      const auto lead = static_cast<unsigned char>(pending_[start]);
      const std::size_t length = (lead & 0xE0) == 0xC0   ? 2
                                 : (lead & 0xF0) == 0xE0 ? 3
                                 : (lead & 0xF8) == 0xF0 ? 4
                                                         : 1;
      if (start > 0 && start + length > cut) {
        cut = start;
      }
      std::string rest = pending_.substr(cut);
      pending_.resize(cut);
      emit_pending();
      pending_ = std::move(rest);
    }
  }
}

void child_output::overwrite_pending() {
  const auto now = std::chrono::steady_clock::now();
  if (!pending_.empty() &&
      (!progress_emitted_ || now - last_progress_ >= request_.progress_interval)) {
    progress_emitted_ = true;
    last_progress_ = now;
    emit_pending();
  }
  pending_.clear();
}

void child_output::emit_pending() {
  if (request_.on_line) {
    request_.on_line(pending_);
  }
  if (request_.tail_lines > 0) {
    if (tail_.size() == request_.tail_lines) {
      tail_.pop_front();
    }
    tail_.push_back(pending_);
  }
  pending_.clear();
}

}  // namespace kiwi
