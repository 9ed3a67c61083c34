#!/usr/bin/env bash
# DHCPv4 leases per second (full DORA exchanges with perfdhcp, every lease
# durable before its ACK in tandem) vs Kea (memfile) and ISC dhcpd. Runs in
# network namespaces of its own, so it needs root. See docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $(id -u) -ne 0 ]]; then
  echo "dhcp-bench: needs root (it creates network namespaces)" >&2
  exit 1
fi
# The peers are not part of scripts/install-test-deps (no test needs them).
missing=()
for prog in perfdhcp kea-dhcp4 dhcpd strace ip; do
  command -v "$prog" >/dev/null || missing+=("$prog")
done
if ((${#missing[@]})); then
  echo "dhcp-bench: missing ${missing[*]}; on Debian:" >&2
  echo "  apt-get install kea-admin kea-dhcp4-server isc-dhcp-server strace iproute2" >&2
  exit 1
fi
cargo build --release -p tandem
exec /usr/bin/python3 bench/dhcpbench.py "$@"
