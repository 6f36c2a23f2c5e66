#!/usr/bin/env python3
"""Reference runs of the engine's models with onnxruntime.

  onnx_reference.py minilm-onnx MODEL_DIR OUT.onnx   export all-MiniLM-L6-v2 (safetensors) to ONNX
  onnx_reference.py embed MODEL_DIR MINILM.onnx TEXT...   print embeddings as JSON lines
  onnx_reference.py mlp MLP.onnx                     print probs of the engine bench input as JSON
  onnx_reference.py bench MLP.onnx MODEL_DIR MINILM.onnx ITERS THREADS [LABEL=MODEL.onnx,IO.json ...]
                                                     JSON lines, as `opg-engine bench`

The MiniLM graph is written op by op from the checkpoint (Gather, LayerNormalization, MatMul,
Softmax, Erf, ReduceMean, LpNormalization), the same computation sentence-transformers does:
BERT encoder, mean pooling, L2 normalisation.
"""
import json
import sys
import time

import numpy as np


def minilm_onnx(model_dir, onnx_path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from safetensors.numpy import load_file

    cfg = json.load(open(f"{model_dir}/config.json"))
    w = load_file(f"{model_dir}/model.safetensors")
    h, heads, layers = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_hidden_layers"]
    d, eps = h // heads, cfg["layer_norm_eps"]
    inits, nodes = [], []

    def init(name, array):
        inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(op, inputs, output, **attrs):
        nodes.append(helper.make_node(op, inputs, [output], **attrs))
        return output

    def linear(x, prefix, out):
        y = node("MatMul", [x, init(f"{prefix}.wt", w[f"{prefix}.weight"].T)], f"{out}_mm")
        return node("Add", [y, init(f"{prefix}.b", w[f"{prefix}.bias"])], out)

    def layer_norm(x, prefix, out):
        return node("LayerNormalization", [x, init(f"{prefix}.g", w[f"{prefix}.weight"]),
                                           init(f"{prefix}.beta", w[f"{prefix}.bias"])], out, axis=-1, epsilon=eps)

    # 0 copies the batch dimension.
    init("heads_shape", np.array([0, -1, heads, d], dtype=np.int64))
    init("hidden_shape", np.array([0, -1, h], dtype=np.int64))
    init("scale", np.array(1.0 / np.sqrt(d), dtype=np.float32))
    init("half", np.array(0.5, dtype=np.float32))
    init("one", np.array(1.0, dtype=np.float32))
    init("inv_sqrt2", np.array(1.0 / np.sqrt(2.0), dtype=np.float32))
    words = node("Gather", [init("word_table", w["embeddings.word_embeddings.weight"]), "input_ids"], "words")
    pos = node("Gather", [init("pos_table", w["embeddings.position_embeddings.weight"]), "position_ids"], "pos")
    x = node("Add", [words, pos], "emb0")
    x = node("Add", [x, init("type0", w["embeddings.token_type_embeddings.weight"][0])], "emb1")
    x = layer_norm(x, "embeddings.LayerNorm", "emb")
    for i in range(layers):
        p = f"encoder.layer.{i}"
        split = lambda t, n: node("Transpose", [node("Reshape", [t, "heads_shape"], f"{n}_r")], n, perm=[0, 2, 1, 3])
        q = split(linear(x, f"{p}.attention.self.query", f"l{i}_q0"), f"l{i}_q")
        k = split(linear(x, f"{p}.attention.self.key", f"l{i}_k0"), f"l{i}_k")
        v = split(linear(x, f"{p}.attention.self.value", f"l{i}_v0"), f"l{i}_v")
        kt = node("Transpose", [k], f"l{i}_kt", perm=[0, 1, 3, 2])
        scores = node("Mul", [node("MatMul", [q, kt], f"l{i}_qk"), "scale"], f"l{i}_scores")
        probs = node("Softmax", [scores], f"l{i}_probs", axis=-1)
        ctx = node("Transpose", [node("MatMul", [probs, v], f"l{i}_ctx0")], f"l{i}_ctx1", perm=[0, 2, 1, 3])
        ctx = node("Reshape", [ctx, "hidden_shape"], f"l{i}_ctx")
        att = node("Add", [linear(ctx, f"{p}.attention.output.dense", f"l{i}_ao"), x], f"l{i}_res1")
        att = layer_norm(att, f"{p}.attention.output.LayerNorm", f"l{i}_att")
        inner = linear(att, f"{p}.intermediate.dense", f"l{i}_in")
        erf = node("Erf", [node("Mul", [inner, "inv_sqrt2"], f"l{i}_in_s")], f"l{i}_erf")
        gelu = node("Mul", [node("Mul", [inner, "half"], f"l{i}_in_h"), node("Add", [erf, "one"], f"l{i}_erf1")], f"l{i}_gelu")
        out = node("Add", [linear(gelu, f"{p}.output.dense", f"l{i}_o"), att], f"l{i}_res2")
        x = layer_norm(out, f"{p}.output.LayerNorm", f"l{i}_out")
    pooled = node("ReduceMean", [x], "pooled", axes=[1], keepdims=0)
    node("LpNormalization", [pooled], "embedding", axis=-1, p=2)
    graph = helper.make_graph(
        nodes, "all-MiniLM-L6-v2",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
         helper.make_tensor_value_info("position_ids", TensorProto.INT64, [1, "seq"])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", h])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    onnx.save(model, onnx_path)


def session(path, threads=0):
    import onnxruntime as ort
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def minilm_feed(model_dir, text):
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(f"{model_dir}/tokenizer.json")
    tok.no_truncation()
    tok.no_padding()
    ids = np.array([tok.encode(text).ids], dtype=np.int64)
    return {"input_ids": ids, "position_ids": np.arange(ids.shape[1], dtype=np.int64)[None, :]}


def bench_input(batch=32, features=256):
    i = np.arange(batch * features)
    return ((i % 97) / 97.0 - 0.5).astype(np.float32).reshape(batch, features)


def batch_ids(batch, tokens):
    """The token ids of `opg-engine bench`'s batched MiniLM row: [CLS], fixed pseudo-random
    WordPiece ids, [SEP], per sentence."""
    rows = [[101] + [1000 + (i * 7919 + b * 104729) % 20000 for i in range(tokens - 2)] + [102] for b in range(batch)]
    return {"input_ids": np.array(rows, dtype=np.int64), "position_ids": np.arange(tokens, dtype=np.int64)[None, :]}


def timed(fn, iters):
    fn()
    samples = []
    for _ in range(max(iters, 1)):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1e3)
    return sorted(samples)[len(samples) // 2]


def main(argv):
    cmd = argv[1]
    if cmd == "minilm-onnx":
        minilm_onnx(argv[2], argv[3])
    elif cmd == "embed":
        s = session(argv[3])
        for text in argv[4:]:
            print(json.dumps(s.run(["embedding"], minilm_feed(argv[2], text))[0][0].tolist()))
    elif cmd == "mlp":
        s = session(argv[2])
        print(json.dumps(s.run(None, {"x": bench_input(4)})[0].tolist()))
    elif cmd == "bench":
        mlp, model_dir, minilm, iters, threads = argv[2], argv[3], argv[4], int(argv[5]), int(argv[6])
        s = session(mlp, threads)
        x = {"x": bench_input()}
        # Ten times the iterations for a model that runs in under a millisecond, as the engine's side.
        ms = timed(lambda: s.run(None, x), iters * 10)
        print(json.dumps({"model": "onnx-mlp", "profile": "onnxruntime", "batch": 32, "median_ms": round(ms, 3),
                          "items_per_s": round(32e3 / ms, 1), "threads": threads}))
        s = session(minilm, threads)
        feed = minilm_feed(model_dir, "Validators re-execute every inference and settle only when the committee agrees.")
        ms = timed(lambda: s.run(None, feed), iters)
        print(json.dumps({"model": "minilm", "profile": "onnxruntime", "batch": 1, "tokens": int(feed["input_ids"].shape[1]),
                          "median_ms": round(ms, 3), "items_per_s": round(1e3 / ms, 1), "threads": threads}))
        feed = batch_ids(8, 128)
        ms = timed(lambda: s.run(None, feed), max(iters // 4, 3))
        print(json.dumps({"model": "minilm-8x128", "profile": "onnxruntime", "batch": 8, "tokens": 128,
                          "median_ms": round(ms, 3), "items_per_s": round(8e3 / ms, 1), "threads": threads}))
        for spec in argv[7:]:
            label, files = spec.split("=", 1)
            model, io = files.split(",", 1)
            s = session(model, threads)
            kinds = {"f32": np.float32, "i64": np.int64}
            feed = {name: np.array(t["data"], dtype=kinds[t["dtype"]]).reshape(t["shape"])
                    for name, t in json.load(open(io))["inputs"].items()}
            batch = next(iter(feed.values())).shape[0]
            ms = timed(lambda: s.run(None, feed), max(iters // 2, 3))
            print(json.dumps({"model": label, "profile": "onnxruntime", "batch": int(batch), "median_ms": round(ms, 3),
                              "items_per_s": round(batch * 1e3 / ms, 1), "threads": threads}))
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main(sys.argv)
