//! Chapter 1, "Toward deep learning" and "A simple network to classify handwritten digits": the
//! naive baselines a network has to beat.
//!
//! - Random guessing gets one digit in ten right: 10%.
//! - Average darkness (the book's `mnist_average_darkness.py`): for each digit, the mean total
//!   ink of its training images; a test image is called the digit whose mean is closest to its
//!   own ink. The book: 2,225 of 10,000, 22.25%.
//! - A linear classifier: no hidden layer, just [784,10] softmax neurons trained by SGD on the
//!   log-likelihood cost (multinomial logistic regression). The book's next baseline is an SVM
//!   with scikit-learn's default settings, 9,435 of 10,000 (94.35%); its chapter-1 network with
//!   30 hidden neurons gets about 95%.
//!
//! ```sh
//! cargo run --release --example baselines            # 50,000 training images (a few seconds)
//! cargo run --release --example baselines -- --quick # 5,000 images, 10 epochs
//! ```

mod common;

use nndl::data::Dataset;

/// The ten digits.
const CLASSES: usize = 10;
use nndl::layers::Dense;
use nndl::plot::{self, Shading, Tile};
use nndl::prelude::*;
use nndl::train;
use rand::Rng as _;

fn main() {
    let opts = common::Opts::parse_for("Chapter 1: random guessing, average darkness, a linear classifier");
    let (train_size, epochs) = if opts.quick { (5_000, 10) } else { (50_000, 30) };
    let mnist = opts.mnist(train_size, 0);
    let test = &mnist.test;
    println!("{train_size} training images, {} test images", test.len());

    let random = random_guessing(test, opts.seed);
    println!("random guessing: {random} of {} right", test.len());
    println!("random guessing accuracy: {:.2}%", percent(random, test.len()));

    let means = mean_darkness(&mnist.training);
    let darkness = darkness_correct(test, &means);
    println!("mean darkness per digit (sum of pixels, 0..1 each): {}", darkness_list(&means));
    println!("average darkness: {darkness} of {} right", test.len());
    println!("average darkness accuracy: {:.2}%", percent(darkness, test.len()));

    let (linear, eta) = train_linear(&mnist.training, epochs, opts.seed);
    let linear_right = train::evaluate(&linear, test, &Default::default(), 1).correct;
    println!("linear classifier: [784,10] softmax, η = {eta}, m = 100, λ = 5.0, {epochs} epochs");
    println!("linear classifier: {linear_right} of {} right", test.len());
    println!("linear classifier accuracy: {:.2}%", percent(linear_right, test.len()));

    let path = opts.plot_path("baselines");
    let tiles = mean_image_tiles(&mnist.training, &means);
    let title = "Mean image and darkness of each digit";
    common::check(plot::image_grid(&path, title, &tiles, 5, Shading::Ink), "drawing the mean images");
    common::wrote(&path);
    let weights_path = opts.out.join("baselines_weights.png");
    let title = "Linear classifier weights (red +, blue −)";
    common::check(
        plot::image_grid(&weights_path, title, &weight_tiles(&linear), 5, Shading::Signed),
        "drawing the weights",
    );
    common::wrote(&weights_path);

    let counts = Counts { random, darkness, linear: linear_right, total: test.len() };
    opts.write_section(
        "baselines",
        "Naive baselines (chapter 1)",
        &docs(&counts, &means, train_size, epochs, eta),
    );
}

fn percent(right: usize, total: usize) -> f64 {
    100.0 * right as f64 / total as f64
}

/// How many test images a uniformly random digit gets right.
fn random_guessing(test: &Dataset, seed: u64) -> usize {
    let mut rng = nndl::seeded_rng(seed);
    test.labels.iter().filter(|&&label| rng.random_range(0..CLASSES as u32) == label).count()
}

/// An image's darkness: the sum of its pixels, each from 0 (white) to 1 (black), as the book
/// sums them.
fn darkness(image: &[u8]) -> f64 {
    image.iter().map(|&p| p as f64 / 255.0).sum()
}

/// For each digit, the mean darkness of its training images: `[10]`.
fn mean_darkness(training: &Dataset) -> [f64; CLASSES] {
    let mut sums = [0.0; CLASSES];
    let mut counts = [0usize; CLASSES];
    for (i, &label) in training.labels.iter().enumerate() {
        sums[label as usize] += darkness(training.bytes(i).unwrap());
        counts[label as usize] += 1;
    }
    std::array::from_fn(|d| sums[d] / counts[d].max(1) as f64)
}

/// The digit whose mean darkness is closest to this image's darkness.
fn guess_by_darkness(image: &[u8], means: &[f64; CLASSES]) -> usize {
    let ink = darkness(image);
    let distance = |d: usize| (means[d] - ink).abs();
    (0..CLASSES).min_by(|&a, &b| distance(a).total_cmp(&distance(b))).expect("ten digits")
}

/// How many test images the average-darkness classifier gets right.
fn darkness_correct(test: &Dataset, means: &[f64; CLASSES]) -> usize {
    (0..test.len())
        .filter(|&i| guess_by_darkness(test.bytes(i).unwrap(), means) == test.labels[i] as usize)
        .count()
}

fn darkness_list(means: &[f64; CLASSES]) -> String {
    let parts: Vec<String> = means.iter().enumerate().map(|(d, m)| format!("{d}: {m:.1}")).collect();
    parts.join(", ")
}

/// A linear classifier: ten softmax neurons reading the 784 pixels directly, trained by
/// mini-batch SGD (m = 100, λ = 5.0) on the log-likelihood cost. Returns it and its η.
///
/// Its weights start at zero: with no hidden layer there are no neurons whose symmetry random
/// weights would have to break, and pixels that are blank in every image keep a zero weight, so
/// the weight pictures show only what was learned.
fn train_linear(training: &Dataset, epochs: usize, seed: u64) -> (Network, f32) {
    let eta = 0.1;
    let pixels = training.input_size();
    let layer =
        Dense::from_parameters(pixels, &vec![0.0; CLASSES * pixels], &[0.0; CLASSES], Activation::Softmax);
    let mut net = Network::from_layers(vec![Box::new(layer)], Cost::LogLikelihood);
    let mut rng = nndl::seeded_rng(seed);
    // Mini-batches of 100 and L2 regularisation (λ = 5.0, as in chapter 3) leave smoother
    // weight pictures than m = 10 without it, for the same accuracy.
    let cfg = TrainConfig {
        epochs,
        batch_size: 100,
        eta,
        lambda: 5.0,
        monitor: train::Monitor::default(),
        ..TrainConfig::default()
    };
    common::check(train::train(&mut net, training, None, &cfg, &mut rng, &mut train::Silent), "training");
    (net, eta)
}

/// The mean image of each digit, captioned with its mean darkness.
fn mean_image_tiles(training: &Dataset, means: &[f64; CLASSES]) -> Vec<Tile> {
    let pixels = training.input_size();
    let mut sums = vec![vec![0.0f32; pixels]; CLASSES];
    let mut counts = [0usize; CLASSES];
    for (i, &label) in training.labels.iter().enumerate() {
        for (s, &p) in sums[label as usize].iter_mut().zip(training.bytes(i).unwrap()) {
            *s += p as f32 / 255.0;
        }
        counts[label as usize] += 1;
    }
    (0..CLASSES)
        .map(|d| Tile {
            values: sums[d].iter().map(|s| s / counts[d].max(1) as f32).collect(),
            width: training.shape.width,
            height: training.shape.height,
            caption: format!("{d}: {:.0}", means[d]),
        })
        .collect()
}

/// Row j of the linear classifier's weights (`[10, 784]`) as a 28×28 picture: the pixels that
/// speak for digit j in red, against it in blue.
fn weight_tiles(net: &Network) -> Vec<Tile> {
    let mut tiles = Vec::new();
    for layer in &net.layers {
        for (value, info) in layer.params().iter().zip(layer.spec().params()) {
            if info.name == "weights" {
                for (digit, row) in value.chunks_exact(info.shape[1]).enumerate() {
                    tiles.push(Tile {
                        values: row.to_vec(),
                        width: 28,
                        height: 28,
                        caption: format!("{digit}"),
                    });
                }
            }
        }
    }
    tiles
}

/// Test images each classifier got right.
struct Counts {
    random: usize,
    darkness: usize,
    linear: usize,
    total: usize,
}

/// The docs section: the three baselines beside the book's figures.
fn docs(c: &Counts, means: &[f64; CLASSES], train_size: usize, epochs: usize, eta: f32) -> String {
    let row = |name: &str, right: usize, book: &str| {
        format!("| {name} | {right} ({:.2}%) | {book} |\n", percent(right, c.total))
    };
    let rows = row("random guessing", c.random, "1 in 10 (10%)")
        + &row("average darkness", c.darkness, "2,225 (22.25%)")
        + &row(
            &format!("linear: [784,10] softmax, SGD η = {eta}, m = 100, λ = 5.0, {epochs} epochs"),
            c.linear,
            "—",
        )
        + "| SVM, scikit-learn's defaults (book only) | — | 9,435 (94.35%) |\n";
    format!(
        "Classifiers that need no hidden layer, fitted to {train_size} training images and scored on \
         the {} test images:\n\n\
         | classifier | right of {} | book |\n| --- | ---: | ---: |\n{rows}\n\
         The plot shows each digit's mean training image and, under it, its mean darkness (the sum \
         of its pixels, each 0 for white to 1 for black): {}. Average darkness separates 1 (little \
         ink) from 0 and 8 (much ink), but most digits sit within a few units of another, so it does \
         barely twice as well as guessing.\n\n\
         A linear classifier weighs every pixel separately. Its weights, one picture per output \
         neuron (red: ink there speaks for the digit; blue: against it), look like blurred digits \
         with the places where other digits put their ink marked against them:\n\n\
         ![Linear classifier weights](baselines_weights.png)",
        c.total,
        c.total,
        darkness_list(means),
    )
}
