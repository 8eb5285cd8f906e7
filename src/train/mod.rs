//! Training: mini-batch gradient descent over epochs, with the book's monitoring, schedule and
//! early stopping. One loop for every kind of example ([`Examples`]): images, tables, texts.
//!
//! - [`config`]: [`TrainConfig`] (η, m, λ, the update rule, …) and its checks.
//! - [`evaluate`](mod@evaluate): cost and accuracy, and chapter 5's gradient norms.
//! - [`report`]: each epoch's figures, the metrics file, and the [`Observer`] of progress.
//! - [`checkpoint`]: a run saved between epochs, to resume bit-identically.
//! - [`collective`](mod@collective): data-parallel training, the ranks' [`Collective`] and
//!   each rank's [`share`] of a mini-batch.
//! - [`replicas`]: the same between the threads of one process, one fork-join per mini-batch.

pub mod checkpoint;
pub mod collective;
pub mod config;
pub mod evaluate;
pub mod replicas;
pub mod report;

pub use checkpoint::{Checkpoint, CheckpointError, TrainState};
pub use collective::{Collective, CollectiveError, LocalGroup, fingerprint, share};
pub use config::{Monitor, Schedule, TrainConfig, TrainError};
pub use evaluate::{Evaluation, Evaluator, argmax, eval_chunk, evaluate, gradient_norms};
pub use replicas::Replicas;
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
/// prefetched meanwhile. With `cfg.threads` above 1 and mini-batches with the work for them,
/// each is shared out among replicas on that many threads ([`Replicas`]). [`train_with`] is
/// the same with data parallelism between processes.
pub fn train<E: Examples + ?Sized>(
    net: &mut Network,
    training: &E,
    evaluation: Option<&E>,
    cfg: &TrainConfig,
    rng: &mut Rng,
    observer: &mut dyn Observer,
) -> Result<TrainReport, TrainError> {
    train_with(net, training, evaluation, cfg, rng, observer, Session::default())
}

/// What a run of [`train_with`] is part of, besides its settings: other ranks, a checkpoint to
/// go on from, checkpoints to write. `Session::default()` is a plain run.
#[derive(Default)]
pub struct Session<'a> {
    /// The ranks of a data-parallel run (None: this process alone).
    pub collective: Option<&'a mut dyn Collective>,
    /// Go on from this state (with the network and random generator of the same checkpoint).
    pub resume: Option<TrainState>,
    /// After every this many epochs (and not after the last), hand the run's state to
    /// `checkpoint`.
    pub checkpoint_every: Option<usize>,
    /// Writes a checkpoint (e.g. [`Checkpoint::save`]); an error stops training.
    pub checkpoint: Option<CheckpointSink<'a>>,
}

/// Called with the network, the random generator and the loop's state between epochs.
pub type CheckpointSink<'a> = &'a mut dyn FnMut(&Network, &Rng, TrainState) -> Result<(), CheckpointError>;

/// [`train`], as one of the ranks of a data-parallel run when `session.collective` is given
/// (synchronous data-parallel SGD; see [`collective`](mod@collective)), from a checkpoint
/// when `session.resume` is, and writing checkpoints when `session.checkpoint` says.
///
/// A resumed run (with the checkpoint's network and generator, and the same settings and
/// examples) is bit-identical to one that was never stopped.
///
/// Every rank must start from the same network and `rng` and get the same arguments. Each
/// shuffles with the shared stream, takes its [`share`] of each global mini-batch of
/// `cfg.batch_size` (reading only those examples), backpropagates it, and the summed
/// gradients are allreduced, so that every rank applies the update of the whole mini-batch
/// (scaled by its size) and the replicas stay identical. Random distortions are drawn for the
/// whole mini-batch from the shared stream and each rank applies its share's, so they do not
/// depend on the number of ranks; dropout masks come from each rank's own stream (seeded by
/// its rank), so a run with dropout is reproducible for a given number of ranks.
///
/// Rank 0 alone evaluates (the monitored figures, the schedule, early stopping, gradient
/// norms) and tells the others η and whether to stop; the other ranks' reports have the
/// epochs' timings only. A Ctrl-C on any rank stops every rank at the same mini-batch. After
/// each epoch the ranks check that their parameters are still identical
/// ([`CollectiveError::Diverged`] if not).
///
/// The result equals one process's with the same seed and global mini-batch up to the order
/// of the f32 sums (the shares' gradients are summed apart, then together); with one rank it
/// is [`train`]'s up to the same rounding (plain SGD then takes the unfused step).
pub fn train_with<E: Examples + ?Sized>(
    net: &mut Network,
    training: &E,
    evaluation: Option<&E>,
    cfg: &TrainConfig,
    rng: &mut Rng,
    observer: &mut dyn Observer,
    session: Session<'_>,
) -> Result<TrainReport, TrainError> {
    check(net, training, evaluation, cfg)?;
    let Session { mut collective, resume, checkpoint_every, mut checkpoint } = session;
    // A mini-batch larger than the data is the whole data.
    let (n, inputs, targets) = (training.len(), training.input_size(), training.target_size());
    let m = cfg.batch_size.min(n);
    let (rank, size) = collective.as_ref().map_or((0, 1), |c| (c.rank(), c.size()));
    let root = rank == 0;
    let reg = Regulariser { lambda: cfg.lambda, l1: cfg.l1, n };
    let mut optimizer = Optimizer::new(cfg.eta, cfg.momentum, reg).with_rule(cfg.optimizer, cfg.clip);
    // This rank's share of a full mini-batch is the most it holds at once.
    let held = share(m, 0, size).len();
    let (mut x, mut y) = (Buf::zeros(held * inputs), Buf::zeros(held * targets));
    // The gradients sent between ranks, and one more number: whether to stop (Ctrl-C).
    let grads = net.param_count();
    let mut flat = if collective.is_some() { vec![0.0f32; grads + 1] } else { Vec::new() };
    let mut indices: Vec<usize> = (0..n).collect();
    let augment = cfg.augment.zip(training.image_shape());
    let mut scratch = vec![0.0f32; augment.map_or(0, |(_, s)| s.height * s.width)];
    let mut report = TrainReport::default();
    let watch = cfg.watches_validation();
    let (mut best, mut since_best) = (f64::NEG_INFINITY, 0usize);
    let per_epoch = cfg.epoch_examples.map_or(n, |k| k.min(n));
    let batches = per_epoch.div_ceil(m);
    let track =
        |net: &Network| cfg.track_gradients.filter(|_| root).map(|k| gradient_norms(net, training, k));
    let mut done = 0;
    if let Some(state) = resume {
        if state.order.len() != n {
            return Err(TrainError::Resume {
                why: format!(
                    "the checkpoint is of a run on {} examples, and there are {n}",
                    state.order.len()
                ),
            });
        }
        (done, indices, since_best, report) = (state.epoch, state.order, state.since_best, state.report);
        best = state.best.unwrap_or(f64::NEG_INFINITY);
        optimizer.restore(state.optimizer);
    } else {
        report.initial_gradient_norms = track(net);
    }
    if let Some(norms) = &report.initial_gradient_norms {
        observer.gradients_before(norms);
    }
    let collective_error = TrainError::Collective;
    // Byte examples that are mostly 0 (MNIST's are 81%) under plain SGD: the first layer skips
    // the zero inputs, in its forward pass and its step, on one thread.
    let skip_zeros = !cfg.dense_inputs
        && collective.is_none()
        && augment.is_none()
        && optimizer.is_plain()
        && training.stored_bytes().is_some_and(crate::layers::sparse_enough)
        && net.sparse_training().is_some();

    // buffers for the evaluations after each epoch, kept from one to the next
    let mut evaluator = Evaluator::default();
    for epoch in done + 1..=cfg.epochs {
        observer.epoch_start(epoch, batches);
        // Dropout masks: each rank's own stream, afresh each epoch (so a resumed run draws the
        // same ones); rank 0's first epoch is the single-process stream.
        let seed = rank as u64 | ((epoch as u64 - 1) << 32);
        let mut ws = net.workspace(seed);
        // Several threads share each mini-batch out among replicas when it has the work for
        // them (one process; over MPI each rank trains on one replica).
        let mut sparse = skip_zeros.then(|| net.sparse_training()).flatten();
        let alone = collective.is_some() || sparse.is_some();
        let mut replicas = (!alone).then(|| Replicas::new(net, cfg.threads, m, seed)).flatten();
        // ... and hand work to each other through a team whose helper spins between jobs.
        let team =
            (!alone && replicas::wants_team(net, cfg.threads, m)).then(crate::team::Team::new).flatten();
        let lead = team.as_ref().map(crate::team::Team::lead);
        let mut placement = crate::team::Placement::default();
        let started = Instant::now();
        indices.shuffle(rng);
        let order = &indices[..per_epoch];
        for (b, batch) in order.chunks(m).enumerate() {
            let k = batch.len();
            let mine = share(k, rank, size);
            let s = mine.len();
            let next = match order.get((b + 1) * m..) {
                Some(next) => &next[..m.min(next.len())][share(next.len().min(m), rank, size)],
                None => &[],
            };
            // A first layer that shares its inputs with the team's helper reads the helper's
            // part where the helper wrote it.
            let cut = (lead.is_some() && replicas.is_none() && augment.is_none())
                .then(|| net.layers[0].input_cut(s))
                .flatten();
            let (xs, ys) = (&mut x[..s * inputs], &mut y[..s * targets]);
            if let Some(sparse) = sparse.as_mut() {
                read_bytes(training, batch, next, sparse, ys);
                optimizer.train_batch_sparse(net, &mut ws, sparse, y.rows(k, targets));
            } else {
                match cut {
                    Some(cut) => training.fill_cut(&batch[mine.clone()], next, cut, xs, ys),
                    None => {
                        training.prefetch(next);
                        training.fill(&batch[mine.clone()], xs, ys);
                    }
                }
                if let Some((aug, shape)) = &augment {
                    // Drawn for the whole mini-batch, in order; applied to this rank's share.
                    for i in 0..k {
                        let d = aug.draw(rng);
                        if mine.contains(&i) {
                            let at = (i - mine.start) * inputs;
                            d.apply(&mut x[at..at + inputs], *shape, &mut scratch);
                        }
                    }
                }
                match collective.as_deref_mut() {
                    None => {
                        let clock = team.as_ref().map(|t| {
                            placement.before(t);
                            Instant::now()
                        });
                        match replicas.as_mut() {
                            Some(r) => {
                                r.train_batch(net, &mut optimizer, x.rows(k, inputs), y.rows(k, targets))
                            }
                            None => {
                                optimizer.train_batch(net, &mut ws, x.rows(k, inputs), y.rows(k, targets))
                            }
                        }
                        if let (Some(t), Some(clock)) = (team.as_ref(), clock) {
                            placement.after(t, clock.elapsed().as_secs_f64());
                        }
                    }
                    Some(c) => {
                        if s > 0 {
                            net.backprop(&mut ws, x.rows(s, inputs), y.rows(s, targets));
                        } else {
                            ws.zero_grads();
                        }
                        ws.grads_to(&mut flat[..grads]);
                        flat[grads] = f32::from(u8::from(crate::interrupt::requested()));
                        c.allreduce_sum(&mut flat).map_err(collective_error)?;
                        ws.grads_from(&flat[..grads]);
                        optimizer.step(net, &ws, k);
                        if flat[grads] > 0.0 {
                            return Err(TrainError::Interrupted { epoch });
                        }
                    }
                }
            }
            if b % 64 == 63 {
                observer.batches_done(b + 1);
                if collective.is_none() && crate::interrupt::requested() {
                    settle(net, &sparse);
                    return Err(TrainError::Interrupted { epoch });
                }
                if observer.stop_requested() {
                    settle(net, &sparse);
                    report.stopped_early = Some(STOPPED_BY_REQUEST.into());
                    return Ok(report);
                }
            }
        }
        settle(net, &sparse);
        observer.batches_done(batches);
        let train_seconds = started.elapsed().as_secs_f64();
        // the helper stops spinning before the evaluation, which uses rayon's threads
        drop(lead);
        drop(team);
        if !net.params().all(|p| p.iter().all(|v| v.is_finite())) {
            let eta = optimizer.eta;
            return Err(TrainError::Diverged { epoch, eta, suggest: eta / 10.0 });
        }

        let mon = cfg.monitor;
        let on_training = (root && (mon.training_cost || mon.training_accuracy))
            .then(|| evaluator.evaluate(net, training, &reg, cfg.threads));
        let on_eval = match evaluation {
            Some(data) if root && (mon.evaluation_cost || mon.evaluation_accuracy || watch) => {
                Some(evaluator.evaluate(net, data, &reg, cfg.threads))
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

        // The schedule and early stopping watch validation accuracy (rank 0's decision).
        let mut stop = Stop::No;
        if let Some(e) = on_eval.filter(|_| watch) {
            if e.accuracy() > best {
                (best, since_best) = (e.accuracy(), 0);
            } else {
                since_best += 1;
            }
            if let Some(patience) = cfg.early_stop
                && since_best >= patience
            {
                stop = Stop::Early(patience);
            } else if let Schedule::Halve { patience } = cfg.schedule
                && since_best >= patience
            {
                optimizer.eta /= 2.0;
                since_best = 0;
                if optimizer.eta < cfg.eta / 128.0 + f32::EPSILON * cfg.eta {
                    stop = Stop::Schedule;
                }
            }
        }
        if let Some(c) = collective.as_deref_mut() {
            stop = agree(c, net, &mut optimizer, stop, epoch).map_err(collective_error)?;
        }
        if let Some(why) = stop.why(&optimizer) {
            report.stopped_early = Some(why);
            break;
        }
        if let Some(save) = checkpoint.as_deref_mut()
            && checkpoint_every.is_some_and(|k| epoch % k == 0)
            && epoch < cfg.epochs
        {
            let state = TrainState {
                epoch,
                order: indices.clone(),
                best: best.is_finite().then_some(best),
                since_best,
                report: report.clone(),
                optimizer: optimizer.state(),
            };
            save(net, rng, state)?;
        }
    }
    Ok(report)
}

/// The mini-batch `batch` as its first layer reads it when it skips zero inputs: each example's
/// bytes as stored (no x), its one-hot targets into `y`. The next mini-batch is prefetched an
/// example at a time: a whole one at once (130 cache lines at mini-batch 10) stalled on the
/// core's few outstanding misses.
fn read_bytes<E: Examples + ?Sized>(
    training: &E,
    batch: &[usize],
    next: &[usize],
    sparse: &mut crate::layers::SparseTraining,
    y: &mut [f32],
) {
    let targets = y.len() / batch.len().max(1);
    sparse.clear();
    let mut ahead = next.chunks(next.len().div_ceil(batch.len()).max(1));
    for (&i, y) in batch.iter().zip(y.chunks_exact_mut(targets.max(1))) {
        training.prefetch(ahead.next().unwrap_or_default());
        sparse.push(training.bytes_and_targets(i..i + 1, y).expect("checked: bytes"));
    }
}

/// Gives the first layer back the weights it trained with in `sparse`, if it did.
fn settle(net: &mut Network, sparse: &Option<crate::layers::SparseTraining>) {
    if let Some(sparse) = sparse {
        net.settle(sparse);
    }
}

/// Whether rank 0 has decided to stop after an epoch, and why.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Stop {
    No,
    /// Early stopping, with its patience.
    Early(usize),
    /// The halving schedule brought η down to η₀/128.
    Schedule,
}

impl Stop {
    fn why(self, optimizer: &Optimizer) -> Option<String> {
        match self {
            Stop::No => None,
            Stop::Early(patience) => Some(format!("early stop: no improvement in {patience} epochs")),
            Stop::Schedule => Some(format!("schedule: η fell to η₀/128 = {}", optimizer.eta)),
        }
    }

    fn code(self) -> f32 {
        match self {
            Stop::No => 0.0,
            Stop::Early(p) => 1.0 + p as f32,
            Stop::Schedule => -1.0,
        }
    }

    fn from_code(code: f32) -> Self {
        match code {
            0.0 => Stop::No,
            c if c < 0.0 => Stop::Schedule,
            c => Stop::Early(c as usize - 1),
        }
    }
}

/// After an epoch: every rank takes rank 0's η and decision to stop, and checks that its
/// parameters are rank 0's (a fingerprint, sent as four exact 16-bit pieces).
fn agree(
    c: &mut dyn Collective,
    net: &Network,
    optimizer: &mut Optimizer,
    stop: Stop,
    epoch: usize,
) -> Result<Stop, CollectiveError> {
    let mine = fingerprint(net.params().map(|p| &p[..]));
    let piece = |i: u32| ((mine >> (16 * i)) & 0xffff) as f32;
    let mut msg = [optimizer.eta, stop.code(), piece(0), piece(1), piece(2), piece(3)];
    c.broadcast(&mut msg, 0)?;
    optimizer.eta = msg[0];
    let root = (0..4).fold(0u64, |h, i| h | ((msg[2 + i] as u64) << (16 * i)));
    if root != mine {
        return Err(CollectiveError::Diverged { rank: c.rank(), size: c.size(), epoch, root, mine });
    }
    Ok(Stop::from_code(msg[1]))
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
