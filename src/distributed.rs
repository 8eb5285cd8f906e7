//! Data-parallel training over MPI (the `mpi` feature): [`Mpi`], the [`Collective`] of the
//! processes `mpirun` started, through Open MPI (or any MPI) and the `mpi` crate.
//!
//! Each rank is one process with a replica of the network; [`Mpi::allreduce_sum`] is one
//! `MPI_Allreduce` (MPI_SUM over f32) of the gradients per mini-batch, so the bytes each rank
//! sends per step are about twice the gradients' (4 bytes a parameter) with the usual ring or
//! recursive-doubling algorithms.
//!
//! A rank that dies is noticed by MPI itself: `mpirun` ends the whole job when any process
//! exits without finalising (killed, crashed, or ended with an error). A rank that is stopped
//! or stuck is not: every collective call is timed by a watchdog thread, and one that has
//! waited longer than `NNDL_MPI_TIMEOUT` seconds (default 300) ends this process with a
//! message naming the rank and the wait, which makes `mpirun` end the job, non-zero.

use crate::train::{Collective, CollectiveError};
use mpi::collective::SystemOperation;
use mpi::topology::SimpleCommunicator;
use mpi::traits::{Communicator, CommunicatorCollectives, Root};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long a collective call may wait for the other ranks, from `NNDL_MPI_TIMEOUT` (seconds;
/// default 300).
pub fn timeout_from_env() -> Result<Duration, String> {
    match std::env::var("NNDL_MPI_TIMEOUT") {
        Err(_) => Ok(Duration::from_secs(300)),
        Ok(v) => match v.trim().parse::<u64>() {
            Ok(s) if s > 0 => Ok(Duration::from_secs(s)),
            _ => Err(format!(
                "NNDL_MPI_TIMEOUT: '{}' is not a whole number of seconds above 0",
                crate::shorten(&v, 40)
            )),
        },
    }
}

/// The MPI world as a [`Collective`]. Made once per process ([`Mpi::init`]); MPI is finalised
/// when it is dropped.
pub struct Mpi {
    world: SimpleCommunicator,
    rank: usize,
    size: usize,
    /// The reduction's result (MPI_Allreduce needs a second buffer).
    recv: Vec<f32>,
    watchdog: Watchdog,
    /// Last: finalises MPI when dropped, after everything that uses it.
    _universe: mpi::environment::Universe,
}

impl Mpi {
    /// Starts MPI (once per process) and the watchdog. `None` if MPI was already started.
    pub fn init(timeout: Duration) -> Option<Mpi> {
        let universe = mpi::initialize()?;
        let world = universe.world();
        let (rank, size) = (world.rank() as usize, world.size() as usize);
        let watchdog = Watchdog::start(rank, size, timeout);
        Some(Mpi { world, rank, size, recv: Vec::new(), watchdog, _universe: universe })
    }

    /// Ends every rank of the job at once (`MPI_Abort`), with exit code `code`: what a rank
    /// that cannot go on does, so that the others do not wait for it.
    pub fn abort(&self, code: i32) -> ! {
        self.world.abort(code)
    }

    /// Seconds spent inside collective calls so far (waiting included): the share of the
    /// run's time that communication took.
    pub fn seconds_in_collectives(&self) -> f64 {
        self.watchdog.total.load(Ordering::Relaxed) as f64 / 1e6
    }

    /// Bytes this rank has handed to collective calls (each call's buffer, counted once).
    pub fn bytes_reduced(&self) -> u64 {
        self.watchdog.bytes.load(Ordering::Relaxed)
    }

    /// Collective calls made so far.
    pub fn calls(&self) -> u64 {
        self.watchdog.calls.load(Ordering::Relaxed)
    }

    /// Runs one collective call under the watchdog's eye.
    fn timed<T>(&self, what: &'static str, bytes: usize, call: impl FnOnce() -> T) -> T {
        self.watchdog.enter(what, bytes);
        let out = call();
        self.watchdog.leave();
        out
    }
}

impl Collective for Mpi {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.size
    }

    fn allreduce_sum(&mut self, buf: &mut [f32]) -> Result<(), CollectiveError> {
        self.recv.resize(buf.len(), 0.0);
        let mut recv = std::mem::take(&mut self.recv);
        self.timed("allreduce", 4 * buf.len(), || {
            self.world.all_reduce_into(&*buf, &mut recv[..], SystemOperation::sum())
        });
        buf.copy_from_slice(&recv);
        self.recv = recv;
        Ok(())
    }

    fn broadcast(&mut self, buf: &mut [f32], root: usize) -> Result<(), CollectiveError> {
        let process = self.world.process_at_rank(root as i32);
        self.timed("broadcast", 4 * buf.len(), || process.broadcast_into(buf));
        Ok(())
    }

    fn barrier(&mut self) -> Result<(), CollectiveError> {
        self.timed("barrier", 0, || self.world.barrier());
        Ok(())
    }
}

/// Times collective calls from a thread of its own, and ends the process when one waits too
/// long (MPI calls cannot be interrupted, and a stopped rank never answers).
struct Watchdog {
    /// Microseconds since `start` at which the current call began, plus 1 (0: in no call).
    since: Arc<AtomicU64>,
    /// What the current call is: 0 allreduce, 1 broadcast, 2 barrier.
    what: Arc<AtomicU64>,
    /// Microseconds spent in calls so far, and bytes handed to them.
    total: AtomicU64,
    bytes: AtomicU64,
    calls: AtomicU64,
    start: Instant,
}

const CALLS: [&str; 3] = ["allreduce", "broadcast", "barrier"];

impl Watchdog {
    fn start(rank: usize, size: usize, timeout: Duration) -> Watchdog {
        let (since, what) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let start = Instant::now();
        let (s, w) = (since.clone(), what.clone());
        let tick = (timeout / 20).clamp(Duration::from_millis(50), Duration::from_secs(5));
        std::thread::Builder::new()
            .name("nndl-mpi-watchdog".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(tick);
                    let entered = s.load(Ordering::Acquire);
                    if entered == 0 {
                        continue;
                    }
                    let waited = start.elapsed().saturating_sub(Duration::from_micros(entered - 1));
                    if waited > timeout {
                        let call = CALLS[w.load(Ordering::Relaxed) as usize % 3];
                        eprintln!(
                            "error: rank {rank} of {size}: the other ranks have not answered for {} s (an MPI {call}): one is stopped, dead or stuck; giving up (the limit is NNDL_MPI_TIMEOUT={} s)",
                            waited.as_secs(),
                            timeout.as_secs()
                        );
                        // SAFETY: ends the process at once; no Rust state is used afterwards.
                        unsafe { libc::_exit(3) };
                    }
                }
            })
            .expect("a watchdog thread");
        Watchdog {
            since,
            what,
            total: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            calls: AtomicU64::new(0),
            start,
        }
    }

    fn enter(&self, what: &'static str, bytes: usize) {
        let code = CALLS.iter().position(|c| *c == what).unwrap_or(0) as u64;
        self.what.store(code, Ordering::Relaxed);
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.since.store(self.start.elapsed().as_micros() as u64 + 1, Ordering::Release);
    }

    fn leave(&self) {
        let entered = self.since.swap(0, Ordering::AcqRel);
        let now = self.start.elapsed().as_micros() as u64 + 1;
        self.total.fetch_add(now.saturating_sub(entered), Ordering::Relaxed);
    }
}
