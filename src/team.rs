//! Two threads for the small fork-joins of training.
//!
//! Mini-batch training is a long run of short steps: at mini-batch 10 a layer's pass takes tens
//! to hundreds of microseconds. Sharing such a step between two cores pays only if handing half
//! of it to the other core costs much less than that. rayon's idle threads go to sleep after a
//! few rounds of looking for work, and waking one is a system call and, on a virtual machine,
//! an interrupt through the hypervisor. A [`Team`] keeps one helper thread waiting by spinning
//! instead (it is made for one epoch's mini-batches and dropped after), so that [`Team::join`]
//! costs about a microsecond: what OpenMP's "active" wait policy gives PyTorch's threads.
//!
//! The thread that made the team [`Team::lead`]s it; layers then share their work through
//! [`for_parts`], which uses the team when the calling thread leads one and rayon otherwise.
//! Work inside a join does not split again (the helper is busy with the other half).

use std::any::Any;
use std::cell::Cell;
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};

use rayon::prelude::*;

/// Spins (a `pause` each) before a waiting thread starts yielding its core between checks.
const SPINS: u32 = 1 << 12;

/// What the helper runs: a closure living in [`Team::join`]'s frame, and how to call it.
struct Job {
    data: *mut (),
    call: unsafe fn(*mut ()),
}

struct Shared {
    /// The number of the last job posted; the helper runs each new one.
    posted: AtomicU64,
    /// The number of the last job the helper finished.
    done: AtomicU64,
    /// The posted job, valid until `done` reaches its number.
    job: AtomicPtr<Job>,
    /// A panic of the helper's share, to raise again on the leading thread.
    panic: Mutex<Option<Box<dyn Any + Send>>>,
    stop: AtomicBool,
}

/// A leading thread (the one that made it) and one helper thread that spins between jobs.
/// Not `Sync`: one thread at a time posts jobs.
pub struct Team {
    shared: Arc<Shared>,
    helper: Option<JoinHandle<()>>,
    /// The leader runs both halves of each join itself (see [`Team::set_solo`]).
    solo: Cell<bool>,
    _one_poster: PhantomData<Cell<()>>,
}

thread_local! {
    /// The team this thread leads and is free to use (not inside one of its joins).
    static LEADING: Cell<*const Team> = const { Cell::new(std::ptr::null()) };
    /// Whether this thread is running one share of a join (either side): its work does not
    /// split again.
    static IN_SHARE: Cell<bool> = const { Cell::new(false) };
}

/// While alive, the thread that made it leads the team (see [`Team::lead`]).
pub struct Lead<'a> {
    _team: &'a Team,
    before: *const Team,
}

impl Drop for Lead<'_> {
    fn drop(&mut self) {
        LEADING.with(|l| l.set(self.before));
    }
}

impl Team {
    /// Starts the helper thread; `None` if the system refuses a thread (then rayon does all).
    pub fn new() -> Option<Team> {
        let shared = Arc::new(Shared {
            posted: AtomicU64::new(0),
            done: AtomicU64::new(0),
            job: AtomicPtr::new(std::ptr::null_mut()),
            panic: Mutex::new(None),
            stop: AtomicBool::new(false),
        });
        let theirs = Arc::clone(&shared);
        let helper = thread::Builder::new()
            .name("nndl-helper".into())
            .spawn(move || {
                IN_SHARE.with(|i| i.set(true));
                help(&theirs)
            })
            .ok()?;
        Some(Team { shared, helper: Some(helper), solo: Cell::new(false), _one_poster: PhantomData })
    }

    /// Makes the calling thread the team's leader until the guard is dropped: [`for_parts`]
    /// on this thread then shares its parts with the helper.
    pub fn lead(&self) -> Lead<'_> {
        let before = LEADING.with(|l| l.replace(self as *const Team));
        Lead { _team: self, before }
    }

    /// With `true`, each [`join`](Team::join) runs both halves on the leading thread, one after
    /// the other: the same work split the same way (so the same results, bit for bit), for
    /// when handing half to the other core costs more than it saves (see [`Placement`]).
    pub fn set_solo(&self, solo: bool) {
        self.solo.set(solo);
    }

    /// Runs `a` on this thread and `b` on the helper, at the same time (unless solo: then both
    /// here); returns when both are done. A panic in either is raised here, after both ended.
    pub fn join<A: FnOnce(), B: FnOnce() + Send>(&self, a: A, b: B) {
        if self.solo.get() {
            // as on the helper: neither half shares its work again
            let led = LEADING.with(|l| l.replace(std::ptr::null()));
            let inside = IN_SHARE.with(|i| i.replace(true));
            let result = panic::catch_unwind(AssertUnwindSafe(|| {
                a();
                b();
            }));
            IN_SHARE.with(|i| i.set(inside));
            LEADING.with(|l| l.set(led));
            if let Err(payload) = result {
                panic::resume_unwind(payload);
            }
            return;
        }
        let mut b = Some(b);
        /// # Safety
        /// `data` points to the `Option<B>` of the `join` that posted it, still waiting.
        unsafe fn call<B: FnOnce()>(data: *mut ()) {
            // SAFETY: see above; only the helper touches it until `done` is stored.
            let b = unsafe { &mut *data.cast::<Option<B>>() };
            if let Some(b) = b.take() {
                b();
            }
        }
        let mut job = Job { data: (&mut b as *mut Option<B>).cast(), call: call::<B> };
        let s = &*self.shared;
        let ticket = s.posted.load(Ordering::Relaxed) + 1;
        s.job.store(&mut job, Ordering::Relaxed);
        s.posted.store(ticket, Ordering::Release);
        // `b` lives in this frame: whatever `a` does, wait for the helper before leaving it.
        let led = LEADING.with(|l| l.replace(std::ptr::null()));
        let inside = IN_SHARE.with(|i| i.replace(true));
        let mine = panic::catch_unwind(AssertUnwindSafe(a));
        IN_SHARE.with(|i| i.set(inside));
        LEADING.with(|l| l.set(led));
        let mut spins = 0;
        while s.done.load(Ordering::Acquire) != ticket {
            wait(&mut spins);
        }
        if let Some(payload) = s.panic.lock().unwrap_or_else(|e| e.into_inner()).take() {
            panic::resume_unwind(payload);
        }
        if let Err(payload) = mine {
            panic::resume_unwind(payload);
        }
    }
}

impl Drop for Team {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(helper) = self.helper.take() {
            let _ = helper.join();
        }
    }
}

/// The helper's loop: run each job posted, spin between them, end when the team is dropped.
fn help(s: &Shared) {
    let (mut seen, mut spins) = (0, 0);
    loop {
        let ticket = s.posted.load(Ordering::Acquire);
        if ticket != seen {
            seen = ticket;
            let job = s.job.load(Ordering::Relaxed);
            // SAFETY: the leader stored `job` before `ticket` (release, read above with
            // acquire) and keeps it, and what it points to, alive until `done == ticket`.
            let result = panic::catch_unwind(AssertUnwindSafe(|| unsafe { ((*job).call)((*job).data) }));
            if let Err(payload) = result {
                *s.panic.lock().unwrap_or_else(|e| e.into_inner()) = Some(payload);
            }
            s.done.store(ticket, Ordering::Release);
            spins = 0;
        } else if s.stop.load(Ordering::Acquire) {
            return;
        } else {
            wait(&mut spins);
        }
    }
}

/// One round of waiting: a `pause` while the wait is young, then a yield of the core.
#[inline]
fn wait(spins: &mut u32) {
    if *spins < SPINS {
        *spins += 1;
        std::hint::spin_loop();
    } else {
        thread::yield_now();
    }
}

/// Chooses, while training, whether a team's helper takes its halves or the leader does all.
///
/// Handing work to the other core pays only if the data crosses between the cores quickly, and
/// on these VMs that changes from hour to hour: measured, a 300 KB buffer written on one core
/// and read on the other took 100 µs more than reading it where it was written (3 GB/s), while
/// at other times the same cnn-1 epochs ran 1.5× faster shared than alone. So every
/// [`Placement::CYCLE`] mini-batches, the first [`Placement::PROBE`] alternate between sharing
/// and solo in blocks of 8, and the rest of the cycle runs the faster way. Either way the work
/// is split the same, so the choice changes the time, never the result.
#[derive(Debug, Default)]
pub struct Placement {
    seconds: [f64; 2],
    batches: u64,
}

impl Placement {
    /// Mini-batches between two choices.
    pub const CYCLE: u64 = 1024;
    /// Mini-batches measured at the start of each cycle.
    pub const PROBE: u64 = 64;

    /// Before mini-batch number `self.batches`: sets `team` to share or to run solo.
    pub fn before(&mut self, team: &Team) {
        let at = self.batches % Self::CYCLE;
        if at == 0 {
            self.seconds = [0.0; 2];
        }
        let solo = if at < Self::PROBE { (at / 8) % 2 == 1 } else { self.seconds[1] < self.seconds[0] };
        team.set_solo(solo);
    }

    /// After it, with the seconds it took.
    pub fn after(&mut self, team: &Team, seconds: f64) {
        if self.batches % Self::CYCLE < Self::PROBE {
            self.seconds[usize::from(team.solo.get())] += seconds;
        }
        self.batches += 1;
    }
}

/// Whether the calling thread leads a team it is free to use.
pub fn leading() -> bool {
    LEADING.with(|l| !l.get().is_null())
}

/// Into how many parts work on the calling thread may be shared: 2 on a team's leader, 1 in a
/// share of a join or on one of rayon's threads (the other threads are busy with the rest), else
/// rayon's thread count.
pub fn threads_for_sharing() -> usize {
    if leading() {
        2
    } else if IN_SHARE.with(|i| i.get()) || rayon::current_thread_index().is_some() {
        1
    } else {
        rayon::current_num_threads()
    }
}

/// Runs `f` on each part: two parts on the calling thread's team if it leads one (the first
/// here, the second on the helper), else on rayon's pool; one part here.
pub fn for_parts<T: Send>(mut parts: Vec<T>, f: impl Fn(T) + Sync + Send) {
    let team = LEADING.with(|l| l.get());
    if parts.len() <= 1 {
        parts.into_iter().for_each(f);
    } else if parts.len() == 2 && !team.is_null() {
        let second = parts.pop().expect("two parts");
        let first = parts.pop().expect("two parts");
        // SAFETY: LEADING holds a team only while a `Lead` borrowing it lives on this thread.
        let team = unsafe { &*team };
        team.join(|| f(first), || f(second));
    } else {
        parts.into_par_iter().for_each(f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_runs_both_halves_and_the_helper_is_another_thread() {
        let team = Team::new().expect("a thread");
        let here = thread::current().id();
        for i in 0..1000u64 {
            let (mut a, mut b) = (0, (0, here));
            team.join(|| a = i, || b = (2 * i, thread::current().id()));
            assert_eq!((a, b.0), (i, 2 * i));
            assert_ne!(b.1, here);
        }
    }

    #[test]
    fn for_parts_uses_the_team_only_while_leading_and_not_inside_a_join() {
        let team = Team::new().expect("a thread");
        let ids = Mutex::new(Vec::new());
        let record = |_: usize| ids.lock().unwrap().push((thread::current().id(), threads_for_sharing()));
        for_parts(vec![0, 1], record);
        ids.lock().unwrap().clear();
        {
            let _lead = team.lead();
            assert!(leading() && threads_for_sharing() == 2);
            for_parts(vec![0, 1], record);
        }
        assert!(!leading());
        let seen = ids.into_inner().unwrap();
        // inside the join, on either side, work does not split again
        assert_eq!(seen.len(), 2);
        assert!(seen.iter().all(|&(_, threads)| threads == 1));
        assert_ne!(seen[0].0, seen[1].0);
    }

    #[test]
    fn solo_runs_both_halves_here_and_splits_them_as_shared_does() {
        let team = Team::new().expect("a thread");
        let _lead = team.lead();
        team.set_solo(true);
        let here = thread::current().id();
        let seen = Mutex::new(Vec::new());
        for_parts(vec![0, 1], |p: usize| {
            seen.lock().unwrap().push((p, thread::current().id(), threads_for_sharing()))
        });
        assert_eq!(seen.into_inner().unwrap(), vec![(0, here, 1), (1, here, 1)]);
        assert!(leading() && threads_for_sharing() == 2, "the leader leads again after the join");
    }

    #[test]
    fn placement_probes_both_ways_then_keeps_the_faster() {
        let team = Team::new().expect("a thread");
        let mut place = Placement::default();
        let mut ways = Vec::new();
        for b in 0..Placement::CYCLE + 16 {
            place.before(&team);
            ways.push(team.solo.get());
            // solo is made to look faster
            place.after(&team, if team.solo.get() { 1.0 } else { 2.0 });
            if b < Placement::PROBE {
                assert_eq!(team.solo.get(), (b / 8) % 2 == 1, "batch {b}");
            }
        }
        assert!(ways[Placement::PROBE as usize..Placement::CYCLE as usize].iter().all(|&s| s));
        // a new cycle probes again
        assert!(!ways[Placement::CYCLE as usize]);
    }

    #[test]
    fn a_panic_on_either_side_reaches_the_leader_after_both_end() {
        let team = Team::new().expect("a thread");
        let done = AtomicBool::new(false);
        let r = panic::catch_unwind(AssertUnwindSafe(|| {
            team.join(|| panic!("mine"), || done.store(true, Ordering::SeqCst))
        }));
        assert!(r.is_err() && done.load(Ordering::SeqCst));
        let r = panic::catch_unwind(AssertUnwindSafe(|| team.join(|| (), || panic!("theirs"))));
        let message = r.expect_err("the helper's panic").downcast::<&str>().map(|m| *m);
        assert_eq!(message.ok(), Some("theirs"));
        // and the team still works
        let mut x = 0;
        team.join(|| (), || x = 7);
        assert_eq!(x, 7);
    }
}
