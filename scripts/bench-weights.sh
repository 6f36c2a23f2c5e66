#!/usr/bin/env bash
# Regenerate the weights of OPG chain's own pallets from their benchmarks.
#
#   scripts/bench-weights.sh [pallet ...]      (default: every pallet of ours)
#
# Builds the runtime with `runtime-benchmarks` into its own target dir (the feature changes most
# of the dependency tree, so it must not share artifacts with the test build), installs
# `frame-omni-bencher` when missing, runs the benchmarks against the wasm runtime and writes
# `pallets/<name>/src/weights.rs` through `scripts/weight-template.hbs`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/prereqs.sh
ensure_prerequisites

BENCH_TARGET_DIR="${BENCH_TARGET_DIR:-$HOME/.cache/opg/bench-target}"
STEPS="${STEPS:-25}"
REPEAT="${REPEAT:-10}"
declare -A DIRS=([pallet_worker_staking]=pallets/worker-staking [pallet_inference]=pallets/inference)
pallets=("$@")
[ ${#pallets[@]} -gt 0 ] || pallets=("${!DIRS[@]}")

if ! command -v frame-omni-bencher >/dev/null 2>&1; then
	echo "installing frame-omni-bencher (one-off, several minutes)..." >&2
	CARGO_TARGET_DIR="$BENCH_TARGET_DIR/omni" cargo install --locked frame-omni-bencher --version 0.28.0
fi

CARGO_TARGET_DIR="$BENCH_TARGET_DIR" cargo build --release --locked -p opg-runtime \
	--features runtime-benchmarks
wasm="$BENCH_TARGET_DIR/release/wbuild/opg-runtime/opg_runtime.compact.compressed.wasm"

for pallet in "${pallets[@]}"; do
	dir="${DIRS[$pallet]:?unknown pallet $pallet (known: ${!DIRS[*]})}"
	frame-omni-bencher v1 benchmark pallet \
		--runtime "$wasm" \
		--pallet "$pallet" --extrinsic '*' \
		--steps "$STEPS" --repeat "$REPEAT" \
		--template scripts/weight-template.hbs \
		--output "$dir/src/weights.rs"
	echo "wrote $dir/src/weights.rs" >&2
done
