"""The benchmark's charts from a results JSON (matplotlib).

    python bench/chart.py bars RESULTS.json OUT.png      # seconds per epoch, every column
    python bench/chart.py scaling SCALING.json OUT.png   # cost as the work grows

Run with the benchmark environment's Python (bench/run does). Log scales; the range over the
repetitions as error bars; the arithmetic limit (epoch FLOPs ÷ measured peak GFLOP/s) drawn as a
black line: no implementation can go below it on this machine.
"""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ORDER = ["mlp-default", "mlp-100-ce", "mlp-mb100", "cnn-1", "cnn-2-relu", "lstm-128", "eval-10k"]
COLUMNS = ["nndl", "torch-eager", "torch-tuned", "torch-compile", "jax"]
COLOURS = {"nndl": "#d95f02", "torch-eager": "#bcbddc", "torch-tuned": "#9e9ac8",
           "torch-compile": "#6a51a3", "jax": "#1b9e77"}


def bars(result, out):
    threads = [str(t) for t in result["settings"]["threads"]]
    names = [n for n in ORDER if n in result["summary"]]
    cols = [c for c in COLUMNS if c in result.get("columns", COLUMNS)]
    fig, axes = plt.subplots(len(threads), 1, figsize=(max(9, 1.7 * len(names) + 1),
                                                       4.2 * len(threads)), dpi=110, squeeze=False)
    width = 0.8 / len(cols)
    for ax, t in zip(axes[:, 0], threads):
        for i, c in enumerate(cols):
            xs, med, lo, hi = [], [], [], []
            for k, n in enumerate(names):
                s = result["summary"][n].get(t, {}).get("sides", {}).get(c)
                if not s:
                    continue
                xs.append(k + (i - (len(cols) - 1) / 2) * width)
                med.append(s["seconds"]["median"])
                lo.append(s["seconds"]["median"] - s["seconds"]["min"])
                hi.append(s["seconds"]["max"] - s["seconds"]["median"])
            ax.bar(xs, med, width, yerr=[lo, hi], capsize=2, color=COLOURS[c], label=c)
        for k, n in enumerate(names):
            e = result["summary"][n].get(t, {})
            limit = e.get("arithmetic_limit_seconds")
            if limit:
                ax.hlines(limit, k - 0.45, k + 0.45, colors="black", linewidth=1.5,
                          label="arithmetic limit" if k == 0 else None)
            if "ratio_vs_fastest" in e:
                top = max(s["seconds"]["max"] for s in e["sides"].values())
                ax.text(k, top * 1.4, f"{e['ratio_vs_fastest']['median']:.1f}×", ha="center",
                        fontsize=8, fontweight="bold")
        ax.set_yscale("log")
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels([n + ("\n(s per 10k eval)" if n == "eval-10k" else "") for n in names])
        ax.set_ylabel("seconds per epoch (log)")
        ax.set_title(f"{t} thread(s) — above each group: fastest anchor / nndl (paired median)",
                     fontsize=9)
        ax.grid(axis="y", which="both", alpha=0.25)
        lo_y = min(min(s["seconds"]["min"] for s in result["summary"][n].get(t, {"sides": {}})
                       ["sides"].values() or [1]) for n in names)
        lims = [result["summary"][n].get(t, {}).get("arithmetic_limit_seconds") or lo_y
                for n in names]
        hi_y = max(s["seconds"]["max"] for n in names
                   for s in result["summary"][n].get(t, {"sides": {}})["sides"].values())
        ax.set_ylim(min(lo_y, min(lims)) / 3, hi_y * 4)
    axes[0, 0].legend(fontsize=7, ncol=3, loc="upper left")
    kind = " — QUICK smoke run" if result["kind"] == "quick" else ""
    fig.suptitle(f"nndl and its anchors, {result['machine']['cpu']}{kind}", fontsize=10)
    fig.tight_layout()
    fig.savefig(out, format="png")


def scaling(result, out):
    threads = [str(t) for t in result["settings"]["threads"]]
    ws = result["settings"]["workloads"]
    has_rss = bool(result.get("rss_scaling"))
    fig, axes = plt.subplots(1, 2 + has_rss, figsize=(5 * (2 + has_rss), 4.2), dpi=110)
    styles = {t: s for t, s in zip(threads, ["-", "--", ":"])}
    for ax, axis in zip(axes, ("hidden", "mini-batch")):
        names = [n for n, w in ws.items() if w.get("axis") == axis]
        xs = [ws[n]["x"] for n in names]
        for t in threads:
            entries = [result["summary"].get(n, {}).get(t) for n in names]
            if not all(entries):
                continue
            sides = [c for c in COLUMNS if c in entries[0]["sides"]]
            for c in sides:
                ax.plot(xs, [e["sides"][c]["seconds"]["median"] for e in entries], styles[t],
                        marker="o", color=COLOURS[c], label=f"{c}, {t}t")
            ax.plot(xs, [e.get("arithmetic_limit_seconds") for e in entries], styles[t],
                    color="black", label=f"arithmetic limit, {t}t")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("hidden neurons ([784,h,10], mini-batch 10)" if axis == "hidden"
                      else "mini-batch size ([784,30,10])")
        ax.set_ylabel(f"seconds per epoch of {result['settings']['train_size']:,} (log)")
        ax.grid(which="both", alpha=0.25)
        ax.legend(fontsize=6)
    if has_rss:
        ax = axes[2]
        rs = result["rss_scaling"]
        ax.bar([r["label"] for r in rs], [r["peak_rss_kib"] * 1024 / 1e6 for r in rs],
               color=COLOURS["nndl"])
        ax.set_ylabel("peak RSS of nndl train (MB)")
        ax.set_xlabel("training set")
    fig.suptitle(f"Cost as the work grows, {result['machine']['cpu']}", fontsize=10)
    fig.tight_layout()
    fig.savefig(out, format="png")


def main():
    kind, src, out = sys.argv[1], sys.argv[2], sys.argv[3]
    result = json.load(open(src))
    {"bars": bars, "scaling": scaling}[kind](result, out)


if __name__ == "__main__":
    main()
