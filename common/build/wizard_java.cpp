// The wizard's Java projects: Spring Boot built by Maven or Gradle into an executable jar.

#include "common/build/dockerfile_text.hpp"
#include "common/build/wizard_language.hpp"

namespace kiwi::wizard {
namespace {

using dockerfile_text::join;

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

language_output render_java(const java_project& p, const wizard_images& images) {
  language_output g;
  g.framework = "spring-boot";
  g.tool = p.tool;
  g.summary = "java/spring-boot via " + p.tool;
  std::string& d = g.dockerfile;
  d = header(g.summary);
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

  g.dockerignore = common_ignores() +
                   "target\n"
                   "build\n"
                   ".gradle\n"
                   "out\n"
                   ".idea\n"
                   "*.iml\n"
                   ".vscode\n";
  return g;
}

std::optional<std::string> find_marker(const project_files& files) {
  for (const char* f : {"pom.xml", "build.gradle", "build.gradle.kts"}) {
    if (files.has(f)) {
      return f;
    }
  }
  return std::nullopt;
}

std::variant<language_output, dockerfile_error> generate(const project_files& files,
                                                         std::string_view framework,
                                                         const wizard_images& images) {
  auto detected = detect_java(files, framework);
  if (const auto* p = std::get_if<java_project>(&detected)) {
    return render_java(*p, images);
  }
  return std::get<dockerfile_error>(detected);
}

}  // namespace

const language& java_language() {
  static const language java{.name = "java",
                             .frameworks = {"spring-boot"},
                             .detection_rank = 1,
                             .markers = "pom.xml, build.gradle or build.gradle.kts",
                             .find_marker = find_marker,
                             .generate = generate};
  return java;
}

}  // namespace kiwi::wizard
