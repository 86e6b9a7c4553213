// The build stage's Dockerfile: mode auto and path find a file that stays inside the checkout,
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

using kiwi::test::memory_view;

kiwi::dockerfile_error error_of(const auto& outcome) {
  REQUIRE_MESSAGE(std::holds_alternative<kiwi::dockerfile_error>(outcome), "expected an error");
  return std::get<kiwi::dockerfile_error>(outcome);
}

kiwi::wizard_output generated(const kiwi::repo_view& repo, std::string_view language = {},
                              std::string_view framework = {}) {
  auto out = kiwi::generate_dockerfile(repo, language, framework);
  if (auto* e = std::get_if<kiwi::dockerfile_error>(&out)) {
    FAIL(e->field << ": " << e->message);
  }
  return std::get<kiwi::wizard_output>(out);
}

bool contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

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

TEST_CASE("wizard: a given language or framework the repository contradicts names the field") {
  auto node = memory_view({{"package.json", R"({"dependencies":{"express":"^4"},
                                                "scripts":{"start":"node server.js"}})"},
                           {"package-lock.json", "{}"},
                           {"server.js", ""}});
  auto e = error_of(kiwi::generate_dockerfile(node, "go", ""));
  CHECK(e.field == "dockerfile.language");
  CHECK(contains(e.message, "go.mod"));
  e = error_of(kiwi::generate_dockerfile(node, "node", "nextjs"));
  CHECK(e.field == "dockerfile.framework");
  CHECK(contains(e.message, "\"next\""));
  e = error_of(kiwi::generate_dockerfile(node, "", "flask"));
  CHECK(e.field == "dockerfile.framework");
  CHECK(contains(e.message, "node project"));
  e = error_of(kiwi::generate_dockerfile(node, "cobol", ""));
  CHECK(e.field == "dockerfile.language");
  // "plain" runs any Node.js app without framework-specific steps.
  CHECK(generated(node, "node", "plain").framework == "plain");
  CHECK(generated(node).framework == "express");

  auto flask =
      memory_view({{"requirements.txt", "flask\n"}, {"app.py", "app = Flask(__name__)\n"}});
  e = error_of(kiwi::generate_dockerfile(flask, "python", "django"));
  CHECK(e.field == "dockerfile.framework");
  CHECK(contains(e.message, "requirements.txt"));
  auto plain_pom = memory_view({{"pom.xml", "<project><artifactId>lib</artifactId></project>"},
                                {"src/main/java/A.java", ""}});
  e = error_of(kiwi::generate_dockerfile(plain_pom, "java", "spring-boot"));
  CHECK(e.field == "dockerfile.framework");
  CHECK(contains(e.message, "Spring Boot"));
}

// An unknown repository: the error says which files were looked for.
TEST_CASE("wizard: an unknown repository lists the files the wizard looks for") {
  auto e = error_of(kiwi::generate_dockerfile(memory_view({{"Makefile", "all:\n"}}), "", ""));
  CHECK(e.field == "dockerfile");
  for (const char* file : {"package.json", "requirements.txt", "pyproject.toml", "pom.xml",
                           "build.gradle", "build.gradle.kts", "go.mod"}) {
    CHECK_MESSAGE(contains(e.message, file), file);
  }
  // A pyproject.toml without [tool.poetry] (and no requirements.txt) is not enough.
  e = error_of(kiwi::generate_dockerfile(
      memory_view({{"pyproject.toml", "[project]\nname = \"x\"\n"}}), "python", ""));
  CHECK(e.field == "dockerfile.language");
}

TEST_CASE("wizard: detection details") {
  // A backend with a package.json for its assets is built as the backend; the log says so.
  auto both = generated(memory_view({{"go.mod", "module example.com/tool\n\ngo 1.23\n"},
                                     {"main.go", "package main\n\nfunc main() {}\n"},
                                     {"package.json", "{}"}}));
  CHECK(both.language == "go");
  CHECK(contains(both.dockerfile, "COPY go.mod ./\n"));  // no go.sum: no dependencies
  CHECK(contains(both.dockerfile, "-o /out/app .\n"));
  CHECK(contains(both.summary, "also found package.json"));

  // Several main packages: the one named after the module.
  auto cmds = generated(memory_view({{"go.mod", "module example.com/server\n"},
                                     {"cmd/migrate/main.go", "package main\n"},
                                     {"cmd/server/main.go", "package main\n"}}));
  CHECK(contains(cmds.dockerfile, " ./cmd/server\n"));
  CHECK(contains(cmds.summary, "other main packages: ./cmd/migrate"));

  // No lockfile: npm install, and the log warns.
  auto unlocked = generated(memory_view({{"package.json", R"({"main":"lib/app.js"})"}}));
  CHECK(contains(unlocked.dockerfile, "RUN npm install --omit=dev\n"));
  CHECK(contains(unlocked.dockerfile, R"(CMD ["node", "lib/app.js"])"));
  CHECK(contains(unlocked.summary, "no lockfile"));
  // A start script a shell must run goes through npm.
  auto scripted = generated(
      memory_view({{"package.json", R"({"scripts":{"start":"node a.js && node b.js"}})"}}));
  CHECK(contains(scripted.dockerfile, R"(CMD ["npm", "start"])"));
  auto nostart = kiwi::generate_dockerfile(memory_view({{"package.json", "{}"}}), "", "");
  CHECK(contains(error_of(nostart).message, "\"start\" script"));
  CHECK(error_of(kiwi::generate_dockerfile(memory_view({{"package.json", "{"}}), "", ""))
            .message.starts_with("package.json is not a valid JSON object"));

  // Next.js without standalone output runs next start over the pruned build.
  auto next = generated(memory_view({{"package.json", R"({"dependencies":{"next":"15.1.3"},
                                                         "scripts":{"build":"next build"}})"},
                                     {"package-lock.json", "{}"}}));
  CHECK(contains(next.dockerfile, "RUN npm run build && npm prune --omit=dev\n"));
  CHECK(contains(next.dockerfile, R"(CMD ["node_modules/.bin/next", "start"])"));
  CHECK_FALSE(contains(next.dockerfile, "public"));

  // A Flask application factory; FastAPI without uvicorn gets it added.
  auto factory = generated(memory_view(
      {{"requirements.txt", "flask>=3\ngunicorn\n"},
       {"app/__init__.py",
        "from flask import Flask\n\ndef create_app():\n    return Flask(__name__)\n"}}));
  CHECK(contains(factory.dockerfile, R"x("app:create_app()"])x"));
  CHECK_FALSE(contains(factory.dockerfile, "pip install gunicorn"));
  auto fastapi = generated(memory_view({{"requirements.txt", "fastapi==0.115.6\n"},
                                        {"app/main.py", "api: FastAPI = fastapi.FastAPI()\n"}}));
  CHECK(contains(fastapi.dockerfile, "pip install uvicorn==0.32.1"));
  CHECK(contains(fastapi.dockerfile, R"(CMD ["uvicorn", "app.main:api")"));
  // Poetry 2 style: [project] dependencies beside [tool.poetry].
  auto poetry2 = generated(memory_view(
      {{"pyproject.toml", "[project]\nname = \"api\"\ndependencies = [\"fastapi>=0.115\",\n"
                          "  'uvicorn[standard] (>=0.32)',\n]\n\n[tool.poetry]\n"
                          "package-mode = false\n"},
       {"main.py", "app = FastAPI()\n"}}));
  CHECK(poetry2.tool == "poetry");
  CHECK(poetry2.framework == "fastapi");
  CHECK_FALSE(contains(poetry2.dockerfile, "pip install uvicorn"));
  CHECK(contains(poetry2.dockerfile, "COPY pyproject.toml ./\n"));  // no poetry.lock
  auto no_app = kiwi::generate_dockerfile(memory_view({{"requirements.txt", "fastapi\n"}}), "", "");
  CHECK(contains(error_of(no_app).message, "app = FastAPI()"));

  // Django one folder down, with a settings package: gunicorn --chdir.
  auto django = generated(memory_view(
      {{"requirements.txt", "Django==5.1.4\n"},
       {"backend/manage.py",
        "os.environ.setdefault(\"DJANGO_SETTINGS_MODULE\", \"shop.settings.production\")\n"},
       {"backend/shop/settings/__init__.py", ""},
       {"backend/shop/wsgi.py", ""}}));
  CHECK(contains(django.dockerfile,
                 R"(CMD ["gunicorn", "--bind", "0.0.0.0:8000", "--chdir", "backend", )"
                 R"("shop.wsgi:application"])"));
  auto no_manage =
      kiwi::generate_dockerfile(memory_view({{"requirements.txt", "django\n"}}), "", "");
  CHECK(contains(error_of(no_manage).message, "manage.py"));

  // Maven: Spring Boot needs its plugin for an executable jar; multi-module is refused.
  auto no_plugin = kiwi::generate_dockerfile(
      memory_view({{"pom.xml", "<artifactId>spring-boot-starter-web</artifactId>"},
                   {"src/main/java/A.java", ""}}),
      "", "");
  CHECK(contains(error_of(no_plugin).message, "spring-boot-maven-plugin"));
  auto modules = kiwi::generate_dockerfile(
      memory_view({{"pom.xml", "spring-boot-maven-plugin <modules><module>a</module></modules>"}}),
      "", "");
  CHECK(contains(error_of(modules).message, "multi-module"));
}

TEST_CASE("wizard: base images can be overridden, and must be image references") {
  kiwi::wizard_images images;
  images.go_runtime = "gcr.io/distroless/static-debian12:nonroot@sha256:"
                      "6ec5aa99dc335666e79dc64e4a6c8b89c33a543a1967f20d360922a80dd21f02";
  auto repo = memory_view({{"go.mod", "module m\n"}, {"main.go", "package main\n"}});
  auto out = kiwi::generate_dockerfile(repo, "", "", images);
  REQUIRE(std::holds_alternative<kiwi::wizard_output>(out));
  CHECK(contains(std::get<kiwi::wizard_output>(out).dockerfile,
                 "FROM " + images.go_runtime + "\n"));
  images.go = "golang:1.23\nRUN curl evil";
  auto e = error_of(kiwi::generate_dockerfile(repo, "", "", images));
  CHECK(e.field == "dockerfile");
  CHECK(contains(e.message, "not an image reference"));
}

TEST_CASE("wizard choices are validated when a service is saved") {
  CHECK_FALSE(kiwi::check_wizard_choice("", ""));
  CHECK_FALSE(kiwi::check_wizard_choice("node", "nextjs"));
  CHECK_FALSE(kiwi::check_wizard_choice("", "spring-boot"));
  CHECK(kiwi::check_wizard_choice("ruby", "")->field == "dockerfile.language");
  auto e = kiwi::check_wizard_choice("python", "express");
  REQUIRE(e);
  CHECK(e->field == "dockerfile.framework");
  CHECK(contains(e->message, "flask, fastapi, django"));
  CHECK(kiwi::check_wizard_choice("", "rails")->field == "dockerfile.framework");

  kiwi::parse_context ctx;
  ctx.webhook_secret_required = false;
  auto service = [](nlohmann::json dockerfile) {
    return nlohmann::json{{"name", "shop"},
                          {"git_url", "https://git.example.com/shop.git"},
                          {"branch", "main"},
                          {"dockerfile", std::move(dockerfile)}};
  };
  try {
    kiwi::parse_service(service({{"mode", "wizard"}, {"language", "java"}, {"framework", "flask"}}),
                        ctx);
    FAIL("a framework of another language was accepted");
  } catch (const kiwi::field_error& e) {
    CHECK(e.field == "dockerfile.framework");
  }
  CHECK(kiwi::parse_service(service({{"mode", "wizard"}, {"framework", "django"}}), ctx)
            .dockerfile.framework == "django");
}

TEST_CASE("auto: the root Dockerfile, else the error lists the ones found elsewhere") {
  auto found = kiwi::locate_root_dockerfile(
      memory_view({{"Dockerfile", ""}, {"docker/Dockerfile.dev", ""}}));
  REQUIRE(std::holds_alternative<kiwi::dockerfile_location>(found));
  CHECK(std::get<kiwi::dockerfile_location>(found).path == "Dockerfile");
  CHECK(std::get<kiwi::dockerfile_location>(found).context == ".");

  auto e = error_of(kiwi::locate_root_dockerfile(memory_view({{"services/web/web.Dockerfile", ""},
                                                              {"api/Dockerfile", ""},
                                                              {"Dockerfile.prod", ""},
                                                              {"README.md", ""},
                                                              {"docs/dockerfiles.md", ""}})));
  CHECK(e.field == "dockerfile");
  // Shallowest first: the suggestion is the likeliest one.
  CHECK(contains(e.message, "found Dockerfile.prod, api/Dockerfile, services/web/web.Dockerfile."));
  CHECK(contains(e.message, R"("dockerfile": {"mode":"path","path":"Dockerfile.prod"})"));
  CHECK(contains(e.message, R"({"mode":"wizard"})"));
  CHECK_FALSE(contains(e.message, "dockerfiles.md"));

  memory_view many;
  for (int i = 0; i < 14; ++i) {
    many.add("svc" + std::to_string(10 + i) + "/Dockerfile", "");
  }
  e = error_of(kiwi::locate_root_dockerfile(many));
  CHECK(contains(e.message, "svc19/Dockerfile (and 4 more)"));
  CHECK_FALSE(contains(e.message, "svc20/"));

  e = error_of(kiwi::locate_root_dockerfile(memory_view({{"main.go", ""}})));
  CHECK(contains(e.message, "no Dockerfile in the repository"));
  CHECK(contains(e.message, R"({"mode":"wizard"})"));
}

TEST_CASE("path: the Dockerfile and the context must stay inside the checkout") {
  temp_dir t;
  const fs::path repo = t.path / "repo";
  const fs::path outside = t.path / "outside";
  write(repo / "docker" / "api.Dockerfile", "FROM scratch\n");
  write(repo / "services" / "api" / "main.go", "");
  write(outside / "Dockerfile", "FROM scratch\n");
  fs::create_symlink(outside / "Dockerfile", repo / "escape.Dockerfile");
  fs::create_symlink(outside, repo / "linked");
  fs::create_symlink("docker/api.Dockerfile", repo / "Dockerfile");  // inside: allowed
  fs::create_symlink(repo / "missing", repo / "dangling");

  auto ok = kiwi::resolve_dockerfile_path(repo, "./docker//api.Dockerfile", "services/api/");
  REQUIRE(std::holds_alternative<kiwi::dockerfile_location>(ok));
  CHECK(std::get<kiwi::dockerfile_location>(ok).path == "docker/api.Dockerfile");
  CHECK(std::get<kiwi::dockerfile_location>(ok).context == "services/api");
  auto root = kiwi::resolve_dockerfile_path(repo, "Dockerfile", "");
  REQUIRE(std::holds_alternative<kiwi::dockerfile_location>(root));
  CHECK(std::get<kiwi::dockerfile_location>(root).context == ".");

  auto path_error = [&](std::string_view path) {
    auto e = error_of(kiwi::resolve_dockerfile_path(repo, path, "."));
    CHECK(e.field == "dockerfile.path");
    return e.message;
  };
  CHECK(contains(path_error("/etc/passwd"), "relative to the repository"));
  CHECK(contains(path_error("docker/../../outside/Dockerfile"), "no \"..\""));
  CHECK(contains(path_error("escape.Dockerfile"), "outside the repository"));
  CHECK(contains(path_error("linked/Dockerfile"), "outside the repository"));
  CHECK(contains(path_error("dangling"), "symbolic link to nothing"));
  CHECK(contains(path_error("docker"), "not a file"));
  CHECK(contains(path_error(""), "is required"));
  const std::string missing = path_error("api/Dockerfile");
  CHECK(contains(missing, "\"api/Dockerfile\" does not exist"));
  CHECK(contains(missing, "Dockerfiles found: docker/api.Dockerfile"));

  auto context_error = [&](std::string_view context) {
    auto e = error_of(kiwi::resolve_dockerfile_path(repo, "docker/api.Dockerfile", context));
    CHECK(e.field == "dockerfile.context");
    return e.message;
  };
  CHECK(contains(context_error(".."), "no \"..\""));
  CHECK(contains(context_error("/"), "relative to the repository"));
  CHECK(contains(context_error("linked"), "outside the repository"));
  CHECK(contains(context_error("docker/api.Dockerfile"), "must be a folder"));
  CHECK(contains(context_error("web"), "not a folder in the repository"));
}

TEST_CASE("directory_view lists and reads regular files inside the checkout only") {
  temp_dir t;
  const fs::path repo = t.path / "repo";
  write(repo / "package.json", "{}");
  write(repo / "src" / "index.js", "x");
  write(repo / ".git" / "config", "[core]");
  write(repo / "big.bin", std::string(100, 'x'));
  write(t.path / "secret", "s3cret");
  fs::create_symlink(t.path / "secret", repo / "link");
  fs::create_symlink(t.path, repo / "up");

  kiwi::directory_view view(repo);
  CHECK(view.files() == std::vector<std::string>{"big.bin", "package.json", "src/index.js"});
  CHECK(view.read("src/index.js", 10) == "x");
  CHECK(view.read("big.bin", 99) == std::nullopt);
  CHECK(view.read("big.bin", 100) == std::string(100, 'x'));
  CHECK(view.read("link", 100) == std::nullopt);
  CHECK(view.read("up/secret", 100) == std::nullopt);
  CHECK(view.read("../secret", 100) == std::nullopt);
  CHECK(view.read(".git/config", 100) == std::nullopt);
  CHECK(view.read("/etc/hostname", 100) == std::nullopt);
  CHECK(view.read("src", 100) == std::nullopt);
  CHECK(kiwi::directory_view(repo, 2).files().size() == 2);
}
