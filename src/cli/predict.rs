//! `nndl eval`, `nndl predict` and `nndl summary`: using a saved model.

use super::DataArgs;
use anyhow::{Context, bail};
use nndl::data::Dataset;
use nndl::image_io;
use nndl::model_io::{self, ModelInfo};
use nndl::network::Network;
use nndl::optim::Regulariser;
use nndl::train::{self, argmax};
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct EvalArgs {
    /// A model saved by `nndl train --save`
    #[arg(required_unless_present = "ensemble")]
    model: Option<PathBuf>,
    /// Several models voting: each test image gets the digit most of them choose (ties: the
    /// largest summed output)
    #[arg(long, num_args = 2.., value_name = "MODEL", conflicts_with = "model")]
    ensemble: Vec<PathBuf>,
    #[command(flatten)]
    data: DataArgs,
    /// Split the test set across N threads [default: all cores]
    #[arg(long, value_name = "N", value_parser = super::parse_threads)]
    threads: Option<usize>,
    /// Evaluate N times and report the median time (for benchmarks)
    #[arg(long, value_name = "N", default_value_t = 1)]
    repeat: usize,
}

#[derive(clap::Args)]
#[command(
    after_help = "Each PNG (grey or colour, any size, dark-on-light or light-on-dark) is turned into an \
MNIST-like 28×28 white-on-black digit: composited over white, made grey, inverted if its border is light, \
cropped to the ink, scaled so its longer side is 20 pixels, and centred by its centre of mass."
)]
pub struct PredictArgs {
    /// A model saved by `nndl train --save`
    model: PathBuf,
    /// PNG images, one digit each
    #[arg(required = true)]
    images: Vec<PathBuf>,
}

#[derive(clap::Args)]
pub struct SummaryArgs {
    /// A model saved by `nndl train --save`
    #[arg(required_unless_present = "arch")]
    model: Option<PathBuf>,
    /// An architecture to describe instead, in `nndl train --arch` form
    #[arg(long, conflicts_with = "model")]
    arch: Option<String>,
}

pub(super) fn load_model(path: &Path) -> anyhow::Result<(Network, ModelInfo)> {
    let (net, info) = model_io::load(path)?;
    if net.in_size() != 784 || net.out_size() != 10 {
        bail!(
            "{}: the model maps {} inputs to {} outputs, but MNIST needs 784 → 10; give a model trained on MNIST",
            path.display(),
            net.in_size(),
            net.out_size()
        );
    }
    Ok((net, info))
}

/// Refuses test images that are not the size the model reads (before anything runs).
pub(super) fn check_fits(net: &Network, model: &Path, test: &Dataset, data: &DataArgs) -> anyhow::Result<()> {
    if net.in_size() != test.input_size() {
        bail!(
            "{}: the model reads {} inputs, but the test images in {} are {}×{} ({} pixels); give the data it was trained on",
            model.display(),
            net.in_size(),
            nndl::data::resolve_dir(data.data.as_deref()).display(),
            test.shape.height,
            test.shape.width,
            test.input_size()
        );
    }
    Ok(())
}

pub fn eval(args: EvalArgs) -> anyhow::Result<()> {
    let threads = super::threads(args.threads);
    let Some(model) = &args.model else { return eval_ensemble(&args, threads) };
    let (net, _) = load_model(model)?;
    let test = super::data::load_test(&args.data)?;
    check_fits(&net, model, &test, &args.data)?;
    nndl::set_threads(threads);
    let mut times = Vec::new();
    let mut result = None;
    for _ in 0..args.repeat.max(1) {
        let started = std::time::Instant::now();
        result = Some(train::evaluate(&net, &test, &Regulariser::default(), threads));
        times.push(started.elapsed().as_secs_f64());
    }
    let test = result.expect("evaluated at least once");
    times.sort_by(f64::total_cmp);
    println!("model: {}", model.display());
    println!(
        "evaluated {} images in {:.4} s ({} thread{}{})",
        test.total,
        times[times.len() / 2],
        threads,
        if threads == 1 { "" } else { "s" },
        if times.len() > 1 { format!(", median of {}", times.len()) } else { String::new() }
    );
    println!("test cost: {:.4} ({})", test.cost, net.cost);
    println!("test accuracy: {:.2}% ({} / {})", 100.0 * test.accuracy(), test.correct, test.total);
    Ok(())
}

fn eval_ensemble(args: &EvalArgs, threads: usize) -> anyhow::Result<()> {
    let mut nets = Vec::new();
    for path in &args.ensemble {
        nets.push(load_model(path)?.0);
    }
    let test = super::data::load_test(&args.data)?;
    for (net, path) in nets.iter().zip(&args.ensemble) {
        check_fits(net, path, &test, &args.data)?;
    }
    nndl::set_threads(threads);
    let outputs = nndl::ensemble::outputs(&nets, &test);
    let labels = &test.labels;
    let right = |answers: &[usize]| answers.iter().zip(labels).filter(|(a, l)| **a == **l as usize).count();
    for (path, out) in args.ensemble.iter().zip(&outputs) {
        let answers: Vec<usize> = out.rows().into_iter().map(|r| argmax(r.iter().copied())).collect();
        println!("{}: {:.2}%", path.display(), 100.0 * right(&answers) as f64 / labels.len() as f64);
    }
    let votes = nndl::ensemble::vote(&outputs);
    let correct = right(&votes);
    println!(
        "test accuracy: {:.2}% ({} / {}, ensemble of {})",
        100.0 * correct as f64 / labels.len() as f64,
        correct,
        labels.len(),
        nets.len()
    );
    Ok(())
}

/// Classifies every image that can be read; an image that cannot is reported on its own
/// `error:` line (the last one is the command's error, so the exit code says something
/// failed), and the others are still classified.
pub fn predict(args: PredictArgs) -> anyhow::Result<()> {
    let (net, _) = load_model(&args.model)?;
    let mut good = Vec::new();
    let mut failures = Vec::new();
    for path in &args.images {
        match image_io::load_digit(path) {
            Ok(pixels) => good.push((path, pixels)),
            Err(e) => failures.push(anyhow::Error::from(e)),
        }
    }
    if !good.is_empty() {
        let mut x = ndarray::Array2::<f32>::zeros((good.len(), 784));
        for (mut row, (_, pixels)) in x.rows_mut().into_iter().zip(&good) {
            row.assign(&ndarray::ArrayView1::from(&pixels[..]));
        }
        let mut ws = net.workspace(0);
        let out = net.feedforward(&mut ws, x.view(), false);
        let width = good.iter().map(|(p, _)| p.display().to_string().len()).max().unwrap_or(0);
        println!("{:width$}  digit  activations of outputs 0–9", "image");
        for ((path, _), row) in good.iter().zip(out.rows()) {
            let acts: Vec<String> = row.iter().map(|a| format!("{a:.3}")).collect();
            let digit = argmax(row.iter().copied());
            println!("{:width$}  {digit:>5}  {}", path.display().to_string(), acts.join(" "));
        }
    }
    match failures.pop() {
        None => Ok(()),
        Some(last) => {
            for e in &failures {
                eprintln!("error: {e:#}");
            }
            Err(last)
        }
    }
}

pub fn summary(args: SummaryArgs) -> anyhow::Result<()> {
    let Some(path) = args.model else {
        let text = args.arch.expect("clap requires a model or --arch");
        let specs = nndl::layers::parse_arch(&text, super::train::MNIST_SHAPE).context("--arch")?;
        println!("{}", nndl::layers::summary_table(&specs));
        return Ok(());
    };
    let (_, info) = model_io::load(&path)?;
    println!("model: {}  (cost: {})", path.display(), info.cost);
    println!("{}", nndl::layers::summary_table(&info.architecture));
    if let Some(acc) = info.training.get("test_accuracy").and_then(|v| v.as_f64()) {
        println!("test accuracy when saved: {:.2}%", 100.0 * acc);
    }
    Ok(())
}
