#pragma once
// What a child program prints, turned into lines as child_request::on_line describes (lines
// cut at max_line_bytes on a UTF-8 character boundary, carriage-return progress rate-limited),
// keeping the last tail_lines of them. Used by run_child on its calling thread.

#include <chrono>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "common/base/child_process.hpp"

namespace kiwi {

class child_output {
 public:
  explicit child_output(const child_request& request) : request_(request) {}

  // The next bytes from the pipe.
  void feed(std::string_view data);
  // End of output: what is pending is the last line (also after a final carriage return).
  void finish();
  std::vector<std::string> take_tail() { return {tail_.begin(), tail_.end()}; }

 private:
  void append(std::string_view text);
  // A carriage return followed by more text: the pending text was a progress state.
  void overwrite_pending();
  void emit_pending();

  const child_request& request_;
  std::string pending_;
  bool after_cr_ = false;
  bool progress_emitted_ = false;
  std::chrono::steady_clock::time_point last_progress_{};
  std::deque<std::string> tail_;
};

}  // namespace kiwi
