//! The test set browser: a model's answers on its test set (computed once), the confusion
//! matrix, the examples of a cell, and any one example.

use super::App;
use super::api::{self, ApiError, ApiResult};
use super::models::{Model, floats, shape};
use axum::Json;
use axum::extract::{Path, Query, State};
use ndarray::Array2;
use nndl::data::Dataset;
use nndl::inspect::Confusion;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

/// A model's answers on its test set.
pub struct TestResults {
    pub data: Dataset,
    /// `[n, classes]`: the network's outputs for every test example.
    pub outputs: Array2<f32>,
    pub predictions: Vec<usize>,
    pub confusion: Confusion,
    /// How long reading and answering took.
    pub micros: u128,
}

/// The model's test results, computing them the first time (holding the model's lock, so
/// two requests at once compute them once).
fn results(app: &App, model: &Model) -> ApiResult<Arc<TestResults>> {
    let mut cached = model.tests.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(results) = &*cached {
        return Ok(results.clone());
    }
    let started = std::time::Instant::now();
    let recorded = model.info.training.get("data").and_then(Value::as_str).map(std::path::PathBuf::from);
    let data = crate::cli::data::TestDataArgs { data: app.data.clone().or(recorded) };
    let test = crate::cli::predict::test_set(&model.net, &model.path, &model.info, &model.input, &data)
        .map_err(|e| ApiError::not_found(format!("model {}: no test set ({e:#})", model.name)))?;
    let outputs = nndl::ensemble::outputs(std::slice::from_ref(&model.net), &test).remove(0);
    let predictions = outputs.rows().into_iter().map(|r| nndl::train::argmax(r.iter().copied())).collect();
    let confusion = Confusion::new(&outputs, &test.labels);
    let results = Arc::new(TestResults {
        data: test,
        outputs,
        predictions,
        confusion,
        micros: started.elapsed().as_micros(),
    });
    *cached = Some(results.clone());
    Ok(results)
}

/// The model named by `?model=` (else the first) and its test results, off the async threads.
async fn model_results(
    app: Arc<App>,
    query: &HashMap<String, String>,
) -> ApiResult<(Arc<Model>, Arc<TestResults>)> {
    let model = app.model(query.get("model").map(String::as_str))?;
    api::blocking(move || {
        let results = results(&app, &model)?;
        Ok((model, results))
    })
    .await
}

/// `GET /api/testset?model=M`
pub async fn summary(
    State(app): State<Arc<App>>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let (model, results) = model_results(app, &query).await?;
    Ok(Json(json!({
        "model": model.name,
        "size": results.data.len(),
        "shape": shape(results.data.shape),
        "classes": model.input.classes,
    })))
}

/// `GET /api/testset/confusion?model=M`
pub async fn confusion(
    State(app): State<Arc<App>>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let (model, results) = model_results(app, &query).await?;
    let (correct, total) = results.confusion.correct();
    let matrix: Vec<Vec<u64>> =
        results.confusion.matrix.iter().map(|row| row.iter().map(|&c| c as u64).collect()).collect();
    Ok(Json(json!({
        "model": model.name,
        "classes": model.input.classes,
        "matrix": matrix,
        "correct": correct,
        "total": total,
        "accuracy": if total == 0 { 0.0 } else { correct as f64 / total as f64 },
        "micros": results.micros,
    })))
}

/// The most examples one answer carries.
const MAX_EXAMPLES: usize = 500;

/// `GET /api/testset/examples?model=M&label=T&predicted=P&offset=0&limit=100`
pub async fn examples(
    State(app): State<Arc<App>>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let label = super::query_number(&query, "label")?;
    let predicted = super::query_number(&query, "predicted")?;
    let offset = super::query_number(&query, "offset")?.unwrap_or(0);
    let limit = super::query_number(&query, "limit")?.unwrap_or(100).min(MAX_EXAMPLES);
    let (model, results) = model_results(app, &query).await?;
    let classes = model.input.classes.len();
    for (name, value) in [("label", label), ("predicted", predicted)] {
        if let Some(v) = value.filter(|&v| v >= classes) {
            return Err(ApiError::not_found(format!(
                "{name} {v}: the classes count from 0 to {}",
                classes.saturating_sub(1)
            )));
        }
    }
    let in_cell = |&i: &usize| {
        label.is_none_or(|t| results.data.labels[i] as usize == t)
            && predicted.is_none_or(|p| results.predictions[i] == p)
    };
    let indices: Vec<usize> = (0..results.data.len()).filter(in_cell).collect();
    let examples: Vec<Value> = indices
        .iter()
        .skip(offset)
        .take(limit)
        .map(|&i| {
            json!({
                "index": i,
                "label": results.data.labels[i],
                "prediction": results.predictions[i],
                "values": floats(&results.data.example(i)),
            })
        })
        .collect();
    Ok(Json(json!({
        "model": model.name,
        "label": label,
        "predicted": predicted,
        "total": indices.len(),
        "offset": offset,
        "shape": shape(results.data.shape),
        "examples": examples,
    })))
}

/// `GET /api/testset/{i}?model=M`
pub async fn example(
    State(app): State<Arc<App>>,
    Path(index): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let (model, results) = model_results(app, &query).await?;
    let n = results.data.len();
    let i = index.parse::<usize>().ok().filter(|&i| i < n).ok_or_else(|| {
        ApiError::not_found(format!(
            "test example '{}': there are examples 0 to {}",
            nndl::shorten(&index, 40),
            n.saturating_sub(1)
        ))
    })?;
    let label = results.data.labels[i] as usize;
    Ok(Json(json!({
        "model": model.name,
        "index": i,
        "label": label,
        "class": model.input.classes.get(label),
        "shape": shape(results.data.shape),
        "values": floats(&results.data.example(i)),
        "prediction": results.predictions[i],
        "output": floats(&results.outputs.row(i).to_vec()),
    })))
}
