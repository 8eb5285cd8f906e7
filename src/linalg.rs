//! The one matrix product everything uses: `c ← alpha·c + beta·a·b`.
//!
//! Backed by `gemm-f32`, the f32 part of the `gemm` crate, which picks an AVX2/AVX-512 kernel
//! at run time and, unlike a packing BLAS, stays quick on the small shapes of mini-batch
//! training (10×784·784×30 takes a few microseconds). Any strides work, so transposes are free
//! views (`w.t()`). (`gemm` itself also builds its f64, f16 and complex kernels, which nndl
//! never calls: most of a minute of a clean build's CPU time.)

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
    // (pointer, row stride, column stride) of each
    let mut c = (c.as_mut_ptr(), c.strides()[0], c.strides()[1]);
    let (mut a, mut b) =
        ((a.as_ptr(), a.strides()[0], a.strides()[1]), (b.as_ptr(), b.strides()[0], b.strides()[1]));
    let (mut m, mut n) = (m, n);
    // The kernels want c column-major (its rows the shorter step), as `gemm::gemm` arranges
    // before calling them: otherwise they compute cᵀ = bᵀ·aᵀ.
    if c.2.abs() < c.1.abs() {
        (c, a, b, m, n) = ((c.0, c.2, c.1), (b.0, b.2, b.1), (a.0, a.2, a.1), n, m);
    }
    // ndarray's views may step backwards; the kernels step forwards (also as `gemm::gemm`).
    // SAFETY (each): the first element of a dimension walked the other way, inside the view.
    if c.1 < 0 {
        (c.0, c.1) = (unsafe { c.0.offset((m - 1) as isize * c.1) }, -c.1);
        (a.0, a.1) = (unsafe { a.0.offset((m - 1) as isize * a.1) }, -a.1);
    }
    if c.2 < 0 {
        (c.0, c.2) = (unsafe { c.0.offset((n - 1) as isize * c.2) }, -c.2);
        (b.0, b.2) = (unsafe { b.0.offset((n - 1) as isize * b.2) }, -b.2);
    }
    if a.2 < 0 {
        (a.0, a.2) = (unsafe { a.0.offset((k - 1) as isize * a.2) }, -a.2);
        (b.0, b.1) = (unsafe { b.0.offset((k - 1) as isize * b.1) }, -b.1);
    }
    // SAFETY: the three views are valid for the dimensions checked above, with the strides
    // ndarray reports (reversed above where negative); `c` is borrowed mutably, so it does not
    // alias `a` or `b`.
    unsafe {
        gemm_f32::gemm::f32::get_gemm_fn()(
            m,
            n,
            k,
            c.0,
            c.2,
            c.1,
            alpha != 0.0,
            a.0,
            a.2,
            a.1,
            b.0,
            b.2,
            b.1,
            alpha,
            beta,
            false,
            false,
            false,
            gemm_common::Parallelism::None,
        );
    }
}

/// `c = a·bᵀ` for a few rows of `a: [m, k]` against the rows of `b: [n, k]`, both row-major and
/// contiguous, as dot products of whole rows.
///
/// This is a dense layer's forward pass at mini-batch sizes (10×784 against 30×784): there a
/// packing product spends more time arranging the operands than multiplying them. On CPUs
/// with neither AVX-512F nor AVX2 and FMA, this falls back to [`matmul`]. Measured on this
/// project's machines: 10×784 · (30×784)ᵀ in 4.7 µs with AVX-512, against 10.5 µs through
/// `gemm`; with AVX2 on AMD Zen 2, an epoch of cnn-1 (whose dense layer is 10×2880 ·
/// (100×2880)ᵀ per mini-batch) in 0.80 s against 0.87 s through `gemm` (10,000 images).
pub fn matmul_nt_rows(c: &mut ArrayViewMut2<f32>, a: &ArrayView2<f32>, b: &ArrayView2<f32>) {
    let (m, k) = a.dim();
    let (n, k2) = b.dim();
    assert!(
        k == k2 && c.dim() == (m, n),
        "matmul_nt_rows shapes: [{m}, {k}]·[{n}, {k2}]ᵀ into {:?}",
        c.dim()
    );
    #[cfg(target_arch = "x86_64")]
    if let Some(simd) = RowSimd::detect()
        && a.strides()[1] == 1
        && b.strides()[1] == 1
        && m > 0
        && n > 0
        && k > 0
    {
        // SAFETY: the CPU runs `simd` (detected); both have unit column strides, m, n, k > 0.
        return unsafe { nt_rows(simd, c, a, b) };
    }
    matmul(0.0, c, 1.0, a, &b.t())
}

/// The vector instructions [`matmul_nt_rows`] can use.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RowSimd {
    /// 16 lanes.
    Avx512,
    /// 8 lanes, AVX2 and FMA.
    Avx2,
}

#[cfg(target_arch = "x86_64")]
impl RowSimd {
    /// The widest this CPU has, if any.
    fn detect() -> Option<RowSimd> {
        if has_avx512() {
            Some(RowSimd::Avx512)
        } else if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            Some(RowSimd::Avx2)
        } else {
            None
        }
    }
}

/// [`matmul_nt_rows`] with `simd`.
///
/// # Safety
/// The CPU runs `simd`; `a` and `b` have unit column strides; m, n and k are not 0.
#[cfg(target_arch = "x86_64")]
unsafe fn nt_rows(simd: RowSimd, c: &mut ArrayViewMut2<f32>, a: &ArrayView2<f32>, b: &ArrayView2<f32>) {
    // Rows may be a part of longer rows (a team's half of the inputs): row strides apart.
    let rows =
        |v: &ArrayView2<f32>| Rows { at: v.as_ptr(), stride: v.strides()[0] as usize, count: v.nrows() };
    let (a, b, k) = (rows(a), rows(b), a.ncols());
    // SAFETY (both): the caller's promises; a and b hold m and n rows of k contiguous floats,
    // their strides apart.
    match simd {
        RowSimd::Avx512 => unsafe { nt_rows_avx512(c, a, b, k) },
        RowSimd::Avx2 => unsafe { nt_rows_avx2(c, a, b, k) },
    }
}

/// `count` rows of k contiguous floats, the first at `at`, each `stride` floats after the last.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
struct Rows {
    at: *const f32,
    stride: usize,
    count: usize,
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn nt_rows_avx512(c: &mut ArrayViewMut2<f32>, a: Rows, b: Rows, k: usize) {
    use std::arch::x86_64::__m512;
    // 5 rows of `a` at a time when there are that many (20 accumulators, 9 loads per 20 FMAs),
    // else 2.
    if a.count >= 5 {
        // SAFETY: the caller's checks hold.
        unsafe { nt_block::<__m512, 5, 4>(c, a, b, k) }
    } else {
        unsafe { nt_block::<__m512, 2, 4>(c, a, b, k) }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn nt_rows_avx2(c: &mut ArrayViewMut2<f32>, a: Rows, b: Rows, k: usize) {
    use std::arch::x86_64::__m256;
    // 16 vector registers: 8 accumulators and 6 operands.
    // SAFETY: the caller's checks hold.
    unsafe { nt_block::<__m256, 2, 4>(c, a, b, k) }
}

/// R rows of `a` × C rows of `b` per block, in R·C vector accumulators along k. Inlined into
/// the callers above, which enable the instructions `V` needs.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn nt_block<V: Lanes, const R: usize, const C: usize>(
    c: &mut ArrayViewMut2<f32>,
    a: Rows,
    b: Rows,
    k: usize,
) {
    let (m, n) = (a.count, b.count);
    let tail = k % V::L;
    // SAFETY (every call on V): the caller runs on a CPU with V's instructions.
    let mask = unsafe { V::first(tail) };
    for i in (0..m).step_by(R) {
        // Past the last row, repeat it: the extra results are computed and dropped.
        // SAFETY: row (i + r).min(m − 1) is one of a's m rows.
        let ra: [*const f32; R] = std::array::from_fn(|r| unsafe { a.at.add((i + r).min(m - 1) * a.stride) });
        for j in (0..n).step_by(C) {
            // SAFETY: row (j + q).min(n − 1) is one of b's n rows.
            let rb: [*const f32; C] =
                std::array::from_fn(|q| unsafe { b.at.add((j + q).min(n - 1) * b.stride) });
            let mut acc = [[unsafe { V::zero() }; C]; R];
            let mut t = 0;
            while t + V::L <= k {
                // SAFETY: t + L ≤ k, inside each row.
                let va = ra.map(|p| unsafe { V::load(p.add(t)) });
                let vb = rb.map(|p| unsafe { V::load(p.add(t)) });
                for r in 0..R {
                    for q in 0..C {
                        acc[r][q] = unsafe { V::fma(va[r], vb[q], acc[r][q]) };
                    }
                }
                t += V::L;
            }
            if tail > 0 {
                // SAFETY: the mask loads only the k − t elements left in each row.
                let va = ra.map(|p| unsafe { V::load_first(p.add(t), mask) });
                let vb = rb.map(|p| unsafe { V::load_first(p.add(t), mask) });
                for r in 0..R {
                    for q in 0..C {
                        acc[r][q] = unsafe { V::fma(va[r], vb[q], acc[r][q]) };
                    }
                }
            }
            for r in 0..(m - i).min(R) {
                for q in 0..(n - j).min(C) {
                    c[[i + r, j + q]] = unsafe { acc[r][q].sum() };
                }
            }
        }
    }
}

/// A vector of `L` floats, for [`nt_block`]. Every method needs the CPU to have the
/// vector's instructions, and is inlined into a function that enables them.
#[cfg(target_arch = "x86_64")]
trait Lanes: Copy {
    const L: usize;
    /// Which of the first lanes a tail of `n` < L floats fills.
    type Mask: Copy;
    unsafe fn zero() -> Self;
    unsafe fn first(n: usize) -> Self::Mask;
    /// L floats from `p`.
    unsafe fn load(p: *const f32) -> Self;
    /// The lanes of `mask` from `p` (reading nothing past them), zeros in the others.
    unsafe fn load_first(p: *const f32, mask: Self::Mask) -> Self;
    /// a·b + c, fused.
    unsafe fn fma(a: Self, b: Self, c: Self) -> Self;
    /// The sum of the lanes.
    unsafe fn sum(self) -> f32;
}

#[cfg(target_arch = "x86_64")]
impl Lanes for std::arch::x86_64::__m512 {
    const L: usize = 16;
    type Mask = std::arch::x86_64::__mmask16;
    #[inline(always)]
    unsafe fn zero() -> Self {
        unsafe { std::arch::x86_64::_mm512_setzero_ps() }
    }
    #[inline(always)]
    unsafe fn first(n: usize) -> Self::Mask {
        ((1u32 << n) - 1) as Self::Mask
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        unsafe { std::arch::x86_64::_mm512_loadu_ps(p) }
    }
    #[inline(always)]
    unsafe fn load_first(p: *const f32, mask: Self::Mask) -> Self {
        unsafe { std::arch::x86_64::_mm512_maskz_loadu_ps(mask, p) }
    }
    #[inline(always)]
    unsafe fn fma(a: Self, b: Self, c: Self) -> Self {
        unsafe { std::arch::x86_64::_mm512_fmadd_ps(a, b, c) }
    }
    #[inline(always)]
    unsafe fn sum(self) -> f32 {
        unsafe { std::arch::x86_64::_mm512_reduce_add_ps(self) }
    }
}

#[cfg(target_arch = "x86_64")]
impl Lanes for std::arch::x86_64::__m256 {
    const L: usize = 8;
    type Mask = std::arch::x86_64::__m256i;
    #[inline(always)]
    unsafe fn zero() -> Self {
        unsafe { std::arch::x86_64::_mm256_setzero_ps() }
    }
    #[inline(always)]
    unsafe fn first(n: usize) -> Self::Mask {
        use std::arch::x86_64::*;
        // lane i is all ones where i < n (maskload reads the lanes whose top bit is set)
        unsafe { _mm256_cmpgt_epi32(_mm256_set1_epi32(n as i32), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)) }
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        unsafe { std::arch::x86_64::_mm256_loadu_ps(p) }
    }
    #[inline(always)]
    unsafe fn load_first(p: *const f32, mask: Self::Mask) -> Self {
        unsafe { std::arch::x86_64::_mm256_maskload_ps(p, mask) }
    }
    #[inline(always)]
    unsafe fn fma(a: Self, b: Self, c: Self) -> Self {
        unsafe { std::arch::x86_64::_mm256_fmadd_ps(a, b, c) }
    }
    #[inline(always)]
    unsafe fn sum(self) -> f32 {
        use std::arch::x86_64::*;
        unsafe {
            let s = _mm_add_ps(_mm256_castps256_ps128(self), _mm256_extractf128_ps::<1>(self));
            let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
            _mm_cvtss_f32(_mm_add_ss(s, _mm_shuffle_ps::<1>(s, s)))
        }
    }
}

/// Whether this CPU has AVX-512F (checked once by the standard library, then cached).
#[inline(always)]
pub fn has_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `wide!(fn name(args) => body);` defines `name`, which calls `body(args)` compiled again for
/// AVX-512 or AVX2, whichever the CPU has (checked at run time). nndl is built for any x86-64,
/// whose vectors are 4 lanes; the elementwise loops (activations, LSTM gates, pooling) get 16
/// lanes this way, or 8 on AVX2-only CPUs (AMD Zen 3). The same operations
/// in the same order on each path: only the width differs, so results do not.
macro_rules! wide {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) => $body:path) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn avx512($($arg: $ty),*) {
                    $body($($arg),*)
                }
                #[target_feature(enable = "avx2")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn avx2($($arg: $ty),*) {
                    $body($($arg),*)
                }
                if $crate::linalg::has_avx512() {
                    // SAFETY: the CPU has AVX-512F, checked just above.
                    return unsafe { avx512($($arg),*) };
                }
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU has AVX2, checked just above.
                    return unsafe { avx2($($arg),*) };
                }
            }
            $body($($arg),*)
        }
    };
}
pub(crate) use wide;

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

    /// `matmul_nt_rows(a, b)`, then the same through each vector width this CPU runs (an
    /// AVX-512 machine runs both), so that every kernel is checked wherever the tests run.
    fn nt_rows_every_way(a: &ArrayView2<f32>, b: &ArrayView2<f32>) -> Vec<Array2<f32>> {
        let fresh = || Array2::from_elem((a.nrows(), b.nrows()), f32::NAN);
        let mut c = fresh();
        matmul_nt_rows(&mut c.view_mut(), a, b);
        let mut outs = vec![c];
        #[cfg(target_arch = "x86_64")]
        {
            let has_avx2 =
                std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma");
            for (simd, runs) in [(RowSimd::Avx512, has_avx512()), (RowSimd::Avx2, has_avx2)] {
                if runs {
                    let mut c = fresh();
                    // SAFETY: the CPU runs `simd`; the tests' operands are row-major, not empty.
                    unsafe { nt_rows(simd, &mut c.view_mut(), a, b) };
                    outs.push(c);
                }
            }
        }
        outs
    }

    #[test]
    fn row_dot_products_agree_with_the_definition() {
        for &(m, k, n) in &[(1, 1, 1), (10, 784, 30), (10, 30, 10), (3, 17, 7), (2, 16, 4), (5, 100, 9)] {
            let (a, b) = (filled(m, k, 1), filled(n, k, 2));
            let want = naive(&a.view(), &b.t());
            for c in nt_rows_every_way(&a.view(), &b.view()) {
                for (x, y) in c.iter().zip(&want) {
                    assert!((x - y).abs() <= 1e-4 * (1.0 + y.abs()), "{m}x{k}x{n}: {x} vs {y}");
                }
            }
        }
    }

    #[test]
    fn row_dot_products_of_parts_of_rows_agree_with_the_definition() {
        // a team's half of the inputs: columns 16.. of longer rows
        for &(m, k, n) in &[(10, 784, 30), (3, 40, 7), (5, 17, 4)] {
            let (a, b) = (filled(m, k, 1), filled(n, k, 2));
            let (a, b) =
                (a.slice(ndarray::s![.., 16.min(k - 1)..]), b.slice(ndarray::s![.., 16.min(k - 1)..]));
            let want = naive(&a, &b.t());
            for c in nt_rows_every_way(&a, &b) {
                for (x, y) in c.iter().zip(&want) {
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
