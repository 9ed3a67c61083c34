#!/usr/bin/env bash
# Replication: update-to-secondary latency and a 100k-record AXFR, a tandem
# pair against a BIND 9 pair on loopback. Arguments go to bench/replbench.py
# (default: all 50 100000).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-test-deps
cargo build --release -p tandem --bin tandem
exec /usr/bin/python3 bench/replbench.py "$@"
