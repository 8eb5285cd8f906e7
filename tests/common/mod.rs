//! Gradient checking shared by the test files: backprop against central finite differences.
#![allow(dead_code)]

use ndarray::Array2;
use nndl::network::{Network, Workspace};
use nndl::optim::Regulariser;
use std::path::PathBuf;

/// MNIST for the tests, found exactly as the CLI finds it: `$NNDL_DATA`, else the user cache
/// folder, downloaded there (verified) if missing. CI sets `NNDL_DATA`.
pub fn data_dir() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        nndl::data::locate_or_download(None, false)
            .unwrap_or_else(|e| panic!("the tests need MNIST as `nndl train` finds it: {e}"))
    })
    .clone()
}

pub const EPS: f32 = 1e-2;
/// ‖g_backprop − g_numeric‖ / (‖g_backprop‖ + ‖g_numeric‖), per parameter tensor ...
pub const BOUND: f64 = 2e-3;
/// ... unless every element agrees to this absolute error: a tensor whose gradient is itself
/// near f32's rounding noise in the differences (~1e-5, e.g. the biases feeding a softmax
/// hidden layer) cannot show a small relative error.
/// |D(h) − D(h/2)| beyond this (relative) marks a difference that straddles a kink.
pub const KINK_TOL: f64 = 2e-3;
pub const ABS_BOUND: f32 = 5e-5;

pub fn total_cost(
    net: &Network,
    ws: &mut Workspace,
    x: &Array2<f32>,
    y: &Array2<f32>,
    reg: &Regulariser,
) -> f64 {
    let cost = net.cost;
    // Training mode, as in backprop (dropout layers must have their masks frozen in `ws`).
    let a = net.feedforward(ws, x.view(), true);
    cost.total(a, y.view()) / x.nrows() as f64 + reg.penalty(net)
}

/// The largest relative error over the network's parameter tensors, running the network in
/// `ws` (whose dropout masks, if any, must be frozen).
pub fn check(
    net: &mut Network,
    ws: &mut Workspace,
    x: &Array2<f32>,
    y: &Array2<f32>,
    reg: &Regulariser,
) -> f64 {
    check_tampered(net, ws, x, y, reg, |_| {})
}

/// `check`, with `tamper` applied to backprop's gradients first (to show the check can fail).
/// The gradients are flat, one per parameter tensor in `Network::params` order.
pub fn check_tampered(
    net: &mut Network,
    ws: &mut Workspace,
    x: &Array2<f32>,
    y: &Array2<f32>,
    reg: &Regulariser,
    tamper: impl Fn(&mut [Vec<f32>]),
) -> f64 {
    let m = x.nrows() as f32;
    net.backprop(ws, x.view(), y.view());
    let mut analytic: Vec<Vec<f32>> = net
        .params()
        .zip(ws.grads())
        .zip(net.regularised())
        .map(|((w, g), r)| w.iter().zip(g.iter()).map(|(&w, &g)| reg.gradient(w, g, 1.0 / m, r)).collect())
        .collect();
    tamper(&mut analytic);
    let mut worst = 0.0f64;
    for (t, g) in analytic.iter().enumerate() {
        let mut skipped = 0;
        let mut numeric = vec![0.0f32; g.len()];
        for i in 0..g.len() {
            let nudge = |net: &mut Network, by: f32| {
                net.params_mut().nth(t).expect("a parameter tensor per gradient")[i] += by;
            };
            // Central differences at h and h/2, combined (Richardson) so that the O(h²) error
            // cancels: what is left is f32 rounding, not the difference's own bias.
            let mut central = |h: f32| {
                nudge(net, h);
                let plus = total_cost(net, ws, x, y, reg);
                nudge(net, -2.0 * h);
                let minus = total_cost(net, ws, x, y, reg);
                nudge(net, h);
                (plus - minus) / (2.0 * h as f64)
            };
            // Differences at h, h/2, h/4: the first two neighbours that agree (to well within a
            // kink's effect) are combined (Richardson). Where none agree, every nudge crossed a
            // kink (a ReLU at 0, a change of max-pooling winner), where the cost has no
            // derivative to compare, and the element is skipped. A wrong but smooth backprop is
            // not skipped: its differences agree with each other, not with it.
            let d = [central(EPS), central(EPS / 2.0), central(EPS / 4.0)];
            let agree = (0..2).find(|&j| (d[j] - d[j + 1]).abs() <= KINK_TOL * (1.0 + d[j + 1].abs()));
            numeric[i] = match agree {
                Some(j) => ((4.0 * d[j + 1] - d[j]) / 3.0) as f32,
                None => {
                    skipped += 1;
                    if std::env::var("GC_DEBUG").is_ok() {
                        eprintln!("kink? tensor {t} [{i}]: {d:?} backprop {}", g[i]);
                    }
                    g[i]
                }
            };
        }
        assert!(
            skipped * 10 <= g.len().max(10),
            "{skipped} of {} elements of tensor {t} sit on kinks; draw another network",
            g.len()
        );
        let diff: f64 = g.iter().zip(&numeric).map(|(a, b)| ((a - b) as f64).powi(2)).sum::<f64>().sqrt();
        let norm = |v: &[f32]| v.iter().map(|a| (*a as f64).powi(2)).sum::<f64>().sqrt();
        let denom = norm(g) + norm(&numeric);
        if std::env::var("GC_DEBUG").is_ok() {
            for (a, b) in g.iter().zip(&numeric) {
                if (a - b).abs() > 1e-5 && diff / denom > BOUND {
                    eprintln!("tensor {t}: backprop {a} numeric {b}");
                }
            }
        }
        let max_abs = g.iter().zip(&numeric).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
        if denom > 1e-6 && max_abs > ABS_BOUND {
            worst = worst.max(diff / denom);
        }
    }
    worst
}
