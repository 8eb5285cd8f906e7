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

/// The test set as floats only: evaluation then multiplies every input.
struct AsFloats<'a>(&'a nndl::data::Dataset);

impl nndl::data::Examples for AsFloats<'_> {
    fn len(&self) -> usize {
        self.0.len()
    }
    fn input_size(&self) -> usize {
        self.0.input_size()
    }
    fn target_size(&self) -> usize {
        self.0.target_size()
    }
    fn class_count(&self) -> usize {
        self.0.class_count()
    }
    fn fill(&self, idx: &[usize], x: &mut [f32], y: &mut [f32]) {
        self.0.fill(idx, x, y);
    }
}

#[test]
fn an_evaluator_kept_between_calls_gives_what_evaluate_gives() {
    use nndl::train::Evaluator;
    let data = mnist(5_000, 0);
    let (mut small, mut rng) = chapter1_net(3);
    let cfg = TrainConfig { epochs: 1, ..TrainConfig::default() };
    train(&mut small, &data.training, None, &cfg, &mut rng, &mut Silent).unwrap();
    let mut wide = || {
        Network::dense(
            &[784, 100, 10],
            Activation::Sigmoid,
            Activation::Sigmoid,
            Cost::Quadratic,
            Init::Scaled,
            &mut rng,
        )
        .unwrap()
    };
    // two networks of one shape (what the first layer prepares is kept for the same weights)
    let (wide, other) = (wide(), wide());
    let none = Regulariser::default();
    let mut evaluator = Evaluator::default();
    // one evaluator across thread counts and networks, back and forth
    for (net, threads) in
        [(&small, 1), (&small, 2), (&wide, 2), (&other, 2), (&small, 2), (&wide, 1), (&other, 1), (&small, 1)]
    {
        let fresh = evaluate(net, &data.test, &none, threads);
        let kept = evaluator.evaluate(net, &data.test, &none, threads);
        assert_eq!(kept, fresh, "{threads} threads");
        // the zero pixels skipped (where the CPU can) or not: the same function
        let dense = evaluate(net, &AsFloats(&data.test), &none, threads);
        assert_eq!(dense.total, 10_000);
        assert!(kept.correct.abs_diff(dense.correct) <= 2, "{} vs {} right", kept.correct, dense.correct);
        assert!((kept.cost - dense.cost).abs() <= 1e-5 * dense.cost, "cost {} vs {}", kept.cost, dense.cost);
    }
    let one = evaluator.evaluate(&small, &data.test, &none, 1);
    assert!(one.accuracy() > 0.85, "{}", one.accuracy());
    assert_eq!(one.correct, evaluator.evaluate(&small, &data.test, &none, 2).correct);
    // the same network changed in place, as training does between epochs, and one weight
    // changed only
    train(&mut small, &data.training, None, &cfg, &mut rng, &mut Silent).unwrap();
    assert_eq!(evaluator.evaluate(&small, &data.test, &none, 2), evaluate(&small, &data.test, &none, 2));
    small.layers[0].params_mut()[0][14 * 28 + 14] += 100.0; // W[0, a central pixel]
    assert_eq!(evaluator.evaluate(&small, &data.test, &none, 1), evaluate(&small, &data.test, &none, 1));
}
