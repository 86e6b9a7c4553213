#!/usr/bin/env bash
# Installs the Debian 12 packages Kiwi's build, demo, tests and benchmarks need, only what is
# missing (checked with dpkg-query, so a second run is instant and touches nothing).
#   scripts/install-deps.sh          build + demo + tests (+ wrk), and the OpenAPI linter the
#                                    tests run (tools/openapi: npm ci of its pinned lockfile)
#   scripts/install-deps.sh --bench  also the benchmarks' peers: adnanh/webhook (ingest),
#                                    Sidekiq and Node.js/npm for BullMQ (queue_throughput)
# As root: apt-get update once, then apt-get install. Otherwise: prints the command and exits 1.
set -euo pipefail

packages=(build-essential cmake ninja-build ccache pkg-config libboost1.81-dev libhiredis-dev
          libgit2-dev libsimdjson-dev nlohmann-json3-dev libspdlog-dev libfmt-dev doctest-dev
          libsystemd-dev libssl-dev redis-server redis-tools git lighttpd lighttpd-mod-openssl curl openssl python3
          python3-pytest python3-redis systemd wrk openssh-server openssh-client
          buildah docker-registry apache2-utils busybox-static
          podman runc containernetworking-plugins iptables python3-cryptography
          clang libclang-rt-14-dev clang-tidy)  # clang: fuzz/ (libFuzzer) and scripts/tidy.sh
# Node.js may come from elsewhere (NodeSource ships npm inside nodejs): only if absent.
command -v npm >/dev/null || packages+=(nodejs npm)
for arg in "$@"; do
  case $arg in
    --bench)
      packages+=(webhook ruby-sidekiq)
      ;;
    *) echo "usage: $0 [--bench]" >&2; exit 2 ;;
  esac
done

# One dpkg-query for all: "ii " marks an installed package; unknown names print nothing.
installed=" $(dpkg-query -W -f='${db:Status-Abbrev}${Package} ' "${packages[@]}" 2>/dev/null |
              grep -o 'ii [^ ]*' | cut -c4- | tr '\n' ' ' || true) "
missing=()
for p in "${packages[@]}"; do
  [[ $installed == *" $p "* ]] || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  if [[ $(id -u) -ne 0 ]]; then
    echo "Kiwi needs these Debian packages, which are missing: ${missing[*]}" >&2
    echo "Install them with:" >&2
    echo "sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q -o DPkg::Lock::Timeout=600
  apt-get install -y -q -o DPkg::Lock::Timeout=600 --no-install-recommends "${missing[@]}"
fi

# The openapi_lint test's @redocly/cli, exactly as tools/openapi/package-lock.json pins it;
# nothing is fetched when that version is installed already (a second run works offline).
lint_dir="$(dirname "$0")/../tools/openapi"
pinned=$(sed -n 's/.*"@redocly\/cli": "\(.*\)".*/\1/p' "$lint_dir/package.json")
installed_lint=$(sed -n 's/^  "version": "\(.*\)".*/\1/p' \
                 "$lint_dir/node_modules/@redocly/cli/package.json" 2>/dev/null || true)
if [[ $installed_lint != "$pinned" ]]; then
  echo "installing @redocly/cli $pinned into tools/openapi (npm ci)"
  (cd "$lint_dir" && npm ci --prefer-offline --no-audit --no-fund)
fi
