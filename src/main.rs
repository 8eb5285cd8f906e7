//! The `nndl` command: train, evaluate and use the book's networks from a terminal.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    match cli::run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // One line: the context chain joined by ": ", naming the file or flag at fault.
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
