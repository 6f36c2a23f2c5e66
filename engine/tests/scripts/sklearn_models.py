"""Train scikit-learn models on seeded random data, convert each with skl2onnx, run them with
onnxruntime on new rows, and write the input and onnxruntime's outputs as JSON named tensors.

Classifiers are converted with probabilities as a tensor (`zipmap` off), and the `-zipmap`
kinds with skl2onnx's defaults: probabilities through ZipMap, which onnxruntime returns as one
{label: probability} map per row, written here as the [N, C] tensor in the order of the
model's classes (how the engine returns a ZipMap output). The `-strings` kinds name the classes
with strings ("ant", "bee", "cat"), which the label output returns as a string tensor.

Models: a scaled logistic regression (Scaler, LinearClassifier, Normalizer), a random forest
and a gradient-boosted classifier over three classes (TreeEnsembleClassifier), a binary
gradient-boosted classifier (onnxruntime's two-column case), a random-forest regressor
(TreeEnsembleRegressor) and a linear regression (LinearRegressor). `forest-bench` is the
benchmark's tree ensemble (`scripts/bench-engine.sh`): 100 trees of depth 10 over 20 features,
run on 1000 rows.

usage: sklearn_models.py <logreg|forest|boosted|boosted-binary|forest-regressor|linear|forest-bench>[-strings][-zipmap] <out.onnx> <io.json>
"""

import json
import sys

import numpy as np
import onnxruntime as ort
import skl2onnx
import sklearn
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier, RandomForestRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

SEED = 20261206
FEATURES = 6


def main(kind, out, io):
    zipmap = kind.endswith("-zipmap")
    kind = kind.removesuffix("-zipmap")
    strings = kind.endswith("-strings")
    kind = kind.removesuffix("-strings")
    rng = np.random.default_rng(SEED)
    bench = kind == "forest-bench"
    features, train, rows = (20, 5000, 1000) if bench else (FEATURES, 300, 16)
    x = rng.normal(size=(train, features)).astype(np.float32)
    three = ((x[:, 0] + x[:, 1] * x[:, 2] > 0).astype(np.int64) + (x[:, 3] > 0.5)).astype(np.int64)
    target = (x[:, 0] * 2 - x[:, 4] + 0.1 * rng.normal(size=train)).astype(np.float32)
    model, y = {
        "logreg": (make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)), three),
        "forest": (RandomForestClassifier(n_estimators=8, max_depth=5, random_state=0), three),
        "boosted": (GradientBoostingClassifier(n_estimators=10, max_depth=3, random_state=0), three),
        "boosted-binary": (GradientBoostingClassifier(n_estimators=10, max_depth=3, random_state=0), (three > 0).astype(np.int64)),
        "forest-regressor": (RandomForestRegressor(n_estimators=6, max_depth=4, random_state=0), target),
        "linear": (LinearRegression(), target),
        "forest-bench": (RandomForestClassifier(n_estimators=100, max_depth=10, random_state=0), three),
    }[kind]
    if strings:
        y = np.array(["ant", "bee", "cat"])[y]
    model.fit(x, y)
    classifier = hasattr(model, "predict_proba")
    options = {id(model): {"zipmap": False}} if classifier and not zipmap else None
    onx = skl2onnx.to_onnx(model, x[:1], options=options, target_opset={"": 17, "ai.onnx.ml": 3})
    with open(out, "wb") as f:
        f.write(onx.SerializeToString())
    rows = rng.normal(size=(rows, features)).astype(np.float32)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(out, options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    outputs = dict(zip(names, session.run(None, {session.get_inputs()[0].name: rows})))
    for name, value in outputs.items():
        if isinstance(value, list):
            outputs[name] = np.array([[row[c] for c in model.classes_] for row in value], dtype=np.float32)
    kinds = {np.dtype(np.float32): "f32", np.dtype(np.int64): "i64"}
    def named(a):
        dtype = "string" if a.dtype == object or a.dtype.kind == "U" else kinds[a.dtype]
        data = [str(v) for v in a.reshape(-1)] if dtype == "string" else a.reshape(-1).tolist()
        return {"dtype": dtype, "shape": list(a.shape), "data": data}
    with open(io, "w") as f:
        json.dump(
            {
                "inputs": {session.get_inputs()[0].name: named(rows)},
                "outputs": {name: named(a) for name, a in outputs.items()},
                "versions": {"scikit-learn": sklearn.__version__, "skl2onnx": skl2onnx.__version__, "onnxruntime": ort.__version__},
            },
            f,
        )


if __name__ == "__main__":
    main(*sys.argv[1:])
