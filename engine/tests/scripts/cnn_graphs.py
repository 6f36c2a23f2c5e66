"""Write two small convolutional networks laid out as torchvision's exports are, with the
`onnx` package and seeded random weights, run them with onnxruntime on a random image, and
write the input and onnxruntime's output as JSON named tensors.

- `resnet`: a ResNet stem (7×7/2 Conv, BatchNormalization, Relu, padded 3×3/2 MaxPool), a basic
  block and a downsampling block (1×1/2 Conv shortcut), GlobalAveragePool, Flatten, Gemm.
- `mobilenet`: MobileNetV2/V3 parts: Conv/2 with BatchNormalization and Clip(0, 6) (ReLU6), an
  inverted residual with a depthwise Conv (group = channels), a squeeze-excite block
  (GlobalAveragePool, 1×1 Convs, HardSigmoid, Mul), HardSwish, AveragePool with and without
  padding counted (one in ceil_mode), a Conv/2 with SAME_UPPER padding, a dilated Conv with uneven pads,
  GlobalAveragePool, Flatten, Gemm.

- `resnet18`: ResNet-18's shape at full width (64–512 channels, 2 basic blocks per stage) on one
  224×224 image, 1000 classes: the benchmark's CNN (`scripts/bench-engine.sh`).

usage: cnn_graphs.py <resnet|mobilenet|resnet18> <out.onnx> <io.json>
"""

import json
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

SEED = 20261205
SIZE = 48
CLASSES = 10


class Graph:
    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.inits, self.nodes, self.count = [], [], 0

    def init(self, name, array):
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def node(self, op, inputs, output=None, **attrs):
        self.count += 1
        output = output or f"{op.lower()}_{self.count}"
        self.nodes.append(helper.make_node(op, inputs, [output], name=f"/{op}_{self.count}", **attrs))
        return output

    def conv(self, x, c_in, c_out, k, stride=1, group=1, pads=None, bias=False, **attrs):
        self.count += 1
        fan_in = c_in // group * k * k
        w = self.init(f"conv{self.count}.w", self.rng.normal(0, np.sqrt(2.0 / fan_in), (c_out, c_in // group, k, k)).astype(np.float32))
        inputs = [x, w]
        if bias:
            inputs.append(self.init(f"conv{self.count}.b", self.rng.normal(0, 0.1, c_out).astype(np.float32)))
        if pads is None and "auto_pad" not in attrs:
            pads = [k // 2] * 4
        if pads is not None:
            attrs["pads"] = pads
        return self.node("Conv", inputs, kernel_shape=[k, k], strides=[stride, stride], group=group, **attrs)

    def bn(self, x, c):
        self.count += 1
        p = f"bn{self.count}"
        params = [
            self.init(f"{p}.scale", (1.0 + self.rng.normal(0, 0.1, c)).astype(np.float32)),
            self.init(f"{p}.bias", self.rng.normal(0, 0.1, c).astype(np.float32)),
            self.init(f"{p}.mean", self.rng.normal(0, 0.1, c).astype(np.float32)),
            self.init(f"{p}.var", self.rng.uniform(0.5, 1.5, c).astype(np.float32)),
        ]
        return self.node("BatchNormalization", [x] + params, epsilon=1e-5)

    def relu6(self, x):
        return self.node("Clip", [x, self.init(f"zero{self.count}", np.float32(0)), self.init(f"six{self.count}", np.float32(6))])

    def head(self, x, c, classes=CLASSES):
        pooled = self.node("Flatten", [self.node("GlobalAveragePool", [x])], axis=1)
        w = self.init("fc.w", self.rng.normal(0, 1.0 / np.sqrt(c), (classes, c)).astype(np.float32))
        b = self.init("fc.b", self.rng.normal(0, 0.1, classes).astype(np.float32))
        return self.node("Gemm", [pooled, w, b], "logits", transB=1)


def resnet(g):
    x = g.node("Relu", [g.bn(g.conv("image", 3, 16, 7, stride=2, pads=[3, 3, 3, 3]), 16)])
    x = g.node("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    # Basic block.
    y = g.node("Relu", [g.bn(g.conv(x, 16, 16, 3), 16)])
    y = g.bn(g.conv(y, 16, 16, 3), 16)
    x = g.node("Relu", [g.node("Add", [x, y])])
    # Downsampling block with a 1×1/2 shortcut.
    y = g.node("Relu", [g.bn(g.conv(x, 16, 32, 3, stride=2), 32)])
    y = g.bn(g.conv(y, 32, 32, 3), 32)
    shortcut = g.bn(g.conv(x, 16, 32, 1, stride=2, pads=[0, 0, 0, 0]), 32)
    x = g.node("Relu", [g.node("Add", [shortcut, y])])
    return g.head(x, 32)


def resnet18(g):
    x = g.node("Relu", [g.bn(g.conv("image", 3, 64, 7, stride=2, pads=[3, 3, 3, 3]), 64)])
    x = g.node("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    c = 64
    for width, stride in [(64, 1), (128, 2), (256, 2), (512, 2)]:
        for block in range(2):
            s = stride if block == 0 else 1
            y = g.node("Relu", [g.bn(g.conv(x, c, width, 3, stride=s), width)])
            y = g.bn(g.conv(y, width, width, 3), width)
            shortcut = x if s == 1 and c == width else g.bn(g.conv(x, c, width, 1, stride=s, pads=[0, 0, 0, 0]), width)
            x = g.node("Relu", [g.node("Add", [shortcut, y])])
            c = width
    return g.head(x, c, classes=1000)


def mobilenet(g):
    x = g.relu6(g.bn(g.conv("image", 3, 16, 3, stride=2), 16))
    # Inverted residual: expand, depthwise, project, add.
    y = g.relu6(g.bn(g.conv(x, 16, 48, 1, pads=[0, 0, 0, 0]), 48))
    y = g.relu6(g.bn(g.conv(y, 48, 48, 3, group=48), 48))
    # Squeeze-excite with HardSigmoid, as MobileNetV3.
    s = g.node("Relu", [g.conv(g.node("GlobalAveragePool", [y]), 48, 12, 1, pads=[0, 0, 0, 0], bias=True)])
    s = g.node("HardSigmoid", [g.conv(s, 12, 48, 1, pads=[0, 0, 0, 0], bias=True)], alpha=1.0 / 6.0, beta=0.5)
    y = g.node("Mul", [y, s])
    y = g.bn(g.conv(y, 48, 16, 1, pads=[0, 0, 0, 0]), 16)
    x = g.node("Add", [x, y])
    x = g.node("HardSwish", [g.bn(g.conv(x, 16, 24, 3, stride=2, auto_pad="SAME_UPPER"), 24)])
    x = g.conv(x, 24, 24, 3, dilations=[2, 2], pads=[2, 1, 2, 3])
    x = g.node("AveragePool", [x], kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1])
    x = g.node("AveragePool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=1, ceil_mode=1)
    x = g.node("HardSwish", [g.bn(g.conv(x, 24, 32, 3, group=8, bias=True), 32)])
    return g.head(x, 32)


def main(kind, out, io):
    g = Graph(SEED)
    {"resnet": resnet, "mobilenet": mobilenet, "resnet18": resnet18}[kind](g)
    size, batch, classes = (224, 1, 1000) if kind == "resnet18" else (SIZE, 2, CLASSES)
    graph = helper.make_graph(
        g.nodes,
        f"{kind}-torchvision-style",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, size, size])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", classes])],
        g.inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="opg-test")
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, out)
    image = np.random.default_rng(SEED + 1).normal(0, 1, (batch, 3, size, size)).astype(np.float32)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(out, options, providers=["CPUExecutionProvider"])
    (logits,) = session.run(None, {"image": image})
    named = lambda a: {"dtype": "f32", "shape": list(a.shape), "data": a.reshape(-1).tolist()}
    with open(io, "w") as f:
        json.dump({"inputs": {"image": named(image)}, "outputs": {"logits": named(logits)}}, f)


if __name__ == "__main__":
    main(*sys.argv[1:])
