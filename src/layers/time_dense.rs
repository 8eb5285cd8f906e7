//! A dense layer applied to every step of a sequence, with the same weights at each step.

use super::{Dense, FusedStep, Init, Layer, LayerSpec, Work};
use crate::Rng;
use crate::activation::Activation;
use crate::buffer::Buf;
use ndarray::{ArrayView2, ArrayViewMut2};

/// `[batch, T·H] -> [batch, T·N]`: step t's N outputs are `σ(W h_t + b)`. A softmax here is one
/// distribution per step (the next character, in a language model). Rows of (example, step) are
/// contiguous, so the whole thing is one [`Dense`] over `batch·T` rows.
#[derive(Clone, Debug)]
pub struct TimeDense {
    steps: usize,
    dense: Dense,
}

impl TimeDense {
    pub fn new(
        steps: usize,
        inputs: usize,
        outputs: usize,
        activation: Activation,
        init: Init,
        rng: &mut Rng,
    ) -> Self {
        TimeDense { steps, dense: Dense::new(inputs, outputs, activation, init, rng) }
    }

    fn per_step<'a>(&self, m: ArrayView2<'a, f32>) -> ArrayView2<'a, f32> {
        let width = m.ncols() / self.steps;
        m.into_shape_with_order((m.nrows() * self.steps, width)).expect("rows are contiguous")
    }

    fn per_example<'a>(&self, m: ArrayView2<'a, f32>) -> ArrayView2<'a, f32> {
        let width = m.ncols() * self.steps;
        m.into_shape_with_order((m.nrows() / self.steps, width)).expect("rows are contiguous")
    }
}

fn per_step_mut(m: ArrayViewMut2<'_, f32>, steps: usize) -> ArrayViewMut2<'_, f32> {
    let (rows, width) = (m.nrows() * steps, m.ncols() / steps);
    m.into_shape_with_order((rows, width)).expect("rows are contiguous")
}

impl Layer for TimeDense {
    fn spec(&self) -> LayerSpec {
        LayerSpec::TimeDense {
            steps: self.steps,
            inputs: self.dense.n_in(),
            outputs: self.dense.n_out(),
            activation: self.dense.activation,
        }
    }

    fn activation(&self) -> Option<Activation> {
        Some(self.dense.activation)
    }

    fn params(&self) -> &[Buf] {
        self.dense.params()
    }

    fn params_mut(&mut self) -> &mut [Buf] {
        self.dense.params_mut()
    }

    fn regularised(&self) -> &'static [bool] {
        self.dense.regularised()
    }

    /// The dense layer's own work, over `batch·T` rows.
    fn work(&self, seed: u64) -> Work {
        self.dense.work(seed)
    }

    fn forward(&self, work: &mut Work, x: ArrayView2<f32>, train: bool) {
        self.dense.forward(work, self.per_step(x), train);
    }

    fn output<'w>(&self, work: &'w Work) -> ArrayView2<'w, f32> {
        self.per_example(self.dense.output(work))
    }

    fn weighted_input<'w>(&self, work: &'w Work) -> ArrayView2<'w, f32> {
        self.per_example(self.dense.weighted_input(work))
    }

    fn backward(
        &self,
        work: &mut Work,
        x: ArrayView2<f32>,
        grad: ArrayViewMut2<f32>,
        grad_is_delta: bool,
        grad_x: Option<ArrayViewMut2<f32>>,
    ) {
        let steps = self.steps;
        let (grad, grad_x) = (per_step_mut(grad, steps), grad_x.map(|g| per_step_mut(g, steps)));
        self.dense.backward(work, self.per_step(x), grad, grad_is_delta, grad_x);
    }

    fn backward_step(
        &mut self,
        work: &mut Work,
        x: ArrayView2<f32>,
        grad: ArrayViewMut2<f32>,
        grad_is_delta: bool,
        grad_x: Option<ArrayViewMut2<f32>>,
        step: &FusedStep,
    ) {
        let steps = self.steps;
        let (grad, grad_x) = (per_step_mut(grad, steps), grad_x.map(|g| per_step_mut(g, steps)));
        let xs = self.per_step(x);
        self.dense.backward_step(work, xs, grad, grad_is_delta, grad_x, step);
    }

    fn clone_box(&self) -> Box<dyn Layer> {
        Box::new(self.clone())
    }
}
