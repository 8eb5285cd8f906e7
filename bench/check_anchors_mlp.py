"""Check that the MLP anchors (anchor_torch.py, both backprops and modes, and anchor_jax.py)
compute what `nndl train --layers` computes, weight for weight.

    ~/.cache/nndl-bench/venv/bin/python bench/check_anchors_mlp.py [--nndl target/release/nndl] [--no-compile]

For each mlp workload of the benchmark (mlp-default, mlp-100-ce, mlp-mb100): nndl saves its
initial network (--epochs 0) and the network after STEPS epochs on the first 50 training images in
one mini-batch of 50 (one SGD step per epoch; with a single mini-batch the shuffle only reorders a
sum). Each anchor's own training step starts from nndl's initial weights, takes the same steps on
the same images (bytes / 255, one-hot labels) and must end within 1e-5 of nndl's weights, having
moved them by far more than that. This covers the layout of the weights, the sigmoid layers, the
quadratic and cross-entropy costs (δ = (a − y)·σ'(z) and a − y), the mean over the mini-batch and
the L2 update on the weights only, w ← (1 − ηλ/n) w − (η/m) Σ∇.
"""

import argparse
import subprocess
import sys
import tempfile
import types
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
import anchor_common as common  # noqa: E402
import harness  # noqa: E402  (standard library only; for the workload definitions)
import mnist_idx  # noqa: E402

IMAGES, STEPS, TOLERANCE = 50, 5, 1e-5


def nndl_weights(nndl, data, w, epochs, path):
    subprocess.run(
        [nndl, "train", "--data", str(data), "--layers", w["layers"], "--activation", "sigmoid",
         "--cost", w["cost"], "--eta", str(w["eta"]), "--lambda", str(w["lambda"]),
         "--batch-size", str(IMAGES), "--train-size", str(IMAGES), "--epochs", str(epochs),
         "--seed", "7", "--threads", "1", "--monitor", "none", "--quiet", "--save", str(path)],
        check=True, capture_output=True)
    tensors, _ = common.read_safetensors(path)
    layers = len(w["layers"].split(",")) - 1
    return [(tensors[f"layers.{i}.weights"], tensors[f"layers.{i}.biases"]) for i in range(layers)]


def anchor_args(w):
    return types.SimpleNamespace(kind="mlp", layers=w["layers"], cost=w["cost"], eta=w["eta"],
                                 lam=w["lambda"], optimizer="sgd", batch_size=IMAGES)


def torch_manual(w, start, x, y, compiled):
    import anchor_torch
    import torch
    ws = [torch.from_numpy(a.copy()) for a, _ in start]
    bs = [torch.from_numpy(b.copy()) for _, b in start]
    quadratic, decay = w["cost"] == "quadratic", 1.0 - w["eta"] * w["lambda"] / IMAGES
    step = anchor_torch.step
    if compiled:
        step = torch.compile(step, dynamic=False, fullgraph=True)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    with torch.no_grad():
        for _ in range(STEPS):
            step(ws, bs, xt, yt, quadratic, w["eta"], decay)
    return [(a.numpy(), b.numpy()) for a, b in zip(ws, bs)]


def torch_autograd(w, start, x, y):
    import anchor_torch
    import torch
    args = anchor_args(w)
    module, decayed, plain, loss_fn = anchor_torch.build_autograd(args)
    with torch.no_grad():
        for (a, b), wt, bt in zip(start, decayed, plain):
            wt.copy_(torch.from_numpy(a))
            bt.copy_(torch.from_numpy(b))
    opt = anchor_torch.optimiser(args, decayed, plain, IMAGES)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    for _ in range(STEPS):
        loss_fn(module(xt), yt).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return [(a.detach().numpy(), b.detach().numpy()) for a, b in zip(decayed, plain)]


def jax_steps(w, start, x, y):
    import anchor_jax
    import jax
    import jax.numpy as jnp
    args = anchor_args(w)
    _, forward = anchor_jax.build(args, np.random.default_rng(0))
    params = [{"w": jnp.asarray(a), "b": jnp.asarray(b)} for a, b in start]
    loss = anchor_jax.make_loss(args, forward)
    init, update = anchor_jax.make_update(args, IMAGES)
    s = init(params)

    @jax.jit
    def step(params, s):
        return update(params, jax.grad(loss)(params, x, y), s)

    for _ in range(STEPS):
        params, s = step(params, s)
    return [(np.asarray(p["w"]), np.asarray(p["b"])) for p in params]


def compare(start, end, got):
    moved = max(float(np.abs(e - s).max()) for se, ee in zip(start, end) for s, e in zip(se, ee))
    diff = max(float(np.abs(g - e).max()) for ge, ee in zip(got, end) for g, e in zip(ge, ee))
    return moved, diff


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nndl", default=str(harness.nndl_binary()))
    p.add_argument("--data", type=Path, default=None, help="as bench/run's --data")
    p.add_argument("--no-compile", action="store_true",
                   help="skip the torch.compile anchor (its compilation takes a minute or so)")
    args = p.parse_args()
    import torch
    torch.set_num_threads(1)
    data = harness.find_data(args.data)
    x, labels = mnist_idx.load_train(data, IMAGES)  # bytes / 255, as the anchors compute it
    y = mnist_idx.one_hot(labels)
    anchors = [("torch-tuned (manual backprop)", lambda w, s: torch_manual(w, s, x, y, False)),
               ("torch-tuned --backprop autograd", lambda w, s: torch_autograd(w, s, x, y))]
    if not args.no_compile:
        anchors.append(("torch-compile (manual backprop)",
                        lambda w, s: torch_manual(w, s, x, y, True)))
    anchors.append(("jax", lambda w, s: jax_steps(w, s, x, y)))
    failed = False
    with tempfile.TemporaryDirectory(prefix="nndl-check-") as tmp:
        for w in (w for w in harness.TRAIN_WORKLOADS if w["kind"] == "mlp"):
            start = nndl_weights(args.nndl, data, w, 0, Path(tmp) / f"{w['name']}-0.safetensors")
            end = nndl_weights(args.nndl, data, w, STEPS, Path(tmp) / f"{w['name']}-n.safetensors")
            for name, run in anchors:
                moved, diff = compare(start, end, run(w, start))
                ok = diff <= TOLERANCE and moved > 100 * diff
                failed |= not ok
                print(f"{w['name']:<12} {name:<32} {STEPS} steps: weights moved up to "
                      f"{moved:.2e}, differ from nndl's by up to {diff:.2e}: "
                      f"{'ok' if ok else 'MISMATCH'}", flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
