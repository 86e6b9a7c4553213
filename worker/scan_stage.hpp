#pragma once
// The scan stage (docs/scan.md): the image the build stage left in buildah's storage is written
// to an OCI archive in a private directory and scanned by Trivy (`trivy image --input`), before
// anything is pushed. The report is read (bounded), summed up and put through the service's
// gate. A scanner that cannot start, crashes, exits non-zero, runs out of time or writes
// something that is not a Trivy report fails the stage: never a pass. Blocking: run it on the
// worker's blocking pool.

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/base/failure_kind.hpp"
#include "common/config/config.hpp"
#include "worker/buildah_backend.hpp"

namespace kiwi {

struct scan_stage_request {
  std::string image;            // image id or reference in the storage
  buildah_storage storage;
  scan_settings scanner;        // config `scan`
  scan_config service;          // the service's `scan`
  std::string today;            // YYYY-MM-DD (UTC), for the ignore list's expiry dates
  std::filesystem::path temp_root;  // where the private directory for the archive is made
  const std::atomic<bool>* cancel = nullptr;
  std::function<void(std::string_view line)> on_line;
};

struct scan_stage_outcome {
  enum class status { passed, skipped, failed } what = status::failed;
  std::string message;  // stage.succeeded's text, or the failure
  std::string record;   // JSON for the build record's `scan` field
  std::string report;   // the scanner's report as read (empty when there is none)
  failure_kind kind = failure_kind::permanent;
  bool cancelled = false;
};

scan_stage_outcome run_scan_stage(const scan_stage_request& request);

// A stage that does not scan: why, and the record saying so.
scan_stage_outcome skipped_scan(std::string why);

// The trivy command line Kiwi runs (the stand-in in tests/support accepts the same).
std::vector<std::string> trivy_argv(const scan_settings& scanner,
                                    const std::filesystem::path& archive,
                                    const std::filesystem::path& report);

// Today's date in UTC, YYYY-MM-DD.
std::string utc_date(std::chrono::system_clock::time_point now);

}  // namespace kiwi
