#!/usr/bin/env python3
"""BENCHMARKS.md from a results JSON written by bench/harness.py (standard library only).

    python3 bench/report.py                  # from the latest full run in bench/results/
    python3 bench/report.py RESULTS.json     # from that file

The chart (bench/results/latest.png) is drawn by bench/chart.py, which needs matplotlib; bench/run
draws both.
"""

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
ORDER = ["mlp-default", "mlp-100-ce", "mlp-mb100", "cnn-1", "cnn-2-relu", "lstm-128", "eval-10k"]
TRAINING = [n for n in ORDER if n != "eval-10k"]
ACTIVATIONS = {"sigmoid", "tanh", "relu", "identity"}

# The targets: PyTorch median / nndl median at least this.
SPEED_TARGETS = {"mlp-default": 15.0, "mlp-100-ce": 5.0, "mlp-mb100": 4.0, "lstm-128": 1.0,
                 "eval-10k": 1.0}
OPTIMIZERS = {"adam": "Adam (β₁ 0.9, β₂ 0.999, ε 1e-8)", "rmsprop": "RMSProp (ρ 0.9, ε 1e-8)"}
RSS_LIMIT_MB = 100.0
BUILD_LIMIT_S = 180.0
ACCURACY_NOISE_PP = 0.5


def secs(x):
    if x >= 10:
        return f"{x:.1f}"
    if x >= 1:
        return f"{x:.2f}"
    if x >= 0.1:
        return f"{x:.3f}"
    return f"{x:.4f}"


def seconds_cell(s):
    if s["n"] == 1:
        return secs(s["median"])
    return f"{secs(s['median'])} ({secs(s['min'])}–{secs(s['max'])})"


def accuracy_cell(a):
    if a["min"] == a["max"]:
        return f"{100 * a['median']:.2f}%"
    return f"{100 * a['median']:.2f}% ({100 * a['min']:.2f}–{100 * a['max']:.2f})"


def mb(kib):
    return kib * 1024 / 1e6


def plan(result, name):
    """(epochs per run, training images) of a training workload; older results have one for all."""
    st = result["settings"]
    w = st["workloads"].get(name, {})
    return w.get("epochs_per_run", st["epochs_per_run"]), w.get("train_size", st["train_size"])


def per_epoch(train_size):
    return "s per epoch" if train_size == 50_000 else f"s per epoch of {train_size:,} images"


def pretty_arch(arch, default="sigmoid"):
    """nndl's --arch string with every activation spelled out, layers joined by arrows."""
    out = []
    for layer in (part.split() for part in arch.split(";") if part.strip()):
        if layer[0] in ("conv", "dense") and layer[-1] not in ACTIVATIONS:
            layer.append(default)
        out.append(" ".join(layer))
    return " → ".join(out)


def accuracy_agrees(s):
    """Equal within noise: the ranges over the repetitions overlap, or the medians are close."""
    a, b = s["nndl"]["test_accuracy"], s["torch"]["test_accuracy"]
    overlap = a["min"] <= b["max"] and b["min"] <= a["max"]
    return overlap or abs(a["median"] - b["median"]) * 100 <= ACCURACY_NOISE_PP


def busy_mark(result, side_summary):
    limit = result["settings"].get("idle_below_cores", 0.25)
    return " †" if side_summary.get("background_cores_max", 0.0) >= limit else ""


def header_size(result):
    """The training images per epoch the table's header names: the mlp runs', else the first's."""
    sizes = [plan(result, n)[1] for n in TRAINING if n in result["summary"]]
    size = result["settings"]["train_size"]
    return size if size in sizes or not sizes else sizes[0]


def table(result):
    summary = result["summary"]
    size = header_size(result)
    unit_note = per_epoch(size)
    # Training workloads run on another number of images than the header's (the cnn workloads of
    # a quick run): marked ² with a note.
    other_size = {n: plan(result, n)[1] for n in TRAINING if n in summary
                  and plan(result, n)[1] != size}
    rows = [
        f"| workload | nndl, {unit_note} | PyTorch, {unit_note} | PyTorch / nndl "
        "| nndl test acc. | PyTorch test acc. | nndl peak RSS | PyTorch peak RSS |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name in ORDER:
        if name not in summary:
            continue
        s = summary[name]
        label = f"`{name}`" + (" ¹" if name == "eval-10k" else "") + (" ²" if name in other_size else "")
        rows.append(
            f"| {label} | {seconds_cell(s['nndl']['seconds'])}{busy_mark(result, s['nndl'])} | "
            f"{seconds_cell(s['torch']['seconds'])}{busy_mark(result, s['torch'])} | "
            f"**{s['ratio']:.1f}×** | "
            f"{accuracy_cell(s['nndl']['test_accuracy'])} | "
            f"{accuracy_cell(s['torch']['test_accuracy'])} | "
            f"{mb(s['nndl']['peak_rss_kib']):.0f} MB | {mb(s['torch']['peak_rss_kib']):.0f} MB |"
        )
    rows.append("")
    if "eval-10k" in summary:
        rows.append("¹ `eval-10k`: seconds to classify the 10,000 test images once (median of "
                    f"{result['settings']['eval_repeat']} in each process); its RSS columns are "
                    "the `nndl eval` and `torch_eval.py` processes.")
    for size in sorted(set(other_size.values())):
        names = ", ".join(f"`{n}`" for n in other_size if other_size[n] == size)
        rows.append(f"² {names}: {per_epoch(size)}.")
    return "\n".join(rows)


def load_note(result):
    """A warning when other processes used the CPU during the runs, else ''."""
    limit = result["settings"].get("idle_below_cores", 0.25)
    runs = [r for sides in result["runs"].values() for rs in sides.values() for r in rs]
    busy = [r["background_cores"] for r in runs if "background_cores" in r]
    hit = [b for b in busy if b >= limit]
    if not hit:
        return ""
    return (f"† **Other processes kept ≥ {limit:g} cores busy during {len(hit)} of {len(busy)} "
            f"runs, marked † (up to {max(hit):.1f} cores; `background_cores` in the JSON).** Their times are inflated, PyTorch's most (a multi-threaded step "
            "stalls when one of its cores is taken): run again on an idle machine for figures to "
            "trust.")


def checks(result):
    """[(criterion, target, measured, passed)] for the issue's acceptance targets."""
    out = []
    summary = result["summary"]
    for name, target in SPEED_TARGETS.items():
        if name in summary:
            ratio = summary[name]["ratio"]
            what = ("no slower than PyTorch" if name == "eval-10k"
                    else "no slower per epoch than PyTorch" if target == 1.0
                    else "faster per epoch than PyTorch")
            goal = f"≥ {target:g}×" + (" (aim 30×)" if name == "mlp-default" else "")
            out.append((f"`{name}`: nndl {what}", goal, f"{ratio:.1f}×", ratio >= target))
    if "mlp-default" in summary:
        s = summary["mlp-default"]
        a, b = s["nndl"]["test_accuracy"], s["torch"]["test_accuracy"]
        out.append(("`mlp-default`: test accuracy equal to PyTorch's within noise",
                    f"ranges overlap or medians within {ACCURACY_NOISE_PP} pp",
                    f"{100 * a['median']:.2f}% vs {100 * b['median']:.2f}%", accuracy_agrees(s)))
    if "eval-10k" in summary:
        runs = result["runs"]["eval-10k"]
        counts = {r["test_correct"] for side in ("nndl", "torch") for r in runs[side]}
        out.append(("`eval-10k`: same model file, same accuracy", "identical",
                    ", ".join(f"{c} / 10000" for c in sorted(counts)), len(counts) == 1))
    rss = mb(result["nndl_train_defaults_rss"]["peak_rss_kib"])
    out.append(("peak RSS of `nndl train` with defaults", f"≤ {RSS_LIMIT_MB:g} MB",
                f"{rss:.0f} MB", rss <= RSS_LIMIT_MB))
    build = result["build"]["clean_release"]
    if build:
        out.append(("clean `cargo build --release`", f"≤ {BUILD_LIMIT_S / 60:g} min",
                    f"{build['seconds']:.0f} s", build["seconds"] <= BUILD_LIMIT_S))
    return out


def checks_table(result):
    rows = ["| target | wanted | measured | met |", "| --- | --- | --- | :---: |"]
    for what, goal, measured, ok in checks(result):
        rows.append(f"| {what} | {goal} | {measured} | {'yes' if ok else '**no**'} |")
    return "\n".join(rows)


def markdown(result, json_name):
    m, v, st = result["machine"], result["versions"], result["settings"]
    binary = result["build"]["binary"]
    build = result["build"]["clean_release"]
    size = f"{binary['bytes'] / 1e6:.1f} MB"
    if "stripped_bytes" in binary:
        size += f" ({binary['stripped_bytes'] / 1e6:.1f} MB stripped)"
    build_line = (f"{build['seconds']:.0f} s" if build else "not measured (`--skip-clean-build`)")
    if build and build.get("background_cores", 0.0) >= st.get("idle_below_cores", 0.25):
        build_line += (f" † (other processes kept {build['background_cores']:.1f} cores busy "
                       "meanwhile)")
    w = st["workloads"]

    def hyper(name):
        x = w[name]
        reg = f", λ = {x['lambda']:g}" if x["lambda"] else ""
        if x.get("kind") == "rnn":
            net = pretty_arch(x["arch"]) + " (each image as 28 steps of its 28-pixel rows, the last step's state)"
        elif x.get("kind") == "cnn":
            net = pretty_arch(x["arch"])
        else:
            net = f"[{x['layers']}], {x.get('activation', 'sigmoid')}"
        opt = f", {OPTIMIZERS.get(x['optimizer'], x['optimizer'])}" if x.get("optimizer") else ""
        return (f"{net}, {x['cost']} cost{reg}{opt}, mini-batch {x['batch_size']}, "
                f"η = {x['eta']:g}")

    def run_line():
        """What one run is: epochs and images, per kind of workload."""
        plans = {}
        for name in TRAINING:
            if name in result["summary"]:
                plans.setdefault(plan(result, name), []).append(name)
        parts = []
        for k, ((epochs, size), names) in enumerate(plans.items()):
            what = f"{epochs} epoch{'s' if epochs != 1 else ''} of {size:,} training images per run"
            parts.append(what if k == 0 else f"{what} for {', '.join(f'`{n}`' for n in names)}")
        return "; ".join(parts) if parts else "no training workloads"

    lines = [
        "# Benchmarks: nndl vs PyTorch (CPU)",
        "",
        f"Generated by `{result['command']}` from "
        f"[`bench/results/{json_name}`](bench/results/{json_name}) (every run's raw figures); "
        "do not edit by hand, run `bench/run` again. How it works: [bench/README.md](bench/README.md).",
        "",
        f"- **Machine**: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB RAM; "
        f"{m['os']}, Linux {m['kernel']} ({m['arch']})",
        f"- **Versions**: nndl `{v['nndl_commit']}`, {v['rustc']}; Python {v['python']}, "
        f"PyTorch {v['torch']} (run on the CPU), NumPy {v['numpy']}",
        f"- **Run**: {result['started_utc']} to {result['finished_utc']} (UTC); "
        f"{st['threads']} thread(s) for both; {st['repetitions']} repetitions, nndl and PyTorch "
        f"alternating (A B, B A, …); {run_line()}; seeds 1, 2, 3, …",
        "",
        "## Results",
        "",
        "Median over every epoch of every repetition, with the range; test accuracy on the 10,000 "
        "test images after each run (median and range over the repetitions); peak RSS is the "
        "largest over the repetitions, of the whole process. PyTorch / nndl > 1 means nndl is "
        "faster.",
        "",
        table(result),
        "",
        *([load_note(result), ""] if load_note(result) else []),
        "![seconds per epoch, nndl vs PyTorch](bench/results/latest.png)",
        "",
        "| workload | network and training |",
        "| --- | --- |",
    ]
    for name in TRAINING:
        if name in w and name in result["summary"]:
            lines.append(f"| `{name}` | {hyper(name)} |")
    ev = w.get("eval-10k", {}).get("model")
    if ev:
        lines.append(f"| `eval-10k` | classify the 10,000 test images with a [{ev['layers']}] "
                     f"network nndl trained ({ev['epochs']} epoch, seed {ev['seed']}); both sides "
                     "read the same safetensors file |")
    lines += [
        "",
        "## Build",
        "",
        f"- clean `cargo build --release` (fresh target folder, crates already fetched): {build_line}",
        f"- `target/release/nndl`: {size}",
        f"- peak RSS of `nndl train` with its defaults (1 epoch): "
        f"{mb(result['nndl_train_defaults_rss']['peak_rss_kib']):.0f} MB",
        "",
        "## The issue's targets",
        "",
        checks_table(result),
        "",
        "## What is measured",
        "",
        "- **nndl**: `nndl train … --monitor none --metrics-json`; an epoch's time is its "
        "`train_seconds` (shuffle + mini-batch loop, no monitoring).",
        "- **PyTorch**: [bench/torch_mlp.py](bench/torch_mlp.py), the same computation: N(0, 1/n_in) "
        "weights and N(0, 1) biases, sigmoid layers, the book's quadratic or cross-entropy cost "
        "averaged over the mini-batch, plain `torch.optim.SGD` with weight decay λ/n on the weights "
        "only, a `torch.randperm` shuffle every epoch, mini-batches by indexing tensors preloaded "
        "in memory (no DataLoader). Its epoch time covers the same shuffle + mini-batch loop "
        "(`time.perf_counter`).",
        *(["- **PyTorch, cnn workloads**: [bench/torch_cnn.py](bench/torch_cnn.py), which takes nndl's "
        "`--arch` string: `Conv2d` (stride 1, valid padding) and `Linear` layers with N(0, 1/fan_in) "
        "weights (fan_in = C_in·k·k for a conv) and N(0, 1) biases, `MaxPool2d`, the NCHW "
        "activations flattened channel-major as nndl stores them, a softmax output with the "
        "log-likelihood cost (`log_softmax` + `nll_loss`, mean over the mini-batch), the same "
        "SGD, weight decay, shuffle and timing as above; the 10,000 test images are classified in "
        "chunks of 1,000 under `no_grad`."]
          if any(n.startswith("cnn") for n in result["summary"]) else []),
        *(["- **PyTorch, lstm workload**: [bench/torch_lstm.py](bench/torch_lstm.py): "
           "`nn.LSTM(28, H, batch_first=True)` on the images viewed as [N, 28, 28] (rows as time "
           "steps), the last step's output into `Linear(H, 10)`, `log_softmax` + `nll_loss` (mean); "
           "nndl's initialisation (`weight_ih` N(0, 1/28), `weight_hh` N(0, 1/H), `bias_ih` 0 "
           "with the forget-gate quarter 1, `bias_hh` 0 and frozen, so that the two biases sum to "
           "nndl's one; the `Linear` N(0, 1/H) and N(0, 1)); `torch.optim.Adam(lr=η, eps=1e-8)` "
           "without weight decay; the same shuffle and timing as above. "
           "[bench/check_torch_lstm.py](bench/check_torch_lstm.py) checks it against nndl "
           "step for step."]
          if any(n.startswith("lstm") for n in result["summary"]) else []),
        "- **eval-10k**: `nndl eval MODEL --repeat 9` against [bench/torch_eval.py](bench/torch_eval.py), "
        "which parses the same safetensors file and evaluates all 10,000 images in one batched "
        "forward pass under `torch.inference_mode()`; each timing covers forward, cost and count "
        "of correct answers, as nndl's does.",
        "- Every run is a fresh process; peak RSS is its `ru_maxrss` from `wait4`. PyTorch's "
        "includes the PyTorch libraries themselves and its float32 copy of the training images.",
        "- Same data (the four MNIST IDX files, first 50,000 training images), same "
        "hyper-parameters, same seed, same thread count (`--threads` / `torch.set_num_threads`). "
        "The two use different random generators, so their accuracies agree only within noise.",
    ]
    return "\n".join(lines) + "\n"


def latest_full():
    runs = sorted(p for p in RESULTS.glob("*.json")
                  if not p.name.startswith(("quick-", "partial-")))
    if not runs:
        sys.exit("report: no full run in bench/results/ yet; run bench/run")
    return runs[-1]


def keep_mpi_section(text):
    """`text` with the MPI section that bench/mpi wrote into the current BENCHMARKS.md (between
    its markers) kept at the end, so regenerating the file does not lose it."""
    begin, end = "<!-- bench/mpi begin -->", "<!-- bench/mpi end -->"
    current = REPO / "BENCHMARKS.md"
    old = current.read_text() if current.exists() else ""
    if begin not in old or end not in old or begin in text:
        return text
    section = begin + old.split(begin, 1)[1].split(end, 1)[0] + end + "\n"
    return text.rstrip("\n") + "\n\n" + section


def main():
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else latest_full()
    result = json.loads(path.read_text())
    out = REPO / "BENCHMARKS.md"
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(keep_mpi_section(markdown(result, path.name)))
    tmp.replace(out)
    print(f"report: wrote {out} from {path}")


if __name__ == "__main__":
    main()
