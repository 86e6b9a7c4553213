#include "worker/buildah_backend.hpp"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <fstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "common/build/image_reference.hpp"
#include "common/security/redact.hpp"
#include "common/security/crypto.hpp"  // base64_encode
#include "worker/buildah_output.hpp"
#include "worker/buildah_session.hpp"
#include "worker/registry_errors.hpp"
#include "common/base/child_process.hpp"
#include "worker/dockerfile_outline.hpp"
#include "worker/sweep.hpp"

namespace kiwi {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t tail_size = 20;
constexpr std::size_t max_dockerfile_bytes = 1 << 20;  // read for line numbers only

// Whether `inner` is `outer` or below it (both canonical).
bool is_within(const fs::path& outer, const fs::path& inner) {
  auto o = outer.begin();
  auto i = inner.begin();
  for (; o != outer.end(); ++o, ++i) {
    if (i == inner.end() || *o != *i) {
      return false;
    }
  }
  return true;
}

image_build_error failure(image_build_errc code, std::string message,
                          failure_kind kind = failure_kind::permanent) {
  return make_image_build_error(code, std::move(message), kind);
}

// Runs one buildah command, passing redacted lines to the caller and to `log`, keeping the
// last tail_size of them.
struct buildah_run {
  const buildah_build_request& request;
  const redactor& secrets;
  const std::vector<std::string>& env;

  child_result run(const std::vector<std::string>& argv, bud_log& log,
                   std::deque<std::string>& tail) const {
    const std::string shown = secrets.redact(command_line(argv));
    deliver("$ " + shown, log, tail);
    child_request child;
    child.argv = argv;
    child.env = env;
    child.working_dir = request.workspace;
    child.deadline = request.deadline;
    child.cancel = request.cancel;
    child.kill_grace = request.kill_grace;
    child.tail_lines = 0;  // the tail kept here is the redacted one
    child.on_line = [&](std::string_view line) {
      if (auto shown_line = without_build_id_warning(line)) {  // Kiwi's own argument: no news
        deliver(secrets.redact(*shown_line), log, tail);
      }
    };
    return run_child(child);
  }

  void deliver(const std::string& line, bud_log& log, std::deque<std::string>& tail) const {
    log.feed(line);
    if (tail.size() == tail_size) {
      tail.pop_front();
    }
    tail.push_back(line);
    if (request.on_line) {
      request.on_line(line);
    }
  }

  static std::string command_line(const std::vector<std::string>& argv) {
    std::string out;
    for (const auto& a : argv) {
      if (!out.empty()) {
        out += ' ';
      }
      out += a;
    }
    return out;
  }
};

// The error for a command that did not end by itself, or did not start.
std::optional<image_build_error> interrupted(const child_result& r, bool pushing) {
  if (r.cancelled) {
    return failure(image_build_errc::cancelled,
                   pushing ? "Image push cancelled" : "Build cancelled");
  }
  if (r.timed_out) {
    // A push that runs out of time usually meets a slow registry; a build that does would
    // most likely run out of time again.
    return pushing ? failure(image_build_errc::timed_out, "Image push timed out",
                             failure_kind::transient)
                   : failure(image_build_errc::timed_out, "Image build timed out");
  }
  if (!r.started) {
    return failure(image_build_errc::other,
                   "Image build failed: cannot run buildah (" + r.start_error + ")");
  }
  return std::nullopt;
}

// The options every command of a build gets: where buildah finds credentials and settings.
struct buildah_paths {
  const fs::path& dir;  // the build's private directory
  fs::path auth_file;
  std::string retry_delay;
};

// Checks the Dockerfile and context, then `buildah bud`: the image's id into result.
std::optional<image_build_error> build_image(const buildah_build_request& request,
                                             const buildah_run& runner, const redactor& secrets,
                                             const buildah_paths& paths,
                                             image_build_result& result) {
  const buildah_storage& storage = request.storage;
  const fs::path& auth_file = paths.auth_file;
  const fs::path& dir_path = paths.dir;
  const std::string& retry_delay = paths.retry_delay;
  std::error_code ec;
  const fs::path workspace = fs::canonical(request.workspace, ec);
  if (ec) {
    return failure(image_build_errc::other,
                   "Image build failed: workspace " + request.workspace.string() + " is missing");
  }
  const fs::path dockerfile = fs::weakly_canonical(workspace / request.dockerfile, ec);
  if (ec || !is_within(workspace, dockerfile)) {
    return failure(
        image_build_errc::dockerfile_error,
        "Dockerfile path " + request.dockerfile.string() + " leads outside the repository");
  }
  if (!fs::is_regular_file(dockerfile, ec)) {
    return failure(image_build_errc::dockerfile_error,
                   "Dockerfile not found: " + request.dockerfile.string());
  }
  const fs::path context = fs::weakly_canonical(workspace / request.context, ec);
  if (ec || !is_within(workspace, context)) {
    return failure(image_build_errc::dockerfile_error,
                   "Build context " + request.context.string() + " leads outside the repository");
  }
  if (!fs::is_directory(context, ec)) {
    return failure(image_build_errc::dockerfile_error,
                   "Build context not found: " + request.context.string());
  }
  const dockerfile_outline outline =
      outline_dockerfile(read_trimmed(dockerfile, max_dockerfile_bytes));

  std::vector<std::string> argv = buildah_argv(storage);
  const fs::path iid_file = dir_path / "image-id";
  argv.emplace_back("bud");
  const std::vector<std::string> isolation = build_isolation_args(request.network);
  argv.insert(argv.end(), isolation.begin(), isolation.end());
  for (std::string_view a : {"--layers", "--force-rm", "--format", "docker"}) {
    argv.emplace_back(a);
  }
  argv.insert(argv.end(), {"--authfile", auth_file.string(), "--iidfile", iid_file.string(),
                           "--retry-delay", retry_delay, "-f", dockerfile.string()});
  for (const auto& ref : request.references) {
    argv.insert(argv.end(), {"-t", ref});
  }
  if (!request.build_id.empty()) {  // names the build's containers and process (sweep.hpp)
    argv.insert(argv.end(), {"--build-arg", std::string(build_id_arg) + "=" + request.build_id});
  }
  for (const auto& [name, value] : request.build_args) {
    argv.insert(argv.end(), {"--build-arg", name + "=" + value});
  }
  argv.push_back(context.string());

  bud_log log;
  std::deque<std::string> tail;
  child_result built = runner.run(argv, log, tail);
  if (auto e = interrupted(built, false)) {
    e->last_lines.assign(tail.begin(), tail.end());
    return e;
  }
  if (!built.succeeded()) {
    image_build_error e = classify_bud_failure(log, outline, built.exit_code);
    e.message = secrets.redact(e.message);
    e.last_lines.assign(tail.begin(), tail.end());
    return e;
  }
  result.image_id = read_trimmed(iid_file);
  return std::nullopt;
}

// Pushes every reference (already in the storage): the first one's digest into result.
std::optional<image_build_error> push_image(const buildah_build_request& request,
                                            const buildah_run& runner, const redactor& secrets,
                                            const buildah_paths& paths,
                                            image_build_result& result) {
  const buildah_storage& storage = request.storage;
  const fs::path& auth_file = paths.auth_file;
  const std::string& retry_delay = paths.retry_delay;
  std::deque<std::string> tail;
  const std::string host = registry_host(request.registry->url);
  for (const auto& ref : request.references) {
    if (request.cancel != nullptr && request.cancel->load()) {
      return failure(image_build_errc::cancelled, "Image push cancelled");
    }
    const fs::path digest_file = paths.dir / "digest";
    std::error_code ignored;
    fs::remove(digest_file, ignored);
    std::vector<std::string> push = buildah_argv(storage);
    push.insert(push.end(),
                {"push", "--authfile", auth_file.string(), "--digestfile", digest_file.string(),
                 "--format", "docker", "--retry-delay", retry_delay});
    if (registry_is_insecure(*request.registry)) {
      push.emplace_back("--tls-verify=false");
    }
    push.insert(push.end(), {ref, "docker://" + ref});
    bud_log push_log;
    child_result pushed = runner.run(push, push_log, tail);
    if (auto e = interrupted(pushed, true)) {
      e->last_lines.assign(tail.begin(), tail.end());
      return e;
    }
    if (!pushed.succeeded()) {
      image_build_error e = classify_push_failure(push_log.error(), host);
      e.message = secrets.redact(e.message);
      e.last_lines.assign(tail.begin(), tail.end());
      return e;
    }
    std::string digest = read_trimmed(digest_file);
    if (!digest.starts_with("sha256:")) {
      return failure(image_build_errc::other,
                     "Image push failed: buildah wrote no digest for " + ref);
    }
    if (result.digest.empty()) {
      result.digest = std::move(digest);
    }
  }
  return std::nullopt;
}

image_build_outcome build_and_push(const buildah_build_request& request, bool build, bool push) {
  redactor secrets;
  if (request.registry) {
    secrets.add(request.registry->password, request.registry->username);
  }
  for (const auto& s : request.secrets) {
    secrets.add(s);
  }

  if (request.storage.root.empty()) {
    return failure(image_build_errc::other, "Image build failed: no buildah storage directory");
  }
  if (request.references.empty()) {
    return failure(image_build_errc::other, "Image build failed: no image reference to tag");
  }
  const buildah_storage& storage = request.storage;
  fs::create_directories(storage.root / "tmp");
  const private_dir dir(request.temp_root.empty() ? fs::temp_directory_path() : request.temp_root);
  const fs::path auth_file = dir.path() / "auth.json";
  create_private_file(auth_file, auth_file_json(request.registry));
  create_private_file(dir.path() / "registries.conf", registries_conf(request.registry));

  std::vector<std::string> env = environment_subset(
      {"PATH", "http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"});
  if (std::none_of(env.begin(), env.end(),
                   [](const std::string& e) { return e.starts_with("PATH="); })) {
    env.emplace_back("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  }
  set_environment(env, "HOME", dir.path().string());
  set_environment(env, "TMPDIR", (storage.root / "tmp").string());
  set_environment(env, "CONTAINERS_REGISTRIES_CONF", (dir.path() / "registries.conf").string());

  const buildah_run runner{request, secrets, env};

  const buildah_paths paths{dir.path(), auth_file,
                            std::to_string(request.retry_delay.count()) + "ms"};
  image_build_result result;
  result.references = request.references;
  if (build) {
    if (auto e = build_image(request, runner, secrets, paths, result)) {
      return *e;
    }
  }
  if (push && request.registry) {
    if (auto e = push_image(request, runner, secrets, paths, result)) {
      return *e;
    }
  }
  return result;
}

}  // namespace

std::vector<std::string> buildah_argv(const buildah_storage& storage) {
  return {"buildah",
          "--root",
          (storage.root / "storage").string(),
          "--runroot",
          (storage.root / "run").string(),
          "--storage-driver",
          storage.driver.empty() ? std::string("overlay") : storage.driver};
}

child_result run_buildah(const buildah_storage& storage, const std::vector<std::string>& args,
                         std::vector<std::string>* lines) {
  child_request child;
  child.argv = buildah_argv(storage);
  child.argv.insert(child.argv.end(), args.begin(), args.end());
  child.env = environment_subset({"PATH"});
  child.deadline = std::chrono::steady_clock::now() + std::chrono::minutes(2);
  if (lines != nullptr) {
    child.on_line = [lines](std::string_view line) { lines->emplace_back(line); };
  }
  return run_child(child);
}

std::string remove_build_containers(const buildah_storage& storage) {
  const child_result r = run_buildah(storage, {"rm", "--all"}, nullptr);
  if (r.succeeded()) {
    return {};
  }
  std::string why = "buildah rm --all: " + r.describe();
  if (!r.last_lines.empty()) {
    why += ": " + r.last_lines.back();
  }
  return why;
}

image_build_outcome run_buildah_build(const buildah_build_request& request) {
  try {
    return build_and_push(request, true, request.push);
  } catch (const std::exception& e) {
    // File system trouble around the build (temp dir, storage dir): no secret is involved.
    return failure(image_build_errc::other, std::string("Image build failed: ") + e.what());
  }
}

image_build_outcome run_buildah_push(const buildah_build_request& request) {
  try {
    return build_and_push(request, false, true);
  } catch (const std::exception& e) {
    return failure(image_build_errc::other, std::string("Image push failed: ") + e.what());
  }
}

}  // namespace kiwi
