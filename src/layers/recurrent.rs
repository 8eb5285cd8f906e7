//! Recurrent layers (Qiu ch. 6; Colah, "Understanding LSTM Networks"): a hidden state fed back
//! at every time step, trained by backpropagation through time (BPTT).
//!
//! A row of the input holds one example's whole sequence, step after step:
//! `[batch, T·F]` is read as T steps of F features (an MNIST image: its 28 rows of 28 pixels).
//! The output is every step's hidden state, `[batch, T·H]`, or only the last, `[batch, H]`.

use super::{Init, Layer, LayerSpec, Shape, Work};
use crate::Rng;
use crate::activation::{sigmoid, tanh};
use crate::buffer::Buf;
use crate::linalg::matmul;
use ndarray::{Array2, ArrayView2, ArrayViewMut2, Axis, s};
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

/// Which recurrent cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cell {
    /// Elman: h_t = tanh(W x_t + U h_{t−1} + b).
    Rnn,
    /// Long short-term memory, four gates computed by one product per step.
    Lstm,
}

impl Cell {
    /// Rows of the weight matrices: one per hidden unit per gate.
    fn gates(self) -> usize {
        match self {
            Cell::Rnn => 1,
            Cell::Lstm => 4,
        }
    }
}

/// `[batch, T·F] -> [batch, T·H]` (`sequence`) or `[batch, H]`.
///
/// Parameters: `weights` W `[G·H, F]` on the input, `recurrent` U `[G·H, H]` on the previous
/// hidden state, `biases` `[G·H]`, with G = 4 gates for the LSTM (in the order input i, forget
/// f, candidate g, output o, as PyTorch) and 1 for the RNN.
#[derive(Clone, Debug)]
pub struct Recurrent {
    cell: Cell,
    input: Shape,
    steps: usize,
    features: usize,
    hidden: usize,
    sequence: bool,
    /// `[weights W [G·H, F], recurrent U [G·H, H], biases [G·H]]`, row-major.
    params: [Buf; 3],
}

/// One replica's buffers.
struct RecurrentWork {
    /// Per (example, step) row, `[batch·T, G·H]`: the gates after their nonlinearity
    /// (i, f, g, o for the LSTM; h for the RNN). On the way back: ∂C/∂z of each gate.
    gates: Buf,
    /// `[batch·T, H]`: the cell state c_t (LSTM only).
    cells: Buf,
    /// `[batch·T, H]`: the hidden state h_t of every step.
    hiddens: Buf,
    /// `[batch, H]` scratch: ∂C/∂h_t and ∂C/∂c_t carried back from step t + 1.
    dh: Buf,
    dc: Buf,
    /// `[batch·T, H + F + 1]`: row (b, t) holds what step t of example b multiplies,
    /// `[h_{t−1} | x_t | 1]` (h_{−1} = 0; the 1 is the biases' input): forward, one product
    /// per step gives all three terms of z; backward, one product gives ∂C/∂U, ∂C/∂W and
    /// ∂C/∂b side by side.
    inputs: Buf,
    /// `[H + F + 1, G·H]`: `[Uᵀ; Wᵀ; bᵀ]`, copied once per forward pass, in the order the
    /// matrix-product kernel reads (`U.t()` made it repack U at every step).
    stacked: Buf,
    /// The layer's output (a copy of the last step's h when not `sequence`).
    out: Buf,
    /// Per part of the batch (one per thread): its examples' share of
    /// `[∂C/∂U | ∂C/∂W | ∂C/∂b]ᵀ`, `[H + F + 1, G·H]`.
    partials: Vec<Array2<f32>>,
    batch: usize,
}

impl Recurrent {
    /// Weights N(0, 1/F) and N(0, 1/H) (or N(0,1) for `Init::Large`), biases 0 — except the
    /// LSTM's forget gate, whose biases start at 1 so that the cell remembers from the start.
    pub fn new(spec: &LayerSpec, init: Init, rng: &mut Rng) -> Self {
        let LayerSpec::Recurrent { cell, input, hidden, sequence } = *spec else {
            panic!("Recurrent::new needs a recurrent spec, got {spec}");
        };
        let (steps, features) = (input.height, input.channels * input.width);
        let g = cell.gates() * hidden;
        let mut draw = |rows: usize, cols: usize| {
            let std = if init == Init::Large { 1.0 } else { 1.0 / (cols as f32).sqrt() };
            let normal = Normal::new(0.0f32, std).expect("sizes ≥ 1 (checked with the spec)");
            let mut m = Buf::zeros(rows * cols);
            m.iter_mut().for_each(|v| *v = normal.sample(rng));
            m
        };
        let (weights, recurrent) = (draw(g, features), draw(g, hidden));
        let mut biases = Buf::zeros(g);
        if cell == Cell::Lstm {
            biases[hidden..2 * hidden].fill(1.0);
        }
        Recurrent { cell, input, steps, features, hidden, sequence, params: [weights, recurrent, biases] }
    }

    /// What every part of a batch reads and none changes.
    fn fixed(&self) -> Fixed<'_> {
        let g = self.cell.gates() * self.hidden;
        Fixed {
            cell: self.cell,
            steps: self.steps,
            features: self.features,
            w: self.params[0].view2(g, self.features),
            u: self.params[1].view2(g, self.hidden),
        }
    }

    fn out_width(&self) -> usize {
        if self.sequence { self.steps * self.hidden } else { self.hidden }
    }
}

/// Below this much arithmetic per batch, one thread runs every example (waking the pool costs
/// more); above it, the batch is split into one part per thread, each running its examples'
/// whole recurrence (see [`super::part_size`]).
const PARALLEL_MACS: usize = 4_000_000;

fn part_size(batch: usize, macs: usize) -> usize {
    super::part_size(batch, macs, PARALLEL_MACS)
}

/// Examples per product in `step_product`.
const STEP_ROWS: usize = 16;

/// `out = alpha·out + a·b` for one step of the recurrence (`a` one row per example), done
/// `STEP_ROWS` examples at a time. Given more than 48 rows at once, the product routine copies
/// `b` (`[Uᵀ; Wᵀ]` forward, U back: ~300 KB for the LSTM of 128) into its own layout first, at every step forward
/// and back; in slices of 16 it reads `b` where it lies. lstm-128, 1 thread, 20,000
/// images, alternating runs (time ratios of the medians of 3): 32 rows at a time against all
/// 64, 0.970; 16 against 32, 0.971; 8 against 16, 1.028; 16 against all 64, 0.945. Re-checked
/// with the stacked product (3 runs each): 12, 18 and 24 rows no faster than 16, all 64 slower.
/// Each element's sum is the same, so the results are too.
fn step_product(alpha: f32, out: &mut ArrayViewMut2<f32>, a: &ArrayView2<f32>, b: &ArrayView2<f32>) {
    for (mut out, a) in
        out.axis_chunks_iter_mut(Axis(0), STEP_ROWS).zip(a.axis_chunks_iter(Axis(0), STEP_ROWS))
    {
        matmul(alpha, &mut out, 1.0, &a, b);
    }
}

/// One (example, step) row of the LSTM's gates, `[4H]`, as its four gates i, f, g, o.
fn gate_rows(row: &mut [f32], h: usize) -> [&mut [f32]; 4] {
    let (i, rest) = row.split_at_mut(h);
    let (f, rest) = rest.split_at_mut(h);
    let (g, o) = rest.split_at_mut(h);
    [i, f, g, o]
}

/// What every part of a batch reads and none changes.
struct Fixed<'a> {
    cell: Cell,
    steps: usize,
    features: usize,
    w: ArrayView2<'a, f32>,
    u: ArrayView2<'a, f32>,
}

impl Fixed<'_> {
    /// The forward pass (see `forward`) for some examples: `x: [n, T·F]`, `stacked` =
    /// `[Uᵀ; Wᵀ; bᵀ]` `[H + F + 1, G·H]` contiguous, `inputs` `[n·T, H + F + 1]`, the rest
    /// `[n·T, ·]`.
    fn forward_rows(
        &self,
        stacked: ArrayView2<f32>,
        x: ArrayView2<f32>,
        mut inputs: ArrayViewMut2<f32>,
        mut gates: ArrayViewMut2<f32>,
        mut hiddens: ArrayViewMut2<f32>,
        mut cells: ArrayViewMut2<f32>,
    ) {
        let (batch, steps, h, f) = (x.nrows(), self.steps, self.u.ncols(), self.features);
        // x_t beside (later) h_{t−1} in every row (b, t); rows (b, t) of x are contiguous, F each
        let xs = x.into_shape_with_order((batch * steps, f)).expect("rows are contiguous");
        inputs.slice_mut(s![.., h..h + f]).assign(&xs);
        inputs.column_mut(h + f).fill(1.0);
        inputs.slice_mut(s![0..;steps, ..h]).fill(0.0);
        let zeros = vec![0.0f32; h]; // c_{−1}
        for t in 0..steps {
            let mut z = gates.slice_mut(s![t..;steps, ..]);
            // z = [h_{t−1} | x_t | 1]·[Uᵀ; Wᵀ; bᵀ] = U h_{t−1} + W x_t + b, one product for
            // the three terms (h_{−1} = 0 left out at t = 0)
            let rows = inputs.slice(s![t..;steps, if t == 0 { h } else { 0 }..]);
            let by = stacked.slice(s![if t == 0 { h } else { 0 }.., ..]);
            step_product(0.0, &mut z, &rows, &by);
            match self.cell {
                Cell::Rnn => {
                    for (mut zr, mut hr) in
                        z.rows_mut().into_iter().zip(hiddens.slice_mut(s![t..;steps, ..]).rows_mut())
                    {
                        ndarray::Zip::from(&mut zr).and(&mut hr).for_each(|z, h| {
                            *z = tanh(*z);
                            *h = *z;
                        });
                    }
                }
                Cell::Lstm => {
                    let cs = cells.as_slice_mut().expect("contiguous");
                    let hs = hiddens.as_slice_mut().expect("contiguous");
                    let ins = inputs.as_slice_mut().expect("contiguous");
                    let width = h + f + 1;
                    for e in 0..batch {
                        let r = e * steps + t;
                        let mut zr = z.row_mut(e);
                        let z = zr.as_slice_mut().expect("rows are contiguous");
                        let (before, from_r) = cs.split_at_mut(r * h);
                        let c_prev: &[f32] = if t > 0 { &before[(r - 1) * h..] } else { &zeros };
                        let h_t = &mut hs[r * h..(r + 1) * h];
                        gate_step(z, c_prev, &mut from_r[..h], h_t);
                        // h_t into the next step's inputs while it is in cache
                        if t + 1 < steps {
                            ins[(r + 1) * width..(r + 1) * width + h].copy_from_slice(h_t);
                        }
                    }
                }
            }
            if self.cell == Cell::Rnn && t + 1 < steps {
                inputs.slice_mut(s![t + 1..;steps, ..h]).assign(&hiddens.slice(s![t..;steps, ..]));
            }
        }
    }

    /// BPTT (see `backward`) for some examples: `grad: [n, T·H or H]`, `gates` (values in,
    /// ∂C/∂z out), `cells`: `[n·T, ·]`; `dh`, `dc`: `[n, H]` scratch; their share of
    /// `[∂C/∂U | ∂C/∂W | ∂C/∂b]ᵀ` `[H + F + 1, G·H]` into `nabla`, from the forward pass's
    /// `inputs` `[n·T, H + F + 1]`.
    #[allow(clippy::too_many_arguments)]
    fn backward_rows(
        &self,
        sequence: bool,
        grad: ArrayView2<f32>,
        mut gates: ArrayViewMut2<f32>,
        inputs: ArrayView2<f32>,
        cells: ArrayView2<f32>,
        mut dh: ArrayViewMut2<f32>,
        mut dc: ArrayViewMut2<f32>,
        nabla: &mut Array2<f32>,
    ) {
        let (batch, steps, h) = (grad.nrows(), self.steps, self.u.ncols());
        dh.fill(0.0);
        dc.fill(0.0);
        let zeros = vec![0.0f32; h];
        for t in (0..steps).rev() {
            // ∂C/∂h_t from the layer above
            if sequence {
                dh += &grad.slice(s![.., t * h..(t + 1) * h]);
            } else if t == steps - 1 {
                dh += &grad;
            }
            let mut z = gates.slice_mut(s![t..;steps, ..]);
            match self.cell {
                Cell::Rnn => {
                    // z holds h_t: dz = dh ⊙ (1 − h²), written over it
                    ndarray::Zip::from(&mut z).and(&dh).for_each(|z, &d| *z = d * (1.0 - *z * *z));
                }
                Cell::Lstm => {
                    let cs = cells.as_slice().expect("contiguous");
                    for b in 0..batch {
                        let r = b * steps + t;
                        let mut zr = z.row_mut(b);
                        let [i, f, gg, o] = gate_rows(zr.as_slice_mut().expect("rows are contiguous"), h);
                        let c = &cs[r * h..(r + 1) * h];
                        let c_prev = if t > 0 { &cs[(r - 1) * h..r * h] } else { &zeros[..] };
                        let mut dh_b = dh.row_mut(b);
                        let mut dc_b = dc.row_mut(b);
                        let dh_b = dh_b.as_slice_mut().expect("contiguous");
                        gate_back(i, f, gg, o, c, c_prev, dh_b, dc_b.as_slice_mut().expect("contiguous"));
                    }
                }
            }
            // what step t − 1 receives through U
            if t > 0 {
                step_product(0.0, &mut dh, &z.view(), &self.u);
            }
        }
        // this part's [∂C/∂U | ∂C/∂W | ∂C/∂b]ᵀ = Σ_t [h_{t−1} | x_t | 1]ᵀ·dZ_t, every step at
        // once: row (b, t) of `inputs` holds [h_{t−1} | x_t | 1] of example b, beside row (b, t)
        // of dZ (the column of ones sums dZ into the biases' gradient, BP3).
        // Transposed, so that the product reads dZ by rows: the other way round, dZᵀ·inputs,
        // measured 1.95 ms against 1.74 ms per batch of 64 (a third of the layer's arithmetic)
        matmul(0.0, &mut nabla.view_mut(), 1.0, &inputs.t(), &gates.view());
    }
}

/// One LSTM step for one example: `z` `[4H]` (W x_t + U h_{t−1} + b) through the gates'
/// nonlinearities, written over `z`, then c = f ⊙ c_prev + i ⊙ g and h = o ⊙ tanh(c);
/// `c_prev`, `c`, `h` `[H]`.
fn gate_step(z: &mut [f32], c_prev: &[f32], c: &mut [f32], h: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if crate::linalg::has_avx512() {
        // SAFETY: the CPU has AVX-512F, checked just above.
        return unsafe { gate_step_avx512(z, c_prev, c, h) };
    }
    gate_step_wide(z, c_prev, c, h)
}

crate::linalg::wide!(
    /// `gate_step` in plain arithmetic: slices of equal length, so the loop vectorises.
    fn gate_step_wide(z: &mut [f32], c_prev: &[f32], c: &mut [f32], h: &mut [f32])
        => gate_step_body
);

/// `gate_step` 16 units at a time with AVX-512, its five divisions per unit (three sigmoids,
/// two tanh) as reciprocal estimates refined once (`activation::x16`), which the compiler does
/// not do by itself. lstm-128, 1 thread, 20,000 images: 1.888 s against 1.933 s with the
/// divisions (medians of 3 alternating runs); the step stays ~10% of an epoch, bound by the
/// arithmetic of its exponentials and rational tanh, not by the divider.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn gate_step_avx512(z: &mut [f32], c_prev: &[f32], c: &mut [f32], h: &mut [f32]) {
    use crate::activation::x16;
    use std::arch::x86_64::*;
    let n = h.len();
    assert!(z.len() == 4 * n && c_prev.len() >= n && c.len() >= n, "LSTM step sizes");
    let z = z.as_mut_ptr();
    for k in (0..n).step_by(16) {
        let m = if n - k >= 16 { 0xffff } else { ((1u32 << (n - k)) - 1) as u16 };
        // SAFETY: every access is masked to the lanes below n, and z holds 4n.
        unsafe {
            let gate = |j: usize| _mm512_maskz_loadu_ps(m, z.add(j * n + k));
            let (vi, vf) = (x16::sigmoid(gate(0)), x16::sigmoid(gate(1)));
            let (vg, vo) = (x16::tanh(gate(2)), x16::sigmoid(gate(3)));
            for (j, v) in [vi, vf, vg, vo].into_iter().enumerate() {
                _mm512_mask_storeu_ps(z.add(j * n + k), m, v);
            }
            let cp = _mm512_maskz_loadu_ps(m, c_prev.as_ptr().add(k));
            let ck = _mm512_add_ps(_mm512_mul_ps(vf, cp), _mm512_mul_ps(vi, vg));
            _mm512_mask_storeu_ps(c.as_mut_ptr().add(k), m, ck);
            _mm512_mask_storeu_ps(h.as_mut_ptr().add(k), m, _mm512_mul_ps(vo, x16::tanh(ck)));
        }
    }
}

#[inline(always)]
fn gate_step_body(z: &mut [f32], c_prev: &[f32], c: &mut [f32], h: &mut [f32]) {
    let n = h.len();
    let [i, f, g, o] = gate_rows(z, n);
    let (i, f, g, o, c_prev, c) =
        (&mut i[..n], &mut f[..n], &mut g[..n], &mut o[..n], &c_prev[..n], &mut c[..n]);
    for k in 0..n {
        let (vi, vf) = (sigmoid(i[k]), sigmoid(f[k]));
        let (vg, vo) = (tanh(g[k]), sigmoid(o[k]));
        (i[k], f[k], g[k], o[k]) = (vi, vf, vg, vo);
        c[k] = vf * c_prev[k] + vi * vg;
        h[k] = vo * tanh(c[k]);
    }
}

/// The LSTM's step backwards for one example (see `backward`): turns the gates' values in
/// `i, f, g, o` into ∂C/∂z of each gate, and `dc` into what step t − 1 receives.
#[allow(clippy::too_many_arguments)]
fn gate_back(
    i: &mut [f32],
    f: &mut [f32],
    g: &mut [f32],
    o: &mut [f32],
    c: &[f32],
    c_prev: &[f32],
    dh: &[f32],
    dc: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    if crate::linalg::has_avx512() {
        // SAFETY: the CPU has AVX-512F, checked just above.
        return unsafe { gate_back_avx512(i, f, g, o, c, c_prev, dh, dc) };
    }
    gate_back_wide(i, f, g, o, c, c_prev, dh, dc)
}

crate::linalg::wide!(
    /// `gate_back` in plain arithmetic: slices of equal length, so the loop vectorises.
    #[allow(clippy::too_many_arguments)]
    fn gate_back_wide(i: &mut [f32], f: &mut [f32], g: &mut [f32], o: &mut [f32], c: &[f32], c_prev: &[f32], dh: &[f32], dc: &mut [f32])
        => gate_back_body
);

/// `gate_back` 16 units at a time with AVX-512: its tanh with a reciprocal estimate in place
/// of the division, as `gate_step_avx512`, and fused multiply-adds.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
fn gate_back_avx512(
    i: &mut [f32],
    f: &mut [f32],
    g: &mut [f32],
    o: &mut [f32],
    c: &[f32],
    c_prev: &[f32],
    dh: &[f32],
    dc: &mut [f32],
) {
    use crate::activation::x16;
    use std::arch::x86_64::*;
    let n = dc.len();
    let sizes = [i.len(), f.len(), g.len(), o.len(), c.len(), c_prev.len(), dh.len()];
    assert!(sizes.iter().all(|&len| len >= n), "LSTM step sizes");
    let one = _mm512_set1_ps(1.0);
    for k in (0..n).step_by(16) {
        let m = if n - k >= 16 { 0xffff } else { ((1u32 << (n - k)) - 1) as u16 };
        // SAFETY: every access is masked to the lanes below n, and every slice holds n.
        unsafe {
            let ld = |p: *const f32| _mm512_maskz_loadu_ps(m, p.add(k));
            let (vi, vf, vg, vo) = (ld(i.as_ptr()), ld(f.as_ptr()), ld(g.as_ptr()), ld(o.as_ptr()));
            let (vdh, tc) = (ld(dh.as_ptr()), x16::tanh(ld(c.as_ptr())));
            // ∂C/∂c_t = dh ⊙ o ⊙ (1 − tanh² c) + what step t + 1 sent
            let d_c = _mm512_fmadd_ps(_mm512_mul_ps(vdh, vo), _mm512_fnmadd_ps(tc, tc, one), ld(dc.as_ptr()));
            // σ'(z) = σ(1 − σ), tanh'(z) = 1 − tanh²
            let d_o = _mm512_mul_ps(_mm512_mul_ps(vdh, tc), _mm512_fnmadd_ps(vo, vo, vo));
            let d_i = _mm512_mul_ps(_mm512_mul_ps(d_c, vg), _mm512_fnmadd_ps(vi, vi, vi));
            let d_f = _mm512_mul_ps(_mm512_mul_ps(d_c, ld(c_prev.as_ptr())), _mm512_fnmadd_ps(vf, vf, vf));
            let d_g = _mm512_mul_ps(_mm512_mul_ps(d_c, vi), _mm512_fnmadd_ps(vg, vg, one));
            for (p, v) in
                [(i.as_mut_ptr(), d_i), (f.as_mut_ptr(), d_f), (g.as_mut_ptr(), d_g), (o.as_mut_ptr(), d_o)]
            {
                _mm512_mask_storeu_ps(p.add(k), m, v);
            }
            _mm512_mask_storeu_ps(dc.as_mut_ptr().add(k), m, _mm512_mul_ps(d_c, vf));
        }
    }
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn gate_back_body(
    i: &mut [f32],
    f: &mut [f32],
    g: &mut [f32],
    o: &mut [f32],
    c: &[f32],
    c_prev: &[f32],
    dh: &[f32],
    dc: &mut [f32],
) {
    let n = dc.len();
    let (i, f, g, o, c, c_prev, dh) =
        (&mut i[..n], &mut f[..n], &mut g[..n], &mut o[..n], &c[..n], &c_prev[..n], &dh[..n]);
    for k in 0..n {
        let tc = tanh(c[k]);
        let d_c = dh[k] * o[k] * (1.0 - tc * tc) + dc[k];
        let (vi, vf, vg, vo) = (i[k], f[k], g[k], o[k]);
        o[k] = dh[k] * tc * vo * (1.0 - vo);
        i[k] = d_c * vg * vi * (1.0 - vi);
        f[k] = d_c * c_prev[k] * vf * (1.0 - vf);
        g[k] = d_c * vi * (1.0 - vg * vg);
        dc[k] = d_c * vf;
    }
}

impl Layer for Recurrent {
    fn spec(&self) -> LayerSpec {
        LayerSpec::Recurrent {
            cell: self.cell,
            input: self.input,
            hidden: self.hidden,
            sequence: self.sequence,
        }
    }

    fn params(&self) -> &[Buf] {
        &self.params
    }

    fn params_mut(&mut self) -> &mut [Buf] {
        &mut self.params
    }

    fn regularised(&self) -> &'static [bool] {
        &[true, true, false]
    }

    fn work(&self, _seed: u64) -> Work {
        let st = RecurrentWork {
            gates: Buf::default(),
            cells: Buf::default(),
            hiddens: Buf::default(),
            dh: Buf::default(),
            dc: Buf::default(),
            inputs: Buf::default(),
            stacked: Buf::default(),
            out: Buf::default(),
            partials: Vec::new(),
            batch: 0,
        };
        Work::new(&self.params, st)
    }

    /// For t = 1..T, with one product per step on `[h_{t−1} | x_t]` (x_t alone at the first):
    ///
    /// RNN:  h_t = tanh(W x_t + U h_{t−1} + b)
    ///
    /// LSTM: [i f g o] = W x_t + U h_{t−1} + b, then
    ///       i = σ(i)  (input gate: how much of the candidate to write)
    ///       f = σ(f)  (forget gate: how much of the old cell to keep)
    ///       g = tanh(g) (candidate cell content)
    ///       o = σ(o)  (output gate: how much of the cell to show)
    ///       c_t = f ⊙ c_{t−1} + i ⊙ g,   h_t = o ⊙ tanh(c_t)
    fn forward(&self, work: &mut Work, x: ArrayView2<f32>, _train: bool) {
        let (_, st) = work.parts::<RecurrentWork>();
        let (batch, steps, h) = (x.nrows(), self.steps, self.hidden);
        let g = self.cell.gates() * h;
        st.batch = batch;
        let chunk = part_size(batch, batch * steps * g * (h + self.features));
        let mut gates = st.gates.rows_mut(batch * steps, g);
        let mut hiddens = st.hiddens.rows_mut(batch * steps, h);
        let mut cells = st.cells.rows_mut(batch * steps, if self.cell == Cell::Lstm { h } else { 0 });
        let mut inputs = st.inputs.rows_mut(batch * steps, h + self.features + 1);
        let p = self.fixed();
        let f = self.features;
        let mut stacked = st.stacked.rows_mut(h + f + 1, g);
        {
            // [Uᵀ; Wᵀ; bᵀ]: blocked transposes (ndarray's `assign` of a transposed view reads
            // one strided element at a time)
            let all = stacked.as_slice_mut().expect("contiguous");
            let (ut, rest) = all.split_at_mut(h * g);
            let (wt, bt) = rest.split_at_mut(f * g);
            transpose::transpose(&self.params[1][..], ut, h, g);
            transpose::transpose(&self.params[0][..], wt, f, g);
            bt.copy_from_slice(&self.params[2]);
        }
        let stacked = stacked.view();
        // Each example's recurrence is its own: parts of the batch run on their own threads.
        let parts: Vec<_> = x
            .axis_chunks_iter(Axis(0), chunk)
            .zip(inputs.axis_chunks_iter_mut(Axis(0), chunk * steps))
            .zip(gates.axis_chunks_iter_mut(Axis(0), chunk * steps))
            .zip(
                hiddens
                    .axis_chunks_iter_mut(Axis(0), chunk * steps)
                    .zip(cells.axis_chunks_iter_mut(Axis(0), chunk * steps)),
            )
            .collect();
        let run = |(((x, inputs), gates), (hiddens, cells))| {
            p.forward_rows(stacked, x, inputs, gates, hiddens, cells)
        };
        crate::team::for_parts(parts, run);
        let mut out = st.out.rows_mut(batch, self.out_width());
        if self.sequence {
            out.assign(&hiddens.view().into_shape_with_order((batch, steps * h)).expect("contiguous"));
        } else {
            out.assign(&hiddens.slice(s![steps - 1..;steps, ..]));
        }
    }

    fn output<'w>(&self, work: &'w Work) -> ArrayView2<'w, f32> {
        let st = work.state::<RecurrentWork>();
        st.out.rows(st.batch, self.out_width())
    }

    fn hidden_states<'w>(&self, work: &'w Work) -> Option<ArrayView2<'w, f32>> {
        let st = work.state::<RecurrentWork>();
        Some(st.hiddens.rows(st.batch, self.steps * self.hidden))
    }

    /// Backpropagation through time, from the last step to the first. With dh_t = ∂C/∂h_t
    /// (from above, plus what step t + 1 sends back through U):
    ///
    /// RNN:  dz = dh_t ⊙ (1 − h_t²)
    ///
    /// LSTM: dc = dh_t ⊙ o ⊙ (1 − tanh² c_t) + (dc from step t + 1)
    ///       dz_o = dh_t ⊙ tanh c_t ⊙ o(1 − o),   dz_i = dc ⊙ g ⊙ i(1 − i),
    ///       dz_f = dc ⊙ c_{t−1} ⊙ f(1 − f),     dz_g = dc ⊙ i ⊙ (1 − g²),
    ///       and step t − 1 gets dc ⊙ f.
    ///
    /// Then dh_{t−1} = dz·U (plus what comes from above); after the loop, for all steps at
    /// once, ∂C/∂U = Σ_t dz_tᵀ·h_{t−1}, ∂C/∂W = dZᵀ·X, ∂C/∂b = Σ dZ, ∂C/∂x = dZ·W.
    fn backward(
        &self,
        work: &mut Work,
        _x: ArrayView2<f32>,
        grad: ArrayViewMut2<f32>,
        _grad_is_delta: bool,
        grad_x: Option<ArrayViewMut2<f32>>,
    ) {
        let (grads, st) = work.parts::<RecurrentWork>();
        let (batch, steps, h) = (st.batch, self.steps, self.hidden);
        let g = self.cell.gates() * h;
        let chunk = part_size(batch, batch * steps * g * (h + self.features));
        let n_parts = batch.div_ceil(chunk);
        while st.partials.len() < n_parts {
            st.partials.push(Array2::zeros((h + self.features + 1, g)));
        }
        let mut dh = st.dh.rows_mut(batch, h);
        let mut dc = st.dc.rows_mut(batch, h);
        let mut gates = st.gates.rows_mut(batch * steps, g);
        let inputs = st.inputs.rows(batch * steps, h + self.features + 1);
        let cells = st.cells.rows(batch * steps, if self.cell == Cell::Lstm { h } else { 0 });
        let p = self.fixed();
        let sequence = self.sequence;
        let parts: Vec<_> = grad
            .axis_chunks_iter(Axis(0), chunk)
            .zip(gates.axis_chunks_iter_mut(Axis(0), chunk * steps))
            .zip(
                inputs
                    .axis_chunks_iter(Axis(0), chunk * steps)
                    .zip(cells.axis_chunks_iter(Axis(0), chunk * steps)),
            )
            .zip(dh.axis_chunks_iter_mut(Axis(0), chunk).zip(dc.axis_chunks_iter_mut(Axis(0), chunk)))
            .zip(st.partials.iter_mut())
            .collect();
        let run = |((((grad, gates), (inputs, cells)), (dh, dc)), nabla): (_, &mut Array2<f32>)| {
            p.backward_rows(sequence, grad, gates, inputs, cells, dh, dc, nabla);
        };
        crate::team::for_parts(parts, run);
        // the parts' [∂C/∂U | ∂C/∂W | ∂C/∂b]ᵀ, added in a fixed order (into the first part's),
        // then transposed into U's, W's and b's
        let [nabla_w, nabla_u, nabla_b] = grads else {
            unreachable!("a recurrent layer has three gradients")
        };
        let f = self.features;
        let (first, rest) = st.partials.split_at_mut(1);
        let sum = &mut first[0];
        for part in &rest[..n_parts - 1] {
            *sum += part;
        }
        let sum = sum.as_slice().expect("contiguous");
        let (ut, rest) = sum.split_at(h * g);
        let (wt, bt) = rest.split_at(f * g);
        transpose::transpose(ut, &mut nabla_u[..], g, h);
        transpose::transpose(wt, &mut nabla_w[..], g, f);
        nabla_b.copy_from_slice(bt);
        // dZ for every (example, step) is now in `gates`
        let dz = gates.view();
        if let Some(gx) = grad_x {
            let mut gx =
                gx.into_shape_with_order((batch * steps, self.features)).expect("rows are contiguous");
            matmul(0.0, &mut gx, 1.0, &dz, &p.w);
        }
    }

    fn clone_box(&self) -> Box<dyn Layer> {
        Box::new(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The AVX-512 step (reciprocal estimates) against the plain one (divisions), over units
    /// whose gates span the nonlinearities' whole range, for widths that fill 16 lanes and not.
    #[test]
    fn the_avx512_step_agrees_with_the_plain_one() {
        if !crate::linalg::has_avx512() {
            return;
        }
        for n in [1, 7, 16, 33, 128] {
            let z: Vec<f32> = (0..4 * n).map(|k| ((k * 37 % 101) as f32 - 50.0) / 4.0).collect();
            let c_prev: Vec<f32> = (0..n).map(|k| ((k * 5 % 17) as f32 - 8.0) / 3.0).collect();
            let (mut z1, mut c1, mut h1) = (z.clone(), vec![0.0; n], vec![0.0; n]);
            let (mut z2, mut c2, mut h2) = (z.clone(), vec![0.0; n], vec![0.0; n]);
            gate_step_body(&mut z1, &c_prev, &mut c1, &mut h1);
            // SAFETY: the CPU has AVX-512F, checked above.
            unsafe { gate_step_avx512(&mut z2, &c_prev, &mut c2, &mut h2) };
            for (x, y) in z1.iter().chain(&c1).chain(&h1).zip(z2.iter().chain(&c2).chain(&h2)) {
                assert!((x - y).abs() <= 1e-6 * x.abs().max(1.0), "n {n}: {x} against {y}");
            }
        }
    }

    /// The same for the step backwards, from gates in (0, 1) (g in (−1, 1)) and cells over
    /// tanh's whole range.
    #[test]
    fn the_avx512_step_back_agrees_with_the_plain_one() {
        if !crate::linalg::has_avx512() {
            return;
        }
        for n in [1, 7, 16, 33, 128] {
            let unit = |a: usize, m: usize| {
                (0..n).map(|k| ((k * a % m) as f32 + 0.5) / m as f32).collect::<Vec<_>>()
            };
            let signed = |a: usize, m: usize, s: f32| {
                unit(a, m).iter().map(|v| (2.0 * v - 1.0) * s).collect::<Vec<_>>()
            };
            let gates = [unit(3, 7), unit(5, 11), signed(7, 13, 1.0), unit(2, 5)];
            let (c, c_prev, dh, dc) =
                (signed(5, 17, 9.0), signed(3, 19, 4.0), signed(7, 23, 2.0), signed(11, 29, 1.5));
            let [mut i1, mut f1, mut g1, mut o1] = gates.clone();
            let [mut i2, mut f2, mut g2, mut o2] = gates;
            let (mut dc1, mut dc2) = (dc.clone(), dc);
            gate_back_body(&mut i1, &mut f1, &mut g1, &mut o1, &c, &c_prev, &dh, &mut dc1);
            // SAFETY: the CPU has AVX-512F, checked above.
            unsafe { gate_back_avx512(&mut i2, &mut f2, &mut g2, &mut o2, &c, &c_prev, &dh, &mut dc2) };
            let all1 = i1.iter().chain(&f1).chain(&g1).chain(&o1).chain(&dc1);
            for (x, y) in all1.zip(i2.iter().chain(&f2).chain(&g2).chain(&o2).chain(&dc2)) {
                // 1 − tanh² c near saturation is rounding noise (~1e-7) either way
                assert!((x - y).abs() <= 1e-5 * x.abs().max(0.1), "n {n}: {x} against {y}");
            }
        }
    }
}
