#include "common/build/dockerfile.hpp"

#include <algorithm>
#include <cctype>
#include <set>
#include <system_error>

#include <nlohmann/json.hpp>

#include "common/base/text.hpp"

namespace kiwi {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// Manifests and sources the wizard reads; larger files are treated as unreadable.
constexpr std::size_t manifest_limit = 1024 * 1024;
constexpr std::size_t listed_dockerfiles = 10;

// Tools the generated Dockerfiles install when the project does not pin them itself.
constexpr std::string_view poetry_version = "1.8.5";
constexpr std::string_view gunicorn_version = "23.0.0";
constexpr std::string_view uvicorn_version = "0.32.1";

// UIDs of the runtime stages' users: numeric, so that Kubernetes' runAsNonRoot can verify them.
constexpr std::string_view node_user = "1000:1000";  // the node image's "node" user
constexpr std::string_view app_user = "10001:10001";  // created by the generated Dockerfile
constexpr std::string_view distroless_user = "65532:65532";  // distroless "nonroot"

dockerfile_error error(std::string field, std::string message) {
  return {std::move(field), std::move(message)};
}

std::string_view basename(std::string_view path) {
  auto slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

std::string_view dirname(std::string_view path) {
  auto slash = path.rfind('/');
  return slash == std::string_view::npos ? std::string_view() : path.substr(0, slash);
}

std::size_t depth(std::string_view path) {
  return static_cast<std::size_t>(std::count(path.begin(), path.end(), '/'));
}

bool is_dockerfile_name(std::string_view name) {
  const std::string n = to_lower_ascii(name);
  return n == "dockerfile" || n.ends_with(".dockerfile") || n.starts_with("dockerfile.");
}

std::string join(const std::vector<std::string>& items, std::string_view sep) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) {
      out += sep;
    }
    out += item;
  }
  return out;
}

// "a, b, c (and 4 more)"
std::string list_some(const std::vector<std::string>& items) {
  std::vector<std::string> shown(items.begin(),
                                 items.begin() + static_cast<std::ptrdiff_t>(
                                                     std::min(items.size(), listed_dockerfiles)));
  std::string out = join(shown, ", ");
  if (items.size() > shown.size()) {
    out += " (and " + std::to_string(items.size() - shown.size()) + " more)";
  }
  return out;
}

// A JSON string: also the quoting of a Dockerfile's exec-form arguments.
std::string json_string(std::string_view s) { return json(std::string(s)).dump(); }

std::string exec_form(const std::vector<std::string>& args) {
  std::string out = "[";
  for (const auto& a : args) {
    out += (out.size() > 1 ? ", " : "") + json_string(a);
  }
  return out + "]";
}

// Characters safe to put unquoted in a Dockerfile line and a shell command.
bool plain_path(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-' ||
           c == '/' || c == '@';
  });
}

bool python_identifier(std::string_view s) {
  return !s.empty() && !std::isdigit(static_cast<unsigned char>(s.front())) &&
         std::all_of(s.begin(), s.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
         });
}

bool dotted_module(std::string_view s) {
  while (true) {
    auto dot = s.find('.');
    if (!python_identifier(s.substr(0, dot))) {
      return false;
    }
    if (dot == std::string_view::npos) {
      return true;
    }
    s.remove_prefix(dot + 1);
  }
}

// An owned copy without surrounding white space.
std::string trimmed(std::string_view s) { return std::string(trim_whitespace(s)); }

std::vector<std::string> lines_of(std::string_view text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string_view::npos) {
      end = text.size();
    }
    std::string line(text.substr(start, end - start));
    if (!line.empty() && line.back() == '\r') {
      line.pop_back();
    }
    out.push_back(std::move(line));
    start = end + 1;
  }
  return out;
}

// The repository as the wizard sees it: the file list once, reads capped.
class project_files {
 public:
  explicit project_files(const repo_view& repo) : repo_(repo) {
    for (auto& f : repo.files()) {
      files_.insert(std::move(f));
    }
  }
  bool has(std::string_view path) const { return files_.contains(std::string(path)); }
  bool has_dir(std::string_view dir) const {
    const std::string prefix = std::string(dir) + "/";
    auto it = files_.lower_bound(prefix);
    return it != files_.end() && it->starts_with(prefix);
  }
  std::optional<std::string> read(std::string_view path) const {
    return repo_.read(path, manifest_limit);
  }
  const std::set<std::string>& all() const { return files_; }

 private:
  const repo_view& repo_;
  std::set<std::string> files_;
};

// One language's output: the two files, and notes for the build log.
struct generated {
  std::string dockerfile;
  std::string dockerignore;
  std::vector<std::string> notes;  // appended to the summary
};

std::string header(std::string_view summary) {
  return "# Generated by Kiwi's Dockerfile wizard (docs/build.md): " + std::string(summary) +
         ".\n# To change it, commit your own Dockerfile and set the service's dockerfile mode "
         "to auto or path.\n";
}

std::string ignore_header() { return "# Generated by Kiwi's Dockerfile wizard (docs/build.md).\n"; }

// Entries every generated .dockerignore starts with: VCS data, the build files themselves and
// local secrets never belong in an image.
std::string common_ignores() {
  return ".git\n"
         ".dockerignore\n"
         "Dockerfile\n"
         "**/.DS_Store\n"
         ".env\n"
         ".env.local\n"
         ".env.*.local\n";
}

// ---------------------------------------------------------------------------------------------
// Node.js

struct node_project {
  std::string framework;  // plain | express | nextjs | nestjs
  std::string tool;       // npm | yarn | pnpm
  bool yarn_berry = false;
  std::string lockfile;   // empty: none
  std::vector<std::string> manifests;  // copied before the install
  bool has_build = false;
  bool next_standalone = false;
  std::vector<std::string> command;  // CMD of the runtime stage
};

bool has_dependency(const json& package, std::string_view name) {
  for (const char* section : {"dependencies", "devDependencies"}) {
    auto it = package.find(section);
    if (it != package.end() && it->is_object() && it->contains(std::string(name))) {
      return true;
    }
  }
  return false;
}

std::string script(const json& package, const char* name) {
  auto scripts = package.find("scripts");
  if (scripts == package.end() || !scripts->is_object()) {
    return {};
  }
  auto it = scripts->find(name);
  return it != scripts->end() && it->is_string() ? it->get<std::string>() : std::string();
}

// "node dist/main.js" → ["node", "dist/main.js"]; nullopt for anything a shell must run.
std::optional<std::vector<std::string>> node_command(std::string_view script_text) {
  std::vector<std::string> args;
  std::string current;
  for (char c : script_text) {
    if (std::string_view("&|;$<>`'\"\\()*?").find(c) != std::string_view::npos) {
      return std::nullopt;
    }
    if (c == ' ' || c == '\t') {
      if (!current.empty()) {
        args.push_back(std::move(current));
        current.clear();
      }
    } else {
      current.push_back(c);
    }
  }
  if (!current.empty()) {
    args.push_back(std::move(current));
  }
  if (args.size() < 2 || args.front() != "node") {
    return std::nullopt;
  }
  return args;
}

std::variant<node_project, dockerfile_error> detect_node(const project_files& files,
                                                         std::string_view framework) {
  auto text = files.read("package.json");
  if (!text) {
    return error("dockerfile", "package.json could not be read (larger than 1 MiB?)");
  }
  json package = json::parse(*text, nullptr, false);
  if (package.is_discarded() || !package.is_object()) {
    return error("dockerfile", "package.json is not a valid JSON object; fix it or write a "
                               "Dockerfile");
  }
  node_project p;

  // Package manager: the packageManager field, else the lockfile.
  std::string declared;
  if (auto pm = package.find("packageManager"); pm != package.end() && pm->is_string()) {
    const std::string value = pm->get<std::string>();
    const auto at = value.find('@');
    declared = value.substr(0, at);
    if (declared == "yarn") {
      const std::string version = at == std::string::npos ? "" : value.substr(at + 1);
      p.yarn_berry = !version.empty() && version.front() != '1';
    }
  }
  if (declared == "pnpm" || (declared.empty() && files.has("pnpm-lock.yaml"))) {
    p.tool = "pnpm";
    p.lockfile = files.has("pnpm-lock.yaml") ? "pnpm-lock.yaml" : "";
  } else if (declared == "yarn" || (declared.empty() && files.has("yarn.lock"))) {
    p.tool = "yarn";
    p.lockfile = files.has("yarn.lock") ? "yarn.lock" : "";
    if (declared.empty()) {
      auto lock = files.read("yarn.lock");
      p.yarn_berry = files.has(".yarnrc.yml") ||
                     (lock && lock->find("__metadata:") != std::string::npos);
    }
  } else {
    p.tool = "npm";
    p.lockfile = files.has("package-lock.json")     ? "package-lock.json"
                 : files.has("npm-shrinkwrap.json") ? "npm-shrinkwrap.json"
                                                    : "";
  }
  p.manifests = {"package.json"};
  if (!p.lockfile.empty()) {
    p.manifests.push_back(p.lockfile);
  }
  if (p.tool != "yarn" && files.has(".npmrc")) {
    p.manifests.push_back(".npmrc");
  }
  if (p.tool == "yarn" && files.has(p.yarn_berry ? ".yarnrc.yml" : ".yarnrc")) {
    p.manifests.push_back(p.yarn_berry ? ".yarnrc.yml" : ".yarnrc");
  }

  // Framework: as given (checked against the dependencies), else the most specific one found.
  const bool next = has_dependency(package, "next");
  const bool nest = has_dependency(package, "@nestjs/core");
  const bool express = has_dependency(package, "express");
  if (!framework.empty()) {
    const bool present = framework == "plain" || (framework == "nextjs" && next) ||
                         (framework == "nestjs" && nest) || (framework == "express" && express);
    if (!present) {
      const char* dep = framework == "nextjs" ? "next" : framework == "nestjs" ? "@nestjs/core"
                                                                                : "express";
      return error("dockerfile.framework",
                   "is " + std::string(framework) + " but package.json does not depend on \"" +
                       dep + "\"; fix the framework or leave it out to detect it");
    }
    p.framework = std::string(framework);
  } else {
    p.framework = next ? "nextjs" : nest ? "nestjs" : express ? "express" : "plain";
  }

  p.has_build = !script(package, "build").empty();
  if (p.framework == "nextjs") {
    for (const char* config : {"next.config.js", "next.config.mjs", "next.config.ts"}) {
      auto text = files.read(config);
      p.next_standalone =
          p.next_standalone || (text && text->find("standalone") != std::string::npos);
    }
    p.command = p.next_standalone ? std::vector<std::string>{"node", "server.js"}
                                  : std::vector<std::string>{"node_modules/.bin/next", "start"};
    return p;
  }
  if (p.framework == "nestjs") {
    auto prod = node_command(script(package, "start:prod"));
    p.command = prod ? *prod : std::vector<std::string>{"node", "dist/main.js"};
    return p;
  }
  const std::string start = script(package, "start");
  if (auto direct = node_command(start)) {
    p.command = *direct;
  } else if (!start.empty()) {
    p.command = {"npm", "start"};
  } else if (auto main = package.find("main"); main != package.end() && main->is_string() &&
                                               !main->get<std::string>().empty()) {
    p.command = {"node", main->get<std::string>()};
  } else {
    for (const char* entry : {"server.js", "index.js", "app.js", "main.js"}) {
      if (files.has(entry)) {
        p.command = {"node", entry};
        break;
      }
    }
  }
  if (p.command.empty()) {
    return error("dockerfile", "cannot tell how to start the app: add a \"start\" script to "
                               "package.json (e.g. \"node server.js\")");
  }
  return p;
}

// Install commands: all dependencies (build), production only (runtime).
std::string node_install(const node_project& p, bool production) {
  const bool frozen = !p.lockfile.empty();
  if (p.tool == "pnpm") {
    return std::string("pnpm install") + (frozen ? " --frozen-lockfile" : "") +
           (production ? " --prod" : "");
  }
  if (p.tool == "yarn") {
    if (p.yarn_berry) {
      return frozen ? "yarn install --immutable" : "yarn install";
    }
    return std::string("yarn install") + (frozen ? " --frozen-lockfile" : "") +
           (production ? " --production" : "");
  }
  return std::string(frozen ? "npm ci" : "npm install") + (production ? " --omit=dev" : "");
}

// Drops the dev dependencies after a build (Yarn 2+ has no equivalent without a plugin).
std::string node_prune(const node_project& p) {
  if (p.tool == "pnpm") {
    return " && pnpm prune --prod";
  }
  if (p.tool == "yarn") {
    return p.yarn_berry ? ""
                        : " && " + node_install(p, true) + " --ignore-scripts --prefer-offline";
  }
  return " && npm prune --omit=dev";
}

// The lines that prepare a stage to run the package manager.
std::string node_tool_setup(const node_project& p) {
  std::string out;
  if (p.tool == "pnpm" || p.yarn_berry) {
    out += "ENV COREPACK_ENABLE_DOWNLOAD_PROMPT=0\nRUN corepack enable\n";
  }
  if (p.yarn_berry) {
    out += "ENV YARN_NODE_LINKER=node-modules\n";
  }
  return out;
}

generated render_node(const node_project& p, const project_files& files,
                      const wizard_images& images, std::string_view summary) {
  generated g;
  std::string& d = g.dockerfile;
  d = header(summary);
  const std::string manifests = join(p.manifests, " ");
  const std::string from = "FROM " + images.node;
  if (p.lockfile.empty()) {
    g.notes.push_back("no lockfile: dependency versions are not pinned");
  }
  if (p.yarn_berry) {
    g.notes.push_back("Yarn 2+: the image keeps dev dependencies");
  }

  const bool build = p.has_build || p.framework == "nextjs" || p.framework == "nestjs";
  if (build) {
    d += "\n# Build stage: dependencies first (cached while the manifests are unchanged), then "
         "the source.\n";
    d += from + " AS build\n";
    d += node_tool_setup(p);
    if (p.framework == "nextjs") {
      d += "ENV NEXT_TELEMETRY_DISABLED=1\n";
    }
    d += "WORKDIR /app\n";
    d += "COPY " + manifests + " ./\n";
    d += "RUN " + node_install(p, false) + "\n";
    d += "COPY . .\n";
    std::string build_cmd = p.has_build ? p.tool + " run build"
                            : p.framework == "nextjs" ? "node_modules/.bin/next build"
                                                      : "node_modules/.bin/nest build";
    if (!(p.framework == "nextjs" && p.next_standalone)) {
      build_cmd += node_prune(p);  // the runtime copies /app, so only production modules stay
    }
    d += "RUN " + build_cmd + "\n";
  } else {
    d += "\n# Dependency stage: production dependencies only, cached while the manifests are "
         "unchanged.\n";
    d += from + " AS deps\n";
    d += node_tool_setup(p);
    d += "WORKDIR /app\n";
    d += "COPY " + manifests + " ./\n";
    d += "RUN " + node_install(p, true) + "\n";
  }

  d += "\n# Runtime stage: Node.js, the app and its production dependencies, run by the image's "
       "user \"node\".\n";
  d += from + "\n";
  d += "ENV NODE_ENV=production PORT=3000\n";
  if (p.framework == "nextjs") {
    d += "ENV NEXT_TELEMETRY_DISABLED=1 HOSTNAME=0.0.0.0\n";
  }
  d += "WORKDIR /app\n";
  if (p.framework == "nextjs" && p.next_standalone) {
    // .next is writable by the app: Next.js keeps its cache there.
    d += "COPY --from=build --chown=" + std::string(node_user) + " /app/.next/standalone ./\n";
    d += "COPY --from=build --chown=" + std::string(node_user) +
         " /app/.next/static ./.next/static\n";
    if (files.has_dir("public")) {
      d += "COPY --from=build /app/public ./public\n";
    }
  } else if (p.framework == "nextjs") {
    d += "COPY --from=build --chown=" + std::string(node_user) + " /app ./\n";
  } else if (build) {
    d += "COPY --from=build /app ./\n";
  } else {
    d += "COPY --from=deps /app/node_modules ./node_modules\n";
    d += "COPY . .\n";
  }
  d += "USER " + std::string(node_user) + "\n";
  d += "EXPOSE 3000\n";
  d += "CMD " + exec_form(p.command) + "\n";

  g.dockerignore = ignore_header() + common_ignores() +
                   "**/node_modules\n"
                   "npm-debug.log*\n"
                   "yarn-debug.log*\n"
                   "yarn-error.log*\n"
                   ".pnpm-store\n"
                   "coverage\n";
  if (p.framework == "nextjs") {
    g.dockerignore += ".next\n";
  }
  if (build && p.framework != "nextjs") {
    g.dockerignore += "dist\n";
  }
  return g;
}

// ---------------------------------------------------------------------------------------------
// Python

struct python_project {
  std::string framework;  // flask | fastapi | django
  std::string tool;       // pip | poetry
  std::vector<std::string> manifests;
  std::vector<std::string> command;
  std::string server_package;  // installed by the Dockerfile when not a dependency; else empty
};

// A requirement's distribution name, normalised: "Flask[async]>=3" → "flask".
std::string requirement_name(std::string_view spec) {
  std::string name;
  for (char c : spec) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.') {
      name.push_back(c == '_' || c == '.' ? '-' : static_cast<char>(std::tolower(
                                                      static_cast<unsigned char>(c))));
    } else {
      break;
    }
  }
  return name;
}

std::set<std::string> requirements_txt(std::string_view text) {
  std::set<std::string> out;
  for (const auto& raw : lines_of(text)) {
    std::string line = trimmed(raw.substr(0, raw.find('#')));
    if (line.empty() || line.front() == '-') {
      continue;
    }
    if (auto name = requirement_name(line); !name.empty()) {
      out.insert(name);
    }
  }
  return out;
}

bool poetry_pyproject(std::string_view text) {
  for (const auto& line : lines_of(text)) {
    if (trimmed(line) == "[tool.poetry]") {
      return true;
    }
  }
  return false;
}

// Adds the names of the quoted requirements in one line of a TOML array; false once the array
// closes.
bool scan_requirement_array(std::string_view line, std::set<std::string>& out) {
  for (std::size_t q = line.find_first_of("\"'"); q != std::string_view::npos;) {
    const auto end = line.find(line[q], q + 1);
    if (end == std::string_view::npos) {
      break;
    }
    if (auto name = requirement_name(line.substr(q + 1, end - q - 1)); !name.empty()) {
      out.insert(name);
    }
    q = line.find_first_of("\"'", end + 1);
  }
  return line.find(']') == std::string_view::npos;
}

// Main dependencies of a pyproject.toml: [tool.poetry.dependencies] keys and the strings of
// [project] dependencies = [...]. Enough TOML for manifests, not a TOML parser.
std::set<std::string> pyproject_dependencies(std::string_view text) {
  std::set<std::string> out;
  std::string table;
  bool in_array = false;
  for (const auto& raw : lines_of(text)) {
    const std::string line = trimmed(raw);
    if (in_array) {
      in_array = scan_requirement_array(line, out);
    } else if (line.starts_with("[")) {
      table = line;
    } else if (line.empty() || line.front() == '#') {
      continue;
    } else if (table == "[tool.poetry.dependencies]") {
      std::string key = trimmed(line.substr(0, line.find('=')));
      if (key.size() >= 2 && (key.front() == '"' || key.front() == '\'')) {
        key = key.substr(1, key.size() - 2);
      }
      if (auto name = requirement_name(key); !name.empty() && name != "python") {
        out.insert(name);
      }
    } else if (table == "[project]" && line.starts_with("dependencies")) {
      if (auto bracket = line.find('['); bracket != std::string::npos) {
        in_array = scan_requirement_array(std::string_view(line).substr(bracket + 1), out);
      }
    }
  }
  return out;
}

// "app:app" for a module-level `app = Flask(__name__)` (or FastAPI()); "app:create_app()" for a
// Flask application factory.
std::optional<std::string> find_app_object(const project_files& files, std::string_view cls) {
  static constexpr std::string_view candidates[] = {
      "main.py", "app.py", "wsgi.py", "asgi.py", "application.py", "server.py",
      "app/main.py", "app/__init__.py", "app/app.py"};
  const std::string lower_cls = to_lower_ascii(cls);
  std::optional<std::string> factory;
  for (auto file : candidates) {
    if (!files.has(file)) {
      continue;
    }
    auto text = files.read(file);
    if (!text) {
      continue;
    }
    std::string module(file.substr(0, file.size() - 3));
    if (module.ends_with("/__init__")) {
      module.resize(module.size() - 9);
    }
    std::replace(module.begin(), module.end(), '/', '.');
    for (const auto& line : lines_of(*text)) {
      if (line.empty() || !(std::isalpha(static_cast<unsigned char>(line.front())) ||
                            line.front() == '_')) {
        continue;
      }
      auto eq = line.find('=');
      if (eq != std::string::npos && eq + 1 < line.size() && line[eq + 1] != '=') {
        std::string name = trimmed(line.substr(0, std::min(eq, line.find(':'))));
        std::string value = trimmed(line.substr(eq + 1));
        const std::string call = std::string(cls) + "(";
        if (python_identifier(name) &&
            (value.starts_with(call) || value.starts_with(lower_cls + "." + call))) {
          return module + ":" + name;
        }
      }
      if (cls == "Flask" && !factory && line.starts_with("def create_app(")) {
        factory = module + ":create_app()";
      }
    }
  }
  return factory;
}

// The directory holding manage.py ("" for the root) and the WSGI module
// ("mysite.wsgi:application"), from DJANGO_SETTINGS_MODULE in manage.py.
std::variant<std::pair<std::string, std::string>, dockerfile_error> find_django_wsgi(
    const project_files& files) {
  std::optional<std::string> manage;
  for (const auto& f : files.all()) {
    if (basename(f) == "manage.py" && depth(f) <= 1 && (!manage || depth(f) < depth(*manage))) {
      manage = f;
    }
  }
  if (!manage) {
    return error("dockerfile", "Django project without manage.py at the root (or one folder "
                               "down); the wizard finds the WSGI module from it");
  }
  const std::string dir(dirname(*manage));
  const std::string prefix = dir.empty() ? "" : dir + "/";
  std::string settings;
  if (auto text = files.read(*manage)) {
    auto key = text->find("DJANGO_SETTINGS_MODULE");
    if (key != std::string::npos) {
      auto p = key + std::string_view("DJANGO_SETTINGS_MODULE").size();
      if (p < text->size() && (text->at(p) == '"' || text->at(p) == '\'')) {
        ++p;  // the key's closing quote
      }
      auto open = text->find_first_of("\"'", p);
      if (open != std::string::npos && text->find('\n', p) > open) {
        auto close = text->find(text->at(open), open + 1);
        if (close != std::string::npos) {
          settings = text->substr(open + 1, close - open - 1);
        }
      }
    }
  }
  std::string package;
  if (dotted_module(settings)) {
    auto pos = settings.find(".settings");
    package = settings.substr(0, pos == std::string::npos ? settings.find('.') : pos);
  }
  if (!package.empty() && !files.has(prefix + std::string(package) + "/wsgi.py")) {
    package.clear();
  }
  if (package.empty()) {
    // Fall back to the one folder next to manage.py with both wsgi.py and settings.
    for (const auto& f : files.all()) {
      if (!f.starts_with(prefix) || basename(f) != "wsgi.py" || depth(f) != depth(prefix) + 1) {
        continue;
      }
      const std::string pkg_dir(dirname(f));
      if (files.has(pkg_dir + "/settings.py") || files.has_dir(pkg_dir + "/settings")) {
        package = std::string(basename(pkg_dir));
        break;
      }
    }
  }
  if (package.empty() || !dotted_module(package)) {
    return error("dockerfile", "cannot find the Django project's wsgi.py: manage.py should set "
                               "DJANGO_SETTINGS_MODULE to \"<project>.settings\" with "
                               "<project>/wsgi.py beside it");
  }
  return std::pair{dir, package + ".wsgi:application"};
}

std::variant<python_project, dockerfile_error> detect_python(const project_files& files,
                                                             std::string_view framework) {
  python_project p;
  std::set<std::string> deps;
  auto pyproject = files.has("pyproject.toml") ? files.read("pyproject.toml") : std::nullopt;
  if (pyproject && poetry_pyproject(*pyproject)) {
    p.tool = "poetry";
    deps = pyproject_dependencies(*pyproject);
    p.manifests = {"pyproject.toml"};
    if (files.has("poetry.lock")) {
      p.manifests.push_back("poetry.lock");
    }
  } else {
    auto text = files.read("requirements.txt");
    if (!text) {
      return error("dockerfile", "requirements.txt could not be read (larger than 1 MiB?)");
    }
    p.tool = "pip";
    deps = requirements_txt(*text);
    p.manifests = {"requirements.txt"};
  }
  const std::string manifest = p.tool == "poetry" ? "pyproject.toml" : "requirements.txt";
  if (!framework.empty()) {
    if (!deps.contains(std::string(framework))) {
      return error("dockerfile.framework", "is " + std::string(framework) + " but " + manifest +
                                               " does not list it; fix the framework or leave it "
                                               "out to detect it");
    }
    p.framework = std::string(framework);
  } else {
    for (const char* f : {"django", "fastapi", "flask"}) {
      if (deps.contains(f)) {
        p.framework = f;
        break;
      }
    }
  }
  if (p.framework.empty()) {
    return error("dockerfile", manifest + " lists none of the frameworks the wizard supports "
                                          "(flask, fastapi, django); write a Dockerfile");
  }

  if (p.framework == "django") {
    auto wsgi = find_django_wsgi(files);
    if (auto* e = std::get_if<dockerfile_error>(&wsgi)) {
      return *e;
    }
    auto& [dir, module] = std::get<0>(wsgi);
    p.command = {"gunicorn", "--bind", "0.0.0.0:8000"};
    if (!dir.empty()) {
      p.command.insert(p.command.end(), {"--chdir", dir});
    }
    p.command.push_back(module);
    p.server_package = "gunicorn";
  } else {
    auto app = find_app_object(files, p.framework == "flask" ? "Flask" : "FastAPI");
    if (!app) {
      const char* example = p.framework == "flask" ? "app = Flask(__name__)" : "app = FastAPI()";
      return error("dockerfile", std::string("cannot find the ") +
                                     (p.framework == "flask" ? "Flask" : "FastAPI") +
                                     " app: define `" + example +
                                     "` at the top level of main.py or app.py");
    }
    if (p.framework == "flask") {
      p.command = {"gunicorn", "--bind", "0.0.0.0:8000", *app};
      p.server_package = "gunicorn";
    } else {
      p.command = {"uvicorn", *app, "--host", "0.0.0.0", "--port", "8000"};
      p.server_package = "uvicorn";
    }
  }
  if (deps.contains(p.server_package)) {
    p.server_package.clear();
  }
  return p;
}

generated render_python(const python_project& p, const wizard_images& images,
                        std::string_view summary) {
  generated g;
  std::string& d = g.dockerfile;
  d = header(summary);
  const std::string from = "FROM " + images.python;
  std::string server;
  if (!p.server_package.empty()) {
    server = p.server_package + "==" +
             std::string(p.server_package == "gunicorn" ? gunicorn_version : uvicorn_version);
    g.notes.push_back(p.server_package + " added: not a dependency");
  }

  d += "\n# Build stage: the dependencies in a virtual environment, cached while the manifests "
       "are unchanged.\n";
  d += from + " AS build\n";
  d += "ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1\n";
  if (p.tool == "poetry") {
    d += "ENV POETRY_NO_INTERACTION=1 POETRY_VIRTUALENVS_CREATE=false\n";
    d += "RUN pip install poetry==" + std::string(poetry_version) + "\n";
  }
  d += "RUN python -m venv /opt/venv\n";
  d += "ENV VIRTUAL_ENV=/opt/venv PATH=\"/opt/venv/bin:$PATH\"\n";
  d += "WORKDIR /app\n";
  d += "COPY " + join(p.manifests, " ") + " ./\n";
  std::string install = p.tool == "poetry" ? "poetry install --only main --no-root"
                                           : "pip install -r requirements.txt";
  if (!server.empty()) {
    install += " && pip install " + server;
  }
  d += "RUN " + install + "\n";

  d += "\n# Runtime stage: the same Python, the virtual environment and the source, run by a "
       "non-root user.\n";
  d += from + "\n";
  d += "ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PATH=\"/opt/venv/bin:$PATH\"\n";
  d += "RUN groupadd --system --gid 10001 app && useradd --system --uid 10001 --gid app "
       "--no-create-home app\n";
  d += "WORKDIR /app\n";
  d += "COPY --from=build /opt/venv /opt/venv\n";
  d += "COPY . .\n";
  d += "USER " + std::string(app_user) + "\n";
  d += "EXPOSE 8000\n";
  d += "CMD " + exec_form(p.command) + "\n";

  g.dockerignore = ignore_header() + common_ignores() +
                   "**/__pycache__\n"
                   "**/*.py[cod]\n"
                   ".venv\n"
                   "venv\n"
                   ".pytest_cache\n"
                   ".mypy_cache\n"
                   ".ruff_cache\n"
                   ".tox\n"
                   ".coverage\n"
                   "htmlcov\n"
                   "*.egg-info\n"
                   "dist\n"
                   "build\n";
  return g;
}

// ---------------------------------------------------------------------------------------------
// Java

struct java_project {
  std::string tool;  // maven | gradle
  std::vector<std::string> manifests;
  bool gradle_dir = false;  // gradle/ (version catalog, wrapper) is copied with the manifests
};

std::variant<java_project, dockerfile_error> detect_java(const project_files& files,
                                                         std::string_view framework) {
  java_project p;
  std::string text;
  if (files.has("pom.xml")) {
    p.tool = "maven";
    p.manifests = {"pom.xml"};
    text = files.read("pom.xml").value_or("");
  } else {
    p.tool = "gradle";
    for (const char* f : {"settings.gradle", "settings.gradle.kts", "build.gradle",
                          "build.gradle.kts", "gradle.properties"}) {
      if (files.has(f)) {
        p.manifests.push_back(f);
        if (std::string_view(f).starts_with("build.")) {
          text += files.read(f).value_or("");
        }
      }
    }
    p.gradle_dir = files.has_dir("gradle");
  }
  const bool boot = p.tool == "maven" ? text.find("spring-boot") != std::string::npos
                                      : text.find("org.springframework.boot") != std::string::npos;
  if (!boot) {
    return error(framework.empty() ? "dockerfile" : "dockerfile.framework",
                 std::string(p.tool == "maven" ? "pom.xml" : "build.gradle") +
                     " does not use Spring Boot, the one Java framework the wizard supports "
                     "(it needs an executable jar); write a Dockerfile");
  }
  if (p.tool == "maven" && text.find("<modules>") != std::string::npos) {
    return error("dockerfile", "pom.xml is a multi-module build, which the wizard does not "
                               "support; write a Dockerfile");
  }
  if (p.tool == "maven" && text.find("spring-boot-maven-plugin") == std::string::npos) {
    return error("dockerfile", "pom.xml uses Spring Boot without spring-boot-maven-plugin: add it "
                               "to <build><plugins> so that mvn package makes an executable jar");
  }
  if (!files.has_dir("src")) {
    return error("dockerfile", "no src/ folder: the wizard builds the standard layout "
                               "(src/main/java)");
  }
  return p;
}

generated render_java(const java_project& p, const wizard_images& images,
                      std::string_view summary) {
  generated g;
  std::string& d = g.dockerfile;
  d = header(summary);
  d += "\n# Build stage: dependencies resolved first (cached while the build files are "
       "unchanged), then the\n# executable jar from src/ (tests are left to CI).\n";
  if (p.tool == "maven") {
    d += "FROM " + images.maven + " AS build\n";
    d += "WORKDIR /app\n";
    d += "COPY pom.xml ./\n";
    d += "RUN mvn -B -q dependency:go-offline\n";
    d += "COPY src ./src\n";
    d += "RUN mvn -B -q -DskipTests package && cp target/*.jar app.jar\n";
  } else {
    d += "FROM " + images.gradle + " AS build\n";
    d += "WORKDIR /app\n";
    d += "COPY " + join(p.manifests, " ") + " ./\n";
    if (p.gradle_dir) {
      d += "COPY gradle ./gradle\n";
    }
    d += "RUN gradle --no-daemon -q dependencies > /dev/null\n";
    d += "COPY src ./src\n";
    d += "RUN gradle --no-daemon -q bootJar && cp $(ls build/libs/*.jar | grep -v -- "
         "'-plain\\.jar$') app.jar\n";
  }
  d += "\n# Runtime stage: a JRE and the jar, run by a non-root user.\n";
  d += "FROM " + images.java_runtime + "\n";
  d += "RUN groupadd --system --gid 10001 app && useradd --system --uid 10001 --gid app "
       "--no-create-home app\n";
  d += "WORKDIR /app\n";
  d += "COPY --from=build /app/app.jar ./app.jar\n";
  d += "USER " + std::string(app_user) + "\n";
  d += "EXPOSE 8080\n";
  d += "ENTRYPOINT [\"java\", \"-XX:MaxRAMPercentage=75\", \"-jar\", \"/app/app.jar\"]\n";

  g.dockerignore = ignore_header() + common_ignores() +
                   "target\n"
                   "build\n"
                   ".gradle\n"
                   "out\n"
                   ".idea\n"
                   "*.iml\n"
                   ".vscode\n";
  return g;
}

// ---------------------------------------------------------------------------------------------
// Go

struct go_project {
  bool go_sum = false;
  std::string package;  // "." or "./cmd/api"
  std::vector<std::string> other_mains;
};

bool declares_main(const project_files& files, const std::string& file) {
  auto text = files.read(file);
  if (!text) {
    return false;
  }
  for (const auto& line : lines_of(*text)) {
    if (trimmed(line) == "package main") {
      return true;
    }
  }
  return false;
}

std::variant<go_project, dockerfile_error> detect_go(const project_files& files) {
  go_project p;
  p.go_sum = files.has("go.sum");
  std::string module;
  for (const auto& line : lines_of(files.read("go.mod").value_or(""))) {
    if (line.starts_with("module ")) {
      module = trimmed(line.substr(7));
    }
  }
  // Main packages: the root, else folders with a main.go (shallowest first).
  std::vector<std::string> mains;
  for (const auto& f : files.all()) {
    if (depth(f) == 0 && f.ends_with(".go") && !f.ends_with("_test.go") &&
        declares_main(files, f)) {
      mains.push_back(".");
      break;
    }
  }
  if (mains.empty()) {
    std::vector<std::string> candidates;
    for (const auto& f : files.all()) {
      if (basename(f) == "main.go" && depth(f) > 0 && !f.starts_with("vendor/") &&
          f.find("testdata/") == std::string::npos && plain_path(f)) {
        candidates.push_back(f);
      }
    }
    std::stable_sort(candidates.begin(), candidates.end(), [](const auto& a, const auto& b) {
      return depth(a) < depth(b);
    });
    for (const auto& f : candidates) {
      if (declares_main(files, f)) {
        mains.push_back("./" + std::string(dirname(f)));
      }
    }
  }
  if (mains.empty()) {
    return error("dockerfile", "go.mod found but no main package: the wizard builds the root "
                               "package or a folder with a main.go (e.g. cmd/server/main.go)");
  }
  // With several, prefer the one named after the module ("example.com/api" → ./cmd/api).
  const std::string_view name = basename(module);
  auto chosen = std::find_if(mains.begin(), mains.end(), [&](const std::string& m) {
    return !name.empty() && basename(m) == name;
  });
  p.package = chosen != mains.end() ? *chosen : mains.front();
  for (const auto& m : mains) {
    if (m != p.package) {
      p.other_mains.push_back(m);
    }
  }
  return p;
}

generated render_go(const go_project& p, const wizard_images& images, std::string_view summary) {
  generated g;
  std::string& d = g.dockerfile;
  d = header(summary);
  d += "\n# Build stage: modules first (cached while go.mod and go.sum are unchanged), then a "
       "static binary.\n";
  d += "FROM " + images.go + " AS build\n";
  d += "WORKDIR /src\n";
  d += std::string("COPY ") + (p.go_sum ? "go.mod go.sum" : "go.mod") + " ./\n";
  d += "RUN go mod download\n";
  d += "COPY . .\n";
  d += "RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags=\"-s -w\" -o /out/app " +
       p.package + "\n";
  d += "\n# Runtime stage: only the binary, on a minimal image without a shell, run by a non-root "
       "user.\n";
  d += "FROM " + images.go_runtime + "\n";
  d += "COPY --from=build /out/app /app\n";
  d += "USER " + std::string(distroless_user) + "\n";
  d += "EXPOSE 8080\n";
  d += "ENTRYPOINT [\"/app\"]\n";

  g.dockerignore = ignore_header() + common_ignores() +
                   "bin\n"
                   "*.test\n"
                   "coverage.out\n";
  return g;
}

// ---------------------------------------------------------------------------------------------

std::optional<std::string> project_marker(const project_files& files, std::string_view language) {
  if (language == "node") {
    return files.has("package.json") ? std::optional<std::string>("package.json") : std::nullopt;
  }
  if (language == "python") {
    if (files.has("requirements.txt")) {
      return "requirements.txt";
    }
    if (files.has("pyproject.toml")) {
      auto text = files.read("pyproject.toml");
      if (text && poetry_pyproject(*text)) {
        return "pyproject.toml";
      }
    }
    return std::nullopt;
  }
  if (language == "java") {
    for (const char* f : {"pom.xml", "build.gradle", "build.gradle.kts"}) {
      if (files.has(f)) {
        return f;
      }
    }
    return std::nullopt;
  }
  if (language == "go") {
    return files.has("go.mod") ? std::optional<std::string>("go.mod") : std::nullopt;
  }
  return std::nullopt;
}

constexpr std::string_view marker_description[][2] = {
    {"go", "go.mod"},
    {"java", "pom.xml, build.gradle or build.gradle.kts"},
    {"python", "requirements.txt or pyproject.toml with [tool.poetry]"},
    {"node", "package.json"},
};

std::string field_example(bool directory) {
  return directory ? "e.g. \".\" or \"services/api\"" : "e.g. \"docker/Dockerfile\"";
}

// dockerfile.path or dockerfile.context as a normalised relative path ("." for the root), or
// the error when it is empty (path only), absolute or climbs out with "..".
std::variant<std::string, dockerfile_error> relative_field(std::string_view value,
                                                           const std::string& field,
                                                           bool directory) {
  const std::string example = field_example(directory);
  if (value.empty() && !directory) {
    return error(field, "is required: the Dockerfile's path in the repository, " + example);
  }
  if (value.empty()) {
    value = ".";
  }
  if (value.find('\0') != std::string_view::npos || value.front() == '/') {
    return error(field, "must be a path relative to the repository, " + example);
  }
  const fs::path relative(value);
  for (const auto& part : relative) {
    if (part == "..") {
      return error(field, "must stay inside the repository (no \"..\"), " + example);
    }
  }
  std::string normal = relative.lexically_normal().generic_string();
  while (normal.size() > 1 && normal.back() == '/') {
    normal.pop_back();
  }
  return normal;
}

dockerfile_error missing_dockerfile(const std::string& field, const std::string& shown,
                                    const std::vector<std::string>& found) {
  return error(field, shown + " does not exist in the repository" +
                          (found.empty() ? std::string("; it has no Dockerfile at all")
                                         : "; Dockerfiles found: " + list_some(found)));
}

bool image_reference(std::string_view image) {
  return !image.empty() && std::none_of(image.begin(), image.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return std::isspace(u) || std::iscntrl(u);
  });
}

}  // namespace

std::vector<std::string> find_dockerfiles(const repo_view& repo) {
  std::vector<std::string> found;
  for (auto& f : repo.files()) {
    if (is_dockerfile_name(basename(f))) {
      found.push_back(std::move(f));
    }
  }
  std::stable_sort(found.begin(), found.end(),
                   [](const auto& a, const auto& b) { return depth(a) < depth(b); });
  return found;
}

std::variant<dockerfile_location, dockerfile_error> locate_root_dockerfile(const repo_view& repo) {
  auto found = find_dockerfiles(repo);
  if (std::find(found.begin(), found.end(), "Dockerfile") != found.end()) {
    return dockerfile_location{"Dockerfile", "."};
  }
  if (found.empty()) {
    return error("dockerfile", "no Dockerfile in the repository: commit one at the root, or set "
                               "\"dockerfile\": {\"mode\":\"wizard\"} to generate one (Node.js, "
                               "Python, Java, Go)");
  }
  return error("dockerfile", "no Dockerfile at the repository root; found " + list_some(found) +
                                 ". Set \"dockerfile\": {\"mode\":\"path\",\"path\":" +
                                 json_string(found.front()) +
                                 "} to build one of these, or {\"mode\":\"wizard\"} to generate "
                                 "one");
}

std::variant<dockerfile_location, dockerfile_error> resolve_dockerfile_path(
    const fs::path& checkout, std::string_view path, std::string_view context) {
  std::error_code ec;
  const fs::path root = fs::canonical(checkout, ec);
  if (ec) {
    return error("dockerfile",
                 "the checkout " + checkout.string() + " is missing: " + ec.message());
  }
  auto inside = [&](const fs::path& p) {
    return std::mismatch(root.begin(), root.end(), p.begin(), p.end()).first == root.end();
  };
  // Checks one field and returns its normalised relative form, or the error.
  auto check = [&](std::string_view value, const std::string& field,
                   bool directory) -> std::variant<std::string, dockerfile_error> {
    auto lexical = relative_field(value, field, directory);
    if (std::holds_alternative<dockerfile_error>(lexical)) {
      return lexical;
    }
    const std::string& normal = std::get<std::string>(lexical);
    const std::string example = field_example(directory);
    if (value.empty()) {
      value = ".";
    }
    const fs::path full = root / fs::path(value);
    const std::string shown = json_string(value);
    std::error_code link_ec;
    if (!fs::exists(fs::symlink_status(full, link_ec))) {
      if (directory) {
        return error(field, shown + " is not a folder in the repository; " + example);
      }
      return missing_dockerfile(field, shown, find_dockerfiles(directory_view(root)));
    }
    std::error_code resolve_ec;
    const fs::path target = fs::canonical(full, resolve_ec);
    if (resolve_ec) {
      return error(field, shown + " is a symbolic link to nothing; point it at a file in the "
                                  "repository");
    }
    if (!inside(target)) {
      return error(field, shown + " leads outside the repository through a symbolic link (on "
                                  "it or a folder above it); use a path to a real " +
                              (directory ? "folder" : "file") + " in the repository");
    }
    if (directory && !fs::is_directory(target)) {
      return error(field, shown + " is a file; the build context must be a folder, " + example);
    }
    if (!directory && !fs::is_regular_file(target)) {
      return error(field, shown + " is not a file; name the Dockerfile itself, " + example);
    }
    return normal;
  };
  auto file = check(path, "dockerfile.path", false);
  if (auto* e = std::get_if<dockerfile_error>(&file)) {
    return *e;
  }
  auto dir = check(context, "dockerfile.context", true);
  if (auto* e = std::get_if<dockerfile_error>(&dir)) {
    return *e;
  }
  return dockerfile_location{std::get<std::string>(file), std::get<std::string>(dir)};
}

std::variant<dockerfile_location, dockerfile_error> resolve_dockerfile_path(
    const repo_view& repo, std::string_view path, std::string_view context) {
  auto file = relative_field(path, "dockerfile.path", false);
  if (auto* e = std::get_if<dockerfile_error>(&file)) {
    return *e;
  }
  auto dir = relative_field(context, "dockerfile.context", true);
  if (auto* e = std::get_if<dockerfile_error>(&dir)) {
    return *e;
  }
  const std::string& file_path = std::get<std::string>(file);
  const std::string& dir_path = std::get<std::string>(dir);
  const std::vector<std::string> all = repo.files();
  if (!std::binary_search(all.begin(), all.end(), file_path)) {
    const bool is_folder = std::any_of(all.begin(), all.end(), [&](const std::string& f) {
      return f.starts_with(file_path + "/");
    });
    if (is_folder) {
      return error("dockerfile.path", json_string(path) + " is not a file; name the Dockerfile "
                                                          "itself, " + field_example(false));
    }
    return missing_dockerfile("dockerfile.path", json_string(path), find_dockerfiles(repo));
  }
  if (dir_path != ".") {
    const bool is_folder = std::any_of(all.begin(), all.end(), [&](const std::string& f) {
      return f.starts_with(dir_path + "/");
    });
    if (!is_folder) {
      return error("dockerfile.context",
                   json_string(context) +
                       (std::binary_search(all.begin(), all.end(), dir_path)
                            ? " is a file; the build context must be a folder, "
                            : " is not a folder in the repository; ") +
                       field_example(true));
    }
  }
  return dockerfile_location{file_path, dir_path};
}

const std::vector<wizard_language>& wizard_languages() {
  static const std::vector<wizard_language> languages = {
      {"node", {"plain", "express", "nextjs", "nestjs"}},
      {"python", {"flask", "fastapi", "django"}},
      {"java", {"spring-boot"}},
      {"go", {"plain"}},
  };
  return languages;
}

std::optional<dockerfile_error> check_wizard_choice(std::string_view language,
                                                    std::string_view framework) {
  const auto& languages = wizard_languages();
  auto lang = std::find_if(languages.begin(), languages.end(),
                           [&](const wizard_language& l) { return l.name == language; });
  if (!language.empty() && lang == languages.end()) {
    return error("dockerfile.language", "must be node, python, java or go (or absent: detected)");
  }
  if (framework.empty()) {
    return std::nullopt;
  }
  auto offers = [&](const wizard_language& l) {
    return std::find(l.frameworks.begin(), l.frameworks.end(), framework) != l.frameworks.end();
  };
  if (lang != languages.end()) {
    if (offers(*lang)) {
      return std::nullopt;
    }
    std::vector<std::string> names(lang->frameworks.begin(), lang->frameworks.end());
    return error("dockerfile.framework", "for " + std::string(language) + " must be one of " +
                                             join(names, ", ") + " (or absent: detected)");
  }
  if (std::any_of(languages.begin(), languages.end(), offers)) {
    return std::nullopt;
  }
  return error("dockerfile.framework",
               "must be one of plain, express, nextjs, nestjs (node), flask, fastapi, django "
               "(python), spring-boot (java) (or absent: detected)");
}

std::variant<wizard_output, dockerfile_error> generate_dockerfile(const repo_view& repo,
                                                                  std::string_view language,
                                                                  std::string_view framework,
                                                                  const wizard_images& images) {
  if (auto problem = check_wizard_choice(language, framework)) {
    return *problem;
  }
  for (const auto* image : {&images.node, &images.python, &images.maven, &images.gradle,
                            &images.java_runtime, &images.go, &images.go_runtime}) {
    if (!image_reference(*image)) {
      return error("dockerfile", "wizard base image " + json_string(*image) +
                                     " is not an image reference (e.g. node:20.18-bookworm-slim)");
    }
  }
  const project_files files(repo);

  // The language: as given (its manifest must exist), else the first whose manifest exists. A
  // backend with a package.json for its front-end assets is still Go, Java or Python.
  wizard_output out;
  std::vector<std::string> notes;
  if (!language.empty()) {
    if (!project_marker(files, language)) {
      std::string wanted;
      for (const auto& [lang, description] : marker_description) {
        if (lang == language) {
          wanted = std::string(description);
        }
      }
      return error("dockerfile.language", "is " + std::string(language) + " but the repository "
                                              "root has no " + wanted +
                                              "; fix the language or leave it out to detect it");
    }
    out.language = std::string(language);
  } else {
    std::vector<std::string> others;
    for (const auto& [lang, description] : marker_description) {
      if (auto marker = project_marker(files, lang)) {
        if (out.language.empty()) {
          out.language = std::string(lang);
        } else {
          others.push_back(*marker);
        }
      }
    }
    if (out.language.empty()) {
      std::string looked;
      for (const auto& [lang, description] : marker_description) {
        looked += std::string(looked.empty() ? "" : "; ") + std::string(description) + " (" +
                  std::string(lang) + ")";
      }
      return error("dockerfile", "the wizard found no project it knows at the repository root; "
                                 "it looks for " + looked +
                                 ". Set dockerfile.language, or commit a Dockerfile");
    }
    if (!others.empty()) {
      notes.push_back("also found " + join(others, ", ") + "; set dockerfile.language to choose");
    }
  }

  if (!framework.empty()) {
    const auto& languages = wizard_languages();
    auto lang = std::find_if(languages.begin(), languages.end(),
                             [&](const wizard_language& l) { return l.name == out.language; });
    if (std::find(lang->frameworks.begin(), lang->frameworks.end(), framework) ==
        lang->frameworks.end()) {
      return error("dockerfile.framework", "is " + std::string(framework) +
                                               " but the repository is a " + out.language +
                                               " project; fix the framework or leave it out");
    }
  }

  generated g;
  std::string summary;
  if (out.language == "node") {
    auto p = detect_node(files, framework);
    if (auto* e = std::get_if<dockerfile_error>(&p)) {
      return *e;
    }
    const auto& node = std::get<node_project>(p);
    out.framework = node.framework;
    out.tool = node.tool;
    summary = "node/" + out.framework + " via " + out.tool +
              (node.next_standalone ? ", standalone output" : "");
    g = render_node(node, files, images, summary);
  } else if (out.language == "python") {
    auto p = detect_python(files, framework);
    if (auto* e = std::get_if<dockerfile_error>(&p)) {
      return *e;
    }
    const auto& python = std::get<python_project>(p);
    out.framework = python.framework;
    out.tool = python.tool;
    const std::string& app =
        python.command.front() == "uvicorn" ? python.command[1] : python.command.back();
    summary = "python/" + out.framework + " via " + out.tool + ", served by " +
              python.command.front() + " " + app;
    g = render_python(python, images, summary);
  } else if (out.language == "java") {
    auto p = detect_java(files, framework);
    if (auto* e = std::get_if<dockerfile_error>(&p)) {
      return *e;
    }
    const auto& java = std::get<java_project>(p);
    out.framework = "spring-boot";
    out.tool = java.tool;
    summary = "java/spring-boot via " + out.tool;
    g = render_java(java, images, summary);
  } else {
    auto p = detect_go(files);
    if (auto* e = std::get_if<dockerfile_error>(&p)) {
      return *e;
    }
    const auto& go = std::get<go_project>(p);
    out.framework = "plain";
    out.tool = "go";
    summary = "go via go modules, main package " + go.package;
    g = render_go(go, images, summary);
    if (!go.other_mains.empty()) {
      notes.push_back("other main packages: " + join(go.other_mains, ", "));
    }
  }
  out.dockerfile = std::move(g.dockerfile);
  out.dockerignore = std::move(g.dockerignore);
  notes.insert(notes.begin(), g.notes.begin(), g.notes.end());
  out.summary = summary + (notes.empty() ? "" : " (" + join(notes, "; ") + ")");
  return out;
}

}  // namespace kiwi
