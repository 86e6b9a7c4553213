#include "worker/build_network.hpp"

#include <unistd.h>

#include <stdexcept>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "common/base/child_process.hpp"
#include "common/base/data_dir.hpp"
#include "common/config/config.hpp"

namespace kiwi {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view rule_comment = "kiwi: build containers may not reach the host";

// The first program of names found in PATH or the sbin directories (a service's PATH may lack
// them), or empty.
std::string find_program(std::initializer_list<std::string_view> names) {
  std::string path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  if (const char* p = std::getenv("PATH"); p != nullptr && *p != '\0') {
    path = std::string(p) + ":" + path;
  }
  for (std::string_view name : names) {
    std::size_t start = 0;
    while (start <= path.size()) {
      const std::size_t end = std::min(path.find(':', start), path.size());
      const fs::path candidate = fs::path(path.substr(start, end - start)) / name;
      if (end > start && ::access(candidate.c_str(), X_OK) == 0) {
        return candidate.string();
      }
      start = end + 1;
    }
  }
  return {};
}

// Runs a short administrative command; empty on success, else its exit and last line.
std::string run_admin(const std::vector<std::string>& argv) {
  child_request child;
  child.argv = argv;
  child.env = environment_subset({"PATH"});
  set_environment(child.env, "PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  child.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  const child_result r = run_child(child);
  if (r.succeeded()) {
    return {};
  }
  std::string why = r.describe();
  if (!r.last_lines.empty()) {
    why += ": " + r.last_lines.back();
  }
  return why;
}

void install_rule(const std::string& program, const firewall_rule& rule) {
  std::vector<std::string> check = {program, "-w", "10", "-C", rule.chain};
  check.insert(check.end(), rule.spec.begin(), rule.spec.end());
  if (run_admin(check).empty()) {
    return;  // already there (another worker on this machine, or an earlier start)
  }
  // First in the chain: an ACCEPT rule of the host's own firewall must not come before it.
  std::vector<std::string> insert = {program, "-w", "10", "-I", rule.chain, "1"};
  insert.insert(insert.end(), rule.spec.begin(), rule.spec.end());
  if (std::string why = run_admin(insert); !why.empty()) {
    throw std::runtime_error(rule.program + " -I " + rule.chain + " failed (" + why + ")");
  }
}

std::string not_isolated(const std::string& why) {
  return "build.network \"isolated\" cannot be provided: " + why +
         ". Fix that, or set build.network to \"none\" (RUN steps without any network) or, "
         "knowing that RUN steps then reach every service on this machine, \"host\"";
}

}  // namespace

std::string build_cni_conflist(std::string_view subnet) {
  using nlohmann::json;
  const json bridge = {
      {"type", "bridge"},
      {"bridge", build_bridge},
      {"isGateway", true},
      {"ipMasq", true},
      {"hairpinMode", false},
      {"ipam",
       {{"type", "host-local"},
        {"routes", json::array({{{"dst", "0.0.0.0/0"}}})},
        {"ranges", json::array({json::array({{{"subnet", subnet}}})})}}}};
  const json firewall = {{"type", "firewall"}, {"backend", "iptables"}};
  return json{{"cniVersion", "0.4.0"},
              {"name", build_cni_network},
              {"plugins", json::array({bridge, firewall})}}
             .dump(2) +
         "\n";
}

std::vector<firewall_rule> build_firewall_rules() {
  const std::string bridge(build_bridge);
  const std::vector<std::string> tail = {"-m", "comment", "--comment", std::string(rule_comment),
                                         "-j", "DROP"};
  auto rule = [&](std::string program, std::string chain, std::vector<std::string> match) {
    match.insert(match.end(), tail.begin(), tail.end());
    return firewall_rule{std::move(program), std::move(chain), std::move(match)};
  };
  return {
      // Any address of the host itself (the gateway, its LAN address, a link-local IPv6 one).
      rule("iptables", "INPUT", {"-i", bridge}),
      rule("ip6tables", "INPUT", {"-i", bridge}),
      // Cloud metadata services and other link-local neighbours of the host.
      rule("iptables", "FORWARD", {"-i", bridge, "-d", "169.254.0.0/16"}),
  };
}

std::vector<std::string> build_isolation_args(const build_network& network) {
  std::vector<std::string> args = {"--isolation", "oci", "--runtime", network.runtime};
  if (network.mode == "isolated") {
    args.insert(args.end(), {"--cni-config-dir", network.cni_config_dir.string(),
                             "--cni-plugin-path", network.cni_plugin_dir.string(), "--network",
                             std::string(build_cni_network)});
  } else {
    args.insert(args.end(), {"--network", network.mode == "host" ? "host" : "none"});
  }
  return args;
}

build_network prepare_build_network(const build_config& config, const fs::path& state_dir) {
  build_network network;
  network.mode = config.network;
  if (network.mode == "host") {
    spdlog::warn("build.network is \"host\": RUN steps of every build share this worker's "
                 "network and reach every service on this machine (Redis, kiwid, 127.0.0.1); "
                 "use it only where everyone who can push is trusted like the machine's admin");
  }
  network.runtime = find_program({"runc"});
  if (network.runtime.empty()) {
    const std::string why = "runc is not installed (Debian package runc)";
    throw std::runtime_error(network.mode == "isolated"
                                 ? not_isolated(why)
                                 : "build.network \"" + network.mode + "\": " + why);
  }
  if (network.mode != "isolated") {
    return network;
  }
  if (::geteuid() != 0) {
    throw std::runtime_error(not_isolated(
        "the worker does not run as root, and only root can attach builds to Kiwi's bridge and "
        "install the firewall rules that keep them off the host (a rootless slirp4netns network "
        "reaches the host's own addresses)"));
  }
  for (std::string_view plugin : {"bridge", "host-local", "firewall"}) {
    if (::access((network.cni_plugin_dir / plugin).c_str(), X_OK) != 0) {
      throw std::runtime_error(not_isolated("the CNI plugin " +
                                            (network.cni_plugin_dir / plugin).string() +
                                            " is missing (Debian package "
                                            "containernetworking-plugins)"));
    }
  }
  network.cni_config_dir = state_dir / "cni";
  make_private_directory(network.cni_config_dir);
  write_private_file(network.cni_config_dir / (std::string(build_cni_network) + ".conflist"),
               build_cni_conflist(config.subnet));

  const bool has_ipv6 = ::access("/proc/net/if_inet6", F_OK) == 0;
  for (const firewall_rule& rule : build_firewall_rules()) {
    if (rule.program == "ip6tables" && !has_ipv6) {
      continue;  // no IPv6 on this machine: nothing to reach over it
    }
    const std::string program = find_program({rule.program});
    if (program.empty()) {
      throw std::runtime_error(not_isolated(rule.program + " is not installed (Debian package "
                                            "iptables)"));
    }
    try {
      install_rule(program, rule);
    } catch (const std::runtime_error& e) {
      throw std::runtime_error(not_isolated(e.what()));
    }
  }
  spdlog::info("builds run isolated: bridge {} on {}, the host's own addresses dropped",
               build_bridge, config.subnet);
  return network;
}

}  // namespace kiwi
