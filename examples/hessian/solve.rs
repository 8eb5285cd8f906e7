//! The linear algebra of Newton's step: a Cholesky factorisation, and the damped
//! (Levenberg–Marquardt) solve (H + λI)·Δ = −g built on it.

use ndarray::{Array2, s};

/// The Cholesky factor L of a symmetric `a` (`[n, n]`): a = L·Lᵀ with L lower triangular.
/// It exists exactly when `a` is positive definite; `None` otherwise. Costs n³/3 multiply-adds.
pub fn cholesky(a: &Array2<f64>) -> Option<Array2<f64>> {
    let n = a.nrows();
    let mut l = Array2::<f64>::zeros((n, n));
    for i in 0..n {
        for j in 0..=i {
            // a_ij = Σ_{k<j} l_ik l_jk + l_ij l_jj: everything but l_ij is known by now
            let known = l.slice(s![i, ..j]).dot(&l.slice(s![j, ..j]));
            let rest = a[[i, j]] - known;
            if i == j {
                if rest <= 0.0 {
                    return None;
                }
                l[[i, i]] = rest.sqrt();
            } else {
                l[[i, j]] = rest / l[[j, j]];
            }
        }
    }
    Some(l)
}

/// Solves (H + λI)·Δ = −g for the step Δ, or `None` if H + λI is not positive definite.
///
/// With λ = 0 this is Newton's step Δw = −H⁻¹∇C. Adding λI (Levenberg–Marquardt damping) helps
/// twice. Where H has negative eigenvalues (as at a random start), the pure Newton step jumps
/// to the quadratic model's saddle point, uphill along the directions of negative curvature;
/// with λ above the most negative eigenvalue, H + λI is positive definite and the step goes
/// downhill. And for large λ the step becomes −∇C/λ, a short step of gradient descent, so λ
/// also keeps steps short where the quadratic model is poor.
pub fn damped_newton_step(h: &Array2<f64>, g: &[f64], lambda: f64) -> Option<Vec<f64>> {
    let mut damped = h.clone();
    damped.diag_mut().mapv_inplace(|d| d + lambda);
    let l = cholesky(&damped)?;
    let n = g.len();
    // L·y = −g, forward substitution
    let mut y = vec![0.0; n];
    for i in 0..n {
        let known: f64 = (0..i).map(|k| l[[i, k]] * y[k]).sum();
        y[i] = (-g[i] - known) / l[[i, i]];
    }
    // Lᵀ·Δ = y, back substitution
    let mut step = vec![0.0; n];
    for i in (0..n).rev() {
        let known: f64 = (i + 1..n).map(|k| l[[k, i]] * step[k]).sum();
        step[i] = (y[i] - known) / l[[i, i]];
    }
    Some(step)
}
