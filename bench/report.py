#!/usr/bin/env python3
"""BENCHMARKS.md (and the README's table) from the results JSON written by bench/harness.py
(standard library only).

    python3 bench/report.py                  # BENCHMARKS.md from the latest full and scaling runs
    python3 bench/report.py RESULTS.json [SCALING.json]
    python3 bench/report.py --readme         # print the README's table (latest full run)

The charts (bench/results/latest.png, bench/results/scaling.png) are drawn by bench/chart.py,
which needs matplotlib; bench/run draws them.
"""

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
ORDER = ["mlp-default", "mlp-100-ce", "mlp-mb100", "cnn-1", "cnn-2-relu", "lstm-128", "eval-10k"]
TRAINING = [n for n in ORDER if n != "eval-10k"]
COLUMNS = ["nndl", "torch-eager", "torch-tuned", "torch-compile", "jax"]
TITLES = {"nndl": "nndl", "torch-eager": "PyTorch eager (as most write it)",
          "torch-tuned": "PyTorch tuned", "torch-compile": "PyTorch + torch.compile",
          "jax": "JAX, jit + lax.scan over the epoch"}
SHORT = {"nndl": "nndl", "torch-eager": "eager", "torch-tuned": "tuned",
         "torch-compile": "compile", "jax": "jax"}
ACTIVATIONS = {"sigmoid", "tanh", "relu", "identity"}
OPTIMIZERS = {"adam": "Adam (β₁ 0.9, β₂ 0.999, ε 1e-8)", "rmsprop": "RMSProp (ρ 0.9, ε 1e-8)"}

# Issue 15's targets: the fastest anchor's time / nndl's, median of the paired ratios, at the
# same thread count; and the conv nets using both cores (CPU / wall) at two threads.
SPEED_TARGETS = {"mlp-default": 3.0, "mlp-100-ce": 3.0, "mlp-mb100": 3.0, "cnn-1": 3.0,
                 "cnn-2-relu": 2.0, "lstm-128": 1.5, "eval-10k": 2.0}
CORES_TARGET = {"cnn-1": 1.6, "cnn-2-relu": 1.6}
RSS_LIMIT_MB = 80.0
BUILD_LIMIT_S = 180.0
ACCURACY_NOISE_PP = 0.5


def secs(x):
    if x >= 10:
        return f"{x:.1f}"
    if x >= 1:
        return f"{x:.2f}"
    if x >= 0.1:
        return f"{x:.3f}"
    if x >= 0.01:
        return f"{x:.4f}"
    return f"{x:.5f}"


def ratio_cell(r):
    if r["n"] == 1:
        return f"{r['median']:.2f}×"
    return f"{r['median']:.2f}× ({r['min']:.2f}–{r['max']:.2f})"


def mb(kib):
    return kib * 1024 / 1e6


def per_epoch(train_size):
    return "s per epoch" if train_size == 50_000 else f"s per epoch of {train_size:,} images"


def pretty_arch(arch, default="sigmoid"):
    out = []
    for layer in (part.split() for part in arch.split(";") if part.strip()):
        if layer[0] in ("conv", "dense") and layer[-1] not in ACTIVATIONS:
            layer.append(default)
        out.append(" ".join(layer))
    return " → ".join(out)


def columns(result):
    return [c for c in COLUMNS if c in result.get("columns", COLUMNS)]


def thread_counts(result):
    return [str(t) for t in result["settings"]["threads"]]


def noisy_mark(entry):
    return " †" if entry.get("noisy_pairs") else ""


def size_of(result, name):
    w = result["settings"]["workloads"].get(name, {})
    return w.get("train_size")


def seconds_table(result, threads):
    """Seconds per epoch (median over every epoch of every repetition) and CPU / wall."""
    cols = columns(result)
    rows = ["| workload | " + " | ".join(TITLES[c] for c in cols)
            + " | arithmetic limit |",
            "| --- |" + " ---: |" * (len(cols) + 1)]
    for name in ORDER:
        entry = result["summary"].get(name, {}).get(threads)
        if not entry:
            continue
        cells = []
        for c in cols:
            s = entry["sides"].get(c)
            if not s:
                cells.append("–")
                continue
            cpu = s["cpu_per_wall"]
            cells.append(f"{secs(s['seconds']['median'])} s "
                         f"({secs(s['seconds']['min'])}–{secs(s['seconds']['max'])}), "
                         f"CPU/wall {cpu['value']:.2f}" + ("¹" if cpu["over"] == "process" else ""))
        limit = entry.get("arithmetic_limit_seconds")
        size = size_of(result, name)
        label = f"`{name}`" + (f" ({size:,} images)" if size and size != 50_000 else "")
        rows.append(f"| {label}{noisy_mark(entry)} | " + " | ".join(cells) + " | "
                    + (f"{secs(limit)} s" if limit else "–") + " |")
    return "\n".join(rows)


def ratio_table(result, threads):
    """Each anchor's time / nndl's, paired per repetition: median (min–max)."""
    anchors = [c for c in columns(result) if c != "nndl"]
    rows = ["| workload | " + " | ".join(f"{SHORT[a]} / nndl" for a in anchors)
            + " | fastest anchor | target | met | nndl / arithmetic limit |",
            "| --- |" + " ---: |" * len(anchors) + " --- | ---: | :---: | ---: |"]
    for name in ORDER:
        entry = result["summary"].get(name, {}).get(threads)
        if not entry or "fastest_anchor" not in entry:
            continue
        cells = [ratio_cell(entry["sides"][a]["ratio"]) if a in entry["sides"] else "–"
                 for a in anchors]
        r = entry["ratio_vs_fastest"]["median"]
        target = SPEED_TARGETS.get(name)
        met = "yes" if target and r >= target else "**no**"
        nndl = entry["sides"]["nndl"]["seconds"]["median"]
        limit = entry.get("arithmetic_limit_seconds")
        rows.append(f"| `{name}`{noisy_mark(entry)} | " + " | ".join(cells)
                    + f" | {SHORT[entry['fastest_anchor']]} | ≥ {target:g}× | {met} | "
                    + (f"{nndl / limit:.1f}×" if limit else "–") + " |")
    return "\n".join(rows)


def detail_table(result, threads):
    """Accuracy, peak RSS and compile time per column."""
    cols = columns(result)
    rows = ["| workload | " + " | ".join(f"{SHORT[c]}: acc., RSS" for c in cols)
            + " | compile (s) |", "| --- |" + " ---: |" * (len(cols) + 1)]
    for name in ORDER:
        entry = result["summary"].get(name, {}).get(threads)
        if not entry:
            continue
        cells, compiles = [], []
        for c in cols:
            s = entry["sides"].get(c)
            if not s:
                cells.append("–")
                continue
            cells.append(f"{100 * s['test_accuracy']['median']:.2f}%, {mb(s['peak_rss_kib']):.0f} MB")
            if "compile_seconds" in s:
                compiles.append(f"{SHORT[c]} {s['compile_seconds']['median']:.1f}")
        rows.append(f"| `{name}` | " + " | ".join(cells) + f" | {', '.join(compiles) or '–'} |")
    return "\n".join(rows)


def tables(result):
    out = []
    for t in thread_counts(result):
        out += [f"### {t} thread{'s' if t != '1' else ''}", "", seconds_table(result, t), "",
                ratio_table(result, t), "", detail_table(result, t), ""]
    return "\n".join(out)


def accuracy_agrees(a, b):
    overlap = a["min"] <= b["max"] and b["min"] <= a["max"]
    return overlap or abs(a["median"] - b["median"]) * 100 <= ACCURACY_NOISE_PP


def checks(result):
    """[(criterion, target, measured, passed)] for issue 15's targets."""
    out = []
    summary = result["summary"]
    for name, target in SPEED_TARGETS.items():
        for t in thread_counts(result):
            entry = summary.get(name, {}).get(t)
            if not entry or "ratio_vs_fastest" not in entry:
                continue
            r = entry["ratio_vs_fastest"]
            out.append((f"`{name}`, {t} thread(s): fastest anchor ({SHORT[entry['fastest_anchor']]})"
                        " / nndl, median of paired ratios", f"≥ {target:g}×",
                        ratio_cell(r) + noisy_mark(entry), r["median"] >= target))
    two = [t for t in thread_counts(result) if t != "1"]
    for name, target in CORES_TARGET.items():
        for t in two:
            entry = summary.get(name, {}).get(t)
            if entry:
                v = entry["sides"]["nndl"]["cpu_per_wall"]["value"]
                out.append((f"`{name}`, {t} threads: nndl's CPU / wall", f"≥ {target:g}",
                            f"{v:.2f}", v >= target))
    for t in thread_counts(result):
        entry = summary.get("mlp-default", {}).get(t)
        if entry:
            a = entry["sides"]["nndl"]["test_accuracy"]
            bad = [c for c, s in entry["sides"].items()
                   if c != "nndl" and not accuracy_agrees(a, s["test_accuracy"])]
            out.append((f"`mlp-default`, {t} thread(s): every column's test accuracy equal to "
                        "nndl's within noise", f"ranges overlap or medians within "
                        f"{ACCURACY_NOISE_PP} pp", "all agree" if not bad else
                        "differ: " + ", ".join(bad), not bad))
    if "eval-10k" in summary:
        counts = {r["test_correct"] for p in result["pairs"] if p["workload"] == "eval-10k"
                  for r in p["runs"].values()}
        out.append(("`eval-10k`: same model file, same accuracy in every column", "identical",
                    ", ".join(f"{c} / 10000" for c in sorted(counts)), len(counts) == 1))
    if result.get("nndl_train_defaults_rss"):
        rss = mb(result["nndl_train_defaults_rss"]["peak_rss_kib"])
        out.append(("peak RSS of `nndl train` with defaults", f"≤ {RSS_LIMIT_MB:g} MB",
                    f"{rss:.0f} MB", rss <= RSS_LIMIT_MB))
    build = (result.get("build") or {}).get("clean_release")
    if build:
        out.append(("clean `cargo build --release`", f"≤ {BUILD_LIMIT_S / 60:g} min",
                    f"{build['seconds']:.0f} s", build["seconds"] <= BUILD_LIMIT_S))
    return out


def checks_table(result):
    rows = ["| target | wanted | measured | met |", "| --- | --- | --- | :---: |"]
    for what, goal, measured, ok in checks(result):
        rows.append(f"| {what} | {goal} | {measured} | {'yes' if ok else '**no**'} |")
    return "\n".join(rows)


def load_note(result):
    """A note on the pairs flagged noisy, else ''."""
    pairs = result.get("pairs", [])
    noisy = [p for p in pairs if p["noisy"]]
    if not noisy:
        return ""
    reasons = sorted({r.split(" ", 1)[1] if r[0].isdigit() else r
                      for p in noisy for r in p["noisy_reasons"]})[:6]
    return (f"† **{len(noisy)} of {len(pairs)} pairs were flagged noisy** (other processes busy "
            f"≥ {result['settings']['idle_below_cores']:g} cores before, during or after, or the "
            f"probe loop ≥ {result['settings']['probe_slower_limit']:g}× slower than at the start; "
            f"e.g. {'; '.join(reasons)}). Their ratios are in the medians above; "
            "`ratio_quiet` in the JSON leaves them out. Run again on an idle machine for figures "
            "to trust.")


def readme_table(result):
    """The README's table: nndl and the fastest anchor at each thread count."""
    ts = thread_counts(result)
    head = "| workload |"
    sep = "| --- |"
    for t in ts:
        head += f" nndl, {t}t | fastest anchor, {t}t | anchor / nndl, {t}t | eager PyTorch / nndl, {t}t |"
        sep += " ---: | --- | ---: | ---: |"
    rows = [head, sep]
    for name in ORDER:
        if name not in result["summary"]:
            continue
        row = f"| `{name}` |"
        for t in ts:
            e = result["summary"][name].get(t)
            if not e or "fastest_anchor" not in e:
                row += " – | – | – | – |"
                continue
            f = e["fastest_anchor"]
            eager = e["sides"].get("torch-eager", {}).get("ratio")
            eager = f"{eager['median']:.1f}×" if eager else "–"
            row += (f" {secs(e['sides']['nndl']['seconds']['median'])} s |"
                    f" {SHORT[f]} {secs(e['sides'][f]['seconds']['median'])} s |"
                    f" {ratio_cell(e['ratio_vs_fastest'])} |"
                    f" {eager} |")
        rows.append(row)
    return "\n".join(rows)


def scaling_tables(result):
    ts = thread_counts(result)
    rows = []
    for axis, label in (("hidden", "hidden neurons ([784,h,10], mini-batch 10)"),
                        ("mini-batch", "mini-batch size ([784,30,10])")):
        rows += [f"Seconds per epoch of {result['settings']['train_size']:,} images as the "
                 f"{label} grows (median; arithmetic limit = epoch FLOPs ÷ measured peak):", "",
                 "| " + axis + " | " + " | ".join(
                     f"nndl {t}t | anchor {t}t | limit {t}t" for t in ts) + " |",
                 "| ---: |" + " ---: | ---: | ---: |" * len(ts)]
        names = [n for n, w in result["settings"]["workloads"].items() if w.get("axis") == axis]
        for n in names:
            x = result["settings"]["workloads"][n]["x"]
            row = f"| {x} |"
            for t in ts:
                e = result["summary"].get(n, {}).get(t)
                if not e:
                    row += " – | – | – |"
                    continue
                anchor = next((c for c in e["sides"] if c != "nndl"), None)
                row += (f" {secs(e['sides']['nndl']['seconds']['median'])} |"
                        + (f" {SHORT[anchor]} {secs(e['sides'][anchor]['seconds']['median'])} |"
                           if anchor else " – |")
                        + (f" {secs(e['arithmetic_limit_seconds'])} |"
                           if e.get("arithmetic_limit_seconds") else " – |"))
            rows.append(row)
        rows.append("")
    if result.get("rss_scaling"):
        rows += ["Peak RSS of `nndl train` (defaults, 1 epoch) as the training set grows:", "",
                 "| training set | peak RSS | command |", "| --- | ---: | --- |"]
        for r in result["rss_scaling"]:
            rows.append(f"| {r['label']} | {mb(r['peak_rss_kib']):.0f} MB | `{r['command']}` |")
    return "\n".join(rows)


def hyper(w):
    reg = f", λ = {w['lambda']:g}" if w.get("lambda") else ""
    if w.get("kind") == "rnn":
        net = pretty_arch(w["arch"]) + " (each image as 28 steps of its rows, the last step's state)"
    elif w.get("kind") == "cnn":
        net = pretty_arch(w["arch"])
    else:
        net = f"[{w['layers']}], sigmoid"
    opt = f", {OPTIMIZERS.get(w['optimizer'], w['optimizer'])}" if w.get("optimizer") else ""
    return f"{net}, {w['cost']} cost{reg}{opt}, mini-batch {w['batch_size']}, η = {w['eta']:g}"


def chart_paths(result, json_path):
    """{chart kind: where bench/run draws it} for a results file: bench/results/ for the runs
    BENCHMARKS.md shows, /tmp for quick runs and subsets."""
    kind = "scaling" if result["kind"] == "scaling" else "bars"
    if result.get("quick") or result["kind"] == "quick" or result["partial"]:
        return {kind: Path("/tmp") / f"nndl-bench-{json_path.stem.split('-2')[0]}.png"}
    return {kind: RESULTS / ("scaling.png" if kind == "scaling" else "latest.png")}


def markdown(result, scaling=None):
    m, v, st = result["machine"], result["versions"], result["settings"]
    json_name = result["_file"]
    binary = result["build"]["binary"]
    build = result["build"]["clean_release"]
    size = f"{binary['bytes'] / 1e6:.1f} MB"
    if "stripped_bytes" in binary:
        size += f" ({binary['stripped_bytes'] / 1e6:.1f} MB stripped)"
    build_line = f"{build['seconds']:.0f} s" if build else "not measured (`--skip-clean-build`)"
    peaks = ", ".join(f"{t} thread{'s' if t != '1' else ''}: {g['best']:.0f} GFLOP/s "
                      f"(torch {g['torch']:.0f}, numpy {g['numpy']:.0f}"
                      + (f", jax {g['jax']:.0f})" if "jax" in g else ")")
                      for t, g in result["peak_gflops"].items())
    lines = [
        "# Benchmarks: nndl against PyTorch (eager, tuned, compiled) and JAX, on the CPU",
        "",
        f"Generated by `{result['command']}` from "
        f"[`bench/results/{json_name}`](bench/results/{json_name}) (every run's raw figures)"
        + (f" and `{scaling['command']}` from [`bench/results/{scaling['_file']}`]"
           f"(bench/results/{scaling['_file']})" if scaling else "")
        + "; do not edit by hand. How it works: [bench/README.md](bench/README.md).",
        "",
        f"- **Machine**: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB RAM; SIMD: "
        f"{' '.join(m.get('simd_flags', [])) or 'unknown'}; {m['os']}, Linux {m['kernel']}",
        f"- **Measured peak f32** (bench/peak_gflops.py, 2048³ sgemm): {peaks}",
        f"- **Versions**: nndl `{v['nndl_commit']}`, {v['rustc']}; Python {v['python']}, "
        f"PyTorch {v['torch']} (CPU capability {v.get('torch_cpu_capability', '?')}), "
        f"JAX {v.get('jax', '?')} / jaxlib {v.get('jaxlib', '?')} ({', '.join(v.get('jax_devices', []))}), "
        f"NumPy {v['numpy']}",
        f"- **Run**: {result['started_utc']} to {result.get('finished_utc', '?')} (UTC); "
        f"{st['repetitions']} repetitions as the outer loop; in each, for every thread count "
        f"({', '.join(map(str, st['threads']))}) and workload, the columns back to back in an "
        "order that rotates per repetition (a pair); each process pinned to as many CPUs as "
        f"threads; {st['epochs_per_run']} epoch(s) of {st['train_size']:,} images per MLP run, "
        f"{st['cnn_epochs_per_run']} of {st['cnn_train_size']:,} per conv run, "
        f"{st['rnn_epochs_per_run']} of {st['rnn_train_size']:,} per LSTM run; seeds 1, 2, 3, …",
        "",
        "## Results",
        "",
        "Seconds per epoch (per 10,000-image evaluation for `eval-10k`): the median over every "
        "epoch of every repetition, with the range; CPU/wall is the CPU time of the timed epochs "
        "over their wall time (the threads actually busy; ¹ of the whole process where the "
        "epochs' own are not known). The arithmetic limit is the epoch's matrix-product FLOPs "
        "(bench/flops.py) at the measured peak. Ratios are each anchor's time over nndl's in the "
        "same repetition (> 1: nndl is faster), median and range over the repetitions.",
        "",
        tables(result),
        *([load_note(result), ""] if load_note(result) else []),
        "![seconds per epoch, every column](bench/results/latest.png)",
        "",
        "| workload | network and training |",
        "| --- | --- |",
    ]
    for name in TRAINING:
        if name in st["workloads"] and name in result["summary"]:
            lines.append(f"| `{name}` | {hyper(st['workloads'][name])} |")
    ev = st["workloads"].get("eval-10k", {}).get("model")
    if ev:
        lines.append(f"| `eval-10k` | classify the 10,000 test images with a [{ev['layers']}] "
                     f"network nndl trained ({ev['epochs']} epoch, seed {ev['seed']}); every "
                     "column reads the same safetensors file |")
    lines += ["", "## Issue 15's targets", "", checks_table(result), ""]
    if scaling:
        lines += ["## Cost as the work grows", "",
                  f"nndl against {', '.join(sorted({SHORT[c] for p in scaling['pairs'] for c in p['runs'] if c != 'nndl'}))}"
                  f" (the fastest anchor on `mlp-default`), {scaling['settings']['repetitions']} "
                  "repetitions, 1 epoch per run.", "", scaling_tables(scaling), "",
                  "![cost as the work grows](bench/results/scaling.png)", ""]
    lines += [
        "## Build",
        "",
        f"- clean `cargo build --release` (fresh target folder, crates already fetched): {build_line}",
        f"- `target/release/nndl`: {size}",
        f"- peak RSS of `nndl train` with its defaults (1 epoch): "
        f"{mb(result['nndl_train_defaults_rss']['peak_rss_kib']):.0f} MB",
        "",
        "## What is measured",
        "",
        "- **nndl**: `nndl train … --monitor none --metrics-json`; an epoch's time is its "
        "`train_seconds`: the shuffle, turning each mini-batch's bytes into floats (byte / 255) "
        "and one-hot rows, and the training steps. Its CPU time is the process's less that of "
        "the same command with `--epochs 0`.",
        "- **Every anchor** keeps the data as nndl does (bytes, integer labels) and times the same "
        "span: the shuffle, the conversion to floats and one-hot rows (once per epoch, for the "
        "whole shuffled set: one gather, then contiguous mini-batches), and the steps; "
        "compilation is done before the first epoch and reported apart. The eager column keeps "
        "the scripts most people write ([torch_mlp.py](bench/torch_mlp.py), "
        "[torch_cnn.py](bench/torch_cnn.py), [torch_lstm.py](bench/torch_lstm.py), "
        "[torch_eval.py](bench/torch_eval.py)), which preload floats (their conversion is outside "
        "their epochs, in their favour).",
        "- **PyTorch tuned / compile**: [anchor_torch.py](bench/anchor_torch.py): hand-written "
        "backprop for the MLPs (addmm, the update fused into the weight-gradient product), "
        "autograd with `channels_last`, pool-then-activate, `F.cross_entropy` and fused SGD for "
        "the conv nets, `nn.LSTM` with fused Adam; `--mode compile` is `torch.compile` of the "
        "training step (or the evaluation).",
        "- **JAX**: [anchor_jax.py](bench/anchor_jax.py): the whole epoch one jitted program "
        "(`lax.scan` over the mini-batches), compiled ahead of time.",
        "- [check_anchors_mlp.py](bench/check_anchors_mlp.py), "
        "[check_anchors_arch.py](bench/check_anchors_arch.py), "
        "[check_torch_cnn.py](bench/check_torch_cnn.py) and "
        "[check_torch_lstm.py](bench/check_torch_lstm.py) check the anchors against nndl step "
        "for step; only the random draws (initialisation, shuffling) differ in the benchmark, "
        "so accuracies agree within noise.",
        "- Every run is a fresh process; peak RSS is its `ru_maxrss` from `wait4` (for the "
        "Python columns it includes the libraries themselves).",
    ]
    return "\n".join(lines) + "\n"


def latest(kind):
    """The newest complete results file of `kind` ("full" or "scaling"), or None."""
    for path in sorted(RESULTS.glob("*.json"), reverse=True):
        name = path.name
        if kind == "full" and name.startswith(("quick-", "partial-", "scaling-")):
            continue
        if kind == "scaling" and not name.startswith("scaling-2"):
            continue
        try:
            r = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if (r.get("format") == 2 and r.get("complete") and not r.get("partial")
                and not r.get("quick")):
            r["_file"] = name
            return r
    return None


def load(path):
    r = json.loads(Path(path).read_text())
    if r.get("format") != 2:
        sys.exit(f"report: {path} was written by an older harness; run bench/run again")
    r["_file"] = Path(path).name
    return r


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
    argv = sys.argv[1:]
    readme = "--readme" in argv
    argv = [a for a in argv if a != "--readme"]
    full = load(argv[0]) if argv else latest("full")
    scaling = load(argv[1]) if len(argv) > 1 else latest("scaling")
    if full is None:
        sys.exit("report: no complete full run (format 2) in bench/results/ yet; run bench/run")
    if readme:
        print(readme_table(full))
        return
    out = REPO / "BENCHMARKS.md"
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(keep_mpi_section(markdown(full, scaling)))
    tmp.replace(out)
    print(f"report: wrote {out} from {full['_file']}"
          + (f" and {scaling['_file']}" if scaling else ""))


if __name__ == "__main__":
    main()
