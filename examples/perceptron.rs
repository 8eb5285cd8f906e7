//! Chapter 1's perceptrons: a NAND gate from one perceptron, the book's adder of two bits built
//! from NAND perceptrons alone, and the two exercises "Sigmoid neurons simulating perceptrons":
//! scaling every weight and bias by c > 0 leaves a perceptron network unchanged (part I), and a
//! sigmoid neuron with its weights and bias scaled by c → ∞ behaves like a perceptron (part II),
//! except where w·x + b = 0.
//!
//! ```sh
//! cargo run --release --example perceptron
//! ```
//!
//! Every neuron here is the library's [`Dense`] layer with hand-set parameters: one neuron with
//! two inputs is a `[batch, 2] -> [batch, 1]` layer, with [`Activation::Step`] for a perceptron
//! (eq. 2: output 1 if w·x + b > 0, else 0) or [`Activation::Sigmoid`] for a sigmoid neuron
//! (eq. 3–4: output σ(w·x + b)).

mod common;

use ndarray::{Array2, array};
use nndl::activation::Activation;
use nndl::layers::{Dense, Layer};
use nndl::plot::{self, Chart, Series};

/// The book's NAND perceptron: weights (−2, −2), bias 3.
const NAND_WEIGHTS: [f32; 2] = [-2.0, -2.0];
const NAND_BIAS: f32 = 3.0;

/// The four inputs (x1, x2) of a two-input gate, in the order of a truth table.
const INPUTS: [(u8, u8); 4] = [(0, 0), (0, 1), (1, 0), (1, 1)];

/// The scale factors c of the two exercises.
const SCALES: [f32; 5] = [1.0, 2.0, 5.0, 20.0, 50.0];

fn main() {
    let opts = common::Opts::parse_for(
        "Chapter 1's perceptrons: a NAND gate, an adder built from NAND gates, and a sigmoid neuron \
         becoming a perceptron as its weights and bias grow",
    );

    let nand_table = nand_truth_table();
    let adder_table = adder_truth_table(1.0);
    let part_one = scaled_adders_agree(&adder_table);
    let part_two = sigmoid_gaps();
    let zero_z = sigmoid_at_zero_weighted_input();

    let points = if opts.quick { 201 } else { 801 };
    let path = opts.plot_path("perceptron");
    common::check(plot::charts(&path, &neuron_charts(points), 2), "drawing the plot");
    common::wrote(&path);

    let body = docs_body(&nand_table, &adder_table, &part_one, &part_two, zero_z);
    opts.write_section("perceptron", "Perceptrons, NAND gates and the sigmoid neuron (chapter 1)", &body);
}

/// One neuron with two inputs, weights `w` and bias `b`: a `[batch, 2] -> [batch, 1]` layer.
fn neuron(w: [f32; 2], b: f32, activation: Activation) -> Dense {
    Dense::from_parameters(2, &w, &[b], activation)
}

/// The neuron's output for each row of `inputs` (`[batch, 2]`).
fn outputs(neuron: &Dense, inputs: &Array2<f32>) -> Vec<f32> {
    let mut work = neuron.work(0);
    neuron.forward(&mut work, inputs.view(), false);
    neuron.output(&work).column(0).to_vec()
}

/// The four inputs of a truth table as a `[4, 2]` batch.
fn truth_table_inputs() -> Array2<f32> {
    Array2::from_shape_fn((4, 2), |(row, col)| {
        let (x1, x2) = INPUTS[row];
        (if col == 0 { x1 } else { x2 }) as f32
    })
}

/// The NAND perceptron on all four inputs at once; prints `NAND x1 x2 -> out` and stops the run
/// if any row is not NAND.
fn nand_truth_table() -> Vec<u8> {
    let perceptron = neuron(NAND_WEIGHTS, NAND_BIAS, Activation::Step);
    let out: Vec<u8> = outputs(&perceptron, &truth_table_inputs()).iter().map(|&a| a as u8).collect();
    println!("A perceptron with weights (-2, -2) and bias 3 (chapter 1):");
    for (&(x1, x2), &o) in INPUTS.iter().zip(&out) {
        println!("NAND {x1} {x2} -> {o}");
        if o != 1 - (x1 & x2) {
            common::fail(&format!("the perceptron gives {o} for NAND({x1}, {x2})"));
        }
    }
    out
}

/// A NAND gate made of one perceptron whose weights and bias are the book's times `c`.
struct Nand {
    perceptron: Dense,
}

impl Nand {
    fn scaled(c: f32) -> Self {
        let w = NAND_WEIGHTS.map(|w| c * w);
        Nand { perceptron: neuron(w, c * NAND_BIAS, Activation::Step) }
    }

    /// The perceptron's output for the single input (x1, x2).
    fn gate(&mut self, x1: u8, x2: u8) -> u8 {
        let input = array![[x1 as f32, x2 as f32]];
        outputs(&self.perceptron, &input)[0] as u8
    }
}

/// The book's adder (chapter 1, after "NAND gates are universal"): five NAND perceptrons give
/// the bitwise sum x1 ⊕ x2 and the carry bit x1·x2. Returns `(sum, carry)`.
fn add_bits(nand: &mut Nand, x1: u8, x2: u8) -> (u8, u8) {
    let both = nand.gate(x1, x2); // NAND(x1, x2): 0 only when both bits are 1
    let only_x2 = nand.gate(x1, both); // NAND(x1, NAND(x1, x2)) = ¬(x1 ∧ ¬x2)
    let only_x1 = nand.gate(both, x2); // ¬(¬x1 ∧ x2)
    let sum = nand.gate(only_x2, only_x1); // x1 ⊕ x2
    // The book's carry perceptron takes the first gate's output on both inputs (equivalently one
    // weight of −4): NAND(g, g) = ¬g = x1 ∧ x2.
    let carry = nand.gate(both, both);
    (sum, carry)
}

/// The adder with NAND perceptrons scaled by `c`, on all four inputs: `(sum, carry)` per row.
fn adder_table(c: f32) -> Vec<(u8, u8)> {
    let mut nand = Nand::scaled(c);
    INPUTS.iter().map(|&(x1, x2)| add_bits(&mut nand, x1, x2)).collect()
}

/// The book's adder (c = 1); prints `ADD x1 x2 -> sum S carry C` and stops the run if any row
/// is not x1 + x2.
fn adder_truth_table(c: f32) -> Vec<(u8, u8)> {
    let table = adder_table(c);
    println!("\nThe adder of two bits, built from five NAND perceptrons:");
    for (&(x1, x2), &(sum, carry)) in INPUTS.iter().zip(&table) {
        println!("ADD {x1} {x2} -> sum {sum} carry {carry}");
        if 2 * carry + sum != x1 + x2 {
            common::fail(&format!("the adder gives sum {sum} carry {carry} for {x1} + {x2}"));
        }
    }
    table
}

/// Exercise part I: the adder with every weight and bias multiplied by c > 0 gives the same
/// table, since c·(w·x + b) > 0 exactly when w·x + b > 0. Returns the c tried and whether the
/// table was unchanged.
fn scaled_adders_agree(reference: &[(u8, u8)]) -> Vec<(f32, bool)> {
    println!("\nExercise, part I: every weight and bias of the adder multiplied by c > 0:");
    let checks: Vec<(f32, bool)> =
        [0.1, 7.0, 1000.0].iter().map(|&c| (c, adder_table(c) == reference)).collect();
    for &(c, same) in &checks {
        println!("SCALED ADDER c={c} same={same}");
        if !same {
            common::fail(&format!("scaling the adder by {c} changed its table"));
        }
    }
    checks
}

/// Exercise part II: the NAND neuron with sigmoid neurons and weights and bias times c, on the
/// four inputs. Returns, per c, the outputs and the largest gap from the perceptron's.
fn sigmoid_gaps() -> Vec<(f32, Vec<f32>, f32)> {
    let inputs = truth_table_inputs();
    let perceptron = outputs(&neuron(NAND_WEIGHTS, NAND_BIAS, Activation::Step), &inputs);
    println!("\nExercise, part II: the NAND neuron as a sigmoid neuron, weights and bias times c");
    println!("(outputs for inputs 00, 01, 10, 11; the perceptron gives 1 1 1 0):");
    SCALES
        .iter()
        .map(|&c| {
            let sigmoid = neuron(NAND_WEIGHTS.map(|w| c * w), c * NAND_BIAS, Activation::Sigmoid);
            let out = outputs(&sigmoid, &inputs);
            let gap = out.iter().zip(&perceptron).map(|(s, p)| (s - p).abs()).fold(0.0, f32::max);
            let shown: Vec<String> = out.iter().map(|a| format!("{a:.5}")).collect();
            println!("SIGMOID c={c} outputs {} max_gap {gap:.3e}", shown.join(" "));
            (c, out, gap)
        })
        .collect()
}

/// Where the exercise's limit fails: a neuron with w·x + b = 0 (weights (−2, −2), bias 2, input
/// (1, 0)). The perceptron says 0; the sigmoid neuron says σ(c·0) = ½ whatever c is.
fn sigmoid_at_zero_weighted_input() -> f32 {
    let input = array![[1.0f32, 0.0]];
    let perceptron = outputs(&neuron(NAND_WEIGHTS, 2.0, Activation::Step), &input)[0];
    let c = 1000.0;
    let sigmoid = outputs(&neuron(NAND_WEIGHTS.map(|w| c * w), c * 2.0, Activation::Sigmoid), &input)[0];
    println!(
        "\nWhere w·x + b = 0 (weights (-2, -2), bias 2, input (1, 0)), the perceptron gives \
         {perceptron} but the sigmoid neuron gives {sigmoid} even with c = {c}:"
    );
    println!("ZERO Z perceptron {perceptron} sigmoid {sigmoid}");
    sigmoid
}

/// `points` values of z evenly spaced over [−span, span].
fn z_grid(points: usize, span: f32) -> Vec<f32> {
    (0..points).map(|i| -span + 2.0 * span * i as f32 / (points - 1) as f32).collect()
}

/// One neuron with a single input of weight `c` and bias 0 (a `[batch, 1] -> [batch, 1]` layer),
/// fed z itself: its outputs are σ(c·z), or the step of z.
fn curve(label: &str, zs: &[f32], c: f32, activation: Activation) -> Series {
    let layer = Dense::from_parameters(1, &[c], &[0.0], activation);
    let input = Array2::from_shape_vec((zs.len(), 1), zs.to_vec()).expect("one z per row");
    let mut work = layer.work(0);
    layer.forward(&mut work, input.view(), false);
    let points = zs.iter().zip(layer.output(&work).column(0)).map(|(&z, &a)| (z as f64, a as f64)).collect();
    Series::new(label, points)
}

/// Left: the perceptron's step beside the sigmoid's smooth curve, as the book draws them.
/// Right: σ(c·z) for growing c closing in on the step.
fn neuron_charts(points: usize) -> Vec<Chart> {
    let zs = z_grid(points, 5.0);
    // Room above the curves (which end at 1 on the right) for the legend in the top right corner.
    let shapes = Chart::new("The step and the sigmoid", "z = w·x + b", "output")
        .with(curve("perceptron (step)", &zs, 1.0, Activation::Step))
        .with(curve("sigmoid σ(z)", &zs, 1.0, Activation::Sigmoid))
        .y_range(-0.02, 1.35);
    // Closer in, where the curves differ; at c = 50 the curve is the step of the left panel.
    let near = z_grid(points, 2.5);
    let mut limit =
        Chart::new("σ(c·z): weights and bias times c", "z = w·x + b", "output").y_range(-0.02, 1.6);
    for c in SCALES {
        limit = limit.with(curve(&format!("c = {c}"), &near, c, Activation::Sigmoid));
    }
    vec![shapes, limit]
}

/// The docs section: the tables, formatted from this run's outputs.
fn docs_body(
    nand: &[u8],
    adder: &[(u8, u8)],
    part_one: &[(f32, bool)],
    part_two: &[(f32, Vec<f32>, f32)],
    zero_z: f32,
) -> String {
    let mut s = String::from(
        "A perceptron with weights (−2, −2) and bias 3 is the book's NAND gate (the library's \
         `Dense` layer with `Activation::Step` neurons and these parameters):\n\n\
         | x1 | x2 | output | NAND |\n| --- | --- | --- | --- |\n",
    );
    for (&(x1, x2), &o) in INPUTS.iter().zip(nand) {
        s += &format!("| {x1} | {x2} | {o} | {} |\n", 1 - (x1 & x2));
    }
    s += "\nFive of them wired as in the book's figure add two bits (the carry perceptron takes the \
          first gate's output twice, the book's single weight of −4):\n\n\
          | x1 | x2 | sum (x1 ⊕ x2) | carry (x1·x2) |\n| --- | --- | --- | --- |\n";
    for (&(x1, x2), &(sum, carry)) in INPUTS.iter().zip(adder) {
        s += &format!("| {x1} | {x2} | {sum} | {carry} |\n");
    }
    let same: Vec<String> = part_one.iter().filter(|(_, same)| *same).map(|(c, _)| format!("{c}")).collect();
    s += &format!(
        "\nExercise, part I: with every weight and bias multiplied by c = {}, the adder's table is \
         unchanged, as the book asks you to show (c·(w·x + b) has the sign of w·x + b).\n\n",
        same.join(", ")
    );
    s += "Exercise, part II: the same NAND neuron made of sigmoid neurons, weights and bias times c. \
          The outputs approach the perceptron's 1, 1, 1, 0 as c grows:\n\n\
          | c | σ for 00 | 01 | 10 | 11 | largest gap from the perceptron |\n\
          | --- | --- | --- | --- | --- | --- |\n";
    for (c, out, gap) in part_two {
        let cells: Vec<String> = out.iter().map(|a| format!("{a:.4}")).collect();
        s += &format!("| {c} | {} | {gap:.1e} |\n", cells.join(" | "));
    }
    s += &format!(
        "\nThe limit fails only where w·x + b = 0: a neuron with weights (−2, −2) and bias 2 given \
         (1, 0) outputs {zero_z} for every c (here c = 1000), where the perceptron outputs 0 — \
         the exception the book's exercise points out. The right panel shows σ(c·z) steepening \
         into the left panel's step, all curves passing through ½ at z = 0.\n"
    );
    s
}
