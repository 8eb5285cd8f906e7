"""PyTorch (CPU) twin of `nndl eval MODEL --repeat N`: the same model file, the same forward pass.

Reads nndl's safetensors file by hand (8-byte little-endian header length, JSON header with
dtype/shape/data_offsets per tensor and `__metadata__.nndl` with the architecture, then the raw
little-endian f32 bytes), and evaluates the 10,000 test images in one forward pass under
torch.inference_mode(), N times. Each timed evaluation is what nndl times: the forward pass, the
cost and the count of correct answers. Reports the median time and the accuracy, which must equal
nndl's for the same file.

Prints one JSON object on its last line of stdout.
"""

import argparse
import json
import statistics
import struct
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mnist_idx  # noqa: E402

ACTIVATIONS = {
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": torch.relu,
    "identity": lambda z: z,
    "softmax": lambda z: torch.softmax(z, dim=1),
}


def read_safetensors(path):
    """{name: float32 array} and the parsed `nndl` metadata of an nndl model file."""
    raw = Path(path).read_bytes()
    (header_len,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + header_len])
    data = memoryview(raw)[8 + header_len :]
    tensors = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        if t["dtype"] != "F32":
            raise ValueError(f"{path}: tensor {name} is {t['dtype']}, expected F32")
        start, end = t["data_offsets"]
        tensors[name] = np.frombuffer(data[start:end], dtype="<f4").reshape(t["shape"]).copy()
    meta = json.loads(header["__metadata__"]["nndl"])
    return tensors, meta


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="a model file saved by `nndl train --save`")
    p.add_argument("--data", required=True, help="folder with the four MNIST .gz files")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeat", type=int, default=9)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(args.threads)

    tensors, meta = read_safetensors(args.model)
    layers = []
    for i, spec in enumerate(meta["architecture"]):
        if spec["kind"] != "dense":
            raise ValueError(f"layer {i}: kind {spec['kind']!r} is not supported here")
        w = torch.from_numpy(tensors[f"layers.{i}.weights"])
        b = torch.from_numpy(tensors[f"layers.{i}.biases"])
        layers.append((w, b, spec["activation"]))
    cost = meta["cost"]
    test_x, test_labels = mnist_idx.load_test(args.data)
    x, labels = torch.from_numpy(test_x), torch.from_numpy(test_labels)
    y = torch.from_numpy(mnist_idx.one_hot(test_labels))
    n = len(labels)

    def evaluate():
        a = x
        for w, b, act in layers[:-1]:
            a = ACTIVATIONS[act](torch.addmm(b, a, w.t()))
        w, b, act = layers[-1]
        z = torch.addmm(b, a, w.t())
        a = ACTIVATIONS[act](z)
        if cost == "quadratic":
            c = 0.5 * ((a - y) ** 2).sum() / n
        elif cost == "cross-entropy" and act == "sigmoid":
            c = F.binary_cross_entropy_with_logits(z, y, reduction="sum") / n
        elif cost == "log-likelihood":
            c = -torch.log(a.gather(1, labels[:, None])).sum() / n
        else:
            raise ValueError(f"cost {cost!r} with {act} outputs is not supported here")
        correct = int((a.argmax(dim=1) == labels).sum())
        return float(c), correct

    times = []
    with torch.inference_mode():
        for _ in range(max(1, args.repeat)):
            t0 = time.perf_counter()
            test_cost, correct = evaluate()
            times.append(time.perf_counter() - t0)
    print(
        json.dumps(
            {
                "seconds": statistics.median(times),
                "all_seconds": times,
                "test_cost": test_cost,
                "test_correct": correct,
                "test_total": n,
                "test_accuracy": correct / n,
                "threads": torch.get_num_threads(),
                "torch": torch.__version__,
            }
        )
    )


if __name__ == "__main__":
    main()
