"""Measured peak f32 GFLOP/s of this machine: large single-precision matrix products (sgemm) on
1 thread and on every core, through PyTorch (its BLAS), NumPy (its own OpenBLAS) and JAX (XLA,
which compiles the product for the host CPU).

Why three: a BLAS picks its kernels from a table of CPUs it knows. On an AMD Zen 5 the
scipy-openblas 0.3.31 that NumPy ships ran its Haswell (AVX2) kernels, 119 GFLOP/s on one thread,
while XLA's product ran at about 210: the machine's peak is the best of them.

    ~/.cache/nndl-bench/venv/bin/python bench/peak_gflops.py [--size 2048] [--rounds 5] [--json]

Each thread count runs in a fresh process pinned to that many CPUs (the BLAS libraries size their
thread pools at start); the figure is the best round (a peak, not a typical speed). bench/run
records it with every run: epoch FLOPs (bench/flops.py) ÷ this peak = the arithmetic limit.
"""

import argparse
import json
import os
import subprocess
import sys
import time

PROBE = r"""
import os, sys, time, json
threads, size, rounds = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
cpus = sorted(os.sched_getaffinity(0))
os.sched_setaffinity(0, cpus[:threads])
for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[v] = str(threads)
os.environ["JAX_PLATFORMS"] = "cpu"
if threads == 1:  # as bench/anchor_jax.py runs XLA on one thread
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false"
                               " intra_op_parallelism_threads=1").strip()
import numpy as np, torch, jax
torch.set_num_threads(threads)
out = {}
flop = 2.0 * size ** 3
a = torch.randn(size, size); b = torch.randn(size, size); c = torch.empty(size, size)
best = float("inf")
for _ in range(rounds):
    t0 = time.perf_counter(); torch.mm(a, b, out=c); best = min(best, time.perf_counter() - t0)
out["torch"] = flop / best / 1e9
x = np.random.rand(size, size).astype(np.float32); y = np.random.rand(size, size).astype(np.float32)
best = float("inf")
for _ in range(rounds):
    t0 = time.perf_counter(); x @ y; best = min(best, time.perf_counter() - t0)
out["numpy"] = flop / best / 1e9
dot = jax.jit(lambda p, q: p @ q)
p, q = jax.numpy.asarray(x), jax.numpy.asarray(y)
dot(p, q).block_until_ready()  # compile outside the timing
best = float("inf")
for _ in range(rounds):
    t0 = time.perf_counter(); dot(p, q).block_until_ready(); best = min(best, time.perf_counter() - t0)
out["jax"] = flop / best / 1e9
print(json.dumps(out))
"""


def measure(threads, size=2048, rounds=5, python=sys.executable):
    """{"torch", "numpy", "jax": GFLOP/s, "best": the largest} on `threads` threads."""
    r = subprocess.run([python, "-c", PROBE, str(threads), str(size), str(rounds)],
                       capture_output=True, text=True, check=True,
                       env=dict(os.environ, OMP_NUM_THREADS=str(threads),
                                OPENBLAS_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads)))
    out = json.loads(r.stdout.strip().splitlines()[-1])
    out["best"] = max(out["torch"], out["numpy"], out["jax"])
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=2048)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--threads", default=None, help="comma-separated (default: 1 and every core)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = p.parse_args()
    cores = len(os.sched_getaffinity(0))
    counts = ([int(t) for t in args.threads.split(",")] if args.threads
              else sorted({1, cores}))
    t0 = time.perf_counter()
    out = {str(t): measure(t, args.size, args.rounds) for t in counts}
    if args.json:
        print(json.dumps({"size": args.size, "gflops": out}))
        return
    for t, g in out.items():
        print(f"{t} thread(s): torch {g['torch']:.1f}, numpy {g['numpy']:.1f}, jax {g['jax']:.1f} GFLOP/s "
              f"({args.size}³ sgemm, best of {args.rounds})")
    print(f"({time.perf_counter() - t0:.1f} s)")


if __name__ == "__main__":
    main()
