"""JAX (XLA, CPU) twin of `nndl train` and `nndl eval`: the whole epoch compiled into one program.

    python bench/anchor_jax.py --data DIR (--layers L | --arch A | --eval MODEL) …

The same computation as nndl (initialisation N(0, 1/fan_in) and N(0, 1), sigmoid MLPs with the
quadratic or cross-entropy cost, conv → max-pool → activation, softmax with the log-likelihood
cost, L2 on the weights only, Adam), written the way JAX is meant to be used for speed:
  - one jitted function per epoch: gather the shuffled bytes, turn them into floats (byte / 255)
    and one-hot rows, then `lax.scan` over the mini-batches (a last, smaller mini-batch is one more
    step inside the same program); gradients by jax.grad, the update applied inside the scan;
  - the shuffle (numpy's permutation) is drawn on the host inside the epoch's timed span, as nndl
    shuffles inside its own;
  - compiled ahead of time (`jit(...).lower(...).compile()`) before the first epoch: its time is
    reported as compile_seconds and excluded from the epochs;
  - --threads 1 runs XLA single-threaded (XLA_FLAGS intra_op_parallelism_threads=1,
    xla_cpu_multi_thread_eigen=false) and pins the process to one CPU.
Conv layers run in NCHW, nndl's layout (measured here: 1.6× less CPU per step than NHWC for
cnn-1's step; an im2col formulation and a reshape-max pooling were no faster), flattened
channel-major before a dense layer, as nndl flattens. The LSTM reads each image as 28 steps of its rows, gates i, f, g, o,
the input products of all 28 steps in one matrix product, a `lax.scan` over the steps.

Prints one JSON object on its last line of stdout (anchor_torch.py's fields).
"""

import math
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import anchor_common as common  # noqa: E402

ARGS = common.parse_args(__doc__) if __name__ == "__main__" else None
if ARGS is not None:
    common.pin_threads(ARGS.threads)
    if ARGS.threads == 1:
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                                   " --xla_cpu_multi_thread_eigen=false"
                                   " intra_op_parallelism_threads=1").strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from jax import lax  # noqa: E402

ACT = {"sigmoid": jax.nn.sigmoid, "relu": jax.nn.relu, "tanh": jnp.tanh, "identity": lambda z: z}
EVAL_CHUNK = 1000


# ---------------------------------------------------------------------------------------------
# Networks: (params, forward) with params a list of dicts; forward(params, x) -> z of the output

def normal(rng, shape, std):
    return jnp.asarray(rng.standard_normal(shape, dtype=np.float32) * np.float32(std))


def build(args, rng):
    """(params, decayed keys per layer, forward of [m, 784] floats -> z [m, 10])."""
    if args.kind == "mlp":
        sizes = common.mlp_sizes(args)
        params = [{"w": normal(rng, (o, i), 1 / math.sqrt(i)), "b": normal(rng, (o,), 1.0)}
                  for i, o in zip(sizes[:-1], sizes[1:])]

        def forward(params, x):
            a = x
            for p in params[:-1]:
                a = jax.nn.sigmoid(a @ p["w"].T + p["b"])
            return a @ params[-1]["w"].T + params[-1]["b"]
        return params, forward
    layers = common.parse_arch(args.arch)
    if args.kind == "rnn":
        h = layers[0][1]
        bias = np.zeros(4 * h, np.float32)
        bias[h : 2 * h] = 1.0  # the forget gate's quarter
        params = [{"w": normal(rng, (4 * h, common.FEATURES), 1 / math.sqrt(common.FEATURES)),
                   "u": normal(rng, (4 * h, h), 1 / math.sqrt(h)), "b": jnp.asarray(bias)},
                  {"w": normal(rng, (10, h), 1 / math.sqrt(h)), "b": normal(rng, (10,), 1.0)}]

        def forward(params, x):
            lstm, out = params
            m = x.shape[0]
            xs = x.reshape(m, common.STEPS, common.FEATURES).transpose(1, 0, 2)  # [28, m, 28]
            gx = xs @ lstm["w"].T + lstm["b"]  # [28, m, 4h]: every step's input product

            def cell(carry, g):
                hh, c = carry
                g = g + hh @ lstm["u"].T
                i, f, gg, o = jnp.split(g, 4, axis=1)
                c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(gg)
                hh = jax.nn.sigmoid(o) * jnp.tanh(c)
                return (hh, c), None

            zero = jnp.zeros((m, h), x.dtype)
            (hh, _), _ = lax.scan(cell, (zero, zero), gx)
            return hh @ out["w"].T + out["b"]
        return params, forward
    params, plan = [], []
    c, hw, flat = 1, 28, None
    for i, (kind, spec) in enumerate(layers):
        if kind == "conv":
            f, k, act = spec
            fan = c * k * k
            params.append({"w": normal(rng, (f, c, k, k), 1 / math.sqrt(fan)),
                           "b": normal(rng, (f,), 1.0)})
            pooled = i + 1 < len(layers) and layers[i + 1][0] == "maxpool"
            plan.append(("conv", act, layers[i + 1][1] if pooled else None))
            c, hw = f, hw - k + 1
        elif kind == "maxpool":
            hw //= spec  # done with its conv (pool, then activate)
        else:
            n_in = flat if flat is not None else c * hw * hw
            n, act = spec if kind == "dense" else (spec, None)
            params.append({"w": normal(rng, (n, n_in), 1 / math.sqrt(n_in)),
                           "b": normal(rng, (n,), 1.0)})
            plan.append(("dense", act, None))
            flat = n

    def forward(params, x):
        a = x.reshape(x.shape[0], 1, 28, 28)  # NCHW
        for p, (kind, act, pool) in zip(params, plan):
            if kind == "conv":
                a = lax.conv_general_dilated(a, p["w"], (1, 1), "VALID",
                                             dimension_numbers=("NCHW", "OIHW", "NCHW"))
                a = a + p["b"][None, :, None, None]
                if pool:
                    a = lax.reduce_window(a, -jnp.inf, lax.max, (1, 1, pool, pool),
                                          (1, 1, pool, pool), "VALID")
            else:
                if a.ndim > 2:  # channel-major, as nndl flattens
                    a = a.reshape(a.shape[0], -1)
                a = a @ p["w"].T + p["b"]
            if act is not None:
                a = ACT[act](a)
        return a
    return params, forward


def make_loss(args, forward):
    if args.cost == "quadratic":
        def loss(params, x, y):
            return 0.5 * jnp.sum((jax.nn.sigmoid(forward(params, x)) - y) ** 2) / x.shape[0]
    elif args.cost == "cross-entropy":
        def loss(params, x, y):
            z = forward(params, x)
            return jnp.sum(jnp.maximum(z, 0) - z * y + jnp.log1p(jnp.exp(-jnp.abs(z)))) / x.shape[0]
    else:
        def loss(params, x, labels):
            logp = jax.nn.log_softmax(forward(params, x))
            return -jnp.mean(jnp.take_along_axis(logp, labels[:, None], axis=1))
    return loss


def make_update(args, n):
    """(initial optimiser state, update(params, grads, state) -> (params, state))."""
    eta = args.eta
    if args.optimizer == "adam":
        b1, b2, eps = 0.9, 0.999, 1e-8

        def init(params):
            def zeros():
                return jax.tree_util.tree_map(jnp.zeros_like, params)
            return {"m": zeros(), "v": zeros(), "t": jnp.zeros((), jnp.float32)}

        def update(params, grads, s):
            t = s["t"] + 1
            m = jax.tree_util.tree_map(lambda m, g: b1 * m + (1 - b1) * g, s["m"], grads)
            v = jax.tree_util.tree_map(lambda v, g: b2 * v + (1 - b2) * g * g, s["v"], grads)
            c1, c2 = 1 - b1**t, 1 - b2**t
            params = jax.tree_util.tree_map(
                lambda p, m, v: p - eta * (m / c1) / (jnp.sqrt(v / c2) + eps), params, m, v)
            return params, {"m": m, "v": v, "t": t}
        return init, update
    decay = 1.0 - eta * args.lam / n

    def init(params):
        return ()

    def update(params, grads, s):
        # L2 on weights only ("w", "u"), not on biases: w ← (1 − ηλ/n) w − η∇.
        return [{k: (decay * v if k != "b" else v) - eta * grads[i][k] for k, v in p.items()}
                for i, p in enumerate(params)], s
    return init, update


def make_epoch(args, loss, update, n, convert):
    m = args.batch_size
    full, tail = common.batches(n, m)
    one_hot = args.kind == "mlp"
    grad = jax.grad(loss)

    def step(carry, batch):
        params, s = carry
        x, y = batch
        params, s = update(params, grad(params, x, y), s)
        return (params, s), None

    def epoch(params, s, x, labels, perm):
        xs = x[perm]
        if convert:
            xs = xs.astype(jnp.float32) / 255.0
        ys = labels[perm]
        if one_hot:
            ys = jax.nn.one_hot(ys, 10, dtype=jnp.float32)
        head = (xs[: full * m].reshape(full, m, -1), ys[: full * m].reshape((full, m) + ys.shape[1:]))
        (params, s), _ = lax.scan(step, (params, s), head)
        if tail:
            (params, s), _ = step((params, s), (xs[full * m :], ys[full * m :]))
        return params, s
    return jax.jit(epoch, donate_argnums=(0, 1))


def train(args, x_u8, labels):
    n = len(labels)
    rng = np.random.default_rng(args.seed)
    params, forward = build(args, rng)
    loss = make_loss(args, forward)
    init, update = make_update(args, n)
    s = init(params)
    inside = args.convert == "inside"
    x_dev = jnp.asarray(x_u8) if inside else jnp.asarray(x_u8.astype(np.float32) / np.float32(255))
    y_dev = jnp.asarray(labels.astype(np.int32))
    t0 = time.perf_counter()
    compiled = make_epoch(args, loss, update, n, inside).lower(
        params, s, x_dev, y_dev, jnp.arange(n, dtype=jnp.int32)).compile()
    compile_seconds = time.perf_counter() - t0
    wall, cpu = [], []
    for _ in range(args.epochs):
        t0, c0 = time.perf_counter(), time.process_time()
        perm = jnp.asarray(rng.permutation(n).astype(np.int32))
        params, s = compiled(params, s, x_dev, y_dev, perm)
        jax.block_until_ready(params)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return params, forward, wall, cpu, compile_seconds


def accuracy(params, forward, tx_u8, tl):
    predict = jax.jit(lambda p, x: jnp.argmax(forward(p, x.astype(jnp.float32) / 255.0), axis=1))
    correct = 0
    for k in range(0, len(tl), EVAL_CHUNK):
        correct += int(np.sum(np.asarray(predict(params, tx_u8[k : k + EVAL_CHUNK])) ==
                              tl[k : k + EVAL_CHUNK]))
    return correct


def evaluate_model(args, tx_u8, tl):
    """`nndl eval MODEL --repeat N`: (seconds, compile seconds, cost, correct)."""
    tensors, meta = common.read_safetensors(args.eval)
    params = []
    for i, spec in enumerate(meta["architecture"]):
        if spec["kind"] != "dense" or spec["activation"] != "sigmoid":
            raise SystemExit(f"layer {i}: only sigmoid dense layers here (eval-10k's model)")
        params.append({"w": jnp.asarray(tensors[f"layers.{i}.weights"]),
                       "b": jnp.asarray(tensors[f"layers.{i}.biases"])})
    if meta["cost"] != "quadratic":
        raise SystemExit("only the quadratic cost here (eval-10k's model)")
    n = len(tl)

    def evaluate(params, x_u8, labels):
        a = x_u8.astype(jnp.float32) / 255.0
        for p in params:
            a = jax.nn.sigmoid(a @ p["w"].T + p["b"])
        y = jax.nn.one_hot(labels, 10, dtype=jnp.float32)
        return 0.5 * jnp.sum((a - y) ** 2) / n, jnp.sum(jnp.argmax(a, axis=1) == labels)

    x, y = jnp.asarray(tx_u8), jnp.asarray(tl.astype(np.int32))
    t0 = time.perf_counter()
    compiled = jax.jit(evaluate).lower(params, x, y).compile()
    compile_seconds = time.perf_counter() - t0
    times = []
    for _ in range(max(1, args.repeat)):
        t0 = time.perf_counter()
        c, correct = compiled(params, x, y)
        c, correct = float(c), int(correct)
        times.append(time.perf_counter() - t0)
    return times, compile_seconds, c, correct


def versions():
    return {"jax": jax.__version__, "jaxlib": getattr(jax.lib, "__version__", None) or
            __import__("jaxlib").__version__, "devices": [str(d) for d in jax.devices()],
            "xla_flags": os.environ.get("XLA_FLAGS", "")}


def main():
    args = ARGS
    started = time.perf_counter()
    x_u8, labels, tx_u8, tl = common.load(args)
    load_seconds = time.perf_counter() - started
    if args.kind == "eval":
        times, compile_seconds, c, correct = evaluate_model(args, tx_u8, tl)
        common.report(seconds=statistics.median(times), all_seconds=times,
                      compile_seconds=compile_seconds, test_cost=c, test_correct=correct,
                      test_total=len(tl), test_accuracy=correct / len(tl), anchor="jax",
                      threads=args.threads, **versions())
        return
    params, forward, wall, cpu, compile_seconds = train(args, x_u8, labels)
    correct = accuracy(params, forward, tx_u8, tl)
    common.report(epoch_seconds=wall, epoch_cpu_seconds=cpu, compile_seconds=compile_seconds,
                  test_correct=correct, test_total=len(tl), test_accuracy=correct / len(tl),
                  load_seconds=load_seconds, anchor="jax", convert=args.convert,
                  threads=args.threads, **versions())


if __name__ == "__main__":
    main()
