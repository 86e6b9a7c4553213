// The wizard's Python projects: pip or Poetry; Flask, FastAPI or Django, served by gunicorn or
// uvicorn.

#include <algorithm>
#include <cctype>

#include "common/base/text.hpp"
#include "common/build/dockerfile_text.hpp"
#include "common/build/python_manifest.hpp"
#include "common/build/wizard_language.hpp"

namespace kiwi::wizard {
namespace {

using namespace dockerfile_text;

// Tools the generated Dockerfiles install when the project does not pin them itself.
constexpr std::string_view poetry_version = "1.8.5";
constexpr std::string_view gunicorn_version = "23.0.0";
constexpr std::string_view uvicorn_version = "0.32.1";

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

struct python_project {
  std::string framework;  // flask | fastapi | django
  std::string tool;       // pip | poetry
  std::vector<std::string> manifests;
  std::vector<std::string> command;
  std::string server_package;  // installed by the Dockerfile when not a dependency; else empty
};

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

language_output render_python(const python_project& p, const wizard_images& images) {
  language_output g;
  g.framework = p.framework;
  g.tool = p.tool;
  const std::string& app = p.command.front() == "uvicorn" ? p.command[1] : p.command.back();
  g.summary = "python/" + p.framework + " via " + p.tool + ", served by " + p.command.front() +
              " " + app;
  std::string& d = g.dockerfile;
  d = header(g.summary);
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

  g.dockerignore = common_ignores() +
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

std::optional<std::string> find_marker(const project_files& files) {
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

std::variant<language_output, dockerfile_error> generate(const project_files& files,
                                                         std::string_view framework,
                                                         const wizard_images& images) {
  auto detected = detect_python(files, framework);
  if (const auto* p = std::get_if<python_project>(&detected)) {
    return render_python(*p, images);
  }
  return std::get<dockerfile_error>(detected);
}

}  // namespace

const language& python_language() {
  static const language python{.name = "python",
                               .frameworks = {"flask", "fastapi", "django"},
                               .detection_rank = 2,
                               .markers = "requirements.txt or pyproject.toml with [tool.poetry]",
                               .find_marker = find_marker,
                               .generate = generate};
  return python;
}

}  // namespace kiwi::wizard
