//! Cost functions C(a, y) of chapters 1 and 3, and the output error δ^L they give (BP1).
//!
//! `a` is the network's output and `y` the desired output, both `[batch, n_out]`.
//! Costs here are summed over the batch; callers divide by the number of examples.

use crate::activation::Activation;
use ndarray::{ArrayView2, ArrayViewMut2, Zip};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Smallest probability used inside a logarithm, so that ln 0 never appears.
const EPS: f32 = 1e-12;
/// The smallest margin from 0 and 1 that f32 keeps at both ends (1 − 1e-7 < 1).
const EPS_F32: f32 = 1e-7;

/// The book's three costs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cost {
    /// C_x = ½‖y − a‖², chapter 1.
    Quadratic,
    /// C_x = −Σ_j [y_j ln a_j + (1 − y_j) ln(1 − a_j)], chapter 3 (outputs in (0,1)).
    CrossEntropy,
    /// C_x = −ln a_y, the log-likelihood of the right answer; made for a softmax output.
    LogLikelihood,
}

impl Cost {
    /// All names accepted by `FromStr`.
    pub const NAMES: &'static str = "quadratic, cross-entropy, log-likelihood";

    /// Σ_x C_x over the batch, accumulated in f64.
    pub fn total(self, a: ArrayView2<f32>, y: ArrayView2<f32>) -> f64 {
        let mut sum = 0.0f64;
        match self {
            Cost::Quadratic => Zip::from(&a).and(&y).for_each(|&a, &y| {
                let d = (a - y) as f64;
                sum += 0.5 * d * d;
            }),
            Cost::CrossEntropy => Zip::from(&a).and(&y).for_each(|&a, &y| {
                // Clamped in f64: in f32, 1 − 1e-12 rounds to 1, and an output that reached
                // exactly 1 would give 0·ln 0 = NaN.
                let (a, y) = ((a as f64).clamp(EPS as f64, 1.0 - EPS as f64), y as f64);
                sum -= y * a.ln() + (1.0 - y) * (1.0 - a).ln();
            }),
            Cost::LogLikelihood => Zip::from(&a).and(&y).for_each(|&a, &y| {
                if y != 0.0 {
                    sum -= y as f64 * (a.max(EPS) as f64).ln();
                }
            }),
        }
        sum
    }

    /// Whether this cost can be used with `output` neurons; the error says why not.
    pub fn check_output(self, output: Activation) -> Result<(), String> {
        let ok = match self {
            Cost::Quadratic => true,
            Cost::CrossEntropy => matches!(output, Activation::Sigmoid | Activation::Softmax),
            Cost::LogLikelihood => matches!(output, Activation::Softmax | Activation::Sigmoid),
        };
        if ok {
            Ok(())
        } else {
            Err(format!(
                "the {self} cost needs outputs in (0,1), but the output layer is {output}; \
                 use a sigmoid or softmax output layer, or the quadratic cost"
            ))
        }
    }

    /// BP1: writes the output error δ^L = ∇_a C ⊙ σ'(z^L) into `delta`, for the whole batch.
    ///
    /// Where the book shows the cost and the output neuron cancel — cross-entropy with sigmoid
    /// neurons (eq. 66) and log-likelihood with softmax (eq. 84) — δ^L = a^L − y exactly,
    /// without the learning slowdown σ'(z) would bring; that form is used directly.
    pub fn output_delta(
        self,
        output: Activation,
        z: ArrayView2<f32>,
        a: ArrayView2<f32>,
        y: ArrayView2<f32>,
        mut delta: ArrayViewMut2<f32>,
    ) {
        match (self, output) {
            (Cost::CrossEntropy, Activation::Sigmoid) | (Cost::LogLikelihood, Activation::Softmax) => {
                Zip::from(&mut delta).and(&a).and(&y).for_each(|d, &a, &y| *d = a - y);
            }
            _ => {
                // ∇_a C, then ⊙ σ'(z) (or softmax's Jacobian) through the output neurons.
                Zip::from(&mut delta).and(&a).and(&y).for_each(|d, &a, &y| {
                    *d = match self {
                        Cost::Quadratic => a - y,
                        Cost::CrossEntropy => {
                            // Kept where a(1 − a) is not zero in f32.
                            let a = a.clamp(EPS_F32, 1.0 - EPS_F32);
                            (a - y) / (a * (1.0 - a))
                        }
                        Cost::LogLikelihood => -y / a.max(EPS),
                    }
                });
                output.backprop(z, a, delta);
            }
        }
    }
}

impl fmt::Display for Cost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Cost::Quadratic => "quadratic",
            Cost::CrossEntropy => "cross-entropy",
            Cost::LogLikelihood => "log-likelihood",
        })
    }
}

impl FromStr for Cost {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s.to_ascii_lowercase().replace('_', "-").as_str() {
            "quadratic" | "mse" => Cost::Quadratic,
            "cross-entropy" | "crossentropy" | "ce" => Cost::CrossEntropy,
            "log-likelihood" | "loglikelihood" | "nll" => Cost::LogLikelihood,
            _ => return Err(format!("unknown cost '{s}' (choose from {})", Self::NAMES)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    /// Saturated outputs (exactly 0 or 1 in f32) give large but finite costs and errors.
    #[test]
    fn saturated_outputs_stay_finite() {
        let a = array![[1.0f32, 0.0, 0.5]];
        let y = array![[0.0f32, 1.0, 1.0]];
        let c = Cost::CrossEntropy.total(a.view(), y.view());
        assert!(c.is_finite() && c > 50.0, "{c}");
        // a right answer costs (almost) nothing, even when saturated
        let right = Cost::CrossEntropy.total(array![[1.0f32, 0.0]].view(), array![[1.0f32, 0.0]].view());
        assert!(right.is_finite() && right < 1e-9, "{right}");
        let mut delta = array![[0.0f32, 0.0, 0.0]];
        let z = array![[30.0f32, -30.0, 0.0]];
        Cost::CrossEntropy.output_delta(Activation::Softmax, z.view(), a.view(), y.view(), delta.view_mut());
        assert!(delta.iter().all(|d| d.is_finite()), "{delta}");
    }
}
