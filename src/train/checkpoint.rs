//! Checkpoints: everything a training run needs to go on exactly where it stopped.
//!
//! A checkpoint holds the network, the optimiser's state (η, steps taken, velocities or
//! moments), the random generator's state (seed, stream, word position), the order of the
//! examples after the last shuffle, the epochs done with their figures, and the best
//! validation accuracy so far (for the schedule and early stopping). A run resumed from it
//! ([`Session::resume`](super::Session)) is bit-identical to one that was never interrupted.
//!
//! One file, in the safetensors format: the tensor `model` holds a whole nndl model file
//! ([`crate::model_io`], checked the same way when read), `order` the example order (U64),
//! `optimizer.first.{i}` / `optimizer.second.{i}` the optimiser's F32 state per parameter
//! tensor, and the header's `nndl` metadata entry the rest as JSON (`"format":
//! "nndl-checkpoint"`). Written atomically ([`crate::files::write_atomically`]).

use super::{TrainConfig, TrainReport};
use crate::Rng;
use crate::files::FileError;
use crate::model_io::{self, ModelError};
use crate::network::Network;
use crate::optim::OptimizerState;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The `format` field of a checkpoint's metadata.
pub const FORMAT: &str = "nndl-checkpoint";
/// The layout's version.
pub const VERSION: u32 = 1;

/// Why a checkpoint could not be written or read. Each message names the file.
#[derive(Debug, Error)]
pub enum CheckpointError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("{path}: not an nndl checkpoint ({why}); give a file written by --checkpoint")]
    Format { path: PathBuf, why: String },
    #[error("{path}: {why}")]
    Mismatch { path: PathBuf, why: String },
}

/// Where the training loop is, between two epochs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TrainState {
    /// Epochs done.
    pub epoch: usize,
    /// The order of the training examples after the last shuffle (each epoch shuffles it
    /// again).
    pub order: Vec<usize>,
    /// The best validation accuracy so far, and epochs since it improved.
    pub best: Option<f64>,
    pub since_best: usize,
    /// The epochs' figures so far.
    pub report: TrainReport,
    pub optimizer: OptimizerState,
}

/// A run between two epochs: the network, the random generator, the loop's state, the
/// settings it was trained with, and whatever the caller records (`extra`, JSON: the CLI keeps
/// its seed and data there).
#[derive(Clone)]
pub struct Checkpoint {
    pub net: Network,
    pub rng: Rng,
    pub state: TrainState,
    pub config: TrainConfig,
    pub extra: serde_json::Value,
}

/// The metadata's JSON.
#[derive(Serialize, Deserialize)]
struct Header {
    format: String,
    version: u32,
    epoch: usize,
    rng: Rng,
    best: Option<f64>,
    since_best: usize,
    report: TrainReport,
    eta: f32,
    steps: i32,
    config: TrainConfig,
    #[serde(default)]
    extra: serde_json::Value,
}

impl Checkpoint {
    /// The file's bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>, String> {
        let model = model_io::to_bytes(&self.net, None, serde_json::Value::Null)?;
        let st = &self.state;
        let header = Header {
            format: FORMAT.into(),
            version: VERSION,
            epoch: st.epoch,
            rng: self.rng.clone(),
            best: st.best,
            since_best: st.since_best,
            report: st.report.clone(),
            eta: st.optimizer.eta,
            steps: st.optimizer.t,
            config: self.config.clone(),
            extra: self.extra.clone(),
        };
        let order: Vec<u8> = st.order.iter().flat_map(|&i| (i as u64).to_le_bytes()).collect();
        let mut tensors: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = vec![
            ("model".into(), Dtype::U8, vec![model.len()], model),
            ("order".into(), Dtype::U64, vec![st.order.len()], order),
        ];
        for (kind, moments) in [("first", &st.optimizer.first), ("second", &st.optimizer.second)] {
            for (i, m) in moments.iter().enumerate() {
                let bytes = m.iter().flat_map(|v| v.to_le_bytes()).collect();
                tensors.push((format!("optimizer.{kind}.{i}"), Dtype::F32, vec![m.len()], bytes));
            }
        }
        let views = tensors.iter().map(|(name, dtype, shape, bytes)| {
            (name.clone(), TensorView::new(*dtype, shape.clone(), bytes).expect("shape matches byte count"))
        });
        let json = serde_json::to_string(&header).map_err(|e| e.to_string())?;
        safetensors::serialize(views, Some(HashMap::from([("nndl".to_string(), json)])))
            .map_err(|e| e.to_string())
    }

    /// Writes the checkpoint to `path`, complete or not at all.
    pub fn save(&self, path: &Path) -> Result<(), CheckpointError> {
        let bytes = self.to_bytes().map_err(|why| CheckpointError::Format { path: path.into(), why })?;
        Ok(crate::files::write_atomically(path, &bytes)?)
    }

    /// Reads a checkpoint written by [`Checkpoint::save`], checking every part against the
    /// others (the network as a model file is checked; the optimiser's state must fit it).
    pub fn load(path: &Path) -> Result<Checkpoint, CheckpointError> {
        let limit = crate::memory::budget();
        let bytes = crate::files::read_input(path, limit, "a checkpoint")?;
        Self::from_bytes(&bytes, path)
    }

    /// [`Checkpoint::load`] from the file's bytes; `path` is only for messages.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Checkpoint, CheckpointError> {
        let bad = |why: String| CheckpointError::Format { path: path.into(), why };
        let tensors =
            SafeTensors::deserialize(bytes).map_err(|e| bad(format!("bad safetensors data: {e}")))?;
        let (_, meta) =
            SafeTensors::read_metadata(bytes).map_err(|e| bad(format!("bad safetensors header: {e}")))?;
        let json = meta
            .metadata()
            .as_ref()
            .and_then(|m| m.get("nndl"))
            .ok_or_else(|| bad("no nndl metadata in the header".into()))?;
        let h: Header = serde_json::from_str(json).map_err(|e| bad(format!("bad metadata: {e}")))?;
        if h.format != FORMAT || h.version != VERSION {
            return Err(bad(format!(
                "format {} version {}, expected {FORMAT} version {VERSION}",
                crate::shorten(&h.format, 40),
                h.version
            )));
        }
        let tensor = |name: &str, dtype: Dtype| {
            let t = tensors.tensor(name).map_err(|_| bad(format!("tensor {name} is missing")))?;
            if t.dtype() != dtype || t.shape().len() != 1 {
                return Err(bad(format!(
                    "tensor {name} is {:?} {:?}, expected {dtype:?} [n]",
                    t.dtype(),
                    t.shape()
                )));
            }
            Ok(t)
        };
        let (net, _) = model_io::load_bytes(tensor("model", Dtype::U8)?.data(), path)?;
        let order: Vec<usize> = tensor("order", Dtype::U64)?
            .data()
            .chunks_exact(8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")) as usize)
            .collect();
        let mut seen = vec![false; order.len()];
        for &i in &order {
            if i >= seen.len() || std::mem::replace(&mut seen[i], true) {
                return Err(bad("the example order is not a permutation".into()));
            }
        }
        let sizes: Vec<usize> = net.params().map(|p| p.len()).collect();
        let moments = |kind: &str| -> Result<Vec<Vec<f32>>, CheckpointError> {
            let mut out = Vec::new();
            while let Ok(t) = tensors.tensor(&format!("optimizer.{kind}.{}", out.len())) {
                let i = out.len();
                if t.dtype() != Dtype::F32 || t.shape() != [sizes.get(i).copied().unwrap_or(usize::MAX)] {
                    return Err(bad(format!(
                        "optimizer.{kind}.{i} does not fit parameter tensor {i} of the network"
                    )));
                }
                out.push(
                    t.data()
                        .chunks_exact(4)
                        .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
                        .collect(),
                );
            }
            Ok(out)
        };
        let (first, second) = (moments("first")?, moments("second")?);
        let counted = 2 + first.len() + second.len();
        if tensors.len() != counted {
            return Err(bad(format!("{} tensors in the file, expected {counted}", tensors.len())));
        }
        let optimizer = OptimizerState { eta: h.eta, t: h.steps, first, second };
        if !(optimizer.eta.is_finite() && optimizer.eta > 0.0) || h.report.epochs.len() > h.epoch {
            return Err(bad("its η or epoch count is out of range".into()));
        }
        let state = TrainState {
            epoch: h.epoch,
            order,
            best: h.best,
            since_best: h.since_best,
            report: h.report,
            optimizer,
        };
        Ok(Checkpoint { net, rng: h.rng, state, config: h.config, extra: h.extra })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngCore, SeedableRng};

    /// nndl's generator is rand's StdRng stream, so seeded runs are as they were.
    #[test]
    fn the_generator_is_std_rngs_stream() {
        let (mut a, mut b) = (crate::seeded_rng(42), rand::rngs::StdRng::seed_from_u64(42));
        assert!((0..1000).all(|_| a.next_u64() == b.next_u64()));
    }

    #[test]
    fn a_checkpoint_round_trips_and_a_damaged_one_is_refused() {
        use crate::layers::{Init, Shape, parse_arch};
        let specs = parse_arch("conv 2 3x3; maxpool 2; dense 3", Shape::new(1, 6, 6)).unwrap();
        let mut rng = crate::seeded_rng(3);
        let net = Network::new(&specs, crate::cost::Cost::Quadratic, Init::Scaled, &mut rng).unwrap();
        rng.next_u64();
        let sizes: Vec<usize> = net.params().map(|p| p.len()).collect();
        let state = TrainState {
            epoch: 2,
            order: vec![3, 0, 2, 1],
            best: Some(0.5),
            since_best: 1,
            report: TrainReport::default(),
            optimizer: OptimizerState {
                eta: 0.25,
                t: 7,
                first: sizes.iter().map(|&n| (0..n).map(|i| i as f32 * 0.1).collect()).collect(),
                second: Vec::new(),
            },
        };
        let cp = Checkpoint {
            net,
            rng,
            state,
            config: TrainConfig::default(),
            extra: serde_json::json!({"seed": 9}),
        };
        let bytes = cp.to_bytes().unwrap();
        let back = Checkpoint::from_bytes(&bytes, Path::new("c")).unwrap();
        assert_eq!(back.state, cp.state);
        assert_eq!(back.rng, cp.rng);
        assert_eq!((back.config, back.extra), (cp.config, cp.extra));
        assert!(back.net.params().zip(cp.net.params()).all(|(a, b)| a == b));
        assert!(Checkpoint::from_bytes(&bytes[..bytes.len() - 3], Path::new("c")).is_err());
        let model = model_io::to_bytes(&cp.net, None, serde_json::Value::Null).unwrap();
        let err = Checkpoint::from_bytes(&model, Path::new("m"))
            .err()
            .expect("a model is no checkpoint")
            .to_string();
        assert!(err.contains("not an nndl checkpoint"), "{err}");
    }
}
