//! Chapter 3, "Overfitting and regularization": 1,000 training images, 400 epochs.
//!
//! The book trains [784,30,10] (cross-entropy, η = 0.5, mini-batch 10, N(0,1) initial weights)
//! on only the first 1,000 training images for 400 epochs and watches it on the 10,000 test
//! images. The cost on the training data keeps falling and the training accuracy reaches 100%,
//! but the test accuracy stops improving around epoch 280 (at about 82%, with a peak of 82.27%)
//! and the cost on the test data starts rising after about 15 epochs: past that point the
//! network learns peculiarities of its 1,000 images, not digits. Adding L2 regularisation with
//! λ = 0.1 (the weight-decay step w → (1 − ηλ/n) w before each gradient step) closes much of the
//! gap: the test accuracy keeps improving for the whole run, to a peak of 87.1%.
//!
//! ```sh
//! cargo run --release --example overfitting            # the book's two runs (about 20 s)
//! cargo run --release --example overfitting -- --quick # 60 epochs
//! ```

mod common;

use nndl::data::Mnist;
use nndl::plot::{self, Chart, Corner, Series};
use nndl::prelude::*;
use nndl::train::{self, EpochMetrics, Monitor};

/// The regularisation strengths of the book's two runs.
const LAMBDAS: [f32; 2] = [0.0, 0.1];

/// What one run measured after each epoch.
struct Run {
    lambda: f32,
    training_cost: Vec<f64>,
    test_cost: Vec<f64>,
    /// In %.
    training_accuracy: Vec<f64>,
    /// In %.
    test_accuracy: Vec<f64>,
}

impl Run {
    /// The best test accuracy and the epoch (from 1) it was first reached.
    fn peak_test_accuracy(&self) -> (f64, usize) {
        let mut best = (f64::NEG_INFINITY, 0);
        for (i, &a) in self.test_accuracy.iter().enumerate() {
            if a > best.0 {
                best = (a, i + 1);
            }
        }
        best
    }

    /// The epoch (from 1) with the lowest cost on the test data.
    fn lowest_test_cost_epoch(&self) -> usize {
        let mut best = (f64::INFINITY, 0);
        for (i, &c) in self.test_cost.iter().enumerate() {
            if c < best.0 {
                best = (c, i + 1);
            }
        }
        best.1
    }

    /// The last epoch's figure of `series`.
    fn last(series: &[f64]) -> f64 {
        *series.last().expect("at least one epoch")
    }

    /// Training accuracy minus test accuracy after the last epoch, in percentage points.
    fn final_gap(&self) -> f64 {
        Self::last(&self.training_accuracy) - Self::last(&self.test_accuracy)
    }
}

fn main() {
    let opts = common::Opts::parse_for("Chapter 3: overfitting on 1,000 images, and L2 regularisation");
    let epochs = if opts.quick { 60 } else { 400 };
    let mnist = opts.mnist(1_000, 0);
    println!(
        "[784,30,10], N(0,1) weights, cross-entropy, η = 0.5, mini-batch 10, {epochs} epochs on 1000 \
         images, evaluated on the 10000 test images"
    );

    let runs: Vec<Run> = LAMBDAS.iter().map(|&lambda| run(&mnist, lambda, epochs, opts.seed)).collect();
    for r in &runs {
        let (peak, at) = r.peak_test_accuracy();
        println!("peak test accuracy (λ = {}): {peak:.2}% in epoch {at}", r.lambda);
        println!("final test accuracy (λ = {}): {:.2}%", r.lambda, Run::last(&r.test_accuracy));
        println!("final training accuracy (λ = {}): {:.2}%", r.lambda, Run::last(&r.training_accuracy));
        println!("final training cost (λ = {}): {:.4}", r.lambda, Run::last(&r.training_cost));
        println!("lowest test cost (λ = {}): in epoch {}", r.lambda, r.lowest_test_cost_epoch());
        println!("final gap, training - test accuracy (λ = {}): {:.2}", r.lambda, r.final_gap());
    }

    let path = opts.plot_path("overfitting");
    common::check(plot::charts(&path, &charts(&runs), 2), "drawing the plot");
    common::wrote(&path);
    opts.write_section("overfitting", "Overfitting and L2 regularisation (chapter 3)", &docs(&runs, epochs));
}

/// Trains [784,30,10] on `mnist.training` (1,000 images) with L2 strength `lambda`, evaluating
/// on the test images after every epoch as the book does.
fn run(mnist: &Mnist, lambda: f32, epochs: usize, seed: u64) -> Run {
    let mut rng = nndl::seeded_rng(seed);
    // The book still uses network.py's N(0,1) weights here (`net.large_weight_initializer()`):
    // the better initialisation comes later in the chapter.
    let mut net = common::sigmoid_net(&[784, 30, 10], Cost::CrossEntropy, Init::Large, &mut rng);
    let cfg = TrainConfig {
        epochs,
        batch_size: 10,
        eta: 0.5,
        lambda,
        monitor: Monitor {
            training_cost: true,
            training_accuracy: true,
            evaluation_cost: true,
            evaluation_accuracy: true,
        },
        ..TrainConfig::default()
    };
    let report = common::check(
        train::train(&mut net, &mnist.training, Some(&mnist.test), &cfg, &mut rng, &mut train::Silent),
        &format!("training with λ = {lambda}"),
    );
    let series = |get: fn(&EpochMetrics) -> Option<f64>| -> Vec<f64> {
        report.epochs.iter().map(|e| get(e).expect("monitored")).collect()
    };
    let percent = |v: Vec<f64>| v.into_iter().map(|a| 100.0 * a).collect();
    Run {
        lambda,
        training_cost: series(|e| e.training_cost),
        test_cost: series(|e| e.evaluation_cost),
        training_accuracy: percent(series(|e| e.training_accuracy)),
        test_accuracy: percent(series(|e| e.evaluation_accuracy)),
    }
}

/// Four panels, each with both runs: the costs on top, the accuracies below. The accuracy
/// lines end high, so their legends go to the bottom right.
fn charts(runs: &[Run]) -> Vec<Chart> {
    let panel = |title: &str, y: &str, get: fn(&Run) -> &Vec<f64>| {
        let mut chart = Chart::new(title, "epoch", y);
        for r in runs {
            chart = chart.with(Series::per_epoch(format!("λ = {}", r.lambda), get(r)));
        }
        chart
    };
    vec![
        panel("Cost on the training data", "cost", |r| &r.training_cost).log_y(),
        panel("Cost on the test data", "cost", |r| &r.test_cost),
        panel("Accuracy on the test data", "accuracy (%)", |r| &r.test_accuracy).legend(Corner::LowerRight),
        panel("Accuracy on the training data", "accuracy (%)", |r| &r.training_accuracy)
            .legend(Corner::LowerRight),
    ]
}

/// The docs section: each run's figures beside the book's.
fn docs(runs: &[Run], epochs: usize) -> String {
    let book = [("82.27%", "around epoch 280", "around epoch 15"), ("87.1%", "still rising at 400", "—")];
    let mut rows = String::new();
    for (r, (peak_book, plateau_book, cost_book)) in runs.iter().zip(book) {
        let (peak, at) = r.peak_test_accuracy();
        rows += &format!(
            "| {} | {peak:.2}% (epoch {at}) | {peak_book}, {plateau_book} | {:.2}% | {:.2}% | \
             epoch {} | {cost_book} |\n",
            r.lambda,
            Run::last(&r.test_accuracy),
            Run::last(&r.training_accuracy),
            r.lowest_test_cost_epoch(),
        );
    }
    format!(
        "[784,30,10] with N(0,1) initial weights, cross-entropy, η = 0.5 and mini-batches of 10, \
         trained on only the first 1,000 training images for {epochs} epochs, and evaluated on the \
         10,000 test images after each epoch; once without regularisation and once with L2 \
         regularisation, λ = 0.1. The training cost is drawn on a log scale.\n\n\
         | λ | peak test accuracy | book | final test accuracy | final training accuracy | \
         lowest test cost | book |\n\
         | ---: | ---: | --- | ---: | ---: | ---: | --- |\n{rows}\n\
         Without regularisation the training cost keeps falling and the training accuracy sits at \
         or near 100% while the test accuracy all but stops improving: the network is memorising its 1,000 \
         images. The cost on the test data bottoms out early and then rises, because the net grows \
         ever more confident about the test digits it gets wrong. Weight decay keeps the weights \
         small, so the network cannot fit the peculiarities of its few images as closely, and what \
         it learns carries over to the test images better: the gap between training and test \
         accuracy after the last epoch narrows from {:.1} to {:.1} points.",
        runs[0].final_gap(),
        runs[1].final_gap(),
    )
}
