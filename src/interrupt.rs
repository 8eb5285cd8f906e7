//! Ctrl-C: long work (downloads, training) checks [`requested`] and stops cleanly, removing
//! what it had not finished writing.
//!
//! [`install`] (called once, first thing in `main`) makes SIGINT and SIGTERM set a
//! process-wide flag instead of ending the process at once; the work in progress sees it at
//! its next check (a download between two reads of the body, training between mini-batches)
//! and returns an error, so that every temporary file is removed by its drop guard and the
//! command exits non-zero with one line saying it was interrupted.
//!
//! A second Ctrl-C (or SIGTERM) after the first ends the process at once, with exit status
//! 130 (SIGINT) or 143 (SIGTERM) as a shell reports it: whatever the first one was waiting
//! for, the user can always get out. What a process ended that way leaves behind (a
//! download's `.part` file) is cleaned up by the next run.
//!
//! A library user who does not call [`install`] keeps the default behaviour: [`requested`] is
//! then always `false`, and Ctrl-C ends the process.

use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set by the signal handlers (and by [`set_for_tests`]); never cleared by them.
static REQUESTED: AtomicBool = AtomicBool::new(false);

/// Makes SIGINT and SIGTERM request a clean stop (see the module doc). Calling it again does
/// nothing.
pub fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        use signal_hook::consts::{SIGINT, SIGTERM};
        for (signal, status) in [(SIGINT, 128 + SIGINT), (SIGTERM, 128 + SIGTERM)] {
            // The shutdown goes first: on the first signal it finds the flag unset and does
            // nothing, then the flag is set; on the second it finds it set and exits.
            // Registering fails only for signals that cannot be caught, which these are not;
            // should it fail anyway, the signal keeps its default action (ending the process),
            // which is what nndl did before, so there is nothing to report.
            let _ = signal_hook::flag::register_conditional_shutdown(signal, status, &REQUESTED);
            let _ = signal_hook::flag::register(signal, &REQUESTED);
        }
    });
}

/// True once Ctrl-C (SIGINT) or SIGTERM has arrived since [`install`].
pub fn requested() -> bool {
    REQUESTED.load(Ordering::Relaxed)
}

/// Sets or clears the flag as a signal would, so that tests can interrupt work without
/// sending one (and start the next test afresh). Not for use outside tests.
#[doc(hidden)]
pub fn set_for_tests(requested: bool) {
    REQUESTED.store(requested, Ordering::SeqCst);
}
