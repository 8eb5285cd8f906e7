//! Importing models nndl did not make: PyTorch's `torch.onnx.export` (both of its exporters) of
//! small nets, and network2.py's JSON written here from known numbers. No Python needed: the
//! PyTorch fixtures and their outputs were made once by
//! `tests/fixtures/onnx/make_torch_fixtures.py`.

use nndl::activation::Activation;
use nndl::cost::Cost;
use nndl::layers::LayerSpec;
use nndl::network::Network;
use nndl::onnx::proto::GraphProto;
use nndl::onnx::{OnnxError, import};
use std::path::Path;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/onnx").join(name)).unwrap()
}

fn run(net: &Network, x: &[f32]) -> Vec<f32> {
    let n = x.len() / net.in_size();
    let mut ws = net.workspace(0);
    let x = ndarray::ArrayView2::from_shape((n, net.in_size()), x).unwrap();
    net.feedforward(&mut ws, x, false).iter().copied().collect()
}

/// Imports `NAME.onnx` and checks its outputs on the stored inputs against PyTorch's
/// (`log`: PyTorch gave log-probabilities, nndl gives probabilities).
fn check_torch(onnx: &str, data: &str, log: bool, arch: &str) -> nndl::onnx::Imported {
    let imported = import(&fixture(onnx)).unwrap_or_else(|e| panic!("{onnx}: {e}"));
    let stored: serde_json::Value = serde_json::from_slice(&fixture(data)).unwrap();
    let floats = |k: &str| -> Vec<f32> {
        stored[k].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect()
    };
    let (x, want) = (floats("input"), floats("output"));
    let got = run(&imported.net, &x);
    assert_eq!(got.len(), want.len(), "{onnx}");
    let max =
        got.iter().zip(&want).map(|(g, w)| (g - if log { w.exp() } else { *w }).abs()).fold(0.0f32, f32::max);
    assert!(max <= 1e-5, "{onnx}: outputs differ from PyTorch's by up to {max}");
    let described: Vec<String> = imported.net.specs().iter().map(|s| s.to_string()).collect();
    assert_eq!(described.join("; "), arch, "{onnx}");
    imported
}

#[test]
fn pytorch_mlp_imports_with_its_outputs() {
    let m = check_torch("torch_mlp.onnx", "torch_mlp.json", false, "dense 30 sigmoid; dense 10 sigmoid");
    // 784 inputs: taken for MNIST, with digit classes and nndl train's cost for sigmoid outputs.
    assert_eq!(m.info.input(), nndl::data::source::InputInfo::mnist());
    assert_eq!(m.net.cost, Cost::Quadratic);
    assert_eq!(m.info.training["imported_from"]["producer"], "pytorch");
}

#[test]
fn pytorch_cnn_with_view_and_log_softmax_imports_from_both_exporters() {
    let arch = "conv 4 5x5 relu; maxpool 2; dense 16 relu; softmax 10";
    for onnx in ["torch_cnn.onnx", "torch_cnn_dynamo.onnx"] {
        let m = check_torch(onnx, "torch_cnn.json", true, arch);
        // relu(max_pool(conv(x))) is nndl's conv relu; maxpool
        assert!(matches!(m.net.specs()[0], LayerSpec::Conv { activation: Activation::Relu, .. }));
        assert_eq!(m.net.cost, Cost::LogLikelihood);
        assert!(m.notes.iter().any(|n| n.contains("LogSoftmax")), "{:?}", m.notes);
    }
}

#[test]
fn pytorch_strided_same_padded_pooled_cnn_imports_from_both_exporters() {
    let arch =
        "conv 3 3x3 stride 2 tanh; avgpool 2; conv 5 3x3 same relu; maxpool 2 stride 1; flatten; softmax 10";
    check_torch("torch_cnn_same.onnx", "torch_cnn_same.json", false, arch);
    // the dynamo exporter writes nn.Flatten as a Reshape, which dense takes as it is
    let arch = "conv 3 3x3 stride 2 tanh; avgpool 2; conv 5 3x3 same relu; maxpool 2 stride 1; softmax 10";
    check_torch("torch_cnn_same_dynamo.onnx", "torch_cnn_same.json", false, arch);
}

/// PyTorch's CNN with its graph changed, re-encoded.
fn tampered(change: impl FnOnce(&mut GraphProto)) -> Vec<u8> {
    use prost::Message;
    let mut model = nndl::onnx::proto::ModelProto::decode(&fixture("torch_cnn.onnx")[..]).unwrap();
    change(model.graph.as_mut().unwrap());
    model.encode_to_vec()
}

#[test]
fn what_nndl_does_not_have_is_refused_naming_the_node() {
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            tampered(|g| g.node[2].op_type = Some("Elu".into())),
            "node '/Relu' (Elu): an operator nndl does not have",
        ),
        (
            tampered(|g| {
                let conv = &mut g.node[0];
                conv.attribute.retain(|a| a.name.as_deref() != Some("pads"));
                conv.attribute.push(nndl::onnx::proto::AttributeProto {
                    name: Some("pads".into()),
                    ints: vec![1, 1, 1, 1],
                    r#type: Some(7),
                    ..Default::default()
                });
            }),
            "padding [1, 1, 1, 1] (NOTSET); nndl pads nothing (valid) or [2, 2, 2, 2] (same)",
        ),
        (tampered(|g| g.node[0].domain = Some("com.microsoft".into())), "domain 'com.microsoft'"),
        (tampered(|g| g.input.clear()), "the graph has 0 inputs"),
        (
            tampered(|g| g.output[0].name = Some("/Relu_output_0".into())),
            "is not the activation of its last layer",
        ),
        (fixture("torch_cnn.onnx")[..20_000].to_vec(), "not an ONNX model: the protobuf does not decode"),
        (b"hello".to_vec(), "not an ONNX model"),
    ];
    for (bytes, want) in cases {
        let err = import(&bytes).err().unwrap_or_else(|| panic!("accepted ({want})"));
        let text = err.to_string();
        assert!(text.contains(want), "{text}\n  wanted: {want}");
        assert!(!text.contains('\n') && text.len() < 500, "{text}");
        if want.starts_with("node") {
            assert!(matches!(err, OnnxError::Node { .. }), "{err:?}");
        }
    }
}

/// network2.py's JSON for [2, 2, 1], as its `save` writes it (biases as column vectors).
const NETWORK2: &str = r#"{"sizes": [2, 2, 1],
 "weights": [[[0.5, -1.0], [2.0, 0.25]], [[1.5, -2.0]]],
 "biases": [[[0.1], [-0.3]], [[0.2]]],
 "cost": "CrossEntropyCost"}"#;

#[test]
fn network2_json_from_known_numbers_gives_the_net_computed_by_hand() {
    let net = nndl::network2_json::from_json(NETWORK2).unwrap();
    assert_eq!(net.sizes(), [2, 2, 1]);
    assert_eq!(net.cost, Cost::CrossEntropy);
    let s = |z: f64| 1.0 / (1.0 + (-z).exp());
    for x in [[0.0f64, 0.0], [1.0, 2.0], [-0.7, 0.4]] {
        let h = [s(0.5 * x[0] - 1.0 * x[1] + 0.1), s(2.0 * x[0] + 0.25 * x[1] - 0.3)];
        let want = s(1.5 * h[0] - 2.0 * h[1] + 0.2);
        let got = run(&net, &[x[0] as f32, x[1] as f32])[0];
        assert!((f64::from(got) - want).abs() < 1e-6, "{x:?}: {got} against {want}");
    }
    // and back: the same numbers in the same places
    let again: serde_json::Value =
        serde_json::from_str(&nndl::network2_json::to_json(&net).unwrap()).unwrap();
    let orig: serde_json::Value = serde_json::from_str(NETWORK2).unwrap();
    assert_eq!(again["sizes"], orig["sizes"]);
    assert_eq!(again["biases"], orig["biases"]);
    assert_eq!(again["weights"], orig["weights"]);
    assert_eq!(again["cost"], orig["cost"]);
}

#[test]
fn bad_network2_json_is_refused_naming_the_field() {
    let ragged = NETWORK2.replace("[2.0, 0.25]", "[2.0]");
    for (text, want) in [
        (ragged.as_str(), "weights[0][1] has 1 numbers, expected 2 (sizes[0]): the weights are ragged"),
        (&NETWORK2.replace("CrossEntropyCost", "LogLikelihoodCost"), "\"cost\" must be"),
        (&NETWORK2.replace("[[0.2]]", "[[0.2], [0.3]]"), "biases[1] must be a list of 1 biases"),
        (&NETWORK2.replace("[2, 2, 1]", "[2, 0, 1]"), "\"sizes\" must be whole numbers"),
        (&NETWORK2.replace("0.5", "1e39"), "weights[0][0][0] is beyond f32's range"),
        (&NETWORK2.replace("\"sizes\"", "\"size\""), "no \"sizes\" field"),
        ("{\"sizes\": [2, 2", "not JSON"),
    ] {
        let err = nndl::network2_json::from_json(text).err().unwrap_or_else(|| panic!("accepted: {want}"));
        assert!(err.to_string().contains(want), "{err}\n  wanted: {want}");
    }
    // network2.py has only dense sigmoid layers
    let net = nndl::network::Network::new(
        &nndl::layers::parse_arch("dense 5 relu; dense 2", nndl::layers::Shape::flat(3)).unwrap(),
        Cost::Quadratic,
        nndl::layers::Init::Scaled,
        &mut nndl::seeded_rng(1),
    )
    .unwrap();
    let err = nndl::network2_json::to_json(&net).unwrap_err().to_string();
    assert!(err.contains("layer 1 (dense 5 relu) is not a dense sigmoid layer"), "{err}");
}
