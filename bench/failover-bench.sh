#!/usr/bin/env bash
# A DHCP failover pair: a tandem pair vs an ISC dhcpd 4.4 pair with the
# seed's failover config: leases/s, ACK -> BNDACK on the wire, and what
# clients see when a node is killed. Runs in network namespaces of its own,
# so it needs root. See docs/benchmarks.md.
#
# TANDEM=/path/to/tandem uses that binary instead of building one.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $(id -u) -ne 0 ]]; then
  echo "failover-bench: needs root (it creates network namespaces)" >&2
  exit 1
fi
missing=()
for prog in perfdhcp dhcpd tcpdump ip ss flock; do
  command -v "$prog" >/dev/null || missing+=("$prog")
done
if ((${#missing[@]})); then
  echo "failover-bench: missing ${missing[*]}; on Debian:" >&2
  echo "  apt-get install kea-admin isc-dhcp-server tcpdump iproute2 util-linux" >&2
  exit 1
fi
if [[ -z ${TANDEM:-} ]]; then
  cargo build --release -p tandem
fi
# One benchmark at a time on the shared machine.
exec flock /tmp/tandem-bench.lock /usr/bin/python3 bench/failoverbench.py "$@"
