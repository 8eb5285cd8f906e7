//! Layers: a forward pass, the backward pass beside it, and the parameters.
//!
//! A layer holds its parameters and nothing else that changes while it runs. What one pass
//! needs besides (its activations, what the backward pass reuses, the parameters' gradients)
//! lives in a [`Work`], one per replica: so one network can serve several threads (or, over
//! MPI, processes), each with its own `Work`, and their gradients can be summed in a fixed
//! order. Between layers, activations are `[batch, features]` matrices, one row per example.
//! Buffers grow to the largest batch seen and are used through views of the first `batch`
//! rows, so the training loop does not allocate.

mod arch;
mod conv;
mod dense;
mod dropout;
mod flatten;
mod pool;
mod recurrent;
mod sparse_avx2;
mod sparse_eval;
mod sparse_input;
mod sparse_training;
mod spec;
mod time_dense;

pub use arch::{ArchError, parse_arch, summary_table};
pub use conv::Conv2d;
pub use dense::Dense;
pub use dropout::Dropout;
pub use flatten::Flatten;
pub use pool::Pool;
pub use recurrent::{Cell, Recurrent};
pub(crate) use sparse_input::sparse_enough;
pub use sparse_training::SparseTraining;
pub use spec::{LayerSpec, MAX_DIM, MAX_ELEMENTS, Padding, ParamInfo, PoolKind, Shape};
pub use time_dense::TimeDense;

use crate::activation::Activation;
use crate::buffer::Buf;
use ndarray::{ArrayView2, ArrayViewMut2};
use serde::{Deserialize, Serialize};
use std::any::Any;
use std::fmt;
use std::str::FromStr;
use std::sync::{Mutex, OnceLock};

/// Examples per part when a layer shares a batch of `batch` examples, `work` in all, among
/// threads ([`crate::team::threads_for_sharing`]: a team's two, or rayon's pool): all of them in
/// one part below `threshold` (waking the pool would cost more; a team's spinning helper is
/// worth it from a tenth of that), and in a share of work already (one replica of several, see
/// [`crate::train::replicas`]), where the layer does not share its examples out again.
fn part_size(batch: usize, work: usize, threshold: usize) -> usize {
    let threads = crate::team::threads_for_sharing();
    // a team's helper is already awake: a tenth of the work pays for handing it half
    let threshold = if crate::team::leading() { threshold / 10 } else { threshold };
    if work < threshold || threads < 2 {
        return batch.max(1);
    }
    batch.div_ceil(threads.clamp(1, batch.max(1)))
}

/// One layer's per-replica state: ∂C/∂(each parameter) from the last backward pass, summed
/// over the batch (in the order of [`Layer::params`], each as long as its parameter), and the
/// layer's own buffers, which only the layer reads.
pub struct Work {
    /// The parameters' gradients (BP3, BP4), one per parameter tensor.
    pub grads: Vec<Buf>,
    state: Box<dyn Any + Send + Sync>,
}

impl Work {
    /// Gradients shaped like `params` (zeros) and the layer's own `state`.
    pub fn new(params: &[Buf], state: impl Any + Send + Sync) -> Self {
        Work { grads: params.iter().map(|p| Buf::zeros(p.len())).collect(), state: Box::new(state) }
    }

    /// The layer's own buffers. Panics if this work belongs to a layer of another kind (a
    /// `Work` must come from the layer it is used with).
    pub(crate) fn state<T: 'static>(&self) -> &T {
        self.state.downcast_ref().expect("a Work used with the layer that made it")
    }

    /// The gradients and the layer's buffers, borrowed apart.
    pub(crate) fn parts<T: 'static>(&mut self) -> (&mut [Buf], &mut T) {
        let state = self.state.downcast_mut().expect("a Work used with the layer that made it");
        (&mut self.grads, state)
    }
}

/// One plain SGD step as a layer may fold it into its backward pass: w ← decay·w − rate·Σ∇
/// for weights, b ← b − rate·Σ∇ for biases.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FusedStep {
    /// η/m: the learning rate over the mini-batch size (gradients arrive summed over the batch).
    pub rate: f32,
    /// 1 − ηλ/n: L2 weight decay (1 without L2).
    pub decay: f32,
}

/// What every layer does. Shapes are per example; the batch is the leading axis.
pub trait Layer: Send + Sync {
    /// Enough to rebuild the layer (stored in model files).
    fn spec(&self) -> LayerSpec;
    /// The neurons' nonlinearity, for layers that have one; the cost fuses with the output
    /// layer's (see [`crate::cost::Cost::output_delta`]).
    fn activation(&self) -> Option<Activation> {
        None
    }
    /// The parameter tensors, flat and row-major, in the order of [`LayerSpec::params`]
    /// (which gives their names and shapes).
    fn params(&self) -> &[Buf] {
        &[]
    }
    /// The same, to change.
    fn params_mut(&mut self) -> &mut [Buf] {
        &mut []
    }
    /// For each parameter tensor, whether L1/L2 regularisation applies (weights yes, biases no,
    /// as in the book): [`ParamInfo::regularised`], without building the infos.
    fn regularised(&self) -> &'static [bool] {
        &[]
    }
    /// A fresh per-replica state for this layer; `seed` seeds its random choices (dropout).
    fn work(&self, seed: u64) -> Work;
    /// `x: [batch, in] -> output(work): [batch, out]`, keeping in `work` what `backward` needs.
    fn forward(&self, work: &mut Work, x: ArrayView2<f32>, train: bool);
    /// The last forward pass's activations, `[batch, out]`.
    fn output<'w>(&self, work: &'w Work) -> ArrayView2<'w, f32>;
    /// The last forward pass's weighted inputs `z`, `[batch, out]` (equal to `output` for
    /// layers without neurons).
    fn weighted_input<'w>(&self, work: &'w Work) -> ArrayView2<'w, f32> {
        self.output(work)
    }
    /// For a recurrent layer, the hidden state after every step of the last forward pass,
    /// `[batch, T·H]` (step after step), whether its output is the whole sequence or only the
    /// last step; `None` for other layers.
    fn hidden_states<'w>(&self, _work: &'w Work) -> Option<ArrayView2<'w, f32>> {
        None
    }
    /// Backward pass for the batch `x` last seen by `forward` with this `work`.
    ///
    /// On entry `grad` holds ∂C/∂a for this layer's outputs, or δ = ∂C/∂z when
    /// `grad_is_delta` (the output layer, after BP1). It may be overwritten. Writes ∂C/∂x
    /// into `grad_x` if given, and the parameters' gradients, summed over the batch, into
    /// `work.grads`.
    fn backward(
        &self,
        work: &mut Work,
        x: ArrayView2<f32>,
        grad: ArrayViewMut2<f32>,
        grad_is_delta: bool,
        grad_x: Option<ArrayViewMut2<f32>>,
    );
    /// [`backward`](Self::backward), then the plain SGD `step` on this layer's parameters.
    /// A layer may override it to fold the step into its backward pass (a dense layer folds it
    /// into BP4's product, so the gradient is never written out and read back); the gradients
    /// it leaves in `work` are then unspecified. ∂C/∂x is always computed with the parameters
    /// as they were in `forward`.
    fn backward_step(
        &mut self,
        work: &mut Work,
        x: ArrayView2<f32>,
        grad: ArrayViewMut2<f32>,
        grad_is_delta: bool,
        grad_x: Option<ArrayViewMut2<f32>>,
        step: &FusedStep,
    ) {
        self.backward(work, x, grad, grad_is_delta, grad_x);
        let regularised = self.regularised();
        for ((w, g), &reg) in self.params_mut().iter_mut().zip(&work.grads).zip(regularised) {
            let decay = if reg { step.decay } else { 1.0 };
            w.iter_mut().zip(g.iter()).for_each(|(w, g)| *w = decay * *w - step.rate * g);
        }
    }
    /// Keep the random choices of the last training pass (dropout masks) for the passes that
    /// follow, so that they are repeatable (for gradient checks). Layers without any ignore it.
    fn freeze_randomness(&self, _work: &mut Work, _frozen: bool) {}
    /// Pool, then activate (network3.py's ConvPoolLayer order): see
    /// [`crate::network::Network::from_layers`], which pairs a layer of monotone neurons with
    /// a max-pooling layer after it. Layers that can output z and leave the activation to the
    /// layer after do so from now on and return it; others return `None`.
    fn defer_activation(&mut self) -> Option<Activation> {
        None
    }
    /// Whether this layer can apply the activation of the layer before it to its own output.
    fn accepts_activation(&self) -> bool {
        false
    }
    /// From now on apply `act` to this layer's output (see [`Layer::defer_activation`]).
    fn accept_activation(&mut self, _act: Activation) {}
    /// Where this layer, on a team's leading thread, would cut its inputs for a batch of
    /// `batch`: inputs `..cut` here, `cut..` on the helper (so the helper's part of the input
    /// is best written on the helper; see [`crate::data::Dataset::fill_batch_cut`]). `None`
    /// for layers that share their work otherwise, or not at this size.
    fn input_cut(&self, _batch: usize) -> Option<usize> {
        None
    }
    /// The forward pass (not training) of `batch` examples stored as bytes, `[batch, inputs]`
    /// row-major with x = byte/255, skipping the inputs that are 0, if this layer can and they
    /// are mostly 0 (a dense layer can: see `layers/sparse_input.rs`). `prepared` is the
    /// layer's scratch, made by the first call that needs it, shared by the threads of one
    /// evaluation while the parameters do not change. Returns
    /// false, having done nothing, otherwise: then fill x and call [`Layer::forward`].
    fn forward_bytes(&self, _work: &mut Work, _bytes: &[u8], _batch: usize, _prepared: &Prepared) -> bool {
        false
    }
    /// This layer, if it is a [`Dense`] one.
    fn as_dense(&self) -> Option<&Dense> {
        None
    }
    /// The same, to change.
    fn as_dense_mut(&mut self) -> Option<&mut Dense> {
        None
    }
    /// A copy with the same parameters.
    fn clone_box(&self) -> Box<dyn Layer>;
}

impl Clone for Box<dyn Layer> {
    fn clone(&self) -> Self {
        self.clone_box()
    }
}

/// How weights are first drawn (chapter 3, "Weight initialization"). Biases are N(0,1) in both.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Init {
    /// N(0, 1): network.py's "large" initialisation; saturates hidden neurons.
    Large,
    /// N(0, 1/n_in): network2.py's default.
    #[default]
    Scaled,
}

impl FromStr for Init {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "large" | "normal" => Ok(Init::Large),
            "scaled" | "default" => Ok(Init::Scaled),
            _ => Err(format!("unknown init '{s}' (choose from large, scaled)")),
        }
    }
}

impl fmt::Display for Init {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Init::Large => "large",
            Init::Scaled => "scaled",
        })
    }
}

/// A layer's scratch made from its parameters by the first thread of an evaluation that needs
/// it and read by all of them ([`Layer::forward_bytes`]). It is kept for the next evaluation,
/// which makes it again only if the parameters have changed: `nndl eval --repeat`, or
/// evaluating two data sets after an epoch, then make it once. (Making the panels of
/// [784,100,10]'s Wᵀ takes ~100 µs, 1.5% of evaluating MNIST's test set on one thread, 3% on
/// two, where the other thread waits for it; comparing the parameters, ~10 µs.)
#[derive(Debug, Default)]
pub struct Prepared {
    made: OnceLock<Buf>,
    kept: Mutex<Kept>,
}

/// The scratch between evaluations, and what it was made from.
#[derive(Debug, Default)]
struct Kept {
    buf: Buf,
    from: Vec<f32>,
    shape: Vec<usize>,
    valid: bool,
}

impl Prepared {
    /// The scratch: made by `make` (into `len` floats of unspecified values) from the
    /// parameters `from` of a layer of `shape`, unless the last evaluation made it from the
    /// same (bit for bit). Calls of other threads meanwhile wait for it.
    pub fn get_or_make(
        &self,
        from: &[f32],
        shape: &[usize],
        len: usize,
        make: impl FnOnce(&mut [f32]),
    ) -> &Buf {
        self.made.get_or_init(|| {
            let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
            let mut buf = std::mem::take(&mut kept.buf);
            let same = kept.valid && buf.len() == len && kept.shape == shape && same_bits(&kept.from, from);
            kept.valid = false;
            if !same {
                buf.resize(len);
                make(&mut buf[..]);
                kept.from.clear();
                kept.from.extend_from_slice(from);
                kept.shape = shape.to_vec();
            }
            buf
        })
    }

    /// Ends an evaluation: the scratch is kept for the next one.
    pub fn put_back(&mut self) {
        if let Some(buf) = self.made.take() {
            let kept = self.kept.get_mut().unwrap_or_else(|e| e.into_inner());
            kept.buf = buf;
            kept.valid = true;
        }
    }
}

/// a == b bit for bit (so a NaN equals itself), 64 at a time without an early exit so that it
/// runs in vectors.
fn same_bits(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len()
        && a.chunks(64)
            .zip(b.chunks(64))
            .all(|(a, b)| a.iter().zip(b).fold(true, |same, (x, y)| same & (x.to_bits() == y.to_bits())))
}
