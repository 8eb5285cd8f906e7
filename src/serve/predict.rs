//! `POST /api/predict`: a drawing (an image, or grey values) through one model or all, with
//! what every layer computed.

use super::App;
use super::api::{self, ApiError, ApiResult, BodyKind};
use super::models::{Model, kind, shape};
use axum::Json;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use base64::Engine;
use nndl::image_io;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;

/// The JSON request (see docs/serve-api.md).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Request {
    model: Option<String>,
    image: Option<String>,
    pixels: Option<Vec<f32>>,
    width: Option<usize>,
    height: Option<usize>,
    layers: Option<bool>,
}

/// What to read: image bytes, a grey picture of a size, or the input as is.
enum Input {
    Image(Vec<u8>),
    Picture { pixels: Vec<f32>, width: usize, height: usize },
    Raw(Vec<f32>),
}

#[derive(Serialize)]
struct Shaped {
    shape: [usize; 3],
    values: Vec<f32>,
}

#[derive(Serialize)]
struct LayerOut {
    index: usize,
    kind: &'static str,
    shape: [usize; 3],
    z: Option<Vec<f32>>,
    a: Vec<f32>,
}

#[derive(Serialize)]
struct Answer {
    model: String,
    input: Shaped,
    prediction: usize,
    class: String,
    output: Vec<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    layers: Option<Vec<LayerOut>>,
}

#[derive(Serialize)]
pub struct Response {
    results: Vec<Answer>,
    micros: u128,
}

/// `POST /api/predict`
pub async fn route(
    State(app): State<Arc<App>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Response>> {
    let started = std::time::Instant::now();
    let kind = api::body_kind(&headers)?;
    let bytes = api::read_body(&headers, body).await?;
    let (request, input) = match kind {
        BodyKind::Image => {
            let request = Request { model: query.get("model").cloned(), ..Request::default() };
            (request, Input::Image(bytes.to_vec()))
        }
        BodyKind::Json => {
            let mut request: Request = api::parse_json(&bytes)?;
            let input = input_of(&mut request)?;
            if request.model.is_none() {
                request.model = query.get("model").cloned();
            }
            (request, input)
        }
    };
    let models: Vec<Arc<Model>> = match request.model.as_deref() {
        None | Some("*") => {
            let all: Vec<_> = app.models().into_iter().filter(|m| m.reads_images()).collect();
            if all.is_empty() {
                return Err(ApiError::not_found(
                    "no model that reads images is loaded; start nndl serve with one",
                ));
            }
            all
        }
        Some(name) => vec![app.model(Some(name))?],
    };
    let with_layers = request.layers.unwrap_or(true);
    let results = api::inline_or_blocking(is_small(&models, &input), move || {
        models.iter().map(|m| answer(m, &input, with_layers)).collect::<ApiResult<Vec<_>>>()
    })
    .await?;
    Ok(Json(Response { results, micros: started.elapsed().as_micros() }))
}

/// Whether a request is cheap enough to answer on the async thread: models whose forward
/// passes add up to at most [`INLINE_MACS`] multiply-adds (the book's [784,30,10] net is 23,820;
/// a conv net of a few feature maps is over it) and an image of at most [`INLINE_IMAGE_BYTES`]
/// bytes or pixels (a drawing from the page is 2–10 kB; decoding a large photo is real work).
fn is_small(models: &[Arc<Model>], input: &Input) -> bool {
    let image_ok = match input {
        Input::Image(bytes) => bytes.len() <= INLINE_IMAGE_BYTES,
        Input::Picture { pixels, .. } | Input::Raw(pixels) => pixels.len() <= INLINE_IMAGE_BYTES,
    };
    image_ok && models.iter().map(|m| m.macs).sum::<u128>() <= INLINE_MACS
}

/// See [`is_small`].
const INLINE_MACS: u128 = 200_000;
/// See [`is_small`].
const INLINE_IMAGE_BYTES: usize = 64 << 10;

/// The input a JSON request gives: exactly one of `image` and `pixels`.
fn input_of(request: &mut Request) -> ApiResult<Input> {
    match (request.image.take(), request.pixels.take()) {
        (Some(_), Some(_)) => Err(ApiError::bad("give either \"image\" or \"pixels\", not both")),
        (None, None) => Err(ApiError::bad(
            "give \"image\" (a PNG or JPEG, base64) or \"pixels\" (grey values 0..1, ink 1)",
        )),
        (Some(text), None) => {
            let data = match text.split_once(',') {
                Some((head, data)) if head.starts_with("data:") => data,
                _ => &text,
            };
            let bytes = base64::engine::general_purpose::STANDARD.decode(data.trim()).map_err(|e| {
                ApiError::bad(format!("\"image\" is not base64 ({e}); send a PNG or JPEG encoded in base64"))
            })?;
            Ok(Input::Image(bytes))
        }
        (None, Some(pixels)) => match (request.width, request.height) {
            (None, None) => Ok(Input::Raw(pixels)),
            (Some(width), Some(height)) => {
                if width.checked_mul(height) != Some(pixels.len()) {
                    return Err(ApiError::bad(format!(
                        "{} pixels for a {width}×{height} picture; give width × height = {} values",
                        pixels.len(),
                        width.saturating_mul(height)
                    )));
                }
                Ok(Input::Picture { pixels, width, height })
            }
            _ => Err(ApiError::bad("give both \"width\" and \"height\" with \"pixels\", or neither")),
        },
    }
}

/// The input `model` reads for `input`, made as `nndl predict` makes it.
fn model_input(model: &Model, input: &Input) -> ApiResult<Vec<f32>> {
    let name = &model.name;
    if !model.reads_images() {
        return Err(ApiError::bad(format!(
            "model {name} reads table rows, not images; use nndl predict --csv"
        )));
    }
    let s = model.input.shape;
    let image_error = |e: image_io::ImageError| ApiError::bad(format!("model {name}: {e}"));
    match input {
        Input::Image(bytes) => image_io::input_from_bytes(bytes, "image", &model.input).map_err(image_error),
        Input::Picture { pixels, width, height } => {
            if !image_io::is_digit_input(&model.input) {
                return Err(ApiError::bad(format!(
                    "model {name} reads {s} images resized as a whole; send an \"image\", or {} \"pixels\" without width and height",
                    s.size()
                )));
            }
            image_io::digit_from_pixels(pixels, *height, *width, "pixels", s.height, s.width)
                .map_err(image_error)
        }
        Input::Raw(values) if values.len() != s.size() => Err(ApiError::bad(format!(
            "model {name} reads {} numbers ({s}), and {} were given; give {} pixels, or width and height for a picture to fit",
            s.size(),
            values.len(),
            s.size()
        ))),
        Input::Raw(values) => Ok(values.iter().map(|v| if v.is_finite() { *v } else { 0.0 }).collect()),
    }
}

fn answer(model: &Model, input: &Input, with_layers: bool) -> ApiResult<Answer> {
    let x = model_input(model, input)?;
    let (output, values) = nndl::probe::probe(&model.net, &x);
    let prediction = nndl::train::argmax(output.iter().copied());
    let specs = model.net.specs();
    let layers = with_layers.then(|| {
        values
            .into_iter()
            .zip(&specs)
            .enumerate()
            .map(|(index, (v, spec))| LayerOut {
                index,
                kind: kind(spec),
                shape: shape(v.shape),
                z: v.z,
                a: v.a,
            })
            .collect()
    });
    Ok(Answer {
        model: model.name.clone(),
        input: Shaped { shape: shape(model.input.shape), values: x },
        prediction,
        class: model.input.classes.get(prediction).cloned().unwrap_or_else(|| prediction.to_string()),
        output,
        layers,
    })
}
