// The wizard's Go projects: Go modules, a static binary on a distroless image.

#include <algorithm>

#include "common/build/dockerfile_text.hpp"
#include "common/build/wizard_language.hpp"

namespace kiwi::wizard {
namespace {

using namespace dockerfile_text;

constexpr std::string_view distroless_user = "65532:65532";  // distroless "nonroot"

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

language_output render_go(const go_project& p, const wizard_images& images) {
  language_output g;
  g.framework = "plain";
  g.tool = "go";
  g.summary = "go via go modules, main package " + p.package;
  if (!p.other_mains.empty()) {
    g.findings.push_back("other main packages: " + join(p.other_mains, ", "));
  }
  std::string& d = g.dockerfile;
  d = header(g.summary);
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

  g.dockerignore = common_ignores() +
                   "bin\n"
                   "*.test\n"
                   "coverage.out\n";
  return g;
}

std::optional<std::string> find_marker(const project_files& files) {
  return files.has("go.mod") ? std::optional<std::string>("go.mod") : std::nullopt;
}

std::variant<language_output, dockerfile_error> generate(const project_files& files,
                                                         std::string_view /*framework*/,
                                                         const wizard_images& images) {
  auto detected = detect_go(files);
  if (const auto* p = std::get_if<go_project>(&detected)) {
    return render_go(*p, images);
  }
  return std::get<dockerfile_error>(detected);
}

}  // namespace

const language& go_language() {
  static const language go{.name = "go",
                           .frameworks = {"plain"},
                           .detection_rank = 0,
                           .markers = "go.mod",
                           .find_marker = find_marker,
                           .generate = generate};
  return go;
}

}  // namespace kiwi::wizard
