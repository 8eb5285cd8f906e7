//! The models a server holds: `GET /api/models` and a neuron's incoming weights.

use super::App;
use super::api::{ApiError, ApiResult};
use axum::Json;
use axum::extract::{Path, Query, State};
use nndl::data::source::{Format, InputInfo};
use nndl::layers::{LayerSpec, Shape};
use nndl::model_io::ModelInfo;
use nndl::network::Network;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// One loaded model.
pub struct Model {
    /// Its name in the API: the file's stem, made unique.
    pub name: String,
    pub path: PathBuf,
    pub net: Network,
    pub info: ModelInfo,
    pub input: InputInfo,
    /// Multiply-adds of one forward pass: what decides whether a request's work runs inline.
    pub macs: u128,
    /// The test set's answers, computed on first use (see `testset`).
    pub tests: Mutex<Option<Arc<super::testset::TestResults>>>,
}

impl Model {
    /// Loads a model file as `nndl predict` does.
    pub fn load(path: &std::path::Path, name: String) -> anyhow::Result<Model> {
        let (net, info, input) = crate::cli::predict::load_model(path)?;
        let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let macs = net.macs_per_example();
        Ok(Model { name, path, net, info, input, macs, tests: Mutex::new(None) })
    }

    /// Whether the model reads pictures (not table rows).
    pub fn reads_images(&self) -> bool {
        self.input.format != Format::Csv && self.input.is_image()
    }

    /// What `GET /api/models` says of it.
    pub fn describe(&self) -> Value {
        let specs = self.net.specs();
        json!({
            "name": self.name,
            "path": self.path,
            "arch": describe(&specs, self.input.shape),
            "input": shape(self.input.shape),
            "format": format_name(self.input.format),
            "reads_images": self.reads_images(),
            "digits": self.reads_images() && nndl::image_io::is_digit_input(&self.input),
            "classes": self.input.classes,
            "cost": self.net.cost.to_string(),
            "params": self.net.param_count(),
            "test_accuracy": self.info.training.get("test_accuracy").and_then(Value::as_f64),
            "layers": layers(&specs, self.input.shape),
        })
    }
}

/// `1×28×28 → conv 20 5x5 relu → …`: the input's shape, then the layers.
pub fn describe(specs: &[LayerSpec], input: Shape) -> String {
    std::iter::once(input.to_string())
        .chain(specs.iter().map(|s| s.to_string()))
        .collect::<Vec<_>>()
        .join(" → ")
}

pub fn format_name(format: Format) -> &'static str {
    match format {
        Format::Idx => "idx",
        Format::Images => "images",
        Format::Csv => "csv",
        Format::Text => "text",
    }
}

/// f32 values as JSON numbers written as short as they read back (a `json!` of f32 would
/// write each as the f64 it widens to, with twice the digits). Not finite: `null`.
pub fn floats(values: &[f32]) -> Value {
    Value::Array(values.iter().map(|&v| float(v)).collect())
}

pub fn float(v: f32) -> Value {
    v.to_string()
        .parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .map_or(Value::Null, Value::Number)
}

/// `[channels, height, width]`.
pub fn shape(s: Shape) -> [usize; 3] {
    [s.channels, s.height, s.width]
}

/// The layer objects of `/api/models` (and of the `started` event).
pub fn layers(specs: &[LayerSpec], input: Shape) -> Vec<Value> {
    specs
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            json!({
                "index": i,
                "kind": kind(spec),
                "description": spec.to_string(),
                "in_shape": shape(spec.in_shape()),
                "out_shape": shape(spec.out_shape()),
                "activation": spec.activation().map(|a| a.to_string()),
                "params": spec.param_count(),
                "has_weights": has_weights(spec),
                "weights_image": has_weights(spec).then(|| shape(weights_shape(specs, i, input))),
            })
        })
        .collect()
}

/// `dense`, `conv`, `pool`, `dropout`, `flatten`, `rnn`, `lstm`, `timedense`.
pub fn kind(spec: &LayerSpec) -> &'static str {
    match spec {
        LayerSpec::Dense { .. } => "dense",
        LayerSpec::Conv { .. } => "conv",
        LayerSpec::Pool { .. } => "pool",
        LayerSpec::Dropout { .. } => "dropout",
        LayerSpec::Flatten { .. } => "flatten",
        LayerSpec::Recurrent { cell: nndl::layers::Cell::Rnn, .. } => "rnn",
        LayerSpec::Recurrent { .. } => "lstm",
        LayerSpec::TimeDense { .. } => "timedense",
    }
}

/// Layers whose neurons each have a row of incoming weights to show.
fn has_weights(spec: &LayerSpec) -> bool {
    matches!(spec, LayerSpec::Dense { .. } | LayerSpec::Conv { .. } | LayerSpec::TimeDense { .. })
}

/// The shape one neuron's incoming weights are drawn in: the input image for a dense layer
/// that reads the input (through dropout or flatten at most), a conv filter's `C × k × k`,
/// else a vector.
fn weights_shape(specs: &[LayerSpec], i: usize, input: Shape) -> Shape {
    match specs[i] {
        LayerSpec::Conv { input, kernel, .. } => Shape::new(input.channels, kernel, kernel),
        LayerSpec::Dense { inputs, .. } => {
            let reads_input =
                specs[..i].iter().all(|s| matches!(s, LayerSpec::Dropout { .. } | LayerSpec::Flatten { .. }));
            if reads_input && input.size() == inputs { input } else { Shape::flat(inputs) }
        }
        ref other => Shape::flat(other.in_size()),
    }
}

/// The incoming weights of neuron `neuron` of layer `layer` (counting from 0), or of every
/// neuron (at most [`MAX_NEURONS`]) when `neuron` is `None`, as the weights route answers.
pub fn weights(net: &Network, input: Shape, layer: usize, neuron: Option<usize>) -> Result<Value, String> {
    let specs = net.specs();
    let spec = specs
        .get(layer)
        .ok_or_else(|| format!("layer {layer}: the model has layers 0 to {}", specs.len() - 1))?;
    if !has_weights(spec) {
        return Err(format!(
            "layer {layer} ({spec}) has no incoming weights to show; choose a dense or conv layer"
        ));
    }
    let params = net.layers[layer].params();
    let (w, b) = (&params[0][..], &params[1][..]);
    let neurons = b.len();
    let per = w.len() / neurons;
    let range = |values: &[f32]| {
        let finite = values.iter().copied().filter(|v| v.is_finite());
        (finite.clone().fold(f32::INFINITY, f32::min), finite.fold(f32::NEG_INFINITY, f32::max))
    };
    let shape = shape(weights_shape(&specs, layer, input));
    Ok(match neuron {
        Some(n) if n >= neurons => {
            return Err(format!("neuron {n}: layer {layer} has neurons 0 to {}", neurons - 1));
        }
        Some(n) => {
            let row = &w[n * per..(n + 1) * per];
            let (min, max) = range(row);
            json!({ "layer": layer, "neuron": n, "kind": kind(spec), "shape": shape,
                    "weights": floats(row), "bias": float(b[n]), "min": float(min), "max": float(max) })
        }
        None => {
            let shown = neurons.min(MAX_NEURONS);
            let (min, max) = range(&w[..shown * per]);
            let rows: Vec<Value> = w.chunks(per).take(shown).map(floats).collect();
            json!({ "layer": layer, "neuron": null, "kind": kind(spec), "shape": shape, "neurons": neurons,
                    "weights": rows, "bias": floats(&b[..shown]), "min": float(min), "max": float(max) })
        }
    })
}

/// The most neurons whose weights one answer carries.
pub const MAX_NEURONS: usize = 100;

/// The first layer with weights (what the training view draws), if any.
pub fn first_weighted(net: &Network) -> Option<usize> {
    net.specs().iter().position(has_weights)
}

/// `GET /api/models`
pub async fn list(State(app): State<Arc<App>>) -> Json<Value> {
    let models = app.models();
    Json(json!({ "models": models.iter().map(|m| m.describe()).collect::<Vec<_>>() }))
}

/// `GET /api/models/{model}/weights?layer=L&neuron=N`
pub async fn weights_route(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let model = app.model(Some(&name))?;
    let layer = super::query_number(&query, "layer")?
        .ok_or_else(|| ApiError::bad("give ?layer=L (layers count from 0)"))?;
    let neuron = super::query_number(&query, "neuron")?;
    let mut answer = weights(&model.net, model.input.shape, layer, neuron).map_err(ApiError::not_found)?;
    answer["model"] = json!(model.name);
    Ok(Json(answer))
}
