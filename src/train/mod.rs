//! Training: mini-batch gradient descent over epochs, with the book's monitoring, schedule and
//! early stopping. One loop for every kind of example ([`Examples`]): images, tables, texts.
//!
//! - [`config`]: [`TrainConfig`] (η, m, λ, the update rule, …) and its checks.
//! - [`evaluate`](mod@evaluate): cost and accuracy, and chapter 5's gradient norms.
//! - [`report`]: each epoch's figures, the metrics file, and the [`Observer`] of progress.

pub mod config;
pub mod evaluate;
pub mod report;

pub use config::{Monitor, Schedule, TrainConfig, TrainError};
pub use evaluate::{Evaluation, argmax, eval_chunk, evaluate, gradient_norms};
pub use report::{EpochMetrics, MetricsFile, Observer, STOPPED_BY_REQUEST, Silent, TrainReport};

use crate::Rng;
use crate::buffer::Buf;
use crate::data::Examples;
use crate::network::Network;
use crate::optim::{Optimizer, Regulariser};
use rand::seq::SliceRandom;
use std::time::Instant;

/// Trains `net` on `training` by mini-batch gradient descent for `cfg.epochs` epochs,
/// reshuffling the examples before each. `evaluation` (validation examples) is what the
/// monitor's "evaluation" figures, the schedule and early stopping look at.
///
/// Each mini-batch is written into the same two buffers (no allocation in the loop), distorted
/// if `cfg.augment` says so, and handed to the [`Optimizer`]; the next batch's examples are
/// prefetched meanwhile.
pub fn train<E: Examples + ?Sized>(
    net: &mut Network,
    training: &E,
    evaluation: Option<&E>,
    cfg: &TrainConfig,
    rng: &mut Rng,
    observer: &mut dyn Observer,
) -> Result<TrainReport, TrainError> {
    check(net, training, evaluation, cfg)?;
    // A mini-batch larger than the data is the whole data.
    let (n, inputs, targets) = (training.len(), training.input_size(), training.target_size());
    let m = cfg.batch_size.min(n);
    let reg = Regulariser { lambda: cfg.lambda, l1: cfg.l1, n };
    let mut optimizer = Optimizer::new(cfg.eta, cfg.momentum, reg).with_rule(cfg.optimizer, cfg.clip);
    let mut ws = net.workspace(0);
    let (mut x, mut y) = (Buf::zeros(m * inputs), Buf::zeros(m * targets));
    let mut indices: Vec<usize> = (0..n).collect();
    let augment = cfg.augment.zip(training.image_shape());
    let mut scratch = vec![0.0f32; augment.map_or(0, |(_, s)| s.height * s.width)];
    let mut report = TrainReport::default();
    let watch = cfg.watches_validation();
    let (mut best, mut since_best) = (f64::NEG_INFINITY, 0usize);
    let per_epoch = cfg.epoch_examples.map_or(n, |k| k.min(n));
    let batches = per_epoch.div_ceil(m);
    let track = |net: &Network| cfg.track_gradients.map(|k| gradient_norms(net, training, k));
    report.initial_gradient_norms = track(net);
    if let Some(norms) = &report.initial_gradient_norms {
        observer.gradients_before(norms);
    }

    for epoch in 1..=cfg.epochs {
        observer.epoch_start(epoch, batches);
        let started = Instant::now();
        indices.shuffle(rng);
        let order = &indices[..per_epoch];
        for (b, batch) in order.chunks(m).enumerate() {
            let k = batch.len();
            if let Some(next) = order.get((b + 1) * m..) {
                training.prefetch(&next[..m.min(next.len())]);
            }
            training.fill(batch, &mut x[..k * inputs], &mut y[..k * targets]);
            if let Some((aug, shape)) = &augment {
                aug.apply(&mut x[..k * inputs], *shape, rng, &mut scratch);
            }
            optimizer.train_batch(net, &mut ws, x.rows(k, inputs), y.rows(k, targets));
            if b % 64 == 63 {
                observer.batches_done(b + 1);
                if crate::interrupt::requested() {
                    return Err(TrainError::Interrupted { epoch });
                }
                if observer.stop_requested() {
                    report.stopped_early = Some(STOPPED_BY_REQUEST.into());
                    return Ok(report);
                }
            }
        }
        observer.batches_done(batches);
        let train_seconds = started.elapsed().as_secs_f64();
        if !net.params().all(|p| p.iter().all(|v| v.is_finite())) {
            let eta = optimizer.eta;
            return Err(TrainError::Diverged { epoch, eta, suggest: eta / 10.0 });
        }

        let mon = cfg.monitor;
        let on_training =
            (mon.training_cost || mon.training_accuracy).then(|| evaluate(net, training, &reg, cfg.threads));
        let on_eval = match evaluation {
            Some(data) if mon.evaluation_cost || mon.evaluation_accuracy || watch => {
                Some(evaluate(net, data, &reg, cfg.threads))
            }
            _ => None,
        };
        let metrics = EpochMetrics {
            epoch,
            eta: optimizer.eta,
            train_seconds,
            training_cost: on_training.filter(|_| mon.training_cost).map(|e| e.cost),
            training_accuracy: on_training.filter(|_| mon.training_accuracy).map(|e| e.accuracy()),
            evaluation_cost: on_eval.filter(|_| mon.evaluation_cost).map(|e| e.cost),
            evaluation_accuracy: on_eval.filter(|_| mon.evaluation_accuracy || watch).map(|e| e.accuracy()),
            gradient_norms: track(net),
        };
        observer.epoch_end(&metrics, net);
        report.epochs.push(metrics);
        if observer.stop_requested() {
            report.stopped_early = Some(STOPPED_BY_REQUEST.into());
            break;
        }

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
                optimizer.eta /= 2.0;
                since_best = 0;
                if optimizer.eta < cfg.eta / 128.0 + f32::EPSILON * cfg.eta {
                    report.stopped_early = Some(format!("schedule: η fell to η₀/128 = {}", optimizer.eta));
                    break;
                }
            }
        }
    }
    Ok(report)
}

/// The settings, and that the network fits the examples.
fn check<E: Examples + ?Sized>(
    net: &Network,
    training: &E,
    evaluation: Option<&E>,
    cfg: &TrainConfig,
) -> Result<(), TrainError> {
    cfg.validate()?;
    if let Some(index) = net.layers.iter().position(|l| l.activation().is_some_and(|a| !a.is_trainable())) {
        return Err(TrainError::Untrainable { index });
    }
    if net.in_size() != training.input_size() {
        return Err(TrainError::InputSize { net: net.in_size(), data: training.input_size() });
    }
    if net.out_size() != training.target_size() {
        return Err(TrainError::OutputSize { net: net.out_size(), data: training.target_size() });
    }
    if training.is_empty() {
        return Err(TrainError::NoExamples);
    }
    let no_validation = evaluation.is_none_or(|d| d.is_empty());
    if no_validation && cfg.early_stop.is_some() {
        return Err(TrainError::NeedsValidation { what: "early stopping" });
    }
    if no_validation && matches!(cfg.schedule, Schedule::Halve { .. }) {
        return Err(TrainError::NeedsValidation { what: "the halving schedule" });
    }
    Ok(())
}
