//! Part 1: the exact Hessian at the start point, checked against central differences of
//! backprop gradients, and its symmetry and definiteness.

use crate::net::{Data, Params, gradient, hessian};
use crate::solve::cholesky;
use crate::{FD_STEP, XOR_SIZES};
use ndarray::{Array1, Array2};

/// The Hessian again by central differences of backprop gradients, `[P, P]`: column i is
/// (∇C(w + h e_i) − ∇C(w − h e_i)) / 2h, accurate to about h² (and rounding of order ε/h).
fn hessian_by_differences(p: &Params, data: &Data) -> Array2<f64> {
    let (sizes, w) = (p.sizes(), p.to_vec());
    let mut h = Array2::zeros((w.len(), w.len()));
    for i in 0..w.len() {
        let moved = |by: f64| {
            let mut w = w.clone();
            w[i] += by;
            Array1::from(gradient(&Params::from_slice(&sizes, &w), data).to_vec())
        };
        h.column_mut(i).assign(&((moved(FD_STEP) - moved(-FD_STEP)) / (2.0 * FD_STEP)));
    }
    h
}

/// What part 1 found at the start point.
pub struct HessianCheck {
    pub params: usize,
    pub fd_difference: f64,
    pub largest_entry: f64,
    pub asymmetry: f64,
    pub positive_definite: bool,
}

/// Forms H both ways at `p` and compares them; prints the findings.
pub fn check_hessian(p: &Params, data: &Data) -> HessianCheck {
    let exact = hessian(p, data);
    let differences = hessian_by_differences(p, data);
    let check = HessianCheck {
        params: p.count(),
        fd_difference: (&exact - &differences).iter().fold(0.0, |m, d| m.max(d.abs())),
        largest_entry: exact.iter().fold(0.0, |m, d| m.max(d.abs())),
        asymmetry: (&exact - &exact.t()).iter().fold(0.0, |m, d| m.max(d.abs())),
        positive_definite: cholesky(&exact).is_some(),
    };
    println!(
        "1. The exact Hessian of the quadratic cost of a {XOR_SIZES:?} sigmoid net on XOR \
         ({} parameters), at a random start (N(0,1) weights):",
        check.params
    );
    println!(
        "   R-operator against central differences of backprop gradients (h = {FD_STEP:e}): \
         max |difference| = {:.1e} (largest entry {:.3})",
        check.fd_difference, check.largest_entry
    );
    println!("   symmetry: max |H_jk - H_kj| = {:.1e}", check.asymmetry);
    println!(
        "   positive definite: {}",
        if check.positive_definite { "yes" } else { "no (a pure Newton step need not go downhill)" }
    );
    check
}
