//! The one matrix product everything uses: `c ← alpha·c + beta·a·b`.
//!
//! Backed by the `gemm` crate, which picks an AVX2/AVX-512 kernel at run time and, unlike a
//! packing BLAS, stays quick on the small shapes of mini-batch training (10×784·784×30 takes a
//! few microseconds). Any strides work, so transposes are free views (`w.t()`).

use ndarray::{ArrayView2, ArrayViewMut2};

/// `c ← alpha·c + beta·a·b` for `a: [m, k]`, `b: [k, n]`, `c: [m, n]`, on the calling thread.
///
/// With `alpha == 0` the old contents of `c` are not read (they may be anything, even NaN).
///
/// # Panics
/// If the shapes do not agree.
pub fn matmul(alpha: f32, c: &mut ArrayViewMut2<f32>, beta: f32, a: &ArrayView2<f32>, b: &ArrayView2<f32>) {
    let (m, k) = a.dim();
    let (k2, n) = b.dim();
    assert!(k == k2 && c.dim() == (m, n), "matmul shapes: [{m}, {k}]·[{k2}, {n}] into {:?}", c.dim());
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        c.mapv_inplace(|v| if alpha == 0.0 { 0.0 } else { alpha * v });
        return;
    }
    let (cs, as_, bs) = (c.strides().to_vec(), a.strides(), b.strides());
    // SAFETY: the three views are valid for the dimensions checked above, with the strides
    // ndarray reports; `c` is borrowed mutably, so it does not alias `a` or `b`.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            cs[1],
            cs[0],
            alpha != 0.0,
            a.as_ptr(),
            as_[1],
            as_[0],
            b.as_ptr(),
            bs[1],
            bs[0],
            alpha,
            beta,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, ShapeBuilder};

    fn naive(a: &ArrayView2<f32>, b: &ArrayView2<f32>) -> Array2<f32> {
        let (m, k) = a.dim();
        let n = b.ncols();
        Array2::from_shape_fn((m, n), |(i, j)| (0..k).map(|p| a[[i, p]] * b[[p, j]]).sum())
    }

    fn filled(rows: usize, cols: usize, seed: usize) -> Array2<f32> {
        Array2::from_shape_fn((rows, cols), |(i, j)| {
            (((i * 31 + j * 17 + seed * 7) % 23) as f32 - 11.0) / 7.0
        })
    }

    #[test]
    fn agrees_with_the_definition_for_every_layout_and_shape() {
        for &(m, k, n) in &[(1, 1, 1), (10, 784, 30), (10, 30, 10), (3, 5, 7), (30, 10, 784), (17, 33, 9)] {
            let a = filled(m, k, 1);
            let b = filled(k, n, 2);
            let at = filled(k, m, 3); // used transposed
            let bt = filled(n, k, 4);
            let cases = [(a.view(), b.view()), (at.t(), b.view()), (a.view(), bt.t()), (at.t(), bt.t())];
            for (lhs, rhs) in cases {
                let want = naive(&lhs, &rhs);
                // Fresh output (alpha = 0 must ignore NaN already there).
                let mut c = Array2::from_elem((m, n), f32::NAN);
                matmul(0.0, &mut c.view_mut(), 1.0, &lhs, &rhs);
                assert!(c.iter().zip(&want).all(|(x, y)| (x - y).abs() <= 1e-4 * (1.0 + y.abs())));
                // Accumulate: c ← 0.5 c − 2 a·b, into a column-major output.
                let start = filled(m, n, 5);
                let mut c = Array2::zeros((m, n).f());
                c.assign(&start);
                matmul(0.5, &mut c.view_mut(), -2.0, &lhs, &rhs);
                for ((x, s), w) in c.iter().zip(&start).zip(&want) {
                    let y = 0.5 * s - 2.0 * w;
                    assert!((x - y).abs() <= 1e-4 * (1.0 + y.abs()), "{m}x{k}x{n}: {x} vs {y}");
                }
            }
        }
    }

    #[test]
    #[should_panic(expected = "matmul shapes")]
    fn mismatched_shapes_panic() {
        let (a, b) = (filled(2, 3, 0), filled(4, 2, 0));
        matmul(0.0, &mut Array2::zeros((2, 2)).view_mut(), 1.0, &a.view(), &b.view());
    }
}
