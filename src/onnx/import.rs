//! ONNX graph → nndl network: the graph is read node by node as a chain of nndl layers.
//!
//! What is read: `Gemm` (any `transB`) or `MatMul` (+ `Add` of a constant bias) as a dense
//! layer (per step on `[N, T, F]`); `Conv` (square kernel, equal strides, no dilation or groups,
//! no padding or nndl's same padding); `MaxPool`, `AveragePool`, `LpPool` (p = 2) and their
//! global forms without padding; `Sigmoid`, `Tanh`, `Relu`, `Softmax` (over the last axis),
//! `LogSoftmax` (read as softmax: same classes, probabilities out), `Greater` 0 + `Cast` (the
//! step); an activation after a max pool or a flatten moves onto the layer of neurons before
//! (σ(max z) = max σ(z)), as PyTorch's `relu(max_pool2d(conv(x)))` is written; `Dropout`;
//! `Flatten`; `Reshape` to a constant shape or to one computed from the input's with `Shape`,
//! `Gather`, `Unsqueeze`, `Concat` (what `x.view(x.size(0), -1)` exports to), and
//! `Constant`, `Identity`; `RNN` and `LSTM` (forward, default activations, no initial states)
//! with the `Transpose` and `Squeeze` around them. Anything else is refused, naming the node.

use super::OnnxError;
use super::proto::tensor_proto::{DataLocation, DataType};
use super::proto::tensor_shape_proto::dimension;
use super::proto::{AttributeProto, ModelProto, NodeProto, TensorProto, type_proto};
use crate::activation::Activation;
use crate::cost::Cost;
use crate::data::numbered_classes;
use crate::data::source::{Format, InputInfo};
use crate::layers::{Cell, Init, LayerSpec, MAX_DIM, MAX_ELEMENTS, Padding, PoolKind, Shape};
use crate::model_io::{FORMAT, ModelInfo, VERSION};
use crate::network::Network;
use prost::Message;
use std::collections::HashMap;

/// An ONNX model read as an nndl network.
pub struct Imported {
    pub net: Network,
    /// What a model file saved from it says: the input and classes (from nndl's metadata, or
    /// guessed from the graph's input), the cost, and `training` (nndl's record, if the model
    /// came from nndl, with where it was imported from).
    pub info: ModelInfo,
    /// What the reader assumed or changed, one sentence each (e.g. LogSoftmax read as softmax).
    pub notes: Vec<String>,
}

/// The layout of an activation in the graph.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Form {
    /// `[N, F]`
    Flat(usize),
    /// `[N, C, H, W]`
    Image(Shape),
    /// `[N, T, F]`
    Seq(usize, usize),
    /// `[T, N, F]`: what ONNX's RNN and LSTM read.
    TimeMajor(usize, usize),
    /// An RNN's `Y`, `[T, 1, N, H]`.
    RnnY(usize, usize),
    /// An RNN's `Y_h`, `[1, N, H]`.
    RnnYh(usize),
    /// `Y` squeezed, `[T, N, H]`.
    RnnYSeq(usize, usize),
}

impl Form {
    /// One example's shape, for a batch-first layout.
    fn shape(self) -> Option<Shape> {
        match self {
            Form::Flat(n) => Some(Shape::flat(n)),
            Form::Image(s) => Some(s),
            Form::Seq(t, f) => Some(Shape::new(1, t, f)),
            _ => None,
        }
    }

    /// The dimensions after the batch, for a batch-first layout.
    fn dims(self) -> Option<Vec<i64>> {
        Some(match self {
            Form::Flat(n) => vec![n as i64],
            Form::Image(s) => vec![s.channels as i64, s.height as i64, s.width as i64],
            Form::Seq(t, f) => vec![t as i64, f as i64],
            _ => return None,
        })
    }

    fn rank(self) -> usize {
        match self {
            Form::Flat(_) => 2,
            Form::Image(_) => 4,
            Form::RnnY(..) => 4,
            _ => 3,
        }
    }
}

/// One dimension of a shape computed in the graph: the batch's, or a number.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Dim {
    Batch,
    Known(i64),
}

/// What a name in the graph holds.
#[derive(Clone, Debug)]
enum Value {
    /// The network's activation (only the live one may be used).
    Act(Form),
    /// An int64 constant or a shape computed from the activation's: a scalar or a list.
    Ints { dims: Vec<Dim>, scalar: bool },
    /// A float constant: its shape and numbers.
    Floats { dims: Vec<usize>, data: Vec<f32> },
    /// Something nndl does not read (another type, a dropout mask, an LSTM's Y_c).
    Other(String),
}

/// A layer read so far, with its parameters in nndl's layout.
struct Read {
    spec: LayerSpec,
    params: Vec<Vec<f32>>,
}

struct Reader {
    values: HashMap<String, Value>,
    /// The live activation's names (two after an RNN: its Y and Y_h, until one is used).
    live: Vec<String>,
    layers: Vec<Read>,
    /// The last layer came from a MatMul and may take an `Add` of its biases.
    open_bias: bool,
    /// A `Greater(z, 0)` waiting for its `Cast` to make a step activation.
    pending_step: Option<String>,
    /// The form of the activation the step compares.
    step_form: Form,
    /// An RNN whose output is not used yet: `sequence` is set by which one is.
    pending_rnn: Option<usize>,
    /// The default domain's opset (Softmax's default axis and Squeeze's axes depend on it).
    opset: i64,
    /// The graph input's batch dimension, when it is a fixed number.
    fixed_batch: Option<i64>,
    notes: Vec<String>,
}

type Fail<'a> = &'a dyn Fn(String) -> OnnxError;

fn attr<'a>(node: &'a NodeProto, name: &str) -> Option<&'a AttributeProto> {
    node.attribute.iter().find(|a| a.name.as_deref() == Some(name))
}

fn attr_int(node: &NodeProto, name: &str, default: i64) -> i64 {
    attr(node, name).and_then(|a| a.i).unwrap_or(default)
}

fn attr_ints(node: &NodeProto, name: &str) -> Option<Vec<i64>> {
    attr(node, name).map(|a| a.ints.clone())
}

fn attr_str(node: &NodeProto, name: &str) -> Option<String> {
    attr(node, name).and_then(|a| a.s.as_ref()).map(|s| String::from_utf8_lossy(s).into_owned())
}

/// Checked element count of `dims` (each ≥ 0), at most [`MAX_ELEMENTS`].
fn count(dims: &[i64]) -> Result<usize, String> {
    let mut n: u128 = 1;
    for &d in dims {
        if d < 0 {
            return Err(format!("a negative dimension in {dims:?}"));
        }
        n = n.saturating_mul(d as u128);
    }
    if n > MAX_ELEMENTS {
        return Err(format!("{n} elements, beyond nndl's limit of 2⁴⁰"));
    }
    Ok(n as usize)
}

/// A tensor's value, if nndl reads its type (float or int64, stored inside the file).
fn tensor_value(t: &TensorProto) -> Result<Value, String> {
    if t.data_location == Some(DataLocation::External as i32) || !t.external_data.is_empty() {
        return Err("its data is in an external file, which nndl does not read; save the model with its weights inside".into());
    }
    let n = count(&t.dims)?;
    let dims: Vec<usize> = t.dims.iter().map(|&d| d as usize).collect();
    let raw = t.raw_data.as_deref();
    let data_type = t.data_type.unwrap_or(0);
    let wrong = |got: usize| format!("{got} numbers stored for the {n} its shape {:?} holds", t.dims);
    if data_type == DataType::Float as i32 {
        let data: Vec<f32> = match raw {
            Some(raw) => {
                if raw.len() != n.saturating_mul(4) {
                    return Err(wrong(raw.len() / 4));
                }
                raw.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
            }
            None if t.float_data.len() == n => t.float_data.clone(),
            None => return Err(wrong(t.float_data.len())),
        };
        Ok(Value::Floats { dims, data })
    } else if data_type == DataType::Int64 as i32 {
        let data: Vec<i64> = match raw {
            Some(raw) => {
                if raw.len() != n.saturating_mul(8) {
                    return Err(wrong(raw.len() / 8));
                }
                raw.chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes"))).collect()
            }
            None if t.int64_data.len() == n => t.int64_data.clone(),
            None => return Err(wrong(t.int64_data.len())),
        };
        if dims.len() > 1 {
            return Ok(Value::Other("an int64 tensor of more than one axis".into()));
        }
        Ok(Value::Ints { dims: data.into_iter().map(Dim::Known).collect(), scalar: dims.is_empty() })
    } else {
        let name = DataType::try_from(data_type).map(|d| d.as_str_name()).unwrap_or("an unknown type");
        Ok(Value::Other(format!("a tensor of {name}")))
    }
}

impl Reader {
    fn get(&self, name: &str, fail: Fail) -> Result<&Value, OnnxError> {
        self.values.get(name).ok_or_else(|| {
            fail(format!("its input '{}' is not made by any node before it", crate::shorten(name, 60)))
        })
    }

    /// The live activation at input `k`, and its form; the RNN output used settles whether
    /// the RNN gives every step or the last.
    fn act(&mut self, node: &NodeProto, k: usize, fail: Fail) -> Result<Form, OnnxError> {
        let name =
            node.input.get(k).filter(|s| !s.is_empty()).ok_or_else(|| fail("an input is missing".into()))?;
        match self.get(name, fail)? {
            Value::Act(form) => {
                let form = *form;
                if !self.live.contains(name) {
                    return Err(fail(
                        "it reads an activation that a later layer has already transformed; nndl reads chains of layers, without branches or skips".into(),
                    ));
                }
                if let Some(i) = self.pending_rnn.take()
                    && let LayerSpec::Recurrent { sequence, .. } = &mut self.layers[i].spec
                {
                    *sequence = matches!(form, Form::RnnY(..));
                }
                Ok(form)
            }
            Value::Other(what) => Err(fail(format!("it reads {what}, which nndl does not use"))),
            _ => Err(fail("it reads a constant where nndl expects the network's activation".into())),
        }
    }

    fn floats(
        &self,
        node: &NodeProto,
        k: usize,
        what: &str,
        fail: Fail,
    ) -> Result<(Vec<usize>, Vec<f32>), OnnxError> {
        let name =
            node.input.get(k).filter(|s| !s.is_empty()).ok_or_else(|| fail(format!("{what} is missing")))?;
        match self.get(name, fail)? {
            Value::Floats { dims, data } => Ok((dims.clone(), data.clone())),
            Value::Act(_) => Err(fail(format!(
                "{what} is computed from the input; nndl needs it constant (an initializer)"
            ))),
            _ => Err(fail(format!("{what} is not a float tensor"))),
        }
    }

    fn ints(
        &self,
        node: &NodeProto,
        k: usize,
        what: &str,
        fail: Fail,
    ) -> Result<(Vec<Dim>, bool), OnnxError> {
        let name =
            node.input.get(k).filter(|s| !s.is_empty()).ok_or_else(|| fail(format!("{what} is missing")))?;
        match self.get(name, fail)? {
            Value::Ints { dims, scalar } => Ok((dims.clone(), *scalar)),
            _ => Err(fail(format!("{what} is not an int64 constant or a shape nndl can compute"))),
        }
    }

    /// Known numbers only (axes, indices).
    fn known(&self, node: &NodeProto, k: usize, what: &str, fail: Fail) -> Result<Vec<i64>, OnnxError> {
        let (dims, _) = self.ints(node, k, what, fail)?;
        dims.iter()
            .map(|d| match d {
                Dim::Known(v) => Ok(*v),
                Dim::Batch => Err(fail(format!("{what} depends on the batch size"))),
            })
            .collect()
    }

    /// Axes given as an attribute (older opsets) or as the second input (opset 13 on).
    fn axes(&self, node: &NodeProto, fail: Fail) -> Result<Option<Vec<i64>>, OnnxError> {
        if let Some(a) = attr_ints(node, "axes") {
            return Ok(Some(a));
        }
        if node.input.get(1).is_some_and(|s| !s.is_empty()) {
            return Ok(Some(self.known(node, 1, "its axes", fail)?));
        }
        Ok(None)
    }

    /// Makes output `k` of `node` the live activation, in `form`.
    fn emit(&mut self, node: &NodeProto, form: Form) {
        if let Some(out) = node.output.first().filter(|s| !s.is_empty()) {
            self.values.insert(out.clone(), Value::Act(form));
            self.live = vec![out.clone()];
        }
        for extra in node.output.iter().skip(1).filter(|s| !s.is_empty()) {
            self.values.insert(extra.clone(), Value::Other(format!("output '{extra}' (not read by nndl)")));
        }
    }

    fn set(&mut self, node: &NodeProto, v: Value) {
        if let Some(out) = node.output.first().filter(|s| !s.is_empty()) {
            self.values.insert(out.clone(), v);
        }
    }

    fn push(&mut self, spec: LayerSpec, params: Vec<Vec<f32>>) {
        self.layers.push(Read { spec, params });
    }

    /// Applies `act` to the neurons of the last layer that has them: directly, or across a
    /// max pool (for a monotone σ) or a flatten (for any elementwise σ) after it.
    fn activate(&mut self, act: Activation, fail: Fail) -> Result<(), OnnxError> {
        let j = self.layers.iter().rposition(|l| l.spec.activation().is_some());
        let Some(j) = j else {
            return Err(fail("an activation with no layer of neurons before it".into()));
        };
        for l in &self.layers[j + 1..] {
            let crosses = match l.spec {
                LayerSpec::Pool { pool: PoolKind::Max, .. } => act.is_monotone(),
                LayerSpec::Flatten { .. } => act != Activation::Softmax,
                _ => false,
            };
            if !crosses {
                return Err(fail(format!(
                    "an activation after a {} layer; nndl applies activations in layers of neurons only",
                    l.spec
                )));
            }
        }
        let spec = &mut self.layers[j].spec;
        match spec {
            LayerSpec::Dense { activation, .. }
            | LayerSpec::Conv { activation, .. }
            | LayerSpec::TimeDense { activation, .. } => {
                if *activation != Activation::Identity {
                    return Err(fail(format!(
                        "a second activation on one layer ({activation} already); nndl's neurons have one"
                    )));
                }
                if act == Activation::Softmax && matches!(spec, LayerSpec::Conv { .. }) {
                    return Err(fail(
                        "softmax over conv feature maps; nndl's softmax is a dense layer".into(),
                    ));
                }
                if let LayerSpec::Dense { activation, .. }
                | LayerSpec::Conv { activation, .. }
                | LayerSpec::TimeDense { activation, .. } = spec
                {
                    *activation = act;
                }
                Ok(())
            }
            _ => unreachable!("layers with activations are dense, conv and per-step dense"),
        }
    }

    fn node(&mut self, node: &NodeProto, index: usize) -> Result<(), OnnxError> {
        let op = node.op_type.clone().unwrap_or_default();
        let name = node.name.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| format!("#{index}"));
        let fail = |why: String| OnnxError::Node { node: name.clone(), op: op.clone(), why };
        let fail: Fail = &fail;
        if let Some(domain) = node.domain.as_deref().filter(|d| !d.is_empty() && *d != "ai.onnx") {
            return Err(fail(format!(
                "an operator of domain '{}', which nndl does not have",
                crate::shorten(domain, 40)
            )));
        }
        let open_bias = std::mem::take(&mut self.open_bias);
        match op.as_str() {
            "Identity" => {
                let v = self.get(node.input.first().map_or("", |s| s), fail)?.clone();
                if let Value::Act(form) = v {
                    self.act(node, 0, fail)?;
                    self.emit(node, form);
                } else {
                    self.set(node, v);
                }
            }
            "Constant" => {
                let v = if let Some(t) = attr(node, "value").and_then(|a| a.t.as_ref()) {
                    tensor_value(t).map_err(fail)?
                } else if let Some(a) = attr(node, "value_float").and_then(|a| a.f) {
                    Value::Floats { dims: vec![], data: vec![a] }
                } else if let Some(a) = attr(node, "value_floats") {
                    Value::Floats { dims: vec![a.floats.len()], data: a.floats.clone() }
                } else if let Some(i) = attr(node, "value_int").and_then(|a| a.i) {
                    Value::Ints { dims: vec![Dim::Known(i)], scalar: true }
                } else if let Some(a) = attr(node, "value_ints") {
                    Value::Ints { dims: a.ints.iter().map(|&i| Dim::Known(i)).collect(), scalar: false }
                } else {
                    Value::Other("a constant of a kind nndl does not read".into())
                };
                self.set(node, v);
            }
            "Shape" => {
                let form = self.act(node, 0, fail)?;
                // Shape does not consume the activation: it stays live.
                let rest = form.dims().ok_or_else(|| fail("the shape of a time-major tensor".into()))?;
                let mut dims = vec![Dim::Batch];
                dims.extend(rest.into_iter().map(Dim::Known));
                let rank = dims.len() as i64;
                let clamp = |v: i64| (if v < 0 { v.saturating_add(rank) } else { v }).clamp(0, rank) as usize;
                let start = clamp(attr_int(node, "start", 0));
                let end = clamp(attr_int(node, "end", rank));
                let dims = if start < end { dims[start..end].to_vec() } else { vec![] };
                self.set(node, Value::Ints { dims, scalar: false });
            }
            "Gather" => {
                let (data, scalar) = self.ints(node, 0, "its data", fail)?;
                if scalar || attr_int(node, "axis", 0) != 0 {
                    return Err(fail("a gather nndl cannot compute (only from a list of dimensions)".into()));
                }
                let (idx, idx_scalar) = self.ints(node, 1, "its indices", fail)?;
                let mut out = Vec::new();
                for i in idx {
                    let Dim::Known(i) = i else {
                        return Err(fail("indices that depend on the batch".into()));
                    };
                    let k = if i < 0 { i.saturating_add(data.len() as i64) } else { i };
                    out.push(
                        *data
                            .get(usize::try_from(k).unwrap_or(usize::MAX))
                            .ok_or_else(|| fail(format!("index {i} out of range")))?,
                    );
                }
                self.set(node, Value::Ints { dims: out, scalar: idx_scalar });
            }
            "Unsqueeze" => {
                let (data, scalar) = self.ints(node, 0, "its data", fail)?;
                let axes = self.axes(node, fail)?;
                if !scalar || axes.as_deref() != Some(&[0]) {
                    return Err(fail("an unsqueeze nndl cannot compute (only a scalar to a list)".into()));
                }
                self.set(node, Value::Ints { dims: data, scalar: false });
            }
            "Concat" => {
                let mut dims = Vec::new();
                for k in 0..node.input.len() {
                    let (d, scalar) = self.ints(node, k, "an input", fail)?;
                    if scalar {
                        return Err(fail("a concatenation of scalars".into()));
                    }
                    dims.extend(d);
                }
                self.set(node, Value::Ints { dims, scalar: false });
            }
            "Cast" => {
                let input = node.input.first().cloned().unwrap_or_default();
                if self.pending_step.as_deref() == Some(input.as_str()) && !input.is_empty() {
                    if attr_int(node, "to", 0) != DataType::Float as i64 {
                        return Err(fail("a step that is not cast to float".into()));
                    }
                    if !self.live.contains(&input) {
                        return Err(fail(
                            "it casts a comparison that is no longer the network's activation".into(),
                        ));
                    }
                    self.pending_step = None;
                    let form = self.step_form;
                    self.activate(Activation::Step, fail)?;
                    self.emit(node, form);
                } else {
                    match self.get(&input, fail)?.clone() {
                        v @ Value::Ints { .. } => self.set(node, v),
                        v @ Value::Floats { .. } if attr_int(node, "to", 0) == DataType::Float as i64 => {
                            self.set(node, v)
                        }
                        _ => {
                            return Err(fail(
                                "a cast nndl does not need (only int64 shapes and the step's Greater)".into(),
                            ));
                        }
                    }
                }
            }
            "Reshape" => {
                let form = self.act(node, 0, fail)?;
                let (target, _) = self.ints(node, 1, "its shape", fail)?;
                let allowzero = attr_int(node, "allowzero", 0) != 0;
                let form = self.reshape(form, &target, allowzero).map_err(fail)?;
                self.emit(node, form);
            }
            "Flatten" => {
                let form = self.act(node, 0, fail)?;
                if attr_int(node, "axis", 1) != 1 {
                    return Err(fail(
                        "flattening from an axis other than 1 (the batch stays first in nndl)".into(),
                    ));
                }
                let shape = form.shape().ok_or_else(|| fail("flattening a time-major tensor".into()))?;
                if !matches!(form, Form::Flat(_)) {
                    self.push(LayerSpec::Flatten { input: shape }, vec![]);
                }
                self.emit(node, Form::Flat(shape.size()));
            }
            "Transpose" => {
                let form = self.act(node, 0, fail)?;
                let perm = attr_ints(node, "perm").unwrap_or_default();
                let form = match (form, perm.as_slice()) {
                    (Form::Seq(t, f), [1, 0, 2]) => Form::TimeMajor(t, f),
                    (Form::RnnYSeq(t, h), [1, 0, 2]) => Form::Seq(t, h),
                    _ => {
                        return Err(fail(format!(
                            "a transpose {perm:?} of a {form:?} tensor; nndl's layers keep the layout of their rows (only the swaps around an RNN are read)"
                        )));
                    }
                };
                self.emit(node, form);
            }
            "Squeeze" => {
                let form = self.act(node, 0, fail)?;
                let axes = self.axes(node, fail)?;
                let form = match (form, axes.as_deref()) {
                    (Form::RnnY(t, h), Some([1])) => Form::RnnYSeq(t, h),
                    (Form::RnnYh(h), Some([0])) => Form::Flat(h),
                    _ => return Err(fail(format!("a squeeze of axes {axes:?} of a {form:?} tensor"))),
                };
                self.emit(node, form);
            }
            "Gemm" => {
                let Form::Flat(n) = self.act(node, 0, fail)? else {
                    return Err(fail("a Gemm on a tensor of more than two axes".into()));
                };
                let alpha = attr(node, "alpha").and_then(|a| a.f).unwrap_or(1.0);
                let beta = attr(node, "beta").and_then(|a| a.f).unwrap_or(1.0);
                if alpha != 1.0 || beta != 1.0 || attr_int(node, "transA", 0) != 0 {
                    return Err(fail(
                        "alpha, beta other than 1 or a transposed input; nndl's dense layer is x·Wᵀ + b"
                            .into(),
                    ));
                }
                let (dims, w) = self.floats(node, 1, "the weights (B)", fail)?;
                let trans = attr_int(node, "transB", 0) != 0;
                let (rows, cols) = match dims.as_slice() {
                    [r, c] => (*r, *c),
                    _ => return Err(fail(format!("weights of shape {dims:?}, not a matrix"))),
                };
                let (inputs, outputs) = if trans { (cols, rows) } else { (rows, cols) };
                if inputs != n {
                    return Err(fail(format!("weights for {inputs} inputs on an activation of {n}")));
                }
                let weights = if trans { w } else { transpose(&w, rows, cols) };
                let biases = if node.input.get(2).is_some_and(|s| !s.is_empty()) {
                    let (dims, b) = self.floats(node, 2, "the biases (C)", fail)?;
                    bias(&dims, b, outputs)
                        .ok_or_else(|| fail(format!("biases of shape {dims:?} for {outputs} outputs")))?
                } else {
                    vec![0.0; outputs]
                };
                self.push(
                    LayerSpec::Dense { inputs, outputs, activation: Activation::Identity },
                    vec![weights, biases],
                );
                self.emit(node, Form::Flat(outputs));
            }
            "MatMul" => {
                let form = self.act(node, 0, fail)?;
                let (dims, w) = self.floats(node, 1, "the weights", fail)?;
                let [inputs, outputs] = dims[..] else {
                    return Err(fail(format!("weights of shape {dims:?}, not a matrix")));
                };
                let weights = transpose(&w, inputs, outputs);
                let biases = vec![0.0; outputs];
                let (spec, form) = match form {
                    Form::Flat(n) if n == inputs => (
                        LayerSpec::Dense { inputs, outputs, activation: Activation::Identity },
                        Form::Flat(outputs),
                    ),
                    Form::Seq(steps, n) if n == inputs => (
                        LayerSpec::TimeDense { steps, inputs, outputs, activation: Activation::Identity },
                        Form::Seq(steps, outputs),
                    ),
                    _ => return Err(fail(format!("weights for {inputs} inputs on a {form:?} activation"))),
                };
                self.push(spec, vec![weights, biases]);
                self.emit(node, form);
                self.open_bias = true;
            }
            "Add" => {
                let k = node.input.iter().position(|i| self.live.contains(i)).ok_or_else(|| {
                    fail("an addition that is not a bias added to the network's activation".into())
                })?;
                let form = self.act(node, k, fail)?;
                let (dims, b) = self.floats(node, 1 - k.min(1), "the bias", fail)?;
                let last = self.layers.last_mut().filter(|_| open_bias);
                let Some(Read { spec, params }) = last else {
                    return Err(fail("an addition that is not the bias of a MatMul right before it".into()));
                };
                let outputs = match *spec {
                    LayerSpec::Dense { outputs, .. } | LayerSpec::TimeDense { outputs, .. } => outputs,
                    _ => unreachable!("open_bias follows a MatMul"),
                };
                params[1] = bias(&dims, b, outputs)
                    .ok_or_else(|| fail(format!("a bias of shape {dims:?} for {outputs} outputs")))?;
                self.emit(node, form);
            }
            "Conv" => self.conv(node, fail)?,
            "MaxPool" | "AveragePool" | "LpPool" | "GlobalMaxPool" | "GlobalAveragePool" | "GlobalLpPool" => {
                self.pool(node, &op, fail)?
            }
            "Dropout" => {
                let form = self.act(node, 0, fail)?;
                let shape = form.shape().ok_or_else(|| fail("dropout on a time-major tensor".into()))?;
                let p = if node.input.get(1).is_some_and(|s| !s.is_empty()) {
                    let (dims, r) = self.floats(node, 1, "the ratio", fail)?;
                    if !dims.is_empty() && dims != [1] {
                        return Err(fail("a ratio that is not one number".into()));
                    }
                    r[0]
                } else {
                    attr(node, "ratio").and_then(|a| a.f).unwrap_or(0.5)
                };
                if node.input.get(2).is_some_and(|s| !s.is_empty()) {
                    return Err(fail(
                        "a training_mode input; nndl's dropout is on while training only".into(),
                    ));
                }
                self.push(LayerSpec::Dropout { input: shape, p }, vec![]);
                self.emit(node, form);
            }
            "Sigmoid" | "Tanh" | "Relu" | "Softmax" | "LogSoftmax" => {
                let form = self.act(node, 0, fail)?;
                let act = match op.as_str() {
                    "Sigmoid" => Activation::Sigmoid,
                    "Tanh" => Activation::Tanh,
                    "Relu" => Activation::Relu,
                    _ => {
                        let rank = form.rank() as i64;
                        let default = if self.opset >= 13 { -1 } else { 1 };
                        let axis = attr_int(node, "axis", default);
                        let axis = if axis < 0 { axis.saturating_add(rank) } else { axis };
                        if axis != rank - 1 {
                            return Err(fail(format!(
                                "a softmax over axis {axis} of {rank}; nndl's is over the last (each example's or step's outputs)"
                            )));
                        }
                        if op == "LogSoftmax" {
                            self.notes.push(format!(
                                "node '{name}' (LogSoftmax) is read as a softmax: the same classes, with probabilities out instead of their logarithms"
                            ));
                        }
                        Activation::Softmax
                    }
                };
                self.activate(act, fail)?;
                self.emit(node, form);
            }
            "Greater" => {
                let form = self.act(node, 0, fail)?;
                let (_, zero) = self.floats(node, 1, "the threshold", fail)?;
                if zero.len() != 1 || zero[0] != 0.0 {
                    return Err(fail("a comparison other than z > 0 (the step activation)".into()));
                }
                let out = node.output.first().cloned().unwrap_or_default();
                self.values.insert(out.clone(), Value::Other("a comparison's booleans".into()));
                self.live = vec![out.clone()];
                self.pending_step = Some(out);
                self.step_form = form;
            }
            "RNN" | "LSTM" => self.recurrent(node, &op, fail)?,
            _ => return Err(fail("an operator nndl does not have".into())),
        }
        Ok(())
    }
}

/// `[rows, cols]` → `[cols, rows]`, row-major.
fn transpose(m: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    (0..rows * cols).map(|k| m[(k % rows) * cols + k / rows]).collect()
}

/// Biases for `n` neurons from a constant of shape `dims`: `n` numbers (in any shape with one
/// axis of n), or one number for all.
fn bias(dims: &[usize], b: Vec<f32>, n: usize) -> Option<Vec<f32>> {
    let ones = dims.iter().filter(|&&d| d != 1).count() <= 1;
    match b.len() {
        len if len == n && ones => Some(b),
        1 => Some(vec![b[0]; n]),
        _ => None,
    }
}

impl Reader {
    /// The form after reshaping `form` to `target` (ONNX's rules: 0 copies an axis unless
    /// `allowzero`, one −1 is inferred). The batch must stay the first axis.
    fn reshape(&self, form: Form, target: &[Dim], allowzero: bool) -> Result<Form, String> {
        let rest = form.dims().ok_or("a reshape of a time-major tensor")?;
        let size: i64 = rest.iter().product();
        let mut input = vec![Dim::Batch];
        input.extend(rest.iter().map(|&d| Dim::Known(d)));
        let mut dims = Vec::new();
        for (i, &d) in target.iter().enumerate() {
            dims.push(match d {
                Dim::Known(0) if !allowzero => *input.get(i).ok_or("a 0 (copy) past the input's axes")?,
                d => d,
            });
        }
        let (&first, rest) = dims.split_first().ok_or("a reshape to a scalar")?;
        let mut known: i64 = 1;
        let mut infer = 0;
        for d in rest {
            match *d {
                Dim::Batch => return Err("a reshape that moves the batch off the first axis".into()),
                Dim::Known(-1) => infer += 1,
                Dim::Known(k) if k >= 1 && k <= MAX_DIM as i64 => known = known.saturating_mul(k),
                Dim::Known(k) => return Err(format!("a reshape to a dimension of {k}")),
            }
        }
        match first {
            Dim::Batch => {}
            Dim::Known(-1) if infer == 0 && known == size => {}
            Dim::Known(b) if Some(b) == self.fixed_batch => {}
            Dim::Known(b) => {
                return Err(format!(
                    "a reshape to {b} examples; nndl keeps the batch size free (export with a dynamic batch axis)"
                ));
            }
        }
        if infer > 1 || (infer == 1 && (known == 0 || size % known != 0)) {
            return Err(format!("a reshape of {size} numbers per example to {target:?}"));
        }
        let out: Vec<usize> = rest
            .iter()
            .map(|d| match *d {
                Dim::Known(-1) => (size / known) as usize,
                Dim::Known(k) => k as usize,
                Dim::Batch => unreachable!("refused above"),
            })
            .collect();
        if out.iter().map(|&d| d as i64).product::<i64>() != size {
            return Err(format!("a reshape of {size} numbers per example to {out:?}"));
        }
        Ok(match out[..] {
            [n] => Form::Flat(n),
            [t, f] => Form::Seq(t, f),
            [c, h, w] => Form::Image(Shape::new(c, h, w)),
            _ => return Err(format!("a reshape to {} axes; nndl's tensors have 2 to 4", out.len() + 1)),
        })
    }

    fn conv(&mut self, node: &NodeProto, fail: Fail) -> Result<(), OnnxError> {
        let form = self.act(node, 0, fail)?;
        let Form::Image(input) = form else {
            return Err(fail(format!(
                "a convolution of a {form:?} tensor; nndl convolves [N, C, H, W] images"
            )));
        };
        let (dims, w) = self.floats(node, 1, "the weights", fail)?;
        let [filters, c, kh, kw] = dims[..] else {
            return Err(fail(format!("weights of shape {dims:?}; a 2-D convolution's are [F, C, k, k]")));
        };
        if c != input.channels || kh != kw {
            return Err(fail(format!(
                "weights of shape {dims:?} on {} channels; nndl's filters are square and span every channel",
                input.channels
            )));
        }
        let kernel = kh;
        if attr_int(node, "group", 1) != 1
            || attr_ints(node, "dilations").is_some_and(|d| d.iter().any(|&x| x != 1))
        {
            return Err(fail("groups or dilations, which nndl's convolution does not have".into()));
        }
        if attr_ints(node, "kernel_shape").is_some_and(|k| k != [kernel as i64, kernel as i64]) {
            return Err(fail("a kernel_shape that disagrees with the weights".into()));
        }
        let stride = square(attr_ints(node, "strides"), "strides").map_err(fail)?;
        let spec = |padding| LayerSpec::Conv {
            input,
            filters,
            kernel,
            stride,
            padding,
            activation: Activation::Identity,
        };
        if let Some(why) = spec(Padding::Same).problem() {
            return Err(fail(why));
        }
        let same =
            super::export::conv_pads(input, kernel, stride, Padding::Same, spec(Padding::Same).out_shape());
        let pads = attr_ints(node, "pads").unwrap_or_else(|| vec![0; 4]);
        let auto = attr_str(node, "auto_pad").unwrap_or_default();
        let padding = match auto.as_str() {
            "VALID" => Padding::Valid,
            "SAME_UPPER" => Padding::Same,
            "SAME_LOWER" if same[0] == same[2] && same[1] == same[3] => Padding::Same,
            "" | "NOTSET" if pads.iter().all(|&p| p == 0) => Padding::Valid,
            "" | "NOTSET" if pads == same => Padding::Same,
            _ => {
                return Err(fail(format!(
                    "padding {pads:?} ({}); nndl pads nothing (valid) or {same:?} (same)",
                    if auto.is_empty() { "NOTSET" } else { &auto }
                )));
            }
        };
        let spec = spec(padding);
        if let Some(why) = spec.problem() {
            return Err(fail(why));
        }
        let biases = if node.input.get(2).is_some_and(|s| !s.is_empty()) {
            let (dims, b) = self.floats(node, 2, "the biases", fail)?;
            bias(&dims, b, filters)
                .ok_or_else(|| fail(format!("biases of shape {dims:?} for {filters} filters")))?
        } else {
            vec![0.0; filters]
        };
        let out = spec.out_shape();
        self.push(spec, vec![w, biases]);
        self.emit(node, Form::Image(out));
        Ok(())
    }

    fn pool(&mut self, node: &NodeProto, op: &str, fail: Fail) -> Result<(), OnnxError> {
        let form = self.act(node, 0, fail)?;
        let Form::Image(input) = form else {
            return Err(fail(format!("pooling a {form:?} tensor; nndl pools [N, C, H, W] images")));
        };
        let kind = match op.trim_start_matches("Global") {
            "MaxPool" => PoolKind::Max,
            "AveragePool" => PoolKind::Average,
            _ => {
                if attr_int(node, "p", 2) != 2 {
                    return Err(fail("an Lp pool with p other than 2; nndl's is L2".into()));
                }
                PoolKind::L2
            }
        };
        let (size, stride) = if op.starts_with("Global") {
            if input.height != input.width {
                return Err(fail(format!("a global pool over {input}; nndl's pools are square")));
            }
            (input.height, input.height)
        } else {
            let size = square(attr_ints(node, "kernel_shape"), "kernel_shape").map_err(fail)?;
            let stride = square(attr_ints(node, "strides"), "strides").map_err(fail)?;
            let auto = attr_str(node, "auto_pad").unwrap_or_default();
            let padded = attr_ints(node, "pads").is_some_and(|p| p.iter().any(|&x| x != 0))
                || !matches!(auto.as_str(), "" | "NOTSET" | "VALID");
            let dilated = attr_ints(node, "dilations").is_some_and(|d| d.iter().any(|&x| x != 1));
            if padded || dilated || attr_int(node, "ceil_mode", 0) != 0 {
                return Err(fail(
                    "padding, dilations or ceil_mode, which nndl's pooling does not have".into(),
                ));
            }
            (size, stride)
        };
        let spec = LayerSpec::Pool { input, pool: kind, size, stride };
        if let Some(why) = spec.problem() {
            return Err(fail(why));
        }
        let out = spec.out_shape();
        self.push(spec, vec![]);
        self.emit(node, Form::Image(out));
        Ok(())
    }

    fn recurrent(&mut self, node: &NodeProto, op: &str, fail: Fail) -> Result<(), OnnxError> {
        let form = self.act(node, 0, fail)?;
        let Form::TimeMajor(steps, features) = form else {
            return Err(fail(format!(
                "an {op} reading a {form:?} tensor; nndl's read [T, N, F] (a batch-first sequence transposed)"
            )));
        };
        let (cell, gates, default) = match op {
            "LSTM" => (Cell::Lstm, 4, &["Sigmoid", "Tanh", "Tanh"][..]),
            _ => (Cell::Rnn, 1, &["Tanh"][..]),
        };
        let hidden = attr_int(node, "hidden_size", 0);
        if hidden < 1 || hidden > MAX_DIM as i64 {
            return Err(fail(format!("hidden_size {hidden}")));
        }
        let hidden = hidden as usize;
        let direction = attr_str(node, "direction").unwrap_or_else(|| "forward".into());
        let acts: Vec<String> = attr(node, "activations")
            .map(|a| a.strings.iter().map(|s| String::from_utf8_lossy(s).into_owned()).collect())
            .unwrap_or_else(|| default.iter().map(|s| s.to_string()).collect());
        let unusual = direction != "forward"
            || acts.iter().map(String::as_str).ne(default.iter().copied())
            || attr(node, "clip").is_some()
            || attr(node, "activation_alpha").is_some()
            || attr(node, "activation_beta").is_some()
            || attr_int(node, "input_forget", 0) != 0
            || attr_int(node, "layout", 0) != 0;
        if unusual {
            return Err(fail(format!(
                "direction, activations, clip, input_forget or layout other than nndl's (forward, {}, no clip)",
                default.join(", ")
            )));
        }
        for (k, what) in [(4, "sequence_lens"), (5, "initial_h"), (6, "initial_c"), (7, "P (peepholes)")] {
            if node.input.get(k).is_some_and(|s| !s.is_empty()) {
                return Err(fail(format!(
                    "an input {what}; nndl's recurrent layers read whole sequences from a zero state, without peepholes"
                )));
            }
        }
        let g = gates * hidden;
        let (wd, w) = self.floats(node, 1, "W", fail)?;
        let (rd, r) = self.floats(node, 2, "R", fail)?;
        if wd != [1, g, features] || rd != [1, g, hidden] {
            return Err(fail(format!(
                "W {wd:?} and R {rd:?}; for {hidden} units on {features} features nndl expects [1, {g}, {features}] and [1, {g}, {hidden}]"
            )));
        }
        let b = if node.input.get(3).is_some_and(|s| !s.is_empty()) {
            let (bd, b) = self.floats(node, 3, "B", fail)?;
            if bd != [1, 2 * g] {
                return Err(fail(format!("B {bd:?}, expected [1, {}]", 2 * g)));
            }
            b[..g].iter().zip(&b[g..]).map(|(wb, rb)| wb + rb).collect()
        } else {
            vec![0.0; g]
        };
        // ONNX's gate blocks i, o, f, c → nndl's i, f, g, o.
        let order: &[usize] = if cell == Cell::Lstm { &[0, 2, 3, 1] } else { &[0] };
        let reorder = |m: &[f32]| -> Vec<f32> {
            let block = m.len() / order.len();
            order.iter().flat_map(|&k| m[k * block..(k + 1) * block].iter().copied()).collect()
        };
        let spec =
            LayerSpec::Recurrent { cell, input: Shape::new(1, steps, features), hidden, sequence: false };
        if let Some(why) = spec.problem() {
            return Err(fail(why));
        }
        self.push(spec, vec![reorder(&w), reorder(&r), reorder(&b)]);
        self.pending_rnn = Some(self.layers.len() - 1);
        self.live.clear();
        for (k, out) in node.output.iter().enumerate().filter(|(_, s)| !s.is_empty()) {
            let v = match k {
                0 => Value::Act(Form::RnnY(steps, hidden)),
                1 => Value::Act(Form::RnnYh(hidden)),
                _ => Value::Other(format!("the {op}'s cell state Y_c")),
            };
            if matches!(v, Value::Act(_)) {
                self.live.push(out.clone());
            }
            self.values.insert(out.clone(), v);
        }
        Ok(())
    }
}

/// One number for both axes of a square attribute (`[s, s]`; absent: 1).
fn square(v: Option<Vec<i64>>, what: &str) -> Result<usize, String> {
    match v.as_deref() {
        None => Ok(1),
        Some(&[a, b]) if a == b && a >= 1 && a <= MAX_DIM as i64 => Ok(a as usize),
        Some(v) => Err(format!("{what} {v:?}; nndl's are the same both ways, from 1 to 2³¹")),
    }
}

/// The layout of the graph's input: `[N, F]`, `[N, T, F]` or `[N, C, H, W]`, N free or fixed.
fn input_form(vi: &super::proto::ValueInfoProto) -> Result<(Form, Option<i64>), OnnxError> {
    let name = vi.name.clone().unwrap_or_default();
    let fail =
        |why: &str| OnnxError::Graph(format!("the graph's input '{}' {why}", crate::shorten(&name, 60)));
    let tensor = match vi.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(type_proto::Value::TensorType(t)) => t,
        _ => return Err(fail("is not a tensor")),
    };
    if tensor.elem_type != Some(DataType::Float as i32) {
        return Err(fail("is not float32 (nndl computes in f32)"));
    }
    let dims = &tensor.shape.as_ref().ok_or_else(|| fail("has no shape"))?.dim;
    let mut sizes = Vec::new();
    for d in dims.iter().skip(1) {
        match d.value {
            Some(dimension::Value::DimValue(v)) if v >= 1 && v <= MAX_DIM as i64 => sizes.push(v as usize),
            _ => return Err(fail("has a dimension after the batch that is not a number from 1 to 2³¹")),
        }
    }
    let batch = match dims.first().and_then(|d| d.value.as_ref()) {
        Some(dimension::Value::DimValue(b)) => Some(*b),
        _ => None,
    };
    let form = match sizes[..] {
        [n] => Form::Flat(n),
        [t, f] => Form::Seq(t, f),
        [c, h, w] => Form::Image(Shape::new(c, h, w)),
        _ => return Err(fail("is not [N, features], [N, T, features] or [N, C, H, W]")),
    };
    if let Some(why) = form.shape().and_then(|s| s.problem()) {
        return Err(fail(&why));
    }
    Ok((form, batch))
}

/// The input a model without nndl's metadata is taken to read: MNIST for 784 features or
/// 1×28×28 (or 28 steps of 28), IDX images for one channel, an image folder's for more, a
/// table's features `x1`, `x2`, … for flat inputs; classes numbered.
fn guess_input(form: Form, classes: usize) -> InputInfo {
    let numbered = numbered_classes(classes);
    let mnist = InputInfo { classes: numbered.clone(), ..InputInfo::mnist() };
    match form {
        Form::Flat(784) | Form::Seq(28, 28) => mnist,
        Form::Image(s) if s == Shape::new(1, 28, 28) => mnist,
        Form::Image(s) if s.channels == 1 => InputInfo { shape: s, ..mnist },
        Form::Image(s) => {
            InputInfo { format: Format::Images, shape: s, image_size: Some((s.height, s.width)), ..mnist }
        }
        Form::Seq(t, f) => InputInfo { shape: Shape::new(1, t, f), ..mnist },
        Form::Flat(n) => InputInfo {
            format: Format::Csv,
            shape: Shape::flat(n),
            features: (1..=n).map(|i| format!("x{i}")).collect(),
            ..mnist
        },
        _ => mnist,
    }
}

/// Reads an ONNX model (the bytes of a `.onnx` file) as an nndl network: see the module doc
/// for what is read. nndl's own exports come back whole (input, classes, cost and training
/// record from the metadata); other models get the input their graph's input suggests,
/// numbered classes, and the cost `nndl train` would choose (log-likelihood for a softmax
/// output, else quadratic).
pub fn import(bytes: &[u8]) -> Result<Imported, OnnxError> {
    let model = ModelProto::decode(bytes).map_err(|e| OnnxError::Decode(e.to_string()))?;
    let graph = model.graph.as_ref().ok_or_else(|| OnnxError::Graph("the model has no graph".into()))?;
    let opset = model
        .opset_import
        .iter()
        .find(|o| matches!(o.domain.as_deref(), None | Some("") | Some("ai.onnx")))
        .and_then(|o| o.version)
        .unwrap_or(super::OPSET);
    let mut r = Reader {
        values: HashMap::new(),
        live: Vec::new(),
        layers: Vec::new(),
        open_bias: false,
        pending_step: None,
        step_form: Form::Flat(1),
        pending_rnn: None,
        opset,
        fixed_batch: None,
        notes: Vec::new(),
    };
    if !graph.sparse_initializer.is_empty() {
        return Err(OnnxError::Graph("the graph has sparse initializers, which nndl does not read".into()));
    }
    for t in &graph.initializer {
        let name = t.name.clone().unwrap_or_default();
        let v = tensor_value(t)
            .map_err(|why| OnnxError::Graph(format!("initializer '{}': {why}", crate::shorten(&name, 60))))?;
        r.values.insert(name, v);
    }
    let inputs: Vec<_> =
        graph.input.iter().filter(|i| !r.values.contains_key(i.name.as_deref().unwrap_or(""))).collect();
    let [input] = inputs[..] else {
        return Err(OnnxError::Graph(format!(
            "the graph has {} inputs; an nndl network has one",
            inputs.len()
        )));
    };
    let (form, batch) = input_form(input)?;
    let input_name = input.name.clone().unwrap_or_default();
    r.fixed_batch = batch;
    r.values.insert(input_name.clone(), Value::Act(form));
    r.live = vec![input_name];
    for (i, node) in graph.node.iter().enumerate() {
        r.node(node, i)?;
    }
    let [output] = &graph.output[..] else {
        return Err(OnnxError::Graph(format!(
            "the graph has {} outputs; an nndl network has one",
            graph.output.len()
        )));
    };
    let out_name = output.name.clone().unwrap_or_default();
    if !r.live.contains(&out_name) {
        return Err(OnnxError::Graph(format!(
            "the graph's output '{}' is not the activation of its last layer",
            crate::shorten(&out_name, 60)
        )));
    }
    if let Some(Value::Act(f)) = r.values.get(&out_name)
        && f.shape().is_none()
    {
        return Err(OnnxError::Graph("the graph ends on a time-major tensor".into()));
    }
    if r.layers.is_empty() {
        return Err(OnnxError::Network("the graph has no layers".into()));
    }
    let specs: Vec<LayerSpec> = r.layers.iter().map(|l| l.spec.clone()).collect();
    let meta: HashMap<&str, &str> =
        model.metadata_props.iter().filter_map(|p| Some((p.key.as_deref()?, p.value.as_deref()?))).collect();
    let output_act = specs.last().and_then(|s| s.activation());
    let default_cost =
        if output_act == Some(Activation::Softmax) { Cost::LogLikelihood } else { Cost::Quadratic };
    let cost = match meta.get(super::META_COST).map(|c| c.parse::<Cost>()) {
        Some(Ok(c)) if output_act.is_some_and(|a| c.check_output(a).is_ok()) => c,
        Some(_) => {
            r.notes.push(format!("the cost in the metadata does not suit the output; using {default_cost}"));
            default_cost
        }
        None => default_cost,
    };
    Network::check(&specs, cost).map_err(|e| OnnxError::Network(e.to_string()))?;
    crate::memory::check(crate::memory::inference_bytes(&specs, 1, 1), "would need")
        .map_err(OnnxError::TooLarge)?;
    let mut net = Network::new(&specs, cost, Init::Scaled, &mut crate::seeded_rng(0))
        .map_err(|e| OnnxError::TooLarge(e.to_string()))?;
    for (i, (layer, read)) in net.layers.iter_mut().zip(&r.layers).enumerate() {
        for (p, v) in layer.params_mut().iter_mut().zip(&read.params) {
            if p.len() != v.len() {
                return Err(OnnxError::Network(format!(
                    "layer {} ({}) has {} numbers where it needs {}",
                    i + 1,
                    read.spec,
                    v.len(),
                    p.len()
                )));
            }
            if !v.iter().all(|x| x.is_finite()) {
                return Err(OnnxError::Graph(format!(
                    "layer {} ({}) holds NaN or infinite weights",
                    i + 1,
                    read.spec
                )));
            }
            p.iter_mut().zip(v).for_each(|(p, v)| *p = *v);
        }
    }

    // What the model reads: nndl's record, if it fits the network, else a guess from the graph.
    let per_step = match specs.last() {
        Some(LayerSpec::TimeDense { outputs, .. }) => *outputs,
        _ => net.out_size(),
    };
    let recorded = meta.get(super::META_INPUT).and_then(|j| serde_json::from_str::<InputInfo>(j).ok());
    let input = match recorded {
        Some(i)
            if i.shape.problem().is_none()
                && i.shape.size() == net.in_size()
                && !i.classes.is_empty()
                && net.out_size() % i.classes.len() == 0 =>
        {
            i
        }
        other => {
            if other.is_some() {
                r.notes.push(
                    "the input recorded in the metadata does not fit the network; guessed from the graph"
                        .into(),
                );
            }
            guess_input(form, per_step)
        }
    };
    let mut training: serde_json::Value =
        meta.get(super::META_TRAINING).and_then(|j| serde_json::from_str(j).ok()).unwrap_or_default();
    if !training.is_object() {
        training = serde_json::json!({});
    }
    training["imported_from"] = serde_json::json!({
        "format": "onnx",
        "producer": model.producer_name.clone().unwrap_or_default(),
        "producer_version": model.producer_version.clone().unwrap_or_default(),
        "opset": opset,
    });
    let info = ModelInfo {
        format: FORMAT.into(),
        version: VERSION,
        architecture: net.specs(),
        cost,
        input: Some(input),
        training,
    };
    Ok(Imported { net, info, notes: r.notes })
}
