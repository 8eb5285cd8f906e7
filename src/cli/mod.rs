//! Command-line parsing and the subcommands.

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "nndl",
    version,
    about = "Train, inspect and use the neural networks of Nielsen's Neural Networks and Deep Learning",
    long_about = "Train, inspect and use the neural networks of Nielsen's \"Neural Networks and Deep \
Learning\" on real MNIST, or on your own images (IDX files or an image folder) and CSV tables.\n\n\
Start with `nndl train` (the book's chapter-1 run), then `nndl train --help`.\n\
MNIST is read from --data, else $NNDL_DATA, else a cache folder, and downloaded there (and verified) if missing."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a network on MNIST (no flags: network.py's chapter-1 run), an image folder or a CSV table
    Train(Box<train::TrainArgs>),
    /// Train a character-level language model (RNN or LSTM) on a text file, sampling as it learns
    TrainText(text::TextArgs),
    /// Report a saved model's accuracy and cost on the test set of its data
    Eval(predict::EvalArgs),
    /// Classify images (PNG or JPEG) or CSV rows with a saved model
    Predict(predict::PredictArgs),
    /// Show a saved model's layers, shapes and parameter counts
    Summary(predict::SummaryArgs),
    /// Draw learning curves, a model's weights, or the test examples it gets wrong (PNG or SVG)
    Plot(plot::PlotArgs),
    /// Download MNIST (if missing) into the data folder and verify it
    Download(data::DownloadArgs),
    /// Write a saved model as ONNX (for ONNX Runtime and every ONNX runner) or network2.py's JSON
    Export(port::ExportArgs),
    /// Read an ONNX model (nndl's or PyTorch's) or network2.py's JSON into an nndl model file
    Import(port::ImportArgs),
    /// Serve a web page (and a JSON API) to draw digits for saved models, look inside them, and
    /// train live
    #[cfg(feature = "serve")]
    Serve(crate::serve::ServeArgs),
}

/// The default for `--threads`: every core this process may use.
fn all_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// `--threads N` as used: N, but no more than the cores this process may use (more threads
/// than cores only wait on each other), saying so when it lowers N.
pub(crate) fn threads(asked: Option<usize>) -> usize {
    let cores = all_cores();
    match asked {
        Some(n) if n > cores => {
            eprintln!(
                "note: --threads {n} is more than the {cores} core{} this process may use; using {cores}",
                if cores == 1 { "" } else { "s" }
            );
            cores
        }
        Some(n) => n,
        None => cores,
    }
}

/// A training error as the CLI reports it: a setting named by its flag.
pub(crate) fn flag_error(e: nndl::train::TrainError) -> anyhow::Error {
    use nndl::train::TrainError;
    match e {
        TrainError::Setting { setting, why } => anyhow::anyhow!("--{}: {why}", setting.replace('_', "-")),
        e @ TrainError::Diverged { .. } => anyhow::Error::new(e).context("--eta"),
        e => anyhow::Error::new(e),
    }
}

/// An output path for the report: `-` reads "standard output".
fn shown(path: &std::path::Path) -> String {
    if nndl::files::is_stdout(path) { "standard output".into() } else { path.display().to_string() }
}

/// Whether standard output carries data (an output given as `-`): the report then goes to
/// standard error, so the data can be piped on clean.
pub(crate) static STDOUT_IS_DATA: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn stdout_is_data(yes: bool) {
    STDOUT_IS_DATA.store(yes, std::sync::atomic::Ordering::Relaxed);
}

/// Whether the report is not printed at all (the ranks of a data-parallel run but rank 0).
pub(crate) static SILENT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn silence(yes: bool) {
    SILENT.store(yes, std::sync::atomic::Ordering::Relaxed);
}

/// `println!` for the human-readable report: standard output, or standard error when standard
/// output carries data.
macro_rules! say {
    ($($arg:tt)*) => {
        if $crate::cli::SILENT.load(std::sync::atomic::Ordering::Relaxed) {
        } else if $crate::cli::STDOUT_IS_DATA.load(std::sync::atomic::Ordering::Relaxed) {
            eprintln!($($arg)*)
        } else {
            println!($($arg)*)
        }
    };
}
pub(crate) use say;

mod checkpoint;
pub(crate) mod data;
mod plot;
mod port;
pub(crate) mod predict;
pub(crate) mod progress;
mod ranks;
mod text;
pub(crate) mod train;

/// `--threads`: must be at least 1.
fn parse_threads(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("'{s}' is not a thread count (give 1 or more)")),
    }
}

/// Parses the command line. `--help` and `--version` print and exit 0; a usage error is
/// reported as one `error:` line (clap's first, without its usage block) and exit code 2.
fn parse() -> Cli {
    use clap::error::ErrorKind;
    match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) =>
        {
            e.exit()
        }
        Err(e) => {
            let text = e.render().to_string();
            let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("error: bad command line");
            eprintln!("{}; see --help", nndl::shorten(first.trim_end(), 400));
            std::process::exit(2)
        }
    }
}

pub fn run() -> anyhow::Result<()> {
    match parse().command {
        Command::Train(args) => train::run(*args),
        Command::TrainText(args) => text::run(args),
        Command::Eval(args) => predict::eval(args),
        Command::Predict(args) => predict::predict(args),
        Command::Summary(args) => predict::summary(args),
        Command::Plot(args) => plot::run(args),
        Command::Download(args) => data::download(args),
        Command::Export(args) => port::export(args),
        Command::Import(args) => port::import(args),
        #[cfg(feature = "serve")]
        Command::Serve(args) => crate::serve::serve(args),
    }
}
