//! Chapter 5, "The vanishing gradient problem": in a deep sigmoid net, early layers learn slowly.
//!
//! The book measures how fast each hidden layer learns by the length of its bias gradient,
//! ‖δ^l‖ = ‖∂C/∂b^l‖, averaged over the first 1,000 training images (cross-entropy cost, N(0,1/n_in)
//! weights). At the start of training it finds that each hidden layer learns several times more
//! slowly than the one after it:
//!
//! - [784,30,30,10]: 0.07 and 0.31,
//! - [784,30,30,30,10]: 0.012, 0.060 and 0.283,
//! - [784,30,30,30,30,10]: 0.003, 0.017, 0.070 and 0.285.
//!
//! It then trains [784,30,30,30,10] on those 1,000 images for 500 epochs, each epoch a single
//! step of gradient descent on the whole 1,000 (η = 0.1, λ = 5.0; the book's
//! `generate_gradient.py`), and the gap between the layers stays through training. The reason
//! (chapter 5's derivation): δ^l = σ'(z^l) ⊙ (w^{l+1})ᵀ δ^{l+1}, and σ' ≤ 1/4, so every layer
//! back multiplies the gradient by factors that are usually well below 1.
//!
//! For comparison the same net is trained with ReLU hidden neurons (and η = 0.05), whose
//! derivative is 1 wherever they are active, so the gradient does not shrink on its way back.
//!
//! ```sh
//! cargo run --release --example vanishing_gradient            # the book's runs (about 15 s)
//! cargo run --release --example vanishing_gradient -- --quick # 100 epochs
//! ```

mod common;

use nndl::data::Dataset;
use nndl::plot::{self, Chart, Corner, Series};
use nndl::prelude::*;
use nndl::train::{self, Monitor, TrainReport};

/// Training images, as in the book: the gradients are averaged over all of them.
const IMAGES: usize = 1_000;

/// The nets whose starting gradients the book reports, and its figures for them.
const BOOK_START: [(&[usize], &[f64]); 3] = [
    (&[784, 30, 30, 10], &[0.07, 0.31]),
    (&[784, 30, 30, 30, 10], &[0.012, 0.060, 0.283]),
    (&[784, 30, 30, 30, 30, 10], &[0.003, 0.017, 0.070, 0.285]),
];

/// The net the book trains and watches.
const SIZES: [usize; 5] = [784, 30, 30, 30, 10];

/// One training run of [`SIZES`] with `hidden` neurons.
struct Run {
    hidden: Activation,
    eta: f32,
    report: TrainReport,
}

impl Run {
    /// ‖δ^l‖ of each hidden layer (the output layer left out, as in the book) before training
    /// (epoch 0) and after each epoch: `norms[l][epoch]`.
    fn hidden_norms(&self) -> Vec<Vec<f64>> {
        let start = self.report.initial_gradient_norms.as_ref().expect("tracked");
        let hidden = start.len() - 1;
        (0..hidden)
            .map(|l| {
                let after = self.report.epochs.iter().map(|e| e.gradient_norms.as_ref().expect("tracked")[l]);
                std::iter::once(start[l]).chain(after).collect()
            })
            .collect()
    }

    /// Final accuracy on the training images, in %.
    fn final_accuracy(&self) -> f64 {
        100.0 * self.report.epochs.last().and_then(|e| e.training_accuracy).expect("monitored")
    }
}

fn main() {
    let opts = common::Opts::parse_for("Chapter 5: how fast each hidden layer learns (vanishing gradients)");
    let epochs = if opts.quick { 100 } else { 500 };
    let mnist = opts.mnist(IMAGES, 0);

    println!(
        "‖δ^l‖ = ‖∂C/∂b^l‖ of each hidden layer, averaged over {IMAGES} training images, before training:"
    );
    let start: Vec<Vec<f64>> =
        BOOK_START.iter().map(|(sizes, _)| initial_norms(sizes, &mnist.training, opts.seed)).collect();
    for ((sizes, book), norms) in BOOK_START.iter().zip(&start) {
        println!("initial norms {sizes:?}: {} (book: {})", list(norms), list(book));
    }

    println!("training {SIZES:?} for {epochs} epochs of one full-batch step each (λ = 5.0):");
    // ReLU neurons get half the book's η: at 0.1 the ReLU net learns too, but now and then a
    // step overshoots (its accuracy drops sharply for a few epochs), which clutters the picture.
    let runs = [(Activation::Sigmoid, 0.1), (Activation::Relu, 0.05)]
        .map(|(hidden, eta)| train_net(hidden, eta, epochs, &mnist.training, opts.seed));
    for r in &runs {
        let norms = r.hidden_norms();
        let last: Vec<f64> = norms.iter().map(|n| n[epochs]).collect();
        println!("final norms ({}, η = {}): {}", r.hidden, r.eta, list(&last));
        let first: Vec<f64> = norms.iter().map(|n| n[0]).collect();
        println!("first/last hidden layer at the start ({}): {:.3}", r.hidden, ratio(&first));
        println!("first/last hidden layer at the end ({}): {:.3}", r.hidden, ratio(&last));
        println!("final training accuracy ({}): {:.2}%", r.hidden, r.final_accuracy());
    }
    println!("share of the commonest digit in the {IMAGES} images: {:.2}%", commonest_share(&mnist.training));

    let path = opts.plot_path("vanishing_gradient");
    common::check(plot::charts(&path, &charts(&start, &runs), 2), "drawing the plot");
    common::wrote(&path);
    let body = docs(&start, &runs, epochs, commonest_share(&mnist.training));
    opts.write_section("vanishing_gradient", "The vanishing gradient problem (chapter 5)", &body);
}

/// A fresh net of `sizes` (`hidden` neurons, a sigmoid output layer), cross-entropy cost and
/// N(0,1/n_in) weights: for sigmoid neurons the book's `network2.Network(sizes)`.
fn network(sizes: &[usize], hidden: Activation, seed: u64) -> Network {
    let mut rng = nndl::seeded_rng(seed);
    let net = Network::dense(sizes, hidden, Activation::Sigmoid, Cost::CrossEntropy, Init::Scaled, &mut rng);
    common::check(net, "building the network")
}

/// ‖δ^l‖ of each hidden layer of an untrained sigmoid net of `sizes`.
fn initial_norms(sizes: &[usize], images: &Dataset, seed: u64) -> Vec<f64> {
    let net = network(sizes, Activation::Sigmoid, seed);
    let mut norms = train::gradient_norms(&net, images, IMAGES);
    norms.pop(); // the output layer's
    norms
}

/// Trains [`SIZES`] with `hidden` neurons the book's way: each epoch is one gradient step on all
/// of `images` (mini-batch = the whole set), and ‖δ^l‖ is measured before each step.
fn train_net(hidden: Activation, eta: f32, epochs: usize, images: &Dataset, seed: u64) -> Run {
    let mut net = network(&SIZES, hidden, seed);
    let mut rng = nndl::seeded_rng(seed);
    let cfg = TrainConfig {
        epochs,
        batch_size: IMAGES,
        eta,
        lambda: 5.0,
        monitor: Monitor {
            training_cost: false,
            training_accuracy: true,
            evaluation_cost: false,
            evaluation_accuracy: false,
        },
        track_gradients: Some(IMAGES),
        ..TrainConfig::default()
    };
    let report = common::check(
        train::train(&mut net, images, None, &cfg, &mut rng, &mut train::Silent),
        &format!("training the {hidden} net"),
    );
    Run { hidden, eta, report }
}

/// Top left: the starting ‖δ^l‖ against l for nets of 2, 3 and 4 hidden layers. Top right and
/// bottom left: ‖δ^l‖ through training, sigmoid and ReLU. Bottom right: what the two nets learn.
fn charts(start: &[Vec<f64>], runs: &[Run]) -> Vec<Chart> {
    let mut by_layer =
        Chart::new("Before training: speed of each hidden layer", "hidden layer", "‖δ‖ of the layer").log_y();
    for norms in start {
        let points = norms.iter().enumerate().map(|(l, &n)| ((l + 1) as f64, n)).collect();
        by_layer = by_layer.with(Series::new(format!("{} hidden layers", norms.len()), points));
    }
    // The lines climb from bottom left to top right; the bottom right is free.
    let mut charts = vec![by_layer.legend(Corner::LowerRight)];
    for r in runs {
        let title = format!("Speed of learning, {} hidden layers (η = {})", r.hidden, r.eta);
        let mut chart = Chart::new(title, "epoch (one full-batch step each)", "‖δ‖ of the layer").log_y();
        for (l, norms) in r.hidden_norms().iter().enumerate() {
            let points = norms.iter().enumerate().map(|(e, &n)| (e as f64, n)).collect();
            chart = chart.with(Series::new(format!("hidden layer {}", l + 1), points));
        }
        charts.push(chart);
    }
    let mut accuracy = Chart::new("Accuracy on the 1,000 training images", "epoch", "accuracy (%)");
    for r in runs {
        let ys: Vec<f64> =
            r.report.epochs.iter().map(|e| 100.0 * e.training_accuracy.expect("monitored")).collect();
        accuracy = accuracy.with(Series::per_epoch(format!("{}", r.hidden), &ys));
    }
    // The sigmoid net's line runs along the bottom, the ReLU net's ends at the top right.
    charts.push(accuracy.legend(Corner::UpperLeft));
    charts
}

/// The share of the commonest digit among `images`, in %: the accuracy of always answering it.
fn commonest_share(images: &Dataset) -> f64 {
    let mut counts = [0usize; 10];
    images.labels.iter().for_each(|&l| counts[l as usize] += 1);
    100.0 * *counts.iter().max().expect("ten digits") as f64 / images.len() as f64
}

/// ‖δ^1‖ / ‖δ^L‖ for the first and last hidden layers: 1 when they learn equally fast.
fn ratio(norms: &[f64]) -> f64 {
    norms[0] / norms[norms.len() - 1]
}

/// `[0.012, 0.060, 0.283]`: three decimals, or two significant digits below 0.001 (`4.2e-5`).
fn list(values: &[f64]) -> String {
    let show = |v: f64| if v.abs() >= 1e-3 { format!("{v:.3}") } else { format!("{v:.1e}") };
    let parts: Vec<String> = values.iter().map(|&v| show(v)).collect();
    format!("[{}]", parts.join(", "))
}

/// The docs section: starting norms beside the book's, and what training did to them.
fn docs(start: &[Vec<f64>], runs: &[Run], epochs: usize, commonest: f64) -> String {
    let mut first = String::new();
    for ((sizes, book), norms) in BOOK_START.iter().zip(start) {
        first += &format!("| {sizes:?} | {} | {} |\n", list(norms), list(book));
    }
    let mut second = String::new();
    for r in runs {
        let norms = r.hidden_norms();
        let begin: Vec<f64> = norms.iter().map(|n| n[0]).collect();
        let end: Vec<f64> = norms.iter().map(|n| n[epochs]).collect();
        second += &format!(
            "| {} | {} | {} → {} | {:.3} → {:.3} | {:.1}% |\n",
            r.hidden,
            r.eta,
            list(&begin),
            list(&end),
            ratio(&begin),
            ratio(&end),
            r.final_accuracy()
        );
    }
    format!(
        "How fast each hidden layer learns, measured as the book does: the length of the bias \
         gradient ‖δ^l‖ = ‖∂C/∂b^l‖, averaged over the first {IMAGES} training images (sigmoid \
         neurons, cross-entropy, N(0,1/n_in) weights). Before any training:\n\n\
         | net | ‖δ^1‖, ‖δ^2‖, … measured | book |\n| --- | --- | --- |\n{first}\n\
         Each hidden layer learns several times more slowly than the one after it, so the first \
         layer of the deepest net learns {:.0} times more slowly than its last (the book's figures: \
         95 times). The exact figures depend on the random starting weights; the pattern does not.\n\n\
         Then [784,30,30,30,10] is trained as in the book's `generate_gradient.py`: {epochs} \
         epochs, each a single gradient step on all {IMAGES} images (η = 0.1, λ = 5.0), once with \
         sigmoid hidden neurons and once with ReLU hidden neurons (η halved, which smooths the \
         ReLU net's learning; everything else the same):\n\n\
         | hidden neurons | η | ‖δ^l‖, start → epoch {epochs} | ‖δ^1‖ / ‖δ^3‖, start → end | \
         training accuracy |\n\
         | --- | ---: | --- | ---: | ---: |\n{second}\n\
         With sigmoid neurons the first hidden layer stays the slowest throughout, as in the book's \
         figure: going back one layer multiplies δ by weights times σ'(z), and σ'(z) ≤ 1/4. The \
         book's run is about speeds, not accuracy: in so few small steps the sigmoid net learns \
         little more than how common each digit is (always answering the commonest digit scores \
         {commonest:.1}% on these images). A ReLU neuron passes δ back unchanged wherever it is \
         active (its derivative there is 1), so the hidden layers of the ReLU net learn at comparable \
         speeds (the ratio stays within a small factor of 1), and in the same number of steps the \
         net learns its images.",
        1.0 / ratio(start.last().expect("three nets")),
    )
}
