#!/usr/bin/env bash
# Start a local OPG chain network of four validators (alice, bob, charlie, dave) on 127.0.0.1,
# each running the inference worker, and show verified inference on it: the three demo models
# (seeded ONNX MLP, all-MiniLM-L6-v2, tiny Llama) are bundled, served over HTTP on 127.0.0.1,
# registered with `opg`, sent one request each, and every answer is re-checked with
# `opg verify`. The network then keeps running until Ctrl-C.
#
#   scripts/devnet.sh [--base-path DIR] [--no-build] [--examples] [--smoke]
#
#   --base-path DIR  keep chain data and node keys in DIR (default: a new temp dir); re-using a
#                    directory restarts the same network with the same peer ids.
#   --no-build       use the already built binary.
#   --examples       after the demo, run examples/python (substrate-interface) and examples/js
#                    (@polkadot/api) against the network and check their answers against
#                    `opg-engine run` (installs both libraries when missing).
#   --smoke          check the network and exit: wait for finalized block >= 3 on all four,
#                    run the demo, kill dave, check the other three keep finalizing, then stop
#                    everything.
#
# Ports (override the bases with P2P_PORT, RPC_PORT, PROMETHEUS_PORT): node i (0..3) uses
# P2P_PORT+i, RPC_PORT+i and PROMETHEUS_PORT+i; the model file server MODEL_PORT (8000).
# Ctrl-C stops every node.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/prereqs.sh
source scripts/lib/demo.sh
source scripts/lib/examples.sh

base_path=""
build=1
smoke=0
examples=0
while [ $# -gt 0 ]; do
	case "$1" in
		--base-path) base_path="${2:?--base-path needs a directory}"; shift 2 ;;
		--no-build) build=0; shift ;;
		--smoke) smoke=1; shift ;;
		--examples) examples=1; shift ;;
		-h|--help) sed -n '2,22p' "$0"; exit 0 ;;
		*) opg_die "unknown argument '$1' (see --help)" ;;
	esac
done

P2P_PORT="${P2P_PORT:-30333}"
RPC_PORT="${RPC_PORT:-9944}"
PROMETHEUS_PORT="${PROMETHEUS_PORT:-9615}"
VALIDATORS=(alice bob charlie dave)
NODE="$CARGO_TARGET_DIR/release/opg-node"

ensure_prerequisites
if [ "$build" = 1 ]; then
	echo "building opg-node, opg and opg-engine (release; the first build takes a while)..." >&2
	# The whole workspace, like scripts/test.sh: the same features, so neither rebuilds the other.
	cargo build --release --locked --workspace
fi
for bin in "$NODE" "$CARGO_TARGET_DIR/release/opg" "$CARGO_TARGET_DIR/release/opg-engine"; do
	[ -x "$bin" ] || opg_die "no binary at $bin: run without --no-build"
done

port_in_use() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}
for i in "${!VALIDATORS[@]}"; do
	for port in $((P2P_PORT + i)) $((RPC_PORT + i)) $((PROMETHEUS_PORT + i)); do
		port_in_use "$port" && opg_die "port $port on 127.0.0.1 is already in use \
(another devnet running?); stop it or set P2P_PORT / RPC_PORT / PROMETHEUS_PORT"
	done
done

if [ -z "$base_path" ]; then
	base_path="$(mktemp -d "${TMPDIR:-/tmp}/opg-devnet.XXXXXX")"
fi
mkdir -p "$base_path"

pids=()
demo_server_pid=""
stop_all() {
	trap - INT TERM EXIT
	if [ -n "$demo_server_pid" ]; then kill "$demo_server_pid" 2>/dev/null || true; fi
	if [ ${#pids[@]} -gt 0 ]; then
		echo "stopping ${#pids[@]} nodes..." >&2
		kill "${pids[@]}" 2>/dev/null || true
		wait "${pids[@]}" 2>/dev/null || true
	fi
}
trap stop_all EXIT
trap 'exit 130' INT TERM

rpc() { # rpc PORT METHOD [PARAMS]
	curl -sf -m 5 -H 'Content-Type: application/json' \
		-d "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"$2\",\"params\":${3:-[]}}" \
		"http://127.0.0.1:$1"
}
finalized() { # finalized PORT -> block number, or nothing
	local hash header
	hash=$(rpc "$1" chain_getFinalizedHead | sed -n 's/.*"result":"\(0x[0-9a-f]*\)".*/\1/p')
	[ -n "$hash" ] || return 0
	header=$(rpc "$1" chain_getHeader "[\"$hash\"]") || return 0
	printf '%d\n' "$(sed -n 's/.*"number":"\(0x[0-9a-f]*\)".*/\1/p' <<<"$header")"
}
wait_finalized() { # wait_finalized TARGET TIMEOUT_SECS INDEX...
	local target=$1 timeout=$2; shift 2
	local deadline=$((SECONDS + timeout)) i n
	for i in "$@"; do
		while :; do
			n=$(finalized $((RPC_PORT + i)) || true)
			[ -n "$n" ] && [ "$n" -ge "$target" ] && break
			kill -0 "${pids[$i]}" 2>/dev/null ||
				opg_die "${VALIDATORS[$i]} exited; see $base_path/${VALIDATORS[$i]}.log"
			[ $SECONDS -lt $deadline ] ||
				opg_die "${VALIDATORS[$i]} did not finalize #$target in ${timeout}s; see $base_path/${VALIDATORS[$i]}.log"
			sleep 1
		done
		echo "  ${VALIDATORS[$i]}: finalized #$n" >&2
	done
}

# Persistent node keys: the same directory gives the same peer ids on every run.
peer_ids=()
for name in "${VALIDATORS[@]}"; do
	key="$base_path/$name.node-key"
	[ -f "$key" ] || "$NODE" key generate-node-key --file "$key" 2>/dev/null
	peer_ids+=("$("$NODE" key inspect-node-key --file "$key")")
done
bootnode="/ip4/127.0.0.1/tcp/$P2P_PORT/p2p/${peer_ids[0]}"

echo "base path: $base_path" >&2
printf '%-8s %-54s %6s %6s %6s\n' node peer-id p2p rpc metrics
for i in "${!VALIDATORS[@]}"; do
	name=${VALIDATORS[$i]}
	printf '%-8s %-54s %6s %6s %6s\n' "$name" "${peer_ids[$i]}" $((P2P_PORT + i)) \
		$((RPC_PORT + i)) $((PROMETHEUS_PORT + i))
	args=(
		--chain local "--$name"
		--base-path "$base_path/$name"
		--name "$name"
		--node-key-file "$base_path/$name.node-key"
		--listen-addr "/ip4/127.0.0.1/tcp/$((P2P_PORT + i))"
		--rpc-port $((RPC_PORT + i))
		--prometheus-port $((PROMETHEUS_PORT + i))
		--no-mdns --no-telemetry
	)
	[ "$i" -gt 0 ] && args+=(--bootnodes "$bootnode")
	"$NODE" "${args[@]}" >"$base_path/$name.log" 2>&1 &
	pids+=($!)
done
echo "logs: $base_path/<name>.log   polkadot.js: https://polkadot.js.org/apps/?rpc=ws://127.0.0.1:$RPC_PORT" >&2

echo "waiting for finalized block #3 on all four nodes..." >&2
wait_finalized 3 240 0 1 2 3
echo "network is finalizing." >&2

run_demo
if [ "$examples" = 1 ]; then run_examples; fi

if [ "$smoke" = 1 ]; then
	echo "smoke check: killing dave; the other three must keep finalizing" >&2
	kill -9 "${pids[3]}"; wait "${pids[3]}" 2>/dev/null || true
	unset 'pids[3]'
	now=$(finalized "$RPC_PORT")
	[ -n "$now" ] && [ "$now" -gt 0 ] || opg_die "cannot read alice's finalized block"
	wait_finalized $((now + 3)) 120 0 1 2
	echo "smoke check passed: finality continued with 3 of 4 validators" >&2
	exit 0
fi

echo "press Ctrl-C to stop the network" >&2
wait
