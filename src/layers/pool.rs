//! Pooling: each channel's `size × size` windows summarised by one number (chapter 6).

use super::{Layer, LayerSpec, Param, PoolKind, Shape, rows_mut};
use crate::optim::SgdStep;
use ndarray::{Array2, ArrayView2, ArrayViewMut2, s};

/// `[batch, C·H·W] -> [batch, C·H'·W']`, H' = (H − size)/stride + 1.
#[derive(Clone, Debug)]
pub struct Pool {
    input: Shape,
    kind: PoolKind,
    size: usize,
    stride: usize,
    out: Shape,
    a: Array2<f32>,
    /// For max pooling: where in the input row each output's maximum was (for the backward pass).
    argmax: Vec<u32>,
    batch: usize,
}

impl Pool {
    pub fn new(input: Shape, kind: PoolKind, size: usize, stride: usize) -> Self {
        let out = LayerSpec::Pool { input, pool: kind, size, stride }.out_shape();
        Pool { input, kind, size, stride, out, a: Array2::zeros((0, 0)), argmax: Vec::new(), batch: 0 }
    }

    /// Calls `f(output index, input index of the window's top-left corner)` for every window;
    /// the window's members are that index plus `i·W + j` for i, j < size.
    #[inline]
    fn windows(&self, mut f: impl FnMut(usize, usize)) {
        let (h, w) = (self.input.height, self.input.width);
        let mut o = 0;
        for c in 0..self.input.channels {
            for oy in 0..self.out.height {
                for ox in 0..self.out.width {
                    f(o, (c * h + oy * self.stride) * w + ox * self.stride);
                    o += 1;
                }
            }
        }
    }
}

impl Layer for Pool {
    fn spec(&self) -> LayerSpec {
        LayerSpec::Pool { input: self.input, pool: self.kind, size: self.size, stride: self.stride }
    }

    /// max: a = max_window x; average: a = mean_window x; L2: a = √(Σ_window x²).
    fn forward(&mut self, x: ArrayView2<f32>, _train: bool) {
        let (batch, n_out) = (x.nrows(), self.out.size());
        self.batch = batch;
        self.argmax.resize(batch * n_out, 0);
        let mut a = std::mem::take(&mut self.a);
        let mut argmax = std::mem::take(&mut self.argmax);
        {
            let mut a = rows_mut(&mut a, batch, n_out);
            let area = (self.size * self.size) as f32;
            for b in 0..batch {
                let xb = x.row(b);
                let xb = xb.as_slice().expect("contiguous input rows");
                let ab = a.row_mut(b).into_slice().expect("contiguous");
                let best = &mut argmax[b * n_out..(b + 1) * n_out];
                let (size, w) = (self.size, self.input.width);
                let rows = |corner: usize| (0..size).map(move |i| &xb[corner + i * w..corner + i * w + size]);
                self.windows(|o, corner| match self.kind {
                    PoolKind::Max => {
                        // Branch-free: which input wins is data, and mispredicted branches
                        // would cost more than the comparisons.
                        let (mut at, mut max) = (corner, xb[corner]);
                        for i in 0..size {
                            let row = corner + i * w;
                            for (j, &v) in xb[row..row + size].iter().enumerate() {
                                let better = v > max;
                                max = if better { v } else { max };
                                at = if better { row + j } else { at };
                            }
                        }
                        (ab[o], best[o]) = (max, at as u32);
                    }
                    PoolKind::Average => ab[o] = rows(corner).flatten().sum::<f32>() / area,
                    PoolKind::L2 => ab[o] = rows(corner).flatten().map(|v| v * v).sum::<f32>().sqrt(),
                });
            }
        }
        self.a = a;
        self.argmax = argmax;
    }

    fn output(&self) -> ArrayView2<'_, f32> {
        self.a.slice(s![..self.batch, ..])
    }

    /// max: the error goes to the input that was the maximum, and nowhere else (Wakui ch. 5);
    /// average: shared equally, δ/size²; L2: ∂a/∂x_i = x_i / a.
    fn backward(
        &mut self,
        x: ArrayView2<f32>,
        grad: ArrayViewMut2<f32>,
        _grad_is_delta: bool,
        grad_x: Option<ArrayViewMut2<f32>>,
        _update: Option<&SgdStep>,
    ) {
        let Some(mut gx) = grad_x else { return };
        let n_out = self.out.size();
        let area = (self.size * self.size) as f32;
        for b in 0..self.batch {
            let gb = grad.row(b);
            let gb = gb.as_slice().expect("contiguous");
            let xb = x.row(b);
            let xb = xb.as_slice().expect("contiguous");
            let ab = self.a.row(b);
            let ab = ab.as_slice().expect("contiguous");
            let best = &self.argmax[b * n_out..(b + 1) * n_out];
            let gxb = gx.row_mut(b).into_slice().expect("contiguous");
            gxb.fill(0.0);
            let (size, w) = (self.size, self.input.width);
            self.windows(|o, corner| {
                if self.kind == PoolKind::Max {
                    gxb[best[o] as usize] += gb[o];
                    return;
                }
                for i in 0..size {
                    for j in 0..size {
                        let at = corner + i * w + j;
                        gxb[at] += match self.kind {
                            PoolKind::Average => gb[o] / area,
                            _ if ab[o] > 0.0 => gb[o] * xb[at] / ab[o],
                            _ => 0.0,
                        };
                    }
                }
            });
        }
    }

    fn visit_params(&mut self, _f: &mut dyn FnMut(Param<'_>)) {}

    fn clone_box(&self) -> Box<dyn Layer> {
        Box::new(self.clone())
    }
}
