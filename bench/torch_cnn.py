"""PyTorch (CPU) twin of `nndl train --arch "conv …; maxpool …; dense …; softmax 10"` (chapter 6).

Takes the same architecture string as nndl's --arch, for the layers the benchmark uses:
  conv F KxK [ACT]   Conv2d(C_in, F, K): stride 1, valid padding, then ACT (default --activation)
  maxpool K          MaxPool2d(K)
  dense N [ACT]      Linear(n_in, N), then ACT; the input is flattened first (NCHW .view(N, -1)
                     is channel-major, nndl's layout)
  softmax N          the output layer: Linear(n_in, N), log_softmax, log-likelihood cost

Matches nndl step for step:
  - input [N, 1, 28, 28] float32, byte / 255;
  - init: conv weights N(0, 1/fan_in) with fan_in = C_in·K·K, dense weights N(0, 1/n_in),
    biases N(0, 1);
  - cost per mini-batch of m: log-likelihood (1/m) Σ −ln a_y (log_softmax + nll_loss, mean);
  - plain SGD, w ← (1 − ηλ/n) w − (η/m) Σ∇ with L2 on weights only (n = training images);
  - every epoch: reshuffle (torch.randperm), mini-batches by indexing the preloaded tensors;
  - the time of an epoch is the shuffle + mini-batch loop only, like nndl's train_seconds.
After the epochs: accuracy on the 10,000 test images (in chunks, under no_grad).

Prints one JSON object on its last line of stdout, in torch_mlp.py's shape.
"""

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mnist_idx  # noqa: E402

ACTIVATIONS = {"sigmoid": torch.sigmoid, "relu": torch.relu, "tanh": torch.tanh,
               "identity": lambda z: z}
EVAL_CHUNK = 1000


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="folder with the four MNIST .gz files")
    p.add_argument("--arch", required=True, help='e.g. "conv 20 5x5; maxpool 2; dense 100; softmax 10"')
    p.add_argument("--activation", default="sigmoid", choices=sorted(ACTIVATIONS),
                   help="for conv and dense layers that name none")
    p.add_argument("--cost", default="log-likelihood", choices=["log-likelihood"])
    p.add_argument("--eta", type=float, default=0.1)
    p.add_argument("--batch-size", type=int, default=10)
    p.add_argument("--lambda", dest="lam", type=float, default=0.0)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--train-size", type=int, default=50_000)
    return p.parse_args()


def normal_init(layer, fan_in):
    with torch.no_grad():
        layer.weight.normal_(0.0, 1.0 / math.sqrt(fan_in))
        layer.bias.normal_(0.0, 1.0)
    return layer


def build(arch, default_act):
    """[(kind, module, activation)] for the arch string, from a 1×28×28 input."""
    shape = (1, 28, 28)  # channels, height, width
    flat = None  # the vector length once flattened
    layers = []
    specs = [s.split() for s in arch.split(";") if s.strip()]
    for i, words in enumerate(specs):
        kind, rest = words[0].lower(), words[1:]
        last = i == len(specs) - 1
        if kind == "conv":
            if flat is not None:
                raise ValueError("conv after a dense layer")
            filters, k = int(rest[0]), rest[1].lower().split("x")
            if k[0] != k[1]:
                raise ValueError(f"square kernels only, got {rest[1]}")
            k = int(k[0])
            act = rest[2].lower() if len(rest) > 2 else default_act
            c, h, w = shape
            layers.append(("conv", normal_init(torch.nn.Conv2d(c, filters, k), c * k * k), act))
            shape = (filters, h - k + 1, w - k + 1)
        elif kind == "maxpool":
            k = int(rest[0])
            c, h, w = shape
            layers.append(("pool", torch.nn.MaxPool2d(k), None))
            shape = (c, h // k, w // k)
        elif kind in ("dense", "softmax"):
            if kind == "softmax" and not last:
                raise ValueError("softmax must be the output layer")
            if kind == "dense" and last:
                raise ValueError("the output layer must be softmax (log-likelihood cost)")
            n_in = flat if flat is not None else shape[0] * shape[1] * shape[2]
            n = int(rest[0])
            act = (rest[1].lower() if len(rest) > 1 else default_act) if kind == "dense" else None
            layers.append((kind, normal_init(torch.nn.Linear(n_in, n), n_in), act))
            flat = n
        else:
            raise ValueError(f"layer {kind!r} is not supported here")
    return layers


def logits(layers, x):
    """z of the softmax layer for x of shape [N, 1, 28, 28]."""
    a = x
    for kind, module, act in layers:
        if kind in ("dense", "softmax") and a.dim() > 2:
            a = a.view(a.shape[0], -1)
        a = module(a)
        if act is not None:
            a = ACTIVATIONS[act](a)
    return a


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(args.threads)
    torch.manual_seed(args.seed)

    started = time.perf_counter()
    train_x, train_labels = mnist_idx.load_train(args.data, args.train_size)
    test_x, test_labels = mnist_idx.load_test(args.data)
    x = torch.from_numpy(train_x).view(-1, 1, 28, 28)
    y = torch.from_numpy(train_labels)
    tx, tl = torch.from_numpy(test_x).view(-1, 1, 28, 28), torch.from_numpy(test_labels)
    load_seconds = time.perf_counter() - started

    layers = build(args.arch, args.activation)
    n, m = x.shape[0], args.batch_size
    weights = [module.weight for _, module, _ in layers if hasattr(module, "weight")]
    biases = [module.bias for _, module, _ in layers if hasattr(module, "bias")]
    # torch's weight_decay adds wd·w to the gradient: w ← w − η(∇ + (λ/n) w) = (1 − ηλ/n) w − η∇.
    sgd = torch.optim.SGD(
        [{"params": weights, "weight_decay": args.lam / n}, {"params": biases, "weight_decay": 0.0}],
        lr=args.eta,
    )

    epoch_seconds, epoch_cpu_seconds = [], []
    for _ in range(args.epochs):
        t0, c0 = time.perf_counter(), time.process_time()
        order = torch.randperm(n)
        for k in range(0, n, m):
            idx = order[k : k + m]
            xb, yb = x[idx], y[idx]
            loss = F.nll_loss(F.log_softmax(logits(layers, xb), dim=1), yb, reduction="mean")
            sgd.zero_grad(set_to_none=True)
            loss.backward()
            sgd.step()
        epoch_seconds.append(time.perf_counter() - t0)
        epoch_cpu_seconds.append(time.process_time() - c0)  # all threads

    correct = 0
    with torch.no_grad():
        for k in range(0, len(tl), EVAL_CHUNK):
            z = logits(layers, tx[k : k + EVAL_CHUNK])
            correct += int((z.argmax(dim=1) == tl[k : k + EVAL_CHUNK]).sum())
    print(
        json.dumps(
            {
                "epoch_seconds": epoch_seconds,
                "epoch_cpu_seconds": epoch_cpu_seconds,
                "test_correct": correct,
                "test_total": len(tl),
                "test_accuracy": correct / len(tl),
                "load_seconds": load_seconds,
                "threads": torch.get_num_threads(),
                "torch": torch.__version__,
            }
        )
    )


if __name__ == "__main__":
    main()
