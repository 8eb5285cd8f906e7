//! The JSON of the book's `network2.py` (`Network.save` / `load`), both ways.
//!
//! ```json
//! {"sizes": [784, 30, 10],
//!  "weights": [[[w_jk, ...], ...], ...],   // per layer [n_out][n_in], as nndl's dense weights
//!  "biases": [[[b_j], ...], ...],          // per layer [n_out][1]: numpy column vectors
//!  "cost": "CrossEntropyCost"}             // or "QuadraticCost"
//! ```
//!
//! network2.py's networks are sigmoid neurons throughout, so only dense sigmoid networks can
//! be written; reading accepts biases as column vectors (as `save` writes them) or flat lists.

use crate::activation::Activation;
use crate::cost::Cost;
use crate::layers::{Init, LayerSpec, MAX_DIM};
use crate::network::Network;
use serde_json::{Value, json};
use thiserror::Error;

/// Why a network cannot be written as network2.py's JSON, or a JSON file read as one. Each
/// message names the field or layer at fault.
#[derive(Debug, Error)]
pub enum Network2Error {
    #[error(
        "layer {index} ({layer}) is not a dense sigmoid layer; network2.py's networks have only those (export to ONNX instead)"
    )]
    NotDenseSigmoid { index: usize, layer: String },
    #[error("the {0} cost has no network2.py equivalent (it has CrossEntropyCost and QuadraticCost)")]
    Cost(Cost),
    #[error("not JSON: {0}")]
    Json(String),
    #[error("{}", crate::shorten(.0, 400))]
    Field(String),
    #[error("the network {0}")]
    Network(String),
}

/// network2.py's JSON for `net`, a dense network of sigmoid neurons (quadratic or
/// cross-entropy cost).
pub fn to_json(net: &Network) -> Result<String, Network2Error> {
    for (i, spec) in net.specs().iter().enumerate() {
        if !matches!(spec, LayerSpec::Dense { activation: Activation::Sigmoid, .. }) {
            return Err(Network2Error::NotDenseSigmoid { index: i + 1, layer: spec.to_string() });
        }
    }
    let cost = match net.cost {
        Cost::Quadratic => "QuadraticCost",
        Cost::CrossEntropy => "CrossEntropyCost",
        c => return Err(Network2Error::Cost(c)),
    };
    // Each f32 as its shortest decimal (0.1, not 0.10000000149011612): the same f32 read back.
    let short = |v: f32| -> f64 { v.to_string().parse().expect("a float's text parses") };
    let sizes = net.sizes();
    let mut weights = Vec::new();
    let mut biases = Vec::new();
    for (l, layer) in net.layers.iter().enumerate() {
        let (n_in, params) = (sizes[l], layer.params());
        weights.push(
            params[0]
                .chunks(n_in)
                .map(|row| row.iter().map(|&w| short(w)).collect())
                .collect::<Vec<Vec<f64>>>(),
        );
        biases.push(params[1].iter().map(|&b| vec![short(b)]).collect::<Vec<_>>());
    }
    let doc = json!({ "sizes": sizes, "weights": weights, "biases": biases, "cost": cost });
    Ok(serde_json::to_string(&doc).expect("numbers serialise"))
}

/// The network network2.py's JSON `text` describes (sigmoid neurons, its cost).
pub fn from_json(text: &str) -> Result<Network, Network2Error> {
    let doc: Value = serde_json::from_str(text).map_err(|e| Network2Error::Json(e.to_string()))?;
    let field = |name: &str| {
        doc.get(name).ok_or_else(|| {
            Network2Error::Field(format!(
                "no \"{name}\" field; network2.py's save writes sizes, weights, biases and cost"
            ))
        })
    };
    let bad = |why: String| Network2Error::Field(why);
    let sizes: Vec<usize> = field("sizes")?
        .as_array()
        .ok_or_else(|| bad("\"sizes\" is not a list".into()))?
        .iter()
        .map(|v| v.as_u64().filter(|&n| n >= 1 && n <= MAX_DIM as u64).map(|n| n as usize))
        .collect::<Option<_>>()
        .ok_or_else(|| bad("\"sizes\" must be whole numbers from 1 to 2³¹".into()))?;
    if sizes.len() < 2 {
        return Err(bad(format!("\"sizes\" {sizes:?} needs an input and at least one layer")));
    }
    let cost = match field("cost")?.as_str() {
        Some("CrossEntropyCost") => Cost::CrossEntropy,
        Some("QuadraticCost") => Cost::Quadratic,
        _ => return Err(bad("\"cost\" must be \"CrossEntropyCost\" or \"QuadraticCost\"".into())),
    };
    let layers = sizes.len() - 1;
    let list = |name: &str| -> Result<&Vec<Value>, Network2Error> {
        let v = field(name)?.as_array().ok_or_else(|| bad(format!("\"{name}\" is not a list")))?;
        if v.len() != layers {
            return Err(bad(format!("\"{name}\" has {} layers, \"sizes\" {sizes:?} has {layers}", v.len())));
        }
        Ok(v)
    };
    let number = |v: &Value, at: &dyn Fn() -> String| -> Result<f32, Network2Error> {
        let x = v.as_f64().ok_or_else(|| bad(format!("{} is not a number", at())))?;
        let x = x as f32;
        if !x.is_finite() {
            return Err(bad(format!("{} is beyond f32's range", at())));
        }
        Ok(x)
    };
    let (weights, biases) = (list("weights")?, list("biases")?);
    let mut params = Vec::new();
    for l in 0..layers {
        let (n_in, n_out) = (sizes[l], sizes[l + 1]);
        let rows = weights[l]
            .as_array()
            .filter(|r| r.len() == n_out)
            .ok_or_else(|| bad(format!("weights[{l}] must be a list of {n_out} rows (sizes[{}])", l + 1)))?;
        let mut w = Vec::new();
        for (j, row) in rows.iter().enumerate() {
            let row = row.as_array().filter(|r| r.len() == n_in).ok_or_else(|| {
                let got = row.as_array().map_or("not a list".to_string(), |r| format!("{} numbers", r.len()));
                bad(format!(
                    "weights[{l}][{j}] has {got}, expected {n_in} (sizes[{l}]): the weights are ragged"
                ))
            })?;
            for (k, v) in row.iter().enumerate() {
                w.push(number(v, &|| format!("weights[{l}][{j}][{k}]"))?);
            }
        }
        let items = biases[l]
            .as_array()
            .filter(|r| r.len() == n_out)
            .ok_or_else(|| bad(format!("biases[{l}] must be a list of {n_out} biases (sizes[{}])", l + 1)))?;
        let mut b = Vec::new();
        for (j, item) in items.iter().enumerate() {
            let v = match item.as_array() {
                Some(col) if col.len() == 1 => &col[0],
                Some(_) => return Err(bad(format!("biases[{l}][{j}] must be one number (or [number])"))),
                None => item,
            };
            b.push(number(v, &|| format!("biases[{l}][{j}]"))?);
        }
        params.push((w, b));
    }
    let mut rng = crate::seeded_rng(0);
    let mut net =
        Network::dense(&sizes, Activation::Sigmoid, Activation::Sigmoid, cost, Init::Scaled, &mut rng)
            .map_err(|e| Network2Error::Network(e.to_string()))?;
    for (layer, (w, b)) in net.layers.iter_mut().zip(params) {
        let p = layer.params_mut();
        p[0].iter_mut().zip(w).for_each(|(p, v)| *p = v);
        p[1].iter_mut().zip(b).for_each(|(p, v)| *p = v);
    }
    Ok(net)
}

/// Whether `bytes` look like JSON (a `{` first, after any white space) rather than protobuf.
pub fn looks_like_json(bytes: &[u8]) -> bool {
    bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}
