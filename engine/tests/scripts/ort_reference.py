"""Run a committed ONNX model with onnxruntime on seeded random inputs and write the inputs and
outputs as JSON named tensors (the engine's `--input-json` form).

Inputs are made from the graph's declared inputs: `input_ids` as token ids below `--vocab`,
`attention_mask` as ones with the second row's last three tokens masked, `token_type_ids` as
zeros then ones, any f32 input as standard normal values; symbolic dimensions take `--batch`
and `--seq` in order.

usage: ort_reference.py <model.onnx> <io.json> [--batch N] [--seq N] [--vocab N] [--seed N]
"""

import argparse
import json

import numpy as np
import onnx
import onnxruntime as ort

DTYPES = {np.dtype(np.float32): "f32", np.dtype(np.int64): "i64", np.dtype(np.int32): "i32", np.dtype(np.bool_): "bool"}


def named(tensors):
    out = {}
    for name, array in tensors.items():
        array = np.asarray(array)
        data = array.reshape(-1).tolist()
        if array.dtype == np.float32:
            data = [None if not np.isfinite(x) else float(x) for x in array.reshape(-1)]
        out[name] = {"dtype": DTYPES[array.dtype], "shape": list(array.shape), "data": data}
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model")
    p.add_argument("io")
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--seq", type=int, default=7)
    p.add_argument("--vocab", type=int, default=120)
    p.add_argument("--seed", type=int, default=20261204)
    a = p.parse_args()
    rng = np.random.default_rng(a.seed)
    graph = onnx.load(a.model).graph
    inits = {i.name for i in graph.initializer}
    inputs = {}
    for value in graph.input:
        if value.name in inits:
            continue
        t = value.type.tensor_type
        sizes = iter([a.batch, a.seq])
        shape = [d.dim_value if d.HasField("dim_value") else next(sizes) for d in t.shape.dim]
        if value.name == "input_ids":
            inputs[value.name] = rng.integers(0, a.vocab, size=shape, dtype=np.int64)
        elif value.name == "attention_mask":
            mask = np.ones(shape, dtype=np.int64)
            if shape[0] > 1 and shape[1] > 3:
                mask[1, -3:] = 0
            inputs[value.name] = mask
        elif value.name == "token_type_ids":
            types = np.zeros(shape, dtype=np.int64)
            types[:, shape[1] // 2 :] = 1
            inputs[value.name] = types
        elif t.elem_type == onnx.TensorProto.FLOAT:
            inputs[value.name] = rng.standard_normal(shape).astype(np.float32)
        else:
            raise SystemExit(f"no generator for input {value.name}")
    session = ort.InferenceSession(a.model, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    outputs = dict(zip(names, session.run(names, inputs)))
    with open(a.io, "w") as f:
        json.dump({"inputs": named(inputs), "outputs": named(outputs)}, f)


if __name__ == "__main__":
    main()
