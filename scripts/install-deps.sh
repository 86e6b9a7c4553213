#!/usr/bin/env bash
# Installs the Debian 12 packages Kiwi's build, demo and tests need (only what is missing).
#   scripts/install-deps.sh          build + demo + tests
#   scripts/install-deps.sh --bench  also the benchmark peers' packages
set -euo pipefail

packages=(build-essential cmake ninja-build ccache pkg-config libboost1.81-dev libhiredis-dev
          libgit2-dev libsimdjson-dev nlohmann-json3-dev libspdlog-dev libfmt-dev doctest-dev libsystemd-dev
          libssl-dev redis-server redis-tools git lighttpd curl openssl python3 python3-pytest
          python3-redis systemd)
if [[ ${1:-} == --bench ]]; then
  packages+=(wrk webhook)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "Kiwi needs these packages; run:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q -o DPkg::Lock::Timeout=600 --no-install-recommends "${missing[@]}"
