// kiwi-clone-fetch-tool: one timed clone for bench/clone_fetch, printed as one JSON line.
//
//   kiwi-clone-fetch-tool clone-stage --url URL --branch B --sha SHA --mirror DIR --workspace DIR
//       Kiwi's clone stage itself (run_clone, worker/clone_stage.hpp), as the worker calls it:
//       open or create the bare mirror, fetch +refs/heads/* and +refs/tags/* when the commit is
//       missing, check the commit out into the new workspace. A missing mirror makes it a fresh
//       clone; a warm mirror one commit behind makes it the incremental fetch of a push.
//       fetch_ms: from the start to the stage's "Fetching origin: ..., done" progress line,
//       which it reports as soon as git_remote_fetch returns (lock, open, fetch, ref updates);
//       total_ms adds the checkout into the workspace. --no-strict-hash (diagnosis) turns off
//       libgit2's re-hashing of every object read (GIT_OPT_ENABLE_STRICT_HASH_VERIFICATION).
//   kiwi-clone-fetch-tool libgit2-clone --url URL --dir DIR [--kiwi-stream]
//       git_clone(bare) with libgit2's defaults and no Kiwi code: what libgit2 alone costs.
//       --kiwi-stream installs Kiwi's socket stream first (git::ensure_initialised), as the
//       worker does, to tell the stream's share from libgit2's.
//
// Times are steady_clock inside the process (process start-up excluded: the worker is
// long-lived). Exit status 0 on success, 1 when the clone failed (the JSON says why), 2 on bad
// arguments.

#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include <git2.h>
#include <nlohmann/json.hpp>

#include "common/git/git.hpp"
#include "worker/clone_stage.hpp"

namespace {

using clock_type = std::chrono::steady_clock;
using json = nlohmann::json;

double ms_between(clock_type::time_point from, clock_type::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

int usage() {
  std::cerr << "usage: kiwi-clone-fetch-tool clone-stage --url URL --branch B --sha SHA "
               "--mirror DIR --workspace DIR [--timeout-s N] [--no-strict-hash]\n"
               "       kiwi-clone-fetch-tool libgit2-clone --url URL --dir DIR [--kiwi-stream]\n";
  return 2;
}

// --name value pairs and bare --flags after the mode.
std::optional<std::map<std::string, std::string>> parse_options(int argc, char** argv) {
  std::map<std::string, std::string> options;
  for (int i = 2; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (!arg.starts_with("--")) {
      return std::nullopt;
    }
    if (arg == "--kiwi-stream" || arg == "--no-strict-hash") {
      options.emplace(arg.substr(2), "1");
      continue;
    }
    if (i + 1 >= argc) {
      return std::nullopt;
    }
    options[std::string(arg.substr(2))] = argv[++i];
  }
  return options;
}

int print(const json& out, bool ok) {
  std::cout << out.dump() << std::endl;
  return ok ? 0 : 1;
}

int clone_stage(const std::map<std::string, std::string>& options) {
  for (const char* key : {"url", "branch", "sha", "mirror", "workspace"}) {
    if (!options.contains(key)) {
      return usage();
    }
  }
  kiwi::clone_request request;
  request.service = "bench";
  request.git_url = options.at("url");
  request.branch = options.at("branch");
  request.ref = "refs/heads/" + request.branch;
  request.sha = options.at("sha");
  request.mirror_dir = options.at("mirror");
  request.workspace = options.at("workspace");
  if (auto it = options.find("timeout-s"); it != options.end()) {
    request.timeout = std::chrono::seconds(std::stoi(it->second));
  } else {
    request.timeout = std::chrono::seconds(300);
  }
  if (options.contains("no-strict-hash")) {
    // Diagnosis only: what the clone stage would cost if libgit2 did not re-hash every object
    // it reads (GIT_OPT_ENABLE_STRICT_HASH_VERIFICATION, on by default; git does not do it).
    kiwi::git::ensure_initialised();
    git_libgit2_opts(GIT_OPT_ENABLE_STRICT_HASH_VERIFICATION, 0);
  }
  std::optional<clock_type::time_point> fetched_at;
  request.on_progress = [&fetched_at](std::string_view line) {
    if (line.starts_with("Fetching origin:") && line.ends_with(", done")) {
      fetched_at = clock_type::now();
    }
  };

  const auto start = clock_type::now();
  const kiwi::clone_outcome outcome = kiwi::run_clone(request);
  const auto end = clock_type::now();

  json out{{"mode", "clone-stage"},
           {"strict_hash", !options.contains("no-strict-hash")},
           {"total_ms", ms_between(start, end)}};
  if (const auto* e = std::get_if<kiwi::clone_error>(&outcome)) {
    out["ok"] = false;
    out["error"] = e->message;
    return print(out, false);
  }
  const auto& result = std::get<kiwi::clone_result>(outcome);
  out["ok"] = true;
  out["fetched"] = result.fetched;
  out["sha"] = result.sha;
  out["files"] = result.files;
  out["fetch_ms"] = fetched_at ? json(ms_between(start, *fetched_at)) : json(nullptr);
  out["checkout_ms"] = fetched_at ? json(ms_between(*fetched_at, end)) : json(nullptr);
  return print(out, true);
}

int libgit2_clone(const std::map<std::string, std::string>& options) {
  if (!options.contains("url") || !options.contains("dir")) {
    return usage();
  }
  const bool kiwi_stream = options.contains("kiwi-stream");
  if (kiwi_stream) {
    kiwi::git::ensure_initialised();
  } else {
    git_libgit2_init();
  }
  git_clone_options opts = GIT_CLONE_OPTIONS_INIT;
  opts.bare = 1;
  const std::string& url = options.at("url");
  const std::string& dir = options.at("dir");

  const auto start = clock_type::now();
  kiwi::git::repository repo;
  const int rc = git_clone(kiwi::git::out_ptr(repo), url.c_str(), dir.c_str(), &opts);
  const auto end = clock_type::now();

  json out{{"mode", "libgit2-clone"},
           {"stream", kiwi_stream ? "kiwi" : "libgit2"},
           {"total_ms", ms_between(start, end)},
           {"ok", rc == 0}};
  if (rc != 0) {
    const git_error* e = git_error_last();
    out["error"] = e != nullptr && e->message != nullptr ? e->message : "libgit2 error";
  }
  return print(out, rc == 0);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    return usage();
  }
  const std::string_view mode = argv[1];
  const auto options = parse_options(argc, argv);
  if (!options) {
    return usage();
  }
  try {
    if (mode == "clone-stage") {
      return clone_stage(*options);
    }
    if (mode == "libgit2-clone") {
      return libgit2_clone(*options);
    }
  } catch (const std::exception& e) {
    std::cerr << "kiwi-clone-fetch-tool: " << e.what() << "\n";
    return 2;
  }
  return usage();
}
