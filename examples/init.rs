//! Chapter 3, "Weight initialization": N(0,1) weights against N(0,1/n_in) weights.
//!
//! With weights drawn from N(0,1), a hidden neuron's weighted input z = Σ_j w_j x_j + b sums
//! hundreds of random terms, so |z| is often large, σ(z) sits near 0 or 1, σ'(z) is tiny and
//! the neuron learns slowly (it is saturated). Drawing the weights from N(0,1/n_in) instead keeps
//! z of order 1. The book trains [784,30,10] (cross-entropy, λ = 5.0, η = 0.1, mini-batch 10,
//! 30 epochs) both ways: the old initialisation reaches just under 87% on the validation images
//! after the first epoch, the new one almost 93%; both end somewhat above 96%. The new
//! initialisation speeds learning up; here it does not change where learning ends.
//!
//! ```sh
//! cargo run --release --example init            # the book's run (a few seconds)
//! cargo run --release --example init -- --quick # 5,000 images, 3 epochs
//! ```

mod common;

use nndl::plot::{self, Chart, Corner, Series};
use nndl::prelude::*;
use nndl::train::{self, Monitor};

/// What one run measured.
struct Run {
    /// "large" (N(0,1)) or "scaled" (N(0,1/n_in)).
    init: Init,
    /// Accuracy on the validation images after each epoch, in %.
    validation_accuracy: Vec<f64>,
    /// Accuracy on the test images after the last epoch, in %.
    test_accuracy: f64,
}

fn main() {
    let opts = common::Opts::parse_for("Chapter 3: N(0,1) against N(0,1/n_in) initial weights");
    let (train_size, validation_size, epochs) =
        if opts.quick { (5_000, 1_000, 3) } else { (50_000, 10_000, 30) };
    let mnist = opts.mnist(train_size, validation_size);
    println!(
        "[784,30,10], cross-entropy, λ = 5.0, η = 0.1, mini-batch 10, {epochs} epochs on {train_size} images"
    );

    let runs = [Init::Large, Init::Scaled].map(|init| run(&mnist, init, epochs, opts.seed));
    for r in &runs {
        println!("first-epoch validation accuracy ({}): {:.2}%", r.init, r.validation_accuracy[0]);
        println!("final validation accuracy ({}): {:.2}%", r.init, r.validation_accuracy[epochs - 1]);
        println!("final test accuracy ({}): {:.2}%", r.init, r.test_accuracy);
    }

    let path = opts.plot_path("init");
    common::check(plot::charts(&path, &[chart(&runs)], 1), "drawing the plot");
    common::wrote(&path);
    opts.write_section("init", "Weight initialisation (chapter 3)", &docs(&runs, epochs));
}

/// Trains [784,30,10] from weights drawn with `init`, watching the validation accuracy.
///
/// Both runs use the same seed, so they draw the same standard-normal numbers: the "large"
/// weights are exactly the "scaled" ones times √n_in (= 28 in the first layer), the biases are
/// the same, and the mini-batches come in the same order.
fn run(mnist: &nndl::data::Mnist, init: Init, epochs: usize, seed: u64) -> Run {
    let mut rng = nndl::seeded_rng(seed);
    let mut net = common::sigmoid_net(&[784, 30, 10], Cost::CrossEntropy, init, &mut rng);
    let cfg = TrainConfig {
        epochs,
        batch_size: 10,
        eta: 0.1,
        lambda: 5.0,
        monitor: Monitor {
            training_cost: false,
            training_accuracy: false,
            evaluation_cost: false,
            evaluation_accuracy: true,
        },
        ..TrainConfig::default()
    };
    let report = common::check(
        train::train(&mut net, &mnist.training, Some(&mnist.validation), &cfg, &mut rng, &mut train::Silent),
        &format!("training with {init} initial weights"),
    );
    let test = train::evaluate(&net, &mnist.test, &Default::default(), 1);
    Run {
        init,
        validation_accuracy: report
            .epochs
            .iter()
            .map(|e| 100.0 * e.evaluation_accuracy.expect("monitored"))
            .collect(),
        test_accuracy: 100.0 * test.accuracy(),
    }
}

/// The book's figure: validation accuracy per epoch for both initialisations.
fn chart(runs: &[Run]) -> Chart {
    let mut chart = Chart::new("Classification accuracy on the validation data", "epoch", "accuracy (%)");
    for r in runs {
        chart = chart.with(Series::per_epoch(label(r.init), &r.validation_accuracy));
    }
    // The lines end at the top right; the book puts the legend at the bottom right too.
    chart.legend(Corner::LowerRight)
}

fn label(init: Init) -> &'static str {
    match init {
        Init::Large => "old: weights from N(0,1)",
        Init::Scaled => "new: weights from N(0,1/n_in)",
    }
}

/// The docs section: the measured accuracies beside the book's.
fn docs(runs: &[Run], epochs: usize) -> String {
    let book = [("just under 87%", "somewhat over 96%"), ("almost 93%", "somewhat over 96%")];
    let mut rows = String::new();
    for (r, (first, last)) in runs.iter().zip(book) {
        rows += &format!(
            "| {} | {:.2}% | {first} | {:.2}% | {last} | {:.2}% |\n",
            label(r.init),
            r.validation_accuracy[0],
            r.validation_accuracy[epochs - 1],
            r.test_accuracy,
        );
    }
    format!(
        "[784,30,10] with cross-entropy, λ = 5.0, η = 0.1 and mini-batches of 10, trained for {epochs} \
         epochs from each initialisation (the same random draws, scaled differently; biases from \
         N(0,1) in both). Accuracy is on the validation images after each epoch, and on the test \
         images at the end.\n\n\
         | initial weights | after epoch 1 | book | after epoch {epochs} | book | test, epoch {epochs} |\n\
         | --- | ---: | ---: | ---: | ---: | ---: |\n{rows}\n\
         With N(0,1) weights most hidden neurons start saturated, so the first epochs are spent \
         un-saturating them; N(0,1/n_in) weights start every neuron where σ is steep. For this \
         network the two end in the same place: the new initialisation makes learning faster, not \
         (here) better."
    )
}
