#pragma once
// What a local build's RUN steps may reach (build.network; docs/security.md, "Build isolation").
//
// Every mode runs RUN steps under runc (`--isolation oci`) in their own PID, mount, IPC and UTS
// namespaces, with runc's default capabilities (no CAP_SYS_ADMIN, no CAP_NET_ADMIN). No user
// namespace: buildah 1.28 with --layers cannot run a second RUN step in one (docs/security.md).
// The network differs:
//   isolated  their own network namespace on Kiwi's bridge (kiwi-build0, build.subnet), with
//             outbound access through NAT for dependency downloads; firewall rules drop every
//             packet from the bridge to the host itself (IPv4 and IPv6) and to link-local
//             addresses (cloud metadata). Needs root: the worker refuses to start without it.
//   none      their own network namespace with only a loopback device.
//   host      the worker's own network: every service on the machine, 127.0.0.1 included, is
//             reachable. An explicit opt-in, warned about at start and in every build's log.
// The worker prepares the mode once at start (prepare_build_network) and refuses to start when
// it cannot provide it, rather than letting any build fall back to the host's network.

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace kiwi {

struct build_config;

constexpr std::string_view build_bridge = "kiwi-build0";
constexpr std::string_view build_cni_network = "kiwi-build";

// The prepared network settings a build is run with.
struct build_network {
  std::string mode = "none";               // isolated, none or host
  std::string runtime = "runc";            // the OCI runtime (Debian's crun fails on some hosts)
  std::filesystem::path cni_config_dir;    // isolated: holds Kiwi's network definition
  std::filesystem::path cni_plugin_dir = "/usr/lib/cni";
};

// Kiwi's CNI network definition (a .conflist) for the build bridge on subnet.
std::string build_cni_conflist(std::string_view subnet);

// One firewall rule: the program (iptables or ip6tables), the chain, and the rule's
// match-and-target arguments as `-C`, `-I` and `-D` take them.
struct firewall_rule {
  std::string program;
  std::string chain;
  std::vector<std::string> spec;
};

// The rules that keep the build bridge off the host: INPUT from the bridge dropped (IPv4 and
// IPv6), and forwarding from it to 169.254.0.0/16 dropped.
std::vector<firewall_rule> build_firewall_rules();

// buildah bud's isolation arguments for this network: --isolation, --runtime, --network (and
// the CNI directories).
std::vector<std::string> build_isolation_args(const build_network& network);

// At worker start: checks that the mode can be provided and sets it up (isolated: writes the
// CNI definition under state_dir and installs the firewall rules, idempotently). Throws
// std::runtime_error saying what to fix when it cannot.
build_network prepare_build_network(const build_config& config,
                                    const std::filesystem::path& state_dir);

}  // namespace kiwi
