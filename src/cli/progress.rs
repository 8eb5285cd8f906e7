//! The progress bar inside each epoch and the line after it.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use nndl::train::{EpochMetrics, Observer};

/// Draws a bar per epoch on stderr (when it is a terminal) and prints one line per epoch.
pub struct EpochPrinter {
    pub epochs: usize,
    pub show_bar: bool,
    bar: Option<ProgressBar>,
}

impl EpochPrinter {
    pub fn new(epochs: usize, show_bar: bool) -> Self {
        EpochPrinter { epochs, show_bar, bar: None }
    }
}

impl Observer for EpochPrinter {
    fn epoch_start(&mut self, epoch: usize, batches: usize) {
        if !self.show_bar {
            return;
        }
        let bar = ProgressBar::with_draw_target(Some(batches as u64), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "epoch {prefix} [{bar:30}] {pos}/{len} mini-batches {per_sec} {eta}",
            )
            .expect("template is valid")
            .progress_chars("=> "),
        );
        bar.set_prefix(format!("{epoch}/{}", self.epochs));
        self.bar = Some(bar);
    }

    fn batches_done(&mut self, done: usize) {
        if let Some(bar) = &self.bar {
            bar.set_position(done as u64);
        }
    }

    fn epoch_end(&mut self, m: &EpochMetrics, _net: &nndl::network::Network) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        super::say!("{}", epoch_line(m, self.epochs));
    }

    fn gradients_before(&mut self, norms: &[f64]) {
        super::say!("before training: {}", norms_text(norms));
    }
}

/// `‖∂C/∂b‖ by layer 0.0031 0.017 0.071`
fn norms_text(norms: &[f64]) -> String {
    let each: Vec<String> = norms.iter().map(|v| format!("{v:.3e}")).collect();
    format!("‖∂C/∂b‖ by layer {}", each.join(" "))
}

/// `epoch  3/30  η 3  1.21 s  training cost 0.0312  evaluation accuracy 94.53%`
pub fn epoch_line(m: &EpochMetrics, epochs: usize) -> String {
    let width = epochs.to_string().len();
    let mut line = format!("epoch {:>width$}/{epochs}  η {}  {:.3} s", m.epoch, m.eta, m.train_seconds);
    let mut add = |name: &str, v: Option<f64>, pct: bool| {
        if let Some(v) = v {
            if pct {
                line += &format!("  {name} {:.2}%", 100.0 * v);
            } else {
                line += &format!("  {name} {v:.4}");
            }
        }
    };
    add("training cost", m.training_cost, false);
    add("training accuracy", m.training_accuracy, true);
    add("evaluation cost", m.evaluation_cost, false);
    add("evaluation accuracy", m.evaluation_accuracy, true);
    if let Some(norms) = &m.gradient_norms {
        line += &format!("  {}", norms_text(norms));
    }
    line
}
