//! Backprop against central finite differences, for every activation × cost × depth, with and
//! without L1/L2 terms, on small random networks.
//!
//! The cost checked is the one training minimises: C = (1/m) Σ_x C_x + (λ/2n) Σ w² + (λ₁/n) Σ |w|.
//! Its analytic gradient is backprop's sum (BP3, BP4) turned into ∂C/∂w by the same
//! `Regulariser::gradient` the optimiser uses, so the check covers the training path.

mod common;

use common::{BOUND, EPS, check, check_tampered};
use ndarray::Array2;
use nndl::activation::Activation;
use nndl::cost::Cost;
use nndl::layers::Init;
use nndl::network::Network;
use nndl::optim::Regulariser;
use rand::Rng as _;
use rand_distr::{Distribution, StandardNormal};

/// |w| has a kink at 0 where a central difference straddling it is not the derivative:
/// move regularised weights that close to 0 out of the difference's reach.
fn away_from_zero(net: &mut Network) {
    let regularised: Vec<bool> = net.regularised().collect();
    for (p, r) in net.params_mut().zip(regularised) {
        if r {
            p.iter_mut().for_each(|w| {
                if w.abs() < 4.0 * EPS {
                    *w = 4.0 * EPS * w.signum();
                }
            })
        }
    }
}

/// ReLU's derivative jumps at z = 0; a difference whose nudge carries some z across 0
/// measures the jump, not the gradient. True when every ReLU's |z| is well clear of 0.
fn clear_of_kinks(net: &Network, x: &Array2<f32>) -> bool {
    let mut ws = net.workspace(0);
    net.feedforward(&mut ws, x.view(), false);
    net.layers
        .iter()
        .enumerate()
        .filter(|(_, l)| l.activation() == Some(Activation::Relu))
        .all(|(i, l)| l.weighted_input(ws.work(i)).iter().all(|z| z.abs() > 0.1))
}

fn outputs_for(cost: Cost) -> &'static [Activation] {
    match cost {
        Cost::Quadratic => &[
            Activation::Sigmoid,
            Activation::Softmax,
            Activation::Tanh,
            Activation::Identity,
            Activation::Relu,
        ],
        Cost::CrossEntropy => &[Activation::Sigmoid, Activation::Softmax],
        Cost::LogLikelihood => &[Activation::Softmax, Activation::Sigmoid],
    }
}

fn run(cost: Cost) {
    let hidden =
        [Activation::Sigmoid, Activation::Tanh, Activation::Relu, Activation::Identity, Activation::Softmax];
    let shapes: [&[usize]; 3] = [&[6, 4], &[6, 5, 4], &[6, 5, 4, 4]];
    let regs = [(0.0, 0.0), (3.0, 0.0), (0.0, 2.0), (3.0, 2.0)];
    let mut rng = nndl::seeded_rng(42);
    let mut failures = Vec::new();
    let mut checked = 0;
    for &sizes in &shapes {
        for &out in outputs_for(cost) {
            for &hid in &hidden {
                if sizes.len() == 2 && hid != Activation::Sigmoid {
                    continue; // no hidden layer: one case per output is enough
                }
                for &(lambda, l1) in &regs {
                    let m = 3;
                    let classes = *sizes.last().unwrap();
                    // Redraw until no ReLU's z is near its kink (see `clear_of_kinks`).
                    let (mut net, x) = (0..1000)
                        .map(|_| {
                            let net = Network::dense(sizes, hid, out, cost, Init::Scaled, &mut rng).unwrap();
                            let x = Array2::from_shape_simple_fn((m, sizes[0]), || {
                                StandardNormal.sample(&mut rng)
                            });
                            (net, x)
                        })
                        .find(|(net, x)| clear_of_kinks(net, x))
                        .expect("a draw clear of ReLU kinks");
                    if l1 > 0.0 {
                        away_from_zero(&mut net);
                    }
                    let mut y = Array2::zeros((m, classes));
                    for r in 0..m {
                        y[[r, rng.random_range(0..classes)]] = 1.0;
                    }
                    let reg = Regulariser { lambda, l1, n: 20 };
                    let mut ws = net.workspace(0);
                    let err = check(&mut net, &mut ws, &x, &y, &reg);
                    checked += 1;
                    if err.is_nan() || err >= BOUND {
                        failures.push(format!(
                            "{sizes:?} hidden {hid} output {out} λ {lambda} λ₁ {l1}: {err:.2e}"
                        ));
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} {cost} cases off (bound {BOUND}):\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked >= 20);
}

#[test]
fn quadratic_cost_gradients_match_finite_differences() {
    run(Cost::Quadratic);
}

#[test]
fn cross_entropy_gradients_match_finite_differences() {
    run(Cost::CrossEntropy);
}

#[test]
fn log_likelihood_gradients_match_finite_differences() {
    run(Cost::LogLikelihood);
}

/// The check itself must be able to fail: wrong gradients are caught.
#[test]
fn wrong_gradients_are_caught() {
    let mut rng = nndl::seeded_rng(3);
    let mut net = Network::dense(
        &[4, 3, 2],
        Activation::Sigmoid,
        Activation::Sigmoid,
        Cost::Quadratic,
        Init::Scaled,
        &mut rng,
    )
    .unwrap();
    let x = Array2::from_shape_simple_fn((2, 4), || StandardNormal.sample(&mut rng));
    let y = ndarray::array![[1.0f32, 0.0], [0.0, 1.0]];
    let reg = Regulariser { lambda: 3.0, l1: 0.0, n: 20 };
    let mut ws = net.workspace(0);
    assert!(check(&mut net, &mut ws, &x, &y, &reg) < BOUND);
    // 5% too large in one tensor (the output biases)
    let too_large = |g: &mut [Vec<f32>]| g[3].iter_mut().for_each(|v| *v *= 1.05);
    assert!(check_tampered(&mut net, &mut ws, &x, &y, &reg, too_large) > BOUND);
    // the L2 term's derivative (λ/n) w forgotten in the first layer's weights
    let w0: Vec<f32> = net.layers[0].params()[0].to_vec();
    let forgot_l2 = check_tampered(&mut net, &mut ws, &x, &y, &reg, |g| {
        g[0].iter_mut().zip(&w0).for_each(|(g, w)| *g -= reg.lambda / reg.n as f32 * w)
    });
    assert!(forgot_l2 > BOUND, "{forgot_l2}");
}
