//! What training reports: each epoch's figures, the run's report, the metrics file, and the
//! [`Observer`] that shows progress.

use serde::{Deserialize, Serialize};

/// The figures of one epoch; `None` where not monitored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    pub epoch: usize,
    /// η used during this epoch.
    pub eta: f32,
    /// Seconds spent on the mini-batches (not on monitoring).
    pub train_seconds: f64,
    pub training_cost: Option<f64>,
    pub training_accuracy: Option<f64>,
    pub evaluation_cost: Option<f64>,
    pub evaluation_accuracy: Option<f64>,
    /// ‖∂C/∂b^l‖ for each layer that has biases, first layer first (`--track-gradients`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gradient_norms: Option<Vec<f64>>,
}

/// What a whole training run did.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    pub epochs: Vec<EpochMetrics>,
    /// Why training ended before `epochs`, if it did.
    pub stopped_early: Option<String>,
    /// [`EpochMetrics::gradient_norms`] of the untrained network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_gradient_norms: Option<Vec<f64>>,
}

/// What `nndl train --metrics-json` writes and `nndl plot curves` reads: how the run was set
/// up (free-form JSON), every epoch's figures, and the untrained network's gradient norms.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct MetricsFile {
    #[serde(default)]
    pub training: serde_json::Value,
    pub epochs: Vec<EpochMetrics>,
    #[serde(default)]
    pub initial_gradient_norms: Option<Vec<f64>>,
}

impl MetricsFile {
    /// Reads a metrics file's text (JSON).
    pub fn parse(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }
}

/// Hooks for showing progress; every method has an empty default.
pub trait Observer {
    fn epoch_start(&mut self, _epoch: usize, _batches: usize) {}
    fn batches_done(&mut self, _done: usize) {}
    /// After each epoch, with the network as it now is (e.g. to sample from it).
    fn epoch_end(&mut self, _metrics: &EpochMetrics, _net: &crate::network::Network) {}
    /// The untrained network's gradient norms (with
    /// [`TrainConfig::track_gradients`](super::TrainConfig::track_gradients)).
    fn gradients_before(&mut self, _norms: &[f64]) {}
    /// Whether the run should end now, keeping what it has learnt (a stop button). Asked
    /// between mini-batches, where Ctrl-C is; training then returns normally with
    /// [`TrainReport::stopped_early`] set to [`STOPPED_BY_REQUEST`].
    fn stop_requested(&self) -> bool {
        false
    }
}

/// [`TrainReport::stopped_early`] when an [`Observer`] asked the run to stop.
pub const STOPPED_BY_REQUEST: &str = "stopped on request";

/// An observer that shows nothing.
pub struct Silent;
impl Observer for Silent {}
