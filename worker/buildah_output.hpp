#pragma once
// Reads buildah 1.28's output to explain a failure. No I/O: bud_log is fed the (redacted)
// lines as they arrive, the classifiers turn what it kept into an image_build_error. The
// patterns were taken from real buildah runs (docs/build-backends.md lists them).

#include <optional>
#include <string>
#include <string_view>

#include "worker/dockerfile_outline.hpp"
#include "common/build/image_build.hpp"

namespace kiwi {

// What `buildah bud` printed that matters for failures. Output can be long; only this is kept.
class bud_log {
 public:
  struct step_marker {
    int stage = 0;     // from "[stage/stages] STEP ..."; 0 when buildah printed no prefix
    int step = 0;      // from "STEP step/steps: ..."
    std::string text;  // the instruction as buildah printed it (arguments expanded)
  };

  void feed(std::string_view line);

  const std::optional<step_marker>& last_step() const { return last_step_; }
  bool committing() const { return committing_; }          // "COMMIT" after the last step
  const std::string& pulling() const { return pulling_; }  // "Trying to pull X..." in the last step
  const std::string& error() const { return error_; }      // the last "Error: " line, without it
  const std::string& panic() const { return panic_; }      // buildah crashed: its "panic:" line

 private:
  std::optional<step_marker> last_step_;
  bool committing_ = false;
  std::string pulling_;
  std::string error_;
  std::string panic_;
};

// Why `buildah bud` failed (exit code buildah_exit). last_lines are left to the caller. A push's
// failure is read by classify_push_failure (registry_errors.hpp).
image_build_error classify_bud_failure(const bud_log& log, const dockerfile_outline& dockerfile,
                                       int buildah_exit);

}  // namespace kiwi
