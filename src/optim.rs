//! Gradient descent: the update that follows each mini-batch's backprop.

use crate::network::Network;
use ndarray::{ArrayD, Zip};
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
    velocities: Vec<ArrayD<f32>>,
}

impl Sgd {
    pub fn new(eta: f32, momentum: f32, regulariser: Regulariser) -> Self {
        Sgd { eta, momentum, regulariser, velocities: Vec::new() }
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
            if mu == 0.0 {
                Zip::from(&mut p.value).and(&p.grad).for_each(|w, &nw| {
                    *w -= eta * reg.gradient(*w, nw, inv_batch, r);
                });
            } else {
                if velocities.len() == i {
                    velocities.push(ArrayD::zeros(p.value.raw_dim()));
                }
                Zip::from(&mut p.value).and(&p.grad).and(&mut velocities[i]).for_each(|w, &nw, v| {
                    *v = mu * *v - eta * reg.gradient(*w, nw, inv_batch, r);
                    *w += *v;
                });
            }
            i += 1;
        });
    }
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
    fn l1_pulls_towards_zero_by_a_constant() {
        let reg = Regulariser { lambda: 0.0, l1: 2.0, n: 100 };
        assert!((reg.gradient(0.5, 0.0, 1.0, true) - 0.02).abs() < 1e-9);
        assert!((reg.gradient(-3.0, 0.0, 1.0, true) + 0.02).abs() < 1e-9);
        assert_eq!(reg.gradient(0.0, 0.0, 1.0, true), 0.0);
    }
}
