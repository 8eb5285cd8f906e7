//! `nndl train --checkpoint FILE --checkpoint-every N` and `--resume FILE`: a run saved
//! between epochs, and taken up again exactly where it was (see `nndl::train::checkpoint`).

use anyhow::{Context, bail};
use nndl::Rng;
use nndl::layers::LayerSpec;
use nndl::network::Network;
use nndl::train::{Checkpoint, CheckpointError, TrainConfig, TrainState};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct CheckpointArgs {
    /// Save the whole run (network, optimiser state, random state, example order, epochs so
    /// far) to FILE every --checkpoint-every epochs, replacing it each time, so that --resume
    /// can go on from there
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub checkpoint: Option<PathBuf>,
    /// With --checkpoint: epochs between checkpoints
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = parse_every, help_heading = "Output")]
    pub checkpoint_every: usize,
    /// Go on from a checkpoint written by --checkpoint, with the same flags (only --epochs and
    /// --threads may change; --seed may be left out): the result is bit-identical to the run
    /// that was never stopped
    #[arg(long, value_name = "FILE", help_heading = "Learning")]
    pub resume: Option<PathBuf>,
}

fn parse_every(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("'{s}' is not a number of epochs (give 1 or more)")),
    }
}

/// What the CLI keeps in a checkpoint besides the run itself, to check that a resumed run is
/// given the same data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Origin {
    pub seed: u64,
    pub data: Option<PathBuf>,
    pub train_size: usize,
    pub validation_size: usize,
    pub expand: bool,
}

/// The checkpoint `--resume` names, if any, read and checked.
pub fn load(args: &CheckpointArgs) -> anyhow::Result<Option<(Checkpoint, Origin)>> {
    let Some(path) = &args.resume else { return Ok(None) };
    let cp = Checkpoint::load(path).context("--resume")?;
    let origin: Origin = serde_json::from_value(cp.extra.clone())
        .map_err(|e| anyhow::anyhow!("{}: not written by `nndl train --checkpoint` ({e})", path.display()))
        .context("--resume")?;
    Ok(Some((cp, origin)))
}

/// The seed of a resumed run: the checkpoint's (a different `--seed` is refused).
pub fn seed(resume: &Option<(Checkpoint, Origin)>, asked: Option<u64>) -> anyhow::Result<Option<u64>> {
    match (resume, asked) {
        (Some((_, o)), Some(s)) if s != o.seed => {
            bail!("--resume: the checkpoint's run used --seed {}; give the same seed or none", o.seed)
        }
        (Some((_, o)), _) => Ok(Some(o.seed)),
        (None, s) => Ok(s),
    }
}

/// Checks that the run about to start is the checkpoint's (same settings but --epochs and
/// --threads, same network, same data), and gives its network, generator and state.
pub fn take_up(
    (cp, origin): (Checkpoint, Origin),
    cfg: &TrainConfig,
    specs: &[LayerSpec],
    cost: nndl::cost::Cost,
    now: &Origin,
) -> anyhow::Result<(Network, Rng, TrainState)> {
    let same = "give the flags of the run that wrote it (only --epochs and --threads may change)";
    let mut theirs = cp.config.clone();
    (theirs.epochs, theirs.threads) = (cfg.epochs, cfg.threads);
    if theirs != *cfg {
        let (a, b) = (serde_json::to_value(&theirs)?, serde_json::to_value(cfg)?);
        let differ: Vec<String> = match (a, b) {
            (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
                a.iter().filter(|(k, v)| b.get(*k) != Some(v)).map(|(k, v)| format!("{k} was {v}")).collect()
            }
            _ => Vec::new(),
        };
        bail!("--resume: the checkpoint's run had other settings ({}); {same}", differ.join(", "));
    }
    if cp.net.specs() != specs || cp.net.cost != cost {
        bail!(
            "--resume: the checkpoint holds another network ({}); {same}",
            super::train::describe(&cp.net.specs())
        );
    }
    if origin != *now {
        bail!(
            "--resume: the checkpoint's run was on other data ({} training and {} validation examples from {}{}); {same}",
            origin.train_size,
            origin.validation_size,
            origin.data.as_ref().map_or("MNIST".into(), |p| p.display().to_string()),
            if origin.expand { ", expanded" } else { "" }
        );
    }
    Ok((cp.net, cp.rng, cp.state))
}

/// Writes a checkpoint of the run to `path` and says so.
pub fn write(
    path: &std::path::Path,
    cfg: &TrainConfig,
    origin: &Origin,
    net: &Network,
    rng: &Rng,
    state: TrainState,
) -> Result<(), CheckpointError> {
    let epoch = state.epoch;
    let extra = serde_json::to_value(origin).expect("an origin serialises");
    let cp = Checkpoint { net: net.clone(), rng: rng.clone(), state, config: cfg.clone(), extra };
    cp.save(path)?;
    super::say!("checkpoint after epoch {epoch} written to {}", path.display());
    Ok(())
}
