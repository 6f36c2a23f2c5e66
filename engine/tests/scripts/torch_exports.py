"""Export the models of `engine/testdata/*-torch*.onnx` with the real tools: a Hugging Face
`BertModel` through `torch.onnx` at opsets 14 and 17, and torchvision's ResNet-18 (at a quarter
of its width, so the file stays small) and MobileNetV2 (width 0.25). Weights are random from a
fixed seed; nothing is downloaded. torch is too heavy for CI, so this runs once by hand and the
files are committed with the tool versions it prints (recorded in engine/testdata/README.md); CI
checks them against onnxruntime with tests/scripts/ort_reference.py.

usage: torch_exports.py <out_dir>
"""

import os
import sys

import onnx
import torch
import torchvision
import transformers
from torch import nn
from torchvision.models.resnet import BasicBlock, ResNet

SEED = 20261204
VOCAB, MAX_POS, HIDDEN, LAYERS, HEADS, FFN = 120, 16, 32, 2, 2, 64


def bert():
    config = transformers.BertConfig(
        vocab_size=VOCAB,
        hidden_size=HIDDEN,
        num_hidden_layers=LAYERS,
        num_attention_heads=HEADS,
        intermediate_size=FFN,
        max_position_embeddings=MAX_POS,
        type_vocab_size=2,
        hidden_act="gelu",
    )
    return BertOutputs(transformers.BertModel(config)).eval()


class BertOutputs(nn.Module):
    """`BertModel` called by keyword, its outputs as a tuple: what the exporter traces."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, token_type_ids):
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
        return out.last_hidden_state, out.pooler_output


class QuarterResNet18(ResNet):
    """torchvision's ResNet-18 (BasicBlock, [2, 2, 2, 2]) with every width divided by four."""

    def __init__(self, classes=10):
        super().__init__(BasicBlock, [2, 2, 2, 2], num_classes=classes)
        self.inplanes = 16
        self.conv1 = nn.Conv2d(3, 16, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.layer1 = self._make_layer(BasicBlock, 16, 2)
        self.layer2 = self._make_layer(BasicBlock, 32, 2, stride=2)
        self.layer3 = self._make_layer(BasicBlock, 64, 2, stride=2)
        self.layer4 = self._make_layer(BasicBlock, 128, 2, stride=2)
        self.fc = nn.Linear(128, classes)


def randomize_batch_norms(model):
    # Fresh batch norms are the identity; give them statistics so they compute something.
    g = torch.Generator().manual_seed(SEED)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=g) * 0.5 + 0.75)
            m.weight.data.copy_(torch.rand(n, generator=g) * 0.5 + 0.75)
            m.bias.data.copy_(torch.randn(n, generator=g) * 0.1)
    return model.eval()


def export(model, args, path, opset, inputs, outputs, dynamic):
    with torch.no_grad():
        torch.onnx.export(
            model,
            args,
            path,
            dynamo=False,
            opset_version=opset,
            input_names=inputs,
            output_names=outputs,
            dynamic_axes=dynamic,
            do_constant_folding=True,
        )
    onnx.checker.check_model(onnx.load(path))
    print(f"{os.path.basename(path)}: {os.path.getsize(path)} bytes")


def main(out):
    torch.manual_seed(SEED)
    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}, "
          f"transformers {transformers.__version__}, onnx {onnx.__version__}")
    model = bert()
    ids = torch.randint(0, VOCAB, (2, 7))
    mask = torch.ones(2, 7, dtype=torch.long)
    types = torch.zeros(2, 7, dtype=torch.long)
    names = ["input_ids", "attention_mask", "token_type_ids"]
    axes = {n: {0: "batch", 1: "sequence"} for n in names}
    axes["last_hidden_state"] = {0: "batch", 1: "sequence"}
    axes["pooler_output"] = {0: "batch"}
    for opset in (14, 17):
        export(model, (ids, mask, types), os.path.join(out, f"bert-torch-opset{opset}.onnx"), opset, names,
               ["last_hidden_state", "pooler_output"], axes)

    image = torch.randn(1, 3, 48, 48)
    cnn_axes = {"input": {0: "batch"}, "logits": {0: "batch"}}
    export(randomize_batch_norms(QuarterResNet18()), (image,), os.path.join(out, "resnet18-torchvision.onnx"),
           17, ["input"], ["logits"], cnn_axes)
    mobilenet = torchvision.models.mobilenet_v2(width_mult=0.25, num_classes=10)
    export(randomize_batch_norms(mobilenet), (image,), os.path.join(out, "mobilenetv2-torchvision.onnx"), 17,
           ["input"], ["logits"], cnn_axes)


if __name__ == "__main__":
    main(sys.argv[1])
