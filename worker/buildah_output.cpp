#include "worker/buildah_output.hpp"

#include <algorithm>
#include <array>
#include <cctype>

#include "common/build/image_reference.hpp"
#include "common/base/text.hpp"

namespace kiwi {
namespace {

constexpr std::size_t max_detail = 400;  // longest buildah error text quoted to the user

bool contains(std::string_view text, std::string_view what) {
  return text.find(what) != std::string_view::npos;
}

bool contains_any(std::string_view text, std::initializer_list<std::string_view> what) {
  return std::any_of(what.begin(), what.end(),
                     [&](std::string_view w) { return contains(text, w); });
}

std::string shortened(std::string_view text) {
  text = trim_whitespace(text);
  if (text.size() <= max_detail) {
    return std::string(text);
  }
  return std::string(text.substr(0, max_detail)) + "...";
}

// Reads a decimal number at the front of s (advancing it); -1 if there is none.
int take_number(std::string_view& s) {
  int value = 0;
  std::size_t n = 0;
  while (n < s.size() && n < 9 && std::isdigit(static_cast<unsigned char>(s[n]))) {
    value = value * 10 + (s[n] - '0');
    ++n;
  }
  if (n == 0) {
    return -1;
  }
  s.remove_prefix(n);
  return value;
}

// "[2/3] " at the front of s: returns 2 and advances; 0 if there is no prefix.
int take_stage_prefix(std::string_view& s) {
  if (s.empty() || s.front() != '[') {
    return 0;
  }
  std::string_view rest = s.substr(1);
  const int stage = take_number(rest);
  if (stage < 0 || rest.empty() || rest.front() != '/') {
    return 0;
  }
  rest.remove_prefix(1);
  if (take_number(rest) < 0 || !rest.starts_with("] ")) {
    return 0;
  }
  rest.remove_prefix(2);
  s = rest;
  return stage;
}

std::string first_word(std::string_view s) {
  s = trim_whitespace(s);
  return std::string(s.substr(0, s.find_first_of(" \t")));
}

std::string upper(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return out;
}

// The image a FROM step names: "FROM --platform=x node:18 AS build" -> "node:18".
std::string from_image(std::string_view step_text) {
  std::string_view rest = trim_whitespace(step_text);
  if (upper(first_word(rest)) != "FROM") {
    return {};
  }
  rest = trim_whitespace(rest.substr(4));
  while (rest.starts_with("--")) {
    const auto space = rest.find_first_of(" \t");
    rest = space == std::string_view::npos
               ? std::string_view{}
               : trim_whitespace(rest.substr(space));
  }
  return first_word(rest);
}

// The image named in "initializing source docker://IMAGE: ...".
std::string source_image(std::string_view error) {
  constexpr std::string_view marker = "initializing source docker://";
  const auto at = error.find(marker);
  if (at == std::string_view::npos) {
    return {};
  }
  std::string_view rest = error.substr(at + marker.size());
  return std::string(rest.substr(0, rest.find(": ")));
}

bool is_tls_error(std::string_view error) {
  return contains_any(error, {"server gave HTTP response to HTTPS client", "x509:", "tls: "});
}

std::string tls_detail(std::string_view error) {
  if (contains(error, "server gave HTTP response to HTTPS client")) {
    return "it speaks plain HTTP; mark the registry as insecure";
  }
  const auto at = error.find("x509:");
  return "TLS certificate not trusted (" +
         shortened(at == std::string_view::npos ? error : error.substr(at)) + ")";
}

// Why a base image pull failed, and whether trying later may help.
std::pair<std::string, failure_kind> pull_reason(std::string_view error, const std::string& host) {
  if (is_tls_error(error)) {
    return {"registry " + host + ": " + tls_detail(error), failure_kind::permanent};
  }
  if (contains(error, "short-name")) {
    return {
        "the short name cannot be resolved; use a fully qualified name such as "
        "docker.io/library/node:20",
        failure_kind::permanent};
  }
  const int status = http_status_in(error);
  if (status == 401) {
    return {"the registry refused access (credentials missing or wrong)", failure_kind::permanent};
  }
  if (status == 403) {
    return {"access denied by the registry", failure_kind::permanent};
  }
  if (status == 404 || contains(error, "not found")) {
    return {"not found (check the image name and tag)", failure_kind::permanent};
  }
  if (status == 429 || status >= 500) {
    return {"registry error (HTTP " + std::to_string(status) + ") at " + host,
            failure_kind::transient};
  }
  if (is_network_error(error)) {
    return {"registry unreachable (" + host + ")", failure_kind::transient};
  }
  return {shortened(error), failure_kind::permanent};
}

// The text buildah gives after `building at STEP "...": `.
std::string_view step_error_detail(std::string_view error) {
  const auto quote_end = error.find("\": ");
  return quote_end == std::string_view::npos ? error : error.substr(quote_end + 3);
}

// A Dockerfile error message without buildah's internals.
std::string dockerfile_detail(std::string_view detail, std::string_view step_text) {
  if (const auto junk = detail.find(" &imagebuilder.Step{"); junk != std::string_view::npos) {
    detail = detail.substr(0, junk);
  }
  if (detail.starts_with("Build error: ")) {
    detail.remove_prefix(13);
  }
  constexpr std::string_view stat_marker = "copier: stat: \"";
  if (const auto at = detail.find(stat_marker);
      at != std::string_view::npos && contains(detail, "no such file or directory")) {
    std::string_view path = detail.substr(at + stat_marker.size());
    path = path.substr(0, path.find('"'));
    while (path.starts_with("/")) {
      path.remove_prefix(1);
    }
    return upper(first_word(step_text)) + " source " + std::string(path) +
           " not found in the build context";
  }
  return shortened(detail);
}

// Which instruction a parse-time message is about ("ENV must have two arguments"), 0 if that
// cannot be told.
int line_of_parse_error(std::string_view message, const dockerfile_outline& dockerfile) {
  if (contains(message, "ESCAPE")) {
    return dockerfile.escape_directive_line;
  }
  const std::string keyword = first_word(message);
  if (keyword.empty() || upper(keyword) != keyword) {
    return 0;
  }
  std::vector<const dockerfile_instruction*> candidates;
  for (const auto& i : dockerfile.instructions) {
    if (i.keyword == keyword) {
      candidates.push_back(&i);
    }
  }
  for (const auto* i : candidates) {
    std::vector<std::string_view> words;
    std::string_view rest = i->arguments;
    while (!(rest = trim_whitespace(rest)).empty()) {
      const auto space = rest.find_first_of(" \t");
      std::string_view word = rest.substr(0, space);
      if (!word.starts_with("--")) {
        words.push_back(word);
      }
      rest = space == std::string_view::npos ? std::string_view{} : rest.substr(space);
    }
    bool suspicious = words.empty();
    if ((keyword == "ENV" || keyword == "LABEL") && words.size() == 1 &&
        words[0].find('=') == std::string_view::npos) {
      suspicious = true;
    }
    if (keyword == "FROM" && words.size() != 1 && words.size() != 3) {
      suspicious = true;
    }
    if (suspicious) {
      return i->line;
    }
  }
  return candidates.size() == 1 ? candidates.front()->line : 0;
}

image_build_error make_dockerfile_error(int line, std::string detail) {
  image_build_error e;
  e.code = image_build_errc::dockerfile_error;
  e.line = line;
  e.message = (line > 0 ? "Dockerfile error at line " + std::to_string(line) + ": "
                        : std::string("Dockerfile error: ")) +
              std::move(detail);
  return e;
}

// "exit status 3" at the end of a step error: 3; -1 otherwise.
int step_exit_status(std::string_view error) {
  constexpr std::string_view marker = ": exit status ";
  const auto at = error.rfind(marker);
  if (at == std::string_view::npos) {
    return -1;
  }
  std::string_view rest = error.substr(at + marker.size());
  const int code = take_number(rest);
  return rest.empty() ? code : -1;
}

}  // namespace

void bud_log::feed(std::string_view line) {
  if (line.starts_with("Error: ")) {
    error_ = std::string(line.substr(7));
    return;
  }
  if (line.starts_with("panic: ") && panic_.empty()) {
    panic_ = std::string(line);
    return;
  }
  if (line.starts_with("Trying to pull ")) {
    std::string_view image = line.substr(15);
    if (image.ends_with("...")) {
      image.remove_suffix(3);
    }
    pulling_ = std::string(image);
    return;
  }
  std::string_view rest = line;
  const int stage = take_stage_prefix(rest);
  if (rest.starts_with("STEP ")) {
    rest.remove_prefix(5);
    const int step = take_number(rest);
    if (step < 0 || rest.empty() || rest.front() != '/') {
      return;
    }
    rest.remove_prefix(1);
    if (take_number(rest) < 0 || !rest.starts_with(": ")) {
      return;
    }
    rest.remove_prefix(2);
    last_step_ = step_marker{stage, step, std::string(rest)};
    committing_ = false;
    pulling_.clear();
  } else if (rest == "COMMIT" || rest.starts_with("COMMIT ")) {
    committing_ = true;
  }
}

int http_status_in(std::string_view error) {
  // Numeric forms containers/image prints.
  for (std::string_view marker : {"StatusCode: ", "HTTP status: ", "status code from registry "}) {
    if (const auto at = error.find(marker); at != std::string_view::npos) {
      std::string_view rest = error.substr(at + marker.size());
      if (const int code = take_number(rest); code >= 100 && code <= 599) {
        return code;
      }
    }
  }
  // ": 403 (Forbidden)"
  for (auto at = error.find(" ("); at != std::string_view::npos; at = error.find(" (", at + 2)) {
    if (at >= 4 && error[at - 4] == ' ') {
      std::string_view digits = error.substr(at - 3, 3);
      if (const int code = take_number(digits); digits.empty() && code >= 100 && code <= 599) {
        return code;
      }
    }
  }
  // Error codes from the registry's JSON answer (Distribution's errcode messages).
  if (contains_any(error, {"unauthorized:", "authentication required"})) {
    return 401;
  }
  if (contains_any(error, {"denied:", "requested access to the resource is denied"})) {
    return 403;
  }
  if (contains_any(error, {"name unknown", "manifest unknown", "NAME_UNKNOWN"})) {
    return 404;
  }
  if (contains(error, "toomanyrequests")) {
    return 429;
  }
  return 0;
}

bool is_network_error(std::string_view error) {
  return contains_any(
      error,
      {"dial tcp", "connection refused", "no such host", "i/o timeout", "network is unreachable",
       "no route to host", "connection reset", "TLS handshake timeout", "server misbehaving",
       "context deadline exceeded", "timeout awaiting response headers", "broken pipe"});
}

image_build_error classify_bud_failure(const bud_log& log, const dockerfile_outline& dockerfile,
                                       int buildah_exit) {
  const std::string& error = log.error();
  const auto& step = log.last_step();
  const dockerfile_instruction* instruction =
      step && !log.committing() ? dockerfile.find_step(step->stage, step->step) : nullptr;
  const int step_line = instruction != nullptr ? instruction->line : 0;

  if (!log.panic().empty()) {
    image_build_error e;
    e.message = "Image build failed: buildah crashed (" + shortened(log.panic()) + ")";
    e.line = step_line;
    return e;
  }

  if (const int status = step_exit_status(error);
      status >= 0 && error.starts_with("building at STEP")) {
    image_build_error e;
    e.code = image_build_errc::step_failed;
    e.exit_code = status;
    e.line = step_line;
    e.step = step ? step->text : std::string(step_error_detail(error));
    e.message = "Build step failed (exit code " + std::to_string(status) + "): " + e.step;
    return e;
  }

  const bool pulling = contains_any(error, {"creating build container", "initializing source"}) ||
                       (!log.pulling().empty() && step && !from_image(step->text).empty());
  if (pulling) {
    std::string image = step ? from_image(step->text) : std::string();
    if (image.empty()) {
      image = !log.pulling().empty() ? log.pulling() : source_image(error);
    }
    auto [reason, kind] = pull_reason(error, reference_host(image));
    image_build_error e;
    e.code = image_build_errc::base_image_unavailable;
    e.kind = kind;
    e.line = step_line;
    e.message = "Base image " + image + " could not be pulled: " + reason;
    return e;
  }

  if (contains(error, "no space left on device")) {
    image_build_error e;
    e.kind = failure_kind::transient;
    e.message = "Image build failed: no space left on the build machine (" + shortened(error) + ")";
    return e;
  }

  if (error.starts_with("building at STEP")) {
    image_build_error e = make_dockerfile_error(
        step_line, dockerfile_detail(step_error_detail(error), step ? step->text : ""));
    e.step = step ? step->text : "";
    return e;
  }

  if (!error.empty() && step && !log.committing()) {
    // Errors buildah reports outside "building at STEP" while running one (COPY --from=x).
    image_build_error e = make_dockerfile_error(step_line, dockerfile_detail(error, step->text));
    e.step = step->text;
    return e;
  }

  if (!step && !error.empty()) {
    // Before any step runs, buildah parses the whole Dockerfile.
    std::string_view message = error;
    constexpr std::string_view parsing = "parsing main Dockerfile: ";
    const bool parse_error = message.starts_with(parsing);
    if (parse_error) {
      message.remove_prefix(parsing.size());
      // "<path>: <message>"; the path is ours and tells the user nothing.
      if (const auto colon = message.find(": "); colon != std::string_view::npos) {
        message.remove_prefix(colon + 2);
      }
    }
    if (contains(message, "no contents in")) {
      return make_dockerfile_error(0, "the Dockerfile is empty");
    }
    const std::string keyword = first_word(message);
    static constexpr std::array<std::string_view, 18> keywords = {
        "FROM",    "RUN", "CMD",     "LABEL",      "MAINTAINER",  "EXPOSE",
        "ENV",     "ADD", "COPY",    "ENTRYPOINT", "VOLUME",      "USER",
        "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL"};
    const bool about_instruction =
        std::find(keywords.begin(), keywords.end(), keyword) != keywords.end();
    if (parse_error || about_instruction || contains_any(message, {"Dockerfile", "ESCAPE"})) {
      return make_dockerfile_error(line_of_parse_error(message, dockerfile), shortened(message));
    }
  }

  image_build_error e;
  e.line = step_line;
  e.message = "Image build failed: " +
              (error.empty() ? "buildah exited with code " + std::to_string(buildah_exit)
                             : shortened(error));
  return e;
}

image_build_error classify_push_failure(std::string_view error, std::string_view registry_host) {
  const std::string host(registry_host);
  image_build_error e;
  if (is_tls_error(error)) {
    e.code = image_build_errc::registry_tls;
    e.message = "Image push failed: registry " + host + ": " + tls_detail(error);
    return e;
  }
  const int status = http_status_in(error);
  if (status == 401) {
    e.code = image_build_errc::push_unauthorized;
    e.message = "Image push failed: check the registry credentials";
    return e;
  }
  if (status == 403 || status == 404) {
    e.code = image_build_errc::push_denied;
    e.message = "Image push failed: repository not found or no push permission";
    return e;
  }
  if (status == 429 || status >= 500) {
    e.code = image_build_errc::registry_error;
    e.kind = failure_kind::transient;
    e.message =
        "Image push failed: registry error (HTTP " + std::to_string(status) + ") at " + host;
    return e;
  }
  if (is_network_error(error)) {
    e.code = image_build_errc::registry_unreachable;
    e.kind = failure_kind::transient;
    e.message = "Image push failed: registry unreachable (" + host + ")";
    return e;
  }
  e.message = "Image push failed: " +
              (error.empty() ? std::string("buildah push failed") : shortened(error));
  return e;
}

}  // namespace kiwi
