//! A fully connected layer of neurons: every input joined to every neuron.

use super::sparse_input::Nonzeros;
use super::sparse_training::SparseTraining;
use super::{FusedStep, Init, Layer, LayerSpec, Work};
use crate::Rng;
use crate::activation::Activation;
use crate::buffer::Buf;
use crate::linalg::{matmul, matmul_nt_rows};
use ndarray::{ArrayView1, ArrayView2, ArrayViewMut2, Axis};
use rand_distr::{Distribution, Normal, StandardNormal};

/// `[batch, n_in] -> [batch, n_out]`: z = x·Wᵀ + b, a = σ(z).
///
/// Names are the book's: `weights[[j, k]]` joins input neuron k to neuron j (so `weights` is
/// `[n_out, n_in]`), `biases[j]` is neuron j's bias; their gradients `nabla_w`, `nabla_b` are
/// the [`Work`]'s `grads[0]` and `grads[1]`. The book writes one example as a column vector,
/// z = w·a + b; a batch here is one row per example, so the same sum reads z = x·wᵀ + b.
#[derive(Clone, Debug)]
pub struct Dense {
    /// `[weights [n_out, n_in], biases [n_out]]`, row-major.
    params: [Buf; 2],
    n_in: usize,
    n_out: usize,
    /// The neurons' σ.
    pub activation: Activation,
}

/// What one replica keeps between a dense layer's forward and backward passes.
struct DenseWork {
    /// Weighted inputs of the last forward pass, `[batch, n_out]` (capacity may exceed batch).
    z: Buf,
    /// Activations of the last forward pass, `[batch, n_out]`.
    a: Buf,
    /// The helper's part of z when a team shares the inputs ([`Split::Inputs`]), `[batch, n_out]`.
    z_part: Buf,
    /// The nonzero inputs of the last batch read from bytes ([`Layer::forward_bytes`]).
    nonzeros: Option<Nonzeros>,
    batch: usize,
}

const W: usize = 0;
const B: usize = 1;

/// Up to this many rows, the forward product goes through [`matmul_nt_rows`]. Measured with
/// AVX-512, µs per product: 10 rows, 784→30: 4.7 against gemm's 10.5; 784→100: 9.6 against
/// 27.6; but 100 rows, 784→30: 38.8 against 36.2.
const SMALL_BATCH: usize = 32;

/// From this many multiply-adds per product on, a layer on a team's leading thread (see
/// [`crate::team`]) shares its work between the two threads ([`Split`]). Unlike examples,
/// neurons and inputs share out with no gradient to sum afterwards.
const TEAM_MACS: usize = 400_000;

/// How a team's two threads share a dense layer's passes.
#[derive(Clone, Copy, Debug)]
enum Split {
    /// Each thread the weighted inputs, and then the gradients or the step, of the neurons
    /// (rows of W) on its side of the cut: bit for bit what one thread computes. Chosen at
    /// mini-batch sizes, where the forward pass is dot products of whole rows.
    Neurons(usize),
    /// Each thread the part of every z from the inputs (columns of W and of x) on its side of
    /// the cut, x[.., part]·W[.., part]ᵀ, summed after; then the gradients or the step of
    /// those columns of W. Each thread keeps its half of W, and (see [`Layer::input_cut`])
    /// writes its half of x itself, so only the z parts and δ cross between the cores: at
    /// mini-batch 100, [784,30,10] on 2 threads went from 0.060 to 0.051 s per epoch.
    Inputs(usize),
}

/// `z = x·Wᵀ` for a `[batch, n_in]` x and some rows of W (`[n, n_in]`) into `[batch, n]`.
fn weighted_inputs(z: &mut ArrayViewMut2<f32>, x: &ArrayView2<f32>, w: &ArrayView2<f32>) {
    if x.nrows() <= SMALL_BATCH {
        // a mini-batch: dot products of whole rows beat a packing product here
        matmul_nt_rows(z, x, w);
    } else {
        matmul(0.0, z, 1.0, x, &w.t());
    }
}

impl Dense {
    /// Draws weights from N(0,1) or N(0,1/n_in) (`init`) and biases from N(0,1).
    pub fn new(n_in: usize, n_out: usize, activation: Activation, init: Init, rng: &mut Rng) -> Self {
        let std = match init {
            Init::Large => 1.0,
            Init::Scaled => 1.0 / (n_in as f32).sqrt(),
        };
        let normal = Normal::new(0.0f32, std).expect("n_in ≥ 1 (checked with the spec)");
        let mut weights = Buf::zeros(n_out * n_in);
        weights.iter_mut().for_each(|w| *w = normal.sample(rng));
        let mut biases = Buf::zeros(n_out);
        biases.iter_mut().for_each(|b| *b = StandardNormal.sample(rng));
        Dense { params: [weights, biases], n_in, n_out, activation }
    }

    /// A layer with the given parameters: `weights` `[n_out, n_in]` row-major, `biases`
    /// `[n_out]`. Panics if their sizes disagree.
    pub fn from_parameters(n_in: usize, weights: &[f32], biases: &[f32], activation: Activation) -> Self {
        let n_out = biases.len();
        assert_eq!(weights.len(), n_out * n_in, "weights are [n_out, n_in]");
        Dense { params: [Buf::from_slice(weights), Buf::from_slice(biases)], n_in, n_out, activation }
    }

    /// How a team's two threads share this pass, if it is worth sharing.
    fn split(&self, batch: usize) -> Option<Split> {
        let worth = batch * self.n_in * self.n_out >= TEAM_MACS && self.n_out >= 2 && self.n_in >= 2;
        if !(worth && crate::team::leading()) {
            return None;
        }
        Some(if batch <= SMALL_BATCH {
            Split::Neurons(self.n_out / 2)
        } else {
            Split::Inputs(self.input_half())
        })
    }

    /// Half the inputs: on a 16-float boundary (whole vectors; halves of W's rows that share
    /// no cache line) from 32 inputs on.
    fn input_half(&self) -> usize {
        if self.n_in >= 32 { self.n_in / 2 / 16 * 16 } else { self.n_in / 2 }
    }

    /// Inputs per neuron.
    pub fn n_in(&self) -> usize {
        self.n_in
    }
    /// Neurons.
    pub fn n_out(&self) -> usize {
        self.n_out
    }
    /// `[n_out, n_in]`
    pub fn weights(&self) -> ArrayView2<'_, f32> {
        self.params[W].view2(self.n_out, self.n_in)
    }
    /// `[n_out]`
    pub fn biases(&self) -> ArrayView1<'_, f32> {
        ArrayView1::from(&self.params[B][..])
    }

    /// [`Layer::forward`] for a mini-batch of byte examples read by `sparse` (which holds
    /// this layer's weights while it trains: see `layers/sparse_training.rs`).
    pub fn forward_sparse(&self, work: &mut Work, sparse: &SparseTraining) {
        let (_, st) = work.parts::<DenseWork>();
        st.batch = sparse.batch();
        let mut z = st.z.rows_mut(st.batch, self.n_out);
        sparse.weighted_inputs(&mut z);
        let a = st.a.rows_mut(st.batch, self.n_out);
        self.activation.apply_with_bias(self.biases(), z, a);
    }

    /// [`Layer::backward_step`] of the first layer after [`forward_sparse`](Self::forward_sparse):
    /// BP1/BP2's second half and BP3 here, BP4 and the weights' step in `sparse`.
    pub fn backward_step_sparse(
        &mut self,
        work: &mut Work,
        mut delta: ArrayViewMut2<f32>,
        grad_is_delta: bool,
        sparse: &mut SparseTraining,
        step: &FusedStep,
    ) {
        let (grads, st) = work.parts::<DenseWork>();
        let nabla_b = &mut grads[B];
        self.backward_common(st, nabla_b, &mut delta, grad_is_delta, None);
        sparse.step(delta.view(), step.rate, step.decay);
        let biases = &mut self.params[B];
        biases.iter_mut().zip(nabla_b.iter()).for_each(|(b, g)| *b -= step.rate * g);
    }

    /// Training state that keeps this layer's weights while it learns from byte examples that
    /// are mostly 0, if this CPU can skip them ([`SparseTraining`]).
    pub fn sparse_training(&self) -> Option<SparseTraining> {
        SparseTraining::new(&self.params[W], self.n_out, self.n_in)
    }

    /// Takes back the weights `sparse` kept while it trained.
    pub fn settle(&mut self, sparse: &SparseTraining) {
        sparse.weights(&mut self.params[W]);
    }

    /// BP1/BP2's second half, BP3 and BP2's first half: everything but BP4. Leaves δ in
    /// `delta` and ∂C/∂b in `nabla_b`.
    fn backward_common(
        &self,
        st: &DenseWork,
        nabla_b: &mut [f32],
        delta: &mut ArrayViewMut2<f32>,
        grad_is_delta: bool,
        grad_x: Option<ArrayViewMut2<f32>>,
    ) {
        let batch = st.batch;
        // BP1 (output layer) / BP2 (hidden layer), second half: δ^l = ∂C/∂a^l ⊙ σ'(z^l).
        if !grad_is_delta {
            let (z, a) = (st.z.rows(batch, self.n_out), st.a.rows(batch, self.n_out));
            self.activation.backprop(z, a, delta.view_mut());
        }
        // BP3: ∂C/∂b_j = δ_j, summed over the batch.
        nabla_b.fill(0.0);
        for row in delta.rows() {
            for (nb, d) in nabla_b.iter_mut().zip(row) {
                *nb += d;
            }
        }
        // BP2, first half: ∂C/∂a^{l−1} = (w^l)ᵀ δ^l, i.e. δ·W in rows (before W changes).
        if let Some(mut gx) = grad_x {
            let (delta, w) = (delta.view(), self.weights());
            match self.split(batch) {
                None => matmul(0.0, &mut gx, 1.0, &delta, &w),
                Some(_) => {
                    // each thread the errors of its half of the inputs
                    let h = self.input_half();
                    let (gx0, gx1) = gx.split_at(Axis(1), h);
                    let (w0, w1) = w.split_at(Axis(1), h);
                    let parts = vec![(gx0, w0), (gx1, w1)];
                    crate::team::for_parts(parts, |(mut gx, w)| matmul(0.0, &mut gx, 1.0, &delta, &w));
                }
            }
        }
    }
}

impl Layer for Dense {
    fn spec(&self) -> LayerSpec {
        LayerSpec::Dense { inputs: self.n_in, outputs: self.n_out, activation: self.activation }
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
        Work::new(
            &self.params,
            DenseWork {
                z: Buf::default(),
                a: Buf::default(),
                z_part: Buf::default(),
                nonzeros: None,
                batch: 0,
            },
        )
    }

    /// z = x·Wᵀ + b, a = σ(z): one matrix product for the whole batch.
    fn forward(&self, work: &mut Work, x: ArrayView2<f32>, _train: bool) {
        let (_, st) = work.parts::<DenseWork>();
        let batch = x.nrows();
        st.batch = batch;
        let mut z = st.z.rows_mut(batch, self.n_out);
        match self.split(batch) {
            None => weighted_inputs(&mut z, &x, &self.weights()),
            Some(Split::Neurons(h)) => {
                // each thread the weighted inputs of its neurons
                let (z0, z1) = z.view_mut().split_at(Axis(1), h);
                let (w0, w1) = self.weights().split_at(Axis(0), h);
                let parts = vec![(z0, w0), (z1, w1)];
                crate::team::for_parts(parts, |(mut z, w)| weighted_inputs(&mut z, &x, &w));
            }
            Some(Split::Inputs(h)) => {
                // each thread the weighted inputs from its inputs, x[.., part]·W[.., part]ᵀ;
                // then z is the sum of the two
                let mut z_part = st.z_part.rows_mut(batch, self.n_out);
                let (x0, x1) = x.split_at(Axis(1), h);
                let (w0, w1) = self.weights().split_at(Axis(1), h);
                let parts = vec![(z.view_mut(), x0, w0), (z_part.view_mut(), x1, w1)];
                crate::team::for_parts(parts, |(mut z, x, w)| weighted_inputs(&mut z, &x, &w));
                z.zip_mut_with(&z_part, |z, p| *z += p);
            }
        }
        let a = st.a.rows_mut(batch, self.n_out);
        // z += b and a = σ(z) in one pass over the batch
        self.activation.apply_with_bias(self.biases(), z, a);
    }

    fn output<'w>(&self, work: &'w Work) -> ArrayView2<'w, f32> {
        let st = work.state::<DenseWork>();
        st.a.rows(st.batch, self.n_out)
    }

    fn weighted_input<'w>(&self, work: &'w Work) -> ArrayView2<'w, f32> {
        let st = work.state::<DenseWork>();
        st.z.rows(st.batch, self.n_out)
    }

    /// The four equations of chapter 2, over the whole batch at once.
    fn backward(
        &self,
        work: &mut Work,
        x: ArrayView2<f32>,
        mut delta: ArrayViewMut2<f32>,
        grad_is_delta: bool,
        grad_x: Option<ArrayViewMut2<f32>>,
    ) {
        let (grads, st) = work.parts::<DenseWork>();
        let [nabla_w, nabla_b] = grads else { unreachable!("a dense layer has two gradients") };
        self.backward_common(st, nabla_b, &mut delta, grad_is_delta, grad_x);
        // BP4: ∂C/∂w_jk = a_k^{l−1} δ_j, i.e. nabla_w = δᵀ·x, summed over the batch by the product.
        let mut nabla_w = nabla_w.view2_mut(self.n_out, self.n_in);
        match self.split(st.batch) {
            None => matmul(0.0, &mut nabla_w, 1.0, &delta.t(), &x),
            Some(Split::Neurons(h)) => {
                // each thread the gradients of its neurons
                let (g0, g1) = nabla_w.split_at(Axis(0), h);
                let (d0, d1) = delta.view().split_at(Axis(1), h);
                let parts = vec![(g0, d0), (g1, d1)];
                crate::team::for_parts(parts, |(mut g, d)| matmul(0.0, &mut g, 1.0, &d.t(), &x));
            }
            Some(Split::Inputs(h)) => {
                // each thread the gradients of the weights from its inputs
                let (g0, g1) = nabla_w.split_at(Axis(1), h);
                let (x0, x1) = x.split_at(Axis(1), h);
                let parts = vec![(g0, x0), (g1, x1)];
                let delta = delta.view();
                crate::team::for_parts(parts, |(mut g, x)| matmul(0.0, &mut g, 1.0, &delta.t(), &x));
            }
        }
    }

    /// BP4 and the step in one product: w ← (1 − ηλ/n) w − (η/m) δᵀ·x (eq. 93), so the
    /// gradient ∂C/∂w is never written out and read back.
    fn backward_step(
        &mut self,
        work: &mut Work,
        x: ArrayView2<f32>,
        mut delta: ArrayViewMut2<f32>,
        grad_is_delta: bool,
        grad_x: Option<ArrayViewMut2<f32>>,
        step: &FusedStep,
    ) {
        let (grads, st) = work.parts::<DenseWork>();
        let nabla_b = &mut grads[B];
        self.backward_common(st, nabla_b, &mut delta, grad_is_delta, grad_x);
        let (n_out, n_in, split) = (self.n_out, self.n_in, self.split(st.batch));
        let [weights, biases] = &mut self.params;
        let mut weights = weights.view2_mut(n_out, n_in);
        match split {
            None => matmul(step.decay, &mut weights, -step.rate, &delta.t(), &x),
            Some(Split::Neurons(h)) => {
                // each thread the step of its neurons
                let (w0, w1) = weights.split_at(Axis(0), h);
                let (d0, d1) = delta.view().split_at(Axis(1), h);
                let parts = vec![(w0, d0), (w1, d1)];
                crate::team::for_parts(parts, |(mut w, d)| {
                    matmul(step.decay, &mut w, -step.rate, &d.t(), &x)
                });
            }
            Some(Split::Inputs(h)) => {
                // each thread the step of the weights from its inputs
                let (w0, w1) = weights.split_at(Axis(1), h);
                let (x0, x1) = x.split_at(Axis(1), h);
                let parts = vec![(w0, x0), (w1, x1)];
                let delta = delta.view();
                crate::team::for_parts(parts, |(mut w, x)| {
                    matmul(step.decay, &mut w, -step.rate, &delta.t(), &x)
                });
            }
        }
        biases.iter_mut().zip(nabla_b.iter()).for_each(|(b, g)| *b -= step.rate * g);
    }

    /// z = x·Wᵀ + b, a = σ(z) from the nonzero bytes of each example (`prepared` holds Wᵀ
    /// in panels: `layers/sparse_input.rs`, `layers/sparse_eval.rs`).
    fn forward_bytes(&self, work: &mut Work, bytes: &[u8], batch: usize, prepared: &super::Prepared) -> bool {
        use super::sparse_input as sparse;
        let n_in = self.n_in;
        // the first example tells dense data at once; the whole batch, counted as it is read
        if bytes.len() != batch * n_in
            || batch == 0
            || n_in == 0
            || !sparse::available()
            || !sparse::sparse_enough(&bytes[..n_in])
        {
            return false;
        }
        let (_, st) = work.parts::<DenseWork>();
        let nonzeros = st.nonzeros.get_or_insert_with(Nonzeros::default);
        nonzeros.clear();
        bytes.chunks_exact(n_in).for_each(|example| nonzeros.push(example));
        if nonzeros.len() as f64 > sparse::MAX_DENSITY * bytes.len() as f64 {
            return false;
        }
        // AVX-512: wide panels taken in blocks of rows (sparse_eval.rs); else training's
        let blocks = nonzeros.simd() == sparse::Simd::Avx512;
        // made by the first call (of any thread) that needs it, unless these weights made it last
        let most = if blocks { super::sparse_eval::WIDE } else { sparse::PANEL / 16 };
        let (w, shape) = (&self.params[W][..], [self.n_out, n_in, most]);
        let prepared = prepared.get_or_make(w, &shape, sparse::panels_len(n_in, self.n_out), |panels| {
            sparse::make_panels_of(w, self.n_out, n_in, most, panels);
        });
        assert_eq!(prepared.len(), sparse::panels_len(n_in, self.n_out), "prepared for this layer");
        st.batch = batch;
        let mut z = st.z.rows_mut(batch, self.n_out);
        if !(blocks
            && super::sparse_eval::block_sums(
                z.as_slice_mut().expect("row-major"),
                nonzeros,
                prepared,
                n_in,
                self.n_out,
            ))
        {
            sparse::sums(&mut z, nonzeros, prepared, n_in, 1.0);
        }
        let a = st.a.rows_mut(batch, self.n_out);
        self.activation.apply_with_bias(self.biases(), z, a);
        true
    }

    fn input_cut(&self, batch: usize) -> Option<usize> {
        match self.split(batch) {
            Some(Split::Inputs(h)) => Some(h),
            _ => None,
        }
    }

    fn as_dense(&self) -> Option<&Dense> {
        Some(self)
    }

    fn as_dense_mut(&mut self) -> Option<&mut Dense> {
        Some(self)
    }

    fn clone_box(&self) -> Box<dyn Layer> {
        Box::new(self.clone())
    }
}
