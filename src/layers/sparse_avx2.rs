//! The kernels of `sparse_input.rs` for CPUs with AVX2 and FMA but not AVX-512 (AMD Zen 3,
//! older Intel): the same panels, each 16-float row as two 8-float halves, and the same sums in
//! the same order per lane, so results differ from the AVX-512 kernels' by nothing but the
//! number of running sums.

#![cfg(target_arch = "x86_64")]

use std::arch::x86_64::*;

/// Floats in one AVX2 vector.
const HALF: usize = 8;

/// Writes the codes `k << 8 | byte` of the nonzero bytes of `row` at `out`, 32 bytes at a
/// time, and after each 64 bytes how many so far at `marks`; returns how many. `out` must
/// have room for `row.len()` codes, `marks` for `row.len().div_ceil(64)` counts.
#[target_feature(enable = "avx2,bmi1,popcnt")]
pub unsafe fn scan(row: &[u8], out: *mut u32, marks: *mut u32) -> usize {
    let mut n = 0;
    for (b, block) in row.chunks(32).enumerate() {
        let mut bits: u32 = if block.len() == 32 {
            // SAFETY: a block of 32 bytes.
            let v = unsafe { _mm256_loadu_si256(block.as_ptr().cast()) };
            !(_mm256_movemask_epi8(_mm256_cmpeq_epi8(v, _mm256_setzero_si256())) as u32)
        } else {
            block.iter().enumerate().filter(|&(_, &v)| v != 0).fold(0, |m, (j, _)| m | 1 << j)
        };
        while bits != 0 {
            let j = bits.trailing_zeros() as usize;
            // SAFETY: the caller's room: one code per byte at most.
            unsafe { out.add(n).write(((b * 32 + j) as u32) << 8 | u32::from(block[j])) };
            n += 1;
            bits &= bits - 1;
        }
        if b % 2 == 1 || (b + 1) * 32 >= row.len() {
            // SAFETY: the caller's room, one count per 64 bytes.
            unsafe { marks.add(b / 2).write(n as u32) };
        }
    }
    n
}

/// The first `n` of up to `16·V` lanes of `src`, zeros after: a tail as whole vectors.
fn padded<const V: usize>(src: &[f32]) -> [[f32; 16]; V] {
    let mut out = [[0.0; 16]; V];
    for (o, s) in out.iter_mut().flatten().zip(src) {
        *o = *s;
    }
    out
}

/// `z[..] = scale · Σ x_k · panel[k, ..]` over `codes` (the panel `16·V` wide): two running
/// sums per vector.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn panel_sums<const V: usize>(
    z: &mut [f32],
    codes: &[u32],
    panel: *const f32,
    unit: &[f32; 256],
    scale: f32,
) {
    let width = V * 16;
    let mut s = [[[_mm256_setzero_ps(); 2]; V]; 2];
    let add = |s: &mut [[__m256; 2]; V], code: u32| {
        let x = _mm256_set1_ps(unit[(code & 255) as usize]);
        // SAFETY: the caller's k < n_in, and row k of the panel is `width` floats.
        let row = unsafe { panel.add((code >> 8) as usize * width) };
        for (v, s) in s.iter_mut().enumerate() {
            for (h, s) in s.iter_mut().enumerate() {
                *s = _mm256_fmadd_ps(x, unsafe { _mm256_loadu_ps(row.add(v * 16 + h * HALF)) }, *s);
            }
        }
    };
    let (pairs, rest) = codes.as_chunks::<2>();
    for pair in pairs {
        add(&mut s[0], pair[0]);
        add(&mut s[1], pair[1]);
    }
    if let Some(&code) = rest.first() {
        add(&mut s[0], code);
    }
    let mut out = [[0.0f32; 16]; V];
    for (v, out) in out.iter_mut().enumerate() {
        for (h, (a, b)) in s[0][v].iter().zip(&s[1][v]).enumerate() {
            let sum = _mm256_mul_ps(_mm256_add_ps(*a, *b), _mm256_set1_ps(scale));
            // SAFETY: 8 floats of a 16-float row.
            unsafe { _mm256_storeu_ps(out.as_mut_ptr().add(h * HALF), sum) };
        }
    }
    for (z, o) in z.iter_mut().zip(out.iter().flatten()) {
        *z = *o;
    }
}

/// `panel[k, ..] += (c·x_k)·d` over `codes` (the panel `16·V` wide, `d` its neurons' δ of one
/// example).
#[target_feature(enable = "avx2,fma")]
pub unsafe fn panel_step<const V: usize>(
    panel: *mut f32,
    codes: &[u32],
    d: &[f32],
    c: f32,
    unit: &[f32; 256],
) {
    let width = V * 16;
    let d = padded::<V>(d);
    let cd: [[__m256; 2]; V] = std::array::from_fn(|v| {
        // SAFETY: 8 floats of a 16-float row.
        std::array::from_fn(|h| unsafe {
            _mm256_mul_ps(_mm256_loadu_ps(d[v].as_ptr().add(h * HALF)), _mm256_set1_ps(c))
        })
    });
    for &code in codes {
        let x = _mm256_set1_ps(unit[(code & 255) as usize]);
        // SAFETY: the caller's k < n_in, and row k of the panel is `width` floats.
        unsafe {
            let row = panel.add((code >> 8) as usize * width);
            for (v, cd) in cd.iter().enumerate() {
                for (h, cd) in cd.iter().enumerate() {
                    let at = row.add(v * 16 + h * HALF);
                    _mm256_storeu_ps(at, _mm256_fmadd_ps(x, *cd, _mm256_loadu_ps(at)));
                }
            }
        }
    }
}
