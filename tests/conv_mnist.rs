//! Convolutional nets on real MNIST, from the library and from the command line.

mod common;
use common::data_dir;

use nndl::cost::Cost;
use nndl::data::load_mnist;
use nndl::layers::{Init, Shape, parse_arch};
use nndl::network::Network;
use nndl::optim::Regulariser;
use nndl::train::{Silent, TrainConfig, evaluate, train};
use std::process::Command;
use std::time::Instant;

const MNIST: Shape = Shape { channels: 1, height: 28, width: 28 };

/// Chapter 6's point: on the same 10,000 images, a small conv net given 2 epochs beats the
/// chapter-1 MLP given 24, which is more than the conv net's training time on this machine
/// (≈0.3 s per conv epoch vs ≈0.023 s per MLP epoch, one thread; printed below). Epoch counts,
/// not a timer, make the budget, so the test is deterministic.
#[test]
fn a_small_conv_net_beats_the_mlp_in_the_same_time() {
    let data = load_mnist(&data_dir(), 10_000, 0).expect("real MNIST (set NNDL_DATA)");
    let run = |arch: &str, cost: Cost, cfg: TrainConfig| {
        let specs = parse_arch(arch, MNIST).unwrap();
        let mut rng = nndl::seeded_rng(1);
        let mut net = Network::new(&specs, cost, Init::Scaled, &mut rng).unwrap();
        let started = Instant::now();
        train(&mut net, &data.training, None, &cfg, &mut rng, &mut Silent).unwrap();
        let seconds = started.elapsed().as_secs_f64();
        (evaluate(&net, &data.test, &Regulariser::default(), 1).accuracy(), seconds)
    };
    let (mlp, mlp_s) = run(
        "dense 30 sigmoid; dense 10 sigmoid",
        Cost::Quadratic,
        TrainConfig { epochs: 24, ..Default::default() },
    );
    let (conv, conv_s) = run(
        "conv 8 5x5 relu; maxpool 2; softmax 10",
        Cost::LogLikelihood,
        TrainConfig { epochs: 2, eta: 0.1, ..Default::default() },
    );
    println!(
        "MLP 24 epochs: {:.2}% in {mlp_s:.2} s; conv 2 epochs: {:.2}% in {conv_s:.2} s",
        100.0 * mlp,
        100.0 * conv
    );
    assert!(conv > mlp + 0.01, "conv {conv} vs MLP {mlp}");
    assert!(conv > 0.95, "{conv}");
}

fn nndl(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_nndl")).args(args).env("NNDL_DATA", data_dir()).output().unwrap()
}

#[test]
fn conv_models_train_save_eval_predict_and_vote_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let arch = "conv 6 5x5 relu; maxpool 2; dropout 0.2; dense 20 relu; softmax 10";
    let mut models = Vec::new();
    for seed in ["1", "2", "3"] {
        let model = dir.path().join(format!("conv{seed}.safetensors"));
        let out = nndl(&[
            "train",
            "--quiet",
            "--arch",
            arch,
            "--eta",
            "0.05",
            "--epochs",
            "1",
            "--train-size",
            "2000",
            "--seed",
            seed,
            "--expand",
            "--augment",
            "--summary",
            "--save",
            model.to_str().unwrap(),
        ]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(text.contains("6×24×24") && text.contains("total parameters: 17666"), "{text}");
        assert!(text.contains("data: 10000 training"), "--expand gives 5×: {text}");
        models.push(model);
    }
    let m = models[0].to_str().unwrap();
    let out = nndl(&["eval", m]);
    let text = String::from_utf8_lossy(&out.stdout);
    let acc: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("test accuracy: "))
        .unwrap()
        .split('%')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(acc > 70.0, "it learned (chance is 10%): {text}");
    let out = nndl(&["summary", m]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("conv 6 5x5 relu"));

    // predict: a test digit as PNG
    let mnist = load_mnist(&data_dir(), 1, 0).unwrap();
    let png = dir.path().join("seven.png");
    let pixels: Vec<f32> = mnist.test.bytes(0).unwrap().iter().map(|&b| b as f32 / 255.0).collect();
    nndl::image_io::save_grey_png(&png, &pixels, 28, 28).unwrap();
    let out = nndl(&["predict", m, png.to_str().unwrap()]);
    assert!(out.status.success());
    let line = String::from_utf8_lossy(&out.stdout).lines().last().unwrap().to_string();
    assert_eq!(line.split_whitespace().nth(1), Some("7"), "{line}");

    let mut args = vec!["eval", "--ensemble"];
    args.extend(models.iter().map(|p| p.to_str().unwrap()));
    let out = nndl(&args);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("ensemble of 3"), "{text}");
}

#[test]
fn shape_errors_are_caught_before_training_and_show_every_shape() {
    let out =
        nndl(&["train", "--arch", "conv 20 5x5; maxpool 2; conv 40 5x5; maxpool 2; conv 40 5x5; softmax 10"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(err.lines().count(), 1, "{err}");
    for shape in ["1×28×28", "20×24×24", "20×12×12", "40×8×8", "40×4×4", "does not fit"] {
        assert!(err.contains(shape), "{shape} missing: {err}");
    }
    let out = nndl(&["train", "--arch", "conv 20 5x5; maxpool 2; dense 100", "--cost", "log-likelihood"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--arch"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success());
}
