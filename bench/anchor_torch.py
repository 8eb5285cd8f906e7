"""PyTorch (CPU) written for speed: the strongest PyTorch twin of `nndl train` and `nndl eval`.

    python bench/anchor_torch.py --mode tuned|compile --data DIR (--layers L | --arch A | --eval MODEL) …

The same computation as nndl (and as the eager scripts torch_mlp.py, torch_cnn.py, torch_lstm.py,
torch_eval.py: initialisation, costs, L2 on the weights only, Adam), written the way someone who
knows PyTorch would write it for speed:
  - the data as nndl holds it (bytes), one gather per epoch of the shuffled set, turned into floats
    (byte / 255) and one-hot rows inside the timed span as nndl does (see anchor_common.py), then
    contiguous slices as mini-batches;
  - MLPs (--layers): hand-written backprop under no_grad (the book's equations: addmm for the
    forward pass, δ = (a − y)·σ'(z) or a − y, the update fused into the weight-gradient product,
    W.addmm_(δᵀ, a, beta = 1 − ηλ/n, alpha = −η/m)); `--backprop autograd` instead uses
    F.mse_loss / binary_cross_entropy_with_logits and a fused SGD;
  - conv nets (--arch conv …): autograd, channels_last, pool-then-activate (max pooling commutes
    with a monotone activation, so the result is the same on 4× fewer numbers, as nndl does it),
    F.cross_entropy (fused log_softmax + nll), fused SGD with weight decay λ/n on the weights;
  - LSTM (--arch "lstm H; softmax 10"): nn.LSTM (one fused op per sequence) as torch_lstm.py,
    fused Adam;
  - --eval: addmm layers under inference_mode, the test bytes turned into floats inside the timed
    span as `nndl eval` does.
`--mode compile` wraps the training step (or the evaluation) in torch.compile (Inductor). The
compilation happens on warm-up steps before the first epoch (every mini-batch shape once, on the
real parameters, which are restored afterwards, with the optimiser's state): its time is reported
as compile_seconds and excluded from the epochs.

Prints one JSON object on its last line of stdout (torch_mlp.py's fields, plus epoch_cpu_seconds,
compile_seconds and the library's CPU capability).
"""

import math
import statistics
import sys
import time
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent))
import anchor_common as common  # noqa: E402



def _backprop(p):
    p.add_argument("--backprop", choices=["manual", "autograd"], default="manual",
                   help="MLPs: the book's equations by hand (default) or autograd + fused SGD")


ARGS = (common.parse_args(__doc__, modes=["tuned", "compile"], extra=_backprop)
        if __name__ == "__main__" else None)
if ARGS is not None:
    common.pin_threads(ARGS.threads)

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

ACT = {"sigmoid": torch.sigmoid, "relu": torch.relu, "tanh": torch.tanh, "identity": lambda z: z}
EVAL_CHUNK = 1000


# ---------------------------------------------------------------------------------------------
# MLP, hand-written backprop

class ManualMLP:
    """[784, …, 10] sigmoid layers; W [n_out, n_in], b [n_out]; x [m, n_in] -> a [m, n_out]."""

    def __init__(self, sizes, cost, eta, lam, n):
        self.w, self.b = [], []
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            self.w.append(torch.empty(n_out, n_in).normal_(0.0, 1.0 / math.sqrt(n_in)))
            self.b.append(torch.empty(n_out).normal_(0.0, 1.0))
        self.quadratic = cost == "quadratic"
        self.eta, self.decay = eta, 1.0 - eta * lam / n

    def params(self):
        return [t for pair in zip(self.w, self.b) for t in pair]

    def forward(self, x):
        a = x
        for w, b in zip(self.w, self.b):
            a = torch.sigmoid(torch.addmm(b, a, w.t()))
        return a

    def step(self, x, y):
        step(self.w, self.b, x, y, self.quadratic, self.eta, self.decay)


def step(ws, bs, x, y, quadratic, eta, decay):
    """One SGD step on the mini-batch x [m, n_in], y [m, n_out] one-hot, in place."""
    acts = [x]
    for w, b in zip(ws, bs):
        acts.append(torch.sigmoid(torch.addmm(b, acts[-1], w.t())))
    a = acts[-1]
    delta = a - y  # cross-entropy with sigmoid outputs: δ = a − y
    if quadratic:
        delta = delta * a * (1.0 - a)  # δ = (a − y)·σ'(z), σ' = a(1 − a)
    alpha = -eta / x.shape[0]
    for layer in range(len(ws) - 1, -1, -1):
        a_prev = acts[layer]
        d_prev = (delta @ ws[layer]) * a_prev * (1.0 - a_prev) if layer else None
        ws[layer].addmm_(delta.t(), a_prev, beta=decay, alpha=alpha)
        bs[layer].add_(delta.sum(0), alpha=alpha)
        delta = d_prev


# ---------------------------------------------------------------------------------------------
# Autograd networks: MLP, conv, LSTM

class Net(torch.nn.Module):
    """Layers of nndl's arch (or an MLP of sigmoid layers); forward gives the output's z."""

    def __init__(self, layers):
        super().__init__()
        self.mods = torch.nn.ModuleList(m for _, m, _ in layers)
        self.plan = [(kind, act) for kind, _, act in layers]

    def forward(self, x):
        a = x
        plan = self.plan
        i = 0
        while i < len(plan):
            kind, act = plan[i]
            mod = self.mods[i]
            if kind in ("dense", "out") and a.dim() > 2:
                a = a.reshape(a.shape[0], -1)  # NCHW order, channel-major, as nndl flattens
            a = mod(a)
            if kind == "conv" and i + 1 < len(plan) and plan[i + 1][0] == "pool":
                a = self.mods[i + 1](a)  # pool, then activate: max commutes with it
                i += 1
            if act is not None:
                a = ACT[act](a)
            i += 1
        return a


def normal_init(mod, fan_in):
    with torch.no_grad():
        mod.weight.normal_(0.0, 1.0 / math.sqrt(fan_in))
        mod.bias.normal_(0.0, 1.0)
    return mod


def build_autograd(args):
    """(module, params with weight decay, params without, the loss of (z, target))."""
    if args.kind == "rnn":
        import torch_lstm
        hidden = common.parse_arch(args.arch)[0][1]
        lstm, out = torch_lstm.build(hidden)

        class LSTMNet(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.lstm, self.out = lstm, out

            def forward(self, x):
                seq, _ = self.lstm(x)
                return self.out(seq[:, -1])

        net = LSTMNet()
        return net, torch_lstm.trained(lstm, out), [], F.cross_entropy
    layers = []
    if args.kind == "mlp":
        sizes = common.mlp_sizes(args)
        for k, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            last = k == len(sizes) - 2
            layers.append(("out" if last else "dense",
                           normal_init(torch.nn.Linear(n_in, n_out), n_in),
                           None if last else "sigmoid"))
        if args.cost == "quadratic":
            def loss(z, y):
                return 0.5 * F.mse_loss(torch.sigmoid(z), y, reduction="sum") / z.shape[0]
        else:
            def loss(z, y):
                return F.binary_cross_entropy_with_logits(z, y, reduction="sum") / z.shape[0]
    else:
        shape = (1, 28, 28)
        flat = None
        for kind, spec in common.parse_arch(args.arch):
            if kind == "conv":
                f, k, act = spec
                c, h, w = shape
                layers.append(("conv", normal_init(torch.nn.Conv2d(c, f, k), c * k * k), act))
                shape = (f, h - k + 1, w - k + 1)
            elif kind == "maxpool":
                c, h, w = shape
                layers.append(("pool", torch.nn.MaxPool2d(spec), None))
                shape = (c, h // spec, w // spec)
            else:
                n_in = flat if flat is not None else shape[0] * shape[1] * shape[2]
                n, act = spec if kind == "dense" else (spec, None)
                layers.append(("dense" if kind == "dense" else "out",
                               normal_init(torch.nn.Linear(n_in, n), n_in), act))
                flat = n
        loss = F.cross_entropy  # log_softmax + nll_loss, mean over the mini-batch
    net = Net(layers)
    if args.kind == "cnn":
        net = net.to(memory_format=torch.channels_last)
    decayed = [m.weight for m in net.mods if hasattr(m, "weight")]
    plain = [m.bias for m in net.mods if hasattr(m, "bias")]
    return net, decayed, plain, loss


def optimiser(args, decayed, plain, n):
    if args.optimizer == "adam":
        return torch.optim.Adam(decayed + plain, lr=args.eta, betas=(0.9, 0.999), eps=1e-8,
                                weight_decay=0.0, fused=True)
    # torch's weight_decay adds wd·w to the gradient: w ← (1 − ηλ/n) w − η∇.
    groups = [{"params": decayed, "weight_decay": args.lam / n}]
    if plain:
        groups.append({"params": plain, "weight_decay": 0.0})
    return torch.optim.SGD(groups, lr=args.eta, fused=True)


# ---------------------------------------------------------------------------------------------
# Training and evaluation

def targets(args, labels):
    """What the cost compares with: one-hot float rows for the MLP costs, else the labels."""
    return F.one_hot(labels, 10).to(torch.float32) if args.kind == "mlp" else labels


def inputs(args, flat):
    """[n, 784] floats as the network takes them."""
    if args.kind == "cnn":
        return flat.view(-1, 1, 28, 28).contiguous(memory_format=torch.channels_last)
    if args.kind == "rnn":
        return flat.view(-1, common.STEPS, common.FEATURES)
    return flat


def train(args, x_u8, labels, n):
    """(epoch wall seconds, epoch CPU seconds, compile seconds, forward function)."""
    m = args.batch_size
    manual = args.kind == "mlp" and args.backprop == "manual"
    if manual:
        net = ManualMLP(common.mlp_sizes(args), args.cost, args.eta, args.lam, n)
        params, state = net.params(), lambda: []
        quadratic, eta, decay = net.quadratic, net.eta, net.decay

        def run(xb, yb):
            step(net.w, net.b, xb, yb, quadratic, eta, decay)
        forward = net.forward
    else:
        module, decayed, plain, loss_fn = build_autograd(args)
        opt = optimiser(args, decayed, plain, n)
        params = decayed + plain

        def state():
            return [v for s in opt.state.values() for v in s.values() if torch.is_tensor(v)]

        def run(xb, yb):
            loss = loss_fn(module(xb), yb)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)

        def forward(x):
            z = module(x)
            return torch.sigmoid(z) if args.kind == "mlp" else z

    compile_seconds = 0.0
    if args.mode == "compile":
        run = torch.compile(run, dynamic=False, fullgraph=manual)
        # Warm-up: compile each mini-batch shape on the real parameters, then put them (and the
        # optimiser's state) back as they were.
        saved = [p.detach().clone() for p in params]
        t0 = time.perf_counter()
        full, tail = common.batches(n, m)
        x0 = inputs(args, torch.from_numpy(x_u8[:m]).float().div_(255))
        y0 = targets(args, torch.from_numpy(labels[:m]))
        ctx = torch.no_grad() if manual else torch.enable_grad()
        with ctx:
            for size in [m] + ([tail] if tail and full else []):
                run(x0[:size], y0[:size])
                run(x0[:size], y0[:size])
        compile_seconds = time.perf_counter() - t0
        with torch.no_grad():
            for p, s in zip(params, saved):
                p.copy_(s)
            for v in state():
                v.zero_()

    x_t, y_t = torch.from_numpy(x_u8), torch.from_numpy(labels)
    x_f = x_t.float().div_(255) if args.convert == "outside" else None
    gen = torch.Generator().manual_seed(args.seed)
    wall, cpu = [], []
    ctx = torch.no_grad() if manual else torch.enable_grad()
    with ctx:
        for _ in range(args.epochs):
            t0, c0 = time.perf_counter(), time.process_time()
            order = torch.randperm(n, generator=gen)
            if x_f is None:
                xs = x_t.index_select(0, order).float().div_(255)
            else:
                xs = x_f.index_select(0, order)
            xs, ys = inputs(args, xs), targets(args, y_t.index_select(0, order))
            for k in range(0, n, m):
                run(xs[k : k + m], ys[k : k + m])
            wall.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    return wall, cpu, compile_seconds, forward


def accuracy(args, forward, tx_u8, tl):
    correct = 0
    with torch.no_grad():
        for k in range(0, len(tl), EVAL_CHUNK):
            x = inputs(args, torch.from_numpy(tx_u8[k : k + EVAL_CHUNK]).float().div_(255))
            correct += int((forward(x).argmax(dim=1) == torch.from_numpy(tl[k : k + EVAL_CHUNK])).sum())
    return correct


def evaluate_model(args, tx_u8, tl):
    """`nndl eval MODEL --repeat N`: (median seconds, all seconds, compile seconds, cost, correct)."""
    tensors, meta = common.read_safetensors(args.eval)
    layers = []
    for i, spec in enumerate(meta["architecture"]):
        if spec["kind"] != "dense":
            raise SystemExit(f"layer {i}: kind {spec['kind']!r} is not supported here")
        layers.append((torch.from_numpy(tensors[f"layers.{i}.weights"]),
                       torch.from_numpy(tensors[f"layers.{i}.biases"]), spec["activation"]))
    cost = meta["cost"]
    if cost != "quadratic" or layers[-1][2] != "sigmoid":
        raise SystemExit("only sigmoid outputs with the quadratic cost here (eval-10k's model)")
    x_u8, labels = torch.from_numpy(tx_u8), torch.from_numpy(tl)
    n = len(labels)

    def evaluate(x_u8, labels):
        a = x_u8.float().div_(255)
        for w, b, act in layers:
            a = ACT[act](torch.addmm(b, a, w.t()))
        y = F.one_hot(labels, 10).to(torch.float32)
        c = 0.5 * F.mse_loss(a, y, reduction="sum") / n
        return c, (a.argmax(dim=1) == labels).sum()

    compile_seconds = 0.0
    if args.mode == "compile":
        evaluate = torch.compile(evaluate, dynamic=False)
        t0 = time.perf_counter()
        with torch.inference_mode():
            evaluate(x_u8, labels)
        compile_seconds = time.perf_counter() - t0
    times = []
    with torch.inference_mode():
        for _ in range(max(1, args.repeat)):
            t0 = time.perf_counter()
            c, correct = evaluate(x_u8, labels)
            c, correct = float(c), int(correct)
            times.append(time.perf_counter() - t0)
    return times, compile_seconds, c, correct


def versions():
    return {"torch": torch.__version__, "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "threads": torch.get_num_threads()}


def main():
    args = ARGS
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(args.threads)
    torch.manual_seed(args.seed)
    started = time.perf_counter()
    x_u8, labels, tx_u8, tl = common.load(args)
    load_seconds = time.perf_counter() - started
    if args.kind == "eval":
        times, compile_seconds, c, correct = evaluate_model(args, tx_u8, tl)
        common.report(seconds=statistics.median(times), all_seconds=times,
                      compile_seconds=compile_seconds, test_cost=c, test_correct=correct,
                      test_total=len(tl), test_accuracy=correct / len(tl),
                      anchor=f"torch-{args.mode}", **versions())
        return
    n = len(labels)
    wall, cpu, compile_seconds, forward = train(args, x_u8, labels, n)
    correct = accuracy(args, forward, tx_u8, tl)
    common.report(epoch_seconds=wall, epoch_cpu_seconds=cpu, compile_seconds=compile_seconds,
                  test_correct=correct, test_total=len(tl), test_accuracy=correct / len(tl),
                  load_seconds=load_seconds, anchor=f"torch-{args.mode}",
                  backprop=args.backprop if args.kind == "mlp" else "autograd",
                  convert=args.convert, **versions())


if __name__ == "__main__":
    main()
