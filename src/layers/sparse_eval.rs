//! Evaluation's weighted inputs for byte examples that are mostly zero: z = x·Wᵀ summed over
//! the nonzero inputs only (see `sparse_input.rs`), the rows of Wᵀ taken 64 at a time.
//!
//! Training steps Wᵀ after every mini-batch, so its panels are narrow (`sparse_input::PANEL`)
//! and each runs over a few examples. Evaluation reads Wᵀ over thousands of examples: here a
//! panel is up to [`WIDE`] vectors (128 neurons, all of [784,100,10]'s hidden layer) and is
//! run [`ROWS`] inputs at a time over every example of the batch, so that the rows in use stay
//! in the first-level cache while the examples stream past (a whole panel, 200–400 KB, is read
//! from the second-level cache), and each code is decoded once per panel, not once per two
//! vectors.

use super::sparse_input::{BLOCK, Nonzeros, UNIT};

/// Floats in one AVX-512 vector.
const LANES: usize = 16;

/// Rows of a panel per block: two of the scan's blocks. Measured evaluating MNIST's test set
/// through [784,100,10] (one panel of 7 vectors, 1 thread, medians of 41): blocks of 64 / 128
/// / 192 / 256 / all 784 rows, 8.5–8.9 / 7.5–7.8 / 7.8 / 8.0–8.1 / 8.5–8.9 ms; panels of 2
/// vectors run over all rows (`sparse_input::sums`), 8.2–8.4 ms. Smaller blocks are read from
/// the first-level cache but end the running sums more often (a mispredicted loop exit and
/// 7 vectors added into z each time); 128 rows of 7 vectors are 56 KB, of which the rows of
/// pixels at the border (rarely nonzero) need not stay cached.
pub const ROWS: usize = 2 * BLOCK;

/// Vectors per panel at most: 16 running sums and their inputs fit the 32 vector registers.
pub const WIDE: usize = 8;

/// z = x·Wᵀ for the batch `nz` into `z: [batch, n_out]` (row-major), from `panels_in` made by
/// `sparse_input::make_panels_of(.., WIDE, ..)` for `n_in` inputs. AVX-512 only: false, having
/// done nothing, if `nz` was scanned for other kernels.
pub fn block_sums(z: &mut [f32], nz: &Nonzeros, panels_in: &[f32], n_in: usize, n_out: usize) -> bool {
    use super::sparse_input::{Simd, panels_len, panels_of};
    if nz.simd() != Simd::Avx512 {
        return false;
    }
    let batch = nz.batch();
    assert_eq!(panels_in.len(), panels_len(n_in, n_out), "panels of Wᵀ");
    assert_eq!(z.len(), batch * n_out, "z is [batch, n_out]");
    assert!(batch == 0 || nz.example_len() == n_in, "examples of n_in inputs");
    if n_in == 0 {
        z.fill(0.0);
        return true;
    }
    let unit = &*UNIT;
    #[cfg(target_arch = "x86_64")]
    for (first, vectors) in panels_of(n_out, WIDE) {
        let width = (n_out - first).min(vectors * LANES);
        // scan blocks (of 64 inputs) per block of rows here
        let (m, nb) = (ROWS / BLOCK, n_in.div_ceil(BLOCK));
        for b in 0..nb.div_ceil(m) {
            // rows b·ROWS.. of the panel; codes hold k, so the kernel reads from the panel's start
            let panel = panels_in[first * n_in..].as_ptr();
            for (i, z) in z.chunks_exact_mut(n_out).enumerate() {
                let z = &mut z[first..first + width];
                let (codes, marks) = nz.example_blocks(i);
                let from = if b == 0 { 0 } else { marks[b * m - 1] as usize };
                let codes = &codes[from..marks[(b * m + m - 1).min(nb - 1)] as usize];
                if b > 0 && codes.is_empty() {
                    continue;
                }
                // SAFETY: the CPU has AVX-512 (`nz` was scanned with it); every k < n_in
                // (asserted), a row of the panel; `vectors` is 1..=WIDE.
                unsafe {
                    match (vectors, b == 0) {
                        (1, true) => block::<1, false>(z, codes, panel, unit),
                        (1, false) => block::<1, true>(z, codes, panel, unit),
                        (2, true) => block::<2, false>(z, codes, panel, unit),
                        (2, false) => block::<2, true>(z, codes, panel, unit),
                        (3, true) => block::<3, false>(z, codes, panel, unit),
                        (3, false) => block::<3, true>(z, codes, panel, unit),
                        (4, true) => block::<4, false>(z, codes, panel, unit),
                        (4, false) => block::<4, true>(z, codes, panel, unit),
                        (5, true) => block::<5, false>(z, codes, panel, unit),
                        (5, false) => block::<5, true>(z, codes, panel, unit),
                        (6, true) => block::<6, false>(z, codes, panel, unit),
                        (6, false) => block::<6, true>(z, codes, panel, unit),
                        (7, true) => block::<7, false>(z, codes, panel, unit),
                        (7, false) => block::<7, true>(z, codes, panel, unit),
                        (_, true) => block::<8, false>(z, codes, panel, unit),
                        (_, false) => block::<8, true>(z, codes, panel, unit),
                    }
                }
            }
        }
    }
    true
}

/// `z[..] (+)= Σ x_k · panel[k, ..]` over `codes` (the panel `16·V` wide; z its first
/// `z.len()` neurons): added to z if `ADD`, else written. Two running sums per vector
/// (codes 0, 2, 4, … in the first) so that the additions overlap.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn block<const V: usize, const ADD: bool>(
    z: &mut [f32],
    codes: &[u32],
    panel: *const f32,
    unit: &[f32; 256],
) {
    use std::arch::x86_64::*;
    let width = V * LANES;
    let mut s = [[_mm512_setzero_ps(); V]; 2];
    let add = |s: &mut [__m512; V], code: u32| {
        let x = _mm512_set1_ps(unit[(code & 255) as usize]);
        // SAFETY: the caller's k < n_in, and row k of the panel is `width` floats.
        let row = unsafe { panel.add((code >> 8) as usize * width) };
        for (v, s) in s.iter_mut().enumerate() {
            *s = _mm512_fmadd_ps(x, unsafe { _mm512_loadu_ps(row.add(v * LANES)) }, *s);
        }
    };
    let (pairs, rest) = codes.as_chunks::<2>();
    for &[a, b] in pairs {
        add(&mut s[0], a);
        add(&mut s[1], b);
    }
    if let [a] = rest {
        add(&mut s[0], *a);
    }
    for (v, (s0, s1)) in s[0].iter().zip(&s[1]).enumerate() {
        let lanes = z.len().saturating_sub(v * LANES).min(LANES);
        if lanes == 0 {
            break;
        }
        let m: __mmask16 = if lanes == LANES { 0xffff } else { ((1u32 << lanes) - 1) as u16 };
        let mut sum = _mm512_add_ps(*s0, *s1);
        // SAFETY: the mask stops at z's end.
        unsafe {
            let at = z.as_mut_ptr().add(v * LANES);
            if ADD {
                sum = _mm512_add_ps(sum, _mm512_maskz_loadu_ps(m, at));
            }
            _mm512_mask_storeu_ps(at, m, sum);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::sparse_input::{Simd, make_panels_of, panels_len};

    #[test]
    fn blocks_of_rows_give_the_matrix_product() {
        if !Simd::Avx512.runs_here() {
            return;
        }
        // n_in across block edges (1 block, several, a short last one); n_out 1 to 2 panels
        for &(batch, n_in, n_out) in
            &[(3, 784, 100), (2, 13, 130), (4, 200, 16), (1, 9, 1), (5, 128, 257), (2, 65, 17), (2, 0, 3)]
        {
            let bytes: Vec<u8> = (0..batch * n_in)
                .map(|i| if i % 7 < 5 || i % 97 < 40 { 0 } else { (i * 53 % 256) as u8 })
                .collect();
            let w: Vec<f32> = (0..n_out * n_in).map(|i| ((i * 31 % 23) as f32 - 11.0) / 7.0).collect();
            let mut panels = vec![f32::NAN; panels_len(n_in, n_out)];
            make_panels_of(&w, n_out, n_in, WIDE, &mut panels);
            let mut nz = Nonzeros::with(Simd::Avx512);
            (0..batch).for_each(|i| nz.push(&bytes[i * n_in..(i + 1) * n_in]));
            let mut z = vec![f32::NAN; batch * n_out];
            assert!(block_sums(&mut z, &nz, &panels, n_in, n_out));
            for i in 0..batch {
                for j in 0..n_out {
                    let want: f64 = (0..n_in)
                        .map(|k| f64::from(bytes[i * n_in + k]) / 255.0 * f64::from(w[j * n_in + k]))
                        .sum();
                    let got = f64::from(z[i * n_out + j]);
                    assert!(
                        (got - want).abs() <= 1e-4 * (1.0 + want.abs()),
                        "{batch}x{n_in}x{n_out}: {got} vs {want}"
                    );
                }
            }
        }
        // not for the AVX2 kernels' scan
        if Simd::Avx2.runs_here() {
            let mut nz = Nonzeros::with(Simd::Avx2);
            nz.push(&[0, 3]);
            assert!(!block_sums(&mut [0.0; 2], &nz, &[0.0; 32], 2, 1));
        }
    }
}
