//! A dense layer's weighted inputs for examples stored as bytes that are mostly zero.
//!
//! An MNIST digit is a stroke on a black background: 19% of its 784 pixels are not 0. In
//! z = x·Wᵀ the zero inputs add nothing, so for byte examples the layer can skip them:
//! z_i = Σ over the k with x_ik ≠ 0 of x_ik · Wᵀ[k, ..]. The same function with about a fifth
//! of the multiply-adds; the sums are taken in another order than a matrix product's, so the
//! results differ from it by rounding only.
//!
//! Wᵀ is cut into panels of 16 neurons (`[n_in, 16]` each, 50 KB for 784 inputs), and each
//! panel is run over all the examples before the next: so the rows of Wᵀ that the nonzero
//! inputs pick are read from the core's first-level cache, not the second.

use ndarray::ArrayViewMut2;

/// Neurons per panel: one AVX-512 vector.
const PANEL: usize = 16;

/// Up to this fraction of nonzero inputs, skipping the zeros beats the matrix product. Its cost
/// grows with the nonzero inputs and the product's does not: evaluating MNIST's test set
/// through [784,100,10] (19% nonzero) took 1.4× less time than the product with its byte
/// conversion, so they meet near 0.3.
pub const MAX_DENSITY: f64 = 0.3;

/// Whether this CPU runs the skipping of zeros (it needs AVX-512F and BW).
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        crate::linalg::has_avx512() && std::arch::is_x86_feature_detected!("avx512bw")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether `bytes` has few enough nonzero values for [`weighted_inputs`] to pay.
pub fn sparse_enough(bytes: &[u8]) -> bool {
    // counted in byte-wide sums of 255 bytes at most, which vectorise fully
    let nonzero: usize =
        bytes.chunks(255).map(|c| usize::from(c.iter().map(|&b| u8::from(b != 0)).sum::<u8>())).sum();
    (nonzero as f64) <= MAX_DENSITY * bytes.len() as f64
}

/// Floats in the panels of a layer of `n_out` neurons with `n_in` inputs.
pub fn panels_len(n_in: usize, n_out: usize) -> usize {
    n_out.div_ceil(PANEL) * n_in * PANEL
}

/// Wᵀ in panels (see the module's text) from `w`, `[n_out, n_in]` row-major: panel p holds
/// `[n_in, 16]` with `panels[(p·n_in + k)·16 + j] = w[16p + j, k]`, zeros past the last neuron.
pub fn make_panels(w: &[f32], n_out: usize, n_in: usize, panels: &mut [f32]) {
    panels.fill(0.0);
    for (neuron, row) in w.chunks_exact(n_in).take(n_out).enumerate() {
        let (p, j) = (neuron / PANEL, neuron % PANEL);
        for (k, &v) in row.iter().enumerate() {
            panels[(p * n_in + k) * PANEL + j] = v;
        }
    }
}

/// z = x·Wᵀ for the examples `bytes` (`[batch, n_in]` row-major, x = byte/255 as
/// [`crate::data::Dataset`] converts it) into `z: [batch, n_out]`, from the panels of
/// [`make_panels`], reading only the rows whose input is not 0. Needs [`available`].
pub fn weighted_inputs(z: &mut ArrayViewMut2<f32>, bytes: &[u8], panels: &[f32], n_in: usize, n_out: usize) {
    assert!(available(), "skipping zero inputs needs AVX-512F and BW");
    assert_eq!(panels.len(), panels_len(n_in, n_out), "panels of Wᵀ");
    assert_eq!(bytes.len(), z.nrows() * n_in, "bytes are [batch, n_in]");
    assert_eq!(z.ncols(), n_out, "z is [batch, n_out]");
    assert!(z.ncols() == 0 || z.is_standard_layout(), "z is row-major");
    let unit: [f32; 256] = std::array::from_fn(|b| b as f32 / 255.0);
    // Every example's nonzero inputs (k, x_k), one after another; example i's are
    // pairs[starts[i]..starts[i + 1]].
    let mut pairs: Vec<(u32, f32)> = Vec::with_capacity(bytes.len() / 3);
    let mut starts = Vec::with_capacity(z.nrows() + 1);
    starts.push(0);
    for row in bytes.chunks_exact(n_in.max(1)) {
        // SAFETY: `available` (asserted above) checked AVX-512F and BW.
        #[cfg(target_arch = "x86_64")]
        unsafe {
            scan_avx512(row, &unit, &mut pairs)
        };
        starts.push(pairs.len());
    }
    #[cfg(target_arch = "x86_64")]
    for p in 0..n_out.div_ceil(PANEL) {
        let panel = &panels[p * n_in * PANEL..(p + 1) * n_in * PANEL];
        let width = (n_out - p * PANEL).min(PANEL);
        for (i, mut z) in z.rows_mut().into_iter().enumerate() {
            let z = &mut z.as_slice_mut().expect("row-major")[p * PANEL..p * PANEL + width];
            // SAFETY: as above; every k in `pairs` is < n_in, a row of the panel.
            unsafe { panel_sums(z, &pairs[starts[i]..starts[i + 1]], panel) };
        }
    }
}

/// Appends (k, x_k) for the nonzero bytes of `row`, 64 at a time.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn scan_avx512(row: &[u8], unit: &[f32; 256], pairs: &mut Vec<(u32, f32)>) {
    use std::arch::x86_64::*;
    let (blocks, rest) = row.as_chunks::<64>();
    for (b, block) in blocks.iter().enumerate() {
        // SAFETY: a block is 64 readable bytes.
        let v = unsafe { _mm512_loadu_si512(block.as_ptr().cast()) };
        let mut nonzero = _mm512_test_epi8_mask(v, v);
        while nonzero != 0 {
            let at = nonzero.trailing_zeros() as usize;
            pairs.push(((b * 64 + at) as u32, unit[usize::from(block[at])]));
            nonzero &= nonzero - 1;
        }
    }
    let done = blocks.len() * 64;
    for (k, &v) in rest.iter().enumerate().filter(|&(_, &v)| v != 0) {
        pairs.push(((done + k) as u32, unit[usize::from(v)]));
    }
}

/// `z[..width] = Σ x · panel[k, ..width]` over `pairs`' (k, x): four running sums (pairs
/// 0, 4, 8, … in the first, 1, 5, 9, … in the second, …) so that the additions overlap,
/// then (s0 + s1) + (s2 + s3).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn panel_sums(z: &mut [f32], pairs: &[(u32, f32)], panel: &[f32]) {
    use std::arch::x86_64::*;
    let base = panel.as_ptr();
    // SAFETY (every load): the caller's k < n_in, and row k of the panel is 16 floats.
    let row = |k: u32| unsafe { _mm512_loadu_ps(base.add(k as usize * PANEL)) };
    let mut s = [_mm512_setzero_ps(); 4];
    let (quads, rest) = pairs.as_chunks::<4>();
    for quad in quads {
        for (s, &(k, x)) in s.iter_mut().zip(quad) {
            *s = _mm512_fmadd_ps(_mm512_set1_ps(x), row(k), *s);
        }
    }
    for (s, &(k, x)) in s.iter_mut().zip(rest) {
        *s = _mm512_fmadd_ps(_mm512_set1_ps(x), row(k), *s);
    }
    let sum = _mm512_add_ps(_mm512_add_ps(s[0], s[1]), _mm512_add_ps(s[2], s[3]));
    let mask: __mmask16 = if z.len() >= PANEL { 0xffff } else { ((1u32 << z.len()) - 1) as u16 };
    // SAFETY: the mask stops at z's length (≤ 16).
    unsafe { _mm512_mask_storeu_ps(z.as_mut_ptr(), mask, sum) };
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    #[test]
    fn skipping_zero_inputs_gives_the_matrix_product() {
        if !available() {
            return; // this CPU takes the matrix product
        }
        for &(batch, n_in, n_out) in &[(3, 784, 30), (2, 13, 100), (4, 64, 130), (1, 9, 1), (5, 200, 16)] {
            let bytes: Vec<u8> =
                (0..batch * n_in).map(|i| if i % 7 < 5 { 0 } else { (i * 53 % 256) as u8 }).collect();
            let w: Vec<f32> = (0..n_out * n_in).map(|i| ((i * 31 % 23) as f32 - 11.0) / 7.0).collect();
            let mut panels = vec![f32::NAN; panels_len(n_in, n_out)];
            make_panels(&w, n_out, n_in, &mut panels);
            let mut z = Array2::from_elem((batch, n_out), f32::NAN);
            weighted_inputs(&mut z.view_mut(), &bytes, &panels, n_in, n_out);
            for i in 0..batch {
                for j in 0..n_out {
                    let want: f64 = (0..n_in)
                        .map(|k| f64::from(bytes[i * n_in + k]) / 255.0 * f64::from(w[j * n_in + k]))
                        .sum();
                    let got = f64::from(z[[i, j]]);
                    assert!(
                        (got - want).abs() <= 1e-4 * (1.0 + want.abs()),
                        "{batch}x{n_in}x{n_out}: {got} vs {want}"
                    );
                }
            }
        }
    }

    #[test]
    fn density_decides() {
        assert!(sparse_enough(&[0, 0, 0, 9]));
        assert!(!sparse_enough(&[1, 0, 2, 9]));
        assert!(sparse_enough(&[]));
        assert!(sparse_enough(&[0; 1000]));
    }
}
