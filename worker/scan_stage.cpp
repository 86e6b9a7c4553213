#include "worker/scan_stage.hpp"

#include <ctime>
#include <fstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/base/child_process.hpp"
#include "common/scan/scan_gate.hpp"
#include "common/scan/scan_summary.hpp"
#include "common/scan/trivy_report.hpp"
#include "worker/buildah_session.hpp"

namespace kiwi {
namespace {

namespace fs = std::filesystem;

// How long after scan.timeout_s a scanner that ignores its own --timeout is stopped.
constexpr std::chrono::seconds overrun{5};
// Writing the image to the archive: local disk only.
constexpr std::chrono::minutes export_timeout{10};

scan_stage_outcome failed(std::string message, failure_kind kind = failure_kind::permanent) {
  scan_stage_outcome out;
  out.what = scan_stage_outcome::status::failed;
  out.kind = kind;
  out.record = nlohmann::json{{"status", "error"}, {"message", message}}.dump();
  out.message = std::move(message);
  return out;
}

std::string with_last_lines(std::string message, const child_result& r) {
  if (!r.last_lines.empty()) {
    message += "\nlast lines of its output:";
    for (const auto& l : r.last_lines) {
      message += "\n  " + l;
    }
  }
  return message;
}

// Runs one command of the stage, its lines to the log.
child_result run(const scan_stage_request& request, const std::vector<std::string>& argv,
                 std::vector<std::string> env, std::chrono::steady_clock::time_point deadline) {
  child_request child;
  child.argv = argv;
  child.env = std::move(env);
  child.deadline = deadline;
  child.cancel = request.cancel;
  child.tail_lines = 10;
  if (request.on_line) {
    std::string shown = "$";
    for (const auto& a : argv) {
      shown += " " + a;
    }
    request.on_line(shown);
    child.on_line = request.on_line;
  }
  return run_child(child);
}

// At most `limit` bytes of `path`; false when the file is larger (or unreadable).
bool read_bounded(const fs::path& path, std::size_t limit, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return false;
  }
  out.assign(limit + 1, '\0');
  in.read(out.data(), static_cast<std::streamsize>(limit + 1));
  out.resize(static_cast<std::size_t>(in.gcount()));
  return out.size() <= limit;
}

}  // namespace

std::string utc_date(std::chrono::system_clock::time_point now) {
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char text[16];
  std::strftime(text, sizeof text, "%Y-%m-%d", &tm);
  return text;
}

std::vector<std::string> trivy_argv(const scan_settings& scanner, const fs::path& archive,
                                    const fs::path& report) {
  return {scanner.trivy_path, "image", "--input", archive.string(), "--format", "json",
          "--quiet", "--timeout", std::to_string(scanner.timeout.count()) + "s", "--output",
          report.string()};
}

scan_stage_outcome skipped_scan(std::string why) {
  scan_stage_outcome out;
  out.what = scan_stage_outcome::status::skipped;
  out.record = nlohmann::json{{"status", "skipped"}, {"message", why}}.dump();
  out.message = std::move(why);
  return out;
}

scan_stage_outcome run_scan_stage(const scan_stage_request& request) try {
  fs::create_directories(request.storage.root / "tmp");
  const private_dir dir(request.temp_root.empty() ? fs::temp_directory_path()
                                                  : request.temp_root);
  const fs::path archive = dir.path() / "image.tar";
  const fs::path report_file = dir.path() / "report.json";

  // 1. The image as an OCI archive, from the storage (nothing leaves the machine).
  std::vector<std::string> env = environment_subset({"PATH"});
  set_environment(env, "TMPDIR", (request.storage.root / "tmp").string());
  std::vector<std::string> export_argv = buildah_argv(request.storage);
  export_argv.insert(export_argv.end(),
                     {"push", "--quiet", request.image, "oci-archive:" + archive.string()});
  const child_result exported = run(request, export_argv, env,
                                    std::chrono::steady_clock::now() + export_timeout);
  if (exported.cancelled) {
    scan_stage_outcome out = failed("Scan cancelled");
    out.cancelled = true;
    return out;
  }
  if (!exported.succeeded()) {
    return failed(with_last_lines("Scan failed: cannot write the image to an archive for the "
                                  "scanner (buildah push: " + exported.describe() + ")",
                                  exported),
                  failure_kind::transient);
  }

  // 2. Trivy, its report into a file (its own messages go to the log).
  std::vector<std::string> scan_env =
      environment_subset({"PATH", "HOME", "http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY",
                          "HTTPS_PROXY", "NO_PROXY", "TRIVY_CACHE_DIR", "TRIVY_DB_REPOSITORY",
                          "TRIVY_JAVA_DB_REPOSITORY", "TRIVY_SKIP_DB_UPDATE",
                          "TRIVY_OFFLINE_SCAN"});
  set_environment(scan_env, "TMPDIR", dir.path().string());
  const child_result scanned =
      run(request, trivy_argv(request.scanner, archive, report_file), scan_env,
          std::chrono::steady_clock::now() + request.scanner.timeout + overrun);
  if (scanned.cancelled) {
    scan_stage_outcome out = failed("Scan cancelled");
    out.cancelled = true;
    return out;
  }
  if (!scanned.started) {
    return failed("Scan failed: cannot run the scanner " + request.scanner.trivy_path + " (" +
                  scanned.start_error + "); check scan.trivy_path");
  }
  if (scanned.timed_out) {
    return failed(with_last_lines("Scan failed: the scanner did not finish within "
                                  "scan.timeout_s (" +
                                      std::to_string(request.scanner.timeout.count()) + " s)",
                                  scanned));
  }
  if (!scanned.succeeded()) {
    return failed(with_last_lines("Scan failed: the scanner ended without a report (" +
                                      scanned.describe() + "); the image is not pushed",
                                  scanned));
  }
  std::string text;
  if (!read_bounded(report_file, request.scanner.max_report_bytes, text)) {
    return failed(fs::exists(report_file)
                      ? "Scan failed: the scanner's report is larger than scan.max_report_bytes (" +
                            std::to_string(request.scanner.max_report_bytes) + " bytes)"
                      : with_last_lines("Scan failed: the scanner exited 0 but wrote no report",
                                        scanned));
  }

  // 3. The report, its summary and the gate.
  report_outcome parsed = parse_trivy_report(text);
  if (auto* e = std::get_if<report_error>(&parsed)) {
    return failed(with_last_lines("Scan failed: " + e->message, scanned));
  }
  const trivy_report& report = std::get<trivy_report>(parsed);
  const scan_summary summary = summarize(report);
  const gate_verdict verdict = evaluate_gate(report, request.service, request.today);
  scan_stage_outcome out;
  out.record = scan_record(report, summary, verdict).dump();
  out.report = std::move(text);
  if (verdict.passed) {
    out.what = scan_stage_outcome::status::passed;
    out.message = counts_text(summary) + "; " + verdict.message;
  } else {
    out.message = verdict.message + "\nfound: " + counts_text(summary);
  }
  return out;
} catch (const std::exception& e) {
  // File system trouble around the scan (temp dir): no secret is involved.
  return failed(std::string("Scan failed: ") + e.what(), failure_kind::transient);
}

}  // namespace kiwi
