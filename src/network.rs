//! A network: layers in a row, a cost, and backpropagation over a whole mini-batch.

use crate::Rng;
use crate::activation::Activation;
use crate::buffer::Buf;
use crate::cost::Cost;
use crate::layers::{FusedStep, Init, Layer, LayerSpec, SparseTraining, Work};
use ndarray::{ArrayView2, ArrayViewMut2};
use thiserror::Error;

/// Why a set of layers cannot form a network.
#[derive(Debug, Error, PartialEq)]
pub enum NetworkError {
    #[error("a network needs at least one layer")]
    Empty,
    #[error("layer {index} ({layer}) takes {expected} inputs but the layer before gives {got}")]
    Mismatch { index: usize, layer: String, expected: usize, got: usize },
    #[error("layer sizes must be at least 1 (got {0:?})")]
    ZeroSize(Vec<usize>),
    #[error("{0}")]
    CostOutput(String),
    #[error("the output layer has no neurons; end the network with a dense layer")]
    NoOutputNeurons,
    #[error("layer {index} ({layer}): {why}")]
    Layer { index: usize, layer: String, why: String },
    #[error(
        "its {params} parameters need {} with their gradients, more than the {} nndl may use here; make it smaller (or raise NNDL_MAX_MEMORY)",
        crate::memory::human(*need),
        crate::memory::human(u128::from(*budget))
    )]
    TooLarge { params: u128, need: u128, budget: u64 },
}

/// Layers applied one after the other, trained against `cost`: the parameters, and nothing
/// that changes while the network runs. Running it needs a [`Workspace`] (one per thread or
/// process that runs it), which holds the activations and the gradients.
///
/// `a^0 = x`, `a^l = layer_l(a^{l−1})`; the output is `a^L`.
#[derive(Clone)]
pub struct Network {
    pub layers: Vec<Box<dyn Layer>>,
    pub cost: Cost,
}

/// What one replica of a network needs to run it: each layer's [`Work`] (activations, what
/// the backward pass reuses, the parameters' gradients) and the errors ∂C/∂a^l handed from
/// layer to layer. Made by [`Network::workspace`]; buffers grow to the largest batch seen.
pub struct Workspace {
    works: Vec<Work>,
    /// `grads[l]`: ∂C/∂a^l for layer l's output, `[batch, out_l]`.
    grads: Vec<Buf>,
}

impl Workspace {
    /// Layer `l`'s work (its gradients are `work(l).grads`).
    pub fn work(&self, l: usize) -> &Work {
        &self.works[l]
    }

    /// ∂C/∂(each parameter) of the last backward pass, layer after layer, in the order of
    /// [`Network::params`].
    pub fn grads(&self) -> impl Iterator<Item = &Buf> {
        self.works.iter().flat_map(|w| w.grads.iter())
    }

    /// The same, to change (e.g. to add another replica's gradients in).
    pub fn grads_mut(&mut self) -> impl Iterator<Item = &mut Buf> {
        self.works.iter_mut().flat_map(|w| w.grads.iter_mut())
    }

    /// Adds `other`'s gradients (another replica's, of the same network) to these: how the
    /// gradients of a mini-batch shared among replicas are summed, always in the same order.
    pub fn add_grads(&mut self, other: &Workspace) {
        for (mine, theirs) in self.grads_mut().zip(other.grads()) {
            mine.iter_mut().zip(theirs.iter()).for_each(|(a, b)| *a += b);
        }
    }

    /// Numbers in all the parameters' gradients ([`Network::param_count`]).
    pub fn grad_len(&self) -> usize {
        self.grads().map(|g| g.len()).sum()
    }

    /// Copies every gradient, one tensor after another in [`Network::params`] order, into the
    /// front of `out` (at least [`Workspace::grad_len`] long): one flat buffer to send to other
    /// replicas.
    pub fn grads_to(&self, out: &mut [f32]) {
        let mut at = 0;
        for g in self.grads() {
            out[at..at + g.len()].copy_from_slice(g);
            at += g.len();
        }
    }

    /// Sets every gradient from the front of `flat`, laid out as [`Workspace::grads_to`] does.
    pub fn grads_from(&mut self, flat: &[f32]) {
        let mut at = 0;
        for g in self.grads_mut() {
            let n = g.len();
            g.copy_from_slice(&flat[at..at + n]);
            at += n;
        }
    }

    /// Sets every gradient to 0 (a replica with no examples in a mini-batch adds nothing).
    pub fn zero_grads(&mut self) {
        self.grads_mut().for_each(|g| g.fill(0.0));
    }

    /// The network's output from the last forward pass, `[batch, out]`.
    pub fn output<'w>(&'w self, net: &Network) -> ArrayView2<'w, f32> {
        let last = net.layers.len() - 1;
        net.layers[last].output(&self.works[last])
    }
}

impl Network {
    /// Builds the layers of `specs` with fresh parameters; checks that sizes chain and that the
    /// cost suits the output neurons.
    ///
    /// Refuses (rather than aborting on allocation) a network whose parameters and their
    /// gradients would not fit in [`crate::memory::budget`].
    pub fn new(specs: &[LayerSpec], cost: Cost, init: Init, rng: &mut Rng) -> Result<Self, NetworkError> {
        Self::check(specs, cost)?;
        let params: u128 = specs.iter().map(|s| s.param_count() as u128).sum();
        let (need, budget) = (params * 8, crate::memory::budget());
        if need > u128::from(budget) {
            return Err(NetworkError::TooLarge { params, need, budget });
        }
        let layers = specs.iter().map(|s| s.build(init, rng)).collect();
        Ok(Self::from_layers(layers, cost))
    }

    /// The book's fully connected net: `sizes = [784, 30, 10]` gives two layers of neurons;
    /// `hidden` neurons everywhere but the last layer, which has `output` neurons.
    pub fn dense(
        sizes: &[usize],
        hidden: Activation,
        output: Activation,
        cost: Cost,
        init: Init,
        rng: &mut Rng,
    ) -> Result<Self, NetworkError> {
        Self::new(&dense_specs(sizes, hidden, output)?, cost, init, rng)
    }

    /// Wraps layers already built (e.g. loaded from a file). Call [`Network::check`] first.
    ///
    /// Pool, then activate (network3.py's ConvPoolLayer order): where a layer of monotone
    /// neurons (a conv layer) is followed by max pooling, the network has the pooling layer
    /// apply the activation to the pooled z, a quarter as many numbers: σ(max z) = max σ(z),
    /// and the error routes to the same input, so the network computes the same function.
    pub fn from_layers(mut layers: Vec<Box<dyn Layer>>, cost: Cost) -> Self {
        for i in 1..layers.len() {
            let (before, after) = layers.split_at_mut(i);
            if after[0].accepts_activation()
                && let Some(act) = before[i - 1].defer_activation()
            {
                after[0].accept_activation(act);
            }
        }
        Network { layers, cost }
    }

    /// That `specs` chain (each layer takes what the one before gives) and end in neurons
    /// that `cost` can judge.
    ///
    /// Every layer's settings are checked first ([`LayerSpec::problem`]: sizes at least 1 and
    /// within nndl's limits, kernels that fit), so a checked list can be built and sized
    /// without overflow: the same checks for `--arch` and for model files.
    pub fn check(specs: &[LayerSpec], cost: Cost) -> Result<(), NetworkError> {
        let last = specs.last().ok_or(NetworkError::Empty)?;
        for (i, spec) in specs.iter().enumerate() {
            if let Some(why) = spec.problem() {
                return Err(NetworkError::Layer { index: i + 1, layer: spec.to_string(), why });
            }
        }
        for (i, pair) in specs.windows(2).enumerate() {
            if pair[0].out_size() != pair[1].in_size() {
                return Err(NetworkError::Mismatch {
                    index: i + 1,
                    layer: pair[1].to_string(),
                    expected: pair[1].in_size(),
                    got: pair[0].out_size(),
                });
            }
        }
        let output = last.activation().ok_or(NetworkError::NoOutputNeurons)?;
        cost.check_output(output).map_err(NetworkError::CostOutput)
    }

    /// A fresh workspace for running this network; `seed` seeds its random choices (dropout
    /// masks), so that replicas given different seeds drop different inputs.
    pub fn workspace(&self, seed: u64) -> Workspace {
        let works = self.layers.iter().enumerate().map(|(l, layer)| layer.work(seed ^ l as u64)).collect();
        Workspace { works, grads: self.layers.iter().map(|_| Buf::default()).collect() }
    }

    /// Keeps the random choices of the last training pass made with `ws` (dropout masks) for
    /// the passes that follow, or lets them be drawn afresh again (for gradient checks, which
    /// must see the same function at every nudge).
    pub fn freeze_randomness(&self, ws: &mut Workspace, frozen: bool) {
        for (layer, work) in self.layers.iter().zip(&mut ws.works) {
            layer.freeze_randomness(work, frozen);
        }
    }

    /// Descriptions of the layers, in order.
    pub fn specs(&self) -> Vec<LayerSpec> {
        self.layers.iter().map(|l| l.spec()).collect()
    }

    /// `[inputs, layer 1 outputs, …]`, the book's `sizes`.
    pub fn sizes(&self) -> Vec<usize> {
        let specs = self.specs();
        std::iter::once(specs[0].in_size()).chain(specs.iter().map(|s| s.out_size())).collect()
    }

    /// Inputs per example.
    pub fn in_size(&self) -> usize {
        self.layers[0].spec().in_size()
    }

    /// Outputs per example.
    pub fn out_size(&self) -> usize {
        self.layers[self.layers.len() - 1].spec().out_size()
    }

    /// Multiply-adds of one example's forward pass ([`LayerSpec::macs_per_example`] summed
    /// over the layers): what decides whether work is worth sharing among threads.
    pub fn macs_per_example(&self) -> u128 {
        self.layers.iter().map(|l| l.spec().macs_per_example()).sum()
    }

    /// Trainable numbers in all layers.
    pub fn param_count(&self) -> usize {
        self.params().map(|p| p.len()).sum()
    }

    /// Every parameter tensor, layer after layer (each layer's in [`LayerSpec::params`] order).
    pub fn params(&self) -> impl Iterator<Item = &Buf> {
        self.layers.iter().flat_map(|l| l.params().iter())
    }

    /// The same, to change.
    pub fn params_mut(&mut self) -> impl Iterator<Item = &mut Buf> {
        self.layers.iter_mut().flat_map(|l| l.params_mut().iter_mut())
    }

    /// Whether each parameter tensor takes L1/L2 regularisation, in [`Network::params`] order.
    pub fn regularised(&self) -> impl Iterator<Item = bool> + '_ {
        self.layers.iter().flat_map(|l| l.regularised().iter().copied())
    }

    /// Every parameter tensor with what it is (name, shape, regularised), layer after layer:
    /// `(layer index, info, values)`.
    pub fn named_params(&self) -> impl Iterator<Item = (usize, crate::layers::ParamInfo, &Buf)> {
        self.layers.iter().enumerate().flat_map(|(l, layer)| {
            layer.spec().params().into_iter().zip(layer.params()).map(move |(info, p)| (l, info, p))
        })
    }

    /// The output layer's neurons.
    pub fn output_activation(&self) -> Activation {
        self.layers[self.layers.len() - 1].activation().expect("checked at construction")
    }

    /// a^L for the batch `x: [batch, in] -> [batch, out]`. `train` switches on what only
    /// happens while learning (dropout, in later layers).
    pub fn feedforward<'w>(
        &self,
        ws: &'w mut Workspace,
        x: ArrayView2<f32>,
        train: bool,
    ) -> ArrayView2<'w, f32> {
        self.layers[0].forward(&mut ws.works[0], x, train);
        self.forward_from(ws, 1, train);
        ws.output(self)
    }

    /// The forward pass of layers `from..`, each taking the output of the one before.
    fn forward_from(&self, ws: &mut Workspace, from: usize, train: bool) {
        for l in from..self.layers.len() {
            let (before, rest) = ws.works.split_at_mut(l);
            self.layers[l].forward(&mut rest[0], self.layers[l - 1].output(&before[l - 1]), train);
        }
    }

    /// [`feedforward`](Self::feedforward) (not training) of `batch` examples stored as bytes
    /// (`[batch, in]` row-major, x = byte/255), the first layer skipping the inputs that are 0
    /// if it can ([`Layer::forward_bytes`]); the output is then [`Workspace::output`]. Returns
    /// false, having done nothing, if the first layer cannot: then fill x and call
    /// `feedforward`. `prepared`: the first layer's scratch, made by the first call that needs
    /// it, for the calls (of any thread) while the network does not change.
    pub fn feedforward_bytes(
        &self,
        ws: &mut Workspace,
        bytes: &[u8],
        batch: usize,
        prepared: &crate::layers::Prepared,
    ) -> bool {
        if !self.layers[0].forward_bytes(&mut ws.works[0], bytes, batch, prepared) {
            return false;
        }
        self.forward_from(ws, 1, false);
        true
    }

    /// Backpropagation over the mini-batch `(x, y)`: leaves ∂C/∂(each parameter), summed
    /// over the batch (`nabla_w`, `nabla_b`), in the workspace's gradients
    /// ([`Workspace::grads`]) for an optimiser to use.
    ///
    /// `x: [batch, in]`, `y: [batch, out]` (desired outputs, e.g. one-hot digits).
    pub fn backprop(&self, ws: &mut Workspace, x: ArrayView2<f32>, y: ArrayView2<f32>) {
        self.forward_and_delta(ws, x, y);
        let last = self.layers.len() - 1;
        for l in (0..=last).rev() {
            let (input, grad, grad_x, work) = ws.backward_args(self, l, x.nrows(), Some(x));
            self.layers[l].backward(work, input, grad, l == last, grad_x);
        }
    }

    /// One step of plain SGD on the mini-batch `(x, y)`: backprop with the step folded into
    /// each layer's backward pass where the layer can ([`Layer::backward_step`]). Same result
    /// as [`Network::backprop`] followed by the step, with less memory traffic.
    pub fn train_step(
        &mut self,
        ws: &mut Workspace,
        x: ArrayView2<f32>,
        y: ArrayView2<f32>,
        step: &FusedStep,
    ) {
        self.forward_and_delta(ws, x, y);
        let last = self.layers.len() - 1;
        for l in (0..=last).rev() {
            let (input, grad, grad_x, work) = ws.backward_args(self, l, x.nrows(), Some(x));
            self.layers[l].backward_step(work, input, grad, l == last, grad_x, step);
        }
    }

    /// [`train_step`](Self::train_step) for a mini-batch of byte examples that `sparse` has
    /// read, and that holds the first layer's weights while it trains (see
    /// [`SparseTraining`]): the first layer reads and steps only the weights of inputs that
    /// are not 0. `y: [batch, out]`. Panics unless the first layer is dense.
    pub fn train_step_sparse(
        &mut self,
        ws: &mut Workspace,
        sparse: &mut SparseTraining,
        y: ArrayView2<f32>,
        step: &FusedStep,
    ) {
        let first = self.layers[0].as_dense().expect("a dense first layer");
        first.forward_sparse(&mut ws.works[0], sparse);
        self.forward_from(ws, 1, true);
        self.output_delta(ws, y);
        let (last, batch) = (self.layers.len() - 1, y.nrows());
        for l in (1..=last).rev() {
            let (input, grad, grad_x, work) = ws.backward_args(self, l, batch, None);
            self.layers[l].backward_step(work, input, grad, l == last, grad_x, step);
        }
        let first = self.layers[0].as_dense_mut().expect("a dense first layer");
        let delta = ws.grads[0].rows_mut(batch, first.n_out());
        first.backward_step_sparse(&mut ws.works[0], delta, last == 0, sparse, step);
    }

    /// [`SparseTraining`] for this network's first layer, if it is dense and this CPU can.
    pub fn sparse_training(&self) -> Option<SparseTraining> {
        self.layers[0].as_dense()?.sparse_training()
    }

    /// Takes back the first layer's weights from `sparse` after training with it.
    pub fn settle(&mut self, sparse: &SparseTraining) {
        self.layers[0].as_dense_mut().expect("a dense first layer").settle(sparse);
    }

    /// The forward pass, then BP1: the output error δ^L, from the cost and the output neurons,
    /// in `ws.grads[L]`.
    fn forward_and_delta(&self, ws: &mut Workspace, x: ArrayView2<f32>, y: ArrayView2<f32>) {
        self.feedforward(ws, x, true);
        self.output_delta(ws, y);
    }

    /// BP1 after a forward pass: δ^L into `ws.grads[L]`.
    fn output_delta(&self, ws: &mut Workspace, y: ArrayView2<f32>) {
        let batch = y.nrows();
        let last = self.layers.len() - 1;
        let (out, work) = (&self.layers[last], &ws.works[last]);
        let delta = ws.grads[last].rows_mut(batch, y.ncols());
        self.cost.output_delta(
            self.output_activation(),
            out.weighted_input(work),
            out.output(work),
            y,
            delta,
        );
    }
}

impl Workspace {
    /// What layer `l`'s backward pass takes: its input, ∂C/∂a^l (BP2–BP4 turn it into δ^l),
    /// room for ∂C/∂a^{l−1} (none for the first layer), and its work.
    #[allow(clippy::type_complexity)]
    /// `x`, the network's input, is needed for the first layer only.
    fn backward_args<'w>(
        &'w mut self,
        net: &Network,
        l: usize,
        batch: usize,
        x: Option<ArrayView2<'w, f32>>,
    ) -> (ArrayView2<'w, f32>, ArrayViewMut2<'w, f32>, Option<ArrayViewMut2<'w, f32>>, &'w mut Work) {
        let (works_below, works) = self.works.split_at_mut(l);
        let input = match l {
            0 => x.expect("the first layer's backward pass takes the network's input"),
            _ => net.layers[l - 1].output(&works_below[l - 1]),
        };
        let (grads_below, grads) = self.grads.split_at_mut(l);
        let grad = grads[0].rows_mut(batch, net.layers[l].spec().out_size());
        let grad_x = (l > 0).then(|| grads_below[l - 1].rows_mut(batch, input.ncols()));
        (input, grad, grad_x, &mut works[0])
    }
}
/// Layer specs of a fully connected net with the given `sizes`.
pub fn dense_specs(
    sizes: &[usize],
    hidden: Activation,
    output: Activation,
) -> Result<Vec<LayerSpec>, NetworkError> {
    if sizes.len() < 2 {
        return Err(NetworkError::Empty);
    }
    if sizes.contains(&0) {
        return Err(NetworkError::ZeroSize(sizes.to_vec()));
    }
    let n = sizes.len() - 1;
    Ok(sizes
        .windows(2)
        .enumerate()
        .map(|(i, w)| LayerSpec::Dense {
            inputs: w[0],
            outputs: w[1],
            activation: if i + 1 == n { output } else { hidden },
        })
        .collect())
}
