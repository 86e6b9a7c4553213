#include "worker/sweep.hpp"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <iterator>

#include <nlohmann/json.hpp>

namespace kiwi {
namespace {

using nlohmann::json;

std::optional<json> parse(std::string_view text) {
  json doc = json::parse(text, nullptr, false);
  if (doc.is_discarded()) {
    return std::nullopt;
  }
  return doc;
}

std::string string_field(const json& object, const char* name) {
  const auto it = object.find(name);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

bool same_path(std::string_view a, std::string_view b) {
  const auto normal = [](std::string_view p) {
    while (p.size() > 1 && p.back() == '/') {
      p.remove_suffix(1);
    }
    return std::filesystem::path(p).lexically_normal();
  };
  return normal(a) == normal(b);
}

}  // namespace

bool build_is_held(bool has_lease, const std::optional<std::string>& status) {
  if (has_lease) {
    return true;
  }
  // No record: it ended long ago (or retention removed it); it never runs again.
  return status && (*status == "queued" || *status == "retrying" || *status == "running");
}

std::set<std::string> builds_to_check(const disk_survey& survey) {
  std::set<std::string> ids(survey.workspaces.begin(), survey.workspaces.end());
  for (const auto& c : survey.containers) {
    if (!c.build_id.empty()) {
      ids.insert(c.build_id);
    }
  }
  return ids;
}

sweep_plan plan_sweep(const disk_survey& survey, const sweep_facts& facts) {
  sweep_plan plan;
  bool storage_in_use = false;
  for (const auto& p : survey.processes) {
    if (p.orphan && !p.build_id.empty()) {
      plan.kill.push_back(p.pid);
    } else {
      storage_in_use = true;
    }
  }
  if (facts.redis_answered) {
    const auto over = [&](const std::string& id) { return !facts.held_builds.contains(id); };
    for (const auto& c : survey.containers) {
      if (!c.build_id.empty() && over(c.build_id)) {
        plan.containers.push_back(c.id);
      }
    }
    if (!facts.keep_workspaces) {
      std::copy_if(survey.workspaces.begin(), survey.workspaces.end(),
                   std::back_inserter(plan.workspaces), over);
    }
    for (const auto& m : survey.mirrors) {
      if (!facts.services.contains(m)) {
        plan.mirrors.push_back(m);
      }
    }
  }
  // An image a container still uses cannot go: buildah would fail on it (exit code 125).
  plan.prune_images = survey.dangling_images && !storage_in_use &&
                      plan.containers.size() == survey.containers.size();
  return plan;
}

std::optional<std::string> buildah_build_id(const std::vector<std::string>& argv,
                                            std::string_view storage_root) {
  if (argv.empty() || std::filesystem::path(argv[0]).filename() != "buildah") {
    return std::nullopt;
  }
  bool on_storage = false;
  std::string build_id;
  const std::string prefix = std::string(build_id_arg) + "=";
  for (std::size_t i = 1; i < argv.size(); ++i) {
    std::string_view a = argv[i];
    std::optional<std::string_view> value;
    for (std::string_view flag : {"--root", "--build-arg"}) {
      const std::string with_equals = std::string(flag) + "=";
      if (a == flag && i + 1 < argv.size()) {
        value = argv[++i];
      } else if (a.starts_with(with_equals)) {
        value = a.substr(with_equals.size());
      }
      if (value) {
        if (flag == "--root") {
          on_storage = same_path(*value, storage_root);
        } else if (value->starts_with(prefix)) {
          build_id = std::string(value->substr(prefix.size()));
        }
        break;
      }
    }
  }
  if (!on_storage) {
    return std::nullopt;
  }
  return build_id;
}

std::string builder_build_id(std::string_view buildah_json) {
  const auto doc = parse(buildah_json);
  if (!doc || !doc->is_object()) {
    return {};
  }
  const auto args = doc->find("Args");
  if (args == doc->end() || !args->is_object()) {
    return {};
  }
  return string_field(*args, std::string(build_id_arg).c_str());
}

std::vector<std::pair<std::string, std::string>> stored_containers(std::string_view text) {
  std::vector<std::pair<std::string, std::string>> out;
  const auto doc = parse(text);
  if (!doc || !doc->is_array()) {
    return out;
  }
  for (const auto& c : *doc) {
    if (c.is_object() && !string_field(c, "id").empty()) {
      out.emplace_back(string_field(c, "id"), string_field(c, "layer"));
    }
  }
  return out;
}

bool has_unnamed_images(std::string_view text) {
  const auto doc = parse(text);
  if (!doc || !doc->is_array()) {
    return false;
  }
  return std::any_of(doc->begin(), doc->end(), [](const json& image) {
    const auto names = image.is_object() ? image.find("names") : image.end();
    return image.is_object() && (names == image.end() || !names->is_array() || names->empty());
  });
}

std::optional<std::pair<char, int>> process_state(std::string_view stat) {
  // "pid (comm) S ppid ...": comm may hold spaces and parentheses; it ends at the last ')'.
  const auto close = stat.rfind(')');
  if (close == std::string_view::npos || close + 4 >= stat.size()) {
    return std::nullopt;
  }
  const std::string_view rest = stat.substr(close + 2);  // "S ppid ..."
  const char state = rest[0];
  int ppid = 0;
  const char* begin = rest.data() + 2;
  const auto [end, ec] = std::from_chars(begin, rest.data() + rest.size(), ppid);
  if (ec != std::errc() || end == begin) {
    return std::nullopt;
  }
  return std::pair{state, ppid};
}

bool plain_name(std::string_view name) {
  return !name.empty() && name.size() <= 128 && name.front() != '-' &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_';
         });
}

std::optional<std::string> without_build_id_warning(std::string_view line) {
  constexpr std::string_view warning = "[Warning] one or more build args were not consumed: [";
  if (!line.starts_with(warning) || !line.ends_with("]")) {
    return std::string(line);
  }
  const std::string_view list = line.substr(warning.size(), line.size() - warning.size() - 1);
  std::string kept;
  std::size_t start = 0;
  while (start <= list.size()) {
    const auto space = std::min(list.find(' ', start), list.size());
    const std::string_view name = list.substr(start, space - start);
    if (!name.empty() && name != build_id_arg) {
      kept += kept.empty() ? "" : " ";
      kept += name;
    }
    start = space + 1;
  }
  if (kept.empty()) {
    return std::nullopt;
  }
  return std::string(warning) + kept + "]";
}

}  // namespace kiwi
