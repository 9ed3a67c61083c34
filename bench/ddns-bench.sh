#!/usr/bin/env bash
# Leases into DNS: names published per second under perfdhcp load with DHCP
# and DNS both durable, and the time from the ACK until DNS answers. Runs in
# network namespaces of its own, so it needs root. See docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $(id -u) -ne 0 ]]; then
  echo "ddns-bench: needs root (it creates network namespaces)" >&2
  exit 1
fi
missing=()
for prog in perfdhcp dig ip; do
  command -v "$prog" >/dev/null || missing+=("$prog")
done
if ((${#missing[@]})); then
  echo "ddns-bench: missing ${missing[*]}; on Debian: apt-get install kea-admin bind9-dnsutils iproute2" >&2
  exit 1
fi
cargo build --release -p tandem
exec /usr/bin/python3 bench/ddnsbench.py "$@"
