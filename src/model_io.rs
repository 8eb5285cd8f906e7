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
//! leaves a partial file (see [`crate::files`]); `-` writes the model to standard output.

use crate::cost::Cost;
use crate::data::source::InputInfo;
use crate::files::FileError;
use crate::layers::{Init, LayerSpec, ParamInfo};
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
    #[error(transparent)]
    File(#[from] FileError),
    #[error("{path}: not an nndl model ({why}); give a model file saved by nndl")]
    Format { path: PathBuf, why: String },
    #[error(
        "{path}: the weights do not fit the architecture the file describes ({why}); the file is damaged or was edited — train and save it again"
    )]
    Architecture { path: PathBuf, why: String },
    #[error(
        "{path}: tensor {tensor} holds NaN or infinite values; the model is unusable — train it again (with a smaller learning rate if training diverged)"
    )]
    NotFinite { path: PathBuf, tensor: String },
    #[error("{path}: the model {why}")]
    TooLarge { path: PathBuf, why: String },
}

/// What a model file says besides its weights.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    pub format: String,
    pub version: u32,
    pub architecture: Vec<LayerSpec>,
    pub cost: Cost,
    /// What the input is and how it was made from the data (absent in models saved before
    /// nndl recorded it: those were trained on MNIST).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<InputInfo>,
    /// How the network was trained (settings, data sizes, seed, final figures): free-form JSON
    /// ([`TrainingRecord`] for `nndl train`).
    #[serde(default)]
    pub training: serde_json::Value,
}

impl ModelInfo {
    /// The model's input: as recorded, else MNIST's.
    pub fn input(&self) -> InputInfo {
        self.input.clone().unwrap_or_else(InputInfo::mnist)
    }
}

/// How a network was trained, as `nndl train` records it in the model and metrics files.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainingRecord {
    pub config: crate::train::TrainConfig,
    pub init: Init,
    pub seed: u64,
    /// The data given (none: MNIST from its usual place).
    pub data: Option<PathBuf>,
    pub train_size: usize,
    pub validation_size: usize,
    pub epochs_run: usize,
    pub stopped_early: Option<String>,
    pub test_accuracy: f64,
    pub test_cost: f64,
}

impl TrainingRecord {
    /// As JSON, with the version of nndl that trained it.
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).expect("a training record serialises");
        v["nndl_version"] = env!("CARGO_PKG_VERSION").into();
        v
    }
}

/// Writes `net`, what its `input` is (`None`: not recorded; such a model is taken for an MNIST
/// model when loaded), and `training` (any JSON describing how it was trained) to `path`.
pub fn save(
    net: &Network,
    input: Option<&InputInfo>,
    training: serde_json::Value,
    path: &Path,
) -> Result<(), ModelError> {
    let bytes =
        to_bytes(net, input, training).map_err(|why| ModelError::Format { path: path.into(), why })?;
    Ok(crate::files::write_atomically(path, &bytes)?)
}

/// The bytes [`save`] writes (e.g. to keep a model inside another file).
pub fn to_bytes(
    net: &Network,
    input: Option<&InputInfo>,
    training: serde_json::Value,
) -> Result<Vec<u8>, String> {
    let info = ModelInfo {
        format: FORMAT.into(),
        version: VERSION,
        architecture: net.specs(),
        cost: net.cost,
        input: input.cloned(),
        training,
    };
    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    for (i, layer) in net.layers.iter().enumerate() {
        for (info, values) in layer.spec().params().into_iter().zip(layer.params()) {
            let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            tensors.push((format!("layers.{i}.{}", info.name), info.shape, bytes));
        }
    }
    let views = tensors.iter().map(|(name, shape, bytes)| {
        let view = TensorView::new(Dtype::F32, shape.clone(), bytes).expect("shape matches byte count");
        (name.clone(), view)
    });
    let meta = HashMap::from([("nndl".to_string(), serde_json::to_string(&info).expect("info serialises"))]);
    safetensors::serialize(views, Some(meta)).map_err(|e| e.to_string())
}

/// Reads a model written by [`save`]: the network, ready to use, and its description.
///
/// Nothing in the file is trusted before it is checked: the file must be a regular file no
/// larger than the memory [budget](crate::memory::budget); every layer of the architecture
/// passes the checks `--arch` applies ([`Network::check`]); the network must fit in memory; and
/// every tensor the architecture needs must be in the file with exactly the expected type and
/// shape (and no other tensor be there) before the network is built.
pub fn load(path: &Path) -> Result<(Network, ModelInfo), ModelError> {
    let limit = crate::memory::budget();
    let bytes = crate::files::read_input(path, limit, "a model file")?;
    load_bytes(&bytes, path)
}

/// [`load`] from the file's bytes; `path` is only for messages.
pub fn load_bytes(bytes: &[u8], path: &Path) -> Result<(Network, ModelInfo), ModelError> {
    let format_err = |why: String| ModelError::Format { path: path.into(), why };
    let arch_err = |why: String| ModelError::Architecture { path: path.into(), why };

    let (_, header) =
        SafeTensors::read_metadata(bytes).map_err(|e| format_err(format!("bad safetensors header: {e}")))?;
    let json = header
        .metadata()
        .as_ref()
        .and_then(|m| m.get("nndl"))
        .ok_or_else(|| format_err("no nndl metadata in the header".into()))?;
    let info: ModelInfo = serde_json::from_str(json).map_err(|e| format_err(format!("bad metadata: {e}")))?;
    if info.format != FORMAT || info.version != VERSION {
        return Err(format_err(format!(
            "format {} version {}, expected {FORMAT} version {VERSION}",
            crate::shorten(&info.format, 40),
            info.version
        )));
    }
    Network::check(&info.architecture, info.cost).map_err(|e| arch_err(e.to_string()))?;
    if let Some(input) = &info.input {
        let (net_in, net_out) =
            (info.architecture[0].in_size(), info.architecture[info.architecture.len() - 1].out_size());
        let k = input.classes.len();
        if input.shape.problem().is_some() || input.shape.size() != net_in || k == 0 || net_out % k != 0 {
            return Err(arch_err(format!(
                "its input is {} with {k} classes, but the network maps {net_in} inputs to {net_out} outputs",
                input.shape
            )));
        }
    }
    let need = crate::memory::inference_bytes(&info.architecture, 1, 1);
    crate::memory::check(need, "would need")
        .map_err(|why| ModelError::TooLarge { path: path.into(), why })?;
    let tensors =
        SafeTensors::deserialize(bytes).map_err(|e| format_err(format!("bad safetensors data: {e}")))?;

    // Every tensor the architecture needs, with the exact type and shape, before building.
    let mut expected = 0;
    for (i, spec) in info.architecture.iter().enumerate() {
        for ParamInfo { name, shape, .. } in spec.params() {
            let name = format!("layers.{i}.{name}");
            let t = tensors.tensor(&name).map_err(|_| arch_err(format!("tensor {name} is missing")))?;
            if t.dtype() != Dtype::F32 || t.shape() != shape.as_slice() {
                return Err(arch_err(format!(
                    "tensor {name} is {:?} {:?}, expected F32 {shape:?}",
                    t.dtype(),
                    t.shape()
                )));
            }
            expected += 1;
        }
    }
    if tensors.len() != expected {
        return Err(arch_err(format!(
            "{} tensors in the file, the architecture has {expected}",
            tensors.len()
        )));
    }

    let mut rng = crate::seeded_rng(0);
    let mut net = Network::new(&info.architecture, info.cost, Init::Scaled, &mut rng)
        .map_err(|e| ModelError::TooLarge { path: path.into(), why: e.to_string() })?;
    for (i, layer) in net.layers.iter_mut().enumerate() {
        let infos = layer.spec().params();
        for (p, values) in infos.iter().zip(layer.params_mut()) {
            let name = format!("layers.{i}.{}", p.name);
            let t = tensors.tensor(&name).map_err(|_| arch_err(format!("tensor {name} is missing")))?;
            for (v, b) in values.iter_mut().zip(t.data().chunks_exact(4)) {
                *v = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            }
            if !values.iter().all(|v| v.is_finite()) {
                return Err(ModelError::NotFinite { path: path.into(), tensor: name });
            }
        }
    }
    Ok((net, info))
}
