//! `nndl export` and `nndl import`: models to and from ONNX and network2.py's JSON.

use anyhow::{Context, bail};
use nndl::data::numbered_classes;
use nndl::data::source::{Format, InputInfo};
use nndl::layers::Shape;
use nndl::model_io::{self, ModelInfo};
use nndl::{files, network2_json, onnx};
use std::path::{Path, PathBuf};

/// The formats `nndl export` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    Onnx,
    Network2Json,
}

fn parse_format(s: &str) -> Result<ExportFormat, String> {
    match s.to_ascii_lowercase().as_str() {
        "onnx" => Ok(ExportFormat::Onnx),
        "network2-json" | "network2" | "json" => Ok(ExportFormat::Network2Json),
        _ => Err(format!("'{s}' is not an export format (use onnx or network2-json)")),
    }
}

#[derive(clap::Args)]
#[command(after_help = "Examples:\n  \
  nndl export model.safetensors -o model.onnx                 # for ONNX Runtime, browsers, phones, servers\n  \
  nndl export mlp.safetensors -o mlp.json                     # network2.py's JSON (dense sigmoid nets)\n  \
  nndl export model.safetensors -o - --format onnx > m.onnx\n\n\
ONNX: opset 17, one input 'input' ([N, features], [N, C, H, W] or [N, T, features]) and one output \
'output', the batch N free. Every nndl layer is exported; the model's classes, input (with a CSV table's \
standardisation) and training record go in the metadata, so `nndl import` gives the model back whole.")]
pub struct ExportArgs {
    /// A model saved by `nndl train --save`, `nndl train-text --save` or `nndl import`
    model: PathBuf,
    /// The file to write (.onnx or .json), or - for standard output (with --format)
    #[arg(short, long, value_name = "FILE")]
    output: PathBuf,
    /// onnx, or network2-json (network2.py's `save` format, for dense sigmoid networks)
    /// [default: from the output's extension]
    #[arg(long, value_parser = parse_format)]
    format: Option<ExportFormat>,
}

#[derive(clap::Args)]
#[command(after_help = "Examples:\n  \
  nndl import model.onnx -o model.safetensors                 # an ONNX model, nndl's or PyTorch's\n  \
  nndl import net.json -o net.safetensors                     # saved by network2.py's Network.save\n  \
  nndl eval net.safetensors; nndl train --init-from net.safetensors --epochs 5   # use it, fine-tune it\n\n\
ONNX graphs are read as chains of nndl layers: Gemm or MatMul+Add, Conv, MaxPool/AveragePool/LpPool, \
Sigmoid/Tanh/Relu/Softmax/LogSoftmax, Dropout, Flatten, Reshape (PyTorch's x.view(x.size(0), -1) too), \
RNN and LSTM. Anything else is refused, naming the node. A model exported by nndl comes back with its \
classes and input; others are taken to read MNIST for 784 inputs or 1×28×28 images, else numbered classes.")]
pub struct ImportArgs {
    /// An ONNX model (.onnx) or network2.py's JSON (what its Network.save writes)
    file: PathBuf,
    /// The nndl model to write (safetensors)
    #[arg(short, long, value_name = "MODEL")]
    output: PathBuf,
}

pub fn export(args: ExportArgs) -> anyhow::Result<()> {
    let format = match args.format {
        Some(f) => f,
        None => {
            match args.output.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
                Some("onnx") => ExportFormat::Onnx,
                Some("json") => ExportFormat::Network2Json,
                _ => bail!(
                    "--output: say which format with --format onnx|network2-json (or end the name in .onnx or .json)"
                ),
            }
        }
    };
    files::check_output(&args.output, "--output", true).context("--output")?;
    let (net, info) = model_io::load(&args.model)?;
    let bytes = match format {
        ExportFormat::Onnx => onnx::export(&net, &info).with_context(|| args.model.display().to_string())?,
        ExportFormat::Network2Json => {
            let text = network2_json::to_json(&net).with_context(|| args.model.display().to_string())?;
            (text + "\n").into_bytes()
        }
    };
    super::stdout_is_data(files::is_stdout(&args.output));
    files::write_atomically(&args.output, &bytes).context("--output")?;
    let what = match format {
        ExportFormat::Onnx => format!(
            "ONNX (opset {}, input '{}', output '{}')",
            onnx::OPSET,
            onnx::INPUT_NAME,
            onnx::OUTPUT_NAME
        ),
        ExportFormat::Network2Json => "network2.py JSON".into(),
    };
    super::say!(
        "{}: {} written to {} ({} bytes)",
        args.model.display(),
        what,
        super::shown(&args.output),
        bytes.len()
    );
    Ok(())
}

/// The input of a network2.py net: MNIST for 784 inputs, else a table of `x1`, `x2`, ….
fn network2_input(n_in: usize, n_out: usize) -> InputInfo {
    let mnist = InputInfo { classes: numbered_classes(n_out), ..InputInfo::mnist() };
    if n_in == 784 {
        return mnist;
    }
    InputInfo {
        format: Format::Csv,
        shape: Shape::flat(n_in),
        features: (1..=n_in).map(|i| format!("x{i}")).collect(),
        ..mnist
    }
}

/// Reads `path` as an ONNX model or network2.py's JSON, whichever it is.
pub fn read_model(path: &Path) -> anyhow::Result<(nndl::network::Network, ModelInfo, Vec<String>)> {
    let budget = nndl::memory::budget();
    let bytes = files::read_input(path, budget, "an ONNX model or network2.py JSON")?;
    let shown = path.display().to_string();
    if network2_json::looks_like_json(&bytes) {
        // A parsed JSON number takes far more memory than its text: bound the text.
        if bytes.len() as u64 > budget / 40 {
            bail!(
                "{shown}: {} bytes of JSON is more than nndl reads in this memory; export it as ONNX",
                bytes.len()
            );
        }
        let text =
            String::from_utf8(bytes).map_err(|_| anyhow::anyhow!("{shown}: JSON that is not UTF-8"))?;
        let net = network2_json::from_json(&text).with_context(|| shown.clone())?;
        let info = ModelInfo {
            format: model_io::FORMAT.into(),
            version: model_io::VERSION,
            architecture: net.specs(),
            cost: net.cost,
            input: Some(network2_input(net.in_size(), net.out_size())),
            training: serde_json::json!({ "imported_from": { "format": "network2-json" } }),
        };
        return Ok((net, info, Vec::new()));
    }
    let imported = onnx::import(&bytes).with_context(|| shown.clone())?;
    Ok((imported.net, imported.info, imported.notes))
}

pub fn import(args: ImportArgs) -> anyhow::Result<()> {
    files::check_output(&args.output, "--output", false).context("--output")?;
    let (net, info, notes) = read_model(&args.file)?;
    for note in &notes {
        eprintln!("note: {note}");
    }
    let input = info.input();
    model_io::save(&net, Some(&input), info.training.clone(), &args.output).context("--output")?;
    println!("network: {}", super::train::describe(&net.specs()));
    println!(
        "input {} ({:?}), {} classes, {} cost; saved to {}",
        input.shape,
        input.format,
        input.classes.len(),
        net.cost,
        args.output.display()
    );
    Ok(())
}

/// `train --init-from MODEL`: the saved network to start from.
pub fn init_from(path: &Path) -> anyhow::Result<nndl::network::Network> {
    Ok(model_io::load(path).context("--init-from")?.0)
}
