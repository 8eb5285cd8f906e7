//! A network: layers in a row, a cost, and backpropagation over a whole mini-batch.

use crate::Rng;
use crate::activation::Activation;
use crate::cost::Cost;
use crate::layers::{Init, Layer, LayerSpec, Param, rows_mut};
use crate::optim::SgdStep;
use ndarray::{Array2, ArrayView2, s};
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

/// Layers applied one after the other, trained against `cost`.
///
/// `a^0 = x`, `a^l = layer_l(a^{l−1})`; the output is `a^L`.
#[derive(Clone)]
pub struct Network {
    pub layers: Vec<Box<dyn Layer>>,
    pub cost: Cost,
    /// `grads[l]`: ∂C/∂a^l for layer l's output, `[batch, out_l]`, reused across batches.
    grads: Vec<Array2<f32>>,
}

impl Network {
    /// Builds the layers of `specs` with fresh parameters; checks that sizes chain and that the
    /// cost suits the output neurons.
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
    pub fn from_layers(mut layers: Vec<Box<dyn Layer>>, cost: Cost) -> Self {
        // Each conv layer followed by max pooling leaves its activation to the pooling layer,
        // which applies it to a quarter as many numbers; the network computes the same function.
        for i in 1..layers.len() {
            let (before, after) = layers.split_at_mut(i);
            if after[0].takes_over_activation()
                && let Some(act) = before[i - 1].hand_over_activation()
            {
                after[0].take_over_activation(act);
            }
        }
        let grads = layers.iter().map(|_| Array2::zeros((0, 0))).collect();
        Network { layers, cost, grads }
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

    /// Trainable numbers in all layers.
    pub fn param_count(&self) -> usize {
        self.specs().iter().map(|s| s.param_count()).sum()
    }

    /// The output layer's neurons.
    pub fn output_activation(&self) -> Activation {
        self.layers[self.layers.len() - 1].activation().expect("checked at construction")
    }

    /// a^L for the batch `x: [batch, in] -> [batch, out]`. `train` switches on what only
    /// happens while learning (dropout, in later layers).
    pub fn feedforward(&mut self, x: ArrayView2<f32>, train: bool) -> ArrayView2<'_, f32> {
        for l in 0..self.layers.len() {
            let (before, rest) = self.layers.split_at_mut(l);
            let input = if l == 0 { x } else { before[l - 1].output() };
            rest[0].forward(input, train);
        }
        self.layers[self.layers.len() - 1].output()
    }

    /// Backpropagation over the mini-batch `(x, y)`: leaves ∂C/∂(each parameter), summed
    /// over the batch, in the layers' gradients (`nabla_w`, `nabla_b`). Returns nothing: the
    /// optimiser reads the gradients through [`Network::visit_params`].
    ///
    /// `x: [batch, in]`, `y: [batch, out]` (desired outputs, e.g. one-hot digits).
    pub fn backprop(&mut self, x: ArrayView2<f32>, y: ArrayView2<f32>) {
        self.backprop_with(x, y, None);
    }

    /// One step of plain SGD on the mini-batch `(x, y)`: backprop with the update folded into
    /// each layer's backward pass (see [`Layer::backward`]). Same result as [`Network::backprop`]
    /// followed by the step, with less memory traffic.
    pub fn train_step(&mut self, x: ArrayView2<f32>, y: ArrayView2<f32>, step: &SgdStep) {
        self.backprop_with(x, y, Some(step));
    }

    fn backprop_with(&mut self, x: ArrayView2<f32>, y: ArrayView2<f32>, update: Option<&SgdStep>) {
        let batch = x.nrows();
        self.feedforward(x, true);

        // BP1: the output error δ^L, from the cost and the output neurons.
        let last = self.layers.len() - 1;
        let output = self.output_activation();
        let out = &self.layers[last];
        let delta = rows_mut(&mut self.grads[last], batch, y.ncols());
        self.cost.output_delta(output, out.weighted_input(), out.output(), y, delta);

        // BP2–BP4, from the last layer back to the first. Layer l turns ∂C/∂a^l into δ^l,
        // fills its gradients, and hands ∂C/∂a^{l−1} to the layer before.
        for l in (0..=last).rev() {
            let (below, here) = self.grads.split_at_mut(l);
            let grad = here[0].slice_mut(s![..batch, ..]);
            let (layers_below, layer) = self.layers.split_at_mut(l);
            let input = if l == 0 { x } else { layers_below[l - 1].output() };
            let grad_x = if l == 0 { None } else { Some(rows_mut(&mut below[l - 1], batch, input.ncols())) };
            layer[0].backward(input, grad, l == last, grad_x, update);
        }
    }

    /// Visits every parameter with its gradient, layer by layer.
    pub fn visit_params(&mut self, f: &mut dyn FnMut(Param<'_>)) {
        for layer in &mut self.layers {
            layer.visit_params(f);
        }
    }

    /// Whether every parameter is a finite number (training diverged if not).
    pub fn is_finite(&mut self) -> bool {
        let mut ok = true;
        self.visit_params(&mut |p| ok &= p.value.iter().all(|v| v.is_finite()));
        ok
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
