//! `nndl eval`, `nndl predict` and `nndl summary`: using a saved model.

use super::data::TestDataArgs;
use anyhow::{Context, bail};
use nndl::data::Dataset;
use nndl::data::source::{Format, InputInfo};
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
    /// Several models voting: each test example gets the class most of them choose (ties: the
    /// largest summed output)
    #[arg(long, num_args = 2.., value_name = "MODEL", conflicts_with = "model")]
    ensemble: Vec<PathBuf>,
    #[command(flatten)]
    data: TestDataArgs,
    /// Split the test set across N threads [default: all cores]
    #[arg(long, value_name = "N", value_parser = super::parse_threads)]
    threads: Option<usize>,
    /// Evaluate N times and report the median time (for benchmarks)
    #[arg(long, value_name = "N", default_value_t = 1)]
    repeat: usize,
}

#[derive(clap::Args)]
#[command(
    after_help = "A model trained on digits (IDX data such as MNIST) reads each image (PNG or JPEG; grey \
or colour, any size, dark-on-light or light-on-dark) the way MNIST was made: composited over white, made grey, \
inverted if its border is light, cropped to the ink, scaled so its longer side fills 20/28 of the field, and \
centred by its centre of mass. A model trained on an image folder reads each image resized to its input, in its \
channels. A model trained on a CSV table reads rows of a CSV file with the same feature columns (--csv)."
)]
pub struct PredictArgs {
    /// A model saved by `nndl train --save`
    model: PathBuf,
    /// Images (PNG or JPEG), one example each
    #[arg(required_unless_present = "csv")]
    images: Vec<PathBuf>,
    /// For a model trained on a CSV table: a CSV file whose header names the model's feature
    /// columns (in any order; other columns are ignored), one example per row
    #[arg(long, value_name = "FILE", conflicts_with = "images")]
    csv: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct SummaryArgs {
    /// A model saved by `nndl train --save`
    #[arg(required_unless_present = "arch")]
    model: Option<PathBuf>,
    /// An architecture to describe instead, in `nndl train --arch` form (for MNIST's input)
    #[arg(long, conflicts_with = "model")]
    arch: Option<String>,
}

/// A model and what it says about itself; its input as recorded, or MNIST's for models saved
/// before nndl recorded it.
pub(crate) fn load_model(path: &Path) -> anyhow::Result<(Network, ModelInfo, InputInfo)> {
    let (net, info) = model_io::load(path)?;
    let input = info.input();
    if input.format == Format::Text {
        bail!(
            "{}: a language model (train-text) reads text, not examples; it has no test set or images to classify",
            path.display()
        );
    }
    if net.in_size() != input.shape.size() {
        bail!(
            "{}: the model maps {} inputs to {} outputs, but its input is {} ({} numbers{}); give a model trained on this kind of data",
            path.display(),
            net.in_size(),
            net.out_size(),
            input.shape,
            input.shape.size(),
            if info.input.is_none() { ", MNIST's, as the model records no input" } else { "" }
        );
    }
    Ok((net, info, input))
}

/// The data path recorded when the model was trained (`nndl train --data`).
fn recorded_data(info: &ModelInfo) -> Option<PathBuf> {
    info.training.get("data").and_then(|d| d.as_str()).map(PathBuf::from)
}

/// The test set for a model, refused (before anything runs) if its examples are not the size
/// the model reads.
pub(crate) fn test_set(
    net: &Network,
    model: &Path,
    info: &ModelInfo,
    input: &InputInfo,
    data: &TestDataArgs,
) -> anyhow::Result<Dataset> {
    let test = super::data::load_test(data, input, recorded_data(info).as_deref())?;
    if net.in_size() != test.input_size() {
        bail!(
            "{}: the model reads {} inputs ({}), but the test examples are {} ({} numbers); give the data it was trained on",
            model.display(),
            net.in_size(),
            input.shape,
            test.shape,
            test.input_size()
        );
    }
    Ok(test)
}

pub fn eval(args: EvalArgs) -> anyhow::Result<()> {
    let threads = super::threads(args.threads);
    let Some(model) = &args.model else { return eval_ensemble(&args, threads) };
    let (net, info, input) = load_model(model)?;
    let test = test_set(&net, model, &info, &input, &args.data)?;
    nndl::set_threads(threads);
    let mut times = Vec::new();
    let mut result = None;
    let mut evaluator = train::Evaluator::default();
    // Two threads share each evaluation through a team (a helper that spins between joins):
    // handing it half of a 10,000-image test set costs about a microsecond, where waking one
    // of rayon's sleeping threads costs tens of microseconds of a ~4 ms evaluation.
    let team = (threads == 2).then(nndl::team::Team::new).flatten();
    let _lead = team.as_ref().map(|t| t.lead());
    for _ in 0..args.repeat.max(1) {
        let started = std::time::Instant::now();
        result = Some(evaluator.evaluate(&net, &test, &Regulariser::default(), threads));
        times.push(started.elapsed().as_secs_f64());
    }
    let test = result.expect("evaluated at least once");
    times.sort_by(f64::total_cmp);
    println!("model: {}", model.display());
    println!(
        "evaluated {} examples in {:.6} s ({} thread{}{})",
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
    let mut members = Vec::new();
    for path in &args.ensemble {
        members.push(load_model(path)?);
    }
    let (first_net, first_info, input) = &members[0];
    for ((_, _, other), path) in members.iter().zip(&args.ensemble).skip(1) {
        if other.classes != input.classes || other.shape != input.shape {
            bail!(
                "{}: its input ({}, {} classes) is not the first model's ({}, {} classes); an ensemble votes on one kind of example",
                path.display(),
                other.shape,
                other.classes.len(),
                input.shape,
                input.classes.len()
            );
        }
    }
    let test = test_set(first_net, &args.ensemble[0], first_info, input, &args.data)?;
    nndl::set_threads(threads);
    let nets: Vec<Network> = members.into_iter().map(|(net, _, _)| net).collect();
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

/// Reads one image as the model's input (see `PredictArgs`' help).
fn read_image(path: &Path, input: &InputInfo) -> Result<Vec<f32>, image_io::ImageError> {
    let bytes = nndl::files::read_input(path, image_io::MAX_FILE_BYTES, "an image")?;
    image_io::input_from_bytes(&bytes, &path.display().to_string(), input)
}

/// Classifies every example that can be read; one that cannot is reported on its own
/// `error:` line (the last one is the command's error, so the exit code says something
/// failed), and the others are still classified.
pub fn predict(args: PredictArgs) -> anyhow::Result<()> {
    let (net, _, input) = load_model(&args.model)?;
    let mut good: Vec<(String, Vec<f32>)> = Vec::new();
    let mut failures = Vec::new();
    match (&args.csv, input.format) {
        (Some(csv), Format::Csv) => {
            let rows = nndl::data::table::read_rows(csv, &input.features).context("--csv")?;
            for (i, mut row) in rows.into_iter().enumerate() {
                if let Some(stats) = &input.standardize {
                    stats.apply_row(&mut row);
                }
                good.push((format!("{} row {}", csv.display(), i + 1), row));
            }
        }
        (Some(_), _) => bail!("--csv: the model was not trained on a table; give images"),
        (None, Format::Csv) => {
            bail!("{}: the model was trained on a table; give rows with --csv FILE", args.model.display())
        }
        (None, _) if !input.is_image() => bail!("{}: the model does not read images", args.model.display()),
        (None, _) => {
            for path in &args.images {
                match read_image(path, &input) {
                    Ok(pixels) => good.push((path.display().to_string(), pixels)),
                    Err(e) => failures.push(anyhow::Error::from(e)),
                }
            }
        }
    }
    if !good.is_empty() {
        let mut x = ndarray::Array2::<f32>::zeros((good.len(), net.in_size()));
        for (mut row, (_, values)) in x.rows_mut().into_iter().zip(&good) {
            row.assign(&ndarray::ArrayView1::from(&values[..]));
        }
        let mut ws = net.workspace(0);
        let out = net.feedforward(&mut ws, x.view(), false);
        let width = good.iter().map(|(name, _)| name.chars().count()).max().unwrap_or(0).max(5);
        let classes = &input.classes;
        let class_width = classes.iter().map(|c| c.chars().count()).max().unwrap_or(1).max(5);
        if classes.len() <= 10 {
            println!("{:width$}  {:>class_width$}  outputs for {}", "input", "class", classes.join(" "));
        } else {
            println!("{:width$}  {:>class_width$}  the three likeliest classes", "input", "class");
        }
        for ((name, _), row) in good.iter().zip(out.rows()) {
            let best = argmax(row.iter().copied());
            let shown = if classes.len() <= 10 {
                row.iter().map(|a| format!("{a:.3}")).collect::<Vec<_>>().join(" ")
            } else {
                let mut order: Vec<usize> = (0..row.len()).collect();
                order.sort_by(|&a, &b| row[b].total_cmp(&row[a]));
                order
                    .iter()
                    .take(3)
                    .map(|&k| format!("{} {:.3}", classes[k], row[k]))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            println!("{name:width$}  {:>class_width$}  {shown}", classes[best]);
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
    if let Some(input) = &info.input {
        let classes = nndl::shorten(&input.classes.join(", "), 200);
        let format = match input.format {
            Format::Idx => "IDX images",
            Format::Images => "an image folder",
            Format::Csv => "a CSV table",
            Format::Text => "a text",
        };
        println!("input: {} from {format}; {} classes: {classes}", input.shape, input.classes.len());
        if input.standardize.is_some() {
            println!("features standardised by the training part's mean and deviation (kept in the model)");
        }
    }
    println!("{}", nndl::layers::summary_table(&info.architecture));
    if let Some(acc) = info.training.get("test_accuracy").and_then(|v| v.as_f64()) {
        println!("test accuracy when saved: {:.2}%", 100.0 * acc);
    }
    Ok(())
}
