#!/usr/bin/env bash
# Run the whole OPG chain test suite: unit tests, and the end-to-end tests that start the real
# `opg-node` binary (a 4-validator network and a dev node on 127.0.0.1).
#
# Everything is built once, in the release profile, so the node the tests start is the node
# operators run and the wasm runtime is built exactly once.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/prereqs.sh
ensure_prerequisites
ensure_python_yaml
ensure_engine_test_deps
ensure_example_deps

echo "target dir: $CARGO_TARGET_DIR" >&2
start=$(date +%s)
cargo build --release --locked --workspace --tests --bins
built=$(date +%s)
echo "build: $((built - start)) s" >&2
python3 scripts/check-deploy.py "$CARGO_TARGET_DIR/release/opg-node"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0
cargo test --release --locked --workspace "$@" 2>&1 | tee "$log" || status=$?
# The devnet as a user starts it, demo included (on ports of its own), when the whole suite runs.
if [ $# -eq 0 ]; then
	demo_start=$(date +%s)
	if P2P_PORT=31333 RPC_PORT=19944 PROMETHEUS_PORT=19615 MODEL_PORT=18000 \
		bash scripts/devnet.sh --no-build --examples --smoke >"$log.devnet" 2>&1; then
		grep -E '^(python|js) \(' "$log.devnet" || true
		echo "test result: ok. 1 passed; 0 failed (scripts/devnet.sh --examples --smoke, $(($(date +%s) - demo_start)) s)" | tee -a "$log"
	else
		tail -40 "$log.devnet" >&2
		echo "test result: FAILED. 0 passed; 1 failed (scripts/devnet.sh --examples --smoke)" | tee -a "$log"
		status=1
	fi
	rm -f "$log.devnet"
fi
echo "build $((built - start)) s, tests $(($(date +%s) - built)) s" >&2
# One closing line for the whole suite: the sum over every test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
	END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
