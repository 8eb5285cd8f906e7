"""The arithmetic of a workload: floating-point operations of its matrix products per epoch
(standard library only).

A multiply-add counts 2. Training an example costs its forward products plus, in the backward
pass, the weight-gradient products (as many again) and the products that carry δ back to the
layer below (as many again, except for the first layer, whose input needs no δ). Elementwise work
(activations, pooling, the cost, the update) is left out: it is a few percent of these nets'
arithmetic, and memory-bound anyway. Dividing by a measured peak (bench/peak_gflops.py) gives the
arithmetic limit: the least time an epoch can take on this machine.
"""

IMAGE = (1, 28, 28)  # channels, height, width
STEPS, FEATURES = 28, 28  # an image read by an LSTM


def _layers(w):
    """[(forward FLOPs per example, is first layer)] of a workload's network."""
    out = []
    if w["kind"] == "mlp" or "layers" in w:
        sizes = [int(s) for s in w["layers"].split(",")]
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            out.append((2 * a * b, i == 0))
        return out
    c, h, wd = IMAGE
    flat = None
    specs = [s.split() for s in w["arch"].lower().split(";") if s.strip()]
    for words in specs:
        kind, rest = words[0], words[1:]
        first = not out
        if kind == "conv":
            f, k = int(rest[0]), int(rest[1].split("x")[0])
            h, wd = h - k + 1, wd - k + 1
            out.append((2 * c * k * k * f * h * wd, first))
            c = f
        elif kind == "maxpool":
            k = int(rest[0])
            h, wd = h // k, wd // k
        elif kind in ("dense", "softmax"):
            n_in = flat if flat is not None else c * h * wd
            n = int(rest[0])
            out.append((2 * n_in * n, first))
            flat = n
        elif kind == "lstm":
            hidden = int(rest[0])
            # forward: every step's input and recurrent products; backward: their weight
            # gradients and δ through the recurrent weights (the input needs none).
            fwd = STEPS * 2 * 4 * hidden * (FEATURES + hidden)
            out.append((fwd, "lstm", STEPS * 2 * 4 * hidden * hidden))
            flat = hidden
    return out


def train_flops_per_example(w):
    total = 0
    for layer in _layers(w):
        if len(layer) == 3:  # lstm: forward, weight gradients (as many), δ through U
            fwd, _, recurrent = layer
            total += 2 * fwd + recurrent
        else:
            fwd, first = layer
            total += fwd * (2 if first else 3)
    return total


def forward_flops_per_example(w):
    return sum(layer[0] for layer in _layers(w))


def epoch_flops(w, images):
    """FLOPs of one training epoch of `images` examples of workload `w` (a harness workload)."""
    return train_flops_per_example(w) * images


def eval_flops(w, images=10_000):
    """FLOPs of classifying `images` examples (the forward products only)."""
    return forward_flops_per_example(w) * images
