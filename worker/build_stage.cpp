#include "worker/build_stage.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <system_error>
#include <tuple>

#include "common/build/dockerfile.hpp"
#include "common/build/image_reference.hpp"
#include "common/security/redact.hpp"
#include "common/git/repo_view.hpp"
#include "common/build/tag_rule.hpp"
#include "worker/kaniko_backend.hpp"

namespace kiwi {

namespace {

constexpr std::size_t max_stored_dockerfile = 256 * 1024;
// Where a generated Dockerfile is written inside the checkout (never a path of the repository's
// own: the wizard runs only when the service asked for it).
constexpr std::string_view generated_dockerfile = ".kiwi/Dockerfile";

build_stage_failure fail(std::string message, failure_kind kind = failure_kind::permanent) {
  build_stage_failure f;
  f.message = std::move(message);
  f.kind = kind;
  return f;
}

std::string dockerfile_failure(const dockerfile_error& e) {
  return "Dockerfile not found or not usable (" + e.field + "): " + e.message;
}

// Closes a descriptor when it leaves scope.
struct fd_guard {
  int fd = -1;
  ~fd_guard() {
    if (fd >= 0) {
      ::close(fd);
    }
  }
};

enum class write_mode { replace, keep_existing };

// Writes a generated file at `relative` inside the checkout without following any symbolic link
// on the way: every directory is opened with O_NOFOLLOW from the checkout's root, and the file
// itself too, so a link committed to the repository cannot make the worker write outside it.
// Missing directories are made. keep_existing leaves a regular file already there alone. Empty
// on success, else the failure (kind permanent when the repository has a link in the way).
std::optional<build_stage_failure> write_in_checkout(const std::filesystem::path& root,
                                                     std::string_view relative,
                                                     const std::string& text, write_mode mode,
                                                     std::string_view what) {
  auto linked = [&](std::string_view at) {
    return fail("The repository's " + std::string(at) + " is a symbolic link, and Kiwi follows "
                "no link when it writes the wizard's " + std::string(what) +
                " into the checkout: remove the link, or commit a Dockerfile and set the "
                "service's dockerfile mode to auto or path");
  };
  auto io_error = [&](int err) {
    return fail("cannot write the generated " + std::string(what) + " into the workspace (" +
                    std::string(relative) + ": " + std::strerror(err) + ")",
                failure_kind::transient);
  };
  fd_guard dir;
  dir.fd = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir.fd < 0) {
    return io_error(errno);
  }
  const std::filesystem::path path(relative);
  const std::string name = path.filename().string();
  std::string walked;
  for (const auto& part : path.parent_path()) {
    walked += part.string() + "/";
    if (::mkdirat(dir.fd, part.c_str(), 0755) != 0 && errno != EEXIST) {
      return io_error(errno);
    }
    fd_guard next;
    next.fd = ::openat(dir.fd, part.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (next.fd < 0) {
      const int err = errno;
      struct stat st {};
      if (::fstatat(dir.fd, part.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
        return linked(walked.substr(0, walked.size() - 1));
      }
      return io_error(err);
    }
    std::swap(dir.fd, next.fd);
  }
  struct stat st {};
  if (::fstatat(dir.fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
    if (S_ISLNK(st.st_mode)) {
      return linked(relative);
    }
    if (mode == write_mode::keep_existing) {
      return std::nullopt;
    }
    if (!S_ISREG(st.st_mode)) {
      return fail("The repository's " + std::string(relative) + " is not a regular file; Kiwi "
                  "writes the wizard's " + std::string(what) + " there: remove it");
    }
  }
  // O_NOFOLLOW also holds if a link appeared since the check; O_NONBLOCK: never wait on a FIFO.
  fd_guard file;
  file.fd = ::openat(dir.fd, name.c_str(),
                     O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0644);
  if (file.fd < 0) {
    return errno == ELOOP ? linked(relative) : io_error(errno);
  }
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(file.fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return io_error(errno);
    }
    done += static_cast<std::size_t>(n);
  }
  return std::nullopt;
}

// The service's own secrets, masked in everything the build shows: a RUN step that echoes a
// build argument or the remote URL must not leak them. (Each backend adds the registry password
// itself.)
std::vector<std::string> service_secrets(const service_config& service) {
  std::vector<std::string> out;
  for (const std::string* s : {&service.token, &service.webhook_secret, &service.ssh_key}) {
    if (!s->empty()) {
      out.push_back(*s);
    }
  }
  return out;
}

registry_credentials credentials_of(const registry_config& registry) {
  registry_credentials creds;
  creds.url = registry.url;
  creds.username = registry.username;
  creds.password = registry.password;
  creds.insecure = registry.insecure;
  return creds;
}

build_stage_failure from_image_error(const image_build_error& e) {
  build_stage_failure f;
  f.message = e.message;
  f.kind = e.kind;
  f.cancelled = e.code == image_build_errc::cancelled;
  f.last_lines = e.last_lines;
  return f;
}

// The image built by a Kaniko Job on the service's Kubernetes runtime, from a git context at
// the pushed commit. The checkout here only served to find (or generate) the Dockerfile.
build_stage_outcome build_with_kaniko(const build_stage_request& request,
                                      build_stage_result result, const std::string& context,
                                      const std::optional<std::string>& generated) {
  const service_config& service = request.service;
  if (!request.registry) {
    return fail("a Kaniko build on runtime \"" + request.runtime->name +
                "\" pushes the image to a registry: set the service's registry");
  }
  auto git = make_kaniko_git_context(service.git_url, request.ref, request.sha);
  if (auto* e = std::get_if<std::string>(&git)) {
    return fail(*e);
  }
  kaniko_build_request k;
  k.runtime = *request.runtime;
  kaniko_job_spec& spec = k.spec;
  spec.name = kaniko_job_name(request.build_id);
  spec.namespace_ = request.runtime->namespace_;
  spec.build_id = request.build_id;
  spec.service = service.name;
  spec.git = std::get<kaniko_git_context>(git);
  spec.git_username = service.git_username;
  spec.git_token = service.token;
  if (generated) {
    spec.generated_dockerfile = *generated;
    spec.dockerfile = std::string(kaniko_dockerfile_dir) + "/Dockerfile";
  } else {
    // Kaniko reads --dockerfile relative to the context (the sub-path of the clone).
    spec.dockerfile =
        std::filesystem::path(result.dockerfile_path).lexically_relative(context).generic_string();
  }
  spec.context_sub_path = context;
  spec.destinations = {result.image};
  if (request.runtime->kaniko.cache) {
    const std::string image = service.image.empty() ? service.name : service.image;
    spec.cache_repo = registry_host(request.registry->url) + "/" + image + "/cache";
  }
  spec.registry = credentials_of(*request.registry);
  const auto left = request.deadline - std::chrono::steady_clock::now();
  spec.active_deadline_s =
      request.deadline == std::chrono::steady_clock::time_point::max()
          ? 86400
          : std::max<std::int64_t>(
                1, std::chrono::duration_cast<std::chrono::seconds>(left).count());
  k.secrets = service_secrets(service);
  k.deadline = request.deadline;
  k.cancel = request.cancel;
  k.on_line = request.on_line;
  image_build_outcome built = run_kaniko_build(k);
  if (auto* e = std::get_if<image_build_error>(&built)) {
    return from_image_error(*e);
  }
  result.digest = std::get<image_build_result>(built).digest;
  return result;
}

}  // namespace

build_stage_outcome push_built_image(const build_stage_request& request,
                                     const std::string& image) {
  buildah_build_request push;
  push.workspace = request.workspace;
  push.references = {image};
  push.registry = credentials_of(*request.registry);
  push.storage = request.storage;
  push.temp_root = request.temp_root;
  push.secrets = service_secrets(request.service);
  push.deadline = request.deadline;
  push.cancel = request.cancel;
  push.on_line = request.on_line;
  image_build_outcome pushed = run_buildah_push(push);
  if (auto* e = std::get_if<image_build_error>(&pushed)) {
    return from_image_error(*e);
  }
  build_stage_result result;
  result.image = image;
  result.digest = std::get<image_build_result>(pushed).digest;
  return result;
}

std::string local_image_name(std::string_view service, std::string_view tag) {
  return "localhost/kiwi/" + std::string(service) + ":" + std::string(tag);
}

build_stage_outcome run_build_stage(const build_stage_request& request) {
  const service_config& service = request.service;
  auto say = [&](const std::string& line) {
    if (request.on_line) {
      request.on_line(line);
    }
  };

  // 1. The Dockerfile.
  build_stage_result result;
  std::string context = ".";
  std::optional<std::string> wizard_dockerfile;
  const directory_view view(request.workspace);
  if (service.dockerfile.mode == "path") {
    auto located = resolve_dockerfile_path(request.workspace, service.dockerfile.path,
                                           service.dockerfile.context);
    if (auto* e = std::get_if<dockerfile_error>(&located)) {
      return fail(dockerfile_failure(*e));
    }
    result.dockerfile_path = std::get<dockerfile_location>(located).path;
    context = std::get<dockerfile_location>(located).context;
  } else if (service.dockerfile.mode == "wizard") {
    auto generated = generate_dockerfile(view, service.dockerfile.language,
                                         service.dockerfile.framework, request.wizard_images);
    if (auto* e = std::get_if<dockerfile_error>(&generated)) {
      return fail("Dockerfile wizard (" + e->field + "): " + e->message);
    }
    const auto& out = std::get<wizard_output>(generated);
    result.dockerfile_path = std::string(generated_dockerfile);
    result.generated_by = out.summary;
    // The repository's own .dockerignore (a regular file) wins; the generated one only fills
    // a gap.
    for (auto [path, text, mode, what] :
         {std::tuple{generated_dockerfile, &out.dockerfile, write_mode::replace, "Dockerfile"},
          std::tuple{std::string_view(".dockerignore"), &out.dockerignore,
                     write_mode::keep_existing, ".dockerignore"}}) {
      if (auto f = write_in_checkout(request.workspace, path, *text, mode, what)) {
        return *f;
      }
    }
    say("Dockerfile generated by the wizard: " + out.summary);
    wizard_dockerfile = out.dockerfile;
  } else {
    auto located = locate_root_dockerfile(view);
    if (auto* e = std::get_if<dockerfile_error>(&located)) {
      return fail(dockerfile_failure(*e));
    }
    result.dockerfile_path = std::get<dockerfile_location>(located).path;
    context = std::get<dockerfile_location>(located).context;
  }
  {
    std::ifstream in(request.workspace / result.dockerfile_path, std::ios::binary);
    result.dockerfile.assign(std::istreambuf_iterator<char>(in), {});
    // Stored with the build and shown by the API: masked like every log line.
    redactor secrets;
    for (const std::string& v : service_secrets(service)) {
      secrets.add(v);
    }
    if (request.registry) {
      secrets.add(request.registry->password, request.registry->username);
    }
    secrets.redact_in_place(result.dockerfile);
    if (result.dockerfile.size() > max_stored_dockerfile) {
      result.dockerfile.resize(max_stored_dockerfile);
      result.dockerfile += "\n# (truncated by Kiwi)\n";
    }
  }

  // 2. The tag and the image reference.
  tag_values values;
  if (request.ref.starts_with("refs/heads/")) {
    values.branch = request.ref.substr(11);
  } else if (request.ref.starts_with("refs/tags/")) {
    values.tag = request.ref.substr(10);
  }
  values.sha = request.sha;
  values.service = service.name;
  values.build_number = request.build_number;
  values.time = request.started;
  auto tag = render_tag(service.tag_rule, values);
  if (auto* e = std::get_if<tag_error>(&tag)) {
    return fail("tag_rule: " + e->message);
  }
  result.tag = std::get<std::string>(tag);
  const std::string image = service.image.empty() ? service.name : service.image;
  result.image = request.registry ? image_reference(request.registry->url, image, result.tag)
                                  : local_image_name(service.name, result.tag);
  say("building " + result.dockerfile_path + " (context " + context + ") as " + result.image);

  // 3. Build (and push).
  if (request.runtime) {
    return build_with_kaniko(request, std::move(result), context, wizard_dockerfile);
  }
  buildah_build_request build;
  build.build_id = request.build_id;
  build.workspace = request.workspace;
  build.dockerfile = result.dockerfile_path;
  build.context = context;
  build.references = {result.image};
  if (request.registry) {
    build.registry = credentials_of(*request.registry);
  }
  build.push = false;  // after the scan: the push stage
  build.storage = request.storage;
  build.network = request.network;
  if (request.network.mode == "host") {
    say("warning: build.network is \"host\": this build's RUN steps share the worker's network "
        "and can reach every service on its machine");
  }
  build.temp_root = request.temp_root;
  build.secrets = service_secrets(service);
  build.deadline = request.deadline;
  build.cancel = request.cancel;
  build.on_line = request.on_line;
  image_build_outcome built = run_buildah_build(build);
  if (auto* e = std::get_if<image_build_error>(&built)) {
    return from_image_error(*e);
  }
  const auto& done = std::get<image_build_result>(built);
  result.digest = done.digest;
  result.image_id = done.image_id;
  return result;
}

}  // namespace kiwi
