//! A convolutional layer: local receptive fields with shared weights (chapter 6; Wakui ch. 5).

use super::spec::conv_geometry;
use super::{Init, Layer, LayerSpec, Param, Shape, rows_mut};
use crate::Rng;
use crate::activation::Activation;
use crate::linalg::matmul;
use crate::optim::SgdStep;
use ndarray::{Array1, Array2, ArrayView2, ArrayViewMut2, Axis, s};
use rand_distr::{Distribution, Normal, StandardNormal};
use rayon::prelude::*;

/// `[batch, C·H·W] -> [batch, F·H'·W']`: F feature maps, each one k×k filter (shared weights
/// and one bias) slid over all C input channels with the given stride and padding.
///
/// For one example the layer unrolls every receptive field into a column (im2col), so the
/// whole map is one matrix product: `z[f, p] = Σ_r W[f, r] · cols[r, p] + b[f]`, with
/// `r = (c, i, j)` running over the C·k·k weights of a filter and `p` over the output positions.
///
/// The examples of a mini-batch are shared out among the threads of rayon's pool, in fixed
/// contiguous parts (so a run is the same for the same thread count).
#[derive(Clone, Debug)]
pub struct Conv2d {
    spec: LayerSpec,
    geo: Geometry,
    activation: Activation,
    /// `[F, C·k·k]`: row f is filter f (PyTorch's `[F, C, k, k]` flattened).
    pub weights: Array2<f32>,
    /// `[F]`
    pub biases: Array1<f32>,
    pub nabla_w: Array2<f32>,
    pub nabla_b: Array1<f32>,
    /// Each example's receptive fields, `[batch, C·k·k · H'·W']` (kept for BP4).
    cols: Array2<f32>,
    /// Per part of the batch: ∂C/∂W and ∂C/∂b of its examples, and scratch for ∂C/∂cols.
    parts: Vec<Part>,
    z: Array2<f32>,
    a: Array2<f32>,
    batch: usize,
    /// The max-pooling layer after this one applies the activation (see
    /// [`Layer::takes_over_activation`]): output z, and take δ back.
    handed_over: bool,
}

#[derive(Clone, Debug)]
struct Part {
    nabla_w: Array2<f32>,
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
        let normal = Normal::new(0.0f32, std).expect("std is positive");
        let weights = Array2::from_shape_simple_fn((filters, fan_in), || normal.sample(rng));
        let biases = Array1::from_shape_simple_fn(filters, || StandardNormal.sample(rng));
        let (out_h, out_w, pad_top, pad_left) = conv_geometry(input, kernel, stride, padding);
        Conv2d {
            spec,
            geo: Geometry { input, kernel, stride, out_h, out_w, pad_top, pad_left },
            activation,
            nabla_w: Array2::zeros(weights.raw_dim()),
            nabla_b: Array1::zeros(filters),
            weights,
            biases,
            cols: Array2::zeros((0, 0)),
            parts: Vec::new(),
            z: Array2::zeros((0, 0)),
            a: Array2::zeros((0, 0)),
            batch: 0,
            handed_over: false,
        }
    }

    fn filters(&self) -> usize {
        self.weights.nrows()
    }
}

/// Below this much arithmetic per batch, one thread does all the examples: waking the pool's
/// sleeping threads costs more than it saves. Measured on 2 cores, mini-batch 10, seconds per
/// 10,000 images: the one-conv chapter-6 net (conv 6 MFLOP per batch) 0.88 on one thread, 1.15
/// with every conv split, 0.89 with this threshold; the two-conv ReLU net (second conv 26
/// MFLOP) 2.24, 1.68 and 2.09.
const PARALLEL_FLOPS: usize = 10_000_000;

/// Examples per part when `batch` examples, `flops` of work in all, are shared among the
/// pool's threads.
fn part_size(batch: usize, flops: usize) -> usize {
    if flops < PARALLEL_FLOPS {
        return batch.max(1);
    }
    batch.div_ceil(rayon::current_num_threads().clamp(1, batch.max(1)))
}

impl Geometry {
    fn positions(&self) -> usize {
        self.out_h * self.out_w
    }

    /// For filter offset `(i, j)` and output row `oy`: the input row read (`None` in the
    /// padding), the range of output columns whose input column is inside the image, and the
    /// input column of the first of them.
    #[inline]
    fn span(&self, oy: usize, i: usize, j: usize) -> Option<(usize, std::ops::Range<usize>, usize)> {
        let (s, w) = (self.stride, self.input.width);
        let y = (oy * s + i).checked_sub(self.pad_top).filter(|&y| y < self.input.height)?;
        // ox is inside when 0 ≤ ox·s + j − pad_left < w
        let first = self.pad_left.saturating_sub(j).div_ceil(s);
        let end = (w + self.pad_left).saturating_sub(j).div_ceil(s).min(self.out_w);
        (first < end).then(|| (y, first..end, first * s + j - self.pad_left))
    }

    /// im2col: `cols[(c,i,j), (oy,ox)] = x[c, oy·s + i − pad, ox·s + j − pad]` (0 in the padding).
    fn im2col(&self, x: &[f32], cols: &mut [f32]) {
        let (k, s, hw, plane) =
            (self.kernel, self.stride, self.positions(), self.input.height * self.input.width);
        for c in 0..self.input.channels {
            let xc = &x[c * plane..(c + 1) * plane];
            for i in 0..k {
                for j in 0..k {
                    let row = &mut cols[((c * k + i) * k + j) * hw..][..hw];
                    for oy in 0..self.out_h {
                        let out = &mut row[oy * self.out_w..(oy + 1) * self.out_w];
                        let Some((y, inside, x0)) = self.span(oy, i, j) else {
                            out.fill(0.0);
                            continue;
                        };
                        out[..inside.start].fill(0.0);
                        out[inside.end..].fill(0.0);
                        let src = &xc[y * self.input.width + x0..];
                        if s == 1 {
                            out[inside.clone()].copy_from_slice(&src[..inside.len()]);
                        } else {
                            for (o, v) in out[inside].iter_mut().zip(src.iter().step_by(s)) {
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
        let (k, s, hw, plane) =
            (self.kernel, self.stride, self.positions(), self.input.height * self.input.width);
        for c in 0..self.input.channels {
            let gc = &mut gx[c * plane..(c + 1) * plane];
            for i in 0..k {
                for j in 0..k {
                    let row = &dcols[((c * k + i) * k + j) * hw..][..hw];
                    for oy in 0..self.out_h {
                        let Some((y, inside, x0)) = self.span(oy, i, j) else { continue };
                        let from = &row[oy * self.out_w..][inside];
                        let dst = &mut gc[y * self.input.width + x0..];
                        for (d, v) in dst.iter_mut().step_by(s).zip(from) {
                            *d += v;
                        }
                    }
                }
            }
        }
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

    /// For each example: cols = im2col(x), z = W·cols + b, a = σ(z) (unless handed over:
    /// then the output is z).
    fn forward(&mut self, x: ArrayView2<f32>, _train: bool) {
        let (batch, f, geo) = (x.nrows(), self.filters(), self.geo);
        let (hw, fan_in) = (geo.positions(), self.weights.ncols());
        self.batch = batch;
        let (w, bias, act, handed_over) = (&self.weights, &self.biases, self.activation, self.handed_over);
        let chunk = part_size(batch, 2 * batch * f * fan_in * hw);
        let mut cols = rows_mut(&mut self.cols, batch, fan_in * hw);
        let mut z = rows_mut(&mut self.z, batch, f * hw);
        let mut a = rows_mut(&mut self.a, batch, if handed_over { 0 } else { f * hw });
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
                matmul(0.0, &mut zm, 1.0, &w.view(), &cols_b);
                // z += b_f and a = σ(z), one feature map at a time while it is in cache
                for (zm, &bias) in zb.chunks_exact_mut(hw).zip(bias) {
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
        if parts.len() == 1 {
            parts.into_iter().for_each(work);
        } else {
            parts.into_par_iter().for_each(work);
        }
    }

    fn output(&self) -> ArrayView2<'_, f32> {
        if self.handed_over { self.weighted_input() } else { self.a.slice(s![..self.batch, ..]) }
    }

    fn hand_over_activation(&mut self) -> Option<Activation> {
        self.handed_over = self.activation.is_monotone();
        self.handed_over.then_some(self.activation)
    }

    fn weighted_input(&self) -> ArrayView2<'_, f32> {
        self.z.slice(s![..self.batch, ..])
    }

    /// BP1/BP2 through σ, then for each example: ∂C/∂b_f = Σ_p δ[f,p] (BP3),
    /// ∂C/∂W += δ·colsᵀ (BP4, the weights being shared, their gradients add up over every
    /// position), and ∂C/∂x = col2im(Wᵀ·δ) (BP2: each input gets back the error of every output
    /// whose receptive field covers it).
    fn backward(
        &mut self,
        _x: ArrayView2<f32>,
        mut delta: ArrayViewMut2<f32>,
        grad_is_delta: bool,
        grad_x: Option<ArrayViewMut2<f32>>,
        update: Option<&SgdStep>,
    ) {
        let (batch, f, geo) = (self.batch, self.filters(), self.geo);
        let (hw, fan_in) = (geo.positions(), self.weights.ncols());
        let chunk = part_size(batch, 2 * batch * f * fan_in * hw);
        let n_parts = batch.div_ceil(chunk);
        while self.parts.len() < n_parts {
            self.parts.push(Part {
                nabla_w: Array2::zeros((f, fan_in)),
                nabla_b: Array1::zeros(f),
                dcols: Array2::zeros((fan_in, hw)),
            });
        }
        let (w, act) = (&self.weights, self.activation);
        // Handed over, the layer after has already turned ∂C/∂a into δ.
        let grad_is_delta = grad_is_delta || self.handed_over;
        let a = if self.handed_over { self.z.slice(s![..batch, ..]) } else { self.a.slice(s![..batch, ..]) };
        let (z, cols) = (self.z.slice(s![..batch, ..]), self.cols.slice(s![..batch, ..]));
        let mut grad_x = grad_x;
        let mut gx_parts: Vec<Option<ArrayViewMut2<f32>>> = match grad_x.as_mut() {
            Some(gx) => gx.axis_chunks_iter_mut(Axis(0), chunk).map(Some).collect(),
            None => (0..n_parts).map(|_| None).collect(),
        };
        let work: Vec<BackwardPart> = delta
            .axis_chunks_iter_mut(Axis(0), chunk)
            .zip(z.axis_chunks_iter(Axis(0), chunk).zip(a.axis_chunks_iter(Axis(0), chunk)))
            .zip(cols.axis_chunks_iter(Axis(0), chunk))
            .zip(self.parts.iter_mut().zip(gx_parts.drain(..)))
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
                matmul(if b == 0 { 0.0 } else { 1.0 }, &mut part.nabla_w.view_mut(), 1.0, &db, &cols_b.t());
                if let Some(gx) = gx.as_mut() {
                    matmul(0.0, &mut part.dcols.view_mut(), 1.0, &w.t(), &db);
                    let gx_b = gx.row_mut(b).into_slice().expect("contiguous");
                    gx_b.fill(0.0);
                    geo.col2im_add(part.dcols.as_slice().expect("contiguous"), gx_b);
                }
            }
        };
        if work.len() == 1 {
            work.into_iter().for_each(run);
        } else {
            work.into_par_iter().for_each(run);
        }
        // The parts' sums, added in a fixed order.
        self.nabla_w.assign(&self.parts[0].nabla_w);
        self.nabla_b.assign(&self.parts[0].nabla_b);
        for part in &self.parts[1..n_parts] {
            self.nabla_w += &part.nabla_w;
            self.nabla_b += &part.nabla_b;
        }
        if let Some(step) = update {
            self.weights.zip_mut_with(&self.nabla_w, |w, &g| *w = step.decay * *w - step.rate * g);
            self.biases.scaled_add(-step.rate, &self.nabla_b);
        }
    }

    fn visit_params(&mut self, f: &mut dyn FnMut(Param<'_>)) {
        let (c, k) = (self.geo.input.channels, self.geo.kernel);
        let shape = (self.filters(), c, k, k);
        f(Param {
            name: "weights",
            value: self.weights.view_mut().into_shape_with_order(shape).expect("contiguous").into_dyn(),
            grad: self.nabla_w.view().into_shape_with_order(shape).expect("contiguous").into_dyn(),
            regularised: true,
        });
        f(Param {
            name: "biases",
            value: self.biases.view_mut().into_dyn(),
            grad: self.nabla_b.view().into_dyn(),
            regularised: false,
        });
    }

    fn clone_box(&self) -> Box<dyn Layer> {
        Box::new(self.clone())
    }
}
