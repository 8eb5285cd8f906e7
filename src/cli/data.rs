//! `nndl download`, and loading MNIST for the other subcommands.

use super::DataArgs;
use anyhow::Context;
use nndl::data::{self, Dataset, Mnist};
use std::io::IsTerminal;

#[derive(clap::Args)]
pub struct DownloadArgs {
    #[command(flatten)]
    data: DataArgs,
}

pub fn download(args: DownloadArgs) -> anyhow::Result<()> {
    let dir = data::resolve_dir(args.data.data.as_deref());
    let fetched = data::ensure_present(&dir, data::MIRRORS, std::io::stderr().is_terminal())
        .with_context(|| format!("MNIST in {}", dir.display()))?;
    if fetched.is_empty() {
        println!("MNIST is already in {}", dir.display());
    } else {
        println!("downloaded and verified {} into {}", fetched.join(", "), dir.display());
    }
    Ok(())
}

/// Finds (downloading if needed) and loads MNIST with the given split: the same path as the
/// tests take ([`data::locate_or_download`]). Every error names the file or flag at fault.
pub fn load(args: &DataArgs, train_size: usize, validation_size: usize) -> anyhow::Result<Mnist> {
    let dir = data::locate_or_download(args.data.as_deref(), std::io::stderr().is_terminal())?;
    Ok(data::load_mnist(&dir, train_size, validation_size)?)
}

/// Finds (downloading only the two t10k files if needed) and loads the test set alone: for
/// the subcommands that only evaluate (`eval`, `plot errors`), which have no split flags and
/// whose errors therefore never mention them.
pub fn load_test(args: &DataArgs) -> anyhow::Result<Dataset> {
    let dir = data::locate_or_download_test(args.data.as_deref(), std::io::stderr().is_terminal())?;
    Ok(data::load_test(&dir)?)
}
