//! Dropout (chapter 3): while learning, each input is dropped with probability p.

use super::{Layer, LayerSpec, Shape, Work};
use crate::Rng;
use crate::buffer::Buf;
use ndarray::{ArrayView2, ArrayViewMut2, Zip};
use rand::{Rng as _, SeedableRng};

/// `[batch, n] -> [batch, n]`. Inverted dropout: in training, a = x·mask with mask 0 (probability
/// p) or 1/(1 − p), so the expected activation is unchanged and inference uses a = x as it is
/// (the book instead halves the weights afterwards; the two are the same network).
///
/// The masks are drawn from a random stream of each replica's own ([`Layer::work`]'s seed), so
/// that replicas on several threads or processes drop different inputs, reproducibly.
#[derive(Clone, Debug)]
pub struct Dropout {
    input: Shape,
    p: f32,
    /// Drawn when the layer is built: each replica's stream mixes it with the replica's seed.
    seed: u64,
}

/// One replica's masks and output.
struct DropoutWork {
    rng: Rng,
    mask: Buf,
    a: Buf,
    batch: usize,
    /// Whether the last forward pass dropped anything (training) or passed x through.
    masked: bool,
    /// Reuse the last mask instead of drawing a new one (for gradient checks).
    frozen: bool,
}

impl Dropout {
    /// A dropout layer whose masks are seeded from `rng` (and each replica's own seed).
    pub fn new(input: Shape, p: f32, rng: &mut Rng) -> Self {
        Dropout { input, p, seed: rng.random() }
    }
}

impl Layer for Dropout {
    fn spec(&self) -> LayerSpec {
        LayerSpec::Dropout { input: self.input, p: self.p }
    }

    fn work(&self, seed: u64) -> Work {
        let st = DropoutWork {
            rng: Rng::seed_from_u64(self.seed ^ seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
            mask: Buf::default(),
            a: Buf::default(),
            batch: 0,
            masked: false,
            frozen: false,
        };
        Work::new(&[], st)
    }

    fn forward(&self, work: &mut Work, x: ArrayView2<f32>, train: bool) {
        let (_, st) = work.parts::<DropoutWork>();
        let (batch, n) = x.dim();
        st.masked = train && self.p > 0.0;
        // Frozen, the masks drawn for the first `batch` examples of the last training pass stay.
        if st.masked && !(st.frozen && st.mask.len() >= batch * n) {
            let (keep, p, rng) = (1.0 / (1.0 - self.p), self.p, &mut st.rng);
            st.mask.rows_mut(batch, n).map_inplace(|m| *m = if rng.random::<f32>() < p { 0.0 } else { keep });
        }
        st.batch = batch;
        let mut a = st.a.rows_mut(batch, n);
        if st.masked {
            Zip::from(&mut a).and(&x).and(&st.mask.rows(batch, n)).for_each(|a, &x, &m| *a = x * m);
        } else {
            a.assign(&x);
        }
    }

    fn output<'w>(&self, work: &'w Work) -> ArrayView2<'w, f32> {
        let st = work.state::<DropoutWork>();
        st.a.rows(st.batch, self.input.size())
    }

    /// ∂C/∂x = ∂C/∂a · mask: dropped inputs get no error back.
    fn backward(
        &self,
        work: &mut Work,
        _x: ArrayView2<f32>,
        grad: ArrayViewMut2<f32>,
        _grad_is_delta: bool,
        grad_x: Option<ArrayViewMut2<f32>>,
    ) {
        let st = work.state::<DropoutWork>();
        let Some(mut gx) = grad_x else { return };
        if st.masked {
            let mask = st.mask.rows(st.batch, self.input.size());
            Zip::from(&mut gx).and(&grad).and(&mask).for_each(|gx, &g, &m| *gx = g * m);
        } else {
            gx.assign(&grad);
        }
    }

    fn freeze_randomness(&self, work: &mut Work, frozen: bool) {
        work.parts::<DropoutWork>().1.frozen = frozen;
    }

    fn clone_box(&self) -> Box<dyn Layer> {
        Box::new(self.clone())
    }
}
