//! Backprop through convolution, pooling, dropout and flatten against finite differences.

mod common;

use common::{BOUND, EPS, check};
use ndarray::Array2;
use nndl::activation::Activation;
use nndl::cost::Cost;
use nndl::layers::{Init, LayerSpec, Shape, parse_arch};
use nndl::network::Network;
use nndl::optim::Regulariser;
use rand::Rng as _;
use rand_distr::{Distribution, StandardNormal};

/// Checks `arch` (on inputs of `shape`) with log-likelihood over a softmax output, with and
/// without L2/L1; returns the worst error.
fn check_arch(arch: &str, shape: Shape, seed: u64) -> f64 {
    let specs = parse_arch(arch, shape).unwrap_or_else(|e| panic!("{arch}: {e}"));
    let classes = specs.last().unwrap().out_size();
    let mut rng = nndl::seeded_rng(seed);
    let mut worst = 0.0f64;
    for &(lambda, l1) in &[(0.0, 0.0), (2.0, 1.0)] {
        let m = 3;
        // Shared weights put many ReLU z's in reach of one nudge: redraw until none is within
        // it (|Δz| ≤ h·|x| ≈ 0.03); max-pooling kinks are left to the check to skip.
        let (mut net, x) = (0..5000)
            .map(|_| {
                let mut net = Network::new(&specs, Cost::LogLikelihood, Init::Scaled, &mut rng).unwrap();
                if l1 > 0.0 {
                    // |w| has a kink at 0 too: keep the weights out of a nudge's reach of it.
                    let regularised: Vec<bool> = net.regularised().collect();
                    for (p, r) in net.params_mut().zip(regularised) {
                        if r {
                            p.iter_mut().for_each(|w| {
                                if w.abs() < 4.0 * EPS {
                                    *w = 4.0 * EPS * w.signum()
                                }
                            })
                        }
                    }
                }
                let x = Array2::from_shape_simple_fn((m, shape.size()), || StandardNormal.sample(&mut rng));
                (net, x)
            })
            .find(|(net, x)| {
                let mut ws = net.workspace(0);
                net.feedforward(&mut ws, x.view(), true);
                let relu_clear = net.layers.iter().enumerate().all(|(i, l)| {
                    l.activation() != Some(Activation::Relu)
                        || l.weighted_input(ws.work(i)).iter().all(|z| z.abs() > 0.03)
                });
                // Max pooling has a kink wherever a window's two largest inputs trade places:
                // keep each window's winner clear of a nudge's reach too.
                let pools_clear = specs.iter().enumerate().all(|(i, spec)| match *spec {
                    LayerSpec::Pool { pool: nndl::layers::PoolKind::Max, input, size, stride } if i > 0 => {
                        let before = &net.layers[i - 1];
                        let z = before.output(ws.work(i - 1));
                        z.rows()
                            .into_iter()
                            .all(|row| max_windows_clear(row.as_slice().unwrap(), input, size, stride, 0.04))
                    }
                    _ => true,
                });
                relu_clear && pools_clear
            })
            .unwrap_or_else(|| panic!("{arch}: no draw clear of ReLU and max-pooling kinks"));
        // Draw the dropout masks once, then keep them for backprop and every difference.
        let mut ws = net.workspace(0);
        net.feedforward(&mut ws, x.view(), true);
        net.freeze_randomness(&mut ws, true);
        let mut y = Array2::zeros((m, classes));
        for r in 0..m {
            y[[r, rng.random_range(0..classes)]] = 1.0;
        }
        if std::env::var("GC_DEBUG").is_ok() {
            eprintln!("checking {arch} λ {lambda} λ₁ {l1}");
        }
        let err = check(&mut net, &mut ws, &x, &y, &Regulariser { lambda, l1, n: 10 });
        worst = worst.max(err);
    }
    worst
}

/// Whether every `size × size` window (moved by `stride`) of every channel of `x` (one example,
/// `input`-shaped) has its largest value ahead of the next by more than `gap`.
fn max_windows_clear(x: &[f32], input: Shape, size: usize, stride: usize, gap: f32) -> bool {
    let (h, w) = (input.height, input.width);
    let (oh, ow) = ((h - size) / stride + 1, (w - size) / stride + 1);
    (0..input.channels).all(|c| {
        (0..oh).all(|oy| {
            (0..ow).all(|ox| {
                let mut v: Vec<f32> = (0..size)
                    .flat_map(|i| (0..size).map(move |j| (i, j)))
                    .map(|(i, j)| x[(c * h + oy * stride + i) * w + ox * stride + j])
                    .collect();
                v.sort_by(|a, b| b.total_cmp(a));
                v.len() < 2 || v[0] - v[1] > gap
            })
        })
    })
}

fn assert_all(cases: &[(&str, Shape)]) {
    let mut failures = Vec::new();
    for (i, &(arch, shape)) in cases.iter().enumerate() {
        let err = check_arch(arch, shape, 100 + i as u64);
        if err.is_nan() || err >= BOUND {
            failures.push(format!("{arch} on {shape}: {err:.2e}"));
        }
    }
    assert!(failures.is_empty(), "bound {BOUND}:\n{}", failures.join("\n"));
}

#[test]
fn conv_strides_paddings_and_channels() {
    let (one, two, three) = (Shape::new(1, 7, 7), Shape::new(2, 6, 6), Shape::new(3, 7, 5));
    assert_all(&[
        ("conv 2 3x3; softmax 3", one),
        ("conv 2 3x3 same tanh; softmax 3", one),
        ("conv 3 3x3 stride 2; softmax 3", one),
        ("conv 2 2x2 stride 2 same; softmax 3", one),
        ("conv 3 3x3 relu; softmax 4", two),
        ("conv 2 4x4 stride 2 same tanh; softmax 2", two),
        ("conv 2 3x3 stride 2 same; softmax 3", three),
        ("conv 4 1x1 identity; softmax 3", three),
        ("conv 2 3x3 tanh; conv 2 2x2 stride 2 same; softmax 3", three),
        // a valid conv at stride 1 after another: its ∂C/∂x takes col2im's shortcut
        ("conv 2 3x3 tanh; conv 3 2x2 relu; softmax 3", three),
    ]);
}

#[test]
fn every_pooling_kind() {
    let s = Shape::new(2, 8, 8);
    assert_all(&[
        ("conv 2 3x3 tanh; maxpool 2; softmax 3", s),
        ("conv 2 3x3 tanh; avgpool 2; softmax 3", s),
        ("conv 2 3x3 tanh; l2pool 2; softmax 3", s),
        ("conv 2 3x3 tanh; maxpool 3 stride 1; softmax 3", s),
        ("conv 2 3x3 sigmoid; avgpool 2 stride 1; softmax 3", s),
        ("maxpool 2; softmax 3", s),
    ]);
}

#[test]
fn dropout_with_a_fixed_mask_and_flatten() {
    let s = Shape::new(1, 6, 6);
    assert_all(&[
        ("dense 8 tanh; dropout 0.5; softmax 3", Shape::flat(5)),
        ("conv 2 3x3 tanh; dropout 0.3; flatten; dense 5 sigmoid; dropout 0.5; softmax 3", s),
    ]);
}

/// Colour images of a size nothing like MNIST's, through every kind of layer a conv net uses:
/// each filter sums over the three channels, pooling works per channel.
#[test]
fn a_colour_conv_net_on_non_square_images() {
    let rgb = Shape::new(3, 9, 7);
    assert_all(&[
        ("conv 3 3x3 tanh; maxpool 2; dense 5 sigmoid; softmax 3", rgb),
        ("conv 2 2x2 stride 2 same relu; avgpool 2 stride 1; flatten; softmax 2", rgb),
        ("conv 4 3x3 same tanh; l2pool 3; conv 2 1x1 sigmoid; softmax 4", rgb),
    ]);
}

#[test]
fn a_whole_conv_net() {
    assert_all(&[(
        "conv 3 3x3 tanh; maxpool 2; conv 4 2x2 sigmoid; avgpool 2; dense 6 relu; dropout 0.25; softmax 4",
        Shape::new(1, 10, 10),
    )]);
}

/// Dropout really drops: in training about p of the activations are zero and the rest scaled;
/// at inference nothing changes.
#[test]
fn dropout_drops_only_while_training() {
    let mut rng = nndl::seeded_rng(9);
    let spec = LayerSpec::Dropout { input: Shape::flat(1000), p: 0.3 };
    let layer = spec.build(Init::Scaled, &mut rng);
    let mut work = layer.work(0);
    let x = Array2::<f32>::ones((4, 1000));
    layer.forward(&mut work, x.view(), true);
    let zeros = layer.output(&work).iter().filter(|&&v| v == 0.0).count() as f64 / 4000.0;
    assert!((zeros - 0.3).abs() < 0.03, "{zeros}");
    assert!(layer.output(&work).iter().all(|&v| v == 0.0 || (v - 1.0 / 0.7).abs() < 1e-6));
    layer.forward(&mut work, x.view(), false);
    assert!(layer.output(&work).iter().all(|&v| v == 1.0));
}

#[test]
fn conv_output_matches_a_direct_convolution() {
    // One 3×3 filter over a 2-channel 5×5 input, stride 2, same padding, against the definition.
    let spec = parse_arch("conv 1 3x3 stride 2 same identity", Shape::new(2, 5, 5)).unwrap();
    let mut rng = nndl::seeded_rng(4);
    let layer = spec[0].build(Init::Scaled, &mut rng);
    let x = Array2::from_shape_fn((1, 50), |(_, i)| (i as f32 * 0.37).sin());
    let mut w = Vec::new();
    let mut b = 0.0;
    for (p, info) in layer.params().iter().zip(spec[0].params()) {
        if info.name == "weights" { w = p.to_vec() } else { b = p[0] }
    }
    let mut work = layer.work(0);
    layer.forward(&mut work, x.view(), false);
    let out = layer.output(&work);
    assert_eq!(out.ncols(), 9); // 3×3
    for oy in 0..3 {
        for ox in 0..3 {
            let mut z = b;
            for c in 0..2 {
                for i in 0..3 {
                    for j in 0..3 {
                        let (y, xx) = ((oy * 2 + i) as isize - 1, (ox * 2 + j) as isize - 1);
                        if (0..5).contains(&y) && (0..5).contains(&xx) {
                            z += w[(c * 3 + i) * 3 + j] * x[[0, c * 25 + y as usize * 5 + xx as usize]];
                        }
                    }
                }
            }
            assert!((out[[0, oy * 3 + ox]] - z).abs() < 1e-5);
        }
    }
    let _ = Activation::Identity;
}

/// A network pools before it activates (network3.py's order) when a conv layer of monotone
/// neurons feeds a max pool; the function is the one the layers compute on their own.
#[test]
fn pooling_before_activating_computes_the_same_function() {
    for (act, shape) in [
        ("sigmoid", Shape::new(1, 8, 8)),
        ("tanh", Shape::new(1, 8, 8)),
        ("relu", Shape::new(1, 8, 8)),
        ("tanh", Shape::new(3, 11, 9)),
    ] {
        let arch = format!("conv 3 3x3 {act}; maxpool 2; conv 2 2x2 {act}; maxpool 2 stride 1; softmax 3");
        let specs = parse_arch(&arch, shape).unwrap();
        let net = Network::new(&specs, Cost::LogLikelihood, Init::Scaled, &mut nndl::seeded_rng(5)).unwrap();
        // The same parameters, as separate layers that each apply their own activation.
        let mut rng = nndl::seeded_rng(5);
        let layers: Vec<_> = specs.iter().map(|s| s.build(Init::Scaled, &mut rng)).collect();
        let mut rng = nndl::seeded_rng(6);
        let x = Array2::from_shape_simple_fn((4, shape.size()), || StandardNormal.sample(&mut rng));
        let mut a = x.clone();
        for layer in &layers {
            let mut work = layer.work(0);
            layer.forward(&mut work, a.view(), false);
            a = layer.output(&work).to_owned();
        }
        let mut ws = net.workspace(0);
        let fused = net.feedforward(&mut ws, x.view(), false);
        let diff = (&fused - &a).iter().fold(0.0f32, |m, d| m.max(d.abs()));
        assert!(diff < 1e-6, "{arch}: {diff}");
        // The pooling layers took the activations over: their weighted inputs are the pooled z
        // (for ReLU they equal the output wherever the maxima are positive).
        if act != "relu" {
            let pool = &net.layers[1];
            assert_ne!(pool.weighted_input(ws.work(1)), pool.output(ws.work(1)), "{arch}");
        }
    }
}
