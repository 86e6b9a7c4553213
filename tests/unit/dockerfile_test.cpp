// The Dockerfile wizard (mode wizard; auto and path are in dockerfile_location_test.cpp):
// the wizard generates the golden Dockerfile and .dockerignore for each kind of project, and
// buildah's parser accepts what the wizard writes.

#include <doctest/doctest.h>

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/build/dockerfile.hpp"
#include "common/git/repo_view.hpp"
#include "tests/unit/dockerfile_checks.hpp"
#include "tests/unit/memory_view.hpp"
#include "common/config/resources.hpp"

namespace fs = std::filesystem;

namespace {

const fs::path wizard_fixtures = fs::path(KIWI_FIXTURES_DIR) / "wizard";

// A private directory, removed with everything in it.
struct temp_dir {
  temp_dir() {
    std::string pattern = (fs::temp_directory_path() / "kiwi-dockerfile-XXXXXX").string();
    REQUIRE(mkdtemp(pattern.data()) != nullptr);
    path = pattern;
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  fs::path path;
};

void write(const fs::path& file, std::string_view text) {
  fs::create_directories(file.parent_path());
  std::ofstream out(file, std::ios::binary);
  out << text;
  REQUIRE(out.good());
}

std::string read(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

using kiwi::test::contains;
using kiwi::test::error_of;
using kiwi::test::generated;
using kiwi::test::memory_view;

struct command_result {
  int status = -1;
  std::string output;  // stdout and stderr
};

command_result run(const std::string& command) {
  command_result r;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::array<char, 4096> buf{};
  while (std::size_t n = std::fread(buf.data(), 1, buf.size(), pipe)) {
    r.output.append(buf.data(), n);
  }
  const int status = pclose(pipe);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// The cases the golden tests must cover (more directories are picked up as they are added).
struct golden_case {
  const char* name;
  const char* language;
  const char* framework;
  const char* tool;
};
constexpr golden_case required_cases[] = {
    {"node-npm-plain", "node", "plain", "npm"},
    {"node-yarn-express", "node", "express", "yarn"},
    {"node-pnpm-nextjs", "node", "nextjs", "pnpm"},
    {"node-npm-nestjs", "node", "nestjs", "npm"},
    {"python-pip-flask", "python", "flask", "pip"},
    {"python-pip-fastapi", "python", "fastapi", "pip"},
    {"python-poetry-django", "python", "django", "poetry"},
    {"java-maven-spring-boot", "java", "spring-boot", "maven"},
    {"java-gradle-spring-boot", "java", "spring-boot", "gradle"},
    {"go", "go", "plain", "go"},
};

std::vector<fs::path> golden_dirs() {
  std::vector<fs::path> dirs;
  for (const auto& entry : fs::directory_iterator(wizard_fixtures)) {
    if (entry.is_directory()) {
      dirs.push_back(entry.path());
    }
  }
  std::sort(dirs.begin(), dirs.end());
  return dirs;
}

// The instructions of a Dockerfile, one per logical line (continuations joined).
std::vector<std::string> instructions(std::string_view dockerfile) {
  std::vector<std::string> out;
  std::string current;
  std::istringstream in{std::string(dockerfile)};
  for (std::string line; std::getline(in, line);) {
    if (current.empty() && (line.empty() || line.front() == '#')) {
      continue;
    }
    if (!line.empty() && line.back() == '\\') {
      current += line.substr(0, line.size() - 1);
      continue;
    }
    out.push_back(current + line);
    current.clear();
  }
  return out;
}

}  // namespace

TEST_CASE("wizard: each fixture repository gives its golden Dockerfile and .dockerignore") {
  const bool update = std::getenv("KIWI_UPDATE_GOLDENS") != nullptr &&
                      std::string_view(std::getenv("KIWI_UPDATE_GOLDENS")) == "1";
  std::set<std::string> seen;
  for (const auto& dir : golden_dirs()) {
    const std::string name = dir.filename().string();
    CAPTURE(name);
    seen.insert(name);
    auto out = generated(kiwi::directory_view(dir / "repo"));
    if (update) {
      write(dir / "Dockerfile", out.dockerfile);
      write(dir / ".dockerignore", out.dockerignore);
      MESSAGE("rewrote the goldens of " << name);
    }
    CHECK(out.dockerfile == read(dir / "Dockerfile"));
    CHECK(out.dockerignore == read(dir / ".dockerignore"));
    for (const auto& c : required_cases) {
      if (name == c.name) {
        CHECK(out.language == c.language);
        CHECK(out.framework == c.framework);
        CHECK(out.tool == c.tool);
        const std::string kind = out.language == "go"
                                     ? out.language
                                     : out.language + "/" + out.framework + " via " + out.tool;
        CHECK(out.summary.starts_with(kind));
      }
    }
  }
  for (const auto& c : required_cases) {
    CHECK_MESSAGE(seen.contains(c.name), "missing fixture " << c.name);
  }
}

// The build log says what was detected.
TEST_CASE("wizard: the summary names language, framework and tool") {
  auto fixture = [](const char* name) {
    return generated(kiwi::directory_view(wizard_fixtures / name / "repo")).summary;
  };
  CHECK(fixture("node-yarn-express") == "node/express via yarn");
  CHECK(fixture("node-pnpm-nextjs") == "node/nextjs via pnpm, standalone output");
  CHECK(fixture("python-pip-flask") ==
        "python/flask via pip, served by gunicorn app:app (gunicorn added: not a dependency)");
  CHECK(fixture("python-poetry-django") ==
        "python/django via poetry, served by gunicorn mysite.wsgi:application");
  CHECK(fixture("go") == "go via go modules, main package ./cmd/api");
}

// Every generated Dockerfile is multi-stage, pinned, non-root, exposes the usual port, and only
// refers to stages it defines.
TEST_CASE("wizard: generated Dockerfiles are multi-stage, pinned, non-root and expose a port") {
  static const std::set<std::string> known = {"FROM",   "RUN",        "CMD",  "LABEL", "EXPOSE",
                                              "ENV",    "ADD",        "COPY", "ENTRYPOINT",
                                              "VOLUME", "USER",       "WORKDIR", "ARG",
                                              "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL"};
  const std::map<std::string, std::string> ports = {
      {"node", "3000"}, {"python", "8000"}, {"java", "8080"}, {"go", "8080"}};
  for (const auto& dir : golden_dirs()) {
    CAPTURE(dir.filename().string());
    auto out = generated(kiwi::directory_view(dir / "repo"));
    std::set<std::string> stages;
    std::size_t froms = 0;
    std::string last_user, exposed;
    for (const auto& line : instructions(out.dockerfile)) {
      CAPTURE(line);
      std::istringstream words(line);
      std::string keyword, image, as, stage;
      words >> keyword;
      CHECK(known.contains(keyword));
      if (keyword == "FROM") {
        ++froms;
        words >> image >> as >> stage;
        // Pinned: an explicit tag (or digest) that is not "latest".
        const auto name_end = image.rfind('/') == std::string::npos ? 0 : image.rfind('/');
        CHECK(image.find(':', name_end) != std::string::npos);
        CHECK_FALSE(image.ends_with(":latest"));
        if (as == "AS") {
          stages.insert(stage);
        }
        last_user.clear();
        exposed.clear();
      }
      if (auto from = line.find("--from="); keyword == "COPY" && from != std::string::npos) {
        const std::string ref = line.substr(from + 7, line.find(' ', from) - from - 7);
        CHECK_MESSAGE(stages.contains(ref), "COPY from undefined stage " << ref);
      }
      if (keyword == "USER") {
        words >> last_user;
      }
      if (keyword == "EXPOSE") {
        words >> exposed;
      }
    }
    CHECK(froms >= 2);
    CHECK_FALSE(last_user.empty());
    CHECK_FALSE(last_user.starts_with("0"));
    CHECK_FALSE(last_user.starts_with("root"));
    CHECK(exposed == ports.at(out.language));
  }
}

TEST_CASE("wizard: buildah parses every generated Dockerfile, and rejects a broken one") {
  if (run("command -v buildah").status != 0) {
    MESSAGE("buildah is not installed: skipping the parser check");
    return;
  }
  // buildah parses the whole file before it looks for the first base image; --pull=never and an
  // empty private store make a valid file fail on that image instead.
  auto bud = [](std::string_view dockerfile, std::string_view dockerignore) {
    temp_dir t;
    write(t.path / "context" / "Dockerfile", dockerfile);
    write(t.path / "context" / ".dockerignore", dockerignore);
    const std::string root = t.path.string();
    return run("cd '" + root + "/context' && timeout 120 buildah --root '" + root +
               "/storage' --runroot '" + root +
               "/run' --storage-driver vfs bud --pull=never -f Dockerfile .");
  };
  auto first_image = [](std::string_view dockerfile) {
    for (const auto& line : instructions(dockerfile)) {
      if (line.starts_with("FROM ")) {
        std::istringstream words(line.substr(5));
        std::string image;
        words >> image;
        return image;
      }
    }
    return std::string();
  };
  for (const auto& dir : golden_dirs()) {
    CAPTURE(dir.filename().string());
    auto out = generated(kiwi::directory_view(dir / "repo"));
    auto result = bud(out.dockerfile, out.dockerignore);
    CAPTURE(result.output);
    CHECK(result.status != 0);
    CHECK(contains(result.output, first_image(out.dockerfile) + ": image not known"));
    CHECK_FALSE(contains(result.output, "parsing"));
  }

  // The check can fail: a broken instruction is a parse error, reported before any image.
  auto out = generated(kiwi::directory_view(wizard_fixtures / "node-npm-plain" / "repo"));
  std::string broken = out.dockerfile;
  const auto env = broken.find("ENV NODE_ENV=production PORT=3000");
  REQUIRE(env != std::string::npos);
  broken.replace(env, std::string_view("ENV NODE_ENV=production PORT=3000").size(), "ENV NODE_ENV");
  auto result = bud(broken, out.dockerignore);
  CAPTURE(result.output);
  CHECK(result.status != 0);
  CHECK(contains(result.output, "ENV must have two arguments"));
  CHECK_FALSE(contains(result.output, "image not known"));
}
