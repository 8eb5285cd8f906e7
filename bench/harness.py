#!/usr/bin/env python3
"""nndl against the strongest CPU anchors. Run it through bench/run, which builds nndl first.

Standard library only: it orchestrates. The anchors run with the Python of a virtual environment
of their own, ${XDG_CACHE_HOME:-~/.cache}/nndl-bench/venv, created and filled from
bench/requirements.txt when missing and reused after. The columns (--columns):

  nndl           `nndl train` / `nndl eval`
  torch-eager    bench/torch_mlp.py, torch_cnn.py, torch_lstm.py, torch_eval.py: PyTorch as most
                 people write it (autograd, torch.optim.SGD, indexing float tensors preloaded)
  torch-tuned    bench/anchor_torch.py --mode tuned: hand-written backprop for the MLPs, fused
                 optimisers, channels_last, one gather per epoch
  torch-compile  bench/anchor_torch.py --mode compile: the same step through torch.compile
  jax            bench/anchor_jax.py: the whole epoch one jitted XLA program (lax.scan)

Every column runs at every thread count of --threads (default: 1 and all cores; each process
pinned to that many CPUs), --reps times as an outer loop. Within a repetition, for one workload
and thread count, the columns run back to back in an order that rotates from one repetition to
the next: a "pair" (nndl and its anchors, measured minutes apart at most), from which the paired
ratios anchor / nndl come. Before and after each pair the harness checks the machine: the cores
other processes keep busy (/proc/stat) and the speed of a fixed single-threaded probe loop against
its speed at the start (a neighbour on the host, invisible in /proc/stat, slows it); a pair where
either moved is flagged noisy. Results are written as they come (bench/results/*.json).
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

# The training workloads. kind "mlp": `nndl train --layers`, sigmoid everywhere (eager anchor:
# torch_mlp.py). kind "cnn" (chapter 6): `nndl train --arch`, a softmax output with the
# log-likelihood cost (torch_cnn.py, which takes the same arch string); layers that name no
# activation use sigmoid, nndl's default and the anchors'. kind "rnn": `nndl train --arch` with a
# recurrent layer (each image read as 28 steps of its 28-pixel rows) and --optimizer
# (torch_lstm.py). anchor_torch.py and anchor_jax.py take all three.
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
REPS = 5
MLP_EPOCHS = 2
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
COLUMNS = ["nndl", "torch-eager", "torch-tuned", "torch-compile", "jax"]
ANCHORS = COLUMNS[1:]

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


def thread_list(text):
    counts = sorted({int(t) for t in text.split(",") if t.strip()})
    if not counts or counts[0] < 1:
        raise argparse.ArgumentTypeError("thread counts of at least 1, e.g. 1,2")
    return counts


def parse_args():
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    p = argparse.ArgumentParser(
        prog=os.environ.get("NNDL_BENCH_ENTRY", "bench/harness.py"),
        description="Benchmark nndl against eager, tuned and compiled PyTorch and JAX (CPU) on the "
                    "same MNIST workloads, at one thread and at every core.",
        epilog="Examples:\n"
               "  bench/run --quick                         # smoke run of every column, ~15 min\n"
               "  bench/run                                 # full run: BENCHMARKS.md, ~2 h\n"
               "  bench/run --workloads mlp-default --columns nndl,jax --threads 1\n"
               "  bench/run --scaling                       # cost as hidden size, mini-batch and "
               "data grow",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 1 repetition of 1 epoch on 10,000 training images "
                        f"({QUICK_CNN_TRAIN_SIZE:,} for the cnn workloads, "
                        f"{QUICK_RNN_TRAIN_SIZE:,} for lstm-128); "
                        "writes bench/results/quick-<UTC>.json and leaves BENCHMARKS.md alone")
    p.add_argument("--reps", type=int, default=None,
                   help=f"repetitions, the outer loop (default {REPS}; quick 1)")
    p.add_argument("--epochs", type=int, default=None,
                   help=f"epochs per mlp training run (default {MLP_EPOCHS}; quick 1)")
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
    p.add_argument("--columns", default=",".join(COLUMNS), metavar="A,B,...",
                   help="the implementations to run (default: all of %(default)s; nndl always)")
    p.add_argument("--threads", type=thread_list, default=sorted({1, cores}), metavar="N[,N…]",
                   help=f"thread counts, every column at each (default: 1 and all cores, "
                        f"1,{cores} here)")
    p.add_argument("--scaling", action="store_true",
                   help="instead of the workloads: seconds per epoch of nndl and the fastest "
                        "anchor as the hidden layer grows (30, 100, 300, 1000) and as the "
                        "mini-batch grows (1, 10, 100, 1000), and nndl's peak RSS as the "
                        "training set grows (10k, 50k, expanded 250k); writes "
                        "bench/results/scaling-<UTC>.json, which BENCHMARKS.md then shows")
    p.add_argument("--scaling-anchor", default=None, choices=[c for c in COLUMNS if c != "nndl"],
                   help="the anchor --scaling compares with (default: the fastest on mlp-default "
                        "in the latest full run, else jax)")
    p.add_argument("--data", type=Path, default=None,
                   help="folder with the four MNIST .gz files "
                        "(default: $NNDL_DATA, else ../shared/data/mnist beside the repo)")
    p.add_argument("--wait-idle", type=float, default=None, metavar="SECONDS",
                   help="before each run, wait up to this long for other processes to leave the "
                        f"CPU idle (default {WAIT_IDLE:g}; quick 10; 0: do not wait)")
    p.add_argument("--nndl-flags", default="", metavar="FLAGS",
                   help="extra flags for every `nndl train` (e.g. \"--dense-inputs\": multiply "
                        "every pixel, zeros included, as the anchors do); the run counts as a "
                        "subset (results/partial-<UTC>.json)")
    p.add_argument("--skip-clean-build", action="store_true",
                   help="do not time a clean `cargo build --release` (always skipped with --quick)")
    args = p.parse_args()
    args.reps = args.reps if args.reps is not None else (1 if args.quick else REPS)
    args.epochs = args.epochs if args.epochs is not None else (1 if args.quick else MLP_EPOCHS)
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
    picked = [c.strip() for c in args.columns.split(",") if c.strip()]
    unknown = [c for c in picked if c not in COLUMNS]
    if unknown:
        p.error(f"--columns: unknown {', '.join(unknown)}; choose among {', '.join(COLUMNS)}")
    args.columns = [c for c in COLUMNS if c in picked or c == "nndl"]
    if args.threads[-1] > cores:
        p.error(f"--threads: this machine has {cores} cores")
    args.nndl_flags = shlex.split(args.nndl_flags)
    args.partial = (args.workloads != WORKLOAD_NAMES or args.columns != COLUMNS
                    or args.threads != sorted({1, cores}) or bool(args.nndl_flags))
    if args.wait_idle is None:
        args.wait_idle = 10.0 if args.quick else WAIT_IDLE
    if args.reps < 1 or args.epochs < 1 or args.cnn_epochs < 1 or args.rnn_epochs < 1:
        p.error("--reps, --epochs, --cnn-epochs and --rnn-epochs must be at least 1")
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
            pins[name.split("[")[0].strip()] = version.strip()  # jax[cpu] is jax
    return pins


VERSIONS_PY = (
    "import json, platform, torch, numpy, matplotlib, jax, jaxlib; print(json.dumps({"
    "'python': platform.python_version(), 'torch': torch.__version__, "
    "'numpy': numpy.__version__, 'matplotlib': matplotlib.__version__, "
    "'jax': jax.__version__, 'jaxlib': jaxlib.__version__, "
    "'jax_devices': [str(d) for d in jax.devices('cpu')], "
    "'torch_cpu_capability': torch.backends.cpu.get_cpu_capability(), "
    "'torch_parallel': torch.__config__.parallel_info().splitlines()[:4]}))"
)


def venv_versions(py):
    if not py.exists():
        return None
    r = subprocess.run([str(py), "-c", VERSIONS_PY], capture_output=True, text=True,
                       env=dict(os.environ, JAX_PLATFORMS="cpu"))
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


SIMD_FLAGS = {"sse4_2", "avx", "avx2", "fma", "f16c", "avx_vnni", "avx_vnni_int8"}


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
    flags = []
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = line.split(":", 1)[1].split()
                break
    except OSError:
        pass
    simd = [f for f in flags if f in SIMD_FLAGS or f.startswith(("avx512", "amx"))]
    return {
        "cpu": cpu,
        "simd_flags": simd,
        "lscpu_model": command_output(["sh", "-c", "lscpu | grep -E '^(Model name|Vendor ID|"
                                       "CPU family|Model|Thread|Core|Socket|L2|L3)'"]),
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


def run_measured(cmd, env=None, max_wait=WAIT_IDLE, cpus=None):
    """Run cmd to completion, on the CPUs `cpus` if given: (stdout, figures of the run). Dies on
    failure."""
    waited = wait_idle(max_wait) if max_wait > 0 else 0.0
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        b0 = machine_busy_seconds()
        t0 = time.perf_counter()
        pin = (lambda: os.sched_setaffinity(0, cpus)) if cpus else None
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=REPO, preexec_fn=pin)
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


# ---------------------------------------------------------------------------------------------
# The machine's load: checked before and after each pair

PROBE_LOOPS = 300_000


def probe_seconds():
    """The best of 3 timings of a fixed single-threaded loop: slower when a neighbour takes the
    core (which /proc/stat inside a VM may not show), or the clock drops."""
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        x = 0
        for i in range(PROBE_LOOPS):
            x += i * i
        best = min(best, time.perf_counter() - t0)
    return best


def load_check():
    """{"busy_cores": other processes' cores over 0.5 s, "probe_seconds": probe_seconds()}."""
    b0, t0 = machine_busy_seconds(), time.perf_counter()
    time.sleep(0.5)
    busy = None
    if b0 is not None:
        busy = (machine_busy_seconds() - b0) / (time.perf_counter() - t0)
    return {"busy_cores": busy, "probe_seconds": probe_seconds()}


def noisy_reasons(before, after, runs, baseline):
    """Why a pair's figures are not to be trusted ([] if they are)."""
    out = []
    for when, c in (("before", before), ("after", after)):
        if c["busy_cores"] is not None and c["busy_cores"] >= IDLE_CORES:
            out.append(f"{c['busy_cores']:.2f} cores busy {when}")
        if c["probe_seconds"] > PROBE_SLOWER * baseline:
            out.append(f"probe {c['probe_seconds'] / baseline:.2f}× slower {when}")
    for side, r in runs.items():
        if r.get("background_cores", 0.0) >= IDLE_CORES:
            out.append(f"{r['background_cores']:.2f} other cores busy during {side}")
    return out


PROBE_SLOWER = 1.15


# ---------------------------------------------------------------------------------------------
# Running the columns

SCRIPTS = {  # eager anchor scripts per kind
    "mlp": "torch_mlp.py", "cnn": "torch_cnn.py", "rnn": "torch_lstm.py", "eval": "torch_eval.py",
}


class Runner:
    def __init__(self, nndl, py, data, tmp, max_wait, nndl_flags=()):
        self.nndl, self.py, self.data, self.tmp, self.max_wait = nndl, py, data, tmp, max_wait
        self.nndl_flags = list(nndl_flags)
        self.cpus = (sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                     else list(range(os.cpu_count() or 1)))
        self.baselines = {}

    def pinned(self, threads):
        return self.cpus[:threads]

    def env(self, threads):
        t = str(threads)
        return dict(os.environ, OMP_NUM_THREADS=t, MKL_NUM_THREADS=t, OPENBLAS_NUM_THREADS=t,
                    JAX_PLATFORMS="cpu")

    def relative(self, cmd):
        """The command as it would be typed in the repo (for the record)."""
        def short(a):
            a = str(a)
            if a == str(self.py):
                return "$VENV/bin/python"
            if a == str(self.nndl):
                return "nndl"
            return os.path.relpath(a, REPO) if a.startswith(str(REPO)) else a
        return shlex.join(short(a) for a in cmd)

    def measure(self, cmd, threads, python):
        return run_measured([str(a) for a in cmd], self.env(threads) if python else None,
                            self.max_wait, self.pinned(threads))

    # nndl -----------------------------------------------------------------------------------

    def nndl_cmd(self, w, seed, epochs, train_size, threads, metrics):
        # nndl refuses --activation with --arch: the arch string names its activations.
        net = (["--arch", w["arch"]] if w["kind"] in ("cnn", "rnn")
               else ["--layers", w["layers"], "--activation", "sigmoid"])
        if "optimizer" in w:
            net += ["--optimizer", w["optimizer"]]
        return [self.nndl, "train", "--data", self.data, *net,
                "--cost", w["cost"], "--eta", w["eta"], "--batch-size", w["batch_size"],
                "--lambda", w["lambda"], "--epochs", epochs, "--seed", seed,
                "--threads", threads, "--train-size", train_size,
                "--monitor", "none", "--quiet", "--metrics-json", metrics, *self.nndl_flags]

    def nndl_train(self, w, seed, epochs, train_size, threads, save=None):
        metrics = self.tmp / "metrics.json"
        cmd = self.nndl_cmd(w, seed, epochs, train_size, threads, metrics)
        if save:
            cmd += ["--save", save]
        _, figures = self.measure(cmd, threads, python=False)
        m = json.loads(metrics.read_text())
        metrics.unlink()
        out = {"command": self.relative(cmd),
               "epoch_seconds": [e["train_seconds"] for e in m["epochs"]],
               "test_accuracy": m["training"]["test_accuracy"], **figures}
        # CPU time of the epochs: the process's, less that of the same command with 0 epochs
        # (loading, the final test), measured once per workload and thread count.
        key = (w.get("name"), w.get("layers"), w["batch_size"], train_size, threads)
        if key not in self.baselines and epochs > 0 and not save:
            base = self.nndl_cmd(w, seed, 0, train_size, threads, metrics)
            _, bf = self.measure(base, threads, python=False)
            metrics.unlink(missing_ok=True)
            self.baselines[key] = bf["cpu_seconds"]
        if key in self.baselines and epochs > 0:
            cpu = max(0.0, figures["cpu_seconds"] - self.baselines[key])
            out["epoch_cpu_seconds_total"] = cpu
        return out

    def nndl_eval(self, model, threads):
        cmd = [self.nndl, "eval", model, "--data", self.data, "--threads", threads,
               "--repeat", EVAL_REPEAT]
        stdout, figures = self.measure(cmd, threads, python=False)
        t = re.search(r"evaluated (\d+) (?:images|examples) in ([0-9.]+) s", stdout)
        a = re.search(r"test accuracy: [0-9.]+% \((\d+) / (\d+)\)", stdout)
        if not (t and a):
            die(f"unexpected output from nndl eval:\n{stdout}")
        return {"command": self.relative(cmd), "seconds": float(t.group(2)),
                "test_correct": int(a.group(1)), "test_accuracy": int(a.group(1)) / int(a.group(2)),
                **figures}

    # anchors --------------------------------------------------------------------------------

    def anchor_train(self, side, w, seed, epochs, train_size, threads):
        kind = w["kind"]
        if side == "torch-eager":
            script, mode = [BENCH / SCRIPTS[kind]], []
        elif side == "jax":
            script, mode = [BENCH / "anchor_jax.py"], []
        else:
            script, mode = [BENCH / "anchor_torch.py"], ["--mode", side.split("-")[1]]
        if kind == "mlp":
            net = ["--layers", w["layers"], "--activation", "sigmoid"]
        else:
            net = ["--arch", w["arch"]]
        if "optimizer" in w and (side != "torch-eager" or kind == "rnn"):
            net += ["--optimizer", w["optimizer"]]
        cmd = [self.py, *script, "--data", self.data, *net, *mode,
               "--cost", w["cost"], "--eta", w["eta"], "--batch-size", w["batch_size"],
               "--lambda", w["lambda"], "--epochs", epochs, "--seed", seed,
               "--threads", threads, "--train-size", train_size]
        stdout, figures = self.measure(cmd, threads, python=True)
        r = last_json_line(stdout)
        out = {"command": self.relative(cmd), "epoch_seconds": r["epoch_seconds"],
               "test_accuracy": r["test_accuracy"], "load_seconds": r.get("load_seconds"),
               "library_threads": r.get("threads"), **figures}
        if "epoch_cpu_seconds" in r:
            out["epoch_cpu_seconds_total"] = sum(r["epoch_cpu_seconds"])
        for k in ("compile_seconds", "backprop", "convert", "cpu_capability", "xla_flags"):
            if k in r:
                out[k] = r[k]
        return out

    def anchor_eval(self, side, model, threads):
        if side == "torch-eager":
            cmd = [self.py, BENCH / "torch_eval.py", model]
        elif side == "jax":
            cmd = [self.py, BENCH / "anchor_jax.py", "--eval", model]
        else:
            cmd = [self.py, BENCH / "anchor_torch.py", "--eval", model,
                   "--mode", side.split("-")[1]]
        cmd += ["--data", self.data, "--threads", threads, "--repeat", EVAL_REPEAT]
        stdout, figures = self.measure(cmd, threads, python=True)
        r = last_json_line(stdout)
        out = {"command": self.relative(cmd), "seconds": r["seconds"],
               "all_seconds": r["all_seconds"], "test_correct": r["test_correct"],
               "test_accuracy": r["test_accuracy"], **figures}
        if "compile_seconds" in r:
            out["compile_seconds"] = r["compile_seconds"]
        return out

    def run(self, side, w, seed, epochs, train_size, threads, model=None):
        if w["name"] == EVAL_WORKLOAD:
            return (self.nndl_eval(model, threads) if side == "nndl"
                    else self.anchor_eval(side, model, threads))
        if side == "nndl":
            return self.nndl_train(w, seed, epochs, train_size, threads)
        return self.anchor_train(side, w, seed, epochs, train_size, threads)

    def nndl_rss(self, extra, threads):
        """Peak RSS of `nndl train` with its defaults (one epoch instead of 30) and `extra`."""
        cmd = [self.nndl, "train", "--data", self.data, "--epochs", 1, "--quiet", *extra]
        _, figures = self.measure(cmd, threads, python=False)
        return {"command": self.relative(cmd), **figures}


# ---------------------------------------------------------------------------------------------
# The summary

def spread(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "n": len(values)}


def run_seconds(r):
    """A run's seconds per epoch (its median epoch), or per evaluation."""
    return statistics.median(r["epoch_seconds"]) if "epoch_seconds" in r else r["seconds"]


def cpu_per_wall(runs):
    """CPU seconds / wall seconds over the timed spans (training), else over the processes."""
    spans = [r for r in runs if "epoch_cpu_seconds_total" in r]
    if spans and len(spans) == len(runs):
        wall = sum(sum(r["epoch_seconds"]) for r in spans)
        return {"value": sum(r["epoch_cpu_seconds_total"] for r in spans) / wall, "over": "epochs"}
    return {"value": sum(r["cpu_seconds"] for r in runs) / sum(r["wall_seconds"] for r in runs),
            "over": "process"}


def summarise(pairs, flops_of, peaks):
    """{workload: {threads: summary}} from the pairs measured so far."""
    out = {}
    for p in pairs:
        out.setdefault(p["workload"], {}).setdefault(str(p["threads"]), []).append(p)
    summary = {}
    for name, by_threads in out.items():
        summary[name] = {}
        for threads, ps in by_threads.items():
            sides = {}
            for side in ps[0]["runs"]:
                rs = [p["runs"][side] for p in ps if side in p["runs"]]
                secs = [t for r in rs for t in (r.get("epoch_seconds") or [r["seconds"]])]
                s = {"seconds": spread(secs),
                     "cpu_per_wall": cpu_per_wall(rs),
                     "test_accuracy": spread([r["test_accuracy"] for r in rs]),
                     "peak_rss_kib": max(r["peak_rss_kib"] for r in rs)}
                compiles = [r["compile_seconds"] for r in rs if r.get("compile_seconds")]
                if compiles:
                    s["compile_seconds"] = spread(compiles)
                if side != "nndl":
                    ratios = [run_seconds(p["runs"][side]) / run_seconds(p["runs"]["nndl"])
                              for p in ps if side in p["runs"]]
                    quiet = [run_seconds(p["runs"][side]) / run_seconds(p["runs"]["nndl"])
                             for p in ps if side in p["runs"] and not p["noisy"]]
                    s["ratio"] = spread(ratios)
                    if quiet:
                        s["ratio_quiet"] = spread(quiet)
                sides[side] = s
            anchors = [a for a in sides if a != "nndl"]
            entry = {"sides": sides, "pairs": len(ps), "noisy_pairs": sum(p["noisy"] for p in ps)}
            if anchors:
                fastest = min(anchors, key=lambda a: sides[a]["seconds"]["median"])
                entry["fastest_anchor"] = fastest
                entry["ratio_vs_fastest"] = sides[fastest]["ratio"]
            fl = flops_of(name)
            if fl:
                entry["flops"] = fl
                peak = (peaks or {}).get(threads, {}).get("best")
                if peak:
                    entry["arithmetic_limit_seconds"] = fl / (peak * 1e9)
            summary[name][threads] = entry
    return summary


def show(name, threads, side, r):
    busy = r.get("background_cores", 0.0)
    extra = f"   compile {r['compile_seconds']:.1f} s" if r.get("compile_seconds") else ""
    log(f"  {name:<12} {threads}t {side:<13} {run_seconds(r):8.4f} s   "
        f"acc {100 * r['test_accuracy']:.2f}%   RSS {r['peak_rss_kib'] * 1024 / 1e6:.0f} MB{extra}"
        + (f"   (other processes: {busy:.1f} cores)" if busy >= IDLE_CORES else ""))


# ---------------------------------------------------------------------------------------------
# The runs

def rotation(columns, rep):
    k = rep % len(columns)
    return columns[k:] + columns[:k]


def measure_pairs(runner, args, tmp, baseline_probe, save):
    """Every (repetition, thread count, workload) pair, in that nesting; `save(pairs)` after each."""
    training = [w for w in TRAIN_WORKLOADS if w["name"] in args.workloads]
    model = None
    if EVAL_WORKLOAD in args.workloads:
        log(f"bench: training the eval-10k model with nndl ([{EVAL_MODEL['layers']}], 1 epoch, "
            "seed 1)")
        model = tmp / "eval-10k.safetensors"
        runner.nndl_train(dict(EVAL_MODEL, name="eval-model"), seed=1, epochs=1,
                          train_size=args.train_size, threads=max(args.threads), save=model)
        training.append({"name": EVAL_WORKLOAD, "kind": "eval"})
    pairs = []
    for rep in range(args.reps):
        order = rotation(args.columns, rep)
        seed = rep + 1
        log(f"bench: repetition {rep + 1}/{args.reps} (seed {seed}; order {', '.join(order)})")
        for threads in args.threads:
            for w in training:
                epochs, size = plan(args, w) if w["kind"] != "eval" else (None, None)
                before = load_check()
                runs = {}
                for side in order:
                    runs[side] = runner.run(side, w, seed, epochs, size, threads, model)
                    show(w["name"], threads, side, runs[side])
                after = load_check()
                reasons = noisy_reasons(before, after, runs, baseline_probe)
                if reasons:
                    log(f"  noisy pair: {'; '.join(reasons)}")
                pairs.append({"rep": rep + 1, "seed": seed, "threads": threads,
                              "workload": w["name"], "order": order, "runs": runs,
                              "load_before": before, "load_after": after,
                              "noisy": bool(reasons), "noisy_reasons": reasons})
                save(pairs)
    return pairs


SCALING_HIDDEN = [30, 100, 300, 1000]
SCALING_BATCH = [1, 10, 100, 1000]
SCALING_RSS = [("10k", ["--train-size", "10000"]), ("50k", []), ("expanded 250k", ["--expand"])]


def scaling_workloads():
    base = dict(TRAIN_WORKLOADS[0])  # mlp-default: [784,30,10], quadratic, η 3, mini-batch 10
    out = []
    for h in SCALING_HIDDEN:
        out.append(dict(base, name=f"hidden-{h}", layers=f"784,{h},10", axis="hidden", x=h))
    for m in SCALING_BATCH:
        out.append(dict(base, name=f"batch-{m}", batch_size=m, axis="mini-batch", x=m))
    return out


def fastest_anchor(threads):
    """The anchor fastest on mlp-default at `threads` in the latest full run, else jax."""
    for path in sorted(RESULTS.glob("*.json"), reverse=True):
        if path.name.startswith(("quick-", "partial-", "scaling-")):
            continue
        try:
            r = json.loads(path.read_text())
            if r.get("format") == 2 and r.get("complete"):
                return r["summary"]["mlp-default"][str(threads)]["fastest_anchor"]
        except (KeyError, ValueError, OSError):
            continue
    return "jax"


def measure_scaling(runner, args, baseline_probe, save):
    pairs = []
    workloads = scaling_workloads()
    for rep in range(args.reps):
        seed = rep + 1
        log(f"bench: scaling, repetition {rep + 1}/{args.reps}")
        for threads in args.threads:
            anchor = args.scaling_anchor or fastest_anchor(threads)
            order = rotation(["nndl", anchor], rep)
            for w in workloads:
                before = load_check()
                runs = {}
                for side in order:
                    runs[side] = runner.run(side, w, seed, 1, args.train_size, threads)
                    show(w["name"], threads, side, runs[side])
                after = load_check()
                reasons = noisy_reasons(before, after, runs, baseline_probe)
                pairs.append({"rep": rep + 1, "seed": seed, "threads": threads,
                              "workload": w["name"], "axis": w["axis"], "x": w["x"],
                              "order": order, "runs": runs, "load_before": before,
                              "load_after": after, "noisy": bool(reasons),
                              "noisy_reasons": reasons})
                save(pairs, None)
    rss = []
    for label, extra in SCALING_RSS:
        r = runner.nndl_rss(extra, max(args.threads))
        r["label"] = label
        rss.append(r)
        log(f"  nndl train, {label}: peak RSS {r['peak_rss_kib'] * 1024 / 1e6:.0f} MB")
    save(pairs, rss)
    return pairs, rss


def atomic_write(path, text):
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def peak_gflops(py, threads, quick):
    """{str(threads): {"torch", "numpy", "jax", "best"} GFLOP/s} from bench/peak_gflops.py."""
    size, rounds = (1024, 3) if quick else (2048, 5)
    r = subprocess.run([str(py), str(BENCH / "peak_gflops.py"), "--json", "--size", str(size),
                        "--rounds", str(rounds), "--threads", ",".join(map(str, threads))],
                       capture_output=True, text=True)
    if r.returncode != 0:
        die("bench/peak_gflops.py failed:\n" + r.stderr[-3000:])
    return json.loads(r.stdout.strip().splitlines()[-1])["gflops"]


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
    RESULTS.mkdir(parents=True, exist_ok=True)
    if args.scaling:
        prefix = "scaling-" + ("quick-" if args.quick else "")
    else:
        prefix = "quick-" if args.quick else ("partial-" if args.partial else "")
    json_path = RESULTS / (prefix + stamp + ".json")

    with tempfile.TemporaryDirectory(prefix="nndl-bench-") as tmpdir:
        tmp = Path(tmpdir)
        # Measure a private copy: a rebuild of target/release during the run cannot change it.
        nndl = tmp / "nndl"
        shutil.copy2(built, nndl)
        binary = {"path": str(built), "bytes": built.stat().st_size}
        strip = shutil.which("strip")
        if strip:
            stripped = tmp / "nndl-stripped"
            if subprocess.run([strip, "-o", stripped, nndl], capture_output=True).returncode == 0:
                binary["stripped_bytes"] = stripped.stat().st_size
                stripped.unlink()

        build = None
        if not (args.quick or args.skip_clean_build or args.partial or args.scaling):
            build = clean_build(args.wait_idle)

        if args.wait_idle > 0:
            wait_idle(args.wait_idle)
        baseline_probe = min(probe_seconds() for _ in range(5))
        log("bench: measuring the peak f32 GFLOP/s (bench/peak_gflops.py) ...")
        peaks = peak_gflops(py, args.threads, args.quick)
        log("bench: peak " + ", ".join(f"{t} thread(s) {g['best']:.0f} GFLOP/s"
                                        for t, g in peaks.items()))
        kinds = {w["kind"] for w in TRAIN_WORKLOADS if w["name"] in args.workloads}
        cnn = (f"; cnn: {args.cnn_epochs} epoch(s) of {args.cnn_train_size:,}"
               if "cnn" in kinds else "")
        cnn += (f"; lstm: {args.rnn_epochs} epoch(s) of {args.rnn_train_size:,}"
                if "rnn" in kinds else "")
        what = "scaling" if args.scaling else ("quick" if args.quick else "full")
        log(f"bench: {what} run{' of a subset' if args.partial and not args.scaling else ''}"
            f" ({', '.join(args.columns)} at {', '.join(map(str, args.threads))} thread(s)): "
            f"{args.reps} repetition(s), {args.epochs} epoch(s) of {args.train_size:,} images"
            f"{cnn}; nndl {commit}, torch {pyversions['torch']}, jax {pyversions['jax']}")
        runner = Runner(nndl, py, data, tmp, args.wait_idle, args.nndl_flags)

        result = {
            "format": 2,
            "kind": what,
            "quick": args.quick,
            "partial": args.partial,
            "complete": False,
            "workloads_run": args.workloads,
            "columns": args.columns,
            "nndl_flags": args.nndl_flags,
            "started_utc": started.isoformat(timespec="seconds"),
            "command": command,
            "settings": {
                "repetitions": args.reps,
                "threads": args.threads,
                "epochs_per_run": args.epochs,
                "train_size": args.train_size,
                "cnn_epochs_per_run": args.cnn_epochs,
                "cnn_train_size": args.cnn_train_size,
                "rnn_epochs_per_run": args.rnn_epochs,
                "rnn_train_size": args.rnn_train_size,
                "eval_repeat": EVAL_REPEAT,
                "wait_idle_seconds": args.wait_idle,
                "idle_below_cores": IDLE_CORES,
                "probe_slower_limit": PROBE_SLOWER,
                "probe_baseline_seconds": baseline_probe,
                "data": str(data),
                "workloads": {
                    w["name"]: {k: v for k, v in w.items() if k != "name"}
                    | ({"activation": "sigmoid"} if w["kind"] == "mlp" else {})
                    | {"epochs_per_run": plan(args, w)[0], "train_size": plan(args, w)[1]}
                    for w in (scaling_workloads() if args.scaling else TRAIN_WORKLOADS)
                    if args.scaling or w["name"] in args.workloads
                } | ({EVAL_WORKLOAD: {"model": {k: v for k, v in EVAL_MODEL.items() if k != "kind"}
                                      | {"epochs": 1, "seed": 1, "trained_by": "nndl"}}}
                     if EVAL_WORKLOAD in args.workloads and not args.scaling else {}),
            },
            "machine": machine(),
            "peak_gflops": peaks,
            "versions": {
                "nndl_commit": commit,
                "nndl_dirty_paths": dirty,
                "rustc": command_output(["rustc", "--version"]),
                "cargo": command_output(["cargo", "--version"]),
                "system_python": platform.python_version(),
                "venv": str(venv_dir()),
                **pyversions,
            },
        }
        import flops

        def flops_of(name):
            w = result["settings"]["workloads"].get(name)
            if name == EVAL_WORKLOAD:
                return flops.eval_flops(EVAL_MODEL)
            return flops.epoch_flops(w, w["train_size"]) if w else None

        def save(pairs, rss=None):
            result["pairs"] = pairs
            result["summary"] = summarise(pairs, flops_of, peaks)
            if rss is not None:
                result["rss_scaling"] = rss
            atomic_write(json_path, json.dumps(result, indent=2) + "\n")

        log(f"bench: results go to {json_path.relative_to(REPO)} as they come")
        if args.scaling:
            pairs, rss = measure_scaling(runner, args, baseline_probe, save)
        else:
            result["build"] = {"clean_release": build, "binary": binary}
            result["nndl_train_defaults_rss"] = runner.nndl_rss([], max(args.threads))
            pairs = measure_pairs(runner, args, tmp, baseline_probe, save)
            rss = None
        result["finished_utc"] = datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds")
        result["complete"] = True
        save(pairs, rss)
    log(f"bench: wrote {json_path.relative_to(REPO)}")

    charts = report.chart_paths(result, json_path)
    for kind, chart in charts.items():
        chart_tmp = chart.with_name(chart.name + ".tmp.png")
        r = subprocess.run([str(py), str(BENCH / "chart.py"), kind, str(json_path), str(chart_tmp)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            die("the chart failed:\n" + r.stderr[-3000:])
        os.replace(chart_tmp, chart)
        log(f"bench: chart {chart}")

    if args.scaling:
        print(report.scaling_tables(result))
    else:
        print(report.tables(result))
        print()
        print(report.checks_table(result))
        if report.load_note(result):
            print()
            print(report.load_note(result))
    full = report.latest("full")
    if args.quick or args.partial or full is None:
        log(f"bench: {what} run: BENCHMARKS.md left as it is")
    else:
        atomic_write(REPO / "BENCHMARKS.md", report.keep_mpi_section(report.markdown(full, report.latest("scaling"))))
        log(f"bench: regenerated BENCHMARKS.md from {full['_file']}")


if __name__ == "__main__":
    main()
