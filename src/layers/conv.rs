//! A convolutional layer: local receptive fields with shared weights (chapter 6; Wakui ch. 5).

use super::spec::conv_geometry;
use super::{Init, Layer, LayerSpec, Shape, Work};
use crate::Rng;
use crate::activation::Activation;
use crate::buffer::Buf;
use crate::linalg::matmul;
use ndarray::{Array1, Array2, ArrayView2, ArrayViewMut2, Axis};
use rand_distr::{Distribution, Normal, StandardNormal};

/// `[batch, C·H·W] -> [batch, F·H'·W']`: F feature maps, each one k×k filter (shared weights
/// and one bias) slid over all C input channels with the given stride and padding.
///
/// For one example the layer unrolls every receptive field into a column (im2col), so the
/// whole map is one matrix product: `z[f, p] = Σ_r W[f, r] · cols[r, p] + b[f]`, with
/// `r = (c, i, j)` running over the C·k·k weights of a filter and `p` over the output positions.
///
/// The examples of a mini-batch may be shared out among threads (a team's two, or rayon's pool;
/// see [`crate::team::for_parts`]), in fixed contiguous parts (so a run is the same for the
/// same thread count).
#[derive(Clone, Debug)]
pub struct Conv2d {
    spec: LayerSpec,
    geo: Geometry,
    activation: Activation,
    /// `[weights [F, C·k·k], biases [F]]`: row f of the weights is filter f (PyTorch's
    /// `[F, C, k, k]` flattened).
    params: [Buf; 2],
    /// The max-pooling layer after this one applies the activation (see
    /// [`Layer::defer_activation`]): output z, and take δ back.
    handed_over: bool,
}

/// One replica's buffers.
struct ConvWork {
    /// Each example's receptive fields, `[batch, C·k·k · H'·W']` (kept for BP4).
    cols: Buf,
    /// Per part of the batch: ∂C/∂W and ∂C/∂b of its examples, and scratch for ∂C/∂cols.
    parts: Vec<Part>,
    z: Buf,
    a: Buf,
    batch: usize,
}

#[derive(Clone, Debug)]
struct Part {
    /// ∂C/∂W transposed, `[fan_in, F]`: see `backward`.
    nabla_w_t: Array2<f32>,
    nabla_b: Array1<f32>,
    dcols: Array2<f32>,
}

/// One thread's share of a forward pass: its examples' inputs and the rows it fills.
struct ForwardPart<'a> {
    x: ArrayView2<'a, f32>,
    cols: ArrayViewMut2<'a, f32>,
    z: ArrayViewMut2<'a, f32>,
    a: ArrayViewMut2<'a, f32>,
}

/// One thread's share of a backward pass.
struct BackwardPart<'a> {
    delta: ArrayViewMut2<'a, f32>,
    z: ArrayView2<'a, f32>,
    a: ArrayView2<'a, f32>,
    cols: ArrayView2<'a, f32>,
    part: &'a mut Part,
    gx: Option<ArrayViewMut2<'a, f32>>,
}

/// Where each filter position reads from.
#[derive(Clone, Copy, Debug)]
struct Geometry {
    input: Shape,
    kernel: usize,
    stride: usize,
    out_h: usize,
    out_w: usize,
    pad_top: usize,
    pad_left: usize,
}

impl Conv2d {
    /// A layer for `spec` (a [`LayerSpec::Conv`]), weights N(0,1) or N(0, 1/(C·k·k)), biases N(0,1).
    pub fn new(spec: LayerSpec, init: Init, rng: &mut Rng) -> Self {
        let LayerSpec::Conv { input, filters, kernel, stride, padding, activation } = spec else {
            panic!("Conv2d::new needs a conv spec, got {spec}");
        };
        let fan_in = input.channels * kernel * kernel;
        let std = match init {
            Init::Large => 1.0,
            Init::Scaled => 1.0 / (fan_in as f32).sqrt(),
        };
        let normal = Normal::new(0.0f32, std).expect("fan-in ≥ 1 (checked with the spec)");
        let mut weights = Buf::zeros(filters * fan_in);
        weights.iter_mut().for_each(|w| *w = normal.sample(rng));
        let mut biases = Buf::zeros(filters);
        biases.iter_mut().for_each(|b| *b = StandardNormal.sample(rng));
        let (out_h, out_w, pad_top, pad_left) = conv_geometry(input, kernel, stride, padding);
        Conv2d {
            spec,
            geo: Geometry { input, kernel, stride, out_h, out_w, pad_top, pad_left },
            activation,
            params: [weights, biases],
            handed_over: false,
        }
    }

    fn filters(&self) -> usize {
        self.params[1].len()
    }

    fn fan_in(&self) -> usize {
        self.geo.input.channels * self.geo.kernel * self.geo.kernel
    }

    /// `[F, C·k·k]`
    fn weights(&self) -> ArrayView2<'_, f32> {
        self.params[0].view2(self.filters(), self.fan_in())
    }

    /// Outputs per example: F·H'·W'.
    fn out_size(&self) -> usize {
        self.filters() * self.geo.positions()
    }
}

/// Below this much arithmetic per batch, one thread does all the examples: waking the pool's
/// sleeping threads costs more than it saves. Measured on 2 cores, mini-batch 10, seconds per
/// 10,000 images: the one-conv chapter-6 net (conv 6 MFLOP per batch) 0.88 on one thread, 1.15
/// with every conv split, 0.89 with this threshold; the two-conv ReLU net (second conv 26
/// MFLOP) 2.24, 1.68 and 2.09.
const PARALLEL_FLOPS: usize = 10_000_000;

/// Examples per part of a batch with `flops` of work in all (see [`super::part_size`]).
fn part_size(batch: usize, flops: usize) -> usize {
    super::part_size(batch, flops, PARALLEL_FLOPS)
}

impl Geometry {
    fn positions(&self) -> usize {
        self.out_h * self.out_w
    }

    /// No padding and stride 1: im2col's runs are whole output rows.
    fn valid_unit_stride(&self) -> bool {
        self.stride == 1 && self.pad_top == 0 && self.pad_left == 0 && self.out_w > 0
    }

    /// For filter row `i` and output row `oy`: the input row read (`None` in the padding).
    #[inline]
    fn row(&self, oy: usize, i: usize) -> Option<usize> {
        (oy * self.stride + i).checked_sub(self.pad_top).filter(|&y| y < self.input.height)
    }

    /// For filter column `j`: the range of output columns whose input column is inside the
    /// image, and the input column of the first of them (`None` if there are none). The same
    /// for every output row, so the loops take it once per `j`.
    #[inline]
    fn columns(&self, j: usize) -> Option<(std::ops::Range<usize>, usize)> {
        let (s, w) = (self.stride, self.input.width);
        // ox is inside when 0 ≤ ox·s + j − pad_left < w
        let first = self.pad_left.saturating_sub(j).div_ceil(s);
        let end = (w + self.pad_left).saturating_sub(j).div_ceil(s).min(self.out_w);
        (first < end).then(|| (first..end, first * s + j - self.pad_left))
    }

    /// im2col: `cols[(c,i,j), (oy,ox)] = x[c, oy·s + i − pad, ox·s + j − pad]` (0 in the padding).
    fn im2col(&self, x: &[f32], cols: &mut [f32]) {
        if self.valid_unit_stride() {
            // "valid" at stride 1 (the book's nets): every run is a whole output row
            im2col_valid(self, x, cols);
            return;
        }
        self.im2col_any(x, cols);
    }

    /// [`im2col`](Self::im2col) for any stride and padding.
    fn im2col_any(&self, x: &[f32], cols: &mut [f32]) {
        let (k, s, hw, plane) =
            (self.kernel, self.stride, self.positions(), self.input.height * self.input.width);
        for c in 0..self.input.channels {
            let xc = &x[c * plane..(c + 1) * plane];
            for i in 0..k {
                for j in 0..k {
                    let row = &mut cols[((c * k + i) * k + j) * hw..][..hw];
                    let Some((inside, x0)) = self.columns(j) else {
                        row.fill(0.0);
                        continue;
                    };
                    for oy in 0..self.out_h {
                        let out = &mut row[oy * self.out_w..(oy + 1) * self.out_w];
                        let Some(y) = self.row(oy, i) else {
                            out.fill(0.0);
                            continue;
                        };
                        out[..inside.start].fill(0.0);
                        out[inside.end..].fill(0.0);
                        let src = &xc[y * self.input.width + x0..];
                        if s == 1 {
                            copy_short(&mut out[inside.clone()], &src[..inside.len()]);
                        } else {
                            for (o, v) in out[inside.clone()].iter_mut().zip(src.iter().step_by(s)) {
                                *o = *v;
                            }
                        }
                    }
                }
            }
        }
    }

    /// col2im: the adjoint of `im2col`, adding each column entry back to the input it came from.
    fn col2im_add(&self, dcols: &[f32], gx: &mut [f32]) {
        if self.valid_unit_stride() {
            // "valid" at stride 1: every run is a whole output row (as in `im2col`)
            col2im_add_valid(self, dcols, gx);
            return;
        }
        self.col2im_add_any(dcols, gx);
    }

    /// [`col2im_add`](Self::col2im_add) for any stride and padding.
    fn col2im_add_any(&self, dcols: &[f32], gx: &mut [f32]) {
        let (k, s, hw, plane) =
            (self.kernel, self.stride, self.positions(), self.input.height * self.input.width);
        for c in 0..self.input.channels {
            let gc = &mut gx[c * plane..(c + 1) * plane];
            for i in 0..k {
                for j in 0..k {
                    let row = &dcols[((c * k + i) * k + j) * hw..][..hw];
                    let Some((inside, x0)) = self.columns(j) else { continue };
                    for oy in 0..self.out_h {
                        let Some(y) = self.row(oy, i) else { continue };
                        let from = &row[oy * self.out_w..][inside.clone()];
                        let dst = &mut gc[y * self.input.width + x0..];
                        if s == 1 {
                            dst[..from.len()].iter_mut().zip(from).for_each(|(d, v)| *d += v);
                        } else {
                            for (d, v) in dst.iter_mut().step_by(s).zip(from) {
                                *d += v;
                            }
                        }
                    }
                }
            }
        }
    }
}

crate::linalg::wide!(
    /// [`Geometry::im2col`] for "valid" convolutions at stride 1, compiled for the CPU's
    /// widest vectors: one move of 16 and one of 8 floats for a 24-float run where baseline
    /// x86-64 made six of 4.
    fn im2col_valid(g: &Geometry, x: &[f32], cols: &mut [f32]) => im2col_valid_body
);

#[inline(always)]
fn im2col_valid_body(g: &Geometry, x: &[f32], cols: &mut [f32]) {
    let (k, hw, w) = (g.kernel, g.positions(), g.input.width);
    for (c, xc) in x.chunks_exact(g.input.height * w).take(g.input.channels).enumerate() {
        for i in 0..k {
            for j in 0..k {
                let row = &mut cols[((c * k + i) * k + j) * hw..][..hw];
                for (oy, out) in row.chunks_exact_mut(g.out_w).enumerate() {
                    copy_short(out, &xc[(oy + i) * w + j..]);
                }
            }
        }
    }
}

crate::linalg::wide!(
    /// [`Geometry::col2im_add`] for "valid" convolutions at stride 1, compiled for the CPU's
    /// widest vectors.
    fn col2im_add_valid(g: &Geometry, dcols: &[f32], gx: &mut [f32]) => col2im_add_valid_body
);

#[inline(always)]
fn col2im_add_valid_body(g: &Geometry, dcols: &[f32], gx: &mut [f32]) {
    let (k, hw, w) = (g.kernel, g.positions(), g.input.width);
    for (c, gc) in gx.chunks_exact_mut(g.input.height * w).take(g.input.channels).enumerate() {
        for i in 0..k {
            for j in 0..k {
                let row = &dcols[((c * k + i) * k + j) * hw..][..hw];
                for (oy, from) in row.chunks_exact(g.out_w).enumerate() {
                    let dst = &mut gc[(oy + i) * w + j..][..from.len()];
                    dst.iter_mut().zip(from).for_each(|(d, v)| *d += v);
                }
            }
        }
    }
}

/// `dst = src` for the short runs of im2col (8 and 24 floats in the book's nets): 16, then 8
/// floats at a time as fixed-size moves, where `copy_from_slice` of a run's length called
/// `memmove`, whose call cost a tenth of a cnn-2-relu epoch.
#[inline(always)]
fn copy_short(dst: &mut [f32], src: &[f32]) {
    let src = &src[..dst.len()];
    let (dst16, dst) = dst.as_chunks_mut::<16>();
    let (src16, src) = src.as_chunks::<16>();
    for (d, s) in dst16.iter_mut().zip(src16) {
        *d = *s;
    }
    let (dst8, dst_rest) = dst.as_chunks_mut::<8>();
    let (src8, src_rest) = src.as_chunks::<8>();
    for (d, s) in dst8.iter_mut().zip(src8) {
        *d = *s;
    }
    for (d, s) in dst_rest.iter_mut().zip(src_rest) {
        *d = *s;
    }
}

/// Row `b` of a `[batch, rows·cols]` matrix seen as a `[rows, cols]` matrix.
fn as_matrix(m: ArrayView2<'_, f32>, b: usize, rows: usize, cols: usize) -> ArrayView2<'_, f32> {
    m.index_axis_move(Axis(0), b).into_shape_with_order((rows, cols)).expect("rows are contiguous")
}

impl Layer for Conv2d {
    fn spec(&self) -> LayerSpec {
        self.spec.clone()
    }

    fn activation(&self) -> Option<Activation> {
        Some(self.activation)
    }

    fn params(&self) -> &[Buf] {
        &self.params
    }

    fn params_mut(&mut self) -> &mut [Buf] {
        &mut self.params
    }

    fn regularised(&self) -> &'static [bool] {
        &[true, false]
    }

    fn work(&self, _seed: u64) -> Work {
        let st = ConvWork {
            cols: Buf::default(),
            parts: Vec::new(),
            z: Buf::default(),
            a: Buf::default(),
            batch: 0,
        };
        Work::new(&self.params, st)
    }

    /// For each example: cols = im2col(x), z = W·cols + b, a = σ(z) (unless handed over:
    /// then the output is z).
    fn forward(&self, work: &mut Work, x: ArrayView2<f32>, _train: bool) {
        let (_, st) = work.parts::<ConvWork>();
        let (batch, f, geo) = (x.nrows(), self.filters(), self.geo);
        let (hw, fan_in) = (geo.positions(), self.fan_in());
        st.batch = batch;
        let (w, bias, act, handed_over) =
            (self.weights(), &self.params[1], self.activation, self.handed_over);
        let chunk = part_size(batch, 2 * batch * f * fan_in * hw);
        let mut cols = st.cols.rows_mut(batch, fan_in * hw);
        let mut z = st.z.rows_mut(batch, f * hw);
        let mut a = st.a.rows_mut(batch, if handed_over { 0 } else { f * hw });
        let parts: Vec<ForwardPart> = x
            .axis_chunks_iter(Axis(0), chunk)
            .zip(cols.axis_chunks_iter_mut(Axis(0), chunk))
            .zip(z.axis_chunks_iter_mut(Axis(0), chunk).zip(a.axis_chunks_iter_mut(Axis(0), chunk)))
            .map(|((x, cols), (z, a))| ForwardPart { x, cols, z, a })
            .collect();
        let work = |ForwardPart { x, mut cols, mut z, mut a }: ForwardPart| {
            for b in 0..x.nrows() {
                let cols_b = cols.row_mut(b).into_slice().expect("contiguous");
                geo.im2col(x.row(b).as_slice().expect("contiguous input rows"), cols_b);
                let cols_b = ArrayView2::from_shape((fan_in, hw), &*cols_b).expect("sizes agree");
                let zb = z.row_mut(b).into_slice().expect("contiguous");
                let mut zm = ArrayViewMut2::from_shape((f, hw), &mut *zb).expect("sizes agree");
                matmul(0.0, &mut zm, 1.0, &w, &cols_b);
                // z += b_f and a = σ(z), one feature map at a time while it is in cache
                for (zm, &bias) in zb.chunks_exact_mut(hw).zip(bias.iter()) {
                    zm.iter_mut().for_each(|z| *z += bias);
                }
                if !handed_over {
                    let ab = a.row_mut(b).into_slice().expect("contiguous");
                    for (zm, am) in zb.chunks_exact(hw).zip(ab.chunks_exact_mut(hw)) {
                        act.apply_row(zm, am);
                    }
                }
            }
        };
        crate::team::for_parts(parts, work);
    }

    fn output<'w>(&self, work: &'w Work) -> ArrayView2<'w, f32> {
        let st = work.state::<ConvWork>();
        if self.handed_over {
            st.z.rows(st.batch, self.out_size())
        } else {
            st.a.rows(st.batch, self.out_size())
        }
    }

    fn defer_activation(&mut self) -> Option<Activation> {
        self.handed_over = self.activation.is_monotone();
        self.handed_over.then_some(self.activation)
    }

    fn weighted_input<'w>(&self, work: &'w Work) -> ArrayView2<'w, f32> {
        let st = work.state::<ConvWork>();
        st.z.rows(st.batch, self.out_size())
    }

    /// BP1/BP2 through σ, then for each example: ∂C/∂b_f = Σ_p δ[f,p] (BP3),
    /// ∂C/∂W += δ·colsᵀ (BP4, the weights being shared, their gradients add up over every
    /// position), and ∂C/∂x = col2im(Wᵀ·δ) (BP2: each input gets back the error of every output
    /// whose receptive field covers it).
    fn backward(
        &self,
        work: &mut Work,
        _x: ArrayView2<f32>,
        mut delta: ArrayViewMut2<f32>,
        grad_is_delta: bool,
        grad_x: Option<ArrayViewMut2<f32>>,
    ) {
        let (grads, st) = work.parts::<ConvWork>();
        let (batch, f, geo) = (st.batch, self.filters(), self.geo);
        let (hw, fan_in) = (geo.positions(), self.fan_in());
        let chunk = part_size(batch, 2 * batch * f * fan_in * hw);
        let n_parts = batch.div_ceil(chunk);
        while st.parts.len() < n_parts {
            st.parts.push(Part {
                nabla_w_t: Array2::zeros((fan_in, f)),
                nabla_b: Array1::zeros(f),
                dcols: Array2::zeros((fan_in, hw)),
            });
        }
        let (w, act) = (self.weights(), self.activation);
        // Handed over, the layer after has already turned ∂C/∂a into δ.
        let grad_is_delta = grad_is_delta || self.handed_over;
        let z = st.z.rows(batch, f * hw);
        let a = if self.handed_over { z } else { st.a.rows(batch, f * hw) };
        let cols = st.cols.rows(batch, fan_in * hw);
        let mut grad_x = grad_x;
        let mut gx_parts: Vec<Option<ArrayViewMut2<f32>>> = match grad_x.as_mut() {
            Some(gx) => gx.axis_chunks_iter_mut(Axis(0), chunk).map(Some).collect(),
            None => (0..n_parts).map(|_| None).collect(),
        };
        let work: Vec<BackwardPart> = delta
            .axis_chunks_iter_mut(Axis(0), chunk)
            .zip(z.axis_chunks_iter(Axis(0), chunk).zip(a.axis_chunks_iter(Axis(0), chunk)))
            .zip(cols.axis_chunks_iter(Axis(0), chunk))
            .zip(st.parts.iter_mut().zip(gx_parts.drain(..)))
            .map(|(((delta, (z, a)), cols), (part, gx))| BackwardPart { delta, z, a, cols, part, gx })
            .collect();
        let run = |BackwardPart { mut delta, z, a, cols, part, gx }: BackwardPart| {
            let mut gx = gx;
            if !grad_is_delta {
                act.backprop(z, a, delta.view_mut());
            }
            part.nabla_b.fill(0.0);
            for b in 0..delta.nrows() {
                let db = as_matrix(delta.view(), b, f, hw);
                for (nb, map) in part.nabla_b.iter_mut().zip(db.rows()) {
                    *nb += map.sum();
                }
                let cols_b = as_matrix(cols, b, fan_in, hw);
                // BP4 as (∂C/∂W)ᵀ += cols·δᵀ: so the product reads cols as it lies, where
                // ∂C/∂W += δ·colsᵀ had gemm repack all of cols for every example
                let beta = if b == 0 { 0.0 } else { 1.0 };
                matmul(beta, &mut part.nabla_w_t.view_mut(), 1.0, &cols_b, &db.t());
                if let Some(gx) = gx.as_mut() {
                    matmul(0.0, &mut part.dcols.view_mut(), 1.0, &w.t(), &db);
                    let gx_b = gx.row_mut(b).into_slice().expect("contiguous");
                    gx_b.fill(0.0);
                    geo.col2im_add(part.dcols.as_slice().expect("contiguous"), gx_b);
                }
            }
        };
        crate::team::for_parts(work, run);
        // The parts' sums, added in a fixed order.
        let [nabla_w, nabla_b] = grads else { unreachable!("a conv layer has two gradients") };
        // (∂C/∂W)ᵀ is summed in its own layout, then turned by one blocked transpose (ndarray's
        // `assign` of a transposed view reads element by element): the same sums, same order.
        let (first, rest) = st.parts.split_at_mut(1);
        let first = &mut first[0];
        for part in &rest[..n_parts - 1] {
            first.nabla_w_t += &part.nabla_w_t;
            first.nabla_b += &part.nabla_b;
        }
        let sum_t = first.nabla_w_t.as_slice().expect("contiguous");
        transpose::transpose(sum_t, &mut nabla_w[..], f, fan_in); // [fan_in, F] -> [F, fan_in]
        nabla_b.copy_from_slice(first.nabla_b.as_slice().expect("contiguous"));
    }

    fn clone_box(&self) -> Box<dyn Layer> {
        Box::new(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shortcut for "valid" convolutions at stride 1 gives what the general im2col and
    /// col2im give.
    #[test]
    fn valid_unit_stride_shortcut_agrees_with_the_general_loops() {
        for (input, kernel) in
            [(Shape::new(1, 28, 28), 5), (Shape::new(20, 12, 12), 5), (Shape::new(3, 7, 5), 2)]
        {
            let (out_h, out_w, pad_top, pad_left) =
                conv_geometry(input, kernel, 1, super::super::Padding::Valid);
            let geo = Geometry { input, kernel, stride: 1, out_h, out_w, pad_top, pad_left };
            assert!(geo.valid_unit_stride());
            let x: Vec<f32> = (0..input.size()).map(|i| (i * 7 % 13) as f32).collect();
            let n = input.channels * kernel * kernel * geo.positions();
            let (mut fast, mut slow) = (vec![f32::NAN; n], vec![f32::NAN; n]);
            geo.im2col(&x, &mut fast);
            geo.im2col_any(&x, &mut slow);
            assert_eq!(fast, slow, "{input:?}");
            let (mut fast, mut slow) = (vec![1.0; input.size()], vec![1.0; input.size()]);
            let dcols: Vec<f32> = (0..n).map(|i| (i * 5 % 11) as f32).collect();
            geo.col2im_add(&dcols, &mut fast);
            geo.col2im_add_any(&dcols, &mut slow);
            assert_eq!(fast, slow, "{input:?}");
        }
    }
}
