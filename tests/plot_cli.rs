//! `nndl train --plot/--track-gradients` and `nndl plot curves|weights|errors` end to end.

mod common;
use common::data_dir;

use std::path::Path;
use std::process::{Command, Output};

fn nndl(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_nndl"))
        .args(args)
        .env("NNDL_DATA", data_dir())
        .output()
        .expect("the nndl binary runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "panic: {err}");
    out
}

fn ok(args: &[&str]) -> String {
    let out = nndl(args);
    assert!(out.status.success(), "nndl {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn fails(args: &[&str], words: &[&str]) {
    let out = nndl(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "nndl {args:?} should fail");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    for w in words {
        assert!(err.contains(w), "'{w}' missing in: {err}");
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A PNG of at least `min` pixels each way with ink on it.
fn check_png(path: &Path, min: (u32, u32)) {
    let img = image::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).to_rgb8();
    assert!(img.width() >= min.0 && img.height() >= min.1, "{}: {:?}", path.display(), img.dimensions());
    let inked = img.pixels().filter(|p| p.0.iter().any(|&c| c < 200)).count();
    assert!(inked > 1_000, "{}: only {inked} non-white pixels", path.display());
}

#[test]
fn train_plots_curves_and_gradients_then_plot_reads_model_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);
    let (model, metrics, curves) = (p("m.safetensors"), p("m.json"), p("curves.png"));
    let text = ok(&[
        "train",
        "--quiet",
        "--train-size",
        "2000",
        "--validation-size",
        "500",
        "--epochs",
        "2",
        "--seed",
        "1",
        "--layers",
        "784,30,30,10",
        "--cost",
        "cross-entropy",
        "--eta",
        "0.5",
        "--monitor",
        "all",
        "--track-gradients",
        "200",
        "--plot",
        s(&curves),
        "--metrics-json",
        s(&metrics),
        "--save",
        s(&model),
    ]);
    assert!(text.contains("before training: ‖∂C/∂b‖ by layer"), "{text}");
    check_png(&curves, (1200, 400));

    // The metrics file has one norm per layer with biases, before training and after each epoch.
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&metrics).unwrap()).unwrap();
    let initial = json["initial_gradient_norms"].as_array().expect("initial norms");
    assert_eq!(initial.len(), 3);
    assert!(initial.iter().all(|v| v.as_f64().unwrap() > 0.0));
    // Chapter 5: in a sigmoid net the first hidden layer learns slowest at the start.
    assert!(initial[0].as_f64() < initial[1].as_f64(), "{initial:?}");
    for epoch in json["epochs"].as_array().unwrap() {
        assert_eq!(epoch["gradient_norms"].as_array().unwrap().len(), 3);
    }

    let svg = p("again.svg");
    ok(&["plot", "curves", s(&metrics), "-o", s(&svg)]);
    let svg_text = std::fs::read_to_string(&svg).unwrap();
    assert!(svg_text.starts_with("<svg") && svg_text.contains("Speed of learning"));

    let weights = p("w.png");
    let text = ok(&["plot", "weights", s(&model), "-o", s(&weights)]);
    assert!(text.contains("30 neurons") && text.contains("28×28"), "{text}");
    check_png(&weights, (600, 200));

    let (errors, confusion) = (p("e.png"), p("c.png"));
    let text =
        ok(&["plot", "errors", s(&model), "-o", s(&errors), "--confusion", s(&confusion), "--max", "24"]);
    check_png(&errors, (400, 200));
    check_png(&confusion, (500, 500));
    // The accuracy it reports is the one `nndl eval` reports for the same model.
    let eval = ok(&["eval", s(&model)]);
    let line = |t: &str| t.lines().find(|l| l.starts_with("test accuracy")).unwrap().to_string();
    assert_eq!(line(&text), line(&eval));
    assert!(text.contains("most common mistakes"), "{text}");

    // Bad input: one line naming the flag or file, and no file left behind.
    fails(&["plot", "weights", s(&model), "--layer", "9"], &["--layer 9", "3 layers"]);
    fails(&["plot", "weights", s(&model), "-o", s(&p("w.jpg"))], &["--out", "w.jpg", ".png or .svg"]);
    fails(&["plot", "curves", s(&model)], &["m.safetensors"]);
    fails(&["plot", "curves", s(&p("missing.json"))], &["missing.json"]);
    assert!(!p("w.jpg").exists());
}

#[test]
fn bad_plot_flags_fail_before_training() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("curves.gif");
    fails(&["train", "--epochs", "1", "--plot", s(&bad)], &["--plot", "curves.gif", ".png or .svg"]);
    fails(&["train", "--epochs", "1", "--track-gradients", "0"], &["--track-gradients"]);
    let png = dir.path().join("c.png");
    fails(&["train", "--epochs", "1", "--monitor", "none", "--plot", s(&png)], &["--plot", "--monitor none"]);
    let nowhere = dir.path().join("no/such/dir/c.png");
    fails(&["train", "--epochs", "1", "--plot", s(&nowhere)], &["c.png", "cannot write"]);
}
