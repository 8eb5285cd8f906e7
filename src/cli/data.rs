//! `nndl download`, and loading MNIST for the other subcommands.

use super::DataArgs;
use anyhow::Context;
use nndl::data::{self, Mnist};
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

/// Finds (downloading if needed) and loads MNIST with the given split.
pub fn load(args: &DataArgs, train_size: usize, validation_size: usize) -> anyhow::Result<Mnist> {
    let dir = data::resolve_dir(args.data.as_deref());
    data::ensure_present(&dir, data::MIRRORS, std::io::stderr().is_terminal())
        .with_context(|| format!("MNIST in {}", dir.display()))?;
    Ok(data::load_mnist(&dir, train_size, validation_size)?)
}
