//! Chapter 1's exercise in "A simple network to classify handwritten digits": add a layer of
//! four neurons after a trained network's ten outputs that writes the digit in binary.
//!
//! The book asks for the weights and biases of that layer, assuming the old output layer is
//! clean: the right digit's neuron at 0.99 or more, the other nine below 0.01. This program
//! trains the chapter-1 network, adds the four hand-set neurons, and checks on the 10,000 test
//! images how often the four bits spell the digit the ten outputs pick (their argmax), when the
//! outputs are not as clean as the exercise assumes.
//!
//! ```sh
//! cargo run --release --example binary_output            # network.py's 30-epoch run (a few seconds)
//! cargo run --release --example binary_output -- --quick # 20,000 images, 10 epochs
//! ```

mod common;

use ndarray::{Array2, Axis, s};
use nndl::data::Dataset;

/// The ten digits.
const CLASSES: usize = 10;
use nndl::layers::Dense;
use nndl::plot::{self, Shading, Tile};
use nndl::prelude::*;
use nndl::train::{self, argmax};

/// Output neurons of the new layer: bits of 8, 4, 2 and 1, in that order, so the four outputs
/// read left to right as the binary numeral (7 → 0111).
const BITS: usize = 4;

/// The size of every weight of the new layer. Any W > 0 gives the same bits; a large W pushes
/// the sigmoid outputs close to exactly 0 or 1.
const W: f32 = 10.0;

/// How many test digits the plot shows, and at most how many disagreements after them.
const SHOWN: usize = 30;
const SHOWN_DISAGREEMENTS: usize = 10;

fn main() {
    let opts = common::Opts::parse_for("Chapter 1 exercise: a layer that writes the digit in binary");
    let (train_size, epochs) = if opts.quick { (20_000, 10) } else { (50_000, 30) };
    let mnist = opts.mnist(train_size, 0);

    let net = train_chapter1_net(&mnist.training, epochs, opts.seed);
    let ten_right = train::evaluate(&net, &mnist.test, &Default::default(), 1).correct;
    println!("[784,30,10], quadratic cost, η = 3.0, {epochs} epochs on {train_size} images");
    println!("ten-output accuracy: {:.2}%", percent(ten_right, mnist.test.len()));

    let layer = binary_layer();
    println!("weights of the binary layer (rows: the bits of 8, 4, 2, 1; columns: digits 0-9), biases 0:");
    for row in layer.weights().rows() {
        let cells: Vec<String> = row.iter().map(|w| format!("{w:+4}")).collect();
        println!("  [{}]", cells.join(" "));
    }
    let net = stack(net, layer);

    let out = run_test_set(&net, &mnist.test);
    let total = mnist.test.len();
    for (i, right) in out.bit_right(&mnist.test.labels).iter().enumerate() {
        println!("bit of {} right: {:.2}%", 8 >> i, percent(*right, total));
    }
    println!("all 4 bits right: {:.2}%", percent(out.code_right(&mnist.test.labels), total));
    println!("4-bit code agrees with the argmax: {:.2}%", percent(out.agree(), total));
    println!("outputs as clean as the exercise assumes: {:.2}%", percent(out.clean, total));

    let path = opts.plot_path("binary_output");
    let title = "Test digits and the four new outputs (last row: bits ≠ the argmax of the ten outputs)";
    common::check(plot::image_grid(&path, title, &tiles(&mnist.test, &out), 10, Shading::Ink), "drawing");
    common::wrote(&path);
    let body = docs(&out, &mnist.test.labels, ten_right, epochs, train_size);
    opts.write_section("binary_output", "A binary output layer (chapter 1 exercise)", &body);
}

fn percent(right: usize, total: usize) -> f64 {
    100.0 * right as f64 / total as f64
}

/// network.py's chapter-1 run: [784,30,10] sigmoid neurons, quadratic cost, mini-batches of 10,
/// η = 3.0.
fn train_chapter1_net(training: &Dataset, epochs: usize, seed: u64) -> Network {
    let mut rng = nndl::seeded_rng(seed);
    let mut net = common::sigmoid_net(&[784, 30, 10], Cost::Quadratic, Init::Scaled, &mut rng);
    let cfg = TrainConfig { epochs, monitor: train::Monitor::default(), ..TrainConfig::default() };
    common::check(train::train(&mut net, training, None, &cfg, &mut rng, &mut train::Silent), "training");
    net
}

/// The new layer: 4 sigmoid neurons reading the 10 old outputs, `weights` `[4, 10]`.
///
/// Neuron i stands for bit i of the numeral (8, 4, 2, 1). Its weight from old output j is +W
/// if digit j has that bit set and −W if not; its bias is 0. Suppose the old outputs are as the
/// exercise assumes: a_d ≥ 0.99 for the right digit d, a_j < 0.01 for the nine others. Then
///
///   z_i = Σ_j w_ij a_j + b_i = ±W a_d + Σ_{j≠d} ±W a_j,
///
/// where the first term is at least 0.99 W in size and the nine others together at most
/// 0.09 W. So z_i takes the sign of w_id, that is, it is positive exactly when digit d has bit
/// i set, and σ(z_i) ≥ σ(0.9 W) ≈ 0.9999 or ≤ 0.0001. Any bias between −0.9 W and 0.9 W would
/// do; 0 sits in the middle, so the one active output decides, with the same margin for a 1 as
/// for a 0. When the outputs are not clean, z_i weighs the digits with bit i set against those
/// without, which usually still favours the largest output.
fn binary_layer() -> Dense {
    let weights = Array2::from_shape_fn((BITS, CLASSES), |(i, digit)| {
        let place = BITS - 1 - i; // neuron 0 is the bit of 8
        if (digit >> place) & 1 == 1 { W } else { -W }
    });
    Dense::from_parameters(
        CLASSES,
        weights.as_slice().expect("standard layout"),
        &[0.0; BITS],
        Activation::Sigmoid,
    )
}

/// What the extended network ([784,30,10,4]) did with each test image.
struct Outputs {
    /// The four new outputs read as a number, each bit on if its output is above 1/2: 0-15.
    codes: Vec<usize>,
    /// The argmax of the ten old outputs.
    argmaxes: Vec<usize>,
    /// Test images whose ten outputs are as clean as the exercise assumes.
    clean: usize,
}

impl Outputs {
    /// For each bit (8, 4, 2, 1): on how many images it matches that bit of the true label.
    fn bit_right(&self, labels: &[u32]) -> [usize; BITS] {
        std::array::from_fn(|i| {
            let place = BITS - 1 - i;
            self.codes
                .iter()
                .zip(labels)
                .filter(|&(&c, &l)| (c >> place) & 1 == (l as usize >> place) & 1)
                .count()
        })
    }

    /// On how many images all four bits spell the true label.
    fn code_right(&self, labels: &[u32]) -> usize {
        self.codes.iter().zip(labels).filter(|&(&c, &l)| c == l as usize).count()
    }

    /// On how many images the four bits spell the ten outputs' argmax.
    fn agree(&self) -> usize {
        self.codes.iter().zip(&self.argmaxes).filter(|(c, a)| c == a).count()
    }
}

/// The trained layers with `layer` after them: [784,30,10] becomes [784,30,10,4]. The cost
/// is never used (this network is not trained further); quadratic suits any output.
fn stack(trained: Network, layer: Dense) -> Network {
    let mut layers = trained.layers;
    layers.push(Box::new(layer));
    let specs: Vec<LayerSpec> = layers.iter().map(|l| l.spec()).collect();
    common::check(Network::check(&specs, Cost::Quadratic), "adding the binary layer");
    Network::from_layers(layers, Cost::Quadratic)
}

/// Runs the test images through the network a thousand at a time, reading both the ten old
/// outputs (layer 2's activations) and the four new ones.
fn run_test_set(net: &Network, test: &Dataset) -> Outputs {
    let mut out = Outputs { codes: Vec::new(), argmaxes: Vec::new(), clean: 0 };
    let chunk = 1_000;
    let mut x = Array2::zeros((chunk, test.input_size()));
    let mut y = Array2::zeros((chunk, CLASSES));
    let mut ws = net.workspace(0);
    for start in (0..test.len()).step_by(chunk) {
        let k = chunk.min(test.len() - start);
        let (xs, ys) = (x.as_slice_mut().unwrap(), y.as_slice_mut().unwrap());
        test.fill_range(start..start + k, &mut xs[..k * test.input_size()], &mut ys[..k * CLASSES]);
        let bits = net.feedforward(&mut ws, x.slice(s![..k, ..]), false).to_owned();
        let ten = net.layers[1].output(ws.work(1));
        for (old, new) in ten.axis_iter(Axis(0)).zip(bits.axis_iter(Axis(0))) {
            out.argmaxes.push(argmax(old.iter().copied()));
            out.codes.push(new.iter().fold(0, |code, &a| 2 * code + usize::from(a > 0.5)));
            out.clean += usize::from(is_clean(old.as_slice().expect("a row")));
        }
    }
    out
}

/// Whether ten outputs are as the exercise assumes: one at 0.99 or more, the rest below 0.01.
fn is_clean(outputs: &[f32]) -> bool {
    outputs.iter().filter(|&&a| a >= 0.99).count() == 1 && outputs.iter().filter(|&&a| a >= 0.01).count() == 1
}

/// `0111` for 7.
fn numeral(code: usize) -> String {
    format!("{code:04b}")
}

/// The first [`SHOWN`] test digits captioned "bits = number", then up to
/// [`SHOWN_DISAGREEMENTS`] digits where the bits and the argmax differ, captioned
/// "bits ≠ argmax".
fn tiles(test: &Dataset, out: &Outputs) -> Vec<Tile> {
    let tile = |i: usize, caption: String| Tile {
        values: test.bytes(i).unwrap().iter().map(|&p| p as f32 / 255.0).collect(),
        width: test.shape.width,
        height: test.shape.height,
        caption,
    };
    let shown =
        (0..SHOWN.min(test.len())).map(|i| tile(i, format!("{} = {}", numeral(out.codes[i]), out.codes[i])));
    let disagree = (0..test.len()).filter(|&i| out.codes[i] != out.argmaxes[i]).take(SHOWN_DISAGREEMENTS);
    let disagree = disagree.map(|i| tile(i, format!("{} ≠ {}", numeral(out.codes[i]), out.argmaxes[i])));
    shown.chain(disagree).collect()
}

/// The docs section: the layer's weights and what it measured.
fn docs(out: &Outputs, labels: &[u32], ten_right: usize, epochs: usize, train_size: usize) -> String {
    let total = labels.len();
    let mut weights = String::from("| bit | 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 | bias |\n");
    weights += "| --- |---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
    for (i, row) in binary_layer().weights().rows().into_iter().enumerate() {
        let cells: Vec<String> = row.iter().map(|w| format!("{w:+}")).collect();
        weights += &format!("| {} | {} | 0 |\n", 8 >> i, cells.join(" | "));
    }
    let bits: Vec<String> = out
        .bit_right(labels)
        .iter()
        .enumerate()
        .map(|(i, &r)| format!("bit of {}: {:.2}%", 8 >> i, percent(r, total)))
        .collect();
    format!(
        "network.py's chapter-1 net ([784,30,10], sigmoid neurons, quadratic cost, η = 3.0, \
         mini-batches of 10) trained for {epochs} epochs on {train_size} images gets {:.2}% of the \
         test digits right. A fourth layer of four sigmoid neurons is then added after its ten \
         outputs, with weights set by hand: neuron i (the bit of 8, 4, 2 or 1) gets +{W} from each \
         digit that has bit i set and −{W} from each that has not, and bias 0.\n\n{weights}\n\
         If exactly one old output is active (≥ 0.99, the others < 0.01, as the exercise assumes), \
         it outweighs the other nine together, so each new neuron's weighted input has the sign \
         of that digit's bit; the bias 0 keeps the threshold halfway, so a 1 and a 0 are decided \
         with the same margin.\n\n\
         On the test images the ten outputs are that clean for {:.2}% of them. Still, the four bits \
         spell the same number as the argmax of the ten outputs for {:.2}% of the test images, \
         and the true digit for {:.2}% ({}). The last row of the plot shows images where the bits \
         and the argmax differ: the ten outputs were unsure, with two or more digits partly \
         active, and a bit then sides with whichever group of digits adds up to more.",
        percent(ten_right, total),
        percent(out.clean, total),
        percent(out.agree(), total),
        percent(out.code_right(labels), total),
        bits.join(", "),
    )
}
