//! The experiments that need no MNIST (`examples/perceptron.rs`, `learning_slowdown.rs`,
//! `hessian/`), run in their `--quick` mode: each writes its plot and docs section, and prints
//! the figures the book states, which are checked here from its output.

mod examples_support;

use examples_support::{check_outputs, run_quick};

/// The lines of `stdout` that start with `prefix`, with the prefix removed.
fn lines_after<'a>(stdout: &'a str, prefix: &'a str) -> impl Iterator<Item = &'a str> {
    stdout.lines().filter_map(move |l| l.trim_start().strip_prefix(prefix))
}

/// The number after `key` and " = " on the first line containing `key`, e.g. `max |d| = 1e-9`.
fn value_after(stdout: &str, key: &str) -> f64 {
    let line = stdout.lines().find(|l| l.contains(key)).unwrap_or_else(|| panic!("no '{key}' in:\n{stdout}"));
    let rest = &line[line.find(key).unwrap() + key.len()..];
    let number = rest.trim_start().trim_start_matches('=').split_whitespace().next().unwrap_or("");
    number.parse().unwrap_or_else(|_| panic!("no number after '{key}' in: {line}"))
}

#[test]
fn perceptron_nand_gate_and_adder() {
    let (stdout, dir) = run_quick("perceptron", &[]);
    check_outputs(dir.path(), "perceptron");

    // The book's NAND perceptron: weights (−2, −2), bias 3.
    let nand: Vec<&str> = lines_after(&stdout, "NAND ").collect();
    assert_eq!(nand, ["0 0 -> 1", "0 1 -> 1", "1 0 -> 1", "1 1 -> 0"], "{stdout}");

    // The adder of NAND perceptrons: sum = x1 XOR x2, carry = x1 AND x2.
    let adder: Vec<&str> = lines_after(&stdout, "ADD ").collect();
    assert_eq!(
        adder,
        ["0 0 -> sum 0 carry 0", "0 1 -> sum 1 carry 0", "1 0 -> sum 1 carry 0", "1 1 -> sum 0 carry 1"],
        "{stdout}"
    );

    // Exercise, part I: scaling by c > 0 changes nothing.
    let scaled: Vec<&str> = lines_after(&stdout, "SCALED ADDER ").collect();
    assert!(!scaled.is_empty() && scaled.iter().all(|l| l.ends_with("same=true")), "{stdout}");

    // Exercise, part II: the sigmoid neuron's gap from the perceptron shrinks as c grows, to
    // nothing visible by c = 20.
    let gaps: Vec<f64> = lines_after(&stdout, "SIGMOID ").map(|l| value_after(l, "max_gap")).collect();
    assert!(gaps.len() >= 4 && gaps.windows(2).all(|w| w[1] < w[0]), "gaps {gaps:?}");
    assert!((gaps[0] - 0.2689).abs() < 1e-3, "c = 1: σ(−1) = 0.2689 for input 11, got {}", gaps[0]);
    assert!(*gaps.last().unwrap() < 1e-6, "gaps {gaps:?}");
    // …except where w·x + b = 0: σ(0) = ½ for every c.
    assert!(stdout.contains("ZERO Z perceptron 0 sigmoid 0.5"), "{stdout}");
}

/// One row of the slowdown table: `cost start a(0) a(300) C(0) C(100) C(300) a<0.5 C<0.01`.
struct SlowdownRow {
    a0: f64,
    a300: f64,
    c0: f64,
    c100: f64,
    below_half: Option<usize>,
}

fn slowdown_row(stdout: &str, cost: &str, start: &str) -> SlowdownRow {
    let line = stdout
        .lines()
        .find(|l| l.split_whitespace().take(2).eq([cost, start]))
        .unwrap_or_else(|| panic!("no row for {cost} from {start}:\n{stdout}"));
    let cells: Vec<&str> = line.split_whitespace().collect();
    let number = |i: usize| cells[i].parse::<f64>().unwrap_or_else(|_| panic!("cell {i} of: {line}"));
    SlowdownRow {
        a0: number(2),
        a300: number(3),
        c0: number(4),
        c100: number(5),
        below_half: cells[7].parse().ok(),
    }
}

#[test]
fn learning_slowdown_quadratic_against_cross_entropy() {
    let (stdout, dir) = run_quick("learning_slowdown", &[]);
    check_outputs(dir.path(), "learning_slowdown");
    let q_good = slowdown_row(&stdout, "quadratic", "(0.6,0.9)");
    let q_bad = slowdown_row(&stdout, "quadratic", "(2,2)");
    let ce_good = slowdown_row(&stdout, "cross-entropy", "(0.6,0.9)");
    let ce_bad = slowdown_row(&stdout, "cross-entropy", "(2,2)");

    // The book's quadratic runs: output 0.82 -> 0.09 from (0.6, 0.9), 0.98 -> 0.20 from (2, 2).
    let near = |got: f64, book: f64| (got - book).abs() < 0.01;
    assert!(near(q_good.a0, 0.82) && near(q_good.a300, 0.09), "from (0.6,0.9): {stdout}");
    assert!(near(q_bad.a0, 0.98) && near(q_bad.a300, 0.20), "from (2,2): {stdout}");

    // From (2, 2), after 100 epochs the quadratic cost has barely moved (the flat start)…
    assert!(q_bad.c100 > 0.9 * q_bad.c0, "quadratic from (2,2): {} -> {}", q_bad.c0, q_bad.c100);
    // …while the cross-entropy cost has fallen more than tenfold.
    assert!(ce_bad.c100 < 0.1 * ce_bad.c0, "cross-entropy from (2,2): {} -> {}", ce_bad.c0, ce_bad.c100);

    // On the yardstick both costs share, the output: from (2, 2) the cross-entropy neuron's answer
    // turns right (a < ½) at least 5× sooner than the quadratic neuron's. (Cost < 0.01 is no such
    // yardstick: it means a < 0.14 for one cost and a < 0.01 for the other.)
    let (q, ce) =
        (q_bad.below_half.expect("quadratic gets there"), ce_bad.below_half.expect("ce gets there"));
    assert!(5 * ce <= q, "from (2,2): a < 1/2 after {ce} epochs (cross-entropy) and {q} (quadratic)");
    // From (0.6, 0.9) both learn fast.
    assert!(q_good.below_half.is_some_and(|e| e < 60), "quadratic from (0.6,0.9): {stdout}");
    assert!(ce_good.below_half.is_some_and(|e| e < 20), "cross-entropy from (0.6,0.9): {stdout}");

    // The library's Dense + Cost follow the same formulas.
    assert!(value_after(&stdout, "largest cost difference") < 1e-4, "{stdout}");
}

/// Iterations a method needed to bring the cost below each of the three targets, from the `2.`
/// table (`method eta it it it final`); `None` where it did not within the limit.
fn iterations(stdout: &str, method: &str) -> Vec<Option<usize>> {
    let line = stdout
        .lines()
        .find(|l| l.split_whitespace().next() == Some(method))
        .unwrap_or_else(|| panic!("no row for {method}:\n{stdout}"));
    line.split_whitespace().skip(2).take(3).map(|n| n.parse().ok()).collect()
}

#[test]
fn hessian_exact_newton_and_its_cost() {
    let (stdout, dir) = run_quick("hessian", &[]);
    check_outputs(dir.path(), "hessian");

    // The R-operator's exact Hessian agrees with central differences of backprop gradients (whose
    // own error at h = 1e-5 is about 1e-10) and is symmetric, though each column was computed on
    // its own.
    let difference = value_after(&stdout, "max |difference|");
    assert!(difference < 1e-8, "R-operator against finite differences: {difference:e}");
    let asymmetry = value_after(&stdout, "max |H_jk - H_kj|");
    assert!(asymmetry < 1e-12, "asymmetry {asymmetry:e}");

    // Newton's method reaches each target cost (1e-2, 1e-3, 1e-4) in far fewer iterations than
    // gradient descent at its best learning rate (5× fewer, 10× for the lowest, where gradient
    // descent crawls), and sooner than momentum at its best.
    let newton: Vec<usize> =
        iterations(&stdout, "newton").into_iter().map(|n| n.expect("Newton reaches every target")).collect();
    assert!(newton[2] <= 50, "Newton took {newton:?} iterations");
    let gd = iterations(&stdout, "gradient-descent");
    let momentum = iterations(&stdout, "momentum");
    for (i, &n) in newton.iter().enumerate() {
        // (None: not within the iteration limit, so far more.)
        let factor = if i == 2 { 10 } else { 5 };
        assert!(gd[i].is_none_or(|gd| gd >= factor * n), "gradient descent {gd:?}, Newton {newton:?}");
        assert!(momentum[i].is_none_or(|m| m > n), "momentum {momentum:?}, Newton {newton:?}");
    }

    // The book's net, extrapolated: 23,860 parameters, 569,299,600 Hessian entries, 2.28 GB in f32.
    let book = stdout.lines().find(|l| l.contains("The book's net:")).expect("the extrapolation");
    assert!(book.contains("23860 parameters") && book.contains("569299600"), "{book}");
    assert!(book.contains("2.28 GB in f32"), "{book}");
}
