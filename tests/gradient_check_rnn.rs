//! Backpropagation through time against finite differences: RNN and LSTM, several sequence
//! lengths, whole-sequence and last-step outputs, stacked, and with saturated gates.

mod common;

use common::{BOUND, check};
use ndarray::Array2;
use nndl::cost::Cost;
use nndl::layers::{Init, Shape, parse_arch};
use nndl::network::Network;
use nndl::optim::Regulariser;
use rand::Rng as _;
use rand_distr::{Distribution, StandardNormal};

/// The worst relative error for `arch` over inputs of `steps` steps of `features`, with and
/// without L2; `init` and `scale` (of the inputs) choose how saturated the gates are.
fn check_arch(arch: &str, steps: usize, features: usize, init: Init, scale: f32, seed: u64) -> f64 {
    let shape = Shape::new(1, steps, features);
    let specs = parse_arch(arch, shape).unwrap_or_else(|e| panic!("{arch}: {e}"));
    let classes = specs.last().unwrap().out_size();
    let mut rng = nndl::seeded_rng(seed);
    let mut worst = 0.0f64;
    for lambda in [0.0, 2.0] {
        let mut net = Network::new(&specs, Cost::LogLikelihood, init, &mut rng).unwrap();
        let m = 3;
        let x = Array2::from_shape_simple_fn((m, shape.size()), || {
            scale * Distribution::<f32>::sample(&StandardNormal, &mut rng)
        });
        let mut y = Array2::zeros((m, classes));
        for r in 0..m {
            y[[r, rng.random_range(0..classes)]] = 1.0;
        }
        let mut ws = net.workspace(0);
        worst = worst.max(check(&mut net, &mut ws, &x, &y, &Regulariser { lambda, l1: 0.0, n: 10 }));
    }
    worst
}

fn assert_all(cases: &[(&str, usize, usize, Init, f32)]) {
    let mut failures = Vec::new();
    for (i, &(arch, steps, features, init, scale)) in cases.iter().enumerate() {
        let err = check_arch(arch, steps, features, init, scale, 200 + i as u64);
        if err.is_nan() || err >= BOUND {
            failures.push(format!("{arch}, {steps} steps of {features}, {init:?} ×{scale}: {err:.2e}"));
        }
    }
    assert!(failures.is_empty(), "bound {BOUND}:\n{}", failures.join("\n"));
}

#[test]
fn rnn_through_time() {
    assert_all(&[
        ("rnn 4; softmax 3", 1, 3, Init::Scaled, 1.0),
        ("rnn 4; softmax 3", 5, 3, Init::Scaled, 1.0),
        ("rnn 5 seq; softmax 3", 4, 2, Init::Scaled, 1.0),
        ("rnn 3; rnn 4; softmax 2", 6, 3, Init::Scaled, 1.0),
    ]);
}

#[test]
fn lstm_through_time() {
    assert_all(&[
        ("lstm 4; softmax 3", 1, 3, Init::Scaled, 1.0),
        ("lstm 4; softmax 3", 3, 3, Init::Scaled, 1.0),
        ("lstm 4; softmax 3", 8, 2, Init::Scaled, 1.0),
        ("lstm 3 seq; softmax 3", 5, 3, Init::Scaled, 1.0),
        ("lstm 3; lstm 4; softmax 2", 4, 3, Init::Scaled, 1.0),
        ("lstm 4 seq; dense 5 tanh; softmax 3", 3, 2, Init::Scaled, 1.0),
    ]);
}

/// Large weights and inputs drive the gates towards 0 and 1, where σ' and tanh' are tiny and
/// mistakes in the gate derivatives would hide least well.
#[test]
fn saturated_gates() {
    assert_all(&[
        ("lstm 4; softmax 3", 5, 3, Init::Large, 3.0),
        ("lstm 3 seq; softmax 3", 4, 3, Init::Large, 3.0),
        ("rnn 4; softmax 3", 5, 3, Init::Large, 3.0),
    ]);
}
