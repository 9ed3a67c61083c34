#!/usr/bin/env bash
# Query throughput: tandem vs Knot, NSD and BIND (dnsperf, loopback).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-test-deps
cargo build --release -p tandem
exec /usr/bin/python3 bench/dnsbench.py query
