//! Saving and loading models: round trips and every way a model file can be wrong.

use nndl::activation::Activation;
use nndl::cost::Cost;
use nndl::layers::Init;
use nndl::model_io::{self, ModelError};
use nndl::network::Network;
use std::collections::HashMap;

fn net(sizes: &[usize], seed: u64) -> Network {
    let mut rng = nndl::seeded_rng(seed);
    Network::dense(sizes, Activation::Tanh, Activation::Softmax, Cost::LogLikelihood, Init::Scaled, &mut rng)
        .unwrap()
}

fn params(net: &Network) -> Vec<f32> {
    net.params().flat_map(|p| p.iter().copied()).collect()
}

#[test]
fn save_then_load_gives_the_same_network() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    let original = net(&[784, 20, 15, 10], 1);
    model_io::save(&original, None, serde_json::json!({"eta": 0.5}), &path).unwrap();
    let (loaded, info) = model_io::load(&path).unwrap();
    assert_eq!(params(&original), params(&loaded));
    assert_eq!(loaded.sizes(), vec![784, 20, 15, 10]);
    assert_eq!(loaded.cost, Cost::LogLikelihood);
    assert_eq!(loaded.output_activation(), Activation::Softmax);
    assert_eq!(info.training["eta"], 0.5);
    // Same outputs for the same input.
    let x = ndarray::Array2::from_shape_fn((3, 784), |(i, j)| ((i * 7 + j) % 13) as f32 / 13.0);
    let (mut ws_original, mut ws_loaded) = (original.workspace(0), loaded.workspace(0));
    assert_eq!(
        original.feedforward(&mut ws_original, x.view(), false),
        loaded.feedforward(&mut ws_loaded, x.view(), false)
    );
    // No temporary file left beside it.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn the_file_is_plain_safetensors_with_documented_names() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    model_io::save(&net(&[4, 3, 2], 2), None, serde_json::Value::Null, &path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut names = st.names();
    names.sort();
    assert_eq!(names, ["layers.0.biases", "layers.0.weights", "layers.1.biases", "layers.1.weights"]);
    assert_eq!(st.tensor("layers.0.weights").unwrap().shape(), [3, 4]);
}

fn expect_err(path: &std::path::Path) -> ModelError {
    let err = model_io::load(path).err().expect("load must fail");
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "message names the file: {msg}");
    assert!(!msg.contains('\n'), "one line: {msg}");
    err
}

#[test]
fn garbage_empty_and_missing_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.safetensors");
    std::fs::write(&garbage, b"this is not a model at all, just some text").unwrap();
    assert!(matches!(expect_err(&garbage), ModelError::Format { .. }));
    let empty = dir.path().join("empty.safetensors");
    std::fs::write(&empty, b"").unwrap();
    assert!(matches!(expect_err(&empty), ModelError::Format { .. }));
    // A header that claims an absurd length must not be trusted.
    let huge = dir.path().join("huge.safetensors");
    std::fs::write(&huge, u64::MAX.to_le_bytes()).unwrap();
    assert!(matches!(expect_err(&huge), ModelError::Format { .. }));
    assert!(matches!(expect_err(&dir.path().join("missing")), ModelError::File(_)));
}

#[test]
fn weights_of_another_architecture_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.safetensors"), dir.path().join("b.safetensors"));
    model_io::save(&net(&[784, 30, 10], 3), None, serde_json::Value::Null, &a).unwrap();
    model_io::save(&net(&[784, 20, 10], 3), None, serde_json::Value::Null, &b).unwrap();
    // Metadata of a (30 hidden) with the tensors of b (20 hidden).
    let (bytes_a, bytes_b) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    let (_, meta_a) = safetensors::SafeTensors::read_metadata(&bytes_a).unwrap();
    let tensors_b = safetensors::SafeTensors::deserialize(&bytes_b).unwrap();
    let mixed = safetensors::serialize(tensors_b.tensors(), meta_a.metadata().clone()).unwrap();
    let path = dir.path().join("mixed.safetensors");
    std::fs::write(&path, mixed).unwrap();
    let err = expect_err(&path);
    assert!(matches!(err, ModelError::Architecture { .. }), "{err}");
    assert!(err.to_string().contains("layers.0.weights"), "{err}");

    // A missing tensor.
    let fewer: Vec<_> = tensors_b.tensors().into_iter().filter(|(n, _)| n != "layers.1.biases").collect();
    let meta_b = safetensors::SafeTensors::read_metadata(&bytes_b).unwrap().1.metadata().clone();
    std::fs::write(&path, safetensors::serialize(fewer, meta_b).unwrap()).unwrap();
    assert!(expect_err(&path).to_string().contains("layers.1.biases is missing"));
}

#[test]
fn broken_metadata_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    let weights = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![1], &[0u8; 4]).unwrap();
    for meta in [
        None,
        Some(HashMap::from([("nndl".to_string(), "{not json".to_string())])),
        Some(HashMap::from([(
            "nndl".to_string(),
            r#"{"format":"other","version":1,"architecture":[],"cost":"quadratic"}"#.to_string(),
        )])),
        Some(HashMap::from([(
            "nndl".to_string(),
            r#"{"format":"nndl-model","version":1,"architecture":[],"cost":"quadratic"}"#.to_string(),
        )])),
    ] {
        let bytes = safetensors::serialize([("x", weights.clone())], meta).unwrap();
        std::fs::write(&path, bytes).unwrap();
        expect_err(&path);
    }
}

#[test]
fn nan_weights_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nan.safetensors");
    let mut n = net(&[6, 4, 3], 4);
    // The second layer's weights, [3, 4]: element [1, 1].
    n.params_mut().nth(2).unwrap()[4 + 1] = f32::NAN;
    model_io::save(&n, None, serde_json::Value::Null, &path).unwrap();
    let err = expect_err(&path);
    assert!(matches!(err, ModelError::NotFinite { ref tensor, .. } if tensor == "layers.1.weights"), "{err}");
}

#[test]
fn saving_into_a_missing_folder_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no/such/folder/m.safetensors");
    let err = model_io::save(&net(&[4, 2], 1), None, serde_json::Value::Null, &path).unwrap_err();
    assert!(err.to_string().contains("m.safetensors"));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
