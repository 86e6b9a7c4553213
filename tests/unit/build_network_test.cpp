// build.network's buildah arguments, CNI definition and firewall rules (worker/build_network).
// The network itself is exercised by test_build_flow.py, with a real build.

#include <doctest/doctest.h>

#include <algorithm>

#include <nlohmann/json.hpp>

#include "worker/build_network.hpp"

namespace {

bool has(const std::vector<std::string>& args, const std::vector<std::string>& run) {
  return std::search(args.begin(), args.end(), run.begin(), run.end()) != args.end();
}

}  // namespace

// Every mode runs under runc; only host shares the worker's network.
TEST_CASE("build isolation arguments per build.network") {
  kiwi::build_network network;
  network.runtime = "/usr/sbin/runc";
  network.mode = "isolated";
  network.cni_config_dir = "/var/lib/kiwi/buildah/cni";
  auto args = kiwi::build_isolation_args(network);
  CHECK(has(args, {"--isolation", "oci", "--runtime", "/usr/sbin/runc"}));
  CHECK(has(args, {"--cni-config-dir", "/var/lib/kiwi/buildah/cni", "--cni-plugin-path",
                   "/usr/lib/cni", "--network", "kiwi-build"}));
  CHECK(std::find(args.begin(), args.end(), "chroot") == args.end());

  network.mode = "none";
  args = kiwi::build_isolation_args(network);
  CHECK(has(args, {"--network", "none"}));
  CHECK(std::find(args.begin(), args.end(), "--cni-config-dir") == args.end());

  network.mode = "host";
  args = kiwi::build_isolation_args(network);
  CHECK(has(args, {"--isolation", "oci"}));
  CHECK(has(args, {"--network", "host"}));

  // The default of a request: no network at all.
  CHECK(kiwi::build_network{}.mode == "none");
}

// Kiwi's own bridge with NAT outbound, on the configured subnet.
TEST_CASE("the build bridge's CNI definition") {
  const auto conf = nlohmann::json::parse(kiwi::build_cni_conflist("10.231.0.0/24"));
  CHECK(conf["name"] == "kiwi-build");
  const auto& bridge = conf["plugins"][0];
  CHECK(bridge["type"] == "bridge");
  CHECK(bridge["bridge"] == "kiwi-build0");
  CHECK(bridge["ipMasq"] == true);
  CHECK(bridge["isGateway"] == true);
  CHECK(bridge["ipam"]["ranges"][0][0]["subnet"] == "10.231.0.0/24");
  CHECK(conf["plugins"][1]["type"] == "firewall");
}

// Input from the bridge to the host dropped for IPv4 and IPv6, link-local forwarding too.
TEST_CASE("the firewall rules that keep builds off the host") {
  const auto rules = kiwi::build_firewall_rules();
  REQUIRE(rules.size() == 3);
  for (const auto& r : rules) {
    CHECK(has(r.spec, {"-i", "kiwi-build0"}));
    CHECK(r.spec.back() == "DROP");
  }
  CHECK((rules[0].program == "iptables" && rules[0].chain == "INPUT"));
  CHECK((rules[1].program == "ip6tables" && rules[1].chain == "INPUT"));
  CHECK((rules[2].chain == "FORWARD" && has(rules[2].spec, {"-d", "169.254.0.0/16"})));
}
