//! The kernels of `sparse_input.rs` for CPUs with AVX2 and FMA but not AVX-512 (AMD Zen 3,
//! older Intel): the same panels, each 16-float row as two 8-float halves, and the same sums in
//! the same order per lane, so results differ from the AVX-512 kernels' by nothing but the
//! number of running sums.

#![cfg(target_arch = "x86_64")]

use std::arch::x86_64::*;

/// Floats in one AVX2 vector.
const HALF: usize = 8;

/// Writes the codes `k << 8 | byte` of the nonzero bytes of `row` at `out`, and after each 64
/// bytes how many so far at `marks`; returns how many. `out` must have room for
/// `row.len() + 8` codes, `marks` for `row.len().div_ceil(64)` counts.
///
/// Eight bytes at a time without a branch: their eight codes in one vector, the nonzero ones
/// moved to the front by a permutation looked up from the byte mask ([`PACK`]), all eight
/// stored, and `n` moved on by how many count. Writing the codes one by one, a loop over the
/// mask's bits, mispredicted the end of every block: 17% of a chapter-1 epoch on AMD Zen 2.
#[target_feature(enable = "avx2,bmi1,popcnt")]
pub unsafe fn scan(row: &[u8], out: *mut u32, marks: *mut u32) -> usize {
    let mut n = 0;
    // k << 8 for k = 0..8
    let iota = _mm256_slli_epi32::<8>(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    // a last, shorter block is read from a copy padded with zeros
    let mut padded = [0u8; 64];
    for (b, block) in row.chunks(64).enumerate() {
        let bytes = if block.len() == 64 {
            block.as_ptr()
        } else {
            padded[..block.len()].copy_from_slice(block);
            padded.as_ptr()
        };
        // the examples stream from memory: ask for 2 KB ahead (never faults)
        _mm_prefetch::<_MM_HINT_T0>(block.as_ptr().wrapping_add(2048).cast());
        // SAFETY: 64 bytes at `bytes`, in two halves.
        let nonzero = |h: usize| {
            let v = unsafe { _mm256_loadu_si256(bytes.add(32 * h).cast()) };
            u64::from(!(_mm256_movemask_epi8(_mm256_cmpeq_epi8(v, _mm256_setzero_si256())) as u32))
        };
        let nonzero = nonzero(0) | nonzero(1) << 32;
        if nonzero != 0 {
            for g in 0..8 {
                let m = (nonzero >> (8 * g)) as u8;
                let k = (b * 64 + g * 8) as i32;
                // SAFETY: bytes 8g..8g + 8 of the 64; PACK's rows are 8 lanes; the caller's
                // room: n ≤ bytes scanned so far, and 8 more.
                unsafe {
                    let x = _mm256_cvtepu8_epi32(_mm_loadl_epi64(bytes.add(8 * g).cast()));
                    let codes = _mm256_or_si256(x, _mm256_add_epi32(iota, _mm256_set1_epi32(k << 8)));
                    let to_front = _mm256_loadu_si256(PACK[usize::from(m)].as_ptr().cast());
                    _mm256_storeu_si256(out.add(n).cast(), _mm256_permutevar8x32_epi32(codes, to_front));
                }
                n += m.count_ones() as usize;
            }
        }
        // SAFETY: the caller's room, one count per block.
        unsafe { marks.add(b).write(n as u32) };
    }
    n
}

/// For each mask of 8 lanes, the lanes whose bit is set, in order, then zeros: the indices
/// that move them to the front.
static PACK: [[u32; 8]; 256] = {
    let mut t = [[0; 8]; 256];
    let mut m = 0;
    while m < 256 {
        let (mut n, mut i) = (0, 0);
        while i < 8 {
            if m >> i & 1 == 1 {
                t[m][n] = i as u32;
                n += 1;
            }
            i += 1;
        }
        m += 1;
    }
    t
};

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
