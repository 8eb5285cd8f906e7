"""PyTorch (CPU) twin of `nndl train --arch "lstm H; softmax 10" --optimizer adam` (recurrent nets).

Each 28×28 image is read as 28 time steps of 28 pixels (its rows, top to bottom); an LSTM of H
hidden units (torch.nn.LSTM, batch_first) returns the last step's hidden state, then a softmax
layer of 10 with the log-likelihood cost.

Matches nndl step for step (src/layers/recurrent.rs):
  - input [N, 28, 28] float32, byte / 255 (x.view(N, 28, 28): rows as steps);
  - gates in the order i, f, g, o (nndl's and PyTorch's); c_0 = h_0 = 0;
  - init: weight_ih ~ N(0, 1/28), weight_hh ~ N(0, 1/H); nndl's one bias vector [4H] (0, the
    forget-gate quarter 1) is bias_ih, and bias_hh is held at 0 and frozen (not trained: PyTorch
    adds the two, so a trained bias_hh would move the sum by two Adam steps per step where nndl
    moves it by one); Linear(H, 10) weights N(0, 1/H), biases N(0, 1);
  - cost per mini-batch of m: log-likelihood (1/m) Σ −ln a_y (log_softmax + nll_loss, mean);
  - torch.optim.Adam(lr=η, betas=(0.9, 0.999), eps=1e-8), no weight decay: nndl's Adam;
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

STEPS, FEATURES = 28, 28  # an image: 28 rows of 28 pixels
EVAL_CHUNK = 1000
ADAM = {"betas": (0.9, 0.999), "eps": 1e-8}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="folder with the four MNIST .gz files")
    p.add_argument("--arch", default="lstm 128; softmax 10",
                   help='nndl\'s --arch string, of the form "lstm H [last]; softmax 10"')
    p.add_argument("--optimizer", default="adam", choices=["adam"])
    p.add_argument("--cost", default="log-likelihood", choices=["log-likelihood"])
    p.add_argument("--eta", type=float, default=0.001)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lambda", dest="lam", type=float, default=0.0,
                   help="must be 0 (no weight decay here)")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--train-size", type=int, default=50_000)
    args = p.parse_args()
    if args.lam != 0.0:
        p.error("--lambda: only 0 is supported (nndl's Adam with λ adds (λ/n)w to the gradient)")
    try:
        args.hidden = parse_arch(args.arch)
    except ValueError as e:
        p.error(f"--arch: {e}")
    return args


def parse_arch(arch):
    """H of "lstm H [last]; softmax 10" (the only shape supported here)."""
    specs = [s.split() for s in arch.lower().split(";") if s.strip()]
    if (len(specs) != 2 or specs[0][0] != "lstm" or len(specs[0]) not in (2, 3)
            or specs[0][2:] not in ([], ["last"]) or specs[1] != ["softmax", "10"]):
        raise ValueError(f"{arch!r} is not of the form \"lstm H; softmax 10\"")
    return int(specs[0][1])


def build(hidden):
    """(lstm, out) with nndl's initialisation; bias_hh is 0 and frozen (see the module's doc)."""
    lstm = torch.nn.LSTM(FEATURES, hidden, batch_first=True)
    out = torch.nn.Linear(hidden, 10)
    with torch.no_grad():
        lstm.weight_ih_l0.normal_(0.0, 1.0 / math.sqrt(FEATURES))
        lstm.weight_hh_l0.normal_(0.0, 1.0 / math.sqrt(hidden))
        lstm.bias_ih_l0.zero_()
        lstm.bias_ih_l0[hidden : 2 * hidden] = 1.0  # the forget gate's quarter
        lstm.bias_hh_l0.zero_()
        out.weight.normal_(0.0, 1.0 / math.sqrt(hidden))
        out.bias.normal_(0.0, 1.0)
    lstm.bias_hh_l0.requires_grad_(False)
    return lstm, out


def trained(lstm, out):
    """The parameters nndl trains, in its order: W, U, b of the LSTM, then the softmax layer's."""
    return [lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0, out.weight, out.bias]


def logits(lstm, out, x):
    """z of the softmax layer for x of shape [N, 28, 28] (rows as time steps)."""
    seq, _ = lstm(x)
    return out(seq[:, -1])


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(args.threads)
    torch.manual_seed(args.seed)

    started = time.perf_counter()
    train_x, train_labels = mnist_idx.load_train(args.data, args.train_size)
    test_x, test_labels = mnist_idx.load_test(args.data)
    x = torch.from_numpy(train_x).view(-1, STEPS, FEATURES)
    y = torch.from_numpy(train_labels)
    tx, tl = torch.from_numpy(test_x).view(-1, STEPS, FEATURES), torch.from_numpy(test_labels)
    load_seconds = time.perf_counter() - started

    lstm, out = build(args.hidden)
    n, m = x.shape[0], args.batch_size
    adam = torch.optim.Adam(trained(lstm, out), lr=args.eta, weight_decay=0.0, **ADAM)

    epoch_seconds, epoch_cpu_seconds = [], []
    for _ in range(args.epochs):
        t0, c0 = time.perf_counter(), time.process_time()
        order = torch.randperm(n)
        for k in range(0, n, m):
            idx = order[k : k + m]
            xb, yb = x[idx], y[idx]
            loss = F.nll_loss(F.log_softmax(logits(lstm, out, xb), dim=1), yb, reduction="mean")
            adam.zero_grad(set_to_none=True)
            loss.backward()
            adam.step()
        epoch_seconds.append(time.perf_counter() - t0)
        epoch_cpu_seconds.append(time.process_time() - c0)  # all threads

    correct = 0
    with torch.no_grad():
        for k in range(0, len(tl), EVAL_CHUNK):
            z = logits(lstm, out, tx[k : k + EVAL_CHUNK])
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
