#include "worker/buildah_output.hpp"

#include <algorithm>
#include <array>
#include <cctype>

#include "common/base/text.hpp"
#include "common/build/image_reference.hpp"
#include "worker/output_text.hpp"
#include "worker/registry_errors.hpp"

namespace kiwi {
namespace {

using namespace output_text;

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
    auto [reason, kind] = pull_failure_reason(error, reference_host(image));
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

}  // namespace kiwi
