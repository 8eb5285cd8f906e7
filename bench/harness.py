#!/usr/bin/env python3
"""nndl vs PyTorch (CPU) benchmark harness. Run it through bench/run, which builds nndl first.

Standard library only: it orchestrates. The PyTorch side (bench/torch_mlp.py, bench/torch_cnn.py,
bench/torch_lstm.py, bench/torch_eval.py) and the chart (bench/chart.py) run with the Python of a virtual environment of their own,
${XDG_CACHE_HOME:-~/.cache}/nndl-bench/venv, created and filled from bench/requirements.txt when
missing and reused after.

For every repetition it runs each workload in nndl and in PyTorch, one after the other, swapping
which goes first from one repetition to the next (A B, B A, ...), with the same data, seed,
hyper-parameters and thread count. Each run is a fresh process; its peak RSS comes from wait4.
"""

import argparse
import datetime
import json
import os
import platform
import re
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import report

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
RESULTS = BENCH / "results"
MNIST_FILES = [
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
]

# The training workloads. kind "mlp": `nndl train --layers`, sigmoid everywhere, against
# torch_mlp.py. kind "cnn" (chapter 6): `nndl train --arch`, a softmax output with the
# log-likelihood cost, against torch_cnn.py (which takes the same arch string); layers that name no
# activation use sigmoid, nndl's default and torch_cnn.py's. kind "rnn": `nndl train --arch` with a
# recurrent layer (each image read as 28 steps of its 28-pixel rows) and --optimizer, against
# torch_lstm.py.
TRAIN_WORKLOADS = [
    {"name": "mlp-default", "kind": "mlp", "layers": "784,30,10", "cost": "quadratic",
     "eta": 3.0, "batch_size": 10, "lambda": 0.0},
    {"name": "mlp-100-ce", "kind": "mlp", "layers": "784,100,10", "cost": "cross-entropy",
     "eta": 0.1, "batch_size": 10, "lambda": 5.0},
    {"name": "mlp-mb100", "kind": "mlp", "layers": "784,30,10", "cost": "quadratic",
     "eta": 3.0, "batch_size": 100, "lambda": 0.0},
    {"name": "cnn-1", "kind": "cnn", "arch": "conv 20 5x5; maxpool 2; dense 100; softmax 10",
     "cost": "log-likelihood", "eta": 0.1, "batch_size": 10, "lambda": 0.0},
    {"name": "cnn-2-relu", "kind": "cnn",
     "arch": "conv 20 5x5 relu; maxpool 2; conv 40 5x5 relu; maxpool 2; dense 100 relu; softmax 10",
     "cost": "log-likelihood", "eta": 0.03, "batch_size": 10, "lambda": 0.1},
    {"name": "lstm-128", "kind": "rnn", "arch": "lstm 128; softmax 10", "optimizer": "adam",
     "cost": "log-likelihood", "eta": 0.001, "batch_size": 64, "lambda": 0.0},
]
# A conv epoch takes 5-20 s where an MLP epoch takes 0.1-1 s: the cnn workloads run fewer epochs
# (--cnn-epochs) and, in a quick run, on fewer images.
CNN_EPOCHS = 1
QUICK_CNN_TRAIN_SIZE = 2_000
# The same for the recurrent workload (an LSTM epoch: 28 sequential steps per mini-batch).
RNN_EPOCHS = 1
QUICK_RNN_TRAIN_SIZE = 2_000
EVAL_WORKLOAD = "eval-10k"
# trained by nndl: 1 epoch, seed 1
EVAL_MODEL = {"kind": "mlp", "layers": "784,100,10", "cost": "quadratic", "eta": 3.0,
              "batch_size": 10, "lambda": 0.0}
EVAL_REPEAT = 9
WORKLOAD_NAMES = [w["name"] for w in TRAIN_WORKLOADS] + [EVAL_WORKLOAD]

# The CPU is shared: another process busy on a core slows a multi-threaded PyTorch step by up to
# 10x. So each run waits (up to --wait-idle seconds) for the machine to be idle, and records how
# many cores other processes kept busy while it ran ("background_cores", from /proc/stat).
IDLE_CORES = 0.25
WAIT_IDLE = 60.0


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def die(msg):
    log(f"bench: {msg}")
    sys.exit(1)


def parse_args():
    p = argparse.ArgumentParser(
        prog=os.environ.get("NNDL_BENCH_ENTRY", "bench/harness.py"),
        description="Benchmark nndl against PyTorch (CPU) on the same MNIST workloads.",
    )
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 1 repetition of 1 epoch on 10,000 training images "
                        f"({QUICK_CNN_TRAIN_SIZE:,} for the cnn workloads, "
                        f"{QUICK_RNN_TRAIN_SIZE:,} for lstm-128); "
                        "writes bench/results/quick-<UTC>.json and leaves BENCHMARKS.md alone")
    p.add_argument("--reps", type=int, default=None, help="repetitions (default 3; quick 1)")
    p.add_argument("--epochs", type=int, default=None,
                   help="epochs per mlp training run (default 3; quick 1)")
    p.add_argument("--cnn-epochs", type=int, default=CNN_EPOCHS,
                   help="epochs per cnn training run (default %(default)s; a quick run trains them "
                        f"on {QUICK_CNN_TRAIN_SIZE:,} images)")
    p.add_argument("--rnn-epochs", type=int, default=RNN_EPOCHS,
                   help="epochs per lstm training run (default %(default)s; a quick run trains "
                        f"them on {QUICK_RNN_TRAIN_SIZE:,} images)")
    p.add_argument("--workloads", default=None, metavar="A,B,...",
                   help=f"run only these (of {','.join(WORKLOAD_NAMES)}); a run of a subset writes "
                        "bench/results/partial-<UTC>.json, skips the clean build and leaves "
                        "BENCHMARKS.md alone")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                   help="threads for both nndl and PyTorch (default: all cores, %(default)s here)")
    p.add_argument("--data", type=Path, default=None,
                   help="folder with the four MNIST .gz files "
                        "(default: $NNDL_DATA, else ../shared/data/mnist beside the repo)")
    p.add_argument("--wait-idle", type=float, default=None, metavar="SECONDS",
                   help="before each run, wait up to this long for other processes to leave the "
                        f"CPU idle (default {WAIT_IDLE:g}; quick 10; 0: do not wait)")
    p.add_argument("--skip-clean-build", action="store_true",
                   help="do not time a clean `cargo build --release` (always skipped with --quick)")
    args = p.parse_args()
    args.reps = args.reps if args.reps is not None else (1 if args.quick else 3)
    args.epochs = args.epochs if args.epochs is not None else (1 if args.quick else 3)
    args.train_size = 10_000 if args.quick else 50_000
    args.cnn_train_size = QUICK_CNN_TRAIN_SIZE if args.quick else 50_000
    args.rnn_train_size = QUICK_RNN_TRAIN_SIZE if args.quick else 50_000
    if args.workloads is None:
        args.workloads = list(WORKLOAD_NAMES)
    else:
        picked = [w.strip() for w in args.workloads.split(",") if w.strip()]
        unknown = [w for w in picked if w not in WORKLOAD_NAMES]
        if unknown or not picked:
            p.error(f"--workloads: unknown {', '.join(unknown) or '(none given)'}; "
                    f"choose among {', '.join(WORKLOAD_NAMES)}")
        args.workloads = [w for w in WORKLOAD_NAMES if w in picked]  # in the usual order
    args.partial = args.workloads != WORKLOAD_NAMES
    if args.wait_idle is None:
        args.wait_idle = 10.0 if args.quick else WAIT_IDLE
    if (args.reps < 1 or args.epochs < 1 or args.cnn_epochs < 1 or args.rnn_epochs < 1
            or args.threads < 1):
        p.error("--reps, --epochs, --cnn-epochs, --rnn-epochs and --threads must be at least 1")
    if not args.quick and args.reps < 3:
        p.error("a full run needs --reps 3 or more (use --quick for a smoke run)")
    return args


# ---------------------------------------------------------------------------------------------
# Setup: data, the PyTorch environment, the binary, the machine

def find_data(given):
    if given is not None:
        d = given
    elif os.environ.get("NNDL_DATA"):
        d = Path(os.environ["NNDL_DATA"])
    else:
        d = REPO.parent / "shared" / "data" / "mnist"
    d = d.resolve()
    missing = [f for f in MNIST_FILES if not (d / f).is_file()]
    if missing:
        die(f"MNIST not found in {d} (missing {', '.join(missing)}); "
            "give --data DIR or set NNDL_DATA, or run `nndl download` and point there")
    return d


def nndl_binary():
    """Where `cargo build --release` puts nndl: $CARGO_TARGET_DIR/release, else target/release."""
    target = os.environ.get("CARGO_TARGET_DIR")
    return (Path(target) if target else REPO / "target") / "release" / "nndl"


def venv_dir():
    if os.environ.get("NNDL_BENCH_VENV"):
        return Path(os.environ["NNDL_BENCH_VENV"])
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "nndl-bench" / "venv"


def pinned():
    """{package: version} from bench/requirements.txt."""
    pins = {}
    for line in (BENCH / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            pins[name.strip()] = version.strip()
    return pins


VERSIONS_PY = (
    "import json, platform, torch, numpy, matplotlib; print(json.dumps({"
    "'python': platform.python_version(), 'torch': torch.__version__, "
    "'numpy': numpy.__version__, 'matplotlib': matplotlib.__version__, "
    "'torch_parallel': torch.__config__.parallel_info().splitlines()[:4]}))"
)


def venv_versions(py):
    if not py.exists():
        return None
    r = subprocess.run([str(py), "-c", VERSIONS_PY], capture_output=True, text=True)
    if r.returncode != 0:
        return None
    return json.loads(r.stdout.strip().splitlines()[-1])


def versions_match(found, pins):
    # torch from PyPI reports e.g. 2.15.0+cu132: the local suffix names the wheel's build.
    return found is not None and all(found.get(k, "").split("+")[0] == v for k, v in pins.items())


def ensure_venv():
    """The virtual environment's python, after creating or updating it if needed."""
    venv = venv_dir()
    py = venv / "bin" / "python"
    pins = pinned()
    found = venv_versions(py)
    if versions_match(found, pins):
        return py, found
    if not py.exists():
        log(f"bench: creating the PyTorch environment in {venv} (once; PyTorch is several GB)")
        venv.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    log(f"bench: installing {', '.join(f'{k}=={v}' for k, v in pins.items())} into {venv}")
    extra = shlex.split(os.environ.get("NNDL_BENCH_PIP_ARGS", ""))
    subprocess.run([str(py), "-m", "pip", "install", "-r",
                    str(BENCH / "requirements.txt"), *extra], check=True)
    found = venv_versions(py)
    if not versions_match(found, pins):
        die(f"the environment in {venv} does not give {pins} (found {found}); "
            "delete it and run again")
    return py, found


def command_output(cmd, cwd=REPO):
    try:
        r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    except FileNotFoundError:
        return None
    return r.stdout.rstrip() if r.returncode == 0 else None


def git_commit():
    commit = (command_output(["git", "rev-parse", "--short", "HEAD"]) or "unknown").strip()
    # The harness's own outputs (results, BENCHMARKS.md) do not make the tree dirty.
    status = command_output(["git", "status", "--porcelain", "--", ".",
                             ":(exclude)bench/results", ":(exclude)BENCHMARKS.md"])
    dirty = [line[3:] for line in (status or "").splitlines()]
    return (commit + ("-dirty" if dirty else "")), dirty


def machine():
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu = platform.processor() or "unknown"
    os_name = platform.system()
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    mem_gib = None
    try:
        kib = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
        mem_gib = round(kib / 2**20, 1)
    except (OSError, AttributeError):
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": mem_gib,
        "os": os_name,
        "kernel": platform.release(),
        "arch": platform.machine(),
        "hostname": platform.node(),
    }




# ---------------------------------------------------------------------------------------------
# Running one measured process

def machine_busy_seconds():
    """CPU seconds the whole machine has spent busy so far (all cores, steal included), or None."""
    try:
        v = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = v
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def wait_idle(max_wait):
    """Seconds waited until other processes use under IDLE_CORES cores (0.5 s samples)."""
    waited, said = 0.0, False
    while True:
        b0, t0 = machine_busy_seconds(), time.perf_counter()
        if b0 is None:
            return 0.0
        time.sleep(0.5)
        busy = (machine_busy_seconds() - b0) / (time.perf_counter() - t0)
        if busy < IDLE_CORES or waited >= max_wait:
            if said:
                log(f"bench: waited {waited:.0f} s ({'idle' if busy < IDLE_CORES else 'still busy'})")
            return waited
        if not said:
            log(f"bench: other processes use {busy:.1f} cores; waiting up to {max_wait:.0f} s")
            said = True
        time.sleep(1.5)
        waited += 2.0


def clean_build(max_wait):
    """Seconds of `cargo build --release` into a fresh, temporary target folder."""
    # Fetching crates is not building: do it first, untimed (a no-op once they are cached).
    subprocess.run(["cargo", "fetch"], cwd=REPO, check=True, capture_output=True)
    waited = wait_idle(max_wait) if max_wait > 0 else 0.0
    with tempfile.TemporaryDirectory(prefix="nndl-bench-build-") as target:
        env = dict(os.environ, CARGO_TARGET_DIR=target)
        log("bench: timing a clean `cargo build --release` ...")
        ru0, b0 = resource.getrusage(resource.RUSAGE_CHILDREN), machine_busy_seconds()
        t0 = time.perf_counter()
        r = subprocess.run(["cargo", "build", "--release"], cwd=REPO, env=env,
                           capture_output=True, text=True)
        seconds = time.perf_counter() - t0
        ru1, b1 = resource.getrusage(resource.RUSAGE_CHILDREN), machine_busy_seconds()
        if r.returncode != 0:
            die("the clean release build failed:\n" + r.stderr[-3000:])
    cpu = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
    out = {"seconds": seconds, "cpu_seconds": cpu, "waited_for_idle_seconds": waited,
           "command": "cargo build --release (fresh CARGO_TARGET_DIR)"}
    if b0 is not None and b1 is not None:
        out["background_cores"] = max(0.0, (b1 - b0 - cpu) / seconds)
    log(f"bench: clean release build {seconds:.1f} s")
    return out


def run_measured(cmd, env=None, max_wait=WAIT_IDLE):
    """Run cmd to completion: (stdout, figures of the run). Dies on failure."""
    waited = wait_idle(max_wait) if max_wait > 0 else 0.0
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        b0 = machine_busy_seconds()
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=REPO)
        # wait4 both reaps the child and gives its resource usage (ru_maxrss: KiB on Linux).
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        b1 = machine_busy_seconds()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if proc.returncode != 0:
        die(f"`{shlex.join(map(str, cmd))}` failed (exit {proc.returncode}):\n{stderr[-3000:]}")
    cpu = usage.ru_utime + usage.ru_stime
    figures = {"wall_seconds": wall, "cpu_seconds": cpu, "peak_rss_kib": usage.ru_maxrss,
               "waited_for_idle_seconds": waited}
    if b0 is not None and b1 is not None:
        figures["background_cores"] = max(0.0, (b1 - b0 - cpu) / wall)
    return stdout, figures


def last_json_line(stdout):
    return json.loads(stdout.strip().splitlines()[-1])


def plan(args, workload):
    """(epochs, training images) of one run of a training workload."""
    if workload["kind"] == "cnn":
        return args.cnn_epochs, args.cnn_train_size
    if workload["kind"] == "rnn":
        return args.rnn_epochs, args.rnn_train_size
    return args.epochs, args.train_size


class Runner:
    def __init__(self, nndl, py, data, threads, tmp, max_wait):
        self.nndl, self.py, self.data, self.max_wait = nndl, py, data, max_wait
        self.threads = threads
        self.tmp = tmp
        self.torch_env = dict(os.environ, OMP_NUM_THREADS=str(threads),
                              MKL_NUM_THREADS=str(threads))

    def relative(self, cmd):
        """The command as it would be typed in the repo (for the record)."""
        def short(a):
            a = str(a)
            return os.path.relpath(a, REPO) if a.startswith(str(REPO)) else a
        return shlex.join(short(a) for a in cmd)

    def nndl_train(self, w, seed, epochs, train_size, save=None):
        metrics = self.tmp / "metrics.json"
        # nndl refuses --activation with --arch: the arch string names its activations.
        net = (["--arch", w["arch"]] if w["kind"] in ("cnn", "rnn")
               else ["--layers", w["layers"], "--activation", "sigmoid"])
        if "optimizer" in w:
            net += ["--optimizer", w["optimizer"]]
        cmd = [self.nndl, "train", "--data", self.data, *net,
               "--cost", w["cost"], "--eta", w["eta"], "--batch-size", w["batch_size"],
               "--lambda", w["lambda"], "--epochs", epochs, "--seed", seed,
               "--threads", self.threads, "--train-size", train_size,
               "--monitor", "none", "--quiet", "--metrics-json", metrics]
        if save:
            cmd += ["--save", save]
        cmd = [str(a) for a in cmd]
        _, figures = run_measured(cmd, max_wait=self.max_wait)
        m = json.loads(metrics.read_text())
        metrics.unlink()
        return {
            "command": self.relative(cmd),
            "epoch_seconds": [e["train_seconds"] for e in m["epochs"]],
            "test_accuracy": m["training"]["test_accuracy"],
            **figures,
        }

    def torch_train(self, w, seed, epochs, train_size):
        if w["kind"] == "cnn":
            net = [BENCH / "torch_cnn.py", "--arch", w["arch"]]
        elif w["kind"] == "rnn":
            net = [BENCH / "torch_lstm.py", "--arch", w["arch"], "--optimizer", w["optimizer"]]
        else:
            net = [BENCH / "torch_mlp.py", "--layers", w["layers"], "--activation", "sigmoid"]
        cmd = [str(a) for a in [
            self.py, net[0], "--data", self.data, *net[1:],
            "--cost", w["cost"], "--eta", w["eta"], "--batch-size", w["batch_size"],
            "--lambda", w["lambda"], "--epochs", epochs, "--seed", seed,
            "--threads", self.threads, "--train-size", train_size]]
        stdout, figures = run_measured(cmd, self.torch_env, self.max_wait)
        r = last_json_line(stdout)
        return {
            "command": self.relative(cmd),
            "epoch_seconds": r["epoch_seconds"],
            "test_accuracy": r["test_accuracy"],
            "load_seconds": r["load_seconds"],
            "torch_threads": r["threads"],
            **figures,
        }

    def nndl_eval(self, model):
        cmd = [str(a) for a in [self.nndl, "eval", model, "--data", self.data,
                                "--threads", self.threads, "--repeat", EVAL_REPEAT]]
        stdout, figures = run_measured(cmd, max_wait=self.max_wait)
        t = re.search(r"evaluated (\d+) images in ([0-9.]+) s", stdout)
        a = re.search(r"test accuracy: [0-9.]+% \((\d+) / (\d+)\)", stdout)
        if not (t and a):
            die(f"unexpected output from nndl eval:\n{stdout}")
        return {
            "command": self.relative(cmd),
            "seconds": float(t.group(2)),
            "test_correct": int(a.group(1)),
            "test_accuracy": int(a.group(1)) / int(a.group(2)),
            **figures,
        }

    def torch_eval(self, model):
        cmd = [str(a) for a in [self.py, BENCH / "torch_eval.py", model, "--data", self.data,
                                "--threads", self.threads, "--repeat", EVAL_REPEAT]]
        stdout, figures = run_measured(cmd, self.torch_env, self.max_wait)
        r = last_json_line(stdout)
        return {
            "command": self.relative(cmd),
            "seconds": r["seconds"],
            "all_seconds": r["all_seconds"],
            "test_correct": r["test_correct"],
            "test_accuracy": r["test_accuracy"],
            **figures,
        }

    def nndl_defaults_rss(self):
        """Peak RSS of `nndl train` with its defaults (one epoch instead of 30)."""
        cmd = [str(a) for a in [self.nndl, "train", "--data", self.data, "--epochs", 1, "--quiet"]]
        _, figures = run_measured(cmd, max_wait=self.max_wait)
        return {"command": self.relative(cmd), **figures}


# ---------------------------------------------------------------------------------------------
# The runs and their summary

def spread(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "n": len(values)}


def summarise(runs, plans):
    """Per workload: medians and ranges; `plans` is {training workload: (epochs, images)}."""
    out = {}
    for name, sides in runs.items():
        s = {}
        for side in ("nndl", "torch"):
            rs = sides[side]
            if "epoch_seconds" in rs[0]:
                secs = [t for r in rs for t in r["epoch_seconds"]]
            else:
                secs = [r["seconds"] for r in rs]
            s[side] = {
                "seconds": spread(secs),
                "test_accuracy": spread([r["test_accuracy"] for r in rs]),
                "peak_rss_kib": max(r["peak_rss_kib"] for r in rs),
                "background_cores_max": max(r.get("background_cores", 0.0) for r in rs),
            }
        s["ratio"] = s["torch"]["seconds"]["median"] / s["nndl"]["seconds"]["median"]
        s["unit"] = "s per epoch" if name != EVAL_WORKLOAD else "s per 10,000-image evaluation"
        if name in plans:
            s["epochs_per_run"], s["train_size"] = plans[name]
        out[name] = s
    return out


def show(name, side, r):
    secs = r.get("epoch_seconds") or [r["seconds"]]
    busy = r.get("background_cores", 0.0)
    log(f"  {name:<12} {side:<7} {statistics.median(secs):8.4f} s   "
        f"acc {100 * r['test_accuracy']:.2f}%   peak RSS {r['peak_rss_kib'] * 1024 / 1e6:.0f} MB"
        + (f"   (other processes: {busy:.1f} cores)" if busy >= IDLE_CORES else ""))


def run_all(runner, args, tmp):
    reps = args.reps
    training = [w for w in TRAIN_WORKLOADS if w["name"] in args.workloads]
    with_eval = EVAL_WORKLOAD in args.workloads
    runs = {w["name"]: {"nndl": [], "torch": []} for w in training}
    if with_eval:
        runs[EVAL_WORKLOAD] = {"nndl": [], "torch": []}
        log(f"bench: training the eval-10k model with nndl ([{EVAL_MODEL['layers']}], 1 epoch, "
            "seed 1)")
        model = tmp / "eval-10k.safetensors"
        runner.nndl_train(EVAL_MODEL, seed=1, epochs=1, train_size=args.train_size, save=model)

    for rep in range(reps):
        order = ("nndl", "torch") if rep % 2 == 0 else ("torch", "nndl")
        seed = rep + 1
        log(f"bench: repetition {rep + 1}/{reps} (seed {seed}, {order[0]} first)")
        for w in training:
            epochs, train_size = plan(args, w)
            for side in order:
                train = runner.nndl_train if side == "nndl" else runner.torch_train
                r = train(w, seed=seed, epochs=epochs, train_size=train_size)
                r.update(rep=rep + 1, seed=seed)
                runs[w["name"]][side].append(r)
                show(w["name"], side, r)
        if not with_eval:
            continue
        for side in order:
            r = runner.nndl_eval(model) if side == "nndl" else runner.torch_eval(model)
            r["rep"] = rep + 1
            runs[EVAL_WORKLOAD][side].append(r)
            show(EVAL_WORKLOAD, side, r)
    return runs


def atomic_write(path, text):
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def main():
    args = parse_args()
    started = datetime.datetime.now(datetime.timezone.utc)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    data = find_data(args.data)
    built = nndl_binary()
    if not built.is_file():
        die(f"{built} is missing: run `cargo build --release` (bench/run does it)")
    py, pyversions = ensure_venv()
    commit, dirty = git_commit()
    argv = shlex.join(sys.argv[1:])
    entry = os.environ.get("NNDL_BENCH_ENTRY", "python3 bench/harness.py")
    command = entry + (" " + argv if argv else "")

    with tempfile.TemporaryDirectory(prefix="nndl-bench-") as tmpdir:
        tmp = Path(tmpdir)
        # Measure a private copy: a rebuild of target/release during the run cannot change it.
        nndl = tmp / "nndl"
        shutil.copy2(built, nndl)
        binary = {"path": "target/release/nndl", "bytes": built.stat().st_size}
        strip = shutil.which("strip")
        if strip:
            stripped = tmp / "nndl-stripped"
            if subprocess.run([strip, "-o", stripped, nndl], capture_output=True).returncode == 0:
                binary["stripped_bytes"] = stripped.stat().st_size
                stripped.unlink()

        build = None
        if not (args.quick or args.skip_clean_build or args.partial):
            build = clean_build(args.wait_idle)

        kinds = {w["kind"] for w in TRAIN_WORKLOADS if w["name"] in args.workloads}
        cnn = (f"; cnn: {args.cnn_epochs} epoch(s) of {args.cnn_train_size:,}"
               if "cnn" in kinds else "")
        cnn += (f"; lstm: {args.rnn_epochs} epoch(s) of {args.rnn_train_size:,}"
                if "rnn" in kinds else "")
        log(f"bench: {'quick' if args.quick else 'full'} run{' of a subset' if args.partial else ''}"
            f" ({', '.join(args.workloads)}): {args.reps} repetition(s), "
            f"{args.epochs} epoch(s) of {args.train_size:,} images{cnn}, {args.threads} thread(s), "
            f"nndl {commit}, torch {pyversions['torch']}")
        runner = Runner(nndl, py, data, args.threads, tmp, args.wait_idle)
        defaults_rss = runner.nndl_defaults_rss()
        runs = run_all(runner, args, tmp)

    finished = datetime.datetime.now(datetime.timezone.utc)
    plans = {w["name"]: plan(args, w) for w in TRAIN_WORKLOADS if w["name"] in args.workloads}
    result = {
        "kind": "quick" if args.quick else "full",
        "partial": args.partial,
        "workloads_run": args.workloads,
        "started_utc": started.isoformat(timespec="seconds"),
        "finished_utc": finished.isoformat(timespec="seconds"),
        "command": command,
        "settings": {
            "repetitions": args.reps,
            "epochs_per_run": args.epochs,
            "train_size": args.train_size,
            "cnn_epochs_per_run": args.cnn_epochs,
            "cnn_train_size": args.cnn_train_size,
            "rnn_epochs_per_run": args.rnn_epochs,
            "rnn_train_size": args.rnn_train_size,
            "threads": args.threads,
            "eval_repeat": EVAL_REPEAT,
            "wait_idle_seconds": args.wait_idle,
            "idle_below_cores": IDLE_CORES,
            "data": str(data),
            "workloads": {
                w["name"]: {k: v for k, v in w.items() if k != "name"}
                | ({"activation": "sigmoid"} if w["kind"] == "mlp" else {})
                | {"epochs_per_run": plans[w["name"]][0], "train_size": plans[w["name"]][1]}
                for w in TRAIN_WORKLOADS if w["name"] in args.workloads
            } | ({EVAL_WORKLOAD: {"model": {k: v for k, v in EVAL_MODEL.items() if k != "kind"}
                                  | {"epochs": 1, "seed": 1, "trained_by": "nndl"}}}
                 if EVAL_WORKLOAD in args.workloads else {}),
        },
        "machine": machine(),
        "versions": {
            "nndl_commit": commit,
            "nndl_dirty_paths": dirty,
            "rustc": command_output(["rustc", "--version"]),
            "cargo": command_output(["cargo", "--version"]),
            "system_python": platform.python_version(),
            "venv": str(venv_dir()),
            **{k: v for k, v in pyversions.items()},
        },
        "build": {"clean_release": build, "binary": binary},
        "nndl_train_defaults_rss": defaults_rss,
        "summary": summarise(runs, plans),
        "runs": runs,
    }

    RESULTS.mkdir(parents=True, exist_ok=True)
    prefix = "quick-" if args.quick else ("partial-" if args.partial else "")
    name = prefix + stamp + ".json"
    json_path = RESULTS / name
    atomic_write(json_path, json.dumps(result, indent=2) + "\n")
    log(f"bench: wrote {json_path.relative_to(REPO)}")

    if args.quick or args.partial:
        chart = Path(tempfile.gettempdir()) / f"nndl-bench-{prefix.rstrip('-')}.png"
    else:
        chart = RESULTS / "latest.png"
    chart_tmp = chart.with_name(chart.name + ".tmp")
    r = subprocess.run([str(py), str(BENCH / "chart.py"), str(json_path), str(chart_tmp)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        die("the chart failed:\n" + r.stderr[-3000:])
    os.replace(chart_tmp, chart)
    log(f"bench: chart {chart}")

    print(report.table(result))
    print()
    print(report.checks_table(result))
    if report.load_note(result):
        print()
        print(report.load_note(result))
    if args.quick or args.partial:
        log(f"bench: {'quick' if args.quick else 'partial'} run: BENCHMARKS.md left as it is")
    else:
        atomic_write(REPO / "BENCHMARKS.md", report.markdown(result, json_path.name))
        log("bench: regenerated BENCHMARKS.md")


if __name__ == "__main__":
    main()
