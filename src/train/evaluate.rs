//! How well a network does: cost and accuracy on a set of examples, and how fast each layer
//! learns (chapter 5's gradient norms).

use crate::buffer::Buf;
use crate::data::Examples;
use crate::layers::{LayerSpec, Prepared};
use crate::network::{Network, Workspace};
use crate::optim::Regulariser;

/// Cost and accuracy of a network on a set of examples.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Evaluation {
    /// Mean cost per example plus the regularisation penalty.
    pub cost: f64,
    /// Answers right (one per example, or one per step of a sequence).
    pub correct: usize,
    /// Answers given.
    pub total: usize,
}

impl Evaluation {
    /// Fraction answered right, in [0, 1].
    pub fn accuracy(&self) -> f64 {
        if self.total == 0 { 0.0 } else { self.correct as f64 / self.total as f64 }
    }
}

/// Examples per forward pass when evaluating: up to 1000 (large enough for efficient
/// products), fewer where a net keeps much per example (conv nets' im2col columns), so that a
/// chunk's buffers stay near 16 MB per thread.
pub fn eval_chunk(specs: &[LayerSpec]) -> usize {
    let per_example: usize = specs.iter().map(|s| s.floats_per_example()).sum();
    (4_000_000 / per_example.max(1)).clamp(1, 1000)
}

/// Runs `data` through the network in chunks on up to `threads` threads (each taking a
/// contiguous share of the chunks, with a workspace of its own) and counts the answers it gets
/// right: the largest output of each one-hot group of the target (see [`Examples`]). The
/// figures do not depend on the thread count except for the order in which the per-thread
/// cost sums are added. To evaluate again and again, keep an [`Evaluator`].
pub fn evaluate<E: Examples + ?Sized>(
    net: &Network,
    data: &E,
    reg: &Regulariser,
    threads: usize,
) -> Evaluation {
    Evaluator::default().evaluate(net, data, reg, threads)
}

/// [`evaluate`] again and again (after every epoch, or `nndl eval --repeat`), each thread's
/// buffers kept between calls: a call after the first allocates no new memory (fresh memory
/// costs a page fault per 4 KB on first use, 3% of evaluating MNIST's test set on two threads).
/// For one network's shapes; it starts afresh if given another.
#[derive(Default)]
pub struct Evaluator {
    specs: Vec<LayerSpec>,
    parts: Vec<Part>,
    /// Wᵀ for a first layer that reads bytes (Network::feedforward_bytes), made for all the
    /// threads of an evaluation, again only if the weights have changed.
    prepared: Prepared,
}

/// One thread's buffers.
struct Part {
    ws: Workspace,
    /// Inputs, made only if some chunk is not read from bytes (below); targets.
    x: Buf,
    y: Buf,
    idx: Vec<usize>,
}

impl Evaluator {
    /// See [`evaluate`].
    pub fn evaluate<E: Examples + ?Sized>(
        &mut self,
        net: &Network,
        data: &E,
        reg: &Regulariser,
        threads: usize,
    ) -> Evaluation {
        let specs = net.specs();
        let chunk = eval_chunk(&specs);
        let chunks = data.len().div_ceil(chunk);
        // Each thread holds a workspace for a chunk: no more of them than memory holds.
        let per_thread = crate::memory::inference_bytes(&specs, chunk, 1);
        let room = (u128::from(crate::memory::budget()) / per_thread.max(1)).max(1);
        let parts = threads.clamp(1, chunks.max(1)).min(usize::try_from(room).unwrap_or(usize::MAX));
        let per_part = chunks.div_ceil(parts) * chunk;
        if self.specs != specs {
            self.parts.clear();
            self.specs = specs;
        }
        while self.parts.len() < parts {
            self.parts.push(Part {
                ws: net.workspace(0),
                x: Buf::default(),
                y: Buf::default(),
                idx: Vec::new(),
            });
        }
        // (made by the last evaluation: kept, even if that one was cut short by a panic)
        self.prepared.put_back();
        let prepared = &self.prepared;
        let range = |p: usize| p * per_part..((p + 1) * per_part).min(data.len());
        // one share per thread: on the calling thread's team if it leads one, else on rayon's
        // pool (threads that already exist: spawning one per call cost more than the work of a
        // small test set)
        let mut sums = vec![(0.0f64, 0usize); parts];
        let shares: Vec<_> = self.parts[..parts].iter_mut().zip(&mut sums).enumerate().collect();
        crate::team::for_parts(shares, |(p, (part, sum))| {
            *sum = part.evaluate_range(net, data, range(p), chunk, prepared);
        });
        let (cost, correct) = sums.into_iter().fold((0.0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
        self.prepared.put_back();
        let n = data.len().max(1) as f64;
        let groups = data.target_size() / data.class_count().max(1);
        Evaluation { cost: cost / n + reg.penalty(net), correct, total: data.len() * groups }
    }
}

impl Part {
    /// Summed cost and number right over `range` of `data`, `chunk` examples per forward pass.
    fn evaluate_range<E: Examples + ?Sized>(
        &mut self,
        net: &Network,
        data: &E,
        range: std::ops::Range<usize>,
        chunk: usize,
        prepared: &Prepared,
    ) -> (f64, usize) {
        let (inputs, targets, k) = (data.input_size(), data.target_size(), data.class_count().max(1));
        let chunk = chunk.min(range.len()).max(1);
        let Part { ws, x, y, idx } = self;
        y.resize(chunk * targets);
        let (mut cost, mut correct) = (0.0f64, 0usize);
        for start in range.clone().step_by(chunk) {
            let end = (start + chunk).min(range.end);
            let n = end - start;
            // examples stored as bytes, mostly 0, go through the first layer as they are
            let from_bytes = data
                .bytes_and_targets(start..end, &mut y[..n * targets])
                .is_some_and(|bytes| net.feedforward_bytes(ws, bytes, n, prepared));
            if !from_bytes {
                x.resize(chunk * inputs);
                idx.clear();
                idx.extend(start..end);
                data.fill(idx, &mut x[..n * inputs], &mut y[..n * targets]);
                net.feedforward(ws, x.rows(n, inputs), false);
            }
            let y = y.rows(n, targets);
            let a = ws.output(net);
            cost += net.cost.total(a, y);
            for (out, want) in a.rows().into_iter().zip(y.rows()) {
                let (out, want) = (out.as_slice().expect("contiguous"), want.as_slice().expect("contiguous"));
                correct += out
                    .chunks_exact(k)
                    .zip(want.chunks_exact(k))
                    .filter(|(o, w)| argmax(o.iter().copied()) == argmax(w.iter().copied()))
                    .count();
            }
        }
        (cost, correct)
    }
}

/// How fast each layer is learning (chapter 5): the length of the bias gradient
/// ‖∂C/∂b^l‖ = ‖δ^l‖ averaged over the first `examples` examples of `data` (at most 1,000 are
/// taken per backward pass and their gradients averaged), one figure per layer that has
/// biases, first layer first. The network's parameters are not changed.
pub fn gradient_norms<E: Examples + ?Sized>(net: &Network, data: &E, examples: usize) -> Vec<f64> {
    let n = examples.min(data.len());
    let (inputs, targets) = (data.input_size(), data.target_size());
    let chunk = n.clamp(1, 1000);
    let (mut x, mut y) = (Buf::zeros(chunk * inputs), Buf::zeros(chunk * targets));
    let mut ws = net.workspace(0);
    // Where each layer's biases are among its parameters.
    let biases: Vec<Option<usize>> =
        net.layers.iter().map(|l| l.spec().params().iter().position(|p| p.name == "biases")).collect();
    let mut sums: Vec<Vec<f64>> = Vec::new();
    for start in (0..n).step_by(chunk) {
        let k = (start + chunk).min(n) - start;
        let idx: Vec<usize> = (start..start + k).collect();
        data.fill(&idx, &mut x[..k * inputs], &mut y[..k * targets]);
        net.backprop(&mut ws, x.rows(k, inputs), y.rows(k, targets));
        let layer_sums = biases.iter().enumerate().filter_map(|(l, b)| {
            b.map(|b| ws.work(l).grads[b].iter().map(|&g| g as f64).collect::<Vec<f64>>())
        });
        if sums.is_empty() {
            sums = layer_sums.collect();
        } else {
            for (total, part) in sums.iter_mut().zip(layer_sums) {
                total.iter_mut().zip(part).for_each(|(t, p)| *t += p);
            }
        }
    }
    let n = n.max(1) as f64;
    sums.iter().map(|g| g.iter().map(|v| (v / n).powi(2)).sum::<f64>().sqrt()).collect()
}

/// Index of the largest value (the first, on ties).
pub fn argmax(values: impl Iterator<Item = f32>) -> usize {
    let mut best = (0, f32::NEG_INFINITY);
    for (i, v) in values.enumerate() {
        if v > best.1 {
            best = (i, v);
        }
    }
    best.0
}
