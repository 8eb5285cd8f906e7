//! Issue 12: crafted model files. Each is a real model made by `nndl train --save` whose
//! safetensors header was rewritten (the architecture in `__metadata__.nndl`, or the tensor
//! entries), and every command that loads a model (`summary`, `eval`, `predict`, `plot weights`,
//! `plot errors`) must refuse it in one line naming the file: no panic, no abort, no attempt to
//! allocate what the header claims, no output file.

mod common;
mod hostile_support;
use hostile_support::*;

use serde_json::{Value, json};
use std::sync::OnceLock;
use std::time::Duration;

/// Models trained once per test binary: `[784,10,10]`, a small conv net, a small LSTM.
struct Bases {
    mlp: Model,
    conv: Model,
    lstm: Model,
}

fn bases() -> &'static Bases {
    static BASES: OnceLock<Bases> = OnceLock::new();
    BASES.get_or_init(|| Bases {
        mlp: Model::parse(&train_model(&["--layers", "784,10,10"])),
        conv: Model::parse(&train_model(&["--arch", "conv 2 5x5; maxpool 2; dense 10; softmax 10"])),
        lstm: Model::parse(&train_model(&["--arch", "lstm 4; softmax 10"])),
    })
}

fn shape(c: u64, h: u64, w: u64) -> Value {
    json!({ "channels": c, "height": h, "width": w })
}

fn dense(inputs: u64, outputs: u64, activation: &str) -> Value {
    json!({ "kind": "dense", "inputs": inputs, "outputs": outputs, "activation": activation })
}

fn conv(input: Value, filters: u64, kernel: u64, stride: u64, padding: &str) -> Value {
    json!({ "kind": "conv", "input": input, "filters": filters, "kernel": kernel, "stride": stride,
            "padding": padding, "activation": "sigmoid" })
}

fn maxpool(input: Value, size: u64, stride: u64) -> Value {
    json!({ "kind": "pool", "input": input, "pool": "max", "size": size, "stride": stride })
}

fn recurrent(cell: &str, hidden: u64) -> Value {
    json!({ "kind": "recurrent", "cell": cell, "input": shape(1, 28, 28), "hidden": hidden,
            "sequence": false })
}

fn mnist() -> Value {
    shape(1, 28, 28)
}

/// The tensors a file for `arch` must hold (names and shapes as `nndl train --save` writes
/// them), so that a crafted model gets past the comparison of claimed and stored sizes and
/// only its architecture is at fault.
fn params_of(arch: &Value) -> Vec<(String, Vec<u64>)> {
    let mut out = Vec::new();
    let n = |v: &Value| v.as_u64().unwrap();
    for (i, l) in arch.as_array().unwrap().iter().enumerate() {
        let mut add = |name: &str, shape: Vec<u64>| out.push((format!("layers.{i}.{name}"), shape));
        match l["kind"].as_str().unwrap() {
            "dense" => {
                add("weights", vec![n(&l["outputs"]), n(&l["inputs"])]);
                add("biases", vec![n(&l["outputs"])]);
            }
            "conv" => {
                let (f, k) = (n(&l["filters"]), n(&l["kernel"]));
                add("weights", vec![f, n(&l["input"]["channels"]), k, k]);
                add("biases", vec![f]);
            }
            "recurrent" => {
                let gates = if l["cell"] == "lstm" { 4 } else { 1 };
                let h = n(&l["hidden"]);
                add("weights", vec![gates * h, n(&l["input"]["channels"]) * n(&l["input"]["width"])]);
                add("recurrent", vec![gates * h, h]);
                add("biases", vec![gates * h]);
            }
            _ => {}
        }
    }
    out
}

/// `base` with architecture `arch` and zero tensors of exactly the shapes `arch` needs.
fn consistent(base: &Model, arch: Value, cost: &str) -> Model {
    let params = params_of(&arch);
    base.clone().with_arch(arch, cost).with_zero_tensors(&params)
}

/// Runs the five commands on the model `bytes` saved as `name`; each must be refused naming
/// `name`, within `limit`, leaving the model file and the output folder as they were.
fn refused_everywhere(name: &str, bytes: Vec<u8>, limit: Duration) {
    let dir = tempdir();
    let model = dir.path().join(name);
    std::fs::write(&model, &bytes).unwrap();
    let png = dir.path().join("digit.png");
    digit_png(&png, 0);
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let (w, e, c) = (out.join("w.png"), out.join("e.png"), out.join("c.png"));
    let commands: [Vec<&str>; 5] = [
        vec!["summary", s(&model)],
        vec!["eval", s(&model)],
        vec!["predict", s(&model), s(&png)],
        vec!["plot", "weights", s(&model), "-o", s(&w)],
        vec!["plot", "errors", s(&model), "-o", s(&e), "--confusion", s(&c)],
    ];
    let mut problems = Vec::new();
    for args in commands {
        let before = Snapshot::of(&out);
        let run = nndl(&args).cwd(&out).timeout(limit.max(Duration::from_secs(30))).run();
        let mut why: Vec<String> = refusal_problem(&run, &[name]).into_iter().collect();
        if run.elapsed > limit {
            why.push(format!(
                "{}\n  → took {:.1} s (limit {:.0} s)",
                run.describe(),
                run.elapsed.as_secs_f64(),
                limit.as_secs_f64()
            ));
        }
        if let Some(d) = before.diff(&Snapshot::of(&out)) {
            why.push(format!("`{}`: the output folder changed: {d}", args[0]));
        }
        if std::fs::read(&model).unwrap() != bytes {
            why.push(format!("`{}` changed the model file", args[0]));
        }
        problems.extend(why);
    }
    assert_no_problems(name, &problems);
}

macro_rules! crafted {
    ($($(#[$doc:meta])* $name:ident ($limit:expr) => $make:expr;)*) => {$(
        $(#[$doc])*
        #[test]
        fn $name() {
            let b = bases();
            let model: Model = $make(b);
            refused_everywhere(concat!(stringify!($name), ".safetensors"), model.bytes(), $limit);
        }
    )*};
}

const T: Duration = Duration::from_secs(30);

crafted! {
    /// conv kernel 0 (output 2×29×29 by the valid-padding formula, so the chain is consistent).
    conv_kernel_0 (T) => |b: &Bases| consistent(&b.conv,
        json!([conv(mnist(), 2, 0, 1, "valid"), dense(2 * 29 * 29, 10, "softmax")]), "log-likelihood");
    /// conv stride 0 with same padding (the formula divides by stride.max(1): 2×28×28).
    conv_stride_0 (T) => |b: &Bases| consistent(&b.conv,
        json!([conv(mnist(), 2, 5, 0, "same"), dense(2 * 28 * 28, 10, "softmax")]), "log-likelihood");
    /// conv with 0 filters (gives 0×24×24 = nothing to the next layer).
    conv_filters_0 (T) => |b: &Bases| consistent(&b.conv,
        json!([conv(mnist(), 0, 5, 1, "valid"), dense(0, 10, "softmax")]), "log-likelihood");
    /// a 29×29 kernel on a 28×28 input with valid padding.
    conv_kernel_larger_than_input (T) => |b: &Bases| consistent(&b.conv,
        json!([conv(mnist(), 2, 29, 1, "valid"), dense(0, 10, "softmax")]), "log-likelihood");
    /// max pooling of size 0 and stride 0.
    pool_size_0 (T) => |b: &Bases| consistent(&b.conv,
        json!([conv(mnist(), 2, 5, 1, "valid"), maxpool(shape(2, 24, 24), 0, 0), dense(0, 10, "sigmoid"),
               dense(10, 10, "softmax")]), "log-likelihood");
    /// a dense layer of 0 neurons.
    dense_0_outputs (T) => |b: &Bases| consistent(&b.mlp,
        json!([dense(784, 0, "sigmoid"), dense(0, 10, "sigmoid")]), "quadratic");
    /// a dense layer of 10⁹ neurons (3 TB of weights claimed; the file holds 784→10).
    dense_10e9_outputs (T) => |b: &Bases| b.mlp.clone().with_arch(
        json!([dense(784, 1_000_000_000, "sigmoid"), dense(1_000_000_000, 10, "sigmoid")]), "quadratic");
    /// a dense layer of 2⁶⁰ neurons: 784 · 2⁶⁰ weights overflow usize.
    dense_outputs_overflow (T) => |b: &Bases| b.mlp.clone().with_arch(
        json!([dense(784, 1 << 60, "sigmoid"), dense(1 << 60, 10, "sigmoid")]), "quadratic");
    /// an LSTM of 0 hidden units.
    lstm_hidden_0 (T) => |b: &Bases| consistent(&b.lstm,
        json!([recurrent("lstm", 0), dense(0, 10, "softmax")]), "log-likelihood");
    /// an LSTM of 10⁹ hidden units.
    lstm_hidden_10e9 (T) => |b: &Bases| b.lstm.clone().with_arch(
        json!([recurrent("lstm", 1_000_000_000), dense(1_000_000_000, 10, "softmax")]), "log-likelihood");
    /// an RNN of 0 hidden units.
    rnn_hidden_0 (T) => |b: &Bases| consistent(&b.lstm,
        json!([recurrent("rnn", 0), dense(0, 10, "softmax")]), "log-likelihood");
    /// an RNN of 10⁹ hidden units.
    rnn_hidden_10e9 (T) => |b: &Bases| b.lstm.clone().with_arch(
        json!([recurrent("rnn", 1_000_000_000), dense(1_000_000_000, 10, "softmax")]), "log-likelihood");
    /// a conv layer whose input claims 2⁶² channels of 28×28: the input size overflows usize.
    conv_input_channels_overflow (T) => |b: &Bases| b.conv.clone().with_arch(
        json!([conv(shape(1 << 62, 28, 28), 2, 5, 1, "valid"), maxpool(shape(2, 24, 24), 2, 2),
               dense(288, 10, "sigmoid"), dense(10, 10, "softmax")]), "log-likelihood");
    /// a flatten layer whose input (2⁶² + 196)×2×2 wraps around to exactly 784 numbers, in
    /// front of the real 784→10→10 weights: loads and runs today.
    flatten_input_wraps_to_784 (T) => |b: &Bases| b.mlp.clone().shift_layers(1).with_arch(
        json!([{ "kind": "flatten", "input": shape((1 << 62) + 196, 2, 2) },
               dense(784, 10, "sigmoid"), dense(10, 10, "sigmoid")]), "quadratic");
    /// a conv input of 4 × 2³¹ × 2³¹ (its size, 2⁶⁴, wraps to 0; the output claims 2⁶³).
    conv_input_height_width_overflow (T) => |b: &Bases| b.conv.clone().with_arch(
        json!([conv(shape(4, 1 << 31, 1 << 31), 2, 5, 1, "same"), dense(1 << 63, 10, "softmax")]),
        "log-likelihood");
    /// dropout with p = 1.5 in front of the real 784→10→10 weights.
    dropout_p_above_1 (T) => |b: &Bases| b.mlp.clone().shift_layers(1).with_arch(
        json!([{ "kind": "dropout", "input": shape(784, 1, 1), "p": 1.5 },
               dense(784, 10, "sigmoid"), dense(10, 10, "sigmoid")]), "quadratic");
    /// dropout with p = −0.1.
    dropout_p_negative (T) => |b: &Bases| b.mlp.clone().shift_layers(1).with_arch(
        json!([{ "kind": "dropout", "input": shape(784, 1, 1), "p": -0.1 },
               dense(784, 10, "sigmoid"), dense(10, 10, "sigmoid")]), "quadratic");
    /// metadata says 784→30→10 but the tensors are 784→10→10.
    metadata_sizes_disagree_with_tensors (T) => |b: &Bases| b.mlp.clone().with_arch(
        json!([dense(784, 30, "sigmoid"), dense(30, 10, "sigmoid")]), "quadratic");
    /// the header claims the last tensor is 10 × 10,000,000 floats; the file holds 10 × 10.
    tensor_larger_than_file (T) => |b: &Bases| {
        let m = b.mlp.clone();
        let start = m.tensors["layers.1.weights"]["data_offsets"][0].as_u64().unwrap();
        m.with_tensor("layers.1.weights", &[10, 10_000_000], [start, start + 400_000_000])
    };
    /// dense 784→10⁹→10 with every tensor entry claimed at its full size (3 TB), the data
    /// cut short: must be refused fast, without allocating what the header claims.
    huge_consistent_model_truncated (Duration::from_secs(10)) => |b: &Bases| {
        let n: u64 = 1_000_000_000;
        let mut at = 0u64;
        let mut m = b.mlp.clone().with_arch(
            json!([dense(784, n, "sigmoid"), dense(n, 10, "sigmoid")]), "quadratic");
        for (name, shape) in [("layers.0.biases", vec![n]), ("layers.0.weights", vec![n, 784]),
                              ("layers.1.biases", vec![10]), ("layers.1.weights", vec![10, n])] {
            let len = 4 * shape.iter().product::<u64>();
            m = m.with_tensor(name, &shape, [at, at + len]);
            at += len;
        }
        m
    };
}

/// The crafting itself is sound: the bases re-serialised unchanged, and rebuilt with zero
/// tensors from their own architecture, load and describe themselves.
#[test]
fn untouched_rewrite_still_loads() {
    let b = bases();
    let dir = tempdir();
    let rebuilt = |m: &Model| consistent(m, m.nndl["architecture"].clone(), m.nndl["cost"].as_str().unwrap());
    for (name, m) in [
        ("mlp", b.mlp.clone()),
        ("conv", b.conv.clone()),
        ("lstm", b.lstm.clone()),
        ("mlp-zeros", rebuilt(&b.mlp)),
        ("conv-zeros", rebuilt(&b.conv)),
        ("lstm-zeros", rebuilt(&b.lstm)),
    ] {
        let path = dir.path().join(format!("{name}.safetensors"));
        std::fs::write(&path, m.bytes()).unwrap();
        let run = nndl(&["summary", s(&path)]).cwd(dir.path()).run();
        assert_success(&run);
    }
}
