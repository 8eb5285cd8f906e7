//! One engine for any data: colour image folders whose classes only the channels tell apart,
//! MNIST at 16×16, and the real 8×8 digits and wine table, each through the CLI.

mod common;
use common::data_dir;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn nndl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nndl"))
        .args(args)
        .env("NNDL_DATA", data_dir())
        .output()
        .expect("nndl runs")
}

fn ok(args: &[&str]) -> String {
    let out = nndl(args);
    assert!(out.status.success(), "nndl {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The figure on the `test accuracy: NN.NN% (…)` line.
fn test_accuracy(stdout: &str) -> f64 {
    let line = stdout.lines().find_map(|l| l.strip_prefix("test accuracy: ")).expect("a test accuracy line");
    line.split('%').next().unwrap().parse().unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Real data beside the project (CI has it; a fresh clone may not): `../shared/data/NAME`.
fn shared(name: &str) -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data").join(name);
    if path.exists() {
        Some(path)
    } else {
        println!(
            "skipped: {} is not here (the real data sets live beside the project in CI)",
            path.display()
        );
        None
    }
}

/// Three hues of equal luma (BT.601: 0.299, 0.300, 0.302), so that in grey every class looks
/// the same: red, green, and a blue with a little green.
const HUES: [[f32; 3]; 3] = [[1.0, 0.0, 0.0], [0.0, 0.511, 0.0], [0.0, 0.32, 1.0]];

/// `DIR/train/<hue>/*.png` and `DIR/test/<hue>/*.png`: 12×12 RGB images of a random filled
/// rectangle on black, its colour the class. Shapes and brightness are drawn alike for every
/// class: only the channels tell the classes apart.
fn write_hue_folder(dir: &Path, per_class: (usize, usize), seed: u64) {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    for (split, n) in [("train", per_class.0), ("test", per_class.1)] {
        for (k, hue) in HUES.iter().enumerate() {
            let folder = dir.join(split).join(["red", "green", "blue"][k]);
            std::fs::create_dir_all(&folder).unwrap();
            for i in 0..n {
                let (x0, y0) = (rng.random_range(0..8u32), rng.random_range(0..8u32));
                let (w, h) = (rng.random_range(2..=12 - x0), rng.random_range(2..=12 - y0));
                let shade: f32 = rng.random_range(0.7..1.0);
                let img = image::RgbImage::from_fn(12, 12, |x, y| {
                    let inside = (x0..x0 + w).contains(&x) && (y0..y0 + h).contains(&y);
                    let c = |v: f32| if inside { (255.0 * v * shade).round() as u8 } else { 0 };
                    image::Rgb([c(hue[0]), c(hue[1]), c(hue[2])])
                });
                img.save(folder.join(format!("{i:03}.png"))).unwrap();
            }
        }
    }
}

#[test]
fn colour_is_read_channel_by_channel_and_grey_cannot_tell_the_hues() {
    let dir = tempfile::tempdir().unwrap();
    write_hue_folder(dir.path(), (150, 50), 7);
    let arch = "conv 6 3x3 relu; maxpool 2; dense 30 relu; softmax 3";
    let common =
        ["--arch", arch, "--eta", "0.1", "--epochs", "30", "--batch-size", "10", "--seed", "1", "--quiet"];
    let mut colour = vec!["train", "--data", s(dir.path())];
    colour.extend(common);
    let out = ok(&colour);
    assert!(out.contains("3 classes"), "{out}");
    let acc = test_accuracy(&out);
    assert!(acc >= 99.0, "colour: {acc}%\n{out}");
    let mut grey = vec!["train", "--data", s(dir.path()), "--channels", "1"];
    grey.extend(common);
    let out = ok(&grey);
    let acc = test_accuracy(&out);
    assert!(acc <= 50.0, "grey should be near chance (33%): {acc}%\n{out}");
}

#[test]
fn mnist_at_16x16_trains_like_mnist() {
    let dir = tempfile::tempdir().unwrap();
    let mnist = nndl::data::load_mnist(&data_dir(), 20_000, 0).unwrap();
    let shrink = |set: &nndl::data::Dataset, n: usize| -> (Vec<u8>, Vec<u8>) {
        let mut pixels = Vec::with_capacity(n * 256);
        for i in 0..n {
            let img = image::GrayImage::from_raw(28, 28, set.bytes(i).unwrap().to_vec()).unwrap();
            let small = image::imageops::resize(&img, 16, 16, image::imageops::FilterType::Triangle);
            pixels.extend_from_slice(small.as_raw());
        }
        let labels = set.labels[..n].iter().map(|&l| l as u8).collect();
        (pixels, labels)
    };
    let write = |name: &str, magic: u32, dims: &[u32], body: &[u8]| {
        let mut bytes = magic.to_be_bytes().to_vec();
        dims.iter().for_each(|d| bytes.extend_from_slice(&d.to_be_bytes()));
        bytes.extend_from_slice(body);
        std::fs::write(dir.path().join(name), bytes).unwrap();
    };
    for (prefix, set, n) in [("train", &mnist.training, 20_000), ("t10k", &mnist.test, 5_000)] {
        let (pixels, labels) = shrink(set, n);
        write(&format!("{prefix}-images-idx3-ubyte"), 0x803, &[n as u32, 16, 16], &pixels);
        write(&format!("{prefix}-labels-idx1-ubyte"), 0x801, &[n as u32], &labels);
    }
    let model = dir.path().join("m16.safetensors");
    let out = ok(&[
        "train",
        "--data",
        s(dir.path()),
        "--layers",
        "256,100,10",
        "--cost",
        "cross-entropy",
        "--eta",
        "0.5",
        "--epochs",
        "10",
        "--seed",
        "1",
        "--quiet",
        "--save",
        s(&model),
    ]);
    let acc = test_accuracy(&out);
    assert!(acc >= 95.0, "16×16 MNIST: {acc}%\n{out}");
    // eval reads only the test files, at the model's size; predict fits a PNG to 16×16.
    let eval = ok(&["eval", s(&model), "--data", s(dir.path())]);
    assert!(eval.lines().any(|l| l.starts_with(&format!("test accuracy: {acc:.2}%"))), "{eval}");
    let png = dir.path().join("seven.png");
    let i = (0..).find(|&i| mnist.test.labels[i] == 7).unwrap();
    let pixels: Vec<f32> = mnist.test.example(i);
    nndl::image_io::save_grey_png(&png, &pixels, 28, 28).unwrap();
    let out = ok(&["predict", s(&model), s(&png)]);
    assert!(out.lines().nth(1).is_some_and(|l| l.split_whitespace().nth(1) == Some("7")), "{out}");
}

#[test]
fn the_real_8x8_digits_as_an_image_folder() {
    let Some(digits) = shared("digits-8x8") else { return };
    let out = ok(&[
        "train",
        "--data",
        s(&digits),
        "--layers",
        "64,100,10",
        "--cost",
        "cross-entropy",
        "--eta",
        "0.5",
        "--epochs",
        "30",
        "--seed",
        "1",
        "--quiet",
    ]);
    assert!(out.contains("10 classes"), "{out}");
    let acc = test_accuracy(&out);
    assert!(acc >= 95.0, "digits-8x8: {acc}%\n{out}");
}

#[test]
fn the_wine_table_needs_its_features_standardised() {
    let Some(wine) = shared("wine.csv") else { return };
    let args = |extra: &[&'static str]| {
        let mut a = vec![
            "train",
            "--data",
            s(&wine),
            "--layers",
            "13,30,3",
            "--cost",
            "cross-entropy",
            "--eta",
            "0.5",
            "--epochs",
            "60",
            "--seed",
            "1",
            "--validation-size",
            "0",
            "--quiet",
        ];
        a.extend_from_slice(extra);
        a
    };
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("wine.safetensors");
    let mut with = args(&[]);
    with.extend(["--save", s(&model)]);
    let standardised = test_accuracy(&ok(&with));
    assert!(standardised >= 90.0, "wine, standardised: {standardised}%");
    let raw = test_accuracy(&ok(&args(&["--no-standardize"])));
    assert!(raw < standardised, "raw {raw}% should trail standardised {standardised}%");
    // The model keeps the standardisation: eval finds the same test rows, predict reads rows.
    let eval = ok(&["eval", s(&model), "--data", s(&wine)]);
    assert!(eval.contains(&format!("test accuracy: {standardised:.2}%")), "{eval}");
    let out = ok(&["predict", s(&model), "--csv", s(&wine)]);
    assert_eq!(out.lines().count(), 1 + 178, "{out}");
    assert!(out.lines().nth(1).unwrap().contains("class_"), "{out}");
}
