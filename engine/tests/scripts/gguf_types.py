"""Write a GGUF file with one 4 x 512 tensor in each type the engine loads, and one it refuses,
with the `gguf` package llama.cpp publishes, and next to it the package's own dequantization of
each tensor (`<name>.f32`, little-endian f32): the reference the engine must reproduce.

usage: gguf_types.py <out.gguf>
"""

import sys

import gguf
import numpy as np
from gguf import GGMLQuantizationType as Q

ROWS, COLS = 4, 512
# Byte offsets of each block's f16 scale fields: random bytes there could be NaN or infinite.
F16_FIELDS = {Q.Q4_K: (0, 2), Q.Q5_K: (0, 2), Q.Q6_K: (208,), Q.Q2_K: (80, 82)}
QUANTIZED = [Q.Q4_0, Q.Q4_1, Q.Q5_0, Q.Q5_1, Q.Q8_0]
RAW_BLOCKS = [Q.Q4_K, Q.Q5_K, Q.Q6_K, Q.Q2_K]


def raw_blocks(rng, qtype):
    """Random blocks of a type the package cannot quantize, with finite, small scales."""
    block, size = gguf.GGML_QUANT_SIZES[qtype]
    data = rng.integers(0, 256, size=(ROWS, COLS // block, size), dtype=np.uint8)
    for offset in F16_FIELDS[qtype]:
        scales = rng.uniform(1e-3, 1e-1, size=(ROWS, COLS // block)).astype(np.float16)
        data[:, :, offset : offset + 2] = scales.view(np.uint8).reshape(ROWS, COLS // block, 2)
    return data.reshape(ROWS, COLS // block * size)


def main(out):
    rng = np.random.default_rng(20261201)
    writer = gguf.GGUFWriter(out, "opg-test")
    references = {}
    weights = rng.standard_normal((ROWS, COLS)).astype(np.float32)
    writer.add_tensor("f32", weights)
    references["f32"] = weights
    half = weights.astype(np.float16)
    writer.add_tensor("f16", half)
    references["f16"] = half.astype(np.float32)
    for qtype in QUANTIZED:
        data = gguf.quants.quantize(weights, qtype)
        writer.add_tensor(qtype.name.lower(), data, raw_dtype=qtype)
        references[qtype.name.lower()] = gguf.quants.dequantize(data, qtype)
    for qtype in RAW_BLOCKS:
        data = raw_blocks(rng, qtype)
        writer.add_tensor(qtype.name.lower(), data, raw_dtype=qtype)
        references[qtype.name.lower()] = gguf.quants.dequantize(data, qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    for name, values in references.items():
        values.astype("<f4").tofile(f"{out}.{name}.f32")
    from importlib.metadata import version

    print(" ".join(references), "written with gguf", version("gguf"))


if __name__ == "__main__":
    main(sys.argv[1])
