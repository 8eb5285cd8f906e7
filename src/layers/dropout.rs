//! Dropout (chapter 3): while learning, each input is dropped with probability p.

use super::{Layer, LayerSpec, Param, Shape, rows_mut};
use crate::Rng;
use crate::optim::SgdStep;
use ndarray::{Array2, ArrayView2, ArrayViewMut2, Zip, s};
use rand::{Rng as _, SeedableRng};

/// `[batch, n] -> [batch, n]`. Inverted dropout: in training, a = x·mask with mask 0 (probability
/// p) or 1/(1 − p), so the expected activation is unchanged and inference uses a = x as it is
/// (the book instead halves the weights afterwards; the two are the same network).
#[derive(Clone, Debug)]
pub struct Dropout {
    input: Shape,
    p: f32,
    rng: Rng,
    mask: Array2<f32>,
    a: Array2<f32>,
    batch: usize,
    /// Whether the last forward pass dropped anything (training) or passed x through.
    masked: bool,
    /// Reuse the last mask instead of drawing a new one (for gradient checks).
    pub frozen: bool,
}

impl Dropout {
    /// A dropout layer with its own random stream, seeded from `rng`.
    pub fn new(input: Shape, p: f32, rng: &mut Rng) -> Self {
        Dropout {
            input,
            p,
            rng: Rng::seed_from_u64(rng.random()),
            mask: Array2::zeros((0, 0)),
            a: Array2::zeros((0, 0)),
            batch: 0,
            masked: false,
            frozen: false,
        }
    }
}

impl Layer for Dropout {
    fn spec(&self) -> LayerSpec {
        LayerSpec::Dropout { input: self.input, p: self.p }
    }

    fn forward(&mut self, x: ArrayView2<f32>, train: bool) {
        let (batch, n) = x.dim();
        self.batch = batch;
        self.masked = train && self.p > 0.0;
        if self.masked && !(self.frozen && self.mask.nrows() >= batch) {
            let keep = 1.0 / (1.0 - self.p);
            let (p, rng) = (self.p, &mut self.rng);
            rows_mut(&mut self.mask, batch, n)
                .map_inplace(|m| *m = if rng.random::<f32>() < p { 0.0 } else { keep });
        }
        let mut a = rows_mut(&mut self.a, batch, n);
        if self.masked {
            Zip::from(&mut a).and(&x).and(&self.mask.slice(s![..batch, ..])).for_each(|a, &x, &m| *a = x * m);
        } else {
            a.assign(&x);
        }
    }

    fn output(&self) -> ArrayView2<'_, f32> {
        self.a.slice(s![..self.batch, ..])
    }

    /// ∂C/∂x = ∂C/∂a · mask: dropped inputs get no error back.
    fn backward(
        &mut self,
        _x: ArrayView2<f32>,
        grad: ArrayViewMut2<f32>,
        _grad_is_delta: bool,
        grad_x: Option<ArrayViewMut2<f32>>,
        _update: Option<&SgdStep>,
    ) {
        let Some(mut gx) = grad_x else { return };
        if self.masked {
            let mask = self.mask.slice(s![..self.batch, ..]);
            Zip::from(&mut gx).and(&grad).and(&mask).for_each(|gx, &g, &m| *gx = g * m);
        } else {
            gx.assign(&grad);
        }
    }

    fn freeze_randomness(&mut self, frozen: bool) {
        self.frozen = frozen;
    }

    fn visit_params(&mut self, _f: &mut dyn FnMut(Param<'_>)) {}

    fn clone_box(&self) -> Box<dyn Layer> {
        Box::new(self.clone())
    }
}
