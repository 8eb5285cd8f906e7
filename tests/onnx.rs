//! ONNX export checked by the ONNX tools themselves, and the round trip back into nndl.
//!
//! For every kind of architecture (dense nets with each activation, conv nets with valid and
//! same padding, strides, max/average/L2 pooling, dropout and flatten, a colour conv net, RNN,
//! LSTM, stacked recurrent layers, the character model), a model trained briefly by `nndl train`
//! (or built with random weights, where training is not possible: step neurons, colour images)
//! is exported; then, in Python, `onnx.checker.check_model(full_check=True)` passes and ONNX
//! Runtime gives nndl's outputs (within 1e-5) and classes on 1,000 MNIST test images
//! (`tests/onnx/check_ort.py`). network2.py's own `load` and `feedforward` read nndl's
//! network2 JSON the same way. And export → import gives back the same network: the same layers,
//! bit-identical weights, the same accuracy on all 10,000 test images.
//!
//! The Python packages (`tests/onnx/requirements.txt`) are installed by this test into a
//! virtual environment of their own, from PyPI, once: `~/.cache/nndl/onnx-venv-HASH` (the hash of
//! the requirements). Without Python 3 (with venv) or PyPI the test fails and says so.

mod common;

use nndl::cost::Cost;
use nndl::layers::{Init, LayerSpec, Shape, parse_arch};
use nndl::model_io;
use nndl::network::Network;
use nndl::optim::Regulariser;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const EXAMPLES: usize = 1000;
const TOLERANCE: f64 = 1e-5;

/// A venv with the requirements installed, made once per requirements file and reused.
fn python() -> PathBuf {
    static PY: OnceLock<PathBuf> = OnceLock::new();
    PY.get_or_init(|| {
        let req = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/onnx/requirements.txt");
        let text = std::fs::read(&req).unwrap();
        let hash: String = Sha256::digest(&text).iter().take(6).map(|b| format!("{b:02x}")).collect();
        let cache = dirs::cache_dir().unwrap_or_else(std::env::temp_dir).join("nndl");
        let venv = cache.join(format!("onnx-venv-{hash}"));
        let py = venv.join("bin/python");
        if venv.join(".complete").exists() {
            return py;
        }
        std::fs::create_dir_all(&cache).unwrap();
        let fresh = cache.join(format!("onnx-venv-{hash}.{}.tmp", std::process::id()));
        let _ = std::fs::remove_dir_all(&fresh);
        let run = |cmd: &mut Command, what: &str| {
            let out = cmd.output().unwrap_or_else(|e| {
                panic!(
                    "the ONNX tests need Python 3 with venv to {what} ({e}); install python3 and python3-venv"
                )
            });
            assert!(
                out.status.success(),
                "the ONNX tests could not {what}: they install {} from PyPI into a virtual environment; \
                 give this machine Python 3 with venv and access to PyPI.\n{}",
                String::from_utf8_lossy(&text).replace('\n', " "),
                String::from_utf8_lossy(&out.stderr)
            );
        };
        run(Command::new("python3").args(["-m", "venv"]).arg(&fresh), "make a virtual environment");
        run(
            Command::new(fresh.join("bin/pip"))
                .args(["install", "-q", "--disable-pip-version-check", "-r"])
                .arg(&req),
            "install onnx and onnxruntime",
        );
        std::fs::write(fresh.join(".complete"), b"").unwrap();
        // Another process may have finished first; either copy is complete.
        if std::fs::rename(&fresh, &venv).is_err() {
            let _ = std::fs::remove_dir_all(&fresh);
        }
        // A venv's scripts name its folder: the moved one runs through its python directly.
        py
    })
    .clone()
}

fn nndl() -> Command {
    Command::new(env!("CARGO_BIN_EXE_nndl"))
}

fn write_f32(path: &Path, values: &[f32]) {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(path, bytes).unwrap();
}

/// nndl's outputs for `x` (`n` rows), row after row.
fn outputs(net: &Network, x: &[f32], n: usize) -> Vec<f32> {
    let mut ws = net.workspace(0);
    let width = x.len() / n;
    let mut out = Vec::new();
    for chunk in x.chunks(100 * width) {
        let rows = chunk.len() / width;
        let view = ndarray::ArrayView2::from_shape((rows, width), chunk).unwrap();
        out.extend(net.feedforward(&mut ws, view, false).iter());
    }
    out
}

/// The first `n` MNIST test images, one row each.
fn mnist_rows(n: usize) -> Vec<f32> {
    let test = nndl::data::load_test(&common::data_dir()).unwrap();
    (0..n).flat_map(|i| test.example(i)).collect()
}

/// Uniform numbers in [0, 1) (colour images), or one-hot steps of `v` (texts), seeded.
fn random_rows(len: usize, one_hot: Option<usize>) -> Vec<f32> {
    use rand::Rng;
    let mut rng = nndl::seeded_rng(7);
    match one_hot {
        None => (0..len).map(|_| rng.random::<f32>()).collect(),
        Some(v) => {
            let mut x = vec![0.0; len];
            for step in x.chunks_mut(v) {
                step[rng.random_range(0..v)] = 1.0;
            }
            x
        }
    }
}

/// One model of each kind: (name, model file, what its inputs are).
struct Model {
    name: &'static str,
    path: PathBuf,
    /// MNIST images, or random rows (colour images, one-hot text of this alphabet).
    mnist: bool,
    one_hot: Option<usize>,
}

/// Trains (briefly) or builds every model once, in a folder kept for the tests of this file.
fn models() -> &'static (tempfile::TempDir, Vec<Model>) {
    static MODELS: OnceLock<(tempfile::TempDir, Vec<Model>)> = OnceLock::new();
    MODELS.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let mut models = Vec::new();
        let trained: &[(&str, &[&str])] = &[
            ("mlp-sigmoid", &["--layers", "784,30,10", "--eta", "3"]),
            ("mlp-relu-tanh-identity-softmax", &["--arch", "dense 40 relu; dense 20 tanh; dense 16 identity; softmax 10", "--eta", "0.1"]),
            ("mlp-cross-entropy", &["--layers", "784,20,10", "--cost", "cross-entropy", "--eta", "0.5"]),
            ("conv-valid-maxpool", &["--arch", "conv 4 5x5; maxpool 2; dense 20 relu; softmax 10", "--eta", "0.1"]),
            (
                "conv-same-stride-pools-dropout",
                &["--arch", "conv 4 3x3 stride 2 same relu; avgpool 2; conv 6 3x3 same tanh; l2pool 2 stride 1; dropout 0.3; flatten; dense 16 relu; softmax 10", "--eta", "0.05"],
            ),
            ("rnn", &["--arch", "rnn 16; softmax 10", "--optimizer", "adam", "--clip", "1"]),
            ("lstm", &["--arch", "lstm 16; softmax 10", "--optimizer", "adam"]),
            ("stacked-rnn-lstm", &["--arch", "rnn 8; lstm 12; dense 10 sigmoid", "--optimizer", "adam"]),
        ];
        for (name, args) in trained {
            let path = dir.path().join(format!("{name}.safetensors"));
            let out = nndl()
                .args(["train", "--seed", "1", "--epochs", "1", "--train-size", "500", "--validation-size", "0", "-q"])
                .args(*args)
                .arg("--save")
                .arg(&path)
                .output()
                .unwrap();
            assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
            models.push(Model { name, path, mnist: true, one_hot: None });
        }
        // Not trainable (step neurons) or not MNIST (colour): random weights.
        let built: &[(&str, Shape, &str)] = &[
            ("mlp-step", Shape::new(1, 28, 28), "dense 30 sigmoid; dense 10 step"),
            ("conv-rgb", Shape::new(3, 10, 12), "conv 5 3x3 same relu; maxpool 2; conv 4 3x3 sigmoid; avgpool 1; dense 7 tanh; softmax 4"),
        ];
        for &(name, shape, arch) in built {
            let specs = parse_arch(arch, shape).unwrap();
            let net = Network::new(&specs, Cost::Quadratic, Init::Scaled, &mut nndl::seeded_rng(3)).unwrap();
            let path = dir.path().join(format!("{name}.safetensors"));
            let input = nndl::data::source::InputInfo {
                shape,
                classes: nndl::data::numbered_classes(net.out_size()),
                ..nndl::data::source::InputInfo::mnist()
            };
            model_io::save(&net, Some(&input), serde_json::json!({}), &path).unwrap();
            models.push(Model { name, path, mnist: shape == Shape::new(1, 28, 28), one_hot: None });
        }
        // The character model of train-text: an LSTM over one-hot steps, a softmax per step.
        let text = dir.path().join("text.txt");
        std::fs::write(&text, "the quick brown fox jumps over the lazy dog. ".repeat(40)).unwrap();
        let path = dir.path().join("char-lstm.safetensors");
        let out = nndl()
            .arg("train-text")
            .arg(&text)
            .args(["--hidden", "12", "--seq-len", "10", "--epochs", "1", "--seed", "1", "--sample", "5", "--save"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(out.status.success(), "train-text: {}", String::from_utf8_lossy(&out.stderr));
        let (_, info) = model_io::load(&path).unwrap();
        models.push(Model { name: "char-lstm", path, mnist: false, one_hot: Some(info.input().classes.len()) });
        (dir, models)
    })
}

/// The inputs a model is checked on: 1,000 rows.
fn inputs(m: &Model, net: &Network) -> Vec<f32> {
    if m.mnist { mnist_rows(EXAMPLES) } else { random_rows(EXAMPLES * net.in_size(), m.one_hot) }
}

/// How many outputs make one decision: the per-step alphabet of a language model, else all.
fn groups(net: &Network) -> usize {
    match net.specs().last() {
        Some(LayerSpec::TimeDense { outputs, .. }) => *outputs,
        _ => net.out_size(),
    }
}

#[test]
fn every_architecture_runs_in_onnx_runtime_as_in_nndl() {
    let (dir, models) = models();
    let mut cases = Vec::new();
    for m in models {
        let (net, info) = model_io::load(&m.path).unwrap();
        let x = inputs(m, &net);
        let y = outputs(&net, &x, EXAMPLES);
        let onnx = dir.path().join(format!("{}.onnx", m.name));
        std::fs::write(&onnx, nndl::onnx::export(&net, &info).unwrap()).unwrap();
        let (xf, yf) = (dir.path().join(format!("{}.x", m.name)), dir.path().join(format!("{}.y", m.name)));
        write_f32(&xf, &x);
        write_f32(&yf, &y);
        cases.push(serde_json::json!({"name": m.name, "kind": "onnx", "model": onnx, "input": xf,
            "examples": EXAMPLES, "expected": yf, "groups": groups(&net)}));
        // network2.py reads nndl's JSON of the dense sigmoid nets.
        if let Ok(json) = nndl::network2_json::to_json(&net) {
            let path = dir.path().join(format!("{}.network2.json", m.name));
            std::fs::write(&path, json).unwrap();
            cases.push(serde_json::json!({"name": format!("{} (network2.py)", m.name), "kind": "network2",
                "model": path, "input": xf, "examples": EXAMPLES, "expected": yf, "groups": groups(&net)}));
        }
    }
    let manifest = dir.path().join("cases.json");
    std::fs::write(&manifest, serde_json::to_string(&cases).unwrap()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/onnx/check_ort.py");
    let out = Command::new(python()).arg(script).arg(&manifest).output().unwrap();
    assert!(out.status.success(), "check_ort.py failed: {}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let results: Vec<serde_json::Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(results.len(), cases.len(), "{stdout}");
    let mut failures = Vec::new();
    for r in &results {
        eprintln!("{r}");
        let ok = r.get("error").is_none()
            && r["examples"] == EXAMPLES
            && r["max_abs_diff"].as_f64().is_some_and(|d| d <= TOLERANCE)
            && r["class_mismatches"] == 0;
        if !ok {
            failures.push(r.to_string());
        }
    }
    assert!(results.iter().filter(|r| r["name"].as_str().unwrap().contains("network2")).count() >= 2);
    assert!(failures.is_empty(), "not as nndl computes:\n{}", failures.join("\n"));
}

#[test]
fn export_then_import_gives_back_the_same_network() {
    let (_, models) = models();
    let test = nndl::data::load_test(&common::data_dir()).unwrap();
    let reg = Regulariser { lambda: 0.0, l1: 0.0, n: 1 };
    for m in models {
        let (net, info) = model_io::load(&m.path).unwrap();
        let back = nndl::onnx::import(&nndl::onnx::export(&net, &info).unwrap()).unwrap();
        assert_eq!(back.net.specs(), net.specs(), "{}", m.name);
        assert!(
            back.net.params().flat_map(|p| p.iter()).eq(net.params().flat_map(|p| p.iter())),
            "{}: the weights changed",
            m.name
        );
        assert_eq!(back.net.cost, net.cost, "{}", m.name);
        assert_eq!(back.info.input(), info.input(), "{}", m.name);
        assert!(back.notes.is_empty(), "{}: {:?}", m.name, back.notes);
        assert_eq!(back.info.training["imported_from"]["format"], "onnx");
        if m.mnist {
            // The same accuracy to the last image: every output the same.
            let (a, b) = (
                nndl::train::evaluate(&net, &test, &reg, 1),
                nndl::train::evaluate(&back.net, &test, &reg, 1),
            );
            assert_eq!((a.correct, a.total), (b.correct, b.total), "{}", m.name);
            assert_eq!(a.total, 10_000);
        }
        let x = inputs(m, &net);
        assert_eq!(outputs(&back.net, &x, EXAMPLES), outputs(&net, &x, EXAMPLES), "{}", m.name);
    }
}
