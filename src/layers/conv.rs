//! A convolutional layer: local receptive fields with shared weights (chapter 6; Wakui ch. 5).

use super::spec::conv_geometry;
use super::{Init, Layer, LayerSpec, Param, Shape, rows_mut};
use crate::Rng;
use crate::activation::Activation;
use crate::linalg::matmul;
use crate::optim::SgdStep;
use ndarray::{Array1, Array2, ArrayView2, ArrayViewMut2, s};
use rand_distr::{Distribution, Normal, StandardNormal};

/// `[batch, C·H·W] -> [batch, F·H'·W']`: F feature maps, each one k×k filter (shared weights
/// and one bias) slid over all C input channels with the given stride and padding.
///
/// For one example the layer unrolls every receptive field into a column (im2col), so the
/// whole map is one matrix product: `z[f, p] = Σ_r W[f, r] · cols[r, p] + b[f]`, with
/// `r = (c, i, j)` running over the C·k·k weights of a filter and `p` over the output positions.
#[derive(Clone, Debug)]
pub struct Conv2d {
    spec: LayerSpec,
    input: Shape,
    activation: Activation,
    kernel: usize,
    stride: usize,
    /// Output height and width, and the zeros added above and to the left.
    out_h: usize,
    out_w: usize,
    pad_top: usize,
    pad_left: usize,
    /// `[F, C·k·k]`: row f is filter f (PyTorch's `[F, C, k, k]` flattened).
    pub weights: Array2<f32>,
    /// `[F]`
    pub biases: Array1<f32>,
    pub nabla_w: Array2<f32>,
    pub nabla_b: Array1<f32>,
    /// Each example's receptive fields, `[batch, C·k·k · H'·W']` (kept for BP4).
    cols: Array2<f32>,
    /// Scratch for ∂C/∂cols of one example, `[C·k·k, H'·W']`.
    dcols: Array2<f32>,
    z: Array2<f32>,
    a: Array2<f32>,
    batch: usize,
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
            input,
            activation,
            kernel,
            stride,
            out_h,
            out_w,
            pad_top,
            pad_left,
            nabla_w: Array2::zeros(weights.raw_dim()),
            nabla_b: Array1::zeros(filters),
            weights,
            biases,
            cols: Array2::zeros((0, 0)),
            dcols: Array2::zeros((fan_in, out_h * out_w)),
            z: Array2::zeros((0, 0)),
            a: Array2::zeros((0, 0)),
            batch: 0,
        }
    }

    fn filters(&self) -> usize {
        self.weights.nrows()
    }

    /// For filter offset `(i, j)`, each output row `oy` and the input row it reads (`None` in the
    /// padding), and the range of output columns whose input column is inside the image, with
    /// the input column of the first of them.
    #[inline]
    fn span(&self, oy: usize, i: usize, j: usize) -> Option<(usize, std::ops::Range<usize>, usize)> {
        let (s, w) = (self.stride, self.input.width);
        let y = (oy * s + i).checked_sub(self.pad_top).filter(|&y| y < self.input.height)?;
        // ox is inside when 0 ≤ ox·s + j − pad_left < w
        let first = self.pad_left.saturating_sub(j).div_ceil(s);
        let end = ((w + self.pad_left).saturating_sub(j)).div_ceil(s).min(self.out_w);
        (first < end).then(|| (y, first..end, first * s + j - self.pad_left))
    }

    /// im2col: `cols[(c,i,j), (oy,ox)] = x[c, oy·s + i − pad, ox·s + j − pad]` (0 in the padding).
    fn im2col(&self, x: &[f32], cols: &mut [f32]) {
        let (k, s, hw, plane) =
            (self.kernel, self.stride, self.out_h * self.out_w, self.input.height * self.input.width);
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
            (self.kernel, self.stride, self.out_h * self.out_w, self.input.height * self.input.width);
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
    m.index_axis_move(ndarray::Axis(0), b).into_shape_with_order((rows, cols)).expect("rows are contiguous")
}

fn as_matrix_mut(m: ArrayViewMut2<'_, f32>, b: usize, rows: usize, cols: usize) -> ArrayViewMut2<'_, f32> {
    m.index_axis_move(ndarray::Axis(0), b).into_shape_with_order((rows, cols)).expect("rows are contiguous")
}

impl Layer for Conv2d {
    fn spec(&self) -> LayerSpec {
        self.spec.clone()
    }

    fn activation(&self) -> Option<Activation> {
        Some(self.activation)
    }

    /// For each example: cols = im2col(x), z = W·cols + b, a = σ(z).
    fn forward(&mut self, x: ArrayView2<f32>, _train: bool) {
        let (batch, f, hw, fan_in) =
            (x.nrows(), self.filters(), self.out_h * self.out_w, self.weights.ncols());
        self.batch = batch;
        let mut cols = std::mem::take(&mut self.cols);
        {
            let mut cols = rows_mut(&mut cols, batch, fan_in * hw);
            for b in 0..batch {
                let row = cols.row_mut(b).into_slice().expect("contiguous");
                self.im2col(x.row(b).as_slice().expect("contiguous input rows"), row);
            }
        }
        self.cols = cols;
        let mut z = rows_mut(&mut self.z, batch, f * hw);
        let mut a = rows_mut(&mut self.a, batch, f * hw);
        for b in 0..batch {
            let mut zb = as_matrix_mut(z.view_mut(), b, f, hw);
            matmul(0.0, &mut zb, 1.0, &self.weights.view(), &as_matrix(self.cols.view(), b, fan_in, hw));
            // z += b_f and a = σ(z), one feature map at a time while it is in cache
            let ab = a.row_mut(b).into_slice().expect("contiguous");
            let zb = zb.into_slice().expect("contiguous");
            for ((zm, am), &bias) in zb.chunks_exact_mut(hw).zip(ab.chunks_exact_mut(hw)).zip(&self.biases) {
                zm.iter_mut().for_each(|z| *z += bias);
                self.activation.apply_row(zm, am);
            }
        }
    }

    fn output(&self) -> ArrayView2<'_, f32> {
        self.a.slice(s![..self.batch, ..])
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
        mut grad_x: Option<ArrayViewMut2<f32>>,
        update: Option<&SgdStep>,
    ) {
        let (batch, f, hw, fan_in) =
            (self.batch, self.filters(), self.out_h * self.out_w, self.weights.ncols());
        if !grad_is_delta {
            let (z, a) = (self.z.slice(s![..batch, ..]), self.a.slice(s![..batch, ..]));
            self.activation.backprop(z, a, delta.view_mut());
        }
        self.nabla_b.fill(0.0);
        for b in 0..batch {
            let db = as_matrix(delta.view(), b, f, hw);
            for (nb, map) in self.nabla_b.iter_mut().zip(db.rows()) {
                *nb += map.sum();
            }
            let cols_b = as_matrix(self.cols.view(), b, fan_in, hw);
            matmul(if b == 0 { 0.0 } else { 1.0 }, &mut self.nabla_w.view_mut(), 1.0, &db, &cols_b.t());
            if let Some(gx) = grad_x.as_mut() {
                matmul(0.0, &mut self.dcols.view_mut(), 1.0, &self.weights.t(), &db);
                let gx_b = gx.row_mut(b).into_slice().expect("contiguous");
                gx_b.fill(0.0);
                self.col2im_add(self.dcols.as_slice().expect("contiguous"), gx_b);
            }
        }
        if let Some(step) = update {
            self.weights.zip_mut_with(&self.nabla_w, |w, &g| *w = step.decay * *w - step.rate * g);
            self.biases.scaled_add(-step.rate, &self.nabla_b);
        }
    }

    fn visit_params(&mut self, f: &mut dyn FnMut(Param<'_>)) {
        let (c, k) = (self.input.channels, self.kernel);
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
