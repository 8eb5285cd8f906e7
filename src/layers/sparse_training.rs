//! A first dense layer that learns from byte examples without multiplying their zeros.
//!
//! The forward pass z = x·Wᵀ and plain SGD's step W ← decay·W − rate·δᵀx (eq. 93, with BP4
//! folded in) need only the rows of Wᵀ whose input is not 0: for an MNIST digit, 19% of 784.
//! Both go through Wᵀ in the panels of `sparse_input.rs`, which, while the layer trains, hold
//! its weights: the layer's own W is stale until [`SparseTraining::weights`] gives it back.

use super::sparse_input::{self as sparse, Nonzeros, Simd};
use crate::buffer::Buf;
use ndarray::{ArrayView2, ArrayViewMut2};

/// The weights, and the mini-batch's nonzero inputs, of a first dense layer learning from byte
/// examples that are mostly 0 (see the module's text).
///
/// L2's decay of every weight at every step goes into `scale` (Wᵀ = `scale` · panels; the
/// panels are rescaled only when it falls below ½), so that a step still touches only the rows
/// of nonzero inputs.
#[derive(Clone, Debug)]
pub struct SparseTraining {
    /// Wᵀ / scale in panels ([`sparse::make_panels`]).
    panels: Buf,
    scale: f32,
    /// The mini-batch's nonzero inputs.
    nonzeros: Nonzeros,
    n_in: usize,
    n_out: usize,
}

impl SparseTraining {
    /// Training state for a layer with weights `w` (`[n_out, n_in]` row-major); `None` if this
    /// CPU cannot skip zeros ([`sparse::available`]).
    pub fn new(w: &[f32], n_out: usize, n_in: usize) -> Option<Self> {
        Some(Self::with(w, n_out, n_in, Simd::detect()?))
    }

    /// The same with the kernels of `simd`. Panics unless this CPU has them.
    pub fn with(w: &[f32], n_out: usize, n_in: usize, simd: Simd) -> Self {
        let mut panels = Buf::zeros(sparse::panels_len(n_in, n_out));
        sparse::make_panels(w, n_out, n_in, &mut panels);
        SparseTraining { panels, scale: 1.0, nonzeros: Nonzeros::with(simd), n_in, n_out }
    }

    /// Starts a new mini-batch.
    pub fn clear(&mut self) {
        self.nonzeros.clear();
    }

    /// Adds an example to the mini-batch: its `n_in` bytes, x = byte/255.
    pub fn push(&mut self, bytes: &[u8]) {
        assert_eq!(bytes.len(), self.n_in, "an example is n_in bytes");
        self.nonzeros.push(bytes);
    }

    /// Examples in the mini-batch.
    pub fn batch(&self) -> usize {
        self.nonzeros.batch()
    }

    /// z = x·Wᵀ for the mini-batch into `z: [batch, n_out]`.
    pub fn weighted_inputs(&self, z: &mut ArrayViewMut2<f32>) {
        sparse::sums(z, &self.nonzeros, &self.panels, self.n_in, self.scale);
    }

    /// W ← decay·W − rate·δᵀx for the mini-batch's `delta: [batch, n_out]`.
    pub fn step(&mut self, delta: ArrayView2<f32>, rate: f32, decay: f32) {
        // decay·scale·V − rate·G = scale'·(V − (rate/scale')·G) with scale' = decay·scale
        let scale = self.scale * decay;
        if scale.abs() >= 0.5 && scale.is_finite() {
            self.scale = scale;
        } else {
            self.panels.iter_mut().for_each(|v| *v *= scale);
            self.scale = 1.0;
        }
        sparse::step(&mut self.panels, &self.nonzeros, delta, self.n_in, -rate / self.scale);
    }

    /// W, `[n_out, n_in]` row-major, into `w`.
    pub fn weights(&self, w: &mut [f32]) {
        sparse::weights_from_panels(&self.panels, self.scale, self.n_out, self.n_in, w);
    }
}

#[cfg(test)]
mod tests {
    use crate::activation::Activation;
    use crate::cost::Cost;
    use crate::layers::sparse_input::Simd;
    use crate::layers::{FusedStep, Init};
    use crate::network::Network;
    use ndarray::Array2;

    /// Steps of plain SGD through the sparse first layer move every parameter where the
    /// matrix products move it, up to rounding: for several widths of the first layer (one
    /// panel, several, a part-filled last vector), with and without L2's decay, and with a
    /// decay that forces the panels to be rescaled.
    #[test]
    fn skipping_zeros_trains_as_the_matrix_products_do() {
        let kernels = [Simd::Avx512, Simd::Avx2].into_iter().filter(|s| s.runs_here());
        for (simd, &(n_in, hidden, decay)) in kernels.flat_map(|s| {
            [(784, 30, 1.0), (100, 100, 0.999), (70, 1, 1.0), (200, 17, 0.3), (64, 70, -0.2)]
                .iter()
                .map(move |c| (s, c))
        }) {
            let mut rng = crate::seeded_rng(7);
            let sizes = [n_in, hidden, 10];
            let (act, cost) = (Activation::Sigmoid, Cost::CrossEntropy);
            let mut dense = Network::dense(&sizes, act, act, cost, Init::Scaled, &mut rng).unwrap();
            let mut sparse_net = dense.clone();
            let w = sparse_net.layers[0].params()[0].to_vec();
            let mut sparse = super::SparseTraining::with(&w, hidden, n_in, simd);
            let (mut ws_d, mut ws_s) = (dense.workspace(0), sparse_net.workspace(0));
            let step = FusedStep { rate: 0.5 / 7.0, decay };
            for batch in 0..5 {
                let m = 7;
                let bytes: Vec<u8> = (0..m * n_in)
                    .map(|i| if (i * 7 + batch) % 5 < 4 { 0 } else { ((i * 37 + batch) % 255 + 1) as u8 })
                    .collect();
                let x = Array2::from_shape_fn((m, n_in), |(i, k)| f32::from(bytes[i * n_in + k]) / 255.0);
                let y = Array2::from_shape_fn((m, 10), |(i, j)| f32::from(u8::from((i + batch) % 10 == j)));
                dense.train_step(&mut ws_d, x.view(), y.view(), &step);
                sparse.clear();
                bytes.chunks(n_in).for_each(|e| sparse.push(e));
                sparse_net.train_step_sparse(&mut ws_s, &mut sparse, y.view(), &step);
            }
            sparse_net.settle(&sparse);
            for (p, (a, b)) in dense.params().zip(sparse_net.params()).enumerate() {
                let worst =
                    a.iter().zip(b.iter()).map(|(a, b)| (a - b).abs() / (1.0 + a.abs())).fold(0.0, f32::max);
                assert!(worst < 1e-5, "{simd:?} {sizes:?}, decay {decay}: tensor {p} differs by {worst}");
            }
        }
    }
}
