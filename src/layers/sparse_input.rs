//! A dense layer's weighted inputs for examples stored as bytes that are mostly zero.
//!
//! An MNIST digit is a stroke on a black background: 19% of its 784 pixels are not 0. In
//! z = x·Wᵀ the zero inputs add nothing, so for byte examples the layer can skip them:
//! z_i = Σ over the k with x_ik ≠ 0 of x_ik · Wᵀ[k, ..]. The same function with about a fifth
//! of the multiply-adds; the sums are taken in another order than a matrix product's, so the
//! results differ from it by rounding only. Training skips them too (`sparse_training.rs`).
//!
//! Wᵀ is cut into panels of up to [`PANEL`] neurons (`[n_in, width]` each), and each panel is
//! run over all the examples before the next, so that the rows of Wᵀ the nonzero inputs pick
//! stay in the core's caches.

#[cfg(target_arch = "x86_64")]
use super::sparse_avx2 as avx2;
use ndarray::ArrayViewMut2;

/// Floats in one AVX-512 vector.
const LANES: usize = 16;

/// Neurons per panel at most: 2 vectors (the kernels take 1 or 2). Measured on an AVX-512 Xeon with panels of 16, 32
/// and 64 neurons: an epoch of [784,30,10] at mini-batch 10, 0.047–0.052 / 0.045–0.046 /
/// 0.044–0.045 s; evaluating MNIST's test set through [784,100,10], 9.6–9.9 / 8.4–8.5 /
/// 8.6–8.7 ms (3 runs each).
pub const PANEL: usize = 2 * LANES;
const _: () = assert!(PANEL <= 2 * LANES);

/// Up to this fraction of nonzero inputs, skipping the zeros beats the matrix product. Its cost
/// grows with the nonzero inputs and the product's does not: evaluating MNIST's test set
/// through [784,100,10] (19% nonzero) took 1.4× less time than the product with its byte
/// conversion, so they meet near 0.3.
pub const MAX_DENSITY: f64 = 0.3;

/// The vector instructions the kernels use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Simd {
    /// AVX-512F and BW (and POPCNT).
    Avx512,
    /// AVX2 and FMA (`sparse_avx2.rs`).
    Avx2,
}

impl Simd {
    /// The best this CPU has, if any.
    pub fn detect() -> Option<Simd> {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            if crate::linalg::has_avx512() && has!("avx512bw") && has!("popcnt") {
                return Some(Simd::Avx512);
            }
            if has!("avx2") && has!("fma") && has!("bmi1") && has!("popcnt") {
                return Some(Simd::Avx2);
            }
        }
        None
    }

    /// Whether this CPU has these instructions.
    pub fn runs_here(self) -> bool {
        match Simd::detect() {
            Some(Simd::Avx512) => true,
            Some(Simd::Avx2) => self == Simd::Avx2,
            None => false,
        }
    }
}

/// Whether this CPU runs the skipping of zeros (it needs AVX-512F and BW, or AVX2 and FMA).
pub fn available() -> bool {
    Simd::detect().is_some()
}

/// Whether `bytes` has few enough nonzero values for skipping the zeros to pay.
pub fn sparse_enough(bytes: &[u8]) -> bool {
    // counted in byte-wide sums of 255 bytes at most, which vectorise fully
    let nonzero: usize =
        bytes.chunks(255).map(|c| usize::from(c.iter().map(|&b| u8::from(b != 0)).sum::<u8>())).sum();
    (nonzero as f64) <= MAX_DENSITY * bytes.len() as f64
}

/// Floats in the panels of a layer of `n_out` neurons with `n_in` inputs.
pub fn panels_len(n_in: usize, n_out: usize) -> usize {
    n_out.div_ceil(LANES) * LANES * n_in
}

/// The panels of a layer of `n_out` neurons: (first neuron, vectors of width); panel p
/// starts at float `first · n_in` and holds `[n_in, 16 · vectors]`, zeros past the last neuron.
pub fn panels(n_out: usize) -> impl Iterator<Item = (usize, usize)> {
    panels_of(n_out, PANEL / LANES)
}

/// [`panels`] of up to `most` vectors each.
pub fn panels_of(n_out: usize, most: usize) -> impl Iterator<Item = (usize, usize)> {
    let most = most.max(1);
    (0..n_out.div_ceil(most * LANES))
        .map(move |p| (p * most * LANES, (n_out - p * most * LANES).div_ceil(LANES).min(most)))
}

/// Wᵀ in panels (see [`panels`]) from `w`, `[n_out, n_in]` row-major.
pub fn make_panels(w: &[f32], n_out: usize, n_in: usize, out: &mut [f32]) {
    make_panels_of(w, n_out, n_in, PANEL / LANES, out);
}

/// Wᵀ in panels of up to `most` vectors each ([`panels_of`]).
pub fn make_panels_of(w: &[f32], n_out: usize, n_in: usize, most: usize, out: &mut [f32]) {
    assert_eq!(out.len(), panels_len(n_in, n_out), "panels of Wᵀ");
    out.fill(0.0);
    if n_in == 0 {
        return;
    }
    for (first, vectors) in panels_of(n_out, most) {
        let width = vectors * LANES;
        let panel = &mut out[first * n_in..][..n_in * width];
        let neurons = (n_out - first).min(width);
        let w = &w[first * n_in..][..neurons * n_in];
        // row by row of the panel: its writes are contiguous, and the `neurons` lines of W
        // read down a column serve the next 15 columns from the first-level cache
        for (k, to) in panel.chunks_exact_mut(width).enumerate() {
            for (j, to) in to[..neurons].iter_mut().enumerate() {
                *to = w[j * n_in + k];
            }
        }
    }
}

/// W = `scale` · (the panels' Wᵀ)ᵀ into `w`, `[n_out, n_in]` row-major: [`make_panels`] undone.
pub fn weights_from_panels(panels_in: &[f32], scale: f32, n_out: usize, n_in: usize, w: &mut [f32]) {
    assert_eq!(w.len(), n_out * n_in, "W is [n_out, n_in]");
    if n_in == 0 {
        return;
    }
    for (first, vectors) in panels(n_out) {
        let width = vectors * LANES;
        let panel = &panels_in[first * n_in..][..n_in * width];
        for (j, row) in w[first * n_in..].chunks_exact_mut(n_in).take(n_out - first).take(width).enumerate() {
            for (k, v) in row.iter_mut().enumerate() {
                *v = scale * panel[k * width + j];
            }
        }
    }
}

/// The nonzero inputs of a batch of byte examples, example after example, each as one code
/// `k << 8 | byte` (input k, x_k = byte/255).
#[derive(Clone, Debug)]
pub struct Nonzeros {
    /// The kernels that read and write them.
    simd: Simd,
    codes: Vec<u32>,
    /// Example i's codes are `codes[starts[i]..starts[i + 1]]`.
    starts: Vec<usize>,
    /// Per example, [`BLOCK`] inputs at a time: how many of its codes are for inputs before
    /// the end of each block (example i's are `marks[i·blocks..(i + 1)·blocks]`).
    marks: Vec<u32>,
    /// The length of the examples pushed since the last clear: every k is less.
    length: usize,
}

/// Inputs per block of [`Nonzeros::marks`]: one 64-byte scan.
pub const BLOCK: usize = 64;

impl Default for Nonzeros {
    /// Empty, for this CPU's kernels. Panics unless [`available`].
    fn default() -> Self {
        Nonzeros::with(Simd::detect().expect("skipping zero inputs needs AVX-512F and BW, or AVX2 and FMA"))
    }
}

impl Nonzeros {
    /// Empty, for the kernels of `simd`. Panics unless this CPU has them.
    pub fn with(simd: Simd) -> Self {
        assert!(simd.runs_here(), "this CPU lacks {simd:?}");
        Nonzeros { simd, codes: Vec::new(), starts: Vec::new(), marks: Vec::new(), length: 0 }
    }

    /// Empties it for a new batch.
    pub fn clear(&mut self) {
        self.codes.clear();
        self.starts.clear();
        self.marks.clear();
        self.length = 0;
    }

    /// Appends an example, as long as those before it since the last clear.
    pub fn push(&mut self, bytes: &[u8]) {
        assert!(bytes.len() < 1 << 24, "input numbers fit in 24 bits");
        if self.starts.is_empty() {
            self.starts.push(0);
            self.length = bytes.len();
        }
        assert_eq!(bytes.len(), self.length, "the examples of a batch are equally long");
        // room for every byte and one vector more (each compressed store writes 16 codes)
        self.codes.reserve(bytes.len() + LANES);
        let blocks = bytes.len().div_ceil(BLOCK);
        self.marks.reserve(blocks);
        // SAFETY: the CPU has `simd` (checked when made); the room reserved above.
        #[cfg(target_arch = "x86_64")]
        unsafe {
            let (len, out) = (self.codes.len(), self.codes.as_mut_ptr().add(self.codes.len()));
            let marks = self.marks.as_mut_ptr().add(self.marks.len());
            let added = match self.simd {
                Simd::Avx512 => scan(bytes, out, marks),
                Simd::Avx2 => avx2::scan(bytes, out, marks),
            };
            self.codes.set_len(len + added);
            self.marks.set_len(self.marks.len() + blocks);
        }
        self.starts.push(self.codes.len());
    }

    /// Nonzero inputs in the batch.
    #[allow(clippy::len_without_is_empty)] // a count, not a collection
    pub fn len(&self) -> usize {
        self.codes.len()
    }

    /// Examples in the batch.
    pub fn batch(&self) -> usize {
        self.starts.len().saturating_sub(1)
    }

    /// Example `i`'s codes.
    pub fn example(&self, i: usize) -> &[u32] {
        &self.codes[self.starts[i]..self.starts[i + 1]]
    }

    /// Example `i`'s codes and its [`marks`](Self::marks).
    pub fn example_blocks(&self, i: usize) -> (&[u32], &[u32]) {
        let blocks = self.length.div_ceil(BLOCK);
        (self.example(i), &self.marks[i * blocks..(i + 1) * blocks])
    }

    /// The kernels it was scanned for.
    pub fn simd(&self) -> Simd {
        self.simd
    }

    /// The length of the examples.
    pub fn example_len(&self) -> usize {
        self.length
    }
}

/// x for each byte value: b/255, as [`crate::data::Dataset`] converts it.
pub static UNIT: std::sync::LazyLock<[f32; 256]> =
    std::sync::LazyLock::new(|| std::array::from_fn(|b| b as f32 / 255.0));

/// z = scale · x·Wᵀ for the batch `nz` into `z: [batch, n_out]`, from `panels_in` of
/// [`make_panels`] for `n_in` inputs, reading only the rows whose input is not 0.
pub fn sums(z: &mut ArrayViewMut2<f32>, nz: &Nonzeros, panels_in: &[f32], n_in: usize, scale: f32) {
    let n_out = z.ncols();
    assert_eq!(panels_in.len(), panels_len(n_in, n_out), "panels of Wᵀ");
    assert_eq!(z.nrows(), nz.batch(), "z is [batch, n_out]");
    assert!(n_out == 0 || z.is_standard_layout(), "z is row-major");
    assert!(nz.length <= n_in, "examples of n_in inputs at most");
    let unit = &*UNIT;
    #[cfg(target_arch = "x86_64")]
    for (first, vectors) in panels(n_out) {
        let panel = panels_in[first * n_in..].as_ptr();
        let width = (n_out - first).min(vectors * LANES);
        for (i, mut z) in z.rows_mut().into_iter().enumerate() {
            let z = &mut z.as_slice_mut().expect("row-major")[first..first + width];
            let codes = nz.example(i);
            // SAFETY: the CPU has `nz.simd` (checked when made); every k < n_in (asserted), a
            // row of the panel; panels are 1 or 2 vectors wide.
            unsafe {
                match (nz.simd, vectors) {
                    (Simd::Avx512, 1) => panel_sums::<1, 4>(z, codes, panel, unit, scale),
                    (Simd::Avx512, _) => panel_sums::<2, 2>(z, codes, panel, unit, scale),
                    (Simd::Avx2, 1) => avx2::panel_sums::<1>(z, codes, panel, unit, scale),
                    (Simd::Avx2, _) => avx2::panel_sums::<2>(z, codes, panel, unit, scale),
                }
            }
        }
    }
}

/// Wᵀ[k, ..] += (c·x_k)·δ_i for every example i of `nz` and its nonzero inputs k, in the
/// panels `panels_out` for `n_in` inputs: BP4 and the step for `delta: [batch, n_out]`.
pub fn step(panels_out: &mut [f32], nz: &Nonzeros, delta: ndarray::ArrayView2<f32>, n_in: usize, c: f32) {
    let n_out = delta.ncols();
    assert_eq!(panels_out.len(), panels_len(n_in, n_out), "panels of Wᵀ");
    assert_eq!(delta.nrows(), nz.batch(), "δ is [batch, n_out]");
    assert!(nz.length <= n_in, "examples of n_in inputs at most");
    let unit = &*UNIT;
    #[cfg(target_arch = "x86_64")]
    for (first, vectors) in panels(n_out) {
        let panel = panels_out[first * n_in..].as_mut_ptr();
        let width = (n_out - first).min(vectors * LANES);
        for (i, d) in delta.rows().into_iter().enumerate() {
            let d = &d.as_slice().expect("row-major")[first..first + width];
            let codes = nz.example(i);
            // SAFETY: as in `sums`.
            unsafe {
                match (nz.simd, vectors) {
                    (Simd::Avx512, 1) => panel_step::<1>(panel, codes, d, c, unit),
                    (Simd::Avx512, _) => panel_step::<2>(panel, codes, d, c, unit),
                    (Simd::Avx2, 1) => avx2::panel_step::<1>(panel, codes, d, c, unit),
                    (Simd::Avx2, _) => avx2::panel_step::<2>(panel, codes, d, c, unit),
                }
            }
        }
    }
}

/// Writes the codes of the nonzero bytes of `row` at `out`, 16 bytes at a time, and after
/// each 64 bytes how many so far at `marks`; returns how many. `out` must have room for
/// `row.len() + 16` codes, `marks` for `row.len().div_ceil(64)` counts.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,popcnt")]
unsafe fn scan(row: &[u8], out: *mut u32, marks: *mut u32) -> usize {
    use std::arch::x86_64::*;
    let mut n = 0;
    // k << 8 for k = 0..16
    let iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    let iota = _mm512_slli_epi32::<8>(iota);
    for (b, block) in row.chunks(64).enumerate() {
        let all: __mmask64 = if block.len() == 64 { !0 } else { (1u64 << block.len()) - 1 };
        // SAFETY: the mask stops at the block's end.
        let v = unsafe { _mm512_maskz_loadu_epi8(all, block.as_ptr().cast()) };
        // the examples stream from memory: ask for 2 KB ahead (never faults)
        _mm_prefetch::<_MM_HINT_T0>(block.as_ptr().wrapping_add(2048).cast());
        let nonzero = _mm512_test_epi8_mask(v, v);
        if nonzero == 0 {
            // SAFETY: the caller's room, one count per block.
            unsafe { marks.add(b).write(n as u32) };
            continue;
        }
        let k = (b * 64) as i32;
        // SAFETY (each quarter): the caller's room: n ≤ bytes scanned so far, and 16 more.
        unsafe {
            n += quarter::<0>(v, nonzero as u16, k, iota, out.add(n));
            n += quarter::<1>(v, (nonzero >> 16) as u16, k + 16, iota, out.add(n));
            n += quarter::<2>(v, (nonzero >> 32) as u16, k + 32, iota, out.add(n));
            n += quarter::<3>(v, (nonzero >> 48) as u16, k + 48, iota, out.add(n));
            marks.add(b).write(n as u32);
        }
    }
    n
}

/// The codes of bytes `16Q..16Q + 16` of `v` (inputs `k..k + 16`) whose bit in `m` is set,
/// written at `out` (16 codes' room); returns how many.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx512f,popcnt")]
unsafe fn quarter<const Q: i32>(
    v: std::arch::x86_64::__m512i,
    m: u16,
    k: i32,
    iota: std::arch::x86_64::__m512i,
    out: *mut u32,
) -> usize {
    use std::arch::x86_64::*;
    let bytes = _mm512_cvtepu8_epi32(_mm512_extracti32x4_epi32::<Q>(v));
    let codes = _mm512_or_si512(_mm512_add_epi32(iota, _mm512_set1_epi32(k << 8)), bytes);
    // SAFETY: the caller's room.
    unsafe { _mm512_storeu_si512(out.cast(), _mm512_maskz_compress_epi32(m, codes)) };
    m.count_ones() as usize
}

/// `z[..] = scale · Σ x_k · panel[k, ..]` over `codes` (the panel `16·V` wide): `S` running
/// sums per vector (codes 0, S, 2S, … in the first, …) so that the additions overlap.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn panel_sums<const V: usize, const S: usize>(
    z: &mut [f32],
    codes: &[u32],
    panel: *const f32,
    unit: &[f32; 256],
    scale: f32,
) {
    use std::arch::x86_64::*;
    let width = V * LANES;
    let mut s = [[_mm512_setzero_ps(); V]; S];
    let add = |s: &mut [__m512; V], code: u32| {
        let x = _mm512_set1_ps(unit[(code & 255) as usize]);
        // SAFETY: the caller's k < n_in, and row k of the panel is `width` floats.
        let row = unsafe { panel.add((code >> 8) as usize * width) };
        for (v, s) in s.iter_mut().enumerate() {
            *s = _mm512_fmadd_ps(x, unsafe { _mm512_loadu_ps(row.add(v * LANES)) }, *s);
        }
    };
    let (groups, rest) = codes.as_chunks::<S>();
    for group in groups {
        for (s, &code) in s.iter_mut().zip(group) {
            add(s, code);
        }
    }
    for (s, &code) in s.iter_mut().zip(rest) {
        add(s, code);
    }
    for v in 0..V {
        let sum = match S {
            4 => _mm512_add_ps(_mm512_add_ps(s[0][v], s[1][v]), _mm512_add_ps(s[2][v], s[3][v])),
            2 => _mm512_add_ps(s[0][v], s[1][v]),
            _ => s.iter().fold(_mm512_setzero_ps(), |a, s| _mm512_add_ps(a, s[v])),
        };
        let sum = _mm512_mul_ps(sum, _mm512_set1_ps(scale));
        let lanes = z.len().saturating_sub(v * LANES).min(LANES);
        if lanes > 0 {
            // SAFETY: the mask stops at z's end.
            unsafe { _mm512_mask_storeu_ps(z.as_mut_ptr().add(v * LANES), mask(lanes), sum) };
        }
    }
}

/// The first `len` (≤ 16) lanes.
#[cfg(target_arch = "x86_64")]
fn mask(len: usize) -> std::arch::x86_64::__mmask16 {
    if len >= LANES { 0xffff } else { ((1u32 << len) - 1) as u16 }
}

/// `panel[k, ..] += (c·x_k)·d` over `codes` (the panel `16·V` wide, `d` its neurons' δ of one
/// example): one example's share of BP4 and the step.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn panel_step<const V: usize>(panel: *mut f32, codes: &[u32], d: &[f32], c: f32, unit: &[f32; 256]) {
    use std::arch::x86_64::*;
    let width = V * LANES;
    let cd: [__m512; V] = std::array::from_fn(|v| {
        let lanes = d.len().saturating_sub(v * LANES).min(LANES);
        // SAFETY: the mask stops at d's end.
        let d = unsafe { _mm512_maskz_loadu_ps(mask(lanes), d.as_ptr().add((v * LANES).min(d.len()))) };
        _mm512_mul_ps(d, _mm512_set1_ps(c))
    });
    for &code in codes {
        let x = _mm512_set1_ps(unit[(code & 255) as usize]);
        // SAFETY: the caller's k < n_in, and row k of the panel is `width` floats.
        unsafe {
            let row = panel.add((code >> 8) as usize * width);
            for (v, cd) in cd.iter().enumerate() {
                let at = row.add(v * LANES);
                _mm512_storeu_ps(at, _mm512_fmadd_ps(x, *cd, _mm512_loadu_ps(at)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    #[test]
    fn skipping_zero_inputs_gives_the_matrix_product() {
        for simd in [Simd::Avx512, Simd::Avx2].into_iter().filter(|s| s.runs_here()) {
            for &(batch, n_in, n_out) in
                &[(3, 784, 30), (2, 13, 100), (4, 64, 130), (1, 9, 1), (5, 200, 16), (2, 96, 5)]
            {
                let bytes: Vec<u8> =
                    (0..batch * n_in).map(|i| if i % 7 < 5 { 0 } else { (i * 53 % 256) as u8 }).collect();
                let w: Vec<f32> = (0..n_out * n_in).map(|i| ((i * 31 % 23) as f32 - 11.0) / 7.0).collect();
                let mut panels = vec![f32::NAN; panels_len(n_in, n_out)];
                make_panels(&w, n_out, n_in, &mut panels);
                let mut back = vec![f32::NAN; n_out * n_in];
                weights_from_panels(&panels, 1.0, n_out, n_in, &mut back);
                assert_eq!(back, w, "panels hold W");
                let mut z = Array2::from_elem((batch, n_out), f32::NAN);
                let mut nz = Nonzeros::with(simd);
                bytes.chunks_exact(n_in).for_each(|e| nz.push(e));
                assert_eq!(nz.len(), bytes.iter().filter(|&&b| b != 0).count());
                for (i, example) in bytes.chunks_exact(n_in).enumerate() {
                    let marks: Vec<u32> = example
                        .chunks(BLOCK)
                        .scan(0, |n, block| {
                            *n += block.iter().filter(|&&b| b != 0).count() as u32;
                            Some(*n)
                        })
                        .collect();
                    assert_eq!(nz.example_blocks(i).1, marks, "{simd:?} marks of example {i}");
                }
                sums(&mut z.view_mut(), &nz, &panels, n_in, 1.0);
                for i in 0..batch {
                    for j in 0..n_out {
                        let want: f64 = (0..n_in)
                            .map(|k| f64::from(bytes[i * n_in + k]) / 255.0 * f64::from(w[j * n_in + k]))
                            .sum();
                        let got = f64::from(z[[i, j]]);
                        assert!(
                            (got - want).abs() <= 1e-4 * (1.0 + want.abs()),
                            "{simd:?} {batch}x{n_in}x{n_out}: {got} vs {want}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn the_scans_find_every_nonzero_byte() {
        let scans = [Simd::Avx512, Simd::Avx2].into_iter().filter(|s| s.runs_here());
        let mut scans: Vec<Nonzeros> = scans.map(Nonzeros::with).collect();
        // every density from none to all (1 in `every` bytes nonzero, or all but 1 in `every`:
        // blocks of 0–64 nonzero bytes), lengths across the 64-byte blocks
        let cases =
            [(784, 1), (784, 2), (784, 3), (784, 5), (100, 1), (63, 3), (64, 1), (130, 7), (1, 1), (0, 1)];
        for ((len, every), but) in cases.into_iter().flat_map(|c| [(c, false), (c, true)]) {
            let bytes: Vec<u8> =
                (0..3 * len).map(|i| if (i % every == 0) != but { (i % 255 + 1) as u8 } else { 0 }).collect();
            for nz in &mut scans {
                nz.clear();
                (0..3).for_each(|e| nz.push(&bytes[e * len..(e + 1) * len]));
                let scan = nz.simd;
                for (e, example) in bytes.chunks_exact(len.max(1)).enumerate() {
                    let want: Vec<u32> = (example.iter().enumerate())
                        .filter(|&(_, &b)| b != 0)
                        .map(|(k, &b)| (k as u32) << 8 | u32::from(b))
                        .collect();
                    assert_eq!(
                        nz.example(e),
                        want,
                        "{scan:?} example {e}, length {len}, 1 in {every}, {but}"
                    );
                    let marks: Vec<u32> = example
                        .chunks(BLOCK)
                        .scan(0, |n, block| {
                            *n += block.iter().filter(|&&b| b != 0).count() as u32;
                            Some(*n)
                        })
                        .collect();
                    assert_eq!(
                        nz.example_blocks(e).1,
                        marks,
                        "{scan:?} marks, length {len}, 1 in {every}, {but}"
                    );
                }
                assert_eq!(nz.len(), bytes.iter().filter(|&&b| b != 0).count());
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
