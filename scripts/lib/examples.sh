# The ecosystem's own clients against the devnet: examples/python (py-substrate-interface) asks
# MiniLM to embed a sentence, examples/js (@polkadot/api) asks the MLP about a tensor, and each
# output they read through the runtime API must be exactly what `opg-engine run` computes for
# the same model and input.
#
# Sourced by scripts/devnet.sh after run_demo; uses $base_path, $RPC_PORT, $OPG_BIN_DIR, DEMO_URL,
# demo_opg and opg_die.

EXAMPLES_REQUESTER="//Ferdie"

# examples_check NAME RESULT_JSON ENGINE_OUTPUT: the example settled its request with the
# engine's output, as bytes and as the value it decoded.
examples_check() {
	python3 - "$1" "$2" "$3" <<'PY'
import json, struct, sys

name, result, engine = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
expected_hex = next(l.split()[1] for l in engine.splitlines() if l.startswith("output_hex ")).removeprefix("0x")
if result.get("status") != "settled":
    sys.exit(f"{name}: the request ended {result.get('status')}, not settled")
if result["output_hex"].removeprefix("0x") != expected_hex:
    sys.exit(f"{name}: the chain's output {result['output_hex'][:40]}… is not the engine's {expected_hex[:40]}…")

# The decoded value, too: one f32 tensor, element for element.
raw = bytes.fromhex(expected_hex)
def compact(at):
    mode = raw[at] & 3
    if mode == 0: return raw[at] >> 2, at + 1
    if mode == 1: return int.from_bytes(raw[at:at + 2], "little") >> 2, at + 2
    return int.from_bytes(raw[at:at + 4], "little") >> 2, at + 4
assert raw[0] == 0, "an f32 tensor"
n, at = compact(1); shape = list(struct.unpack(f"<{n}I", raw[at:at + 4 * n])); at += 4 * n
n, at = compact(at); bits = list(struct.unpack(f"<{n}I", raw[at:at + 4 * n]))
output = {k.lower(): v for k, v in result["output"].items()}["f32"]
if output["shape"] != shape or output["bits"] != bits:
    sys.exit(f"{name}: the decoded output is not the engine's tensor")
print(f"{name}: request {result['request']} settled in block {result['block']}, "
      f"output f32{shape} equal to opg-engine run's")
PY
}

run_examples() {
	local dir="$base_path/demo" url="${DEMO_URL:-ws://127.0.0.1:$RPC_PORT}"
	local engine="$OPG_BIN_DIR/opg-engine" store="$base_path/demo/verifier-store"
	ensure_example_deps
	local mlp minilm
	mlp=$(demo_opg model id "$dir/bundles/onnx-mlp") || opg_die "no MLP bundle: run the demo first"
	minilm=$(demo_opg model id "$dir/bundles/all-minilm-l6-v2") || opg_die "no MiniLM bundle"

	local text="Anyone can check this answer." result engine_out
	echo >&2
	echo "examples: python3 examples/python/infer.py --model $minilm --text '$text'" >&2
	result=$(python3 examples/python/infer.py --url "$url" --suri "$EXAMPLES_REQUESTER" --model "$minilm" --text "$text") ||
		opg_die "the Python example failed: $result"
	engine_out=$("$engine" run --store "$store" "$minilm" --text "$text") || opg_die "opg-engine run failed on MiniLM"
	examples_check "python (substrate-interface)" "$result" "$engine_out" || opg_die "the Python example's answer is wrong"

	# The MLP's input as the chain takes it: f32 bit patterns.
	local input_json="$dir/mlp-input-bits.json" input_hex
	input_hex=$(python3 - "$dir/mlp-input.json" "$input_json" <<'PY'
import json, struct, sys
data = json.load(open(sys.argv[1]))["F32"]
bits = [struct.unpack("<I", struct.pack("<f", x))[0] for x in data["data"]]
json.dump({"F32": {"shape": data["shape"], "bits": bits}}, open(sys.argv[2], "w"))
def compact(n):
    return bytes([n << 2]) if n < 64 else ((n << 2) | 1).to_bytes(2, "little")
shape = data["shape"]
encoded = b"\0" + compact(len(shape)) + struct.pack(f"<{len(shape)}I", *shape) + compact(len(bits)) + struct.pack(f"<{len(bits)}I", *bits)
print("0x" + encoded.hex())
PY
	)
	echo "examples: node examples/js/infer.mjs --model $mlp --input-json $input_json" >&2
	result=$(node examples/js/infer.mjs --url "$url" --suri "$EXAMPLES_REQUESTER" --model "$mlp" --input-json "$input_json") ||
		opg_die "the JavaScript example failed: $result"
	engine_out=$("$engine" run --store "$store" "$mlp" --input-hex "$input_hex") || opg_die "opg-engine run failed on the MLP"
	examples_check "js (@polkadot/api)" "$result" "$engine_out" || opg_die "the JavaScript example's answer is wrong"
}
