//! What every fuzz target links in: a global allocator that counts the process's live heap
//! bytes and aborts, before allocating, when one more allocation would take them over
//! [`CAP`]. AFL++ records the abort (SIGABRT) as a crash, so a memory bomb is found like a panic.
//!
//! [`set_memory_budget`] sets nndl's own memory budget below the cap.
//!
//! The abort message names the allocation and, with a backtrace, where it came from (the
//! backtrace is captured with the cap lifted, since it allocates; the process ends right after).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// The most heap memory one target process may hold at once: 2 GiB.
pub const CAP: usize = 2 << 30;

/// What nndl may plan to use (`NNDL_MAX_MEMORY`) unless already set: 1 GiB, half the cap, so
/// that nndl's own estimate refuses big networks (the path under test) and the cap only
/// catches what the estimate misses. Call it first thing in `main`, before any thread starts.
pub const BUDGET: &str = "1G";

/// Sets `NNDL_MAX_MEMORY` to [`BUDGET`] if it is not set.
pub fn set_memory_budget() {
    if std::env::var_os("NNDL_MAX_MEMORY").is_none() {
        // SAFETY: called at the start of main, while the process has one thread.
        unsafe { std::env::set_var("NNDL_MAX_MEMORY", BUDGET) };
    }
}

/// [`System`], with the live bytes counted and capped at [`CAP`].
pub struct Capped;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static OVER: AtomicBool = AtomicBool::new(false);

#[global_allocator]
static GLOBAL: Capped = Capped;

/// Live heap bytes now.
pub fn live_bytes() -> usize {
    LIVE.load(Ordering::Relaxed)
}

/// Counts `n` more bytes; aborts if that goes over the cap.
fn reserve(n: usize) {
    let before = LIVE.fetch_add(n, Ordering::Relaxed);
    if before.checked_add(n).is_none_or(|after| after > CAP) && !OVER.load(Ordering::Relaxed) {
        over(n, before);
    }
}

fn release(n: usize) {
    LIVE.fetch_sub(n, Ordering::Relaxed);
}

#[cold]
fn over(request: usize, live: usize) -> ! {
    if OVER.swap(true, Ordering::SeqCst) {
        std::process::abort();
    }
    // From here on allocations are no longer capped: the message and backtrace may allocate.
    let backtrace = std::backtrace::Backtrace::force_capture();
    eprintln!(
        "nndl-fuzz: memory cap: an allocation of {request} bytes with {live} bytes live would pass \
         the cap of {CAP} bytes (2 GiB); aborting\n{backtrace}"
    );
    std::process::abort();
}

unsafe impl GlobalAlloc for Capped {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        reserve(layout.size());
        let p = unsafe { System.alloc(layout) };
        if p.is_null() {
            release(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        reserve(layout.size());
        let p = unsafe { System.alloc_zeroed(layout) };
        if p.is_null() {
            release(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        release(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let old = layout.size();
        if new_size > old {
            reserve(new_size - old);
        }
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if p.is_null() {
            if new_size > old {
                release(new_size - old);
            }
        } else if new_size < old {
            release(old - new_size);
        }
        p
    }
}
