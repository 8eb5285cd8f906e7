"""Check that the conv and LSTM anchors (anchor_torch.py's autograd networks and anchor_jax.py)
compute what `nndl train --arch` computes, weight for weight.

    ~/.cache/nndl-bench/venv/bin/python bench/check_anchors_arch.py [--nndl target/release/nndl]

For each cnn and rnn workload of the benchmark: nndl saves its initial network (--epochs 0) and
the network after STEPS epochs on the first 50 training images in one mini-batch of 50 (one step
per epoch: SGD for the conv nets, Adam for the LSTM). Each anchor starts from nndl's initial
weights, takes the same steps and must end up within TOLERANCE of nndl's weights, having moved
them by far more. This covers the tuned anchors' own choices: pool-then-activate, channels_last,
F.cross_entropy and the fused SGD and Adam in PyTorch; the NCHW convolutions, the reduce-window
pooling, the channel-major flattening, the scanned LSTM cell and the hand-written Adam in JAX.
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
import harness  # noqa: E402
import mnist_idx  # noqa: E402

IMAGES, STEPS = 50, 5
TOLERANCE = 1e-4  # as check_torch_cnn.py and check_torch_lstm.py (Adam magnifies rounding)


def nndl_tensors(nndl, data, w, epochs, path):
    opt = ["--optimizer", w["optimizer"]] if "optimizer" in w else []
    subprocess.run(
        [nndl, "train", "--data", str(data), "--arch", w["arch"], *opt,
         "--cost", w["cost"], "--eta", str(w["eta"]), "--lambda", str(w["lambda"]),
         "--batch-size", str(IMAGES), "--train-size", str(IMAGES), "--epochs", str(epochs),
         "--seed", "7", "--threads", "1", "--monitor", "none", "--quiet", "--save", str(path)],
        check=True, capture_output=True)
    tensors, meta = common.read_safetensors(path)
    return tensors, meta


def names(meta):
    """nndl's tensor names in the order the anchors keep their parameters."""
    out = []
    for i, s in enumerate(meta["architecture"]):
        if s["kind"] in ("conv", "dense"):
            out.append([f"layers.{i}.weights", f"layers.{i}.biases"])
        elif s["kind"] == "recurrent":
            out.append([f"layers.{i}.weights", f"layers.{i}.recurrent", f"layers.{i}.biases"])
    return out


def anchor_args(w):
    kind = "rnn" if "lstm" in w["arch"] else "cnn"
    return types.SimpleNamespace(kind=kind, arch=w["arch"], cost=w["cost"], eta=w["eta"],
                                 lam=w["lambda"], optimizer=w.get("optimizer", "sgd"),
                                 batch_size=IMAGES)


def torch_run(w, start, groups, x, labels):
    import anchor_torch
    import torch
    args = anchor_args(w)
    module, decayed, plain, loss_fn = anchor_torch.build_autograd(args)
    if args.kind == "rnn":
        params = decayed  # W, U, b of the LSTM, then the softmax layer's weights and biases
        flat = [n for g in groups for n in g]
    else:
        params = [t for pair in zip(decayed, plain) for t in pair]
        flat = [n for g in groups for n in g]
    with torch.no_grad():
        for t, n in zip(params, flat):
            t.copy_(torch.from_numpy(start[n]).view_as(t))
    opt = anchor_torch.optimiser(args, decayed, plain, IMAGES)
    xt = anchor_torch.inputs(args, torch.from_numpy(x))
    yt = torch.from_numpy(labels)
    for _ in range(STEPS):
        loss_fn(module(xt), yt).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return {n: t.detach().numpy().reshape(start[n].shape) for t, n in zip(params, flat)}


def jax_run(w, start, groups, x, labels):
    import anchor_jax
    import jax
    import jax.numpy as jnp
    args = anchor_args(w)
    params, forward = anchor_jax.build(args, np.random.default_rng(0))
    keys = [["w", "u", "b"] if len(g) == 3 else ["w", "b"] for g in groups]
    params = [{k: jnp.asarray(start[n].reshape(p[k].shape)) for k, n in zip(ks, g)}
              for p, ks, g in zip(params, keys, groups)]
    loss = anchor_jax.make_loss(args, forward)
    init, update = anchor_jax.make_update(args, IMAGES)
    s = init(params)
    xj, yj = jnp.asarray(x), jnp.asarray(labels.astype(np.int32))

    @jax.jit
    def step(params, s):
        return update(params, jax.grad(loss)(params, xj, yj), s)

    for _ in range(STEPS):
        params, s = step(params, s)
    return {n: np.asarray(p[k]).reshape(start[n].shape)
            for p, ks, g in zip(params, keys, groups) for k, n in zip(ks, g)}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nndl", default=str(harness.nndl_binary()))
    p.add_argument("--data", type=Path, default=None, help="as bench/run's --data")
    args = p.parse_args()
    import torch
    torch.set_num_threads(1)
    data = harness.find_data(args.data)
    x, labels = mnist_idx.load_train(data, IMAGES)
    failed = False
    with tempfile.TemporaryDirectory(prefix="nndl-check-") as tmp:
        for w in (w for w in harness.TRAIN_WORKLOADS if w["kind"] in ("cnn", "rnn")):
            start, meta = nndl_tensors(args.nndl, data, w, 0, Path(tmp) / "start.safetensors")
            end, _ = nndl_tensors(args.nndl, data, w, STEPS, Path(tmp) / "end.safetensors")
            groups = names(meta)
            for name, run in (("torch-tuned", torch_run), ("jax", jax_run)):
                got = run(w, start, groups, x, labels)
                moved = max(float(np.abs(end[n] - start[n]).max()) for n in got)
                diff = max(float(np.abs(got[n] - end[n]).max()) for n in got)
                ok = diff <= TOLERANCE and moved > 100 * diff
                failed |= not ok
                print(f"{w['name']:<12} {name:<12} {STEPS} steps: weights moved up to {moved:.2e}, "
                      f"differ from nndl's by up to {diff:.2e}: {'ok' if ok else 'MISMATCH'}",
                      flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
