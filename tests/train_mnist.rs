//! Training on real MNIST (found as `nndl train` finds it: `NNDL_DATA`, else the user cache).

mod common;
use common::data_dir;

use nndl::activation::Activation;
use nndl::cost::Cost;
use nndl::data::{Mnist, load_mnist};
use nndl::layers::Init;
use nndl::network::Network;
use nndl::optim::Regulariser;
use nndl::train::{Silent, TrainConfig, TrainError, evaluate, train};

fn mnist(train_size: usize, validation_size: usize) -> Mnist {
    load_mnist(&data_dir(), train_size, validation_size).expect("real MNIST (set NNDL_DATA)")
}

fn chapter1_net(seed: u64) -> (Network, nndl::Rng) {
    let mut rng = nndl::seeded_rng(seed);
    let net = Network::dense(
        &[784, 30, 10],
        Activation::Sigmoid,
        Activation::Sigmoid,
        Cost::Quadratic,
        Init::Scaled,
        &mut rng,
    )
    .unwrap();
    (net, rng)
}

/// The acceptance test of the foundation: one seeded epoch on 10,000 real images, ≥ 90% on test.
#[test]
fn one_epoch_on_10k_images_reaches_90_percent() {
    let data = mnist(10_000, 0);
    let (mut net, mut rng) = chapter1_net(7);
    let cfg = TrainConfig { epochs: 1, ..TrainConfig::default() };
    train(&mut net, &data.training, None, &cfg, &mut rng, &mut Silent).unwrap();
    let test = evaluate(&net, &data.test, &Regulariser::default(), 1);
    assert_eq!(test.total, 10_000);
    assert!(test.accuracy() >= 0.90, "test accuracy {:.4}", test.accuracy());
}

/// The same seed gives the same weights bit for bit; another seed does not.
#[test]
fn seeded_runs_are_bit_identical() {
    let data = mnist(2_000, 500);
    let cfg = TrainConfig { epochs: 2, momentum: 0.5, lambda: 1.0, ..TrainConfig::default() };
    let run = |seed| {
        let (mut net, mut rng) = chapter1_net(seed);
        let report =
            train(&mut net, &data.training, Some(&data.validation), &cfg, &mut rng, &mut Silent).unwrap();
        let bits: Vec<u32> = net.params().flat_map(|p| p.iter().map(|v| v.to_bits())).collect();
        (bits, report.epochs.iter().map(|e| e.evaluation_accuracy).collect::<Vec<_>>())
    };
    let (a, b, c) = (run(11), run(11), run(12));
    assert_eq!(a, b);
    assert_ne!(a.0, c.0);
}

/// Chapter 3's learning-rate schedule halves η when validation accuracy stalls, and stops at η₀/128;
/// early stopping ends a run that no longer improves.
#[test]
fn schedule_and_early_stop_end_stalled_runs() {
    let data = mnist(500, 200);
    let (mut net, mut rng) = chapter1_net(5);
    // A learning rate so small that nothing improves after the first epoch.
    let cfg = TrainConfig {
        epochs: 100,
        eta: 1e-6,
        schedule: nndl::train::Schedule::Halve { patience: 1 },
        ..TrainConfig::default()
    };
    let report =
        train(&mut net, &data.training, Some(&data.validation), &cfg, &mut rng, &mut Silent).unwrap();
    assert!(report.stopped_early.as_deref().unwrap().contains("128"), "{:?}", report.stopped_early);
    let etas: Vec<f32> = report.epochs.iter().map(|e| e.eta).collect();
    assert!(etas.len() < 100 && etas.windows(2).all(|w| w[1] == w[0] || w[1] == w[0] / 2.0), "{etas:?}");
    assert!(*etas.last().unwrap() <= 1e-6 / 64.0);

    let (mut net, mut rng) = chapter1_net(5);
    let cfg = TrainConfig { epochs: 100, eta: 1e-6, early_stop: Some(3), ..TrainConfig::default() };
    let report =
        train(&mut net, &data.training, Some(&data.validation), &cfg, &mut rng, &mut Silent).unwrap();
    assert!(report.epochs.len() < 100 && report.stopped_early.is_some());
}

/// A learning rate far too large makes the weights of an unbounded (ReLU, linear-output) net
/// blow up to infinity: training stops with an error, not with NaNs carried on.
#[test]
fn divergence_is_reported() {
    let data = mnist(1_000, 0);
    let mut rng = nndl::seeded_rng(1);
    let mut net = Network::dense(
        &[784, 30, 10],
        Activation::Relu,
        Activation::Identity,
        Cost::Quadratic,
        Init::Scaled,
        &mut rng,
    )
    .unwrap();
    let cfg = TrainConfig { epochs: 3, eta: 10.0, ..TrainConfig::default() };
    let err = train(&mut net, &data.training, None, &cfg, &mut rng, &mut Silent).unwrap_err();
    // The message names the setting to lower (η; the CLI names its flag, --eta).
    assert!(matches!(err, TrainError::Diverged { eta: 10.0, .. }), "{err}");
    assert!(err.to_string().contains("smaller η"), "{err}");
}

/// Momentum, L1 and log-likelihood with softmax also learn (better than chance by far).
#[test]
fn other_settings_learn_too() {
    let data = mnist(3_000, 0);
    for (cost, output, cfg) in [
        (
            Cost::LogLikelihood,
            Activation::Softmax,
            TrainConfig { epochs: 2, eta: 0.1, momentum: 0.5, ..Default::default() },
        ),
        (
            Cost::CrossEntropy,
            Activation::Sigmoid,
            TrainConfig { epochs: 2, eta: 0.1, l1: 1.0, ..Default::default() },
        ),
    ] {
        let mut rng = nndl::seeded_rng(2);
        let mut net =
            Network::dense(&[784, 30, 10], Activation::Tanh, output, cost, Init::Scaled, &mut rng).unwrap();
        train(&mut net, &data.training, None, &cfg, &mut rng, &mut Silent).unwrap();
        let acc = evaluate(&net, &data.test, &Regulariser::default(), 1).accuracy();
        assert!(acc > 0.8, "{cost}: {acc}");
    }
}
