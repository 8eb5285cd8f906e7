//! nndl network → ONNX graph (see the module doc of [`crate::onnx`] for the mapping).

use super::proto::attribute_proto::AttributeType;
use super::proto::tensor_proto::DataType;
use super::proto::tensor_shape_proto::{Dimension, dimension};
use super::proto::type_proto;
use super::proto::{
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto,
    TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
};
use super::{INPUT_NAME, IR_VERSION, OPSET, OUTPUT_NAME, OnnxError};
use crate::activation::Activation;
use crate::layers::{Cell, LayerSpec, Padding, PoolKind, Shape};
use crate::model_io::ModelInfo;
use crate::network::Network;
use prost::Message;

/// How the tensor flowing between layers is laid out in the graph (always batch first).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Form {
    /// `[N, features]`
    Flat(usize),
    /// `[N, C, H, W]`
    Image(Shape),
    /// `[N, T, F]`
    Seq(usize, usize),
}

impl Form {
    fn dims(self) -> Vec<i64> {
        match self {
            Form::Flat(n) => vec![n as i64],
            Form::Image(s) => vec![s.channels as i64, s.height as i64, s.width as i64],
            Form::Seq(t, f) => vec![t as i64, f as i64],
        }
    }
}

/// The input form a first layer reads: dense `[N, features]`, recurrent and per-step layers
/// `[N, T, F]`, the rest `[N, C, H, W]` (or flat, for a flat input).
fn input_form(first: &LayerSpec) -> Form {
    let shape = first.in_shape();
    match first {
        LayerSpec::Dense { inputs, .. } => Form::Flat(*inputs),
        LayerSpec::Recurrent { input, .. } => Form::Seq(input.height, input.channels * input.width),
        LayerSpec::TimeDense { steps, inputs, .. } => Form::Seq(*steps, *inputs),
        _ if shape.is_flat() => Form::Flat(shape.size()),
        _ => Form::Image(shape),
    }
}

/// The graph being built: nodes in order, initializers, and names made unique.
struct Builder {
    nodes: Vec<NodeProto>,
    inits: Vec<TensorProto>,
    /// The tensor flowing between layers and its layout.
    cur: String,
    form: Form,
    count: usize,
}

fn attr_int(name: &str, v: i64) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Int as i32),
        i: Some(v),
        ..Default::default()
    }
}

fn attr_ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Ints as i32),
        ints: v.to_vec(),
        ..Default::default()
    }
}

/// A float tensor, its numbers as little-endian `raw_data`.
fn tensor_f32(name: &str, dims: &[i64], data: &[f32]) -> TensorProto {
    TensorProto {
        name: Some(name.into()),
        dims: dims.to_vec(),
        data_type: Some(DataType::Float as i32),
        raw_data: Some(data.iter().flat_map(|v| v.to_le_bytes()).collect()),
        ..Default::default()
    }
}

fn tensor_i64(name: &str, data: &[i64]) -> TensorProto {
    TensorProto {
        name: Some(name.into()),
        dims: vec![data.len() as i64],
        data_type: Some(DataType::Int64 as i32),
        raw_data: Some(data.iter().flat_map(|v| v.to_le_bytes()).collect()),
        ..Default::default()
    }
}

/// A float tensor of `dims` with a dynamic batch dimension `N` first.
fn value_info(name: &str, dims: &[i64]) -> ValueInfoProto {
    let mut dim = vec![Dimension { value: Some(dimension::Value::DimParam("N".into())), denotation: None }];
    dim.extend(
        dims.iter().map(|&d| Dimension { value: Some(dimension::Value::DimValue(d)), denotation: None }),
    );
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: Some(DataType::Float as i32),
                shape: Some(TensorShapeProto { dim }),
            })),
            denotation: None,
        }),
        ..Default::default()
    }
}

impl Builder {
    /// Adds a node `op` named `{prefix}.{op}` on `inputs`; returns the name of its first output.
    fn node(&mut self, prefix: &str, op: &str, inputs: &[&str], attrs: Vec<AttributeProto>) -> String {
        self.node_outputs(prefix, op, inputs, attrs, 1).remove(0)
    }

    /// The same with `outputs` outputs.
    fn node_outputs(
        &mut self,
        prefix: &str,
        op: &str,
        inputs: &[&str],
        attribute: Vec<AttributeProto>,
        outputs: usize,
    ) -> Vec<String> {
        self.count += 1;
        // Node names are unique in a graph: a layer's second Transpose is `.transpose.2`.
        let base = format!("{prefix}.{}", op.to_ascii_lowercase());
        let same =
            self.nodes.iter().filter(|n| n.name.as_deref().is_some_and(|m| m.starts_with(&base))).count();
        let name = if same == 0 { base } else { format!("{base}.{}", same + 1) };
        let output: Vec<String> = (0..outputs).map(|k| format!("{name}.{}.out{k}", self.count)).collect();
        self.nodes.push(NodeProto {
            name: Some(name),
            op_type: Some(op.into()),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: output.clone(),
            attribute,
            ..Default::default()
        });
        output
    }

    fn init_f32(&mut self, name: &str, dims: &[i64], data: &[f32]) -> String {
        self.inits.push(tensor_f32(name, dims, data));
        name.to_string()
    }

    fn init_i64(&mut self, name: &str, data: &[i64]) -> String {
        self.inits.push(tensor_i64(name, data));
        name.to_string()
    }

    /// Makes the current tensor `form` (a change of view: nndl's rows are the same numbers in
    /// the same order whatever the layout).
    fn view(&mut self, prefix: &str, form: Form) {
        if self.form == form {
            return;
        }
        let mut shape = vec![0];
        shape.extend(form.dims());
        let target = self.init_i64(&format!("{prefix}.shape"), &shape);
        let cur = self.cur.clone();
        self.cur = self.node(prefix, "Reshape", &[&cur, &target], vec![]);
        self.form = form;
    }

    /// The neurons' σ on the current tensor (softmax over its last axis).
    fn activate(&mut self, prefix: &str, act: Activation) {
        let cur = self.cur.clone();
        self.cur = match act {
            Activation::Identity => return,
            Activation::Sigmoid => self.node(prefix, "Sigmoid", &[&cur], vec![]),
            Activation::Tanh => self.node(prefix, "Tanh", &[&cur], vec![]),
            Activation::Relu => self.node(prefix, "Relu", &[&cur], vec![]),
            Activation::Softmax => self.node(prefix, "Softmax", &[&cur], vec![attr_int("axis", -1)]),
            Activation::Step => {
                // 1 if z > 0 else 0
                let zero = self.init_f32(&format!("{prefix}.zero"), &[], &[0.0]);
                let above = self.node(prefix, "Greater", &[&cur, &zero], vec![]);
                self.node(prefix, "Cast", &[&above], vec![attr_int("to", DataType::Float as i64)])
            }
        };
    }

    fn layer(&mut self, i: usize, spec: &LayerSpec, params: &[&[f32]]) {
        let p = format!("layers.{i}");
        match *spec {
            LayerSpec::Dense { inputs, outputs, activation } => {
                self.view(&p, Form::Flat(inputs));
                let w = self.init_f32(&format!("{p}.weights"), &[outputs as i64, inputs as i64], params[0]);
                let b = self.init_f32(&format!("{p}.biases"), &[outputs as i64], params[1]);
                let cur = self.cur.clone();
                self.cur = self.node(&p, "Gemm", &[&cur, &w, &b], vec![attr_int("transB", 1)]);
                self.form = Form::Flat(outputs);
                self.activate(&p, activation);
            }
            LayerSpec::TimeDense { steps, inputs, outputs, activation } => {
                self.view(&p, Form::Seq(steps, inputs));
                // MatMul takes [N, T, I]·[I, O]: the weights transposed.
                let wt: Vec<f32> =
                    (0..inputs * outputs).map(|k| params[0][(k % outputs) * inputs + k / outputs]).collect();
                let w = self.init_f32(&format!("{p}.weights_t"), &[inputs as i64, outputs as i64], &wt);
                let b = self.init_f32(&format!("{p}.biases"), &[outputs as i64], params[1]);
                let cur = self.cur.clone();
                let z = self.node(&p, "MatMul", &[&cur, &w], vec![]);
                self.cur = self.node(&p, "Add", &[&z, &b], vec![]);
                self.form = Form::Seq(steps, outputs);
                self.activate(&p, activation);
            }
            LayerSpec::Conv { input, filters, kernel, stride, padding, activation } => {
                self.view(&p, Form::Image(input));
                let out = spec.out_shape();
                let pads = conv_pads(input, kernel, stride, padding, out);
                let dims = [filters as i64, input.channels as i64, kernel as i64, kernel as i64];
                let w = self.init_f32(&format!("{p}.weights"), &dims, params[0]);
                let b = self.init_f32(&format!("{p}.biases"), &[filters as i64], params[1]);
                let (k, s) = (kernel as i64, stride as i64);
                let attrs = vec![
                    attr_ints("kernel_shape", &[k, k]),
                    attr_ints("strides", &[s, s]),
                    attr_ints("pads", &pads),
                ];
                let cur = self.cur.clone();
                self.cur = self.node(&p, "Conv", &[&cur, &w, &b], attrs);
                self.form = Form::Image(out);
                self.activate(&p, activation);
            }
            LayerSpec::Pool { input, pool, size, stride } => {
                self.view(&p, Form::Image(input));
                let (k, s) = (size as i64, stride as i64);
                let mut attrs = vec![attr_ints("kernel_shape", &[k, k]), attr_ints("strides", &[s, s])];
                let op = match pool {
                    PoolKind::Max => "MaxPool",
                    PoolKind::Average => "AveragePool",
                    PoolKind::L2 => {
                        attrs.push(attr_int("p", 2));
                        "LpPool"
                    }
                };
                let cur = self.cur.clone();
                self.cur = self.node(&p, op, &[&cur], attrs);
                self.form = Form::Image(spec.out_shape());
            }
            LayerSpec::Dropout { p: ratio, .. } => {
                // A no-op at inference; kept, with its ratio, so that import gives it back.
                let r = self.init_f32(&format!("{p}.ratio"), &[], &[ratio]);
                let cur = self.cur.clone();
                self.cur = self.node(&p, "Dropout", &[&cur, &r], vec![]);
            }
            LayerSpec::Flatten { input } => {
                let cur = self.cur.clone();
                self.cur = self.node(&p, "Flatten", &[&cur], vec![attr_int("axis", 1)]);
                self.form = Form::Flat(input.size());
            }
            LayerSpec::Recurrent { cell, input, hidden, sequence } => {
                let (t, f) = (input.height, input.channels * input.width);
                self.view(&p, Form::Seq(t, f));
                let cur = self.cur.clone();
                let x = self.node(&p, "Transpose", &[&cur], vec![attr_ints("perm", &[1, 0, 2])]);
                let (op, gates) = match cell {
                    Cell::Rnn => ("RNN", 1),
                    Cell::Lstm => ("LSTM", 4),
                };
                let g = gates * hidden;
                let (w, r, b) = onnx_gates(cell, params);
                let w = self.init_f32(&format!("{p}.W"), &[1, g as i64, f as i64], &w);
                let r = self.init_f32(&format!("{p}.R"), &[1, g as i64, hidden as i64], &r);
                let b = self.init_f32(&format!("{p}.B"), &[1, 2 * g as i64], &b);
                let attrs = vec![attr_int("hidden_size", hidden as i64)];
                let mut outs = self.node_outputs(&p, op, &[&x, &w, &r, &b], attrs, 2);
                // Only the output used is named: Y (every step) or Y_h (the last).
                let node = self.nodes.last_mut().expect("just added");
                if sequence {
                    node.output.truncate(1);
                    // Y: [T, 1, N, H] -> [T, N, H] -> [N, T, H]
                    let axes = self.init_i64(&format!("{p}.axes"), &[1]);
                    let y = self.node(&p, "Squeeze", &[&outs[0], &axes], vec![]);
                    self.cur = self.node(&p, "Transpose", &[&y], vec![attr_ints("perm", &[1, 0, 2])]);
                    self.form = Form::Seq(t, hidden);
                } else {
                    node.output[0].clear();
                    // Y_h: [1, N, H] -> [N, H]
                    let axes = self.init_i64(&format!("{p}.axes"), &[0]);
                    let yh = outs.remove(1);
                    self.cur = self.node(&p, "Squeeze", &[&yh, &axes], vec![]);
                    self.form = Form::Flat(hidden);
                }
            }
        }
    }
}

/// Explicit `[top, left, bottom, right]` pads for nndl's padding: none for valid; for same,
/// the zeros nndl adds before the first row and column, and the rest after.
pub(super) fn conv_pads(
    input: Shape,
    kernel: usize,
    stride: usize,
    padding: Padding,
    out: Shape,
) -> [i64; 4] {
    if padding == Padding::Valid {
        return [0; 4];
    }
    let total = |n: usize, o: usize| ((o - 1) * stride + kernel).saturating_sub(n);
    let (th, tw) = (total(input.height, out.height), total(input.width, out.width));
    let (top, left) = (th / 2, tw / 2);
    [top as i64, left as i64, (th - top) as i64, (tw - left) as i64]
}

/// nndl's recurrent parameters as ONNX's W, R and B: LSTM gate blocks i, f, g, o reordered to
/// ONNX's i, o, f, c; the biases as Wb, with Rb zero.
fn onnx_gates(cell: Cell, params: &[&[f32]]) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let order: &[usize] = match cell {
        Cell::Rnn => &[0],
        Cell::Lstm => &[0, 3, 1, 2],
    };
    let reorder = |m: &[f32]| -> Vec<f32> {
        let block = m.len() / (order.len());
        order.iter().flat_map(|&k| m[k * block..(k + 1) * block].iter().copied()).collect()
    };
    let (w, r) = (reorder(params[0]), reorder(params[1]));
    let mut b = reorder(params[2]);
    b.resize(2 * b.len(), 0.0);
    (w, r, b)
}

/// The network and what its file says about it as an ONNX model (see the module doc).
pub fn to_model_proto(net: &Network, info: &ModelInfo) -> ModelProto {
    let specs = net.specs();
    let form = input_form(&specs[0]);
    let mut b = Builder { nodes: Vec::new(), inits: Vec::new(), cur: INPUT_NAME.into(), form, count: 0 };
    for (i, layer) in net.layers.iter().enumerate() {
        let params: Vec<&[f32]> = layer.params().iter().map(|p| &p[..]).collect();
        b.layer(i, &specs[i], &params);
    }
    // The last node's output is the graph's output (an identity output layer ends on its
    // product; a network of layers without nodes cannot end in one: it has no neurons).
    let last = b.cur.clone();
    if let Some(node) = b.nodes.iter_mut().rev().find(|n| n.output.contains(&last)) {
        for o in node.output.iter_mut().filter(|o| **o == last) {
            *o = OUTPUT_NAME.into();
        }
    }
    let input = info.input();
    let arch = specs.iter().map(|s| s.to_string()).collect::<Vec<_>>().join("; ");
    let doc = format!(
        "nndl {}: {arch}. Input '{INPUT_NAME}': {} ({}, {} classes: {}); output '{OUTPUT_NAME}': the last layer's activations.",
        env!("CARGO_PKG_VERSION"),
        input.shape,
        describe_input(&input),
        input.classes.len(),
        crate::shorten(&input.classes.join(", "), 200),
    );
    let meta = |k: &str, v: String| StringStringEntryProto { key: Some(k.into()), value: Some(v) };
    let json = |v: serde_json::Result<String>| v.expect("model info serialises");
    let graph = GraphProto {
        node: b.nodes,
        name: Some("nndl".into()),
        initializer: b.inits,
        doc_string: Some(doc.clone()),
        input: vec![value_info(INPUT_NAME, &form.dims())],
        output: vec![value_info(OUTPUT_NAME, &b.form.dims())],
        ..Default::default()
    };
    ModelProto {
        ir_version: Some(IR_VERSION),
        opset_import: vec![OperatorSetIdProto { domain: Some(String::new()), version: Some(OPSET) }],
        producer_name: Some("nndl".into()),
        producer_version: Some(env!("CARGO_PKG_VERSION").into()),
        doc_string: Some(doc),
        graph: Some(graph),
        metadata_props: vec![
            meta(super::META_VERSION, env!("CARGO_PKG_VERSION").into()),
            meta(super::META_ARCHITECTURE, arch),
            meta(super::META_CLASSES, json(serde_json::to_string(&input.classes))),
            meta(super::META_COST, net.cost.to_string()),
            meta(super::META_INPUT, json(serde_json::to_string(&input))),
            meta(super::META_TRAINING, json(serde_json::to_string(&info.training))),
        ],
        ..Default::default()
    }
}

fn describe_input(input: &crate::data::source::InputInfo) -> &'static str {
    use crate::data::source::Format;
    match input.format {
        Format::Idx => "pixels in [0, 1], ink high, as IDX digits are read",
        Format::Images => "pixels in [0, 1], channels first",
        Format::Csv => "table features, standardised with the figures in nndl.input",
        Format::Text => "one-hot characters, one step per row; the alphabet is the classes",
    }
}

/// `net` as the bytes of an `.onnx` file; `info` is what its model file says (input, classes,
/// cost, training), kept in the metadata. Every nndl network can be exported.
pub fn export(net: &Network, info: &ModelInfo) -> Result<Vec<u8>, OnnxError> {
    let model = to_model_proto(net, info);
    let len = model.encoded_len();
    // Protobuf messages are limited to 2 GiB.
    if len >= i32::MAX as usize {
        return Err(OnnxError::TooLarge(format!(
            "would need a {} ONNX file, beyond protobuf's 2 GiB; ONNX's external data is not supported",
            crate::memory::human(len as u128)
        )));
    }
    Ok(model.encode_to_vec())
}
