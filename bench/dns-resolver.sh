#!/usr/bin/env bash
# Cached-answer throughput: tandem's resolver vs Unbound and dnsmasq
# (dnsperf, loopback, Knot as the shared upstream).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-test-deps
cargo build --release -p tandem
exec /usr/bin/python3 bench/resolverbench.py "$@"
