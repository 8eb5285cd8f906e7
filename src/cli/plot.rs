//! `nndl plot`: pictures of a training run or of a saved model.

use super::data::TestDataArgs;
use anyhow::{Context, bail};
use clap::Subcommand;
use nndl::inspect::Confusion;
use nndl::plot::{self, Format, Shading, Tile};
use nndl::train::MetricsFile;
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
#[command(after_help = "Examples:\n  \
  nndl train --monitor all --track-gradients --plot curves.png --metrics-json run.json --save m.safetensors\n  \
  nndl plot curves run.json -o curves.svg\n  \
  nndl plot weights m.safetensors -o weights.png\n  \
  nndl plot errors m.safetensors -o errors.png --confusion confusion.png")]
pub struct PlotArgs {
    #[command(subcommand)]
    what: What,
}

#[derive(Subcommand)]
enum What {
    /// Learning curves from `nndl train --metrics-json`: cost, accuracy and (with
    /// --track-gradients) each layer's gradient norm, per epoch
    Curves {
        /// Metrics files written by `nndl train --metrics-json`; several are drawn side by side,
        /// labelled by file name
        #[arg(required = true)]
        metrics: Vec<PathBuf>,
        /// Picture to write (.png or .svg) [default: the first metrics file with .png]
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
    /// A layer's weights as pictures: each neuron's 784 input weights as a 28×28 image (red
    /// positive, blue negative), or each convolutional filter
    Weights {
        /// A model saved by `nndl train --save`
        model: PathBuf,
        /// Which layer (1 = the first); default: the first layer with weights
        #[arg(long)]
        layer: Option<usize>,
        /// Draw at most this many neurons or filters
        #[arg(long, default_value_t = 100)]
        max: usize,
        /// Picture to write (.png or .svg)
        #[arg(long, short, default_value = "weights.png")]
        out: PathBuf,
    },
    /// The test digits a model gets wrong (true → predicted), and its confusion matrix
    Errors {
        /// A model saved by `nndl train --save`
        model: PathBuf,
        #[command(flatten)]
        data: TestDataArgs,
        /// Draw at most this many misclassified digits
        #[arg(long, default_value_t = 60)]
        max: usize,
        /// Picture of the misclassified digits (.png or .svg)
        #[arg(long, short, default_value = "errors.png")]
        out: PathBuf,
        /// Picture of the confusion matrix (.png or .svg)
        #[arg(long, default_value = "confusion.png")]
        confusion: PathBuf,
    },
}

pub fn run(args: PlotArgs) -> anyhow::Result<()> {
    match args.what {
        What::Curves { metrics, out } => curves(&metrics, out),
        What::Weights { model, layer, max, out } => weights(&model, layer, max, &out),
        What::Errors { model, data, max, out, confusion } => errors(&model, &data, max, &out, &confusion),
    }
}

/// The largest metrics file read (a real one is a few kB per hundred epochs).
const MAX_METRICS_BYTES: u64 = 64 << 20;

/// Checks picture outputs before any work: each a .png/.svg path that can be written, and no
/// two the same file.
fn check_outputs(outputs: &[(&str, &Path)]) -> anyhow::Result<()> {
    for &(flag, path) in outputs {
        Format::of(path).context(flag.to_string())?;
        nndl::files::check_output(path, flag, false).context(flag.to_string())?;
    }
    Ok(nndl::files::check_distinct(outputs)?)
}

fn curves(files: &[PathBuf], out: Option<PathBuf>) -> anyhow::Result<()> {
    let out = out.unwrap_or_else(|| files[0].with_extension("png"));
    check_outputs(&[("--out", &out)])?;
    if let Some(input) = files.iter().find(|f| nndl::files::check_distinct(&[("", f), ("", &out)]).is_err()) {
        bail!("--out {}: is also a metrics file to read; give the picture another name", input.display());
    }
    let mut panels: Vec<plot::Chart> = Vec::new();
    for file in files {
        let text = nndl::files::read_input_text(file, MAX_METRICS_BYTES, "a metrics file")?;
        let m = MetricsFile::parse(&text).with_context(|| {
            format!("{}: not a metrics file; give one written by `nndl train --metrics-json`", file.display())
        })?;
        let mut charts = plot::training_charts(&m.epochs, m.initial_gradient_norms.as_deref());
        if charts.is_empty() {
            bail!("{}: the run monitored no figures; train with --monitor all", file.display());
        }
        if files.len() > 1 {
            let name = file.file_stem().map_or(String::new(), |s| s.to_string_lossy().into_owned());
            charts.iter_mut().for_each(|c| c.title = format!("{}: {name}", c.title));
        }
        panels.extend(charts);
    }
    let columns = if files.len() > 1 { panels.len().div_ceil(files.len()) } else { panels.len().min(3) };
    plot::charts(&out, &panels, columns)?;
    println!("learning curves drawn to {}", out.display());
    Ok(())
}

fn weights(model: &Path, layer: Option<usize>, max: usize, out: &Path) -> anyhow::Result<()> {
    check_outputs(&[("--out", out)])?;
    let (net, _, input) = super::predict::load_model(model)?;
    let (index, tiles, what) =
        nndl::inspect::weight_tiles(&net, input.shape, layer, max).map_err(|e| match e {
            nndl::inspect::InspectError::NoSuchLayer { index, layers } => {
                anyhow::anyhow!("--layer {index}: the model has {layers} layers (they count from 1)")
            }
            e if layer.is_some() => anyhow::Error::new(e).context("--layer"),
            e => anyhow::Error::new(e),
        })?;
    let shown = tiles.len();
    let title = format!("layer {index} ({}): {what}; red +, blue −", net.layers[index - 1].spec());
    let columns = ((shown as f64).sqrt().ceil() as usize).max(10);
    plot::image_grid(out, &title, &tiles, columns.min(20), Shading::Signed)?;
    println!("{title}\n{shown} drawn to {}", out.display());
    Ok(())
}

fn errors(model: &Path, data: &TestDataArgs, max: usize, out: &Path, confusion: &Path) -> anyhow::Result<()> {
    check_outputs(&[("--out", out), ("--confusion", confusion)])?;
    let (net, info, input) = super::predict::load_model(model)?;
    let test = super::predict::test_set(&net, model, &info, &input, data)?;
    let outputs = nndl::ensemble::outputs(&[net], &test).remove(0);
    let name =
        model.file_name().map_or_else(|| model.display().to_string(), |n| n.to_string_lossy().into_owned());
    let c = Confusion::new(&outputs, &test.labels);
    let classes = &input.classes;
    let (correct, total) = c.correct();
    println!("test accuracy: {:.2}% ({correct} / {total})", 100.0 * correct as f64 / total as f64);
    let top: Vec<String> =
        c.most_common(5).iter().map(|&(t, p, n)| format!("{} → {} ({n})", classes[t], classes[p])).collect();
    if !top.is_empty() {
        println!("most common mistakes (true → predicted): {}", top.join(", "));
    }
    let what = if input.is_image() { "test images" } else { "test examples" };
    if c.wrong.is_empty() {
        println!("no test example is misclassified; nothing to draw in {}", out.display());
    } else if !input.is_image() {
        println!(
            "the examples are not images; no picture of the mistakes ({} is not written)",
            out.display()
        );
    } else {
        let tiles: Vec<Tile> = c
            .wrong
            .iter()
            .take(max)
            .map(|&(i, label, guess)| Tile {
                values: test.example(i),
                width: test.shape.width,
                height: test.shape.height,
                caption: format!(
                    "{} → {}",
                    nndl::shorten(&classes[label], 12),
                    nndl::shorten(&classes[guess], 12)
                ),
            })
            .collect();
        let title =
            format!("{} of the {} {what} {name} gets wrong (true → predicted)", tiles.len(), c.wrong.len());
        plot::image_grid(out, &title, &tiles, 12, Shading::Ink)?;
        println!("misclassified examples drawn to {}", out.display());
    }
    let labels: Vec<String> = classes.iter().map(|c| nndl::shorten(c, 16)).collect();
    let title = format!("Confusion matrix: {name} on the test set");
    plot::heatmap(confusion, &title, &c.matrix, &labels, ("true class", "predicted class"))?;
    println!("confusion matrix drawn to {}", confusion.display());
    Ok(())
}
