"""Write a one-layer BERT encoder as `torch.onnx` exports Hugging Face's `BertModel`, with the
`onnx` package and seeded random weights, run it with onnxruntime on random token ids, and
write the inputs and onnxruntime's outputs as JSON named tensors (the engine's
`--input-json` form).

The graph has what the exporter writes: three named inputs (`input_ids`, `attention_mask`,
`token_type_ids`); position ids sliced to the sequence length found by Shape/Gather/Unsqueeze;
embeddings by Gather; the extended attention mask by Unsqueeze/Cast/Sub/Mul (opset 14) or
Equal/Where (opset 17); heads split and merged by Reshape with shapes built by
Shape/Gather/Unsqueeze/Concat; exact GELU by Erf; LayerNorm decomposed into
ReduceMean/Sub/Pow/Sqrt/Div (opset 14) or one LayerNormalization (opset 17); the pooler by
Gather/Gemm/Tanh. Outputs: `last_hidden_state`, `pooler_output` and, to cover integer
reductions and a third output, `lengths` (ReduceSum of the mask).

Below opset 13 Unsqueeze, Squeeze and ReduceSum take their axes as attributes, as exporters
write them there.

usage: bert_graph.py <opset> <out.onnx> <io.json>
"""

import json
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

VOCAB, MAX_POS, TYPES, HIDDEN, HEADS, FFN = 120, 16, 2, 32, 2, 64
BATCH, SEQ = 2, 7
SEED = 20261204


def build(opset):
    rng = np.random.default_rng(SEED)
    inits, nodes = [], []
    counter = [0]

    def init(name, array):
        inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def weight(name, *shape):
        return init(name, rng.normal(0.0, 0.2, size=shape).astype(np.float32))

    def node(op, inputs, outputs=None, **attrs):
        counter[0] += 1
        outputs = outputs or [f"{op.lower()}_{counter[0]}"]
        nodes.append(helper.make_node(op, inputs, outputs, name=f"/{op}_{counter[0]}", **attrs))
        return outputs[0] if len(outputs) == 1 else outputs

    i64 = lambda name, values: init(name, np.array(values, dtype=np.int64))
    f32 = lambda name, value: init(name, np.array(value, dtype=np.float32))

    def layer_norm(x, prefix):
        gamma = init(f"{prefix}.weight", (1.0 + rng.normal(0, 0.1, HIDDEN)).astype(np.float32))
        beta = weight(f"{prefix}.bias", HIDDEN)
        if opset >= 17:
            return node("LayerNormalization", [x, gamma, beta], axis=-1, epsilon=1e-12)
        mean = node("ReduceMean", [x], axes=[-1])
        centred = node("Sub", [x, mean])
        var = node("ReduceMean", [node("Pow", [centred, f32(f"{prefix}.two", 2.0)])], axes=[-1])
        std = node("Sqrt", [node("Add", [var, f32(f"{prefix}.eps", 1e-12)])])
        return node("Add", [node("Mul", [node("Div", [centred, std]), gamma]), beta])

    def linear(x, prefix, n_in, n_out):
        return node("Add", [node("MatMul", [x, weight(f"{prefix}.weight", n_in, n_out)]), weight(f"{prefix}.bias", n_out)])

    def unsqueeze(x, axes, name):
        # Axes are an input from opset 13, an attribute before.
        if opset >= 13:
            return node("Unsqueeze", [x, i64(name, axes)])
        return node("Unsqueeze", [x], axes=axes)

    def dim(x, index, name):
        # Shape → Gather(scalar) → Unsqueeze: one dimension as a 1-element vector.
        picked = node("Gather", [node("Shape", [x]), init(f"{name}.index", np.array(index, dtype=np.int64))], axis=0)
        return unsqueeze(picked, [0], f"{name}.axes")

    # Embeddings.
    words = node("Gather", [weight("embeddings.word", VOCAB, HIDDEN), "input_ids"])
    seq = dim("input_ids", 1, "seq")
    positions = node("Slice", [i64("position_ids", [list(range(MAX_POS))]), i64("zero", [0]), seq, i64("one", [1])])
    positions = node("Expand", [positions, node("Shape", ["input_ids"])])
    types = node("Gather", [weight("embeddings.type", TYPES, HIDDEN), "token_type_ids"])
    emb = node("Add", [node("Add", [words, types]), node("Gather", [weight("embeddings.position", MAX_POS, HIDDEN), positions])])
    h = layer_norm(emb, "embeddings.norm")

    # Extended attention mask [B, 1, 1, S].
    mask = unsqueeze("attention_mask", [1, 2], "mask.axes")
    lowest = float(np.finfo(np.float32).min)
    if opset >= 17:
        masked = node("Equal", [mask, i64("mask.zero", 0)])
        ext = node("Where", [masked, f32("mask.lowest", lowest), f32("mask.open", 0.0)])
    else:
        keep = node("Cast", [mask], to=TensorProto.FLOAT)
        ext = node("Mul", [node("Sub", [f32("mask.one", 1.0), keep]), f32("mask.lowest", lowest)])

    # Self-attention, heads split by Reshape with shapes built at run time.
    batch = dim(h, 0, "batch")
    seq_h = dim(h, 1, "seq_h")
    split = node("Concat", [batch, seq_h, i64("heads", [HEADS]), i64("head_dim", [HIDDEN // HEADS])], axis=0)
    merge = node("Concat", [batch, seq_h, i64("hidden", [HIDDEN])], axis=0)
    heads = lambda x: node("Reshape", [x, split])
    q = node("Transpose", [heads(linear(h, "attn.q", HIDDEN, HIDDEN))], perm=[0, 2, 1, 3])
    k = node("Transpose", [heads(linear(h, "attn.k", HIDDEN, HIDDEN))], perm=[0, 2, 3, 1])
    v = node("Transpose", [heads(linear(h, "attn.v", HIDDEN, HIDDEN))], perm=[0, 2, 1, 3])
    scores = node("Div", [node("MatMul", [q, k]), f32("attn.scale", np.sqrt(HIDDEN // HEADS))])
    probs = node("Softmax", [node("Add", [scores, ext])], axis=-1)
    ctx = node("Reshape", [node("Transpose", [node("MatMul", [probs, v])], perm=[0, 2, 1, 3]), merge])
    h = layer_norm(node("Add", [linear(ctx, "attn.out", HIDDEN, HIDDEN), h]), "attn.norm")

    # Feed-forward with exact GELU: x · 0.5 · (1 + erf(x / √2)).
    up = node("Clip", [linear(h, "ffn.up", HIDDEN, FFN), f32("clip.min", -30.0), f32("clip.max", 30.0)])
    erf = node("Erf", [node("Div", [up, f32("sqrt2", np.sqrt(2.0))])])
    gelu = node("Mul", [node("Mul", [up, node("Add", [erf, f32("gelu.one", 1.0)])]), f32("half", 0.5)])
    node("Add", [linear(gelu, "ffn.down", FFN, HIDDEN), h], ["ffn.sum"])
    last = layer_norm("ffn.sum", "ffn.norm")
    node("Identity", [last], ["last_hidden_state"])

    # Pooler: the first token, a dense layer, tanh.
    picked = node("Gather", [last, i64("cls", [0])], axis=1)
    first = node("Squeeze", [picked, i64("cls.axes", [1])]) if opset >= 13 else node("Squeeze", [picked], axes=[1])
    dense = node("Gemm", [first, weight("pooler.weight", HIDDEN, HIDDEN), weight("pooler.bias", HIDDEN)], transB=1)
    node("Tanh", [dense], ["pooler_output"])
    if opset >= 13:
        node("ReduceSum", ["attention_mask", i64("lengths.axes", [1])], ["lengths"], keepdims=0)
    else:
        node("ReduceSum", ["attention_mask"], ["lengths"], axes=[1], keepdims=0)

    graph = helper.make_graph(
        nodes,
        "bert-torch-style",
        [
            helper.make_tensor_value_info(name, TensorProto.INT64, ["batch", "sequence"])
            for name in ("input_ids", "attention_mask", "token_type_ids")
        ],
        [
            helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "sequence", HIDDEN]),
            helper.make_tensor_value_info("pooler_output", TensorProto.FLOAT, ["batch", HIDDEN]),
            helper.make_tensor_value_info("lengths", TensorProto.INT64, ["batch"]),
        ],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="opg-test")
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


def main(opset, out, io):
    model = build(int(opset))
    onnx.save(model, out)
    rng = np.random.default_rng(SEED + 1)
    feed = {
        "input_ids": rng.integers(0, VOCAB, size=(BATCH, SEQ), dtype=np.int64),
        "attention_mask": np.array([[1] * SEQ, [1] * (SEQ - 3) + [0] * 3], dtype=np.int64),
        "token_type_ids": np.array([[0] * 4 + [1] * (SEQ - 4), [0] * SEQ], dtype=np.int64),
    }
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(out, options, providers=["CPUExecutionProvider"])
    outputs = dict(zip([o.name for o in session.get_outputs()], session.run(None, feed)))

    def named(arrays):
        kinds = {np.dtype(np.float32): "f32", np.dtype(np.int64): "i64"}
        return {
            name: {"dtype": kinds[a.dtype], "shape": list(a.shape), "data": a.reshape(-1).tolist()}
            for name, a in arrays.items()
        }

    with open(io, "w") as f:
        json.dump({"inputs": named(feed), "outputs": named(outputs), "onnxruntime": ort.__version__}, f)


if __name__ == "__main__":
    main(*sys.argv[1:])
