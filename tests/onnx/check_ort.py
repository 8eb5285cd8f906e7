#!/usr/bin/env python3
"""Checks nndl's exports with the ONNX tools themselves (run by tests/onnx.rs in its venv).

    check_ort.py CASES.json

Each case: {"name", "kind": "onnx" | "network2", "model", "input", "examples", "expected",
"groups"}: `input` and `expected` are raw little-endian float32 files (nndl's inputs, one row
per example, read in the graph input's layout, and nndl's outputs); `groups` is how many outputs make one decision (a class
per example, or per step of a language model).

onnx: onnx.checker.check_model(full_check=True), then ONNX Runtime runs the model.
network2: network2.py's own `load` and `feedforward` (copied below, with numpy) read the JSON.

Prints one JSON line per case: {"name", "max_abs_diff", "class_mismatches", "examples"}.
"""
import json
import sys

import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


class Network2:
    """network2.py's Network, as much as `load` and `feedforward` need."""

    def __init__(self, sizes):
        self.num_layers = len(sizes)
        self.sizes = sizes

    def feedforward(self, a):
        for b, w in zip(self.biases, self.weights):
            a = sigmoid(np.dot(w, a) + b)
        return a


def network2_load(filename):
    """network2.py's load (the cost class looked up by name, as there)."""
    with open(filename, "r") as f:
        data = json.load(f)
    assert data["cost"] in ("CrossEntropyCost", "QuadraticCost"), data["cost"]
    net = Network2(data["sizes"])
    net.weights = [np.array(w) for w in data["weights"]]
    net.biases = [np.array(b) for b in data["biases"]]
    return net


def run(case):
    n = case["examples"]
    x = np.fromfile(case["input"], dtype="<f4").reshape(n, -1)
    expected = np.fromfile(case["expected"], dtype="<f4").reshape(n, -1)
    if case["kind"] == "onnx":
        import onnx
        import onnxruntime as ort

        onnx.checker.check_model(onnx.load(case["model"]), full_check=True)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        sess = ort.InferenceSession(case["model"], opts, providers=["CPUExecutionProvider"])
        (inp,) = sess.get_inputs()
        # nndl's rows, in the graph input's layout ([N, features], [N, T, F] or [N, C, H, W])
        x = x.reshape([n] + list(inp.shape[1:]))
        got = sess.run(None, {inp.name: x})[0].reshape(n, -1).astype(np.float64)
    else:
        net = network2_load(case["model"])
        # network2.py feeds one column vector per example; all at once is the same sums.
        got = net.feedforward(x.reshape(n, -1).T.astype(np.float64)).T
    diff = float(np.max(np.abs(got - expected))) if got.shape == expected.shape else float("inf")
    g = case["groups"]
    mismatches = int(np.sum(got.reshape(-1, g).argmax(1) != expected.reshape(-1, g).argmax(1))) if diff != float("inf") else -1
    return {"name": case["name"], "max_abs_diff": diff, "class_mismatches": mismatches, "examples": n,
            "shape": list(got.shape)}


def main():
    with open(sys.argv[1]) as f:
        cases = json.load(f)
    for case in cases:
        try:
            print(json.dumps(run(case)), flush=True)
        except Exception as e:  # reported to the Rust test, which fails with it
            print(json.dumps({"name": case["name"], "error": f"{type(e).__name__}: {e}"}), flush=True)


if __name__ == "__main__":
    main()
