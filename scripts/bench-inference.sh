#!/usr/bin/env bash
# Verified inference on a real dev node: blocks and seconds per phase for each demo model, the
# node's CPU time per request, and inference requests against transfers per block. Prints
# markdown tables (docs/BENCHMARKS.md records them).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/prereqs.sh
ensure_prerequisites
ensure_engine_test_deps
cargo build --release --locked --workspace --tests --bins
cargo test --release --locked --workspace --test bench_inference -- --ignored --nocapture 2>&1 |
	grep -E '^\|' || { echo "error: the benchmark failed; rerun the cargo test line above to see why" >&2; exit 1; }
