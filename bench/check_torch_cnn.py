"""Check that bench/torch_cnn.py computes what `nndl train --arch` computes, weight for weight.

    ~/.cache/nndl-bench/venv/bin/python bench/check_torch_cnn.py [--nndl target/release/nndl]

For each cnn workload of the benchmark: nndl saves its initial network (--epochs 0) and the network
after a few epochs on the first 50 training images in one mini-batch of 50 (one SGD step per epoch;
with a single mini-batch the shuffle cannot change anything). torch_cnn.py's layers start from the
same initial weights and take the same steps; the weights must end up equal up to float rounding.
This covers the layout (filters, flattening), the activations, max pooling, the log-likelihood
cost averaged over the mini-batch and the L2 update on weights only. Only the random draws
(initialisation, shuffling) differ in the benchmark itself.
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
import torch_cnn  # noqa: E402
import torch_eval  # noqa: E402

IMAGES, STEPS, TOLERANCE = 50, 5, 1e-4


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nndl", default=str(harness.nndl_binary()))
    p.add_argument("--data", type=Path, default=None, help="as bench/run's --data")
    args = p.parse_args()
    data = harness.find_data(args.data)
    x, y = mnist_idx.load_train(data, IMAGES)
    x, y = torch.from_numpy(x).view(-1, 1, 28, 28), torch.from_numpy(y)
    failed = False
    with tempfile.TemporaryDirectory(prefix="nndl-check-") as tmp:
        for w in (w for w in harness.TRAIN_WORKLOADS if w["kind"] == "cnn"):
            files = []
            for epochs in (0, STEPS):
                path = Path(tmp) / f"{w['name']}-{epochs}.safetensors"
                subprocess.run(
                    [args.nndl, "train", "--data", str(data), "--arch", w["arch"],
                     "--cost", w["cost"], "--eta", str(w["eta"]), "--lambda", str(w["lambda"]),
                     "--batch-size", str(IMAGES), "--train-size", str(IMAGES),
                     "--epochs", str(epochs), "--seed", "7", "--monitor", "none", "--quiet",
                     "--save", str(path)],
                    check=True, capture_output=True)
                files.append(torch_eval.read_safetensors(path))
            (start, meta), (end, _) = files
            layers = torch_cnn.build(w["arch"], "sigmoid")
            mods = [m for _, m, _ in layers if hasattr(m, "weight")]
            idx = [i for i, s in enumerate(meta["architecture"]) if s["kind"] in ("conv", "dense")]
            with torch.no_grad():
                for i, m in zip(idx, mods):
                    m.weight.copy_(torch.from_numpy(start[f"layers.{i}.weights"]).view_as(m.weight))
                    m.bias.copy_(torch.from_numpy(start[f"layers.{i}.biases"]))
            sgd = torch.optim.SGD(
                [{"params": [m.weight for m in mods], "weight_decay": w["lambda"] / IMAGES},
                 {"params": [m.bias for m in mods], "weight_decay": 0.0}], lr=w["eta"])
            for _ in range(STEPS):
                loss = F.nll_loss(F.log_softmax(torch_cnn.logits(layers, x), dim=1), y)
                sgd.zero_grad(set_to_none=True)
                loss.backward()
                sgd.step()
            moved = diff = 0.0
            for i, m in zip(idx, mods):
                for name, t in (("weights", m.weight), ("biases", m.bias)):
                    a = torch.from_numpy(start[f"layers.{i}.{name}"]).view_as(t)
                    b = torch.from_numpy(end[f"layers.{i}.{name}"]).view_as(t)
                    moved = max(moved, float((b - a).abs().max()))
                    diff = max(diff, float((t.detach() - b).abs().max()))
            ok = diff <= TOLERANCE and moved > 100 * diff
            failed |= not ok
            print(f"{w['name']:<12} {STEPS} steps: weights moved up to {moved:.2e}, nndl and "
                  f"PyTorch differ by up to {diff:.2e}: {'ok' if ok else 'MISMATCH'}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
