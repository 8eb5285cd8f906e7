//! Issue 12: output paths. `-` is stdout; a FIFO (or any file that is not a regular file) is
//! refused, never replaced and never opened (which would block); a folder is refused; two
//! outputs on one path are refused before any work, however the path is spelled; a symlink at
//! an output path never lets nndl write into the file it points to, nor do symlinks planted at
//! the names of nndl's temporary files; and no run leaves a temporary file behind.

mod common;
mod hostile_support;
use hostile_support::*;

use std::path::{Path, PathBuf};
use std::time::Duration;

/// A FIFO must be refused at once; a run that opens it for writing blocks until killed.
const FIFO_TIMEOUT: Duration = Duration::from_secs(20);

/// Fails if `dir` holds a name starting with `.` (other than `planted`).
#[track_caller]
fn assert_no_leftovers(dir: &Path, planted: &[String], run: &Run) {
    let left: Vec<String> = dot_files(dir).into_iter().filter(|n| !planted.contains(n)).collect();
    assert!(left.is_empty(), "temporary files left in {}: {left:?}\nafter {}", dir.display(), run.describe());
}

/// Fails if training ran.
#[track_caller]
fn assert_no_training(run: &Run) {
    assert!(
        !run.stdout.contains("epoch 1/1") && !run.stdout.contains("test accuracy"),
        "should be refused before any work: {}",
        run.describe()
    );
}

fn train_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["train", "--quiet"];
    args.extend(QUICK);
    args.extend_from_slice(extra);
    args
}

fn model_in(dir: &Path) -> PathBuf {
    let model = dir.join("m.safetensors");
    std::fs::write(&model, train_model(&["--layers", "784,10,10"])).unwrap();
    model
}

// ---------------------------------------------------------------------------------------------
// `-` is stdout.

#[test]
fn metrics_json_dash_writes_the_json_to_stdout() {
    let work = tempdir();
    let run = nndl(&train_args(&["--metrics-json", "-"])).cwd(work.path()).run();
    assert_success(&run);
    let json: serde_json::Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("stdout is not the metrics JSON ({e}): {}", run.describe()));
    assert_eq!(json["epochs"].as_array().map(|a| a.len()), Some(1), "{json}");
    assert!(
        run.stderr.contains("test accuracy"),
        "the human-readable lines go to stderr: {}",
        run.describe()
    );
    let names = Snapshot::of(work.path()).names();
    assert!(names.is_empty(), "nothing written in the working folder, found {names:?}");
}

// ---------------------------------------------------------------------------------------------
// FIFOs: refused, left as they are, never opened.

/// Runs `args(fifo, out)` where `fifo` is a FIFO named `name` in `out`; it must be refused
/// naming `words` and "not a regular file", quickly, leaving the FIFO a FIFO.
fn fifo_refused(name: &str, words: &[&str], args: impl Fn(&Path, &Path) -> Vec<String>) {
    let dir = tempdir();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let fifo = out.join(name);
    mkfifo(&fifo);
    let run = nndl(&args(&fifo, dir.path())).cwd(&out).timeout(FIFO_TIMEOUT).run();
    let mut words = words.to_vec();
    words.push("not a regular file");
    assert_refused(&run, &words);
    assert!(is_fifo(&fifo), "the FIFO was replaced: {}", run.describe());
    assert_eq!(Snapshot::of(&out).names(), vec![name.to_string()], "{}", run.describe());
    assert_no_training(&run);
}

fn strings(xs: &[&str]) -> Vec<String> {
    xs.iter().map(|x| x.to_string()).collect()
}

#[test]
fn fifo_as_metrics_json_is_refused() {
    fifo_refused("run.json", &["--metrics-json"], |f, _| strings(&train_args(&["--metrics-json", s(f)])));
}

#[test]
fn fifo_as_save_is_refused() {
    fifo_refused("m.safetensors", &["--save"], |f, _| strings(&train_args(&["--save", s(f)])));
}

#[test]
fn fifo_as_plot_is_refused() {
    fifo_refused("curves.png", &["--plot"], |f, _| {
        strings(&train_args(&["--monitor", "training-cost", "--plot", s(f)]))
    });
}

#[test]
fn fifo_as_plot_weights_out_is_refused() {
    fifo_refused("w.png", &["--out|-o"], |f, dir| {
        let model = model_in(dir);
        strings(&["plot", "weights", s(&model), "-o", s(f)])
    });
}

#[test]
fn fifo_as_plot_errors_out_is_refused() {
    fifo_refused("e.png", &["--out|-o"], |f, dir| {
        let model = model_in(dir);
        let c = dir.join("c.png");
        strings(&["plot", "errors", s(&model), "-o", s(f), "--confusion", s(&c)])
    });
}

#[test]
fn fifo_as_plot_errors_confusion_is_refused() {
    fifo_refused("c.png", &["--confusion"], |f, dir| {
        let model = model_in(dir);
        let e = dir.join("e.png");
        strings(&["plot", "errors", s(&model), "-o", s(&e), "--confusion", s(f)])
    });
}

/// Not in the brief's list, same class: `plot curves -o FIFO`.
#[test]
fn fifo_as_plot_curves_out_is_refused() {
    fifo_refused("curves.png", &["--out|-o"], |f, dir| {
        let metrics = dir.join("run.json");
        let run =
            nndl(&train_args(&["--monitor", "training-cost", "--metrics-json", s(&metrics)])).cwd(dir).run();
        assert_success(&run);
        strings(&["plot", "curves", s(&metrics), "-o", s(f)])
    });
}

/// Not in the brief's list, same class: `train-text --save FIFO`.
#[test]
fn fifo_as_train_text_save_is_refused() {
    fifo_refused("lm.safetensors", &["--save"], |f, dir| {
        let text = dir.join("book.txt");
        std::fs::write(&text, "the cat sat on the mat. ".repeat(50)).unwrap();
        strings(&[
            "train-text",
            s(&text),
            "--epochs",
            "1",
            "--hidden",
            "8",
            "--seq-len",
            "8",
            "--sample",
            "5",
            "--seed",
            "1",
            "--save",
            s(f),
        ])
    });
}

// ---------------------------------------------------------------------------------------------
// A folder at an output path.

#[test]
fn a_folder_as_an_output_is_refused() {
    for (flag, name) in
        [("--save", "m.safetensors"), ("--metrics-json", "run.json"), ("--plot", "curves.png")]
    {
        let dir = tempdir();
        let target = dir.path().join(name);
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("keep.txt"), b"mine").unwrap();
        let before = Snapshot::of(dir.path());
        // (--monitor all: with no validation images a plot needs figures on the training ones)
        let run = nndl(&train_args(&[flag, s(&target), "--monitor", "all"])).cwd(dir.path()).run();
        assert_refused(&run, &[name]);
        assert_no_training(&run);
        assert_unchanged(dir.path(), &before, &run);
    }
}

// ---------------------------------------------------------------------------------------------
// Two outputs on one path, however spelled: refused before any work, naming both flags.

/// Runs `args(out)` (`MODEL` standing for a trained model outside `out`) with `out` as the
/// working folder; it must be refused naming `words`, before any work, and `out` stay empty.
fn same_path_refused(words: &[&str], args: impl Fn(&Path) -> Vec<String>) {
    let dir = tempdir();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let model = dir.path().join("m.safetensors");
    let argv: Vec<String> =
        args(&out).into_iter().map(|a| if a == "MODEL" { s(&model).to_string() } else { a }).collect();
    if argv.iter().any(|a| a == s(&model)) {
        std::fs::write(&model, train_model(&["--layers", "784,10,10"])).unwrap();
    }
    let run = nndl(&argv).cwd(&out).run();
    assert_refused(&run, words);
    assert_no_training(&run);
    let names = Snapshot::of(&out).names();
    assert!(names.is_empty(), "nothing may be written, found {names:?}: {}", run.describe());
}

fn quick_with(extra: &[String]) -> Vec<String> {
    let mut v = strings(&train_args(&[]));
    v.extend_from_slice(extra);
    v
}

#[test]
fn same_path_save_and_metrics_json() {
    same_path_refused(&["--save", "--metrics-json"], |out| {
        let x = s(&out.join("x")).to_string();
        quick_with(&["--save".into(), x.clone(), "--metrics-json".into(), x])
    });
}

#[test]
fn same_path_save_and_plot() {
    same_path_refused(&["--save", "--plot"], |out| {
        let x = s(&out.join("x.png")).to_string();
        quick_with(&[
            "--monitor".into(),
            "training-cost".into(),
            "--save".into(),
            x.clone(),
            "--plot".into(),
            x,
        ])
    });
}

#[test]
fn same_path_metrics_json_and_plot() {
    same_path_refused(&["--metrics-json", "--plot"], |out| {
        let x = s(&out.join("x.png")).to_string();
        quick_with(&[
            "--monitor".into(),
            "training-cost".into(),
            "--metrics-json".into(),
            x.clone(),
            "--plot".into(),
            x,
        ])
    });
}

#[test]
fn same_path_spelled_x_and_dot_slash_x() {
    same_path_refused(&["--save", "--metrics-json"], |_| {
        quick_with(&strings(&["--save", "x", "--metrics-json", "./x"]))
    });
}

#[test]
fn same_path_spelled_through_dot_dot() {
    same_path_refused(&["--save", "--metrics-json"], |out| {
        let name = out.file_name().unwrap().to_str().unwrap();
        let roundabout = out.join("..").join(name).join("x");
        quick_with(&[
            "--save".into(),
            s(&out.join("x")).into(),
            "--metrics-json".into(),
            s(&roundabout).into(),
        ])
    });
}

/// Beyond the brief: the same file through a symlinked folder.
#[test]
fn same_path_spelled_through_a_symlinked_folder() {
    same_path_refused(&["--save", "--metrics-json"], |out| {
        let link = out.parent().unwrap().join("alias");
        std::os::unix::fs::symlink(out, &link).unwrap();
        quick_with(&[
            "--save".into(),
            s(&out.join("x")).into(),
            "--metrics-json".into(),
            s(&link.join("x")).into(),
        ])
    });
}

#[test]
fn same_path_plot_errors_out_and_confusion() {
    same_path_refused(&["--out|-o", "--confusion"], |out| {
        let x = s(&out.join("x.png")).to_string();
        strings(&["plot", "errors", "MODEL", "-o", &x, "--confusion", &x])
    });
}

#[test]
fn same_path_plot_errors_out_and_confusion_spelled_differently() {
    same_path_refused(&["--out|-o", "--confusion"], |_| {
        strings(&["plot", "errors", "MODEL", "-o", "./x.png", "--confusion", "x.png"])
    });
}

/// Beyond the brief: `--confusion errors.png` collides with `-o`'s default, `errors.png`.
#[test]
fn same_path_plot_errors_confusion_on_the_default_out() {
    same_path_refused(&["--confusion"], |_| {
        strings(&["plot", "errors", "MODEL", "--confusion", "errors.png"])
    });
}

// ---------------------------------------------------------------------------------------------
// Symlinks.

const PRECIOUS: &[u8] = b"someone else's file; nndl must never write here\n";

#[test]
fn a_symlink_at_an_output_path_never_writes_through() {
    let (out, victims) = (tempdir(), tempdir());
    let (v1, v2) = (victims.path().join("model-victim"), victims.path().join("json-victim"));
    std::fs::write(&v1, PRECIOUS).unwrap();
    std::fs::write(&v2, PRECIOUS).unwrap();
    let (model, metrics) = (out.path().join("m.safetensors"), out.path().join("run.json"));
    std::os::unix::fs::symlink(&v1, &model).unwrap();
    std::os::unix::fs::symlink(&v2, &metrics).unwrap();
    let before = Snapshot::of(victims.path());
    let run = nndl(&train_args(&["--save", s(&model), "--metrics-json", s(&metrics)])).cwd(out.path()).run();
    assert_success(&run);
    assert_unchanged(victims.path(), &before, &run);
    assert_no_leftovers(out.path(), &[], &run);
}

/// From the issue (beyond the brief's list): symlinks planted at the names nndl gives its
/// temporary files (the write probe `.nndl-write-test-PID`, and `.NAME.PID.tmp` for each
/// output), made once the process exists but before it runs. With predictable names and no
/// O_EXCL, nndl truncates and overwrites the files they point to.
#[test]
fn symlinks_planted_at_temporary_names_are_never_written_through() {
    let (out, victims) = (tempdir(), tempdir());
    let (model, metrics) = (out.path().join("m.safetensors"), out.path().join("run.json"));
    let out_dir = out.path().to_path_buf();
    let victim_dir = victims.path().to_path_buf();
    let planted = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let record = planted.clone();
    let run = nndl(&train_args(&["--save", s(&model), "--metrics-json", s(&metrics)]))
        .cwd(out.path())
        .before_start(move |pid| {
            for (i, name) in [
                format!(".nndl-write-test-{pid}"),
                format!(".m.safetensors.{pid}.tmp"),
                format!(".run.json.{pid}.tmp"),
            ]
            .into_iter()
            .enumerate()
            {
                let victim = victim_dir.join(format!("victim{i}"));
                std::fs::write(&victim, PRECIOUS).unwrap();
                std::os::unix::fs::symlink(&victim, out_dir.join(&name)).unwrap();
                record.borrow_mut().push(name);
            }
        })
        .run();
    let written: Vec<String> = std::fs::read_dir(victims.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| std::fs::read(p).unwrap() != PRECIOUS)
        .map(|p| format!("{} ({} bytes now)", p.display(), std::fs::metadata(&p).unwrap().len()))
        .collect();
    assert!(
        written.is_empty(),
        "written through the symlinks planted at {:?}: {written:?}\nby {}",
        planted.borrow(),
        run.describe()
    );
    assert_success(&run);
    assert!(model.is_file() && metrics.is_file(), "both outputs written: {}", run.describe());
    assert_no_leftovers(out.path(), &planted.borrow(), &run);
}

// ---------------------------------------------------------------------------------------------
// Late refusals.

/// Beyond the brief (same class as "flags are checked before any I/O"): `--plot` with nothing
/// to draw (no validation images, so the default `--monitor evaluation-accuracy` gives no
/// figure) trains first and fails after, "nothing to plot".
#[test]
fn plot_with_nothing_to_draw_is_refused_before_training() {
    let out = tempdir();
    let plot = out.path().join("curves.png");
    let run = nndl(&train_args(&["--plot", s(&plot)])).cwd(out.path()).run();
    assert_refused(&run, &["--plot"]);
    assert_no_training(&run);
    assert!(Snapshot::of(out.path()).names().is_empty(), "{}", run.describe());
}

#[test]
fn a_failed_save_leaves_no_temporary_file() {
    // Training diverges (η 10 with ReLU and an identity output): nothing is saved.
    let out = tempdir();
    let (model, metrics) = (out.path().join("m.safetensors"), out.path().join("run.json"));
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
        "--validation-size",
        "0",
        "--epochs",
        "2",
        "--seed",
        "1",
        "--save",
        s(&model),
        "--metrics-json",
        s(&metrics),
    ];
    let run = nndl(&args).cwd(out.path()).run();
    assert_refused(&run, &["--eta"]);
    let names = Snapshot::of(out.path()).names();
    assert!(names.is_empty(), "nothing written, found {names:?}: {}", run.describe());
}
