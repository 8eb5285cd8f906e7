//! Layers: a forward pass, the backward pass beside it, and the parameters.
//!
//! Between layers, activations are `[batch, features]` matrices, one row per example. Buffers
//! are owned by the layers and reused from one mini-batch to the next: they grow to the largest
//! batch seen and are used through views of the first `batch` rows, so the training loop does
//! not allocate.

mod arch;
mod conv;
mod dense;
mod dropout;
mod flatten;
mod pool;
mod recurrent;
mod spec;
mod time_dense;

pub use arch::{ArchError, parse_arch, summary_table};
pub use conv::Conv2d;
pub use dense::Dense;
pub use dropout::Dropout;
pub use flatten::Flatten;
pub use pool::Pool;
pub use recurrent::{Cell, Recurrent};
pub use spec::{LayerSpec, MAX_DIM, MAX_ELEMENTS, Padding, PoolKind, Shape};
pub use time_dense::TimeDense;

use crate::activation::Activation;
use crate::optim::SgdStep;
use ndarray::{Array2, ArrayView2, ArrayViewD, ArrayViewMut2, ArrayViewMutD, s};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// One parameter tensor of a layer, with the gradient backprop left for it.
pub struct Param<'a> {
    /// "weights" or "biases".
    pub name: &'static str,
    /// The values, e.g. `[n_out, n_in]` (always contiguous, row-major).
    pub value: ArrayViewMutD<'a, f32>,
    /// ∂C/∂value summed over the last mini-batch, same shape as `value`.
    pub grad: ArrayViewD<'a, f32>,
    /// Whether L1/L2 regularisation applies (weights yes, biases no, as in the book).
    pub regularised: bool,
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
    /// `x: [batch, in] -> output(): [batch, out]`, keeping what `backward` needs.
    fn forward(&mut self, x: ArrayView2<f32>, train: bool);
    /// The last forward pass's activations, `[batch, out]`.
    fn output(&self) -> ArrayView2<'_, f32>;
    /// The last forward pass's weighted inputs `z`, `[batch, out]` (equal to `output` for
    /// layers without neurons).
    fn weighted_input(&self) -> ArrayView2<'_, f32> {
        self.output()
    }
    /// Backward pass for the batch `x` last seen by `forward`.
    ///
    /// On entry `grad` holds ∂C/∂a for this layer's outputs, or δ = ∂C/∂z when
    /// `grad_is_delta` (the output layer, after BP1). It may be overwritten. Writes ∂C/∂x
    /// into `grad_x` if given (computed with the parameters as they were in `forward`).
    ///
    /// With `update: None` it fills the parameter gradients, summed over the batch, for an
    /// optimiser to use. With `Some(step)` it applies that plain SGD step to its parameters
    /// instead, as early as it likes (a dense layer folds it into BP4's product); the
    /// gradients it leaves are then unspecified.
    fn backward(
        &mut self,
        x: ArrayView2<f32>,
        grad: ArrayViewMut2<f32>,
        grad_is_delta: bool,
        grad_x: Option<ArrayViewMut2<f32>>,
        update: Option<&SgdStep>,
    );
    /// Keep the random choices of the last training pass (dropout masks) for the passes that
    /// follow, so that they are repeatable (for gradient checks). Layers without any ignore it.
    fn freeze_randomness(&mut self, _frozen: bool) {}
    /// Pool, then activate (network3.py's ConvPoolLayer order). A max-pooling layer right after a
    /// layer of monotone neurons may take their activation over, applying it to the 4× fewer
    /// pooled values: σ(max z) = max σ(z), and the error routes to the same input. The network
    /// asks the layer before with [`Layer::hand_over_activation`]; layers that cannot, don't.
    fn takes_over_activation(&self) -> bool {
        false
    }
    /// See [`Layer::takes_over_activation`]: from now on apply `act` after pooling.
    fn take_over_activation(&mut self, _act: Activation) {}
    /// See [`Layer::takes_over_activation`]: stop applying the activation and output z (the
    /// layer after applies it); returns the activation handed over, or `None` if this layer
    /// does not do that.
    fn hand_over_activation(&mut self) -> Option<Activation> {
        None
    }
    /// Visits every parameter with its gradient, in a fixed order.
    fn visit_params(&mut self, f: &mut dyn FnMut(Param<'_>));
    /// A copy with the same parameters (buffers start empty).
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

/// The first `rows` rows of `buf`, growing it (only ever upwards) to hold `rows × cols`.
/// Growth happens once per new largest batch size, never in the steady training loop.
pub(crate) fn rows_mut(buf: &mut Array2<f32>, rows: usize, cols: usize) -> ArrayViewMut2<'_, f32> {
    if buf.nrows() < rows || buf.ncols() != cols {
        *buf = Array2::zeros((rows.max(buf.nrows()), cols));
    }
    buf.slice_mut(s![..rows, ..])
}
