#include "common/deploy/docker_wire.hpp"

#include <stdexcept>

#include <nlohmann/json.hpp>

#include "common/base/quantity.hpp"
#include "common/base/text.hpp"
#include "common/security/crypto.hpp"

namespace kiwi {

namespace {

using json = nlohmann::json;

std::string text(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

long long number(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number_integer() ? it->get<long long>() : 0;
}

// The registry's host[:port], as the engine names it in the image reference.
std::string server_address(const std::string& url) {
  std::string_view s = url;
  if (const auto scheme = s.find("://"); scheme != std::string_view::npos) {
    s.remove_prefix(scheme + 3);
  }
  return std::string(s.substr(0, s.find('/')));
}

// {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": "32768"}]} -> {8080: 32768}
std::map<unsigned, unsigned> host_ports_of(const json& ports) {
  std::map<unsigned, unsigned> out;
  if (!ports.is_object()) {
    return out;
  }
  for (const auto& [key, bindings] : ports.items()) {
    if (!key.ends_with("/tcp") || !bindings.is_array()) {
      continue;
    }
    for (const auto& b : bindings) {
      const std::string host_port = b.is_object() ? text(b, "HostPort") : std::string();
      if (!host_port.empty()) {
        out[static_cast<unsigned>(std::stoul(key))] = static_cast<unsigned>(std::stoul(host_port));
        break;
      }
    }
  }
  return out;
}

std::map<std::string, std::string> labels_of(const json& j) {
  std::map<std::string, std::string> out;
  if (j.is_object()) {
    for (const auto& [k, v] : j.items()) {
      if (v.is_string()) {
        out[k] = v.get<std::string>();
      }
    }
  }
  return out;
}

}  // namespace

std::string registry_auth_header(const registry_config& registry) {
  const json auth = {{"username", registry.username},
                     {"password", registry.password},
                     {"serveraddress", server_address(registry.url)}};
  std::string out = base64_encode(auth.dump());
  for (char& c : out) {
    c = c == '+' ? '-' : c == '/' ? '_' : c;
  }
  return out;
}

std::optional<std::string> pull_stream_error(std::string_view body) {
  while (!body.empty()) {
    const auto eol = body.find('\n');
    const std::string_view line = trim_whitespace(body.substr(0, eol));
    body.remove_prefix(eol == std::string_view::npos ? body.size() : eol + 1);
    if (line.empty()) {
      continue;
    }
    const json j = json::parse(line, nullptr, false);
    if (!j.is_object()) {
      continue;
    }
    if (std::string e = text(j, "error"); !e.empty()) {
      return e;
    }
    if (auto d = j.find("errorDetail"); d != j.end() && d->is_object()) {
      if (std::string m = text(*d, "message"); !m.empty()) {
        return m;
      }
    }
  }
  return std::nullopt;
}

std::string container_name(std::string_view service, std::string_view environment,
                           unsigned long long revision, unsigned replica) {
  return "kiwi-" + std::string(service) + "-" + std::string(environment) + "-r" +
         std::to_string(revision) + "-" + std::to_string(replica);
}

std::map<std::string, std::string> deploy_labels(const deploy_request& request, unsigned replica) {
  return {{"kiwi.service", request.service},
          {"kiwi.env", request.environment},
          {"kiwi.deployment", request.deployment_id},
          {"kiwi.revision", std::to_string(request.revision)},
          {"kiwi.replica", std::to_string(replica)}};
}

std::string container_create_body(const container_spec& spec) {
  const environment_config& env = *spec.env;
  json body = {{"Image", spec.image}, {"Labels", spec.labels}};
  json vars = json::array();
  for (const auto& [k, v] : env.env) {
    vars.push_back(k + "=" + v);
  }
  for (const auto& [k, v] : env.secret_env) {
    vars.push_back(k + "=" + v);
  }
  body["Env"] = vars;
  json host = {{"RestartPolicy", {{"Name", env.restart_policy}}}};
  if (!env.resources.limits.cpu.empty()) {
    const auto nanos = cpu_nanos(env.resources.limits.cpu);
    if (!nanos) {
      throw std::invalid_argument("resources.limits.cpu \"" + env.resources.limits.cpu +
                                  "\" is not a CPU quantity: write e.g. 500m or 1.5");
    }
    host["NanoCpus"] = *nanos;
  }
  if (!env.resources.limits.memory.empty()) {
    const auto bytes = memory_bytes(env.resources.limits.memory);
    if (!bytes) {
      throw std::invalid_argument("resources.limits.memory \"" + env.resources.limits.memory +
                                  "\" is not a memory quantity: write e.g. 512Mi or 1G");
    }
    host["Memory"] = *bytes;
  }
  json exposed = json::object();
  json bindings = json::object();
  auto publish = [&](unsigned port, unsigned host_port) {
    const std::string key = std::to_string(port) + "/tcp";
    exposed[key] = json::object();
    bindings[key] = json::array(
        {{{"HostIp", "127.0.0.1"}, {"HostPort", host_port ? std::to_string(host_port) : ""}}});
  };
  if (env.port != 0) {
    publish(env.port, spec.host_port);
  }
  if (env.health.port != 0 && env.health.port != env.port && !env.health.path.empty()) {
    publish(env.health.port, 0);
  }
  if (!bindings.empty()) {
    body["ExposedPorts"] = exposed;
    host["PortBindings"] = bindings;
  }
  body["HostConfig"] = host;
  return body.dump();
}

std::optional<container_state> parse_container_state(std::string_view inspect_json) {
  const json j = json::parse(inspect_json, nullptr, false);
  if (!j.is_object() || !j.contains("State") || !j["State"].is_object()) {
    return std::nullopt;
  }
  const json& s = j["State"];
  container_state out;
  out.status = text(s, "Status");
  out.running = s.value("Running", false);
  out.restarting = s.value("Restarting", false);
  out.exit_code = static_cast<int>(number(s, "ExitCode"));
  out.restart_count = static_cast<unsigned>(number(j, "RestartCount"));
  if (auto c = j.find("Config"); c != j.end() && c->is_object()) {
    if (auto h = c->find("Healthcheck"); h != c->end() && h->is_object()) {
      const json test = h->value("Test", json::array());
      out.has_healthcheck = test.is_array() && !test.empty() && test[0] != "NONE";
    }
  }
  if (auto h = s.find("Health"); h != s.end() && h->is_object()) {
    out.health = text(*h, "Status");
    if (auto log = h->find("Log"); log != h->end() && log->is_array() && !log->empty()) {
      out.health_output = std::string(trim_whitespace(text(log->back(), "Output")));
    }
  }
  if (auto n = j.find("NetworkSettings"); n != j.end() && n->is_object() && n->contains("Ports")) {
    out.host_ports = host_ports_of((*n)["Ports"]);
  }
  return out;
}

std::vector<container_summary> parse_container_list(std::string_view list_json) {
  std::vector<container_summary> out;
  const json j = json::parse(list_json, nullptr, false);
  if (!j.is_array()) {
    return out;
  }
  for (const auto& c : j) {
    if (!c.is_object()) {
      continue;
    }
    container_summary s;
    s.id = text(c, "Id");
    if (auto names = c.find("Names"); names != c.end() && names->is_array() && !names->empty() &&
                                      names->front().is_string()) {
      s.name = names->front().get<std::string>();
      if (s.name.starts_with('/')) {
        s.name.erase(0, 1);
      }
    }
    s.image = text(c, "Image");
    s.state = text(c, "State");
    s.labels = labels_of(c.value("Labels", json::object()));
    for (const auto& p : c.value("Ports", json::array())) {
      if (p.is_object() && text(p, "Type") == "tcp" && number(p, "PublicPort") != 0) {
        s.host_ports[static_cast<unsigned>(number(p, "PrivatePort"))] =
            static_cast<unsigned>(number(p, "PublicPort"));
      }
    }
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<std::string> demux_log_lines(std::string_view stream, std::size_t max_lines) {
  // Multiplexed when the first frame header is well formed; a TTY's raw text never starts
  // with a byte 0..2 followed by three zero bytes.
  std::string text_out;
  const auto is_header = [](std::string_view s) {
    return s.size() >= 8 && static_cast<unsigned char>(s[0]) <= 2 && s[1] == 0 && s[2] == 0 &&
           s[3] == 0;
  };
  if (is_header(stream)) {
    while (stream.size() >= 8 && is_header(stream)) {
      const auto byte = [&](int i) { return static_cast<std::uint32_t>(static_cast<unsigned char>(stream[i])); };
      const std::size_t length = (byte(4) << 24) | (byte(5) << 16) | (byte(6) << 8) | byte(7);
      stream.remove_prefix(8);
      const std::size_t n = std::min(length, stream.size());  // a cut-off last frame: what came
      text_out.append(stream.substr(0, n));
      stream.remove_prefix(n);
    }
  } else {
    text_out = stream;
  }
  std::vector<std::string> lines;
  std::string_view rest = text_out;
  while (!rest.empty()) {
    const auto eol = rest.find('\n');
    std::string_view line = rest.substr(0, eol);
    if (line.ends_with('\r')) {
      line.remove_suffix(1);
    }
    lines.emplace_back(line);
    rest.remove_prefix(eol == std::string_view::npos ? rest.size() : eol + 1);
  }
  if (lines.size() > max_lines) {
    lines.erase(lines.begin(), lines.end() - static_cast<std::ptrdiff_t>(max_lines));
  }
  return lines;
}

}  // namespace kiwi
