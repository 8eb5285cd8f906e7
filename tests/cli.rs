//! The `nndl` binary end to end: train, save, eval, predict, and one clear line for bad input.

mod common;
use common::data_dir;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn nndl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nndl"))
        .args(args)
        .env("NNDL_DATA", data_dir())
        .output()
        .expect("the nndl binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Asserts a failure reported as a single `error: …` line containing every one of `words`.
fn assert_clean_error(o: &Output, words: &[&str]) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "should fail; stdout: {}", stdout(o));
    assert!(!err.contains("panicked"), "panic: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(lines.len() == 1 || (lines[0].starts_with("error:") && lines.len() <= 3), "one line: {err}");
    for w in words {
        assert!(err.contains(w), "'{w}' missing in: {err}");
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

const QUICK: [&str; 8] = ["--train-size", "3000", "--validation-size", "500", "--epochs", "1", "--seed", "3"];

#[test]
fn train_save_eval_and_predict() {
    let dir = tempfile::tempdir().unwrap();
    let (model, metrics) = (dir.path().join("m.safetensors"), dir.path().join("m.json"));
    let mut args =
        vec!["train", "--quiet", "--monitor", "all", "--save", s(&model), "--metrics-json", s(&metrics)];
    args.extend(QUICK);
    let out = nndl(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = stdout(&out);
    assert!(
        text.contains("epoch 1/1") && text.contains("training cost") && text.contains("evaluation accuracy"),
        "{text}"
    );
    let test_line =
        text.lines().find(|l| l.starts_with("test accuracy: ")).expect("closing line").to_string();
    let acc: f64 = test_line["test accuracy: ".len()..].split('%').next().unwrap().parse().unwrap();
    assert!(acc > 80.0, "{test_line}");

    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&metrics).unwrap()).unwrap();
    assert_eq!(json["epochs"].as_array().unwrap().len(), 1);
    assert!(json["epochs"][0]["evaluation_accuracy"].as_f64().unwrap() > 0.8);
    assert_eq!(json["training"]["seed"], 3);

    // eval reports the same test accuracy that training ended with.
    let out = nndl(&["eval", s(&model)]);
    assert!(out.status.success());
    assert!(stdout(&out).lines().any(|l| l == test_line), "{} vs {test_line}", stdout(&out));

    let out = nndl(&["summary", s(&model)]);
    assert!(stdout(&out).contains("total parameters: 23860"), "{}", stdout(&out));

    // predict: real test digits written as PNGs come back with their labels (most of them).
    let mnist = nndl::data::load_mnist(&data_dir(), 1, 0).unwrap();
    let mut pngs = Vec::new();
    for i in 0..20 {
        let pixels: Vec<f32> = mnist.test.bytes(i).unwrap().iter().map(|&b| b as f32 / 255.0).collect();
        let path = dir.path().join(format!("digit{i}.png"));
        nndl::image_io::save_grey_png(&path, &pixels, 28, 28).unwrap();
        pngs.push(path);
    }
    let mut args = vec!["predict", s(&model)];
    args.extend(pngs.iter().map(|p| s(p)));
    let out = nndl(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = stdout(&out);
    let mut right = 0;
    for (i, path) in pngs.iter().enumerate() {
        let line = text.lines().find(|l| l.starts_with(s(path))).unwrap_or_else(|| panic!("{text}"));
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(fields.len(), 12, "path, digit, ten activations: {line}");
        right += (fields[1] == mnist.test.labels[i].to_string()) as usize;
    }
    assert!(right >= 16, "{right}/20 right:\n{text}");
}

#[test]
fn the_same_seed_writes_the_same_model_file() {
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<PathBuf> = (0..2).map(|i| dir.path().join(format!("{i}.safetensors"))).collect();
    for f in &files {
        let mut args = vec!["train", "--quiet", "--momentum", "0.3", "--save", s(f)];
        args.extend(QUICK);
        assert!(nndl(&args).status.success());
    }
    assert_eq!(std::fs::read(&files[0]).unwrap(), std::fs::read(&files[1]).unwrap());
}

#[test]
fn bad_flags_fail_in_one_line_before_training() {
    let cases: &[(&[&str], &[&str])] = &[
        (&["--layers", "784,0,10"], &["--layers"]),
        (&["--layers", "100,10"], &["784"]),
        (&["--layers", "784,30,5"], &["10"]),
        (&["--cost", "cross-entropy", "--output", "tanh"], &["--cost", "tanh"]),
        (&["--activation", "step"], &["step", "inference"]),
        (&["--activation", "sigmod"], &["sigmoid"]),
        (&["--eta", "-1"], &["--eta"]),
        (&["--batch-size", "0"], &["--batch-size"]),
        (&["--momentum", "1.5"], &["--momentum"]),
        (&["--schedule", "halve:x"], &["halve"]),
        (&["--schedule", "halve:2", "--validation-size", "0"], &["--schedule", "--validation-size"]),
        (&["--monitor", "accuracy"], &["--monitor"]),
        (&["--train-size", "55000"], &["--train-size", "--validation-size"]),
        (&["--save", "/no/such/folder/m.safetensors"], &["/no/such/folder"]),
    ];
    for (flags, words) in cases {
        let mut args = vec!["train", "--quiet", "--epochs", "1"];
        args.extend_from_slice(flags);
        assert_clean_error(&nndl(&args), words);
    }
}

#[test]
fn divergence_fails_cleanly_and_saves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.safetensors");
    let metrics = dir.path().join("m.json");
    let args = [
        "train",
        "--quiet",
        "--activation",
        "relu",
        "--output",
        "identity",
        "--eta",
        "10",
        "--train-size",
        "1000",
        "--epochs",
        "2",
        "--save",
        s(&model),
        "--metrics-json",
        s(&metrics),
    ];
    assert_clean_error(&nndl(&args), &["diverged", "--eta"]);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "no output file");
}

#[test]
fn bad_data_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"] {
        std::fs::copy(data_dir().join(name), dir.path().join(name)).unwrap();
    }
    // A truncated gzip where the training images should be.
    let real = std::fs::read(data_dir().join("train-images-idx3-ubyte.gz")).unwrap();
    std::fs::write(dir.path().join("train-images-idx3-ubyte.gz"), &real[..real.len() / 3]).unwrap();
    let out = nndl(&["train", "--quiet", "--epochs", "1", "--data", s(dir.path())]);
    assert_clean_error(&out, &["train-images-idx3-ubyte.gz"]);
}

#[test]
fn bad_models_and_images_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.safetensors");
    std::fs::write(&junk, b"\x08\x00\x00\x00\x00\x00\x00\x00{}garbage").unwrap();
    assert_clean_error(&nndl(&["eval", s(&junk)]), &["junk.safetensors"]);
    assert_clean_error(&nndl(&["predict", s(&junk), "x.png"]), &["junk.safetensors"]);

    // A valid model, but not for 28×28 digits.
    let small = dir.path().join("small.safetensors");
    let mut rng = nndl::seeded_rng(1);
    let net = nndl::network::Network::dense(
        &[5, 3, 2],
        nndl::activation::Activation::Sigmoid,
        nndl::activation::Activation::Sigmoid,
        nndl::cost::Cost::Quadratic,
        nndl::layers::Init::Scaled,
        &mut rng,
    )
    .unwrap();
    nndl::model_io::save(&net, None, serde_json::Value::Null, &small).unwrap();
    assert_clean_error(&nndl(&["eval", s(&small)]), &["small.safetensors", "784"]);

    // A good model with a file that is not a PNG.
    let model = dir.path().join("m.safetensors");
    let mut args = vec!["train", "--quiet", "--save", s(&model)];
    args.extend(QUICK);
    assert!(nndl(&args).status.success());
    let not_png = dir.path().join("photo.png");
    std::fs::write(&not_png, b"GIF89a not a png").unwrap();
    assert_clean_error(&nndl(&["predict", s(&model), s(&not_png)]), &["photo.png"]);
    assert_clean_error(&nndl(&["predict", s(&model), "/no/such/digit.png"]), &["digit.png"]);
}

#[test]
fn help_reads_well() {
    let out = nndl(&["train", "--help"]);
    let text = stdout(&out);
    for flag in [
        "--layers",
        "--cost",
        "--activation",
        "--eta",
        "--lambda",
        "--l1",
        "--momentum",
        "--epochs",
        "--batch-size",
        "--init",
        "--schedule",
        "--early-stop",
        "--seed",
        "--save",
        "--metrics-json",
        "--train-size",
        "--validation-size",
        "--data",
    ] {
        assert!(text.contains(flag), "{flag} missing from train --help");
    }
    assert!(stdout(&nndl(&["--help"])).contains("predict"));
}
