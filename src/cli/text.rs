//! `nndl train-text FILE`: a character-level language model on any text.

use anyhow::{Context, bail};
use nndl::data::source::{Format, InputInfo};
use nndl::layers::Cell;
use nndl::model_io;
use nndl::optim::Rule;
use nndl::text::{self, Corpus, TextConfig};
use serde_json::json;
use std::path::PathBuf;

#[derive(clap::Args)]
#[command(
    allow_negative_numbers = true,
    after_help = "Example:\n  nndl train-text book.txt --hidden 128 --seq-len 32 --epochs 20 --save lm.safetensors\n\n\
The text is read as characters; the last 10% is held out for the validation loss. After each epoch \
the loss (nats per character, and its perplexity) and a sample of new text are printed."
)]
pub struct TextArgs {
    /// A UTF-8 text file
    file: PathBuf,
    /// Recurrent cell: lstm or rnn
    #[arg(long, default_value = "lstm", value_parser = parse_cell)]
    cell: Cell,
    /// Hidden units
    #[arg(long, default_value_t = 128)]
    hidden: usize,
    /// Characters per training sequence (steps of backpropagation through time)
    #[arg(long, default_value_t = 32)]
    seq_len: usize,
    /// Sequences per mini-batch
    #[arg(long, default_value_t = 16)]
    batch_size: usize,
    #[arg(long, default_value_t = 10)]
    epochs: usize,
    /// Learning rate [default: 0.002 for adam and rmsprop, 0.5 for sgd]
    #[arg(long)]
    eta: Option<f32>,
    /// sgd, adam or rmsprop
    #[arg(long, default_value = "adam")]
    optimizer: String,
    /// Gradient clipping by global norm (0: none)
    #[arg(long, default_value_t = 5.0)]
    clip: f32,
    /// Characters to sample after each epoch
    #[arg(long, default_value_t = 200)]
    sample: usize,
    /// Sampling temperature (below 1: likelier characters; above 1: more variety)
    #[arg(long, default_value_t = 0.8)]
    temperature: f32,
    #[arg(long)]
    seed: Option<u64>,
    /// Save the model (safetensors; the alphabet is in its metadata)
    #[arg(long, value_name = "PATH")]
    save: Option<PathBuf>,
}

fn parse_cell(s: &str) -> Result<Cell, String> {
    match s {
        "lstm" => Ok(Cell::Lstm),
        "rnn" => Ok(Cell::Rnn),
        _ => Err(format!("'{s}' is not a cell (use lstm or rnn)")),
    }
}

/// The largest text read (its characters are held as 4-byte ids besides).
const MAX_TEXT_BYTES: u64 = 1 << 30;

pub fn run(args: TextArgs) -> anyhow::Result<()> {
    // Every flag is checked before the text is read.
    let optimizer = match args.optimizer.as_str() {
        "sgd" => Rule::Sgd,
        "adam" => Rule::ADAM,
        "rmsprop" => Rule::RMSPROP,
        o => bail!("--optimizer: '{}' is not an optimizer (use sgd, adam or rmsprop)", nndl::shorten(o, 40)),
    };
    if !(args.temperature.is_finite() && args.temperature > 0.0) {
        bail!("--temperature: must be a positive number");
    }
    if args.eta.is_some_and(|eta| !(eta.is_finite() && eta > 0.0)) {
        bail!("--eta: must be a positive number");
    }
    if !(args.clip.is_finite() && args.clip >= 0.0) {
        bail!("--clip: must be a positive number, or 0 for no clipping");
    }
    for (flag, value) in
        [("--hidden", args.hidden), ("--seq-len", args.seq_len), ("--batch-size", args.batch_size)]
    {
        if value == 0 {
            bail!("{flag}: must be at least 1");
        }
    }
    let cfg = TextConfig {
        cell: args.cell,
        hidden: args.hidden,
        seq_len: args.seq_len,
        batch_size: args.batch_size,
        epochs: args.epochs,
        eta: args.eta.unwrap_or(if optimizer == Rule::Sgd { 0.5 } else { 0.002 }),
        optimizer,
        clip: (args.clip > 0.0).then_some(args.clip),
        sample_len: args.sample,
        temperature: args.temperature,
    };
    if let Some(path) = &args.save {
        nndl::files::check_output(path, "--save", false).context("--save")?;
    }
    let text = nndl::files::read_input_text(&args.file, MAX_TEXT_BYTES, "a text to learn from")?;
    let corpus = Corpus::new(&text).with_context(|| args.file.display().to_string())?;
    // The model's size follows from the alphabet: known only now.
    let specs = text::model_specs(&cfg, corpus.symbols());
    nndl::network::Network::check(&specs, nndl::cost::Cost::LogLikelihood).context("--hidden/--seq-len")?;
    let states = match cfg.optimizer {
        Rule::Adam { .. } => 2,
        Rule::RmsProp { .. } => 1,
        Rule::Sgd => 0,
    };
    let need = nndl::memory::training_bytes(&specs, cfg.batch_size, 1, states, 256);
    nndl::memory::check(
        need,
        &format!("this model (alphabet of {}, {} steps)", corpus.symbols(), cfg.seq_len),
    )
    .map_err(anyhow::Error::msg)
    .context("--hidden")?;
    let seed = args.seed.unwrap_or_else(rand::random);
    let mut rng = nndl::seeded_rng(seed);
    let mut net = text::new_model(&corpus, &cfg, &mut rng).context("--hidden")?;
    println!(
        "{}: {} characters, alphabet of {}; {} {} → softmax {} per step; {} steps per sequence; seed {seed}",
        args.file.display(),
        corpus.ids.len(),
        corpus.symbols(),
        if cfg.cell == Cell::Lstm { "lstm" } else { "rnn" },
        cfg.hidden,
        corpus.symbols(),
        cfg.seq_len
    );
    let history = text::train_text(&mut net, &corpus, &cfg, &mut rng, &mut |e| {
        let validation = e.validation_loss.map_or(String::new(), |v| format!("  validation {v:.3}"));
        println!(
            "epoch {}/{}  {:.2} s  loss {:.3} (perplexity {:.2}){validation}",
            e.epoch,
            cfg.epochs,
            e.seconds,
            e.train_loss,
            e.train_loss.exp()
        );
        println!("  sample: {}", e.sample.replace('\n', "\n          "));
    })
    .with_context(|| args.file.display().to_string())?;
    if let Some(path) = &args.save {
        let input = InputInfo {
            format: Format::Text,
            shape: nndl::layers::Shape::new(1, cfg.seq_len, corpus.symbols()),
            classes: corpus.vocab.iter().map(|c| c.to_string()).collect(),
            ..InputInfo::mnist()
        };
        let vocab: String = corpus.vocab.iter().collect();
        let info = json!({ "kind": "text", "vocab": vocab, "config": cfg, "seed": seed, "epochs": history });
        model_io::save(&net, Some(&input), info, path).context("--save")?;
        println!("model saved to {}", path.display());
    }
    Ok(())
}
