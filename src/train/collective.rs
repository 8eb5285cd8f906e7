//! Data-parallel training: what the replicas of one network say to each other.
//!
//! Synchronous data-parallel SGD (what Horovod and PyTorch's DistributedDataParallel do): every
//! rank holds the same network, takes its [`share`] of each global mini-batch, computes the
//! gradients summed over its share, and a [`Collective::allreduce_sum`] leaves the sum over the
//! whole mini-batch on every rank, so every rank applies the same update and the replicas stay
//! identical. [`LocalGroup`] does it between threads of one process (for tests); over MPI it is
//! `nndl::distributed::Mpi` (the `mpi` feature).

use std::ops::Range;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;
use thiserror::Error;

/// Why the ranks could not agree.
#[derive(Debug, Error)]
pub enum CollectiveError {
    #[error(
        "rank {rank} of {size} waited {seconds} s for the other ranks without an answer; one is stopped, dead or stuck"
    )]
    Timeout { rank: usize, size: usize, seconds: u64 },
    #[error("rank {rank} of {size}: another rank left the run ({why})")]
    PeerLeft { rank: usize, size: usize, why: String },
    #[error(
        "rank {rank} of {size}: the replicas differ after epoch {epoch} (rank 0's parameters hash to {root:016x}, this rank's to {mine:016x}); the allreduce gave the ranks different sums"
    )]
    Diverged { rank: usize, size: usize, epoch: usize, root: u64, mine: u64 },
    #[error("rank {rank} of {size}: {what}")]
    Transport { rank: usize, size: usize, what: String },
}

/// What the ranks of a data-parallel run do together. Every rank calls the same methods in
/// the same order with buffers of the same length (the calls are collective).
pub trait Collective {
    /// This process's (or thread's) rank, 0-based.
    fn rank(&self) -> usize;
    /// How many ranks take part.
    fn size(&self) -> usize;
    /// `buf ← Σ_ranks buf`, the same sum on every rank.
    fn allreduce_sum(&mut self, buf: &mut [f32]) -> Result<(), CollectiveError>;
    /// `buf ← rank root's buf` on every rank.
    fn broadcast(&mut self, buf: &mut [f32], root: usize) -> Result<(), CollectiveError>;
    /// Waits until every rank has come here.
    fn barrier(&mut self) -> Result<(), CollectiveError> {
        self.allreduce_sum(&mut [0.0]).map(|_| ())
    }
}

/// Rank `rank`'s part of a global mini-batch of `m` examples shared among `size` ranks: a
/// contiguous range, the first `m mod size` ranks taking one example more. Deterministic, and
/// the ranges of all ranks cover `0..m` in rank order.
pub fn share(m: usize, rank: usize, size: usize) -> Range<usize> {
    let size = size.max(1);
    let (base, extra) = (m / size, m % size);
    let start = rank * base + rank.min(extra);
    start..start + base + usize::from(rank < extra)
}

/// A 64-bit fingerprint of numbers (FNV-1a over their bits): equal replicas give equal
/// fingerprints.
pub fn fingerprint<'a>(values: impl IntoIterator<Item = &'a [f32]>) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for v in values {
        for x in v {
            for b in x.to_bits().to_le_bytes() {
                h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
            }
        }
    }
    h
}

/// Ranks that are threads of one process: a [`Collective`] for tests and for trying data
/// parallelism without MPI. Sums are taken in rank order, so every rank gets the same bits.
/// A rank that drops its `LocalGroup` (its thread ended, even by an error) makes the others'
/// next call fail with [`CollectiveError::PeerLeft`]; a rank that never comes makes them fail
/// with [`CollectiveError::Timeout`] after the group's timeout.
pub struct LocalGroup {
    rank: usize,
    shared: Arc<Shared>,
}

struct Shared {
    size: usize,
    timeout: Duration,
    state: Mutex<State>,
    turn: Condvar,
}

struct State {
    /// Each rank's contribution to the current call.
    slots: Vec<Vec<f32>>,
    /// Ranks arrived at the current phase, and how many phases have completed.
    arrived: usize,
    generation: u64,
    /// Set once a rank has dropped its handle.
    left: Option<usize>,
}

impl LocalGroup {
    /// `size` connected ranks, one for each thread to take; calls time out after 60 s.
    pub fn new(size: usize) -> Vec<LocalGroup> {
        Self::with_timeout(size, Duration::from_secs(60))
    }

    /// The same with another timeout.
    pub fn with_timeout(size: usize, timeout: Duration) -> Vec<LocalGroup> {
        let shared = Arc::new(Shared {
            size,
            timeout,
            state: Mutex::new(State { slots: vec![Vec::new(); size], arrived: 0, generation: 0, left: None }),
            turn: Condvar::new(),
        });
        (0..size).map(|rank| LocalGroup { rank, shared: shared.clone() }).collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits, holding `state`, until every rank has arrived at this phase.
    fn wait_all<'a>(
        &self,
        mut state: std::sync::MutexGuard<'a, State>,
    ) -> Result<std::sync::MutexGuard<'a, State>, CollectiveError> {
        let (rank, size) = (self.rank, self.shared.size);
        let left = |who: usize| CollectiveError::PeerLeft { rank, size, why: format!("rank {who} stopped") };
        if let Some(who) = state.left {
            return Err(left(who));
        }
        let generation = state.generation;
        state.arrived += 1;
        if state.arrived == size {
            state.arrived = 0;
            state.generation += 1;
            self.shared.turn.notify_all();
            return Ok(state);
        }
        let (state, timeout) = self
            .shared
            .turn
            .wait_timeout_while(state, self.shared.timeout, |s| {
                s.generation == generation && s.left.is_none()
            })
            .unwrap_or_else(|e| e.into_inner());
        if state.generation != generation {
            Ok(state)
        } else if let Some(who) = state.left {
            Err(left(who))
        } else {
            debug_assert!(timeout.timed_out());
            Err(CollectiveError::Timeout { rank, size, seconds: self.shared.timeout.as_secs() })
        }
    }
}

impl Drop for LocalGroup {
    fn drop(&mut self) {
        let mut state = self.lock();
        state.left.get_or_insert(self.rank);
        self.shared.turn.notify_all();
    }
}

impl Collective for LocalGroup {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.shared.size
    }

    fn allreduce_sum(&mut self, buf: &mut [f32]) -> Result<(), CollectiveError> {
        let mut state = self.lock();
        let slot = &mut state.slots[self.rank];
        slot.clear();
        slot.extend_from_slice(buf);
        let state = self.wait_all(state)?;
        // Every rank sums the same slots in rank order: the same bits everywhere.
        buf.copy_from_slice(&state.slots[0]);
        for other in &state.slots[1..] {
            buf.iter_mut().zip(other).for_each(|(a, b)| *a += b);
        }
        // No rank may refill its slot before all have read them.
        self.wait_all(state).map(drop)
    }

    fn broadcast(&mut self, buf: &mut [f32], root: usize) -> Result<(), CollectiveError> {
        let mut state = self.lock();
        if self.rank == root {
            let slot = &mut state.slots[root];
            slot.clear();
            slot.extend_from_slice(buf);
        }
        let state = self.wait_all(state)?;
        buf.copy_from_slice(&state.slots[root]);
        self.wait_all(state).map(drop)
    }

    fn barrier(&mut self) -> Result<(), CollectiveError> {
        let state = self.lock();
        self.wait_all(state).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_cover_the_batch_in_rank_order() {
        for m in [1, 7, 10, 64, 1000] {
            for size in 1..=5 {
                let ranges: Vec<_> = (0..size).map(|r| share(m, r, size)).collect();
                assert_eq!(ranges[0].start, 0);
                assert_eq!(ranges[size - 1].end, m);
                assert!(ranges.windows(2).all(|w| w[0].end == w[1].start));
                let lens: Vec<_> = ranges.iter().map(|r| r.len()).collect();
                assert!(lens.iter().max().unwrap() - lens.iter().min().unwrap() <= 1, "{m}/{size}: {lens:?}");
            }
        }
        assert_eq!(share(10, 1, 4), 3..6);
    }

    #[test]
    fn local_ranks_sum_broadcast_and_notice_a_peer_leaving() {
        let groups = LocalGroup::new(3);
        let sums: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = groups
                .into_iter()
                .map(|mut g| {
                    s.spawn(move || {
                        let r = g.rank() as f32;
                        let mut v = vec![r, 10.0 * r];
                        g.allreduce_sum(&mut v).unwrap();
                        let mut b = vec![r; 2];
                        g.broadcast(&mut b, 2).unwrap();
                        g.barrier().unwrap();
                        (v, b)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (v, b) in sums {
            assert_eq!((v, b), (vec![3.0, 30.0], vec![2.0, 2.0]));
        }

        let mut groups = LocalGroup::with_timeout(2, Duration::from_secs(5));
        drop(groups.pop());
        let err = groups[0].allreduce_sum(&mut [1.0]).unwrap_err();
        assert!(matches!(err, CollectiveError::PeerLeft { rank: 0, .. }), "{err}");

        let mut groups = LocalGroup::with_timeout(2, Duration::from_millis(50));
        let err = groups[0].barrier().unwrap_err();
        assert!(matches!(err, CollectiveError::Timeout { rank: 0, size: 2, .. }), "{err}");
    }
}
