#!/usr/bin/env bash
# Signed dynamic updates per second with durability: tandem vs BIND and Knot.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-test-deps
cargo build --release -p tandem --bin tandem --example update_load
exec /usr/bin/python3 bench/dnsbench.py update
