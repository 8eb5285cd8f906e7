//! Training: mini-batch SGD over epochs, with the book's monitoring, schedule and early stop.

use crate::Rng;
use crate::data::Dataset;
use crate::network::Network;
use crate::optim::{Regulariser, Sgd};
use ndarray::{Array2, Axis, s};
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use std::time::Instant;
use thiserror::Error;

/// Why training could not run or had to stop.
#[derive(Debug, Error)]
pub enum TrainError {
    #[error(
        "training diverged in epoch {epoch}: the weights became NaN or infinite with η = {eta}; \
         lower --eta (try {suggest})"
    )]
    Diverged { epoch: usize, eta: f32, suggest: f32 },
    #[error("{flag} needs validation data to watch; set --validation-size above 0")]
    NeedsValidation { flag: &'static str },
    #[error("layer {index} uses step neurons, which have no useful gradient: they are for inference only")]
    Untrainable { index: usize },
    #[error(
        "the network takes {net} inputs but the images have {data} pixels; make the first layer {data} wide"
    )]
    InputSize { net: usize, data: usize },
    #[error("the network gives {net} outputs but there are 10 digits; make the last layer 10 wide")]
    OutputSize { net: usize },
    #[error("{0}")]
    Config(String),
    #[error("interrupted (Ctrl-C) in epoch {epoch}; nothing was saved")]
    Interrupted { epoch: usize },
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
    /// Threads for evaluating the monitored figures (each mini-batch step stays on one).
    #[serde(default = "one")]
    pub threads: usize,
    /// Measure each layer's ‖∂C/∂b‖ on this many training examples before training and after
    /// each epoch (see [`gradient_norms`]); `None`: don't.
    #[serde(default)]
    pub track_gradients: Option<usize>,
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
            track_gradients: None,
        }
    }
}

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
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
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
    fn epoch_end(&mut self, _metrics: &EpochMetrics) {}
    /// The untrained network's gradient norms (with [`TrainConfig::track_gradients`]).
    fn gradients_before(&mut self, _norms: &[f64]) {}
}

/// An observer that shows nothing.
pub struct Silent;
impl Observer for Silent {}

/// Cost and accuracy of a network on a data set.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Evaluation {
    /// Mean cost per example plus the regularisation penalty.
    pub cost: f64,
    pub correct: usize,
    pub total: usize,
}

impl Evaluation {
    /// Fraction classified right, in [0, 1].
    pub fn accuracy(&self) -> f64 {
        if self.total == 0 { 0.0 } else { self.correct as f64 / self.total as f64 }
    }
}

/// Examples per forward pass when evaluating: up to 1000 (large enough for efficient
/// products), fewer where a net keeps much per example (conv nets' im2col columns), so that a
/// chunk's buffers stay near 16 MB per thread.
pub(crate) fn eval_chunk(net: &Network) -> usize {
    eval_chunk_for(&net.specs())
}

/// [`eval_chunk`] from the layers' descriptions (for memory estimates before building).
pub fn eval_chunk_for(specs: &[crate::layers::LayerSpec]) -> usize {
    let per_example: usize = specs.iter().map(|s| s.floats_per_example()).sum();
    (4_000_000 / per_example.max(1)).clamp(1, 1000)
}

/// Runs `data` through the network in chunks and counts the digits it gets right
/// (the index of the largest output is the network's answer). One thread.
pub fn evaluate(net: &mut Network, data: &Dataset, reg: &Regulariser) -> Evaluation {
    evaluate_threads(net, data, reg, 1)
}

/// [`evaluate`] on up to `threads` threads, each taking a contiguous share of the chunks with its
/// own copy of the network. The figures do not depend on the thread count except for the order
/// in which the per-thread cost sums are added.
pub fn evaluate_threads(net: &mut Network, data: &Dataset, reg: &Regulariser, threads: usize) -> Evaluation {
    let chunk = eval_chunk(net);
    let chunks = data.len().div_ceil(chunk);
    // Each further thread works on a copy of the network: no more copies than memory holds.
    let specs = net.specs();
    let copy = crate::memory::inference_bytes(&specs, chunk, 1);
    let room = (u128::from(crate::memory::budget()) / copy.max(1)).max(1);
    let parts = threads.clamp(1, chunks.max(1)).min(usize::try_from(room).unwrap_or(usize::MAX));
    let per_part = chunks.div_ceil(parts) * chunk;
    let ranges: Vec<_> = (0..parts).map(|p| p * per_part..((p + 1) * per_part).min(data.len())).collect();
    let (cost, correct) = if parts == 1 {
        evaluate_range(net, data, 0..data.len())
    } else {
        std::thread::scope(|scope| {
            let others: Vec<_> = ranges[1..]
                .iter()
                .map(|r| {
                    let mut copy = net.clone();
                    scope.spawn(move || evaluate_range(&mut copy, data, r.clone()))
                })
                .collect();
            let first = evaluate_range(net, data, ranges[0].clone());
            others
                .into_iter()
                .map(|h| h.join().expect("evaluation thread"))
                .fold(first, |a, b| (a.0 + b.0, a.1 + b.1))
        })
    };
    let n = data.len().max(1) as f64;
    Evaluation { cost: cost / n + reg.penalty(net), correct, total: data.len() }
}

/// Summed cost and number right over `range` of `data`, [`eval_chunk`] examples per forward pass.
fn evaluate_range(net: &mut Network, data: &Dataset, range: std::ops::Range<usize>) -> (f64, usize) {
    let (pixels, classes) = (data.input_size(), net.out_size());
    let chunk = eval_chunk(net).min(range.len()).max(1);
    let mut x = Array2::zeros((chunk, pixels));
    let mut y = Array2::zeros((chunk, classes));
    let (mut cost, mut correct) = (0.0f64, 0usize);
    let cost_fn = net.cost;
    for start in range.clone().step_by(chunk) {
        let end = (start + chunk).min(range.end);
        let k = end - start;
        data.fill_range(
            start..end,
            &mut x.as_slice_mut().unwrap()[..k * pixels],
            &mut y.as_slice_mut().unwrap()[..k * classes],
        );
        let a = net.feedforward(x.slice(s![..k, ..]), false);
        cost += cost_fn.total(a, y.slice(s![..k, ..]));
        for (row, &label) in a.axis_iter(Axis(0)).zip(&data.labels[start..end]) {
            if argmax(row.iter().copied()) == label as usize {
                correct += 1;
            }
        }
    }
    (cost, correct)
}

/// How fast each layer is learning (chapter 5): the length of the bias gradient
/// ‖∂C/∂b^l‖ = ‖δ^l‖ averaged over the first `examples` examples of `data` (at most 1,000 are
/// taken per backward pass and their gradients averaged), one figure per layer that has
/// biases, first layer first. The network's parameters are not changed.
pub fn gradient_norms(net: &mut Network, data: &Dataset, examples: usize) -> Vec<f64> {
    let n = examples.min(data.len());
    let (pixels, classes) = (data.input_size(), net.out_size());
    let chunk = n.clamp(1, 1000);
    let mut x = Array2::zeros((chunk, pixels));
    let mut y = Array2::zeros((chunk, classes));
    let mut sums: Vec<Vec<f64>> = Vec::new();
    for start in (0..n).step_by(chunk) {
        let k = (start + chunk).min(n) - start;
        data.fill_range(
            start..start + k,
            &mut x.as_slice_mut().unwrap()[..k * pixels],
            &mut y.as_slice_mut().unwrap()[..k * classes],
        );
        net.backprop(x.slice(s![..k, ..]), y.slice(s![..k, ..]));
        let mut layer_sums = Vec::new();
        for layer in &mut net.layers {
            layer.visit_params(&mut |p| {
                if p.name == "biases" {
                    layer_sums.push(p.grad.iter().map(|&g| g as f64).collect::<Vec<f64>>());
                }
            });
        }
        if sums.is_empty() {
            sums = layer_sums;
        } else {
            for (total, part) in sums.iter_mut().zip(layer_sums) {
                total.iter_mut().zip(part).for_each(|(t, p)| *t += p);
            }
        }
    }
    let n = n.max(1) as f64;
    sums.iter().map(|g| g.iter().map(|v| (v / n).powi(2)).sum::<f64>().sqrt()).collect()
}

/// Index of the largest value (the first, on ties).
pub fn argmax(values: impl Iterator<Item = f32>) -> usize {
    let mut best = (0, f32::NEG_INFINITY);
    for (i, v) in values.enumerate() {
        if v > best.1 {
            best = (i, v);
        }
    }
    best.0
}

/// Trains `net` on `training` by mini-batch SGD for `cfg.epochs` epochs, reshuffling the
/// examples before each. `evaluation` (validation data) is what the monitor's "evaluation"
/// figures, the schedule and early stopping look at.
pub fn train(
    net: &mut Network,
    training: &Dataset,
    evaluation: Option<&Dataset>,
    cfg: &TrainConfig,
    rng: &mut Rng,
    observer: &mut dyn Observer,
) -> Result<TrainReport, TrainError> {
    check(net, training, evaluation, cfg)?;
    // A mini-batch larger than the data is the whole data.
    let (n, m, pixels, classes) =
        (training.len(), cfg.batch_size.min(training.len()), training.input_size(), net.out_size());
    let reg = Regulariser { lambda: cfg.lambda, l1: cfg.l1, n };
    let mut sgd = Sgd::new(cfg.eta, cfg.momentum, reg).with_rule(cfg.optimizer, cfg.clip);
    let mut x = Array2::zeros((m, pixels));
    let mut y = Array2::zeros((m, classes));
    let mut indices: Vec<usize> = (0..n).collect();
    let mut scratch = vec![0.0f32; pixels];
    let mut report = TrainReport::default();
    let watch = cfg.early_stop.is_some() || matches!(cfg.schedule, Schedule::Halve { .. });
    let (mut best, mut since_best) = (f64::NEG_INFINITY, 0usize);
    let batches = n.div_ceil(m);
    let track = |net: &mut Network| cfg.track_gradients.map(|k| gradient_norms(net, training, k));
    report.initial_gradient_norms = track(net);
    if let Some(norms) = &report.initial_gradient_norms {
        observer.gradients_before(norms);
    }

    for epoch in 1..=cfg.epochs {
        observer.epoch_start(epoch, batches);
        let started = Instant::now();
        indices.shuffle(rng);
        for (b, batch) in indices.chunks(m).enumerate() {
            let k = batch.len();
            if let Some(next) = indices.get((b + 1) * m..) {
                training.prefetch(&next[..m.min(next.len())]);
            }
            training.fill_batch(
                batch,
                &mut x.as_slice_mut().unwrap()[..k * pixels],
                &mut y.as_slice_mut().unwrap()[..k * classes],
            );
            if let Some(aug) = &cfg.augment {
                aug.apply(&mut x.as_slice_mut().unwrap()[..k * pixels], training.shape, rng, &mut scratch);
            }
            sgd.train_batch(net, x.slice(s![..k, ..]), y.slice(s![..k, ..]));
            if b % 64 == 63 {
                observer.batches_done(b + 1);
                if crate::interrupt::requested() {
                    return Err(TrainError::Interrupted { epoch });
                }
            }
        }
        observer.batches_done(batches);
        let train_seconds = started.elapsed().as_secs_f64();
        if !net.is_finite() {
            return Err(TrainError::Diverged { epoch, eta: sgd.eta, suggest: sgd.eta / 10.0 });
        }

        let mon = cfg.monitor;
        let on_training = (mon.training_cost || mon.training_accuracy)
            .then(|| evaluate_threads(net, training, &reg, cfg.threads));
        let on_eval = match evaluation {
            Some(data) if mon.evaluation_cost || mon.evaluation_accuracy || watch => {
                Some(evaluate_threads(net, data, &reg, cfg.threads))
            }
            _ => None,
        };
        let metrics = EpochMetrics {
            epoch,
            eta: sgd.eta,
            train_seconds,
            training_cost: on_training.filter(|_| mon.training_cost).map(|e| e.cost),
            training_accuracy: on_training.filter(|_| mon.training_accuracy).map(|e| e.accuracy()),
            evaluation_cost: on_eval.filter(|_| mon.evaluation_cost).map(|e| e.cost),
            evaluation_accuracy: on_eval.filter(|_| mon.evaluation_accuracy || watch).map(|e| e.accuracy()),
            gradient_norms: track(net),
        };
        observer.epoch_end(&metrics);
        report.epochs.push(metrics);

        // The schedule and early stopping watch validation accuracy.
        if let Some(e) = on_eval.filter(|_| watch) {
            if e.accuracy() > best {
                (best, since_best) = (e.accuracy(), 0);
            } else {
                since_best += 1;
            }
            if let Some(patience) = cfg.early_stop
                && since_best >= patience
            {
                report.stopped_early = Some(format!("early stop: no improvement in {patience} epochs"));
                break;
            }
            if let Schedule::Halve { patience } = cfg.schedule
                && since_best >= patience
            {
                sgd.eta /= 2.0;
                since_best = 0;
                if sgd.eta < cfg.eta / 128.0 + f32::EPSILON * cfg.eta {
                    report.stopped_early = Some(format!("schedule: η fell to η₀/128 = {}", sgd.eta));
                    break;
                }
            }
        }
    }
    Ok(report)
}

fn check(
    net: &Network,
    training: &Dataset,
    evaluation: Option<&Dataset>,
    cfg: &TrainConfig,
) -> Result<(), TrainError> {
    cfg.validate()?;
    if let Some(index) = net.layers.iter().position(|l| l.activation().is_some_and(|a| !a.is_trainable())) {
        return Err(TrainError::Untrainable { index });
    }
    if net.in_size() != training.input_size() {
        return Err(TrainError::InputSize { net: net.in_size(), data: training.input_size() });
    }
    if net.out_size() != 10 {
        return Err(TrainError::OutputSize { net: net.out_size() });
    }
    if training.is_empty() {
        return Err(TrainError::Config(
            "--train-size: there are no training images; give at least one".into(),
        ));
    }
    let needs_eval = evaluation.is_none_or(|d| d.is_empty());
    if needs_eval && cfg.early_stop.is_some() {
        return Err(TrainError::NeedsValidation { flag: "--early-stop" });
    }
    if needs_eval && matches!(cfg.schedule, Schedule::Halve { .. }) {
        return Err(TrainError::NeedsValidation { flag: "--schedule" });
    }
    Ok(())
}

impl TrainConfig {
    /// What is wrong with the settings themselves, if anything, named by their flags: checked
    /// by [`train`], and by the CLI before it reads any data.
    pub fn validate(&self) -> Result<(), TrainError> {
        let bad = |flag: &str, why: &str| Err(TrainError::Config(format!("{flag}: {why}")));
        if self.batch_size == 0 {
            return bad("--batch-size", "must be at least 1");
        }
        if !(self.eta.is_finite() && self.eta > 0.0) {
            return bad("--eta", "must be a positive number");
        }
        let non_negative = |v: f32| v.is_finite() && v >= 0.0;
        if !non_negative(self.lambda) {
            return bad("--lambda", "must be zero or positive");
        }
        if !non_negative(self.l1) {
            return bad("--l1", "must be zero or positive");
        }
        if self.clip.is_some_and(|c| !(c.is_finite() && c > 0.0)) {
            return bad("--clip", "must be a positive number");
        }
        if self.momentum != 0.0 && self.optimizer != crate::optim::Rule::Sgd {
            return bad(
                "--momentum",
                "applies to --optimizer sgd only (Adam and RMSProp keep their own averages)",
            );
        }
        if !(0.0..1.0).contains(&self.momentum) {
            return bad("--momentum", "must be in [0, 1)");
        }
        if let Schedule::Halve { patience: 0 } = self.schedule {
            return bad("--schedule", "the patience must be at least 1 epoch (e.g. halve:10)");
        }
        if self.early_stop == Some(0) {
            return bad("--early-stop", "the patience must be at least 1 epoch");
        }
        if self.track_gradients == Some(0) {
            return bad("--track-gradients", "give a number of images, at least 1 (e.g. 1000)");
        }
        if self.threads == 0 {
            return bad("--threads", "give 1 or more");
        }
        Ok(())
    }
}
