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

    /// Calls `f(output index, input index of each window member)` for every window.
    #[inline]
    fn windows(&self, mut f: impl FnMut(usize, &mut dyn Iterator<Item = usize>)) {
        let (h, w) = (self.input.height, self.input.width);
        for c in 0..self.input.channels {
            for oy in 0..self.out.height {
                for ox in 0..self.out.width {
                    let o = (c * self.out.height + oy) * self.out.width + ox;
                    let (y0, x0) = (oy * self.stride, ox * self.stride);
                    let mut members = (0..self.size)
                        .flat_map(move |i| (0..self.size).map(move |j| (c * h + y0 + i) * w + x0 + j));
                    f(o, &mut members);
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
                self.windows(|o, members| match self.kind {
                    PoolKind::Max => {
                        let first = members.next().expect("windows are not empty");
                        let (mut at, mut max) = (first, xb[first]);
                        for i in members {
                            if xb[i] > max {
                                (at, max) = (i, xb[i]);
                            }
                        }
                        (ab[o], best[o]) = (max, at as u32);
                    }
                    PoolKind::Average => ab[o] = members.map(|i| xb[i]).sum::<f32>() / area,
                    PoolKind::L2 => ab[o] = members.map(|i| xb[i] * xb[i]).sum::<f32>().sqrt(),
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
            self.windows(|o, members| match self.kind {
                PoolKind::Max => gxb[best[o] as usize] += gb[o],
                PoolKind::Average => members.for_each(|i| gxb[i] += gb[o] / area),
                PoolKind::L2 => {
                    if ab[o] > 0.0 {
                        members.for_each(|i| gxb[i] += gb[o] * xb[i] / ab[o]);
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
