//! `nndl plot`: pictures of a training run or of a saved model.

use super::DataArgs;
use anyhow::{Context, bail};
use clap::Subcommand;
use nndl::layers::LayerSpec;
use nndl::plot::{self, Format, Shading, Tile};
use nndl::train::{MetricsFile, argmax};
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
        data: DataArgs,
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
    let (net, _) = super::predict::load_model(model)?;
    let specs = net.specs();
    let has_weights = |s: &LayerSpec| matches!(s, LayerSpec::Dense { .. } | LayerSpec::Conv { .. });
    let index = match layer {
        Some(0) => bail!("--layer: layers count from 1"),
        Some(l) if l > specs.len() => bail!("--layer {l}: the model has {} layers", specs.len()),
        Some(l) => l - 1,
        None => specs.iter().position(has_weights).context("the model has no dense or conv layer")?,
    };
    let spec = specs[index].clone();
    let values: Vec<f32> = net.layers[index].params().first().map_or_else(Vec::new, |w| w.to_vec());
    let (tiles, what) = match spec {
        LayerSpec::Dense { inputs, outputs, .. } => {
            // A dense layer reads the 28×28 image when only dropout or flatten come before it;
            // a later one reads an image only if the layer before it gives one channel of H×W.
            let shape = spec.in_shape();
            let reads_input = specs[..index]
                .iter()
                .all(|s| matches!(s, LayerSpec::Dropout { .. } | LayerSpec::Flatten { .. }));
            let (h, w) = match (reads_input, shape.channels) {
                (true, _) => (28, 28),
                (_, 1) if shape.height > 1 => (shape.height, shape.width),
                _ => bail!(
                    "{}layer {}: this dense layer reads {shape} ({inputs} inputs), which is not one image; \
                     plot the first dense layer of an MLP or a conv layer",
                    if layer.is_some() { "--" } else { "" },
                    index + 1
                ),
            };
            let tiles = (0..outputs.min(max))
                .map(|n| Tile {
                    values: values[n * inputs..(n + 1) * inputs].to_vec(),
                    width: w,
                    height: h,
                    caption: format!("{}", n + 1),
                })
                .collect::<Vec<_>>();
            (tiles, format!("{outputs} neurons, each one's {inputs} input weights as a {h}×{w} image"))
        }
        LayerSpec::Conv { input, filters, kernel, .. } => {
            let per = kernel * kernel;
            let mut tiles = Vec::new();
            for f in 0..filters {
                for c in 0..input.channels {
                    let at = (f * input.channels + c) * per;
                    let caption = if input.channels == 1 {
                        format!("{}", f + 1)
                    } else {
                        format!("{}.{}", f + 1, c + 1)
                    };
                    tiles.push(Tile {
                        values: values[at..at + per].to_vec(),
                        width: kernel,
                        height: kernel,
                        caption,
                    });
                }
            }
            tiles.truncate(max);
            (tiles, format!("{filters} filters of {kernel}×{kernel} over {} channel(s)", input.channels))
        }
        other => bail!("--layer {}: {other} has no weights to draw; choose a dense or conv layer", index + 1),
    };
    let shown = tiles.len();
    let title = format!("layer {} ({}): {what}; red +, blue −", index + 1, spec);
    let columns = ((shown as f64).sqrt().ceil() as usize).max(10);
    plot::image_grid(out, &title, &tiles, columns.min(20), Shading::Signed)?;
    println!("{title}\n{shown} drawn to {}", out.display());
    Ok(())
}

fn errors(model: &Path, data: &DataArgs, max: usize, out: &Path, confusion: &Path) -> anyhow::Result<()> {
    check_outputs(&[("--out", out), ("--confusion", confusion)])?;
    let (net, _) = super::predict::load_model(model)?;
    let test = &super::data::load_test(data)?;
    super::predict::check_fits(&net, model, test, data)?;
    let outputs = nndl::ensemble::outputs(&[net], test).remove(0);
    let name =
        model.file_name().map_or_else(|| model.display().to_string(), |n| n.to_string_lossy().into_owned());
    let guesses: Vec<usize> = outputs.rows().into_iter().map(|r| argmax(r.iter().copied())).collect();
    let mut matrix = vec![vec![0.0f64; 10]; 10];
    let mut wrong = Vec::new();
    for (i, (&guess, &label)) in guesses.iter().zip(&test.labels).enumerate() {
        matrix[label as usize][guess] += 1.0;
        if guess != label as usize {
            wrong.push((i, label, guess));
        }
    }
    let correct = test.len() - wrong.len();
    println!(
        "test accuracy: {:.2}% ({correct} / {})",
        100.0 * correct as f64 / test.len() as f64,
        test.len()
    );
    let mut confusions: Vec<(usize, usize, f64)> = (0..10)
        .flat_map(|t| (0..10).map(move |p| (t, p)))
        .filter(|(t, p)| t != p)
        .map(|(t, p)| (t, p, matrix[t][p]))
        .collect();
    confusions.sort_by(|a, b| b.2.total_cmp(&a.2));
    let top: Vec<String> =
        confusions.iter().take(5).filter(|c| c.2 > 0.0).map(|(t, p, n)| format!("{t} → {p} ({n})")).collect();
    if !top.is_empty() {
        println!("most common mistakes (true → predicted): {}", top.join(", "));
    }
    if wrong.is_empty() {
        println!("no test digit is misclassified; nothing to draw in {}", out.display());
    } else {
        let tiles: Vec<Tile> = wrong
            .iter()
            .take(max)
            .map(|&(i, label, guess)| Tile {
                values: test.example(i),
                width: test.shape.width,
                height: test.shape.height,
                caption: format!("{label} → {guess}"),
            })
            .collect();
        let title = format!(
            "{} of the {} test digits {name} gets wrong (true → predicted)",
            tiles.len(),
            wrong.len()
        );
        plot::image_grid(out, &title, &tiles, 12, Shading::Ink)?;
        println!("misclassified digits drawn to {}", out.display());
    }
    let labels: Vec<String> = (0..10).map(|d| d.to_string()).collect();
    let title = format!("Confusion matrix: {name} on the test set");
    plot::heatmap(confusion, &title, &matrix, &labels, ("true digit", "predicted digit"))?;
    println!("confusion matrix drawn to {}", confusion.display());
    Ok(())
}
