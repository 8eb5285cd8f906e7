//! Saving and loading trained networks.
//!
//! One file, in the [safetensors](https://huggingface.co/docs/safetensors) format: each
//! parameter is a little-endian f32 tensor named `layers.{i}.{weights|biases}` with the shape
//! its layer documents (dense weights are `[n_out, n_in]`), and the header's `__metadata__`
//! holds one entry, `nndl`, a JSON object: `{"format": "nndl-model", "version": 1,
//! "architecture": [layer specs], "cost": ..., "training": {...}}`. Any safetensors reader
//! (e.g. Python's `safetensors.numpy.load_file`) can open it.
//!
//! Files are written under a temporary name and renamed into place, so a failed save never
//! leaves a partial file.

use crate::cost::Cost;
use crate::layers::{Init, LayerSpec};
use crate::network::Network;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The `format` field of every nndl model file.
pub const FORMAT: &str = "nndl-model";
/// The current version of the layout described above.
pub const VERSION: u32 = 1;

/// Why a model could not be saved or loaded. Each message names the file.
#[derive(Debug, Error)]
pub enum ModelError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: not an nndl model ({why}); give a file written by `nndl train --save`")]
    Format { path: PathBuf, why: String },
    #[error(
        "{path}: the weights do not fit the architecture the file describes ({why}); the file is damaged or was edited — train and save it again"
    )]
    Architecture { path: PathBuf, why: String },
    #[error(
        "{path}: tensor {tensor} holds NaN or infinite values; the model is unusable — train it again (with a smaller --eta if training diverged)"
    )]
    NotFinite { path: PathBuf, tensor: String },
}

/// What a model file says besides its weights.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    pub format: String,
    pub version: u32,
    pub architecture: Vec<LayerSpec>,
    pub cost: Cost,
    /// How the network was trained (settings, data sizes, seed, final figures): free-form JSON.
    #[serde(default)]
    pub training: serde_json::Value,
}

/// Writes `net` and `training` (any JSON describing how it was trained) to `path`.
pub fn save(net: &mut Network, training: serde_json::Value, path: &Path) -> Result<(), ModelError> {
    let info = ModelInfo {
        format: FORMAT.into(),
        version: VERSION,
        architecture: net.specs(),
        cost: net.cost,
        training,
    };
    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    for (i, layer) in net.layers.iter_mut().enumerate() {
        layer.visit_params(&mut |p| {
            let bytes = p.value.iter().flat_map(|v| v.to_le_bytes()).collect();
            tensors.push((format!("layers.{i}.{}", p.name), p.value.shape().to_vec(), bytes));
        });
    }
    let views = tensors.iter().map(|(name, shape, bytes)| {
        let view = TensorView::new(Dtype::F32, shape.clone(), bytes).expect("shape matches byte count");
        (name.clone(), view)
    });
    let meta = HashMap::from([("nndl".to_string(), serde_json::to_string(&info).expect("info serialises"))]);
    let bytes = safetensors::serialize(views, Some(meta))
        .map_err(|e| ModelError::Format { path: path.into(), why: e.to_string() })?;
    write_atomically(path, &bytes).map_err(|source| ModelError::Io { path: path.into(), source })
}

/// Reads a model written by [`save`]: the network, ready to use, and its description.
pub fn load(path: &Path) -> Result<(Network, ModelInfo), ModelError> {
    let bytes = std::fs::read(path).map_err(|source| ModelError::Io { path: path.into(), source })?;
    let format_err = |why: String| ModelError::Format { path: path.into(), why };
    let arch_err = |why: String| ModelError::Architecture { path: path.into(), why };

    let (_, header) =
        SafeTensors::read_metadata(&bytes).map_err(|e| format_err(format!("bad safetensors header: {e}")))?;
    let json = header
        .metadata()
        .as_ref()
        .and_then(|m| m.get("nndl"))
        .ok_or_else(|| format_err("no nndl metadata in the header".into()))?;
    let info: ModelInfo = serde_json::from_str(json).map_err(|e| format_err(format!("bad metadata: {e}")))?;
    if info.format != FORMAT || info.version != VERSION {
        return Err(format_err(format!(
            "format {} version {}, expected {FORMAT} version {VERSION}",
            info.format, info.version
        )));
    }
    Network::check(&info.architecture, info.cost).map_err(|e| arch_err(e.to_string()))?;
    let tensors =
        SafeTensors::deserialize(&bytes).map_err(|e| format_err(format!("bad safetensors data: {e}")))?;

    let mut rng = crate::seeded_rng(0);
    let mut net = Network::new(&info.architecture, info.cost, Init::Scaled, &mut rng)
        .map_err(|e| arch_err(e.to_string()))?;
    let mut expected = 0;
    let mut problem: Option<ModelError> = None;
    for (i, layer) in net.layers.iter_mut().enumerate() {
        layer.visit_params(&mut |mut p| {
            if problem.is_some() {
                return;
            }
            expected += 1;
            let name = format!("layers.{i}.{}", p.name);
            let t = match tensors.tensor(&name) {
                Ok(t) => t,
                Err(_) => return problem = Some(arch_err(format!("tensor {name} is missing"))),
            };
            if t.dtype() != Dtype::F32 || t.shape() != p.value.shape() {
                return problem = Some(arch_err(format!(
                    "tensor {name} is {:?} {:?}, expected F32 {:?}",
                    t.dtype(),
                    t.shape(),
                    p.value.shape()
                )));
            }
            for (v, b) in p.value.iter_mut().zip(t.data().chunks_exact(4)) {
                *v = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            }
            if !p.value.iter().all(|v| v.is_finite()) {
                problem = Some(ModelError::NotFinite { path: path.into(), tensor: name });
            }
        });
    }
    if let Some(e) = problem {
        return Err(e);
    }
    if tensors.len() != expected {
        return Err(arch_err(format!(
            "{} tensors in the file, the architecture has {expected}",
            tensors.len()
        )));
    }
    Ok((net, info))
}

/// Writes `bytes` to a temporary file beside `path`, syncs it, and renames it over `path`.
/// On any error the temporary file is removed and `path` is untouched.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let name = path.file_name().ok_or_else(|| std::io::Error::other("the path names no file"))?;
    let tmp = path.with_file_name(format!(".{}.{}.tmp", name.to_string_lossy(), std::process::id()));
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
