//! `nndl train-text` on a text the test writes.

use std::process::Command;

fn nndl(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_nndl")).args(args).output().unwrap()
}

#[test]
fn the_language_models_loss_falls_and_it_samples_text() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("corpus.txt");
    let words = ["the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "and", "sleeps"];
    let text: Vec<&str> = (0..3000).map(|i| words[(i * 7 + i / 3) % words.len()]).collect();
    std::fs::write(&file, text.join(" ")).unwrap();
    let model = dir.path().join("lm.safetensors");
    let out = nndl(&[
        "train-text",
        file.to_str().unwrap(),
        "--hidden",
        "48",
        "--seq-len",
        "24",
        "--epochs",
        "6",
        "--seed",
        "2",
        "--sample",
        "50",
        "--save",
        model.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let losses: Vec<f64> = stdout
        .lines()
        .filter_map(|l| l.split("loss ").nth(1))
        .map(|l| l.split_whitespace().next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(losses.len(), 6, "{stdout}");
    assert!(losses[5] < 0.6 * losses[0], "loss should fall: {losses:?}");
    assert_eq!(stdout.matches("sample: ").count(), 6);
    assert!(model.exists());
    let summary = nndl(&["summary", model.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&summary.stdout).contains("lstm 48 seq"));
}

#[test]
fn bad_texts_fail_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let same = dir.path().join("same.txt");
    std::fs::write(&same, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa").unwrap();
    let binary = dir.path().join("binary.txt");
    std::fs::write(&binary, [0xff, 0xfe, 0x00, 0x80]).unwrap();
    for (path, word) in [
        (same.to_str().unwrap(), "one distinct"),
        (binary.to_str().unwrap(), "UTF-8"),
        ("/no/such.txt", "such.txt"),
    ] {
        let out = nndl(&["train-text", path]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.lines().count() == 1 && err.contains(word), "{err}");
    }
}
