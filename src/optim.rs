//! Gradient descent: the update that follows each mini-batch's backprop.

use crate::network::Network;
use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};

/// The regularisation terms of chapter 3, added to the cost C₀ over a training set of `n`:
/// C = C₀ + (λ/2n) Σ w² + (λ₁/n) Σ |w|, over weights only (not biases).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Regulariser {
    /// λ, the L2 (weight decay) strength.
    pub lambda: f32,
    /// λ₁, the L1 strength.
    pub l1: f32,
    /// n, the size of the whole training set.
    pub n: usize,
}

impl Regulariser {
    /// The added cost (λ/2n) Σ w² + (λ₁/n) Σ |w| of the network's current weights.
    pub fn penalty(&self, net: &mut Network) -> f64 {
        if self.lambda == 0.0 && self.l1 == 0.0 {
            return 0.0;
        }
        let (mut sq, mut abs) = (0.0f64, 0.0f64);
        net.visit_params(&mut |p| {
            if p.regularised {
                for &w in p.value.iter() {
                    sq += (w as f64) * (w as f64);
                    abs += (w as f64).abs();
                }
            }
        });
        let n = self.n.max(1) as f64;
        self.lambda as f64 / (2.0 * n) * sq + self.l1 as f64 / n * abs
    }

    /// ∂C/∂w for one number: the batch mean of backprop's sum `nabla`, plus the terms'
    /// derivatives (λ/n) w + (λ₁/n) sgn(w) where `regularised`.
    #[inline]
    pub fn gradient(&self, w: f32, nabla: f32, inv_batch: f32, regularised: bool) -> f32 {
        let g = nabla * inv_batch;
        if !regularised {
            return g;
        }
        let n = self.n.max(1) as f32;
        let sgn = if w > 0.0 {
            1.0
        } else if w < 0.0 {
            -1.0
        } else {
            0.0
        };
        g + self.lambda / n * w + self.l1 / n * sgn
    }
}

/// Stochastic gradient descent with optional momentum (chapter 3):
/// v ← μv − η∇C, w ← w + v. With μ = 0 this is w ← w − η∇C, which with L2 reads as the
/// book's w ← (1 − ηλ/n) w − (η/m) Σ_x ∂C_x/∂w.
#[derive(Clone, Debug)]
pub struct Sgd {
    /// η, the learning rate.
    pub eta: f32,
    /// μ, the momentum coefficient (0 for plain SGD).
    pub momentum: f32,
    pub regulariser: Regulariser,
    /// One velocity per parameter tensor, made at the first step (only when μ > 0).
    velocities: Vec<Vec<f32>>,
}

impl Sgd {
    pub fn new(eta: f32, momentum: f32, regulariser: Regulariser) -> Self {
        Sgd { eta, momentum, regulariser, velocities: Vec::new() }
    }

    /// Learns from one mini-batch `x: [m, in]`, `y: [m, out]`: backprop, then the update.
    /// Plain SGD (no momentum, no L1) takes [`Network::train_step`], which folds the update
    /// into backprop's last product; otherwise the gradients are formed and [`Sgd::step`] applies them.
    pub fn train_batch(&mut self, net: &mut Network, x: ArrayView2<f32>, y: ArrayView2<f32>) {
        let m = x.nrows();
        if self.momentum == 0.0 && self.regulariser.l1 == 0.0 {
            let n = self.regulariser.n.max(1) as f32;
            let step =
                SgdStep { rate: self.eta / m as f32, decay: 1.0 - self.eta * self.regulariser.lambda / n };
            net.train_step(x, y, &step);
        } else {
            net.backprop(x, y);
            self.step(net, m);
        }
    }

    /// Updates every parameter from the gradients backprop left for a mini-batch of `batch`
    /// examples. One pass over each parameter tensor; no allocation after the first step.
    pub fn step(&mut self, net: &mut Network, batch: usize) {
        let (eta, mu, reg) = (self.eta, self.momentum, self.regulariser);
        let inv_batch = 1.0 / batch as f32;
        let mut i = 0;
        let velocities = &mut self.velocities;
        net.visit_params(&mut |mut p| {
            let r = p.regularised;
            let (w, g) =
                (p.value.as_slice_mut().expect("contiguous"), p.grad.as_slice().expect("contiguous"));
            if mu == 0.0 {
                for (w, &g) in w.iter_mut().zip(g) {
                    *w -= eta * reg.gradient(*w, g, inv_batch, r);
                }
            } else {
                if velocities.len() <= i {
                    velocities.resize_with(i + 1, Vec::new);
                }
                if velocities[i].len() != w.len() {
                    velocities[i] = vec![0.0; w.len()]; // first step only
                }
                for ((w, &g), v) in w.iter_mut().zip(g).zip(velocities[i].iter_mut()) {
                    *v = mu * *v - eta * reg.gradient(*w, g, inv_batch, r);
                    *w += *v;
                }
            }
            i += 1;
        });
    }
}

/// One plain SGD step as a layer applies it inside its backward pass: w ← decay·w − rate·Σ∇
/// for weights, b ← b − rate·Σ∇ for biases.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SgdStep {
    /// η/m: the learning rate over the mini-batch size (gradients arrive summed over the batch).
    pub rate: f32,
    /// 1 − ηλ/n: L2 weight decay (1 without L2).
    pub decay: f32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn l2_step_is_the_books_weight_decay() {
        // w ← (1 − ηλ/n) w − (η/m) nabla
        let reg = Regulariser { lambda: 5.0, l1: 0.0, n: 50_000 };
        let (eta, w, nabla, m) = (0.1f32, 0.7f32, 2.0f32, 10.0f32);
        let sgd = w - eta * reg.gradient(w, nabla, 1.0 / m, true);
        let book = (1.0 - eta * 5.0 / 50_000.0) * w - eta / m * nabla;
        assert!((sgd - book).abs() < 1e-7);
        // biases are not decayed
        assert_eq!(reg.gradient(w, nabla, 1.0 / m, false), nabla / m);
    }

    #[test]
    fn the_fused_step_is_backprop_then_step() {
        use crate::{activation::Activation, cost::Cost, layers::Init, network::Network};
        let mut rng = crate::seeded_rng(1);
        let mut net = Network::dense(
            &[5, 4, 3],
            Activation::Sigmoid,
            Activation::Sigmoid,
            Cost::Quadratic,
            Init::Scaled,
            &mut rng,
        )
        .unwrap();
        let x = ndarray::Array2::from_shape_fn((2, 5), |(i, j)| (i + j) as f32 / 7.0);
        let y = ndarray::array![[1.0f32, 0.0, 0.0], [0.0, 0.0, 1.0]];
        let reg = Regulariser { lambda: 2.0, l1: 0.0, n: 10 };
        let mut fused = net.clone();
        Sgd::new(0.5, 0.0, reg).train_batch(&mut fused, x.view(), y.view());
        net.backprop(x.view(), y.view());
        Sgd::new(0.5, 0.0, reg).step(&mut net, 2);
        let params = |net: &mut Network| {
            let mut v = Vec::new();
            net.visit_params(&mut |p| v.extend(p.value.iter().copied()));
            v
        };
        let (got, want) = (params(&mut fused), params(&mut net));
        assert!(got.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-6), "{got:?}\n{want:?}");
        assert_eq!(got.len(), 4 * 5 + 4 + 3 * 4 + 3);
    }

    #[test]
    fn l1_pulls_towards_zero_by_a_constant() {
        let reg = Regulariser { lambda: 0.0, l1: 2.0, n: 100 };
        assert!((reg.gradient(0.5, 0.0, 1.0, true) - 0.02).abs() < 1e-9);
        assert!((reg.gradient(-3.0, 0.0, 1.0, true) + 0.02).abs() < 1e-9);
        assert_eq!(reg.gradient(0.0, 0.0, 1.0, true), 0.0);
    }
}
