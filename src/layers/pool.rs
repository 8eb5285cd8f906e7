//! Pooling: each channel's `size × size` windows summarised by one number (chapter 6).

use super::{Layer, LayerSpec, PoolKind, Shape, Work};
use crate::activation::Activation;
use crate::buffer::Buf;
use ndarray::{ArrayView2, ArrayViewMut2};

/// `[batch, C·H·W] -> [batch, C·H'·W']`, H' = (H − size)/stride + 1.
#[derive(Clone, Debug)]
pub struct Pool {
    input: Shape,
    kind: PoolKind,
    size: usize,
    stride: usize,
    out: Shape,
    /// An activation taken over from the layer before (applied to the pooled values).
    act: Option<Activation>,
}

/// One replica's pooled values and where the maxima were.
struct PoolWork {
    a: Buf,
    /// With an activation taken over from the layer before: the pooled z, before `act`.
    z: Buf,
    /// For max pooling: where in the input row each output's maximum was (for the backward pass).
    argmax: Vec<u32>,
    batch: usize,
}

impl Pool {
    pub fn new(input: Shape, kind: PoolKind, size: usize, stride: usize) -> Self {
        let out = LayerSpec::Pool { input, pool: kind, size, stride }.out_shape();
        Pool { input, kind, size, stride, out, act: None }
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

crate::linalg::wide!(
    /// The book's 2×2, stride-2 max pooling for one example, as straight loops over row pairs
    /// (the general path's per-window bookkeeping cost a quarter of a conv net's training time).
    /// Same result as the general path: the first maximum in row-major order wins.
    fn max_pool_2x2(x: &[f32], input: Shape, out: Shape, a: &mut [f32], best: &mut [u32]) => max_pool_2x2_body
);

#[inline(always)]
fn max_pool_2x2_body(x: &[f32], input: Shape, out: Shape, a: &mut [f32], best: &mut [u32]) {
    let (h, w, ow) = (input.height, input.width, out.width);
    for c in 0..input.channels {
        for oy in 0..out.height {
            let r0 = (c * h + 2 * oy) * w;
            let r1 = r0 + w;
            let o0 = (c * out.height + oy) * ow;
            let (top, bottom) = (&x[r0..r0 + 2 * ow], &x[r1..r1 + 2 * ow]);
            let (a, best) = (&mut a[o0..o0 + ow], &mut best[o0..o0 + ow]);
            // Zipped pairs rather than indexing: no bounds checks, so the loop vectorises.
            let windows = top.chunks_exact(2).zip(bottom.chunks_exact(2));
            for (ox, ((a, best), (t, b))) in a.iter_mut().zip(best.iter_mut()).zip(windows).enumerate() {
                let (p, q, r, s) = (t[0], t[1], b[0], b[1]);
                let at = (r0 + 2 * ox) as u32;
                let (m1, i1) = if q > p { (q, at + 1) } else { (p, at) };
                let (m2, i2) = if s > r { (s, at + w as u32 + 1) } else { (r, at + w as u32) };
                (*a, *best) = if m2 > m1 { (m2, i2) } else { (m1, i1) };
            }
        }
    }
}

impl Layer for Pool {
    fn spec(&self) -> LayerSpec {
        LayerSpec::Pool { input: self.input, pool: self.kind, size: self.size, stride: self.stride }
    }

    fn work(&self, _seed: u64) -> Work {
        Work::new(&[], PoolWork { a: Buf::default(), z: Buf::default(), argmax: Vec::new(), batch: 0 })
    }

    /// max: a = max_window x; average: a = mean_window x; L2: a = √(Σ_window x²).
    fn forward(&self, work: &mut Work, x: ArrayView2<f32>, _train: bool) {
        let (_, st) = work.parts::<PoolWork>();
        let (batch, n_out) = (x.nrows(), self.out.size());
        st.batch = batch;
        st.argmax.resize(batch * n_out, 0);
        // What is pooled is z when an activation was taken over, else a.
        let pooled = if self.act.is_some() { &mut st.z } else { &mut st.a };
        let mut a = pooled.rows_mut(batch, n_out);
        let area = (self.size * self.size) as f32;
        for b in 0..batch {
            let xb = x.row(b);
            let xb = xb.as_slice().expect("contiguous input rows");
            let ab = a.row_mut(b).into_slice().expect("contiguous");
            let best = &mut st.argmax[b * n_out..(b + 1) * n_out];
            let (size, w) = (self.size, self.input.width);
            if self.kind == PoolKind::Max && size == 2 && self.stride == 2 {
                max_pool_2x2(xb, self.input, self.out, ab, best);
                continue;
            }
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
        if let Some(act) = self.act {
            // a = σ(z) of the pooled values only.
            act.apply(st.z.rows(batch, n_out), st.a.rows_mut(batch, n_out));
        }
    }

    fn output<'w>(&self, work: &'w Work) -> ArrayView2<'w, f32> {
        let st = work.state::<PoolWork>();
        st.a.rows(st.batch, self.out.size())
    }

    fn weighted_input<'w>(&self, work: &'w Work) -> ArrayView2<'w, f32> {
        let st = work.state::<PoolWork>();
        if self.act.is_some() { st.z.rows(st.batch, self.out.size()) } else { self.output(work) }
    }

    fn accepts_activation(&self) -> bool {
        self.kind == PoolKind::Max && self.act.is_none()
    }

    fn accept_activation(&mut self, act: Activation) {
        self.act = Some(act);
    }

    /// max: the error goes to the input that was the maximum, and nowhere else (Wakui ch. 5);
    /// average: shared equally, δ/size²; L2: ∂a/∂x_i = x_i / a.
    fn backward(
        &self,
        work: &mut Work,
        x: ArrayView2<f32>,
        mut grad: ArrayViewMut2<f32>,
        grad_is_delta: bool,
        grad_x: Option<ArrayViewMut2<f32>>,
    ) {
        let st = work.state::<PoolWork>();
        let Some(mut gx) = grad_x else { return };
        let (batch, n_out) = (st.batch, self.out.size());
        if let Some(act) = self.act.filter(|_| !grad_is_delta) {
            // BP2's ⊙ σ'(z) for the activation taken over, on the pooled values.
            act.backprop(st.z.rows(batch, n_out), st.a.rows(batch, n_out), grad.view_mut());
        }
        let area = (self.size * self.size) as f32;
        let pooled = if self.act.is_some() { st.z.rows(batch, n_out) } else { st.a.rows(batch, n_out) };
        for b in 0..batch {
            let gb = grad.row(b);
            let gb = gb.as_slice().expect("contiguous");
            let xb = x.row(b);
            let xb = xb.as_slice().expect("contiguous");
            let ab = pooled.row(b);
            let ab = ab.as_slice().expect("contiguous");
            let best = &st.argmax[b * n_out..(b + 1) * n_out];
            let gxb = gx.row_mut(b).into_slice().expect("contiguous");
            gxb.fill(0.0);
            if self.kind == PoolKind::Max {
                for (&at, &g) in best.iter().zip(gb) {
                    gxb[at as usize] += g;
                }
                continue;
            }
            let (size, w) = (self.size, self.input.width);
            self.windows(|o, corner| {
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

    fn clone_box(&self) -> Box<dyn Layer> {
        Box::new(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The 2×2 fast path picks the same maxima, at the same positions, as the general one.
    #[test]
    fn the_2x2_max_path_matches_the_general_path() {
        let input = Shape::new(3, 6, 8);
        // values with ties, so that "first maximum wins" is exercised
        let x: Vec<f32> = (0..input.size()).map(|i| ((i * 37 % 11) as f32 / 3.0).floor()).collect();
        let fast = Pool::new(input, PoolKind::Max, 2, 2);
        let mut work = fast.work(0);
        let xv = ndarray::ArrayView2::from_shape((1, input.size()), &x).unwrap();
        fast.forward(&mut work, xv, false);
        let out = fast.out;
        let (mut a, mut best) = (vec![0.0; out.size()], vec![0u32; out.size()]);
        // the general rule, written out: scan each window row by row, strictly greater wins
        for c in 0..3 {
            for oy in 0..3 {
                for ox in 0..4 {
                    let o = (c * 3 + oy) * 4 + ox;
                    let corner = (c * 6 + 2 * oy) * 8 + 2 * ox;
                    let (mut at, mut m) = (corner, x[corner]);
                    for i in 0..2 {
                        for j in 0..2 {
                            let k = corner + i * 8 + j;
                            if x[k] > m {
                                (at, m) = (k, x[k]);
                            }
                        }
                    }
                    (a[o], best[o]) = (m, at as u32);
                }
            }
        }
        assert_eq!(fast.output(&work).row(0).to_vec(), a);
        assert_eq!(work.state::<PoolWork>().argmax[..out.size()], best[..]);
    }
}
