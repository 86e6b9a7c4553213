#pragma once
// Follows the Kaniko executor's log (worker/kaniko_backend.cpp) across idle and cut streams. The
// log is asked for with timestamps and a resumed stream starts at sinceTime, which has whole
// seconds: the lines it repeats are recognised by their timestamps and skipped, so no line is
// shown twice and none is lost. Blocking.

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "common/kubernetes/log_timestamp.hpp"
#include "worker/kaniko_api.hpp"

namespace kiwi {

class kaniko_log {
 public:
  // on_line gets every new line, without its timestamp.
  explicit kaniko_log(std::function<void(std::string_view line)> on_line)
      : on_line_(std::move(on_line)) {}

  enum class outcome {
    ended,    // the server ended the stream: the container has exited
    paused,   // quiet for `idle`, cut, or keep_going said stop: look at the pod, then come back
    refused,  // a non-2xx answer: the container has not started yet
  };
  // Reads the executor's log of `pod_path` ("/api/v1/namespaces/NS/pods/POD") from where the
  // last call left it. keep_going is asked after each chunk.
  outcome follow(kube_api& api, const std::string& pod_path, std::chrono::milliseconds idle,
                 const std::function<bool()>& keep_going);

 private:
  void take_line(std::string_view line);

  std::function<void(std::string_view)> on_line_;
  std::optional<log_time> last_seen_;  // of the last line shown
};

}  // namespace kiwi
