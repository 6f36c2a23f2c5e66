#!/usr/bin/env bash
# Run the devnet demo against a network that is already running (the compose client container
# does this): bundle the three demo models, serve them over HTTP, register them, send one request
# to each, verify every answer, and keep serving the bundles for the validators.
#
#   scripts/demo.sh [--url ws://HOST:PORT] [--model-url http://HOST:PORT] [--bind ADDR] [--dir DIR]
#
#   --url        the node to talk to (default ws://127.0.0.1:9944)
#   --model-url  the address validators fetch the bundles from (default http://127.0.0.1:8000)
#   --bind       the address the bundle server listens on (default 127.0.0.1)
#   --dir        where bundles and the verifier's store go (default: a new temp dir)
#
# Binaries come from OPG_BIN_DIR (default $CARGO_TARGET_DIR/release).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/prereqs.sh
source scripts/lib/demo.sh

DEMO_URL="${DEMO_URL:-ws://127.0.0.1:9944}"
base_path=""
while [ $# -gt 0 ]; do
	case "$1" in
		--url) DEMO_URL="${2:?--url needs ws://host:port}"; shift 2 ;;
		--model-url)
			MODEL_URL="${2:?--model-url needs http://host:port}"
			MODEL_URL="${MODEL_URL%/}"
			MODEL_PORT="${MODEL_URL##*:}"
			shift 2
			;;
		--bind) MODEL_BIND="${2:?--bind needs an address}"; shift 2 ;;
		--dir) base_path="${2:?--dir needs a directory}"; shift 2 ;;
		-h|--help) sed -n '2,13p' "$0"; exit 0 ;;
		*) opg_die "unknown argument '$1' (see --help)" ;;
	esac
done
RPC_PORT="${DEMO_URL##*:}"
[ -n "$base_path" ] || base_path="$(mktemp -d -t opg-demo.XXXXXX)"
mkdir -p "$base_path"
trap 'kill ${demo_server_pid:-} 2>/dev/null || true' EXIT

echo "waiting for $DEMO_URL to produce blocks..." >&2
for attempt in $(seq 1 120); do
	demo_opg model list >/dev/null 2>&1 && break
	[ "$attempt" = 120 ] && opg_die "no node answers at $DEMO_URL"
	sleep 2
done

run_demo
echo "serving the bundles for the validators at $MODEL_URL/ (Ctrl-C stops)" >&2
wait "$demo_server_pid"
