//! How a network learns: [`TrainConfig`] and what it is made of, checked by
//! [`TrainConfig::validate`].

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Why training could not run or had to stop. The messages name the setting (the CLI names
/// the flag it comes from).
#[derive(Debug, Error)]
pub enum TrainError {
    #[error(
        "training diverged in epoch {epoch}: the weights became NaN or infinite with η = {eta}; use a smaller η (try {suggest})"
    )]
    Diverged { epoch: usize, eta: f32, suggest: f32 },
    #[error("{what} needs validation examples to watch, and there are none")]
    NeedsValidation { what: &'static str },
    #[error("layer {index} uses step neurons, which have no useful gradient: they are for inference only")]
    Untrainable { index: usize },
    #[error("the network takes {net} inputs but each example has {data}; make the first layer {data} wide")]
    InputSize { net: usize, data: usize },
    #[error(
        "the network gives {net} outputs but each target has {data} (the classes); make the last layer {data} wide"
    )]
    OutputSize { net: usize, data: usize },
    #[error("there are no training examples")]
    NoExamples,
    /// A setting out of its range: `setting` is the [`TrainConfig`] field.
    #[error("{setting}: {why}")]
    Setting { setting: &'static str, why: &'static str },
    #[error("interrupted (Ctrl-C) in epoch {epoch}; nothing was saved")]
    Interrupted { epoch: usize },
    /// A data-parallel run's ranks could not agree (one died, stopped or diverged).
    #[error("data-parallel training stopped: {0}")]
    Collective(#[from] super::CollectiveError),
    #[error("cannot resume: {why}")]
    Resume { why: String },
    #[error("writing the checkpoint: {0}")]
    Checkpoint(#[from] super::CheckpointError),
}

/// When to lower the learning rate.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Schedule {
    /// η stays as given.
    #[default]
    Constant,
    /// Chapter 3's schedule: halve η each time the validation accuracy has not improved for
    /// `patience` epochs; stop once η has fallen to η₀/128.
    Halve { patience: usize },
}

/// Which figures to compute after each epoch (network2.py's four `monitor_*` switches).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Monitor {
    pub training_cost: bool,
    pub training_accuracy: bool,
    pub evaluation_cost: bool,
    pub evaluation_accuracy: bool,
}

impl Default for Monitor {
    fn default() -> Self {
        Monitor {
            training_cost: false,
            training_accuracy: false,
            evaluation_cost: false,
            evaluation_accuracy: true,
        }
    }
}

/// Everything about how a network learns.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub epochs: usize,
    /// m, examples per mini-batch.
    pub batch_size: usize,
    /// η.
    pub eta: f32,
    /// λ for L2 regularisation (weight decay).
    pub lambda: f32,
    /// λ₁ for L1 regularisation.
    pub l1: f32,
    /// μ; 0 is plain SGD.
    pub momentum: f32,
    pub schedule: Schedule,
    /// Stop when validation accuracy has not improved for this many epochs.
    pub early_stop: Option<usize>,
    pub monitor: Monitor,
    /// How gradients become steps (SGD, Adam, RMSProp).
    #[serde(default)]
    pub optimizer: crate::optim::Rule,
    /// Clip the gradient's global norm to this (None: never).
    #[serde(default)]
    pub clip: Option<f32>,
    /// Random distortions of each training image as it is drawn (`None`: the images as they are).
    #[serde(default)]
    pub augment: Option<crate::data::Augment>,
    /// Threads: for evaluating the monitored figures, and for training when a mini-batch has
    /// the work for them (each thread backpropagates its share; see [`super::replicas`]). A
    /// seeded run is bit-identical for the same number.
    #[serde(default = "one")]
    pub threads: usize,
    /// Examples per epoch: the first this many of each epoch's shuffled order (`None`: all).
    /// A text's windows overlap (one starts at every character), so an epoch of the language
    /// model takes as many as would cover the text once.
    #[serde(default)]
    pub epoch_examples: Option<usize>,
    /// Measure each layer's ‖∂C/∂b‖ on this many training examples before training and after
    /// each epoch (see [`gradient_norms`](super::gradient_norms)); `None`: don't.
    #[serde(default)]
    pub track_gradients: Option<usize>,
    /// Multiply every input, zeros included, even where the first layer could skip the inputs
    /// that are 0 (see [`crate::layers::SparseTraining`]): the same training up to rounding,
    /// computed as the other libraries compute it; for comparisons.
    #[serde(default)]
    pub dense_inputs: bool,
}

fn one() -> usize {
    1
}

impl Default for TrainConfig {
    /// network.py's chapter-1 run: 30 epochs, mini-batch 10, η = 3.0.
    fn default() -> Self {
        TrainConfig {
            epochs: 30,
            batch_size: 10,
            eta: 3.0,
            lambda: 0.0,
            l1: 0.0,
            momentum: 0.0,
            schedule: Schedule::Constant,
            early_stop: None,
            monitor: Monitor::default(),
            optimizer: crate::optim::Rule::Sgd,
            clip: None,
            augment: None,
            threads: 1,
            epoch_examples: None,
            track_gradients: None,
            dense_inputs: false,
        }
    }
}

impl TrainConfig {
    /// What is wrong with the settings themselves, if anything, named by their field: checked
    /// by [`train`](super::train), and by the CLI before it reads any data.
    pub fn validate(&self) -> Result<(), TrainError> {
        let bad = |setting: &'static str, why: &'static str| Err(TrainError::Setting { setting, why });
        if self.batch_size == 0 {
            return bad("batch_size", "must be at least 1");
        }
        if !(self.eta.is_finite() && self.eta > 0.0) {
            return bad("eta", "must be a positive number");
        }
        let non_negative = |v: f32| v.is_finite() && v >= 0.0;
        if !non_negative(self.lambda) {
            return bad("lambda", "must be zero or positive");
        }
        if !non_negative(self.l1) {
            return bad("l1", "must be zero or positive");
        }
        if self.clip.is_some_and(|c| !(c.is_finite() && c > 0.0)) {
            return bad("clip", "must be a positive number");
        }
        if self.momentum != 0.0 && self.optimizer != crate::optim::Rule::Sgd {
            return bad("momentum", "applies to plain SGD only (Adam and RMSProp keep their own averages)");
        }
        if !(0.0..1.0).contains(&self.momentum) {
            return bad("momentum", "must be in [0, 1)");
        }
        if let Schedule::Halve { patience: 0 } = self.schedule {
            return bad("schedule", "the patience must be at least 1 epoch (e.g. halve:10)");
        }
        if self.early_stop == Some(0) {
            return bad("early_stop", "the patience must be at least 1 epoch");
        }
        if self.track_gradients == Some(0) {
            return bad("track_gradients", "give a number of examples, at least 1 (e.g. 1000)");
        }
        if self.threads == 0 {
            return bad("threads", "give 1 or more");
        }
        if self.epoch_examples == Some(0) {
            return bad("epoch_examples", "give 1 or more");
        }
        Ok(())
    }

    /// Whether validation accuracy is watched (by the schedule or early stopping).
    pub fn watches_validation(&self) -> bool {
        self.early_stop.is_some() || matches!(self.schedule, Schedule::Halve { .. })
    }
}
