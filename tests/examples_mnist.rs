//! The book's MNIST experiments (`examples/`) in their `--quick` mode, on real MNIST: each one
//! runs, writes its plot and docs section, and shows what the book says it shows, even with
//! fewer images and epochs. The figures are read from the lines the examples print.

mod examples_support;

use examples_support::{check_outputs, run_quick};

/// The number that follows `label` on the line starting with it, e.g. `0.9674` from
/// "final training cost (η = 2.5): 0.9674" or `22.25` from "…accuracy: 22.25%".
fn value(stdout: &str, label: &str) -> f64 {
    let line = line(stdout, label);
    let rest = line[label.len()..].trim_start();
    let number: String =
        rest.chars().take_while(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | 'e')).collect();
    number.parse().unwrap_or_else(|_| panic!("no number after '{label}' in: {line}"))
}

/// The bracketed list that follows `label`, e.g. `[0.008, 0.044, 0.182]`.
fn list(stdout: &str, label: &str) -> Vec<f64> {
    let line = line(stdout, label);
    let rest = &line[label.len()..];
    let inside = rest.split_once('[').and_then(|(_, r)| r.split_once(']')).map(|(l, _)| l);
    let inside = inside.unwrap_or_else(|| panic!("no [list] after '{label}' in: {line}"));
    inside.split(',').map(|v| v.trim().parse().expect("a number")).collect()
}

fn line<'a>(stdout: &'a str, label: &str) -> &'a str {
    stdout.lines().find(|l| l.starts_with(label)).unwrap_or_else(|| panic!("no line '{label}' in:\n{stdout}"))
}

#[test]
fn learning_rate_too_large_oscillates_too_small_is_slow() {
    let (out, dir) = run_quick("learning_rate", &[]);
    check_outputs(dir.path(), "learning_rate");
    let final_cost = |eta: &str| value(&out, &format!("final training cost (η = {eta}):"));
    let first_cost = |eta: &str| value(&out, &format!("first-epoch training cost (η = {eta}):"));
    // η = 2.5 overshoots: it ends above η = 0.25, and its cost goes up in some epochs.
    assert!(final_cost("2.5") > final_cost("0.25"), "{out}");
    assert!(value(&out, "epochs where the cost rose (η = 2.5):") >= 1.0, "{out}");
    // η = 0.025 is slow: after one epoch it is far behind η = 0.25, and still behind at the end.
    assert!(first_cost("0.025") > first_cost("0.25"), "{out}");
    assert!(final_cost("0.025") > final_cost("0.25"), "{out}");
}

#[test]
fn scaled_initialisation_learns_faster() {
    let (out, dir) = run_quick("init", &[]);
    check_outputs(dir.path(), "init");
    // The book: just under 87% against almost 93% after the first epoch of the full run.
    let large = value(&out, "first-epoch validation accuracy (large):");
    let scaled = value(&out, "first-epoch validation accuracy (scaled):");
    assert!(scaled > large + 5.0, "{out}");
    assert!(value(&out, "final test accuracy (scaled):") > 85.0, "{out}");
}

#[test]
fn overfitting_and_regularisation() {
    let (out, dir) = run_quick("overfitting", &[]);
    check_outputs(dir.path(), "overfitting");
    // Without regularisation the net learns its 1,000 images almost perfectly, far better than
    // it does the test images, and the test cost bottoms out early.
    assert!(value(&out, "final training accuracy (λ = 0):") >= 99.0, "{out}");
    let gap = value(&out, "final gap, training - test accuracy (λ = 0):");
    assert!(gap > 10.0, "{out}");
    assert!(value(&out, "lowest test cost (λ = 0): in epoch") <= 30.0, "{out}");
    // λ = 0.1 narrows the gap and does better on the test images.
    assert!(value(&out, "final gap, training - test accuracy (λ = 0.1):") < gap, "{out}");
    assert!(
        value(&out, "peak test accuracy (λ = 0.1):") > value(&out, "peak test accuracy (λ = 0):"),
        "{out}"
    );
}

#[test]
fn early_layers_of_a_sigmoid_net_learn_slowest() {
    let (out, dir) = run_quick("vanishing_gradient", &[]);
    check_outputs(dir.path(), "vanishing_gradient");
    for sizes in ["[784, 30, 30, 10]", "[784, 30, 30, 30, 10]", "[784, 30, 30, 30, 30, 10]"] {
        let norms = list(&out, &format!("initial norms {sizes}:"));
        assert!(norms.windows(2).all(|w| w[0] < w[1]), "{sizes}: {norms:?} should grow layer by layer");
    }
    // The book: 0.003 against 0.285 with four hidden layers.
    let deepest = list(&out, "initial norms [784, 30, 30, 30, 30, 10]:");
    assert!(deepest[0] / deepest[3] < 0.05, "{deepest:?}");
    // ReLU hidden layers learn at far more even speeds than sigmoid ones, at the start and after.
    for when in ["start", "end"] {
        let ratio = |hidden: &str| value(&out, &format!("first/last hidden layer at the {when} ({hidden}):"));
        assert!(ratio("sigmoid") < 0.5 && ratio("relu") > 2.0 * ratio("sigmoid"), "{when}:\n{out}");
    }
}

#[test]
fn naive_baselines() {
    let (out, dir) = run_quick("baselines", &[]);
    check_outputs(dir.path(), "baselines");
    assert!(dir.path().join("baselines_weights.png").exists());
    let random = value(&out, "random guessing accuracy:");
    assert!((7.0..13.0).contains(&random), "{out}");
    // The book: 22.25%.
    let darkness = value(&out, "average darkness accuracy:");
    assert!((15.0..30.0).contains(&darkness), "{out}");
    assert!(value(&out, "linear classifier accuracy:") > 85.0, "{out}");
}

#[test]
fn binary_output_layer_spells_the_argmax() {
    let (out, dir) = run_quick("binary_output", &[]);
    check_outputs(dir.path(), "binary_output");
    assert!(value(&out, "4-bit code agrees with the argmax:") >= 99.0, "{out}");
    // Spelling the argmax, the bits are right about as often as the ten outputs are.
    let ten = value(&out, "ten-output accuracy:");
    let four = value(&out, "all 4 bits right:");
    assert!((four - ten).abs() < 1.0 && ten > 90.0, "{out}");
    for bit in [8, 4, 2, 1] {
        assert!(value(&out, &format!("bit of {bit} right:")) >= four, "{out}");
    }
}
