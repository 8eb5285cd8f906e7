//! Issue 12: the CLI against hostile flags and data. Flags are checked before any I/O (an empty
//! `--data` folder stays empty, nothing is downloaded), memory is estimated before allocating,
//! data of another image size and an empty test set are refused, `--threads` and
//! `--batch-size` are capped, long `--arch` texts are not echoed back in full, and `predict`
//! reports the good images when one is bad. Every refusal meets the contract of
//! `hostile_support::refusal_problem`.

mod common;
mod hostile_support;
use hostile_support::*;

use std::path::Path;

/// Fails unless `dir` is still empty (no download, no temporary file).
#[track_caller]
fn assert_empty(dir: &Path, run: &Run) {
    let names = Snapshot::of(dir).names();
    assert!(
        names.is_empty(),
        "{} should stay empty, holds {names:?}\nafter {}",
        dir.display(),
        run.describe()
    );
}

/// Fails if the run talked about downloading (it must not even try).
#[track_caller]
fn assert_no_download(run: &Run) {
    let text = format!("{}{}", run.stdout, run.stderr).to_lowercase();
    for w in ["download", "mirror"] {
        assert!(!text.contains(w), "the run mentions '{w}': {}", run.describe());
    }
}

/// `train` with `flags`, plus quick defaults for whatever `flags` does not set, reading MNIST
/// from `data`.
fn train_args(flags: &[&str], data: &Path) -> Vec<String> {
    let mut args: Vec<String> = vec!["train".into(), "--quiet".into(), "--data".into(), s(data).into()];
    args.extend(flags.iter().map(|f| f.to_string()));
    for (flag, value) in [("--epochs", "1"), ("--seed", "1"), ("--train-size", "1000")] {
        if !flags.contains(&flag) {
            args.extend([flag.to_string(), value.to_string()]);
        }
    }
    args
}

/// A small English text for `train-text`.
fn write_text(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("book.txt");
    let text = "The quick brown fox jumps over the lazy dog; the dog sleeps on, and the fox runs off.\n";
    std::fs::write(&path, text.repeat(40)).unwrap();
    path
}

/// `train-text FILE` with `flags`, plus small and quick defaults for whatever `flags` does not set.
fn text_args(file: &Path, flags: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = vec!["train-text".into(), s(file).into()];
    args.extend(flags.iter().map(|f| f.to_string()));
    for (flag, value) in [
        ("--epochs", "1"),
        ("--seed", "1"),
        ("--sample", "10"),
        ("--hidden", "8"),
        ("--seq-len", "8"),
        ("--batch-size", "4"),
    ] {
        if !flags.contains(&flag) {
            args.extend([flag.to_string(), value.to_string()]);
        }
    }
    args
}

/// `train FLAGS --data EMPTY` must be refused naming `words`, before any I/O: EMPTY stays
/// empty, nothing is downloaded, nothing is written in the working folder.
fn train_refused_before_io(flags: &[&str], words: &[&str]) {
    let (data, work) = (tempdir(), tempdir());
    let run = nndl(&train_args(flags, data.path())).data(data.path()).cwd(work.path()).run();
    assert_refused(&run, words);
    assert_empty(data.path(), &run);
    assert_empty(work.path(), &run);
    assert_no_download(&run);
}

/// `train-text FILE FLAGS` must be refused naming `words`; nothing is written.
fn text_refused(flags: &[&str], words: &[&str], env: &[(&str, &str)]) {
    let (data, work) = (tempdir(), tempdir());
    let file = write_text(work.path());
    let before = Snapshot::of(work.path());
    let mut cmd = nndl(&text_args(&file, flags)).data(data.path()).cwd(work.path());
    for (k, v) in env {
        cmd = cmd.env(k, v);
    }
    let run = cmd.run();
    assert_refused(&run, words);
    assert_unchanged(work.path(), &before, &run);
    assert_empty(data.path(), &run);
}

macro_rules! train_before_io {
    ($($name:ident: [$($flag:expr),*] => [$($word:expr),*];)*) => {$(
        #[test]
        fn $name() {
            train_refused_before_io(&[$($flag),*], &[$($word),*]);
        }
    )*};
}

macro_rules! text_flag {
    ($($name:ident: [$($flag:expr),*] => [$($word:expr),*];)*) => {$(
        #[test]
        fn $name() {
            text_refused(&[$($flag),*], &[$($word),*], &[]);
        }
    )*};
}

// ---------------------------------------------------------------------------------------------
// Memory estimated from the shapes, before any data is read or anything allocated.

train_before_io! {
    memory_dense_10e9: ["--arch", "dense 1000000000; softmax 10"] => ["--arch", "memory"];
    memory_conv_10e6_filters: ["--arch", "conv 1000000 5x5; dense 10; softmax 10"] => ["--arch", "memory"];
    memory_lstm_10e6: ["--arch", "lstm 1000000; softmax 10"] => ["--arch", "memory"];
    memory_conv_1000x1000_same:
        ["--arch", "conv 2 1000x1000 same; dense 10; softmax 10"] => ["--arch", "memory"];
}

#[test]
fn memory_train_text_hidden_10000_under_a_1g_cap() {
    text_refused(&["--hidden", "10000"], &["--hidden", "memory"], &[("NNDL_MAX_MEMORY", "1G")]);
}

#[test]
fn summary_arch_with_overflowing_sizes_is_refused() {
    let work = tempdir();
    let arch = "dense 100000000000000; dense 100000000000000; softmax 10";
    let run = nndl(&["summary", "--arch", arch]).cwd(work.path()).run();
    assert_refused(&run, &["--arch"]);
}

#[test]
fn batch_size_larger_than_the_data_is_clamped() {
    let work = tempdir();
    let mut args = vec!["train", "--quiet", "--batch-size", "10000000"];
    args.extend(QUICK);
    let run = nndl(&args).cwd(work.path()).run();
    assert_success(&run);
    assert!(run.stdout.contains("test accuracy: "), "{}", run.describe());
    assert!(
        run.stdout.contains("--batch-size") || run.stderr.contains("--batch-size"),
        "the clamp is not mentioned: {}",
        run.describe()
    );
}

// ---------------------------------------------------------------------------------------------
// Flags checked before any I/O: `--data EMPTY` stays empty, no download is tried.

train_before_io! {
    flag_eta_negative: ["--eta", "-1"] => ["--eta"];
    flag_eta_zero: ["--eta", "0"] => ["--eta"];
    flag_batch_size_zero: ["--batch-size", "0"] => ["--batch-size"];
    flag_momentum_2: ["--momentum", "2"] => ["--momentum"];
    flag_lambda_negative: ["--lambda", "-1"] => ["--lambda"];
    flag_clip_zero: ["--clip", "0"] => ["--clip"];
    flag_clip_nan: ["--clip", "NaN"] => ["--clip"];
    flag_schedule_halve_0: ["--schedule", "halve:0"] => ["--schedule"];
    flag_early_stop_zero: ["--early-stop", "0"] => ["--early-stop"];
    flag_train_size_zero: ["--train-size", "0"] => ["--train-size"];
    flag_threads_zero: ["--threads", "0"] => ["--threads"];
    flag_track_gradients_zero: ["--track-gradients", "0"] => ["--track-gradients"];
    flag_monitor_bogus: ["--monitor", "bogus"] => ["--monitor"];
    flag_plot_txt: ["--plot", "x.txt"] => ["--plot"];
}

text_flag! {
    text_flag_eta_zero: ["--eta", "0"] => ["--eta"];
    text_flag_eta_negative: ["--eta", "-1"] => ["--eta"];
    text_flag_clip_nan: ["--clip", "NaN"] => ["--clip"];
    text_flag_hidden_zero: ["--hidden", "0"] => ["--hidden"];
    text_flag_temperature_zero: ["--temperature", "0"] => ["--temperature"];
    text_flag_seq_len_zero: ["--seq-len", "0"] => ["--seq-len"];
    text_flag_batch_size_zero: ["--batch-size", "0"] => ["--batch-size"];
}

// ---------------------------------------------------------------------------------------------
// Threads, and long --arch texts.

#[test]
fn threads_are_capped_at_the_machine_with_a_note() {
    let work = tempdir();
    let mut args = vec!["train", "--quiet", "--threads", "10000"];
    args.extend(QUICK);
    let run = nndl(&args).cwd(work.path()).run();
    assert_success(&run);
    let n = std::thread::available_parallelism().map_or(1, |n| n.get());
    let notes: Vec<&str> = run.stderr.lines().filter(|l| l.starts_with("note: ")).collect();
    assert_eq!(notes.len(), 1, "one `note: ` line: {}", run.describe());
    assert!(
        notes[0].contains("--threads") && notes[0].contains(&format!("using {n}")),
        "the note should name --threads and say `using {n}`: {}",
        notes[0]
    );
}

/// 10,000 good layers and a bad one: 100 KB (one argument may not exceed 128 KiB on Linux).
fn long_arch() -> String {
    "dense 10; ".repeat(10_000) + "conv 0 5x5"
}

#[test]
fn a_long_arch_is_not_echoed_back_by_summary() {
    let work = tempdir();
    let run = nndl(&["summary", "--arch", &long_arch()]).cwd(work.path()).run();
    assert_refused(&run, &["--arch"]);
    assert!(run.stderr.len() < 4096, "the error is {} bytes: {}", run.stderr.len(), run.describe());
}

#[test]
fn a_long_arch_is_not_echoed_back_by_train() {
    let (data, work) = (tempdir(), tempdir());
    let arch = long_arch();
    let run = nndl(&train_args(&["--arch", &arch], data.path())).data(data.path()).cwd(work.path()).run();
    assert_refused(&run, &["--arch"]);
    assert!(run.stderr.len() < 4096, "the error is {} bytes: {}", run.stderr.len(), run.describe());
    assert_empty(data.path(), &run);
}

// ---------------------------------------------------------------------------------------------
// predict: one bad image among good ones.

#[test]
fn predict_prints_the_good_images_and_reports_the_bad_one() {
    let dir = tempdir();
    let model = dir.path().join("m.safetensors");
    std::fs::write(&model, train_model(&["--layers", "784,10,10"])).unwrap();
    let (first, bad, third) =
        (dir.path().join("first.png"), dir.path().join("bad.png"), dir.path().join("third.png"));
    digit_png(&first, 0);
    std::fs::write(&bad, b"this is a text file, not a PNG\n").unwrap();
    digit_png(&third, 2);
    let before = Snapshot::of(dir.path());
    let run = nndl(&["predict", s(&model), s(&first), s(&bad), s(&third)]).cwd(dir.path()).run();
    assert_refused(&run, &["bad.png"]);
    assert_unchanged(dir.path(), &before, &run);
    for good in [&first, &third] {
        let line = run.stdout.lines().find(|l| l.starts_with(s(good)));
        let fields: Vec<&str> = line.map_or(vec![], |l| l.split_whitespace().collect());
        assert_eq!(fields.len(), 12, "a result line for {}: {}", good.display(), run.describe());
    }
    assert!(!run.stdout.contains("bad.png"), "no result for the bad image: {}", run.describe());
}

/// A JPEG on which the JPEG decoder (zune-jpeg 0.5.15) panics, found by the image fuzzer: a
/// one-line refusal naming the file, not the decoder's panic message.
#[test]
fn a_jpeg_that_panics_the_decoder_is_refused_in_one_line() {
    let dir = tempdir();
    let model = dir.path().join("m.safetensors");
    std::fs::write(&model, train_model(&["--layers", "784,10,10"])).unwrap();
    let jpeg = dir.path().join("odd.jpg");
    let regression =
        concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/regressions/image/jpeg-progressive-upsampler-panic-1");
    std::fs::copy(regression, &jpeg).unwrap();
    let run = nndl(&["predict", s(&model), s(&jpeg)]).cwd(dir.path()).run();
    assert_refused(&run, &["odd.jpg", "damaged"]);
    assert!(!run.stderr.contains("panicked"), "{}", run.describe());
}

// ---------------------------------------------------------------------------------------------
// Data of another image size, test files only, an empty test set.

/// A consistent IDX pair of `n` images of `side`×`side` (a bright square on each, varied).
fn write_test_pair(dir: &Path, n: u32, side: u32) {
    let mut pixels = vec![0u8; (n * side * side) as usize];
    for i in 0..n as usize {
        for r in 8..20 {
            for c in (8 + i % 5)..(20 + i % 5) {
                pixels[i * (side * side) as usize + r * side as usize + c] = 200;
            }
        }
    }
    let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
    std::fs::write(dir.join("t10k-images-idx3-ubyte"), idx_images(n, side, side, &pixels)).unwrap();
    std::fs::write(dir.join("t10k-labels-idx1-ubyte"), idx_labels(&labels)).unwrap();
}

/// Three models trained on MNIST, in `dir`: m, a, b.
fn models(dir: &Path) -> [std::path::PathBuf; 3] {
    let bytes = train_model(&["--layers", "784,10,10"]);
    ["m", "a", "b"].map(|n| {
        let p = dir.join(format!("{n}.safetensors"));
        std::fs::write(&p, &bytes).unwrap();
        p
    })
}

/// The three commands that read the test set, with `data`, and what each must name.
fn test_set_commands(
    models: &[std::path::PathBuf; 3],
    data: &Path,
    out: &Path,
) -> Vec<(Vec<String>, &'static str)> {
    let [m, a, b] = models;
    let v = |xs: &[&str]| xs.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    vec![
        (v(&["eval", s(m), "--data", s(data)]), "t10k-images|m.safetensors"),
        (v(&["eval", "--ensemble", s(a), s(b), "--data", s(data)]), "t10k-images|a.safetensors"),
        (
            v(&[
                "plot",
                "errors",
                s(m),
                "--data",
                s(data),
                "-o",
                s(&out.join("e.png")),
                "--confusion",
                s(&out.join("c.png")),
            ]),
            "t10k-images|m.safetensors",
        ),
    ]
}

/// Every command refused naming the sizes 784 and 1024; nothing written; data unchanged.
fn refused_for_32x32(data: &Path, test_files_only: bool) {
    let dir = tempdir();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let models = models(dir.path());
    let before = Snapshot::of(data);
    let mut problems = Vec::new();
    for (args, file) in test_set_commands(&models, data, &out) {
        let run = nndl(&args).data(data).cwd(&out).run();
        problems.extend(refusal_problem(&run, &["784", "1024", file]));
        if test_files_only {
            for w in ["train-images", "--train-size", "download", "mirror"] {
                if run.stderr.contains(w) {
                    problems.push(format!("{}\n  → mentions `{w}`", run.describe()));
                }
            }
        }
        if let Some(d) = before.diff(&Snapshot::of(data)) {
            problems.push(format!("{}\n  → the data folder changed: {d}", run.describe()));
        }
        if !Snapshot::of(&out).0.is_empty() {
            problems.push(format!("{}\n  → wrote {:?}", run.describe(), Snapshot::of(&out).names()));
        }
    }
    assert_no_problems("32×32 test data with MNIST models", &problems);
}

#[test]
fn images_of_another_size_are_refused() {
    // All four files 32×32 and consistent (60,000 blank training images, gzip'd small).
    let data = tempdir();
    write_test_pair(data.path(), 50, 32);
    let train = vec![0u8; 60_000 * 32 * 32];
    std::fs::write(data.path().join("train-images-idx3-ubyte.gz"), gzip(&idx_images(60_000, 32, 32, &train)))
        .unwrap();
    let labels: Vec<u8> = (0..60_000).map(|i| (i % 10) as u8).collect();
    std::fs::write(data.path().join("train-labels-idx1-ubyte"), idx_labels(&labels)).unwrap();
    refused_for_32x32(data.path(), false);
}

#[test]
fn images_of_another_size_are_refused_with_only_the_test_files() {
    let data = tempdir();
    write_test_pair(data.path(), 50, 32);
    refused_for_32x32(data.path(), true);
}

/// The first 100 real test images as the only files.
fn real_test_pair_only(dir: &Path) {
    let (imgs, labels) = real_test_digits(100);
    std::fs::write(dir.join("t10k-images-idx3-ubyte"), idx_images(100, 28, 28, &imgs.concat())).unwrap();
    std::fs::write(dir.join("t10k-labels-idx1-ubyte"), idx_labels(&labels)).unwrap();
}

#[test]
fn eval_needs_only_the_test_files() {
    let (data, dir) = (tempdir(), tempdir());
    real_test_pair_only(data.path());
    let before = Snapshot::of(data.path());
    let [m, _, _] = models(dir.path());
    let run = nndl(&["eval", s(&m), "--data", s(data.path())]).data(data.path()).cwd(dir.path()).run();
    assert_success(&run);
    assert!(run.stdout.contains("/ 100)"), "100 test images: {}", run.describe());
    assert_unchanged(data.path(), &before, &run);
}

#[test]
fn plot_errors_needs_only_the_test_files() {
    let (data, dir) = (tempdir(), tempdir());
    real_test_pair_only(data.path());
    let before = Snapshot::of(data.path());
    let [m, _, _] = models(dir.path());
    let (e, c) = (dir.path().join("e.png"), dir.path().join("c.png"));
    let args = ["plot", "errors", s(&m), "--data", s(data.path()), "-o", s(&e), "--confusion", s(&c)];
    let run = nndl(&args).data(data.path()).cwd(dir.path()).run();
    assert_success(&run);
    assert!(c.is_file(), "the confusion matrix is drawn: {}", run.describe());
    assert_unchanged(data.path(), &before, &run);
}

/// A t10k pair of 0 images (valid headers) beside the real training files.
fn empty_test_set(dir: &Path) {
    link_real_training_files(dir);
    std::fs::write(dir.join("t10k-images-idx3-ubyte"), idx_images(0, 28, 28, &[])).unwrap();
    std::fs::write(dir.join("t10k-labels-idx1-ubyte"), idx_labels(&[])).unwrap();
}

#[test]
fn train_refuses_an_empty_test_set() {
    let (data, out) = (tempdir(), tempdir());
    empty_test_set(data.path());
    let model = out.path().join("m.safetensors");
    let mut args = vec!["train", "--quiet", "--data", s(data.path()), "--save", s(&model)];
    args.extend(QUICK);
    let run = nndl(&args).data(data.path()).cwd(out.path()).run();
    assert_refused(&run, &["t10k"]);
    assert_empty(out.path(), &run);
}

#[test]
fn eval_refuses_an_empty_test_set() {
    let (data, dir) = (tempdir(), tempdir());
    empty_test_set(data.path());
    let [m, _, _] = models(dir.path());
    let run = nndl(&["eval", s(&m), "--data", s(data.path())]).data(data.path()).cwd(dir.path()).run();
    assert_refused(&run, &["t10k"]);
}

#[test]
fn plot_errors_refuses_an_empty_test_set() {
    let (data, dir) = (tempdir(), tempdir());
    empty_test_set(data.path());
    let [m, _, _] = models(dir.path());
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let (e, c) = (out.join("e.png"), out.join("c.png"));
    let args = ["plot", "errors", s(&m), "--data", s(data.path()), "-o", s(&e), "--confusion", s(&c)];
    let run = nndl(&args).data(data.path()).cwd(&out).run();
    assert_refused(&run, &["t10k"]);
    assert_empty(&out, &run);
}
