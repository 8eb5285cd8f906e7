"""What bench/anchor_torch.py and bench/anchor_jax.py share: their command line, the data as nndl
holds it, the workload's shape and the JSON line they print (numpy and the standard library only).

The data stays as nndl holds it: the training images as bytes and the labels as integers. Each
epoch's timed span, like nndl's `train_seconds`, covers the shuffle, turning the bytes into
floats (byte / 255, the division as nndl does it) and the labels into one-hot rows where the cost
needs them, and the mini-batch loop. nndl does that conversion per mini-batch; the anchors do it
once per epoch for the whole shuffled set (one gather, then contiguous slices), which is the
faster way for a framework. `--convert outside` moves it out of the span (the floats prepared
once before the first epoch, only the gather of floats inside), for the record.
"""

import argparse
import json
import os
import struct
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mnist_idx  # noqa: E402

STEPS, FEATURES = 28, 28  # an image read by an LSTM: 28 rows of 28 pixels


def parse_args(description, modes=None, extra=None):
    p = argparse.ArgumentParser(description=description,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="folder with the four MNIST .gz files")
    net = p.add_mutually_exclusive_group(required=True)
    net.add_argument("--layers", help="an MLP as nndl's --layers, sigmoid on every layer")
    net.add_argument("--arch", help='nndl\'s --arch: "conv …; maxpool …; dense …; softmax 10" '
                                    'or "lstm H; softmax 10"')
    net.add_argument("--eval", metavar="MODEL",
                     help="time the classification of the 10,000 test images with this nndl "
                          "model file (dense layers), as `nndl eval MODEL --repeat N`")
    p.add_argument("--activation", default="sigmoid", choices=["sigmoid"],
                   help="with --layers (the only one nndl's benchmark uses)")
    p.add_argument("--optimizer", default="sgd", choices=["sgd", "adam"])
    p.add_argument("--cost", default=None,
                   choices=["quadratic", "cross-entropy", "log-likelihood"])
    p.add_argument("--eta", type=float, default=3.0)
    p.add_argument("--batch-size", type=int, default=10)
    p.add_argument("--lambda", dest="lam", type=float, default=0.0)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--train-size", type=int, default=50_000)
    p.add_argument("--repeat", type=int, default=9, help="with --eval: timed evaluations")
    p.add_argument("--convert", choices=["inside", "outside"], default="inside",
                   help="bytes to floats inside each epoch's timed span (as nndl does; default) "
                        "or once before the first")
    if modes:
        p.add_argument("--mode", choices=modes, default=modes[0])
    if extra:
        extra(p)
    args = p.parse_args()
    if args.arch:
        args.kind = "rnn" if "lstm" in args.arch.lower() else "cnn"
    else:
        args.kind = "eval" if args.eval else "mlp"
    if args.cost is None:
        args.cost = "quadratic" if args.kind == "mlp" else "log-likelihood"
    if args.kind in ("cnn", "rnn") and args.cost != "log-likelihood":
        p.error("--arch networks end in softmax: --cost log-likelihood")
    if args.kind == "mlp" and args.cost == "log-likelihood":
        p.error("--layers networks have sigmoid outputs: --cost quadratic or cross-entropy")
    if args.optimizer == "adam" and args.lam != 0.0:
        p.error("--lambda: only 0 with adam here")
    return args


def pin_threads(threads):
    """Keep this process (and the threads it starts) on the first `threads` CPUs."""
    if hasattr(os, "sched_setaffinity"):
        cpus = sorted(os.sched_getaffinity(0))
        if threads < len(cpus):
            os.sched_setaffinity(0, cpus[:threads])


def load(args):
    """Training bytes [n, 784] uint8, labels [n] int64; test bytes and labels (nndl's split)."""
    d = Path(args.data)
    x = mnist_idx.read_idx(d / "train-images-idx3-ubyte.gz")[: args.train_size]
    y = mnist_idx.read_idx(d / "train-labels-idx1-ubyte.gz")[: args.train_size].astype(np.int64)
    tx = mnist_idx.read_idx(d / "t10k-images-idx3-ubyte.gz")
    ty = mnist_idx.read_idx(d / "t10k-labels-idx1-ubyte.gz").astype(np.int64)
    return x.copy(), y, tx.copy(), ty  # writable copies (torch.from_numpy wants them)


def mlp_sizes(args):
    return [int(s) for s in args.layers.split(",")]


def parse_arch(arch):
    """[(kind, args)] of nndl's arch string for the layers the benchmark uses:
    ("conv", (filters, k, act)), ("maxpool", k), ("dense", (n, act)), ("softmax", n),
    ("lstm", h)."""
    out = []
    specs = [s.split() for s in arch.lower().split(";") if s.strip()]
    for i, w in enumerate(specs):
        kind, rest = w[0], w[1:]
        if kind == "conv":
            k = rest[1].split("x")
            if k[0] != k[1]:
                raise ValueError(f"square kernels only, got {rest[1]}")
            out.append(("conv", (int(rest[0]), int(k[0]), rest[2] if len(rest) > 2 else "sigmoid")))
        elif kind == "maxpool":
            out.append(("maxpool", int(rest[0])))
        elif kind == "dense":
            out.append(("dense", (int(rest[0]), rest[1] if len(rest) > 1 else "sigmoid")))
        elif kind == "softmax":
            if i != len(specs) - 1:
                raise ValueError("softmax must be the output layer")
            out.append(("softmax", int(rest[0])))
        elif kind == "lstm":
            if rest[1:] not in ([], ["last"]):
                raise ValueError("lstm H [last] only")
            out.append(("lstm", int(rest[0])))
        else:
            raise ValueError(f"layer {kind!r} is not supported here")
    return out


def batches(n, m):
    """(full mini-batches, size of the last partial one or 0)."""
    return n // m, n % m


def read_safetensors(path):
    """{name: float32 array} and the parsed `nndl` metadata of an nndl model file (numpy only;
    the same reading as torch_eval.py's)."""
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
    return tensors, json.loads(header["__metadata__"]["nndl"])


def report(**fields):
    """The one JSON line a harness reads (the last line of stdout)."""
    print(json.dumps(fields), flush=True)
