//! Chapter 3, "How to choose a neural network's hyper-parameters?": the learning rate η.
//!
//! The book trains [784,30,10] (sigmoid neurons, cross-entropy, λ = 5.0, mini-batches of 10,
//! 30 epochs on the 50,000 training images) with η = 0.025, 0.25 and 2.5 and plots the cost on
//! the training data after each epoch. With η = 0.025 the cost falls smoothly but slowly; with
//! η = 0.25 it falls fast and then levels off; with η = 2.5 the steps overshoot the valley and
//! the cost oscillates from the start.
//!
//! ```sh
//! cargo run --release --example learning_rate            # the book's run (a few seconds)
//! cargo run --release --example learning_rate -- --quick # 2,000 images, 5 epochs
//! ```

mod common;

use nndl::plot::{self, Chart, Series};
use nndl::prelude::*;
use nndl::train::{self, Monitor, TrainReport};

/// The three learning rates of the book's figure.
const ETAS: [f32; 3] = [0.025, 0.25, 2.5];

/// What one run measured.
struct Run {
    eta: f32,
    /// Cost (with the L2 term) on the training data after each epoch.
    training_cost: Vec<f64>,
    /// Accuracy on the validation images after each epoch, in %.
    validation_accuracy: Vec<f64>,
}

impl Run {
    fn final_cost(&self) -> f64 {
        *self.training_cost.last().expect("at least one epoch")
    }

    /// How many epochs ended with a higher training cost than the one before.
    fn rises(&self) -> usize {
        self.training_cost.windows(2).filter(|w| w[1] > w[0]).count()
    }
}

fn main() {
    let opts = common::Opts::parse_for("Chapter 3: training cost for η = 0.025, 0.25, 2.5");
    let (train_size, validation_size, epochs) =
        if opts.quick { (2_000, 1_000, 5) } else { (50_000, 10_000, 30) };
    let mnist = opts.mnist(train_size, validation_size);
    println!(
        "[784,30,10], cross-entropy, λ = 5.0, mini-batch 10, {epochs} epochs on {train_size} images; \
         every run starts from the same weights (seed {})",
        opts.seed
    );

    let runs: Vec<Run> = ETAS.iter().map(|&eta| run(&mnist, eta, epochs, opts.seed)).collect();
    for r in &runs {
        println!("final training cost (η = {}): {:.4}", r.eta, r.final_cost());
        println!("first-epoch training cost (η = {}): {:.4}", r.eta, r.training_cost[0]);
        println!("epochs where the cost rose (η = {}): {} of {}", r.eta, r.rises(), epochs - 1);
        println!("final validation accuracy (η = {}): {:.2}%", r.eta, r.validation_accuracy[epochs - 1]);
    }

    let path = opts.plot_path("learning_rate");
    common::check(plot::charts(&path, &charts(&runs), 2), "drawing the plot");
    common::wrote(&path);
    opts.write_section("learning_rate", "Choosing the learning rate (chapter 3)", &docs(&runs, epochs));
}

/// Trains a fresh [784,30,10] with learning rate `eta` and records the training cost and the
/// validation accuracy after each epoch. The same `seed` gives every run the same starting
/// weights and the same order of mini-batches, so only η differs.
fn run(mnist: &nndl::data::Mnist, eta: f32, epochs: usize, seed: u64) -> Run {
    let mut rng = nndl::seeded_rng(seed);
    let mut net = common::sigmoid_net(&[784, 30, 10], Cost::CrossEntropy, Init::Scaled, &mut rng);
    let cfg = TrainConfig {
        epochs,
        batch_size: 10,
        eta,
        lambda: 5.0,
        monitor: Monitor {
            training_cost: true,
            training_accuracy: false,
            evaluation_cost: false,
            evaluation_accuracy: true,
        },
        ..TrainConfig::default()
    };
    let report: TrainReport = common::check(
        train::train(&mut net, &mnist.training, Some(&mnist.validation), &cfg, &mut rng, &mut train::Silent),
        &format!("training with η = {eta}"),
    );
    Run {
        eta,
        training_cost: report.epochs.iter().map(|e| e.training_cost.expect("monitored")).collect(),
        validation_accuracy: report
            .epochs
            .iter()
            .map(|e| 100.0 * e.evaluation_accuracy.expect("monitored"))
            .collect(),
    }
}

/// Left: the book's figure, training cost per epoch for each η. Right: validation accuracy,
/// which the book does not plot, to show what the cost curves mean for classification.
fn charts(runs: &[Run]) -> Vec<Chart> {
    let mut cost = Chart::new("Cost on the training data", "epoch", "cost (with the L2 term)");
    let mut accuracy = Chart::new("Accuracy on the validation data", "epoch", "accuracy (%)");
    for r in runs {
        cost = cost.with(Series::per_epoch(format!("η = {}", r.eta), &r.training_cost));
        accuracy = accuracy.with(Series::per_epoch(format!("η = {}", r.eta), &r.validation_accuracy));
    }
    vec![with_headroom(cost), with_headroom(accuracy)]
}

/// `chart` with its y axis running a third higher than its lines reach, so that the legend,
/// drawn in the top right corner, sits above them.
fn with_headroom(chart: Chart) -> Chart {
    let ys = chart.series.iter().flat_map(|s| s.points.iter().map(|p| p.1)).filter(|y| y.is_finite());
    let (low, high) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), y| (lo.min(y), hi.max(y)));
    chart.y_range(low, high + (high - low) / 3.0)
}

/// The docs section: what each run measured beside what the book says of it.
fn docs(runs: &[Run], epochs: usize) -> String {
    let book = [
        "decreases smoothly until the final epoch (too slow)",
        "decreases, then near saturation after about 20 epochs (best)",
        "large oscillations right from the start (too large)",
    ];
    let mut rows = String::new();
    for (r, says) in runs.iter().zip(book) {
        rows += &format!(
            "| {} | {:.4} | {:.4} | {} of {} | {:.2}% | {says} |\n",
            r.eta,
            r.training_cost[0],
            r.final_cost(),
            r.rises(),
            epochs - 1,
            r.validation_accuracy[epochs - 1],
        );
    }
    format!(
        "[784,30,10] with cross-entropy and λ = 5.0, trained by mini-batch SGD (m = 10) for {epochs} \
         epochs, three times from the same starting weights with only η changed. The cost on the \
         training data is measured after each epoch (the book's figure); the validation accuracy is \
         added on the right.\n\n\
         | η | training cost, epoch 1 | training cost, epoch {epochs} | epochs the cost rose | \
         validation accuracy | the book |\n\
         | --- | ---: | ---: | ---: | ---: | --- |\n{rows}\n\
         The book's rule of thumb follows from this: find the threshold η at which the cost starts to \
         oscillate or rise in the first few epochs, and use a value a factor of two or so below it."
    )
}
