//! `nndl export` and `nndl import` from the command line: formats from the extension or
//! `--format`, models that come back usable by `eval`, `predict` and `train --init-from`, and
//! bad files (an operator nndl does not have, ragged JSON weights, a truncated protobuf)
//! refused in one line, leaving no output file.

mod common;
mod hostile_support;
use hostile_support::*;

use std::path::Path;

fn torch_cnn() -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/onnx/torch_cnn.onnx")).unwrap()
}

/// The test accuracy `eval` reports for `model`.
fn accuracy(model: &Path) -> String {
    let run = nndl(&["eval", s(model)]).run();
    assert_success(&run);
    run.stdout.lines().find(|l| l.starts_with("test accuracy")).unwrap().to_string()
}

#[test]
fn export_and_import_through_the_cli() {
    let dir = tempdir();
    let d = |name: &str| dir.path().join(name);
    let model = d("mlp.safetensors");
    let train =
        ["train", "--quiet", "--seed", "1", "--epochs", "1", "--train-size", "1000", "--save", s(&model)];
    assert_success(&nndl(&train).run());

    // ONNX by the extension, network2 JSON by the extension, ONNX to standard output by --format
    assert_success(&nndl(&["export", s(&model), "-o", s(&d("mlp.onnx"))]).run());
    assert_success(&nndl(&["export", s(&model), "--output", s(&d("mlp.json"))]).run());
    let run = nndl(&["export", s(&model), "-o", "-", "--format", "onnx"]).run();
    assert_success(&run);
    // the model on standard output (read as text here, so only its start is compared), the
    // report on standard error
    let onnx = std::fs::read(d("mlp.onnx")).unwrap();
    assert!(
        run.stdout.starts_with(std::str::from_utf8(&onnx[..8]).unwrap()),
        "not the model on standard output"
    );
    assert!(run.stderr.contains("written to standard output"), "{}", run.stderr);
    let json = std::fs::read_to_string(d("mlp.json")).unwrap();
    assert!(json.starts_with("{\"") && json.contains("\"QuadraticCost\""), "{}", &json[..100]);

    // Both come back as models eval scores exactly as the original.
    assert_success(&nndl(&["import", s(&d("mlp.onnx")), "-o", s(&d("from-onnx.safetensors"))]).run());
    assert_success(&nndl(&["import", s(&d("mlp.json")), "-o", s(&d("from-json.safetensors"))]).run());
    let want = accuracy(&model);
    assert_eq!(accuracy(&d("from-onnx.safetensors")), want);
    assert_eq!(accuracy(&d("from-json.safetensors")), want);

    // A PyTorch model: imported, then predicted with, then fine-tuned from its weights (a
    // step too small to change them scores as the imported model; a random start would not).
    std::fs::write(d("torch.onnx"), torch_cnn()).unwrap();
    let run = nndl(&["import", s(&d("torch.onnx")), "-o", s(&d("torch.safetensors"))]).run();
    assert_success(&run);
    assert!(
        run.stdout.contains("conv 4 5x5 relu → maxpool 2 → dense 16 relu → softmax 10"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains("note: node '/LogSoftmax' (LogSoftmax) is read as a softmax"),
        "{}",
        run.stderr
    );
    let digits = nndl::data::load_test(&common::data_dir()).unwrap();
    let png = d("digit.png");
    let pixels: Vec<u8> = digits.bytes(0).unwrap().to_vec();
    image::GrayImage::from_raw(28, 28, pixels).unwrap().save(&png).unwrap();
    assert_success(&nndl(&["predict", s(&d("torch.safetensors")), s(&png)]).run());
    let tuned = d("tuned.safetensors");
    let torch = d("torch.safetensors");
    let fine = "train --quiet --seed 1 --epochs 1 --train-size 100 --eta 1e-30 --init-from";
    let mut fine: Vec<&str> = fine.split(' ').collect();
    fine.extend([s(&torch), "--save", s(&tuned)]);
    assert_success(&nndl(&fine).run());
    assert_eq!(accuracy(&tuned), accuracy(&d("torch.safetensors")));
}

#[test]
fn bad_files_and_flags_are_refused_in_one_line_leaving_nothing() {
    let dir = tempdir();
    let d = |name: &str| dir.path().join(name);
    let mut cnn = torch_cnn();
    // an operator nndl does not have: the first Relu's type renamed in place (same length)
    let at = cnn.windows(6).position(|w| w == b"\x22\x04Relu").expect("a Relu node") + 2;
    cnn[at..at + 4].copy_from_slice(b"Selu");
    std::fs::write(d("selu.onnx"), &cnn).unwrap();
    std::fs::write(d("truncated.onnx"), &torch_cnn()[..10_000]).unwrap();
    let ragged = r#"{"sizes": [2, 2, 1], "weights": [[[0.5, -1.0], [2.0]], [[1.5, -2.0]]],
                     "biases": [[[0.1], [-0.3]], [[0.2]]], "cost": "QuadraticCost"}"#;
    std::fs::write(d("ragged.json"), ragged).unwrap();
    std::fs::write(d("model.safetensors"), b"not a model").unwrap();
    let out = d("out.safetensors");
    let [selu, truncated, ragged, missing, model, out_onnx, out_bin] = [
        "selu.onnx",
        "truncated.onnx",
        "ragged.json",
        "missing.onnx",
        "model.safetensors",
        "out.onnx",
        "out.bin",
    ]
    .map(|n| d(n).display().to_string());
    let cases: &[(&[&str], &[&str])] = &[
        (&["import", &selu, "-o", s(&out)], &["selu.onnx", "(Selu)", "an operator nndl does not have"]),
        (&["import", &truncated, "-o", s(&out)], &["truncated.onnx", "not an ONNX model"]),
        (&["import", &ragged, "-o", s(&out)], &["ragged.json", "weights[0][1]", "ragged"]),
        (&["import", &missing, "-o", s(&out)], &["missing.onnx"]),
        (&["export", &model, "-o", &out_onnx], &["model.safetensors"]),
        (&["export", &model, "-o", &out_bin], &["--format"]),
        (&["export", &model, "-o", "-"], &["--format"]),
        (&["export", &model, "-o", s(&out), "--format", "tflite"], &["tflite"]),
    ];
    let before = Snapshot::of(dir.path());
    let mut problems = Vec::new();
    for (args, words) in cases {
        let run = nndl(args).run();
        problems.extend(refusal_problem(&run, words));
    }
    assert_no_problems("bad files", &problems);
    assert_unchanged(dir.path(), &before, &nndl(&["--version"]).run());
}
