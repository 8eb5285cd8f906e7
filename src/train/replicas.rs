//! Data parallelism between the threads of one process: one fork-join per mini-batch.
//!
//! The network's parameters are shared, read-only, by T replicas, each with a workspace of its
//! own (activations, δs, gradients). Each mini-batch of m examples is cut into T contiguous
//! [`share`]s; the replicas backpropagate their shares at the same time (two on a
//! [`crate::team::Team`], whose helper spins between mini-batches, more on rayon's threads),
//! their gradients are summed in replica order (so a run is the same for the same thread
//! count), and one step of the optimiser applies the mini-batch's update, as
//! `nabla_b`, `nabla_w` summed over the whole batch would.
//!
//! Inside a replica a layer does not share its examples out again among threads (see
//! [`crate::layers`]): the replicas already keep every core busy, from the first layer to the
//! last, where sharing each convolution's examples left the pooling, dense and softmax layers
//! to one core and paid one fork-join per layer and direction.
//!
//! Nets with too little arithmetic per parameter for replicas (see [`REPLICA_MACS_PER_PARAM`])
//! may still have enough per mini-batch for a team ([`TEAM_MACS`]): then their layers share
//! each pass between the two threads (a dense layer its neurons, a conv layer its examples).

use super::collective::share;
use crate::network::{Network, Workspace};
use crate::optim::Optimizer;
use ndarray::{ArrayView2, s};

/// Replicas train a mini-batch only when its forward pass has at least this many multiply-adds
/// in all (the fork-join costs tens of microseconds)...
pub const REPLICA_MACS: u128 = 2_000_000;

/// ... and at least this many per parameter. Replicas cost passes over every parameter that one
/// thread does not make: each replica writes its own ∇ (a dense layer's step is otherwise folded
/// into BP4's product), the sum reads them, the unfused step reads them again. Those passes are
/// memory-bound, and on nets with many parameters and little arithmetic each they cost more than
/// half the arithmetic saves. Measured on 2 cores (AMD EPYC), seconds per epoch of 50,000 MNIST
/// images, one thread → two replicas (multiply-adds per parameter in a mini-batch): cnn-2-relu
/// 10.6 → 6.3 (190), lstm-128 8.7 → 4.8 (1,760); but cnn-1 2.45 → 3.30 (20), mlp-mb100 0.080 →
/// 0.105 (100), [784,1000,10] at mini-batch 10 2.2 → 7.6 (10). See bench/README.md ("Threads").
pub const REPLICA_MACS_PER_PARAM: u128 = 150;

/// One process trains with a [`crate::team::Team`] (a second thread spinning between jobs) when
/// it has at least two threads and its forward pass this many multiply-adds per mini-batch: then
/// replicas, or layers sharing their examples, hand work to the other core in about a
/// microsecond instead of waking a sleeping thread.
pub const TEAM_MACS: u128 = 400_000;

/// Whether training `net` on mini-batches of `batch` with `threads` threads should use a team.
pub fn wants_team(net: &Network, threads: usize, batch: usize) -> bool {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    threads >= 2 && cores >= 2 && batch >= 2 && net.macs_per_example() * batch as u128 >= TEAM_MACS
}

/// The replicas' workspaces; replica 0's is the one a single-thread run would use.
pub struct Replicas {
    ws: Vec<Workspace>,
}

impl Replicas {
    /// Replicas for mini-batches of `batch` examples on up to `threads` threads, or `None`
    /// when one thread should train alone (one thread, a mini-batch of one, or too little
    /// work per mini-batch to share: [`REPLICA_MACS`], [`REPLICA_MACS_PER_PARAM`]). `seed`
    /// seeds replica 0's random choices (dropout); replica t's stream is `seed + t`.
    pub fn new(net: &Network, threads: usize, batch: usize, seed: u64) -> Option<Replicas> {
        let threads = threads.min(rayon::current_num_threads()).min(batch);
        let macs = net.macs_per_example() * batch as u128;
        let params = net.param_count() as u128;
        if threads < 2 || macs < REPLICA_MACS || macs < REPLICA_MACS_PER_PARAM * params {
            return None;
        }
        Some(Replicas { ws: (0..threads as u64).map(|t| net.workspace(seed.wrapping_add(t))).collect() })
    }

    /// How many replicas share each mini-batch.
    pub fn len(&self) -> usize {
        self.ws.len()
    }

    /// Always false: there are at least two replicas.
    pub fn is_empty(&self) -> bool {
        self.ws.is_empty()
    }

    /// One step of `optimizer` on the mini-batch `x: [m, in]`, `y: [m, out]`: each replica
    /// backpropagates its share (BP1–BP4), replica 0's gradients become the sum of all, in
    /// replica order, and the step uses them.
    pub fn train_batch(
        &mut self,
        net: &mut Network,
        optimizer: &mut Optimizer,
        x: ArrayView2<f32>,
        y: ArrayView2<f32>,
    ) {
        let (m, size) = (x.nrows(), self.ws.len());
        let shared: &Network = net;
        let parts: Vec<(usize, &mut Workspace)> = self.ws.iter_mut().enumerate().collect();
        crate::team::for_parts(parts, |(t, ws)| {
            let mine = share(m, t, size);
            if mine.is_empty() {
                ws.zero_grads();
            } else {
                let rows = s![mine, ..];
                shared.backprop(ws, x.slice(rows), y.slice(rows));
            }
        });
        let (first, rest) = self.ws.split_at_mut(1);
        for other in rest.iter() {
            first[0].add_grads(other);
        }
        optimizer.step(net, &first[0], m);
    }
}
