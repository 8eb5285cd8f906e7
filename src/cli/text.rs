//! `nndl train-text FILE`: a character-level language model on any text.

use anyhow::{Context, bail};
use nndl::layers::Cell;
use nndl::model_io;
use nndl::optim::Rule;
use nndl::text::{self, Corpus, TextConfig};
use serde_json::json;
use std::path::PathBuf;

#[derive(clap::Args)]
#[command(
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

pub fn run(args: TextArgs) -> anyhow::Result<()> {
    let optimizer = match args.optimizer.as_str() {
        "sgd" => Rule::Sgd,
        "adam" => Rule::ADAM,
        "rmsprop" => Rule::RMSPROP,
        o => bail!("--optimizer: '{o}' is not an optimizer (use sgd, adam or rmsprop)"),
    };
    if !(args.temperature.is_finite() && args.temperature > 0.0) {
        bail!("--temperature: must be a positive number");
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
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("{}: cannot read it as UTF-8 text", args.file.display()))?;
    let corpus = Corpus::new(&text).with_context(|| args.file.display().to_string())?;
    let seed = args.seed.unwrap_or_else(rand::random);
    let mut rng = nndl::seeded_rng(seed);
    let mut net = text::new_model(&corpus, &cfg, &mut rng);
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
        let vocab: String = corpus.vocab.iter().collect();
        let info = json!({ "kind": "text", "vocab": vocab, "config": cfg, "seed": seed, "epochs": history });
        model_io::save(&mut net, info, path).context("--save")?;
        println!("model saved to {}", path.display());
    }
    Ok(())
}
