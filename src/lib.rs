//! # nndl: the networks of *Neural Networks and Deep Learning*, from first principles
//!
//! Activations flow between layers as `[batch, features]` matrices (one row per example);
//! a layer that sees images or sequences knows the shape it reads each row as. A layer is a
//! forward pass, a backward pass written beside it, and its parameters.
//!
//! ```no_run
//! use nndl::prelude::*;
//! let mut rng = nndl::seeded_rng(1);
//! let mut net = Network::dense(&[784, 30, 10], Activation::Sigmoid, Activation::Sigmoid,
//!                              Cost::Quadratic, Init::Scaled, &mut rng).unwrap();
//! ```

pub mod activation;
pub mod buffer;
pub mod cost;
pub mod data;
#[cfg(feature = "mpi")]
pub mod distributed;
pub mod ensemble;
pub mod files;
#[doc(hidden)]
pub mod fuzzing;
pub mod image_io;
pub mod inspect;
pub mod interrupt;
pub mod layers;
pub mod linalg;
pub mod memory;
pub mod model_io;
pub mod network;
pub mod network2_json;
pub mod onnx;
pub mod optim;
pub mod plot;
pub mod probe;
pub mod team;
pub mod text;
pub mod train;

/// The names a user of the library needs most.
pub mod prelude {
    pub use crate::activation::Activation;
    pub use crate::cost::Cost;
    pub use crate::layers::{Init, Layer, LayerSpec};
    pub use crate::network::Network;
    pub use crate::optim::Optimizer;
    pub use crate::train::{Schedule, TrainConfig};
}

/// The random generator every seeded part of nndl uses: ChaCha12, the generator behind rand's
/// `StdRng` (the same stream from the same seed), named so that its state (seed, stream, word
/// position) can be saved in a checkpoint and taken up again.
pub type Rng = rand_chacha::ChaCha12Rng;

/// A generator seeded from `seed`: the same seed gives the same run, bit for bit.
pub fn seeded_rng(seed: u64) -> Rng {
    use rand::SeedableRng;
    Rng::seed_from_u64(seed)
}

/// Sets how many threads nndl's parallel parts (convolution over the examples of a batch) use,
/// for the whole process. Call it before training; a later call changes nothing. Without it,
/// all cores are used.
pub fn set_threads(threads: usize) {
    let _ = rayon::ThreadPoolBuilder::new().num_threads(threads.max(1)).build_global();
}

/// `text` on one line and shortened to about `max` characters, for a message: its start, `…`
/// and its end. A flag's value or a file's field can be any length; an error line should not.
pub fn shorten(text: &str, max: usize) -> String {
    let text = text.replace(['\r', '\n'], " ");
    let count = text.chars().count();
    if count <= max {
        return text;
    }
    let half = max.saturating_sub(1) / 2;
    let head: String = text.chars().take(half).collect();
    let tail: String = text.chars().skip(count - half).collect();
    format!("{head}…{tail}")
}
