// The wizard's Node.js projects: npm, Yarn (1 and 2+) or pnpm; plain, Express, Next.js or NestJS.

#include <nlohmann/json.hpp>

#include "common/build/dockerfile_text.hpp"
#include "common/build/wizard_language.hpp"

namespace kiwi::wizard {
namespace {

using json = nlohmann::json;
using dockerfile_text::join;

constexpr std::string_view node_user = "1000:1000";  // the node image's "node" user

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

language_output render_node(const node_project& p, const project_files& files,
                            const wizard_images& images) {
  language_output g;
  g.framework = p.framework;
  g.tool = p.tool;
  g.summary = "node/" + p.framework + " via " + p.tool +
              (p.next_standalone ? ", standalone output" : "");
  std::string& d = g.dockerfile;
  d = header(g.summary);
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

  g.dockerignore = common_ignores() +
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

std::optional<std::string> find_marker(const project_files& files) {
  return files.has("package.json") ? std::optional<std::string>("package.json") : std::nullopt;
}

std::variant<language_output, dockerfile_error> generate(const project_files& files,
                                                         std::string_view framework,
                                                         const wizard_images& images) {
  auto detected = detect_node(files, framework);
  if (const auto* p = std::get_if<node_project>(&detected)) {
    return render_node(*p, files, images);
  }
  return std::get<dockerfile_error>(detected);
}

}  // namespace

const language& node_language() {
  static const language node{.name = "node",
                             .frameworks = {"plain", "express", "nextjs", "nestjs"},
                             .detection_rank = 3,
                             .markers = "package.json",
                             .find_marker = find_marker,
                             .generate = generate};
  return node;
}

}  // namespace kiwi::wizard
