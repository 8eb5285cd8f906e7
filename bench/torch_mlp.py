"""PyTorch (CPU) twin of `nndl train` for the benchmark: the same computation, written plainly.

Matches nndl step for step:
  - init: weights N(0, 1/n_in), biases N(0, 1);
  - layers: z = x·Wᵀ + b, sigmoid on every layer (hidden and output);
  - cost per mini-batch of m: quadratic (1/m) Σ ½‖a − y‖², or cross-entropy
    (1/m) Σ Σ_j −[y ln a + (1 − y) ln(1 − a)] (computed from z, the same math, stable);
  - plain SGD, w ← (1 − ηλ/n) w − (η/m) Σ∇ with L2 on weights only (n = training images);
  - every epoch: reshuffle (torch.randperm), mini-batches by indexing the preloaded tensors;
  - the time of an epoch is the shuffle + mini-batch loop only, like nndl's train_seconds.
Data is preloaded as tensors (no DataLoader). After the epochs: accuracy on the 10,000 test images.

Prints one JSON object on its last line of stdout.
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


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="folder with the four MNIST .gz files")
    p.add_argument("--layers", default="784,30,10")
    p.add_argument("--activation", default="sigmoid", choices=["sigmoid"])
    p.add_argument("--cost", default="quadratic", choices=["quadratic", "cross-entropy"])
    p.add_argument("--eta", type=float, default=3.0)
    p.add_argument("--batch-size", type=int, default=10)
    p.add_argument("--lambda", dest="lam", type=float, default=0.0)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--train-size", type=int, default=50_000)
    return p.parse_args()


def build(sizes):
    """Linear layers with nndl's initialisation."""
    layers = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        layer = torch.nn.Linear(n_in, n_out)
        with torch.no_grad():
            layer.weight.normal_(0.0, 1.0 / math.sqrt(n_in))
            layer.bias.normal_(0.0, 1.0)
        layers.append(layer)
    return layers


def logits(layers, x):
    """z of the output layer (sigmoid on every hidden layer)."""
    a = x
    for layer in layers[:-1]:
        a = torch.sigmoid(layer(a))
    return layers[-1](a)


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(args.threads)
    torch.manual_seed(args.seed)

    started = time.perf_counter()
    train_x, train_labels = mnist_idx.load_train(args.data, args.train_size)
    test_x, test_labels = mnist_idx.load_test(args.data)
    x = torch.from_numpy(train_x)
    y = torch.from_numpy(mnist_idx.one_hot(train_labels))
    tx, tl = torch.from_numpy(test_x), torch.from_numpy(test_labels)
    load_seconds = time.perf_counter() - started

    sizes = [int(s) for s in args.layers.split(",")]
    layers = build(sizes)
    n, m = x.shape[0], args.batch_size
    weights = [layer.weight for layer in layers]
    biases = [layer.bias for layer in layers]
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
            z = logits(layers, xb)
            if args.cost == "quadratic":
                loss = 0.5 * ((torch.sigmoid(z) - yb) ** 2).sum() / len(idx)
            else:
                loss = F.binary_cross_entropy_with_logits(z, yb, reduction="sum") / len(idx)
            sgd.zero_grad(set_to_none=True)
            loss.backward()
            sgd.step()
        epoch_seconds.append(time.perf_counter() - t0)
        epoch_cpu_seconds.append(time.process_time() - c0)  # all threads

    with torch.no_grad():
        correct = int((logits(layers, tx).argmax(dim=1) == tl).sum())
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
