"""Check that bench/torch_lstm.py computes what `nndl train --arch "lstm …"` computes, weight for weight.

    ~/.cache/nndl-bench/venv/bin/python bench/check_torch_lstm.py [--nndl target/release/nndl]

For each recurrent workload of the benchmark, from the initial network nndl saves (--epochs 0),
on the first 50 training images in one mini-batch of 50 (with a single mini-batch the shuffle only
reorders a sum), torch_lstm.py's nn.LSTM and Linear loaded with the same weights (nndl's
`weights`, `recurrent` and `biases` as weight_ih, weight_hh and bias_ih; bias_hh 0 and frozen):

  1. the gradient: nndl takes one plain SGD step with η = 1 (so w₀ − w₁ is its ∂C/∂w), PyTorch one
     backward pass; every tensor's gradients must agree to float rounding (relative to its
     largest);
  2. training: nndl and torch.optim.Adam take the workload's Adam steps (one per epoch); the
     weights must end up equal up to float rounding. Adam divides by √v̂ + ε with ε = 10⁻⁸, so a
     gradient near or below ε (a few recurrent weights, early on) turns its rounding into up to a
     percent of that weight's η-sized step: expect ~10⁻⁵ here against ~10⁻⁷ in step 1.

This covers the reading of rows as time steps, the gate order (i, f, g, o), the last step's hidden
state as output, the log-likelihood cost averaged over the mini-batch and Adam's bias-corrected
update. Only the random draws (initialisation, shuffling) differ in the benchmark itself.
"""

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
import harness  # noqa: E402  (standard library only; for the workload definitions)
import mnist_idx  # noqa: E402
import torch_eval  # noqa: E402
import torch_lstm  # noqa: E402

IMAGES, STEPS = 50, 5
GRAD_TOLERANCE = 1e-4  # relative to the tensor's largest gradient
TOLERANCE = 1e-4  # absolute, on the weights after the Adam steps
NAMES = ["layers.0.weights", "layers.0.recurrent", "layers.0.biases",
         "layers.1.weights", "layers.1.biases"]


def nndl_train(nndl, data, w, path, optimizer, eta, epochs):
    """The network nndl saves after `epochs` steps on the IMAGES images, as {name: tensor}."""
    subprocess.run(
        [nndl, "train", "--data", str(data), "--arch", w["arch"], "--optimizer", optimizer,
         "--cost", w["cost"], "--eta", str(eta), "--lambda", str(w["lambda"]),
         "--batch-size", str(IMAGES), "--train-size", str(IMAGES), "--epochs", str(epochs),
         "--seed", "7", "--threads", "1", "--monitor", "none", "--quiet", "--save", str(path)],
        check=True, capture_output=True)
    tensors, meta = torch_eval.read_safetensors(path)
    return {k: torch.from_numpy(v) for k, v in tensors.items()}, meta


def torch_net(w, start):
    """torch_lstm.py's network loaded with nndl's weights, and its trained parameters (NAMES order)."""
    lstm, out = torch_lstm.build(torch_lstm.parse_arch(w["arch"]))
    params = torch_lstm.trained(lstm, out)
    with torch.no_grad():
        for name, t in zip(NAMES, params):
            t.copy_(start[name].view_as(t))
        lstm.bias_hh_l0.zero_()
    return lstm, out, params


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nndl", default=str(harness.nndl_binary()))
    p.add_argument("--data", type=Path, default=None, help="as bench/run's --data")
    args = p.parse_args()
    torch.set_num_threads(1)
    data = harness.find_data(args.data)
    x, y = mnist_idx.load_train(data, IMAGES)
    x, y = torch.from_numpy(x).view(-1, torch_lstm.STEPS, torch_lstm.FEATURES), torch.from_numpy(y)

    def loss_of(lstm, out):
        return F.nll_loss(F.log_softmax(torch_lstm.logits(lstm, out, x), dim=1), y)

    failed = False
    with tempfile.TemporaryDirectory(prefix="nndl-check-") as tmp:
        for w in (w for w in harness.TRAIN_WORKLOADS if w["kind"] == "rnn"):
            tmp_file = lambda tag: Path(tmp) / f"{w['name']}-{tag}.safetensors"  # noqa: E731
            start, meta = nndl_train(args.nndl, data, w, tmp_file("start"), w["optimizer"], w["eta"], 0)
            kinds = [s["kind"] for s in meta["architecture"]]
            if kinds != ["recurrent", "dense"] or meta["architecture"][0]["cell"] != "lstm":
                sys.exit(f"check: {w['name']}: unexpected architecture {meta['architecture']}")

            # 1. the gradient: nndl's one SGD step of η = 1 against one backward pass
            sgd, _ = nndl_train(args.nndl, data, w, tmp_file("sgd"), "sgd", 1.0, 1)
            lstm, out, params = torch_net(w, start)
            loss_of(lstm, out).backward()
            worst = 0.0
            print(f"{w['name']}: gradients on {IMAGES} images (nndl: w0 - w1 after SGD with η = 1)")
            for name, t in zip(NAMES, params):
                g_nndl = (start[name] - sgd[name]).view_as(t)
                rel = float((t.grad - g_nndl).abs().max() / t.grad.abs().max())
                worst = max(worst, rel)
                print(f"  {name:<20} {tuple(t.shape)!s:<11} largest |g| "
                      f"{float(t.grad.abs().max()):.2e}, differ by up to {rel:.2e} of it")
            ok = worst <= GRAD_TOLERANCE
            failed |= not ok
            print(f"{w['name']:<12} gradients: nndl and PyTorch differ by up to {worst:.2e} "
                  f"(relative): {'ok' if ok else 'MISMATCH'}")

            # 2. the workload's Adam steps
            end, _ = nndl_train(args.nndl, data, w, tmp_file("end"), w["optimizer"], w["eta"], STEPS)
            lstm, out, params = torch_net(w, start)
            adam = torch.optim.Adam(params, lr=w["eta"], weight_decay=0.0, **torch_lstm.ADAM)
            for _ in range(STEPS):
                loss = loss_of(lstm, out)
                adam.zero_grad(set_to_none=True)
                loss.backward()
                adam.step()
            moved = diff = 0.0
            print(f"{w['name']}: {STEPS} Adam steps (η = {w['eta']:g})")
            for name, t in zip(NAMES, params):
                a, b = start[name].view_as(t), end[name].view_as(t)
                d = float((t.detach() - b).abs().max())
                moved = max(moved, float((b - a).abs().max()))
                diff = max(diff, d)
                print(f"  {name:<20} {tuple(t.shape)!s:<11} differ by up to {d:.2e}")
            ok = diff <= TOLERANCE and moved > 100 * diff
            failed |= not ok
            print(f"{w['name']:<12} {STEPS} Adam steps: weights moved up to {moved:.2e}, nndl and "
                  f"PyTorch differ by up to {diff:.2e}: {'ok' if ok else 'MISMATCH'}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
