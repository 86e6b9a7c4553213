#include "worker/kaniko_failure.hpp"

#include <cstdlib>
#include <string_view>

#include "worker/output_text.hpp"

namespace kiwi {

using output_text::contains;

image_build_error classify_kaniko_failure(const std::vector<std::string>& last_lines,
                                          std::string fallback) {
  image_build_error e = make_image_build_error(image_build_errc::other, fallback);
  // The last line that says "error" is Kaniko's summary (it logs with logrus: "error building
  // image: ...", "error checking push permissions -- ...").
  std::string_view error;
  for (auto it = last_lines.rbegin(); it != last_lines.rend(); ++it) {
    const std::string_view l = *it;
    if (contains(l, "error ") || contains(l, "Error ") || l.starts_with("error") ||
        contains(l, "level=error") || contains(l, "level=fatal")) {
      error = l;
      break;
    }
  }
  if (error.empty()) {
    return e;
  }
  const std::string detail(error.substr(0, 300));
  if (const auto p = error.find("waiting for process to exit: exit status ");
      p != std::string_view::npos) {
    e.code = image_build_errc::step_failed;
    e.exit_code = std::atoi(std::string(error.substr(p + 41)).c_str());
    e.message = "Build step failed (exit code " + std::to_string(e.exit_code) + ")";
    // Kaniko logs each instruction as it starts it ("INFO[0005] RUN make"): the last one ran.
    for (auto it = last_lines.rbegin(); it != last_lines.rend(); ++it) {
      const auto run = it->find("] RUN ");
      if (run != std::string::npos) {
        e.step = it->substr(run + 2);
        e.message += ": " + e.step;
        break;
      }
    }
    return e;
  }
  if (contains(error, "parsing dockerfile") || contains(error, "dockerfile parse error") ||
      contains(error, "Dockerfile parse error")) {
    e.code = image_build_errc::dockerfile_error;
    e.message = "Dockerfile error: " + detail;
    return e;
  }
  const bool push = contains(error, "push") || contains(error, "PUSH");
  if (push && (contains(error, "UNAUTHORIZED") || contains(error, "401"))) {
    e.code = image_build_errc::push_unauthorized;
    e.message = "Image push failed: check the registry credentials";
    return e;
  }
  if (push && (contains(error, "DENIED") || contains(error, "403") ||
               contains(error, "NAME_UNKNOWN") || contains(error, "404"))) {
    e.code = image_build_errc::push_denied;
    e.message = "Image push failed: repository not found or no push permission";
    return e;
  }
  if (contains(error, "no such host") || contains(error, "connection refused") ||
      contains(error, "i/o timeout") || contains(error, "dial tcp")) {
    e.code = image_build_errc::registry_unreachable;
    e.kind = failure_kind::transient;
    e.message = (push ? "Image push failed: registry unreachable (" : "Image build failed: ") +
                detail + (push ? ")" : "");
    return e;
  }
  if (contains(error, "retrieving image") || contains(error, "MANIFEST_UNKNOWN") ||
      contains(error, "pull access denied")) {
    e.code = image_build_errc::base_image_unavailable;
    e.message = "Base image cannot be pulled: " + detail;
    return e;
  }
  if (contains(error, "git") && (contains(error, "authentication required") ||
                                 contains(error, "repository not found"))) {
    e.message = "Kaniko could not clone the repository (check the service's token): " + detail;
    return e;
  }
  e.message = fallback + ": " + detail;
  return e;
}

}  // namespace kiwi
