//! The `nndl` command: train, evaluate and use the book's networks from a terminal.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    // `nndl train | head` should end quietly when `head` stops reading, as other Unix tools
    // do, rather than panic on the failed print: restore the default action for SIGPIPE,
    // which Rust's runtime sets to "ignore".
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any thread exists; it only changes how the
    // process reacts to a signal.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    match cli::run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // One line: the context chain joined by ": ", naming the file or flag at fault.
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
