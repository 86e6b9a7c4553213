#include "worker/dockerfile_outline.hpp"

#include <algorithm>
#include <cctype>

#include "common/base/text.hpp"

namespace kiwi {
namespace {

std::string upper(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return out;
}

std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    const auto eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    lines.push_back(line);
    if (eol == std::string_view::npos) {
      break;
    }
    text.remove_prefix(eol + 1);
  }
  return lines;
}

}  // namespace

const dockerfile_instruction* dockerfile_outline::find_step(int stage, int step) const {
  if (stage == 0) {
    stage = stages;
  }
  for (const auto& i : instructions) {
    if (i.stage == stage && i.step == step) {
      return &i;
    }
  }
  return nullptr;
}

dockerfile_outline outline_dockerfile(std::string_view text) {
  dockerfile_outline out;
  const auto lines = split_lines(text);
  char escape = '\\';
  std::size_t n = 0;
  // Parser directives: "# name=value" lines at the very top.
  for (; n < lines.size(); ++n) {
    std::string_view l = trim_whitespace(lines[n]);
    if (l.empty() || l.front() != '#') {
      break;
    }
    l = trim_whitespace(l.substr(1));
    const auto eq = l.find('=');
    if (eq == std::string_view::npos) {
      break;
    }
    const std::string name = to_lower_ascii(trim_whitespace(l.substr(0, eq)));
    if (name == "escape") {
      out.escape_directive_line = static_cast<int>(n) + 1;
      const std::string_view value = trim_whitespace(l.substr(eq + 1));
      if (value.size() == 1 && (value[0] == '`' || value[0] == '\\')) {
        escape = value[0];
      }
    } else if (name != "syntax" && name != "check") {
      break;
    }
  }

  int stage = 0;
  int step = 0;
  bool leading_args = true;  // ARGs before the first FROM belong to no stage
  for (; n < lines.size(); ++n) {
    std::string_view l = trim_whitespace(lines[n]);
    if (l.empty() || l.front() == '#') {
      continue;
    }
    dockerfile_instruction ins;
    ins.line = static_cast<int>(n) + 1;
    std::string joined;
    // Continuation: a line ending in the escape character goes on with the next non-comment
    // line (blank and comment lines inside are skipped, as Docker does).
    while (true) {
      std::string_view piece = trim_whitespace(lines[n]);
      const bool continues = !piece.empty() && piece.back() == escape;
      if (continues) {
        piece.remove_suffix(1);
      }
      joined.append(piece);
      if (!continues) {
        break;
      }
      joined.push_back(' ');
      ++n;
      while (n < lines.size() && (trim_whitespace(lines[n]).empty() ||
                                  trim_whitespace(lines[n]).front() == '#')) {
        ++n;
      }
      if (n >= lines.size()) {
        break;
      }
    }
    std::string_view rest = trim_whitespace(joined);
    if (rest.empty()) {
      continue;  // an escape character alone on the last lines: no instruction (found by fuzz/)
    }
    const auto space = rest.find_first_of(" \t");
    ins.keyword = upper(rest.substr(0, space));
    ins.arguments = space == std::string_view::npos
                        ? std::string()
                        : std::string(trim_whitespace(rest.substr(space)));
    if (ins.keyword == "FROM") {
      ++stage;
      step = 1;
      leading_args = false;
    } else if (leading_args && ins.keyword == "ARG") {
      ins.stage = 0;
      ins.step = 0;
      out.instructions.push_back(std::move(ins));
      continue;
    } else {
      if (stage == 0) {  // an instruction before any FROM: buildah counts it as a stage
        stage = 1;
        step = 0;
      }
      leading_args = false;
      ++step;
    }
    ins.stage = stage;
    ins.step = step;
    out.instructions.push_back(std::move(ins));
  }
  out.stages = stage;
  return out;
}

}  // namespace kiwi
