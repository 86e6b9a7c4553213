#include "worker/sweep_disk.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <thread>

namespace kiwi {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr int max_depth = 256;                  // deeper trees are reported, not walked
constexpr std::size_t max_json_bytes = 64 << 20;  // containers.json / images.json
constexpr std::size_t max_small_file = 1 << 20;   // buildah.json, /proc files

class unique_fd {
 public:
  explicit unique_fd(int fd) : fd_(fd) {}
  ~unique_fd() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

std::string read_file(const fs::path& path, std::size_t limit) {
  std::ifstream in(path, std::ios::binary);
  std::string text(limit, '\0');
  in.read(text.data(), static_cast<std::streamsize>(limit));
  text.resize(static_cast<std::size_t>(std::max<std::streamsize>(in.gcount(), 0)));
  return text;
}

// The names in a directory (not . and ..); opening a symbolic link as the directory fails.
std::vector<std::string> entries(int dir_fd) {
  std::vector<std::string> names;
  const int fd = ::dup(dir_fd);
  DIR* dir = fd >= 0 ? ::fdopendir(fd) : nullptr;
  if (dir == nullptr) {
    if (fd >= 0) {
      ::close(fd);
    }
    return names;
  }
  ::rewinddir(dir);
  while (const dirent* e = ::readdir(dir)) {
    const std::string_view name = e->d_name;
    if (name != "." && name != "..") {
      names.emplace_back(name);
    }
  }
  ::closedir(dir);
  return names;
}

int open_directory(const fs::path& path) {
  return ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

bool is_directory_at(int dir_fd, const std::string& name) {
  struct stat st {};
  return ::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

// Sums the space of parent/name and everything below it and, with remove, deletes it; a
// symbolic link counts as itself, a directory on another device (a mount point) is left.
struct tree_walk {
  bool remove = false;
  std::uint64_t bytes = 0;
  std::string problem;  // the first thing that could not be walked or removed

  void note(const std::string& what) {
    if (problem.empty()) {
      problem = what;
    }
  }

  void walk(int parent, const std::string& name, dev_t device, int depth) {
    struct stat st {};
    if (::fstatat(parent, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno != ENOENT) {
        note(name + ": " + std::strerror(errno));
      }
      return;
    }
    if (S_ISDIR(st.st_mode)) {
      if (st.st_dev != device) {
        note(name + " is a mount point; left in place");
        return;
      }
      if (depth >= max_depth) {
        note(name + ": more than " + std::to_string(max_depth) + " levels deep");
        return;
      }
      const unique_fd dir(
          ::openat(parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (dir.get() < 0) {
        note(name + ": " + std::strerror(errno));
        return;
      }
      for (const auto& child : entries(dir.get())) {
        walk(dir.get(), child, device, depth + 1);
      }
    }
    bytes += static_cast<std::uint64_t>(st.st_blocks) * 512;
    const int flags = S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0;
    if (remove && ::unlinkat(parent, name.c_str(), flags) != 0 && errno != ENOENT) {
      note("cannot remove " + name + ": " + std::strerror(errno));
    }
  }
};

// Walks dir/name (dir itself must not be a symbolic link).
tree_walk walk_below(const fs::path& dir, const std::string& name, bool remove) {
  tree_walk w;
  w.remove = remove;
  const unique_fd parent(open_directory(dir));
  struct stat st {};
  if (parent.get() < 0 || ::fstat(parent.get(), &st) != 0) {
    w.note(dir.string() + ": " + std::strerror(errno));
    return w;
  }
  w.walk(parent.get(), name, st.st_dev, 0);
  return w;
}

// The directories in dir whose names pass `accept`, as `accept` maps them.
template <class F>
std::vector<std::string> directories(const fs::path& dir, F accept) {
  std::vector<std::string> out;
  const unique_fd fd(open_directory(dir));
  if (fd.get() < 0) {
    return out;
  }
  for (const auto& name : entries(fd.get())) {
    if (auto kept = accept(name); !kept.empty() && is_directory_at(fd.get(), name)) {
      out.push_back(std::move(kept));
    }
  }
  return out;
}

std::vector<std::string> command_line(int pid) {
  const std::string raw = read_file("/proc/" + std::to_string(pid) + "/cmdline", max_small_file);
  std::vector<std::string> argv;
  std::size_t start = 0;
  while (start < raw.size()) {
    const auto end = std::min(raw.find('\0', start), raw.size());
    argv.push_back(raw.substr(start, end - start));
    start = end + 1;
  }
  return argv;
}

std::string comm_of(const std::string& pid) {
  std::string comm = read_file("/proc/" + pid + "/comm", 256);
  while (!comm.empty() && comm.back() == '\n') {
    comm.pop_back();
  }
  return comm;
}

// Living processes (zombies left out) and their parents.
std::map<int, int> process_parents() {
  std::map<int, int> parents;
  const unique_fd proc(open_directory("/proc"));
  for (const auto& name : entries(proc.get())) {
    if (name.empty() || !std::all_of(name.begin(), name.end(), ::isdigit)) {
      continue;
    }
    const auto state = process_state(read_file("/proc/" + name + "/stat", 4096));
    if (state && state->first != 'Z' && state->first != 'X') {
      parents[std::stoi(name)] = state->second;
    }
  }
  return parents;
}

std::vector<int> with_descendants(const std::map<int, int>& parents, const std::vector<int>& roots) {
  std::vector<int> all(roots.begin(), roots.end());
  for (std::size_t i = 0; i < all.size(); ++i) {
    for (const auto& [pid, ppid] : parents) {
      if (ppid == all[i] && std::find(all.begin(), all.end(), pid) == all.end()) {
        all.push_back(pid);
      }
    }
  }
  return all;
}

std::string layer_dir(const buildah_storage& storage, const std::string& layer) {
  return storage.driver == "vfs" ? "vfs/dir/" + layer : "overlay/" + layer + "/diff";
}

std::string mib(std::uint64_t bytes) {
  return std::to_string(bytes / (1 << 20)) + "." + std::to_string(bytes % (1 << 20) * 10 >> 20) +
         " MiB";
}

std::string buildah_failure(const std::string& what, const child_result& r) {
  std::string why = what + ": " + r.describe();
  if (!r.last_lines.empty()) {
    why += ": " + r.last_lines.back();
  }
  return why;
}

void kill_orphans(const std::vector<int>& roots, sweep_report& report) {
  if (roots.empty()) {
    return;
  }
  // The container processes of a RUN step sit in their own session below buildah: find them
  // before buildah dies and they are handed to init.
  const std::vector<int> doomed = with_descendants(process_parents(), roots);
  for (int pid : doomed) {
    ::kill(pid, SIGKILL);
  }
  report.killed = doomed.size();
  const auto give_up = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < give_up) {
    const auto alive = process_parents();
    if (std::none_of(doomed.begin(), doomed.end(), [&](int p) { return alive.contains(p); })) {
      return;
    }
    std::this_thread::sleep_for(50ms);
  }
  report.problems.push_back("orphaned build processes still alive 10 s after SIGKILL");
}

}  // namespace

disk_survey survey_disk(const fs::path& data_dir, const buildah_storage& storage) {
  disk_survey survey;
  const auto plain = [](const std::string& name) { return plain_name(name) ? name : std::string(); };
  survey.workspaces = directories(data_dir / "workspaces", plain);
  survey.mirrors = directories(data_dir / "mirrors", [](const std::string& name) {
    const std::string service = name.ends_with(".git") ? name.substr(0, name.size() - 4) : "";
    return plain_name(service) ? service : std::string();
  });

  const fs::path graph = storage.root / "storage";
  const std::string driver = storage.driver.empty() ? "overlay" : storage.driver;
  const fs::path containers = graph / (driver + "-containers");
  for (auto& [id, layer] : stored_containers(read_file(containers / "containers.json",
                                                       max_json_bytes))) {
    if (!plain_name(id)) {
      continue;
    }
    stored_container c;
    c.id = id;
    c.build_id =
        builder_build_id(read_file(containers / id / "userdata" / "buildah.json", max_small_file));
    if (!c.build_id.empty() && plain_name(layer)) {
      const fs::path dir = graph / layer_dir(storage, layer);
      c.bytes = walk_below(dir.parent_path(), dir.filename(), false).bytes;
    }
    survey.containers.push_back(std::move(c));
  }
  survey.dangling_images =
      has_unnamed_images(read_file(graph / (driver + "-images") / "images.json", max_json_bytes));

  const std::string worker = comm_of("self");
  for (const auto& [pid, ppid] : process_parents()) {
    if (auto build_id = buildah_build_id(command_line(pid), graph.string())) {
      survey.processes.push_back(
          build_process{pid, *build_id, comm_of(std::to_string(ppid)) != worker});
    }
  }
  return survey;
}

sweep_report carry_out(const sweep_plan& plan, const disk_survey& survey, const fs::path& data_dir,
                       const buildah_storage& storage) {
  sweep_report report;
  kill_orphans(plan.kill, report);

  if (!plan.containers.empty()) {
    std::vector<std::string> args{"rm"};
    args.insert(args.end(), plan.containers.begin(), plan.containers.end());
    std::vector<std::string> lines;
    const child_result r = run_buildah(storage, args, &lines);
    for (const auto& c : survey.containers) {
      if (std::find(lines.begin(), lines.end(), c.id) != lines.end()) {
        ++report.containers;
        report.container_bytes += c.bytes;
      }
    }
    if (!r.succeeded()) {
      report.problems.push_back(buildah_failure("buildah rm", r));
    }
  }

  for (const auto& id : plan.workspaces) {
    const tree_walk w = walk_below(data_dir / "workspaces", id, true);
    ++report.workspaces;
    report.workspace_bytes += w.bytes;
    if (!w.problem.empty()) {
      report.problems.push_back("workspace " + id + ": " + w.problem);
    }
  }

  for (const auto& service : plan.mirrors) {
    // The clone stage's lock (git::mirror_lock): a mirror being fetched or read stays. The lock
    // file stays too, so that every clone keeps locking the same file.
    const fs::path lock_path = data_dir / "mirrors" / (service + ".git.lock");
    const unique_fd lock(::open(lock_path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (lock.get() < 0 || ::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) {
      continue;  // in use (or unlockable): the next sweep tries again
    }
    const tree_walk w = walk_below(data_dir / "mirrors", service + ".git", true);
    ++report.mirrors;
    report.mirror_bytes += w.bytes;
    if (!w.problem.empty()) {
      report.problems.push_back("mirror of " + service + ": " + w.problem);
    }
  }

  if (plan.prune_images) {
    std::vector<std::string> lines;
    const child_result r = run_buildah(storage, {"rmi", "--prune"}, &lines);
    report.images = static_cast<std::size_t>(std::count_if(
        lines.begin(), lines.end(), [](const std::string& l) { return l.size() == 64; }));
    if (!r.succeeded() && report.images == 0) {
      report.problems.push_back(buildah_failure("buildah rmi --prune", r));
    }
  }
  return report;
}

std::string describe(const sweep_report& report) {
  std::string text;
  const auto add = [&](std::size_t n, const char* what, std::optional<std::uint64_t> bytes) {
    if (n > 0) {
      text += (text.empty() ? "" : ", ") + std::to_string(n) + " " + what;
      if (bytes) {
        text += " (" + mib(*bytes) + ")";
      }
    }
  };
  add(report.killed, "orphaned build process(es) killed", std::nullopt);
  add(report.containers, "build container(s)", report.container_bytes);
  add(report.workspaces, "workspace(s)", report.workspace_bytes);
  add(report.mirrors, "mirror(s) of deleted services", report.mirror_bytes);
  add(report.images, "dangling image(s)", std::nullopt);
  return text;
}

}  // namespace kiwi
