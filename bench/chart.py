"""Bar chart of a results JSON: seconds per epoch, nndl vs PyTorch, per workload (matplotlib).

    python bench/chart.py RESULTS.json OUT.png

Run with the benchmark environment's Python (bench/run does); log scale, the range over the
repetitions as error bars, PyTorch / nndl written above each pair. The log scale keeps the MLP
epochs (0.1-1 s) and the conv and LSTM epochs (5-40 s) readable on one chart.
"""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ORDER = ["mlp-default", "mlp-100-ce", "mlp-mb100", "cnn-1", "cnn-2-relu", "lstm-128", "eval-10k"]
COLOURS = {"nndl": "#d95f02", "torch": "#7570b3"}


def main():
    src, out = sys.argv[1], sys.argv[2]
    result = json.load(open(src))
    summary = result["summary"]
    names = [n for n in ORDER if n in summary]
    st = result["settings"]
    fig, ax = plt.subplots(figsize=(max(8, 1.5 * len(names) + 1), 4.5), dpi=120)
    width = 0.38
    for i, side in enumerate(["nndl", "torch"]):
        med = [summary[n][side]["seconds"]["median"] for n in names]
        lo = [m - summary[n][side]["seconds"]["min"] for m, n in zip(med, names)]
        hi = [summary[n][side]["seconds"]["max"] - m for m, n in zip(med, names)]
        xs = [k + (i - 0.5) * width for k in range(len(names))]
        ax.bar(xs, med, width, yerr=[lo, hi], capsize=3, color=COLOURS[side],
               label="nndl" if side == "nndl" else f"PyTorch {result['versions']['torch']} (CPU)")
    ax.set_yscale("log")
    top = max(summary[n]["torch"]["seconds"]["max"] for n in names)
    top = max(top, max(summary[n]["nndl"]["seconds"]["max"] for n in names))
    bottom = min(summary[n][s]["seconds"]["min"] for n in names for s in ("nndl", "torch"))
    ax.set_ylim(bottom / 3, top * 4)
    for k, n in enumerate(names):
        peak = max(summary[n][s]["seconds"]["max"] for s in ("nndl", "torch"))
        ax.text(k, peak * 1.35, f"{summary[n]['ratio']:.1f}×", ha="center", va="bottom",
                fontweight="bold")
    ax.set_xticks(range(len(names)))
    # The y label names the mlp runs' images per epoch; other sizes (the cnn and lstm workloads of
    # a quick run) are named under their bars.
    sizes = [summary[n].get("train_size", st["train_size"]) for n in names if n != "eval-10k"]
    common = st["train_size"] if st["train_size"] in sizes or not sizes else sizes[0]

    def label(n):
        if n == "eval-10k":
            return n + "\n(s per 10k eval)"
        size = summary[n].get("train_size", st["train_size"])
        return n + (f"\n(epoch of {size:,})" if size != common else "")

    ax.set_xticklabels([label(n) for n in names])
    per = "epoch" if common == 50_000 else f"epoch of {common:,} images"
    ax.set_ylabel(f"seconds per {per} (log scale)")
    kind = " — QUICK smoke run" if result["kind"] == "quick" else ""
    kind += " — subset of the workloads" if result.get("partial") else ""
    ax.set_title(f"nndl vs PyTorch on {st['threads']} thread(s), {result['machine']['cpu']}{kind}",
                 fontsize=9)
    ax.legend(loc="upper right", fontsize=8)
    ax.grid(axis="y", which="both", alpha=0.25)
    fig.text(0.01, 0.01, f"nndl {result['versions']['nndl_commit']}, median and range over "
             f"{st['repetitions']} repetition(s); above each pair: PyTorch / nndl",
             fontsize=7, color="#555")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(out, format="png")


if __name__ == "__main__":
    main()
