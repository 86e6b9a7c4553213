// The Dockerfile wizard's detection: what it reads from a repository to pick language,
// framework and tool, what it refuses (naming the field), and the choices checked when a
// service is saved.
#include <doctest/doctest.h>

#include <string>

#include <nlohmann/json.hpp>

#include "common/build/dockerfile.hpp"
#include "common/config/resources.hpp"
#include "tests/unit/dockerfile_checks.hpp"
#include "tests/unit/memory_view.hpp"

using kiwi::test::contains;
using kiwi::test::error_of;
using kiwi::test::generated;
using kiwi::test::memory_view;

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
