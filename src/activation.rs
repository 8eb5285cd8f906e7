//! Neurons: what a layer does to its weighted input `z` to give its activation `a = σ(z)`.
//!
//! Every function here works on a whole mini-batch at once: `z` and `a` are `[batch, n]`.

use ndarray::{ArrayView1, ArrayView2, ArrayViewMut2, Axis, Zip};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The kinds of neuron in the book.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// σ(z) = 1 / (1 + e^(−z)), chapter 1's sigmoid neuron.
    Sigmoid,
    /// tanh(z), the rescaled sigmoid of chapter 3.
    Tanh,
    /// max(0, z), the rectified linear unit.
    Relu,
    /// a_j = e^(z_j) / Σ_k e^(z_k), chapter 3's softmax layer (rows sum to 1).
    Softmax,
    /// a = z, for a linear output.
    Identity,
    /// The perceptron: 1 if z > 0 else 0. Its derivative is zero almost everywhere,
    /// so it is for inference only; training a step layer is refused.
    Step,
}

/// Rows per call of the activation's vector loop in [`Activation::apply_with_bias`]: 16 rows of
/// 100 neurons are 6.4 KB, in the first-level cache between adding b and applying σ.
const ROWS_AT_ONCE: usize = 16;

impl Activation {
    /// All names accepted by `FromStr`, for help texts and error messages.
    pub const NAMES: &'static str = "sigmoid, tanh, relu, softmax, identity, step";

    /// Whether gradient descent can train a layer of these neurons.
    pub fn is_trainable(self) -> bool {
        self != Activation::Step
    }

    /// Whether σ never decreases, so that it commutes with taking a maximum:
    /// max(σ(z₁), σ(z₂)) = σ(max(z₁, z₂)). Softmax, which mixes its inputs, does not.
    pub fn is_monotone(self) -> bool {
        self != Activation::Softmax
    }

    /// a = σ(z), row by row. `z` and `a` are `[batch, n]`.
    pub fn apply(self, z: ArrayView2<f32>, mut a: ArrayViewMut2<f32>) {
        for (z, mut a) in z.rows().into_iter().zip(a.rows_mut()) {
            match (z.as_slice(), a.as_slice_mut()) {
                (Some(z), Some(a)) => self.apply_row(z, a),
                _ => {
                    // strided views (rare): through a contiguous copy
                    let mut out = vec![0.0; z.len()];
                    self.apply_row(&z.to_vec(), &mut out);
                    a.assign(&ArrayView1::from(&out));
                }
            }
        }
    }

    /// z ← z + b (b added to every row), then a = σ(z): a dense layer's forward pass after its
    /// product, a few rows at a time while they are in cache. `b` is `[n]`, `z` and `a`
    /// `[batch, n]`.
    ///
    /// Elementwise neurons over contiguous rows take [`ROWS_AT_ONCE`] rows per call of the
    /// vector loop, so that a row whose length is not a multiple of 16 (100 neurons: 6 vectors
    /// and 4 numbers) does not end in scalar code every time: evaluating MNIST's test set
    /// through [784,100,10], σ was 12% of the time row by row.
    pub fn apply_with_bias(self, b: ArrayView1<f32>, mut z: ArrayViewMut2<f32>, mut a: ArrayViewMut2<f32>) {
        let b = b.as_slice().expect("biases are contiguous");
        let n = b.len();
        if self != Activation::Softmax
            && n > 0
            && let (Some(z), Some(a)) = (z.as_slice_mut(), a.as_slice_mut())
        {
            for (z, a) in z.chunks_mut(ROWS_AT_ONCE * n).zip(a.chunks_mut(ROWS_AT_ONCE * n)) {
                z.chunks_exact_mut(n).for_each(|z| z.iter_mut().zip(b).for_each(|(z, b)| *z += b));
                self.apply_row(z, a);
            }
            return;
        }
        for (mut z, mut a) in z.rows_mut().into_iter().zip(a.rows_mut()) {
            let z = z.as_slice_mut().expect("rows are contiguous");
            z.iter_mut().zip(b).for_each(|(z, b)| *z += b);
            self.apply_row(z, a.as_slice_mut().expect("rows are contiguous"));
        }
    }

    /// a = σ(z) for one example's `n` neurons, 16 lanes at a time where the CPU has AVX-512
    /// (for elementwise neurons, `z` may hold several examples one after another).
    ///
    /// With AVX-512, σ and tanh are [`x16`]'s: the division a reciprocal estimate and one
    /// Newton step, within an ulp or two of the plain functions. Evaluating MNIST's test set
    /// through [784,100,10], σ took 8% of the time with the divider and 5% with this.
    pub fn apply_row(self, z: &[f32], a: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if matches!(self, Activation::Sigmoid | Activation::Tanh) && crate::linalg::has_avx512() {
            // SAFETY: the CPU has AVX-512F, checked just above.
            return unsafe { x16::apply(self == Activation::Sigmoid, z, a) };
        }
        apply_row_wide(self, z, a)
    }

    #[inline(always)]
    fn apply_row_body(act: Activation, z: &[f32], a: &mut [f32]) {
        let a = &mut a[..z.len()];
        #[inline(always)]
        fn each(a: &mut [f32], z: &[f32], f: impl Fn(f32) -> f32) {
            a.iter_mut().zip(z).for_each(|(a, &z)| *a = f(z));
        }
        match act {
            Activation::Sigmoid => each(a, z, sigmoid),
            Activation::Tanh => each(a, z, tanh),
            Activation::Relu => each(a, z, |z| z.max(0.0)),
            Activation::Identity => a.copy_from_slice(z),
            Activation::Step => each(a, z, |z| if z > 0.0 { 1.0 } else { 0.0 }),
            Activation::Softmax => {
                // Subtracting the row's maximum changes nothing mathematically and keeps e^z finite.
                let max = z.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
                let mut sum = 0.0;
                for (a, &z) in a.iter_mut().zip(z) {
                    *a = exp(z - max);
                    sum += *a;
                }
                a.iter_mut().for_each(|v| *v /= sum);
            }
        }
    }

    /// Turns `g = ∂C/∂a` into `δ = ∂C/∂z` in place, given this layer's `z` and `a`.
    ///
    /// For elementwise neurons this is the `⊙ σ'(z)` of BP1 and BP2. For softmax, where every
    /// a_j depends on every z_k, it is the Jacobian product δ_j = a_j (g_j − Σ_k g_k a_k).
    pub fn backprop(self, z: ArrayView2<f32>, a: ArrayView2<f32>, mut g: ArrayViewMut2<f32>) {
        match self {
            // σ'(z) = σ(z)(1 − σ(z)) = a(1 − a)
            Activation::Sigmoid => Zip::from(&mut g).and(&a).for_each(|g, &a| *g *= a * (1.0 - a)),
            // tanh'(z) = 1 − tanh²(z)
            Activation::Tanh => Zip::from(&mut g).and(&a).for_each(|g, &a| *g *= 1.0 - a * a),
            // a select, not a conditional store, so that it vectorises
            Activation::Relu => {
                Zip::from(&mut g).and(&z).for_each(|g, &z| *g = if z <= 0.0 { 0.0 } else { *g })
            }
            Activation::Identity => {}
            Activation::Step => g.fill(0.0),
            Activation::Softmax => {
                for (a, mut g) in a.axis_iter(Axis(0)).zip(g.axis_iter_mut(Axis(0))) {
                    let dot: f32 = a.iter().zip(g.iter()).map(|(a, g)| a * g).sum();
                    Zip::from(&mut g).and(&a).for_each(|g, &a| *g = a * (*g - dot));
                }
            }
        }
    }
}

crate::linalg::wide!(fn apply_row_wide(act: Activation, z: &[f32], a: &mut [f32]) => Activation::apply_row_body);

/// The logistic function, written so that it never overflows.
#[inline(always)]
pub fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + exp(-z))
}

/// tanh x to within 3.4·10⁻⁷ (a few ulp), as a rational function (the minimax approximation Eigen uses),
/// in plain arithmetic so that whole layers vectorise (the C library's `tanhf` is one call,
/// through `expm1f`, per number: half the time of an LSTM's training was spent there).
#[inline(always)]
#[allow(clippy::excessive_precision)] // the published coefficients, as given
pub fn tanh(x: f32) -> f32 {
    // Beyond ±7.9053, tanh rounds to ±1 in f32.
    let x = x.clamp(-7.905_311, 7.905_311);
    let x2 = x * x;
    let p = -2.760_768_5e-16f32;
    let p = p.mul_add_plain(x2, 2.000_187_9e-13);
    let p = p.mul_add_plain(x2, -8.604_672e-11);
    let p = p.mul_add_plain(x2, 5.122_297e-8);
    let p = p.mul_add_plain(x2, 1.485_722_4e-5);
    let p = p.mul_add_plain(x2, 6.372_619e-4);
    let p = p.mul_add_plain(x2, 4.893_524_6e-3);
    let q = 1.198_258_4e-6f32;
    let q = q.mul_add_plain(x2, 1.185_347e-4);
    let q = q.mul_add_plain(x2, 2.268_434_6e-3);
    let q = q.mul_add_plain(x2, 4.893_525e-3);
    x * p / q
}

/// `a·b + c` as two plain operations (not `f32::mul_add`, which is a library call where the
/// CPU's fused multiply-add is not enabled at compile time).
trait MulAddPlain {
    fn mul_add_plain(self, b: f32, c: f32) -> f32;
}

impl MulAddPlain for f32 {
    #[inline(always)]
    fn mul_add_plain(self, b: f32, c: f32) -> f32 {
        self * b + c
    }
}

/// e^x to within 3·10⁻⁷ relative (a few ulp) for every f32 (0 below −87.3, 2^127·… capped above 88.3), in plain
/// arithmetic without branches or calls, so that loops over whole layers of neurons vectorise
/// (the C library's `expf` is one call per number).
///
/// e^x = 2^n · e^r with n = round(x·log₂e) and r = x − n·ln 2 in [−ln2/2, ln2/2], where a
/// degree-6 Taylor polynomial is good to 2·10⁻⁷.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_145_75; // ln 2 split in two so that n·LN2_HI is exact
    const LN2_LO: f32 = 1.428_606_8e-6;
    const ROUND: f32 = 12_582_912.0; // 1.5·2²³: adding and subtracting it rounds to an integer
    let x = x.clamp(-87.3, 88.3);
    let t = x * LOG2E + ROUND;
    let n = t - ROUND;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let p = 1.0
        + r * (1.0 + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    // t's low mantissa bits hold n as an integer: 2^n is (n + 127) in the exponent field.
    let n_int = (t.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    p * f32::from_bits(((n_int + 127) as u32) << 23)
}

/// [`exp`], [`sigmoid`] and [`tanh`] 16 at a time in AVX-512 registers, for kernels written
/// with its instructions (the LSTM's step). The same arithmetic, except that a division
/// becomes the CPU's 14-bit reciprocal estimate and one Newton step (r·(2 − d·r), good to about
/// 1 ulp): a division of 16 floats occupies the divider for ~10 cycles, and a step of an LSTM
/// makes five per unit; and that each multiply-add is one fused instruction (rounded once).
#[cfg(target_arch = "x86_64")]
#[allow(clippy::excessive_precision)]
pub(crate) mod x16 {
    use std::arch::x86_64::*;

    /// 1/d.
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub fn recip(d: __m512) -> __m512 {
        let r = _mm512_rcp14_ps(d);
        _mm512_mul_ps(r, _mm512_fnmadd_ps(d, r, _mm512_set1_ps(2.0)))
    }

    /// [`super::exp`], its multiply-adds fused.
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub fn exp(x: __m512) -> __m512 {
        let c = _mm512_set1_ps;
        let x = _mm512_min_ps(_mm512_max_ps(x, c(-87.3)), c(88.3));
        let round = c(12_582_912.0);
        let t = _mm512_fmadd_ps(x, c(std::f32::consts::LOG2_E), round);
        let n = _mm512_sub_ps(t, round);
        let r = _mm512_fnmadd_ps(n, c(1.428_606_8e-6), _mm512_fnmadd_ps(n, c(0.693_145_75), x));
        let mut p = c(1.0 / 720.0);
        for k in [1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0] {
            p = _mm512_fmadd_ps(p, r, c(k));
        }
        let n_int = _mm512_sub_epi32(_mm512_castps_si512(t), _mm512_castps_si512(round));
        let scale = _mm512_slli_epi32::<23>(_mm512_add_epi32(n_int, _mm512_set1_epi32(127)));
        _mm512_mul_ps(p, _mm512_castsi512_ps(scale))
    }

    /// [`super::sigmoid`].
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub fn sigmoid(z: __m512) -> __m512 {
        let one = _mm512_set1_ps(1.0);
        recip(_mm512_add_ps(one, exp(_mm512_sub_ps(_mm512_setzero_ps(), z))))
    }

    /// a = σ(z) (`sigmoid`) or tanh z for every number of `z`, 16 at a time.
    #[target_feature(enable = "avx512f")]
    pub fn apply(sigmoid: bool, z: &[f32], a: &mut [f32]) {
        let a = &mut a[..z.len()];
        let f = |v| if sigmoid { self::sigmoid(v) } else { tanh(v) };
        let (whole, rest) = z.as_chunks::<16>();
        let (a_whole, a_rest) = a.split_at_mut(whole.len() * 16);
        for (z, a) in whole.iter().zip(a_whole.as_chunks_mut::<16>().0) {
            // SAFETY: 16 floats each.
            unsafe { _mm512_storeu_ps(a.as_mut_ptr(), f(_mm512_loadu_ps(z.as_ptr()))) };
        }
        if !rest.is_empty() {
            let m = ((1u32 << rest.len()) - 1) as __mmask16;
            // SAFETY: the mask stops at the slices' ends (rest.len() < 16).
            unsafe {
                let v = f(_mm512_maskz_loadu_ps(m, rest.as_ptr()));
                _mm512_mask_storeu_ps(a_rest.as_mut_ptr(), m, v);
            }
        }
    }

    /// [`super::tanh`].
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub fn tanh(x: __m512) -> __m512 {
        let c = _mm512_set1_ps;
        let x = _mm512_min_ps(_mm512_max_ps(x, c(-7.905_311)), c(7.905_311));
        let x2 = _mm512_mul_ps(x, x);
        let mut p = c(-2.760_768_5e-16);
        for k in [2.000_187_9e-13, -8.604_672e-11, 5.122_297e-8, 1.485_722_4e-5, 6.372_619e-4, 4.893_524_6e-3]
        {
            p = _mm512_fmadd_ps(p, x2, c(k));
        }
        let mut q = c(1.198_258_4e-6);
        for k in [1.185_347e-4, 2.268_434_6e-3, 4.893_525e-3] {
            q = _mm512_fmadd_ps(q, x2, c(k));
        }
        _mm512_mul_ps(_mm512_mul_ps(x, p), recip(q))
    }
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
            Activation::Relu => "relu",
            Activation::Softmax => "softmax",
            Activation::Identity => "identity",
            Activation::Step => "step",
        };
        f.write_str(s)
    }
}

impl FromStr for Activation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "sigmoid" => Activation::Sigmoid,
            "tanh" => Activation::Tanh,
            "relu" => Activation::Relu,
            "softmax" => Activation::Softmax,
            "identity" | "linear" => Activation::Identity,
            "step" | "perceptron" => Activation::Step,
            _ => return Err(format!("unknown activation '{s}' (choose from {})", Self::NAMES)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, array};

    /// The 16-lane functions against the plain ones, from −100 to 100 (past every clamp).
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_avx512_functions_agree_with_the_plain_ones() {
        use std::arch::x86_64::*;
        if !crate::linalg::has_avx512() {
            return;
        }
        type F = (fn(f32) -> f32, unsafe fn(__m512) -> __m512, &'static str);
        let pairs: [F; 3] =
            [(exp, x16::exp, "exp"), (sigmoid, x16::sigmoid, "sigmoid"), (tanh, x16::tanh, "tanh")];
        let xs: Vec<f32> = (0..16_000).map(|k| (k as f32 - 8_000.0) / 80.0).collect();
        for (plain, wide, name) in pairs {
            for x in xs.chunks_exact(16) {
                let mut y = [0.0f32; 16];
                // SAFETY: the CPU has AVX-512F, checked above.
                unsafe { _mm512_storeu_ps(y.as_mut_ptr(), wide(_mm512_loadu_ps(x.as_ptr()))) };
                for (&x, &y) in x.iter().zip(&y) {
                    let want = plain(x);
                    assert!(
                        (y - want).abs() <= 4e-7 * want.abs().max(1e-30) + 1e-38,
                        "{name}({x}): {y} against {want}"
                    );
                }
            }
        }
    }

    /// Rows of 100 (6 vectors and 4 numbers), more of them than one call takes: z gets b
    /// exactly, and a = σ(z) within an ulp or two of the plain functions, tails included.
    #[test]
    fn apply_with_bias_adds_b_and_applies_the_neuron_to_every_row() {
        let (batch, n) = (ROWS_AT_ONCE * 2 + 5, 100);
        let z0 = Array2::from_shape_fn((batch, n), |(i, j)| ((i * 37 + j * 11) % 200) as f32 / 10.0 - 10.0);
        let b = ndarray::Array1::from_shape_fn(n, |j| (j % 7) as f32 / 4.0 - 0.75);
        type Plain = fn(f32) -> f32;
        let acts: [(Activation, Plain); 4] = [
            (Activation::Sigmoid, sigmoid),
            (Activation::Tanh, tanh),
            (Activation::Relu, |z| z.max(0.0)),
            (Activation::Step, |z| if z > 0.0 { 1.0 } else { 0.0 }),
        ];
        for (act, plain) in acts {
            let (mut z, mut a) = (z0.clone(), Array2::from_elem((batch, n), f32::NAN));
            act.apply_with_bias(b.view(), z.view_mut(), a.view_mut());
            for ((i, j), &a) in a.indexed_iter() {
                let want_z = z0[[i, j]] + b[j];
                assert_eq!(z[[i, j]], want_z, "{act}: z + b at [{i}, {j}]");
                let want = plain(want_z);
                assert!(
                    (a - want).abs() <= 4e-7 * want.abs() + 1e-38,
                    "{act}({want_z}) at [{i}, {j}]: {a} against {want}"
                );
            }
        }
    }

    #[test]
    fn softmax_rows_sum_to_one_even_for_large_z() {
        let z = array![[1000.0f32, 1001.0, 999.0], [-5.0, 0.0, 5.0]];
        let mut a = Array2::zeros((2, 3));
        Activation::Softmax.apply(z.view(), a.view_mut());
        for row in a.rows() {
            assert!((row.sum() - 1.0).abs() < 1e-6);
            assert!(row.iter().all(|v| v.is_finite()));
        }
        assert!(a[[0, 1]] > a[[0, 0]] && a[[0, 0]] > a[[0, 2]]);
    }

    #[test]
    fn exp_is_within_a_few_ulp_of_the_library() {
        let mut worst = 0.0f64;
        let mut x = -87.0f32;
        while x < 88.0 {
            let (ours, libm) = (exp(x) as f64, (x as f64).exp());
            worst = worst.max((ours - libm).abs() / libm);
            x += 0.000_37;
        }
        assert!(worst < 3e-7, "relative error {worst:e}");
        assert_eq!(exp(-200.0), exp(-87.3));
        assert!(exp(200.0).is_finite() && exp(0.0) == 1.0);
        assert_eq!(sigmoid(-1000.0), 0.0f32.max(sigmoid(-1000.0)));
        assert_eq!(sigmoid(1000.0), 1.0);
    }

    #[test]
    fn tanh_is_within_a_few_ulp_of_the_library() {
        let (mut worst_rel, mut worst_abs) = (0.0f64, 0.0f64);
        let mut x = -12.0f32;
        while x < 12.0 {
            let (ours, libm) = (tanh(x) as f64, (x as f64).tanh());
            worst_abs = worst_abs.max((ours - libm).abs());
            if libm.abs() > 1e-30 {
                worst_rel = worst_rel.max((ours - libm).abs() / libm.abs());
            }
            x += 0.000_31;
        }
        assert!(worst_rel < 5e-7 && worst_abs < 5e-7, "relative {worst_rel:e}, absolute {worst_abs:e}");
        assert_eq!(tanh(0.0), 0.0);
        assert!((tanh(100.0) - 1.0).abs() < 1e-6 && tanh(100.0) <= 1.0);
        assert_eq!(tanh(-100.0), -tanh(100.0));
    }

    #[test]
    fn step_is_the_perceptron_rule() {
        let z = array![[-1.0f32, 0.0, 0.5]];
        let mut a = Array2::zeros((1, 3));
        Activation::Step.apply(z.view(), a.view_mut());
        assert_eq!(a, array![[0.0, 0.0, 1.0]]);
        assert!(!Activation::Step.is_trainable());
    }

    #[test]
    fn names_round_trip() {
        for act in [
            Activation::Sigmoid,
            Activation::Tanh,
            Activation::Relu,
            Activation::Softmax,
            Activation::Identity,
            Activation::Step,
        ] {
            assert_eq!(act.to_string().parse::<Activation>().unwrap(), act);
        }
        assert!("sigmod".parse::<Activation>().unwrap_err().contains("sigmoid"));
    }
}
