//! What every experiment shares: its flags, MNIST, and where its plot and its docs paragraph go.
//!
//! Each experiment writes `OUT/NAME.png` (its plot) and `OUT/NAME.md` (a docs section: a
//! heading, the plot, and what the run measured against the book's figures). `docs/build-experiments`
//! runs them all and joins the sections into `docs/experiments.md`.
#![allow(dead_code)]

use clap::Parser;
use nndl::data::{Mnist, load_or_download};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

/// The flags every experiment takes.
#[derive(Parser, Debug, Clone)]
pub struct Opts {
    /// A fast, smaller run (for CI): fewer images and epochs; same code path, same kind of plot
    #[arg(long)]
    pub quick: bool,
    /// Folder for the plot and the docs section
    #[arg(long, value_name = "DIR", default_value = "docs/experiments")]
    pub out: PathBuf,
    /// Seed for every random choice
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Folder with the four MNIST files [default: $NNDL_DATA, else the user cache folder]
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
}

impl Opts {
    /// Parses the command line (with `about` as the help text's description) and makes the
    /// output folder. Exits with a message if the folder cannot be made.
    pub fn parse_for(about: &'static str) -> Opts {
        use clap::CommandFactory;
        let matches = Opts::command().about(about).get_matches();
        let opts = <Opts as clap::FromArgMatches>::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
        if let Err(e) = std::fs::create_dir_all(&opts.out) {
            eprintln!("error: --out {}: {e}", opts.out.display());
            std::process::exit(1);
        }
        opts
    }

    /// `OUT/NAME.png`.
    pub fn plot_path(&self, name: &str) -> PathBuf {
        self.out.join(format!("{name}.png"))
    }

    /// MNIST with the given split (downloaded and verified first if missing). Exits with a
    /// one-line error if it cannot be had.
    pub fn mnist(&self, train_size: usize, validation_size: usize) -> Mnist {
        load_or_download(self.data.as_deref(), train_size, validation_size, std::io::stderr().is_terminal())
            .unwrap_or_else(|e| fail(&format!("MNIST: {e}")))
    }

    /// Writes the docs section `OUT/NAME.md`: `## title`, the plot, then `body` (markdown).
    pub fn write_section(&self, name: &str, title: &str, body: &str) {
        let mode = if self.quick { " (with `--quick`: a smaller run)" } else { "" };
        let text = format!(
            "## {title}\n\n`cargo run --release --example {name}`{mode}\n\n![{title}]({name}.png)\n\n{}\n",
            body.trim()
        );
        let path = self.out.join(format!("{name}.md"));
        if let Err(e) = nndl::files::write_atomically(&path, text.as_bytes()) {
            fail(&format!("{}: {e}", path.display()));
        }
    }
}

/// Prints `error: why` and exits with status 1.
pub fn fail(why: &str) -> ! {
    eprintln!("error: {why}");
    std::process::exit(1)
}

/// Unwraps, or fails with the error and what was being done.
pub fn check<T, E: std::fmt::Display>(r: Result<T, E>, doing: &str) -> T {
    r.unwrap_or_else(|e| fail(&format!("{doing}: {e}")))
}

/// Prints where the plot went.
pub fn wrote(path: &Path) {
    println!("plot written to {}", path.display());
}

/// The book's net of sigmoid neurons with the given `sizes` (e.g. `[784, 30, 10]`), or a
/// one-line error and exit if the sizes are wrong.
pub fn sigmoid_net(
    sizes: &[usize],
    cost: nndl::cost::Cost,
    init: nndl::layers::Init,
    rng: &mut nndl::Rng,
) -> nndl::network::Network {
    use nndl::activation::Activation::Sigmoid;
    check(nndl::network::Network::dense(sizes, Sigmoid, Sigmoid, cost, init, rng), "building the network")
}
