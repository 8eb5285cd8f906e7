//! A character-level language model: read a text, learn to predict each next character with a
//! recurrent net, and write new text one sampled character at a time (many-to-many use of
//! the recurrent layers).

use crate::Rng;
use crate::cost::Cost;
use crate::data::Examples;
use crate::layers::{Cell, Init, LayerSpec, Shape};
use crate::network::Network;
use crate::optim::Rule;
use crate::train::{EpochMetrics, Monitor, Observer, TrainConfig, TrainError};
use ndarray::{Array2, s};
use rand::Rng as _;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Why a text cannot be learned from.
#[derive(Debug, Error, PartialEq)]
pub enum TextError {
    #[error(
        "the text has {chars} characters; give at least {needed} (two sequences of the sequence length + 1)"
    )]
    TooShort { chars: usize, needed: usize },
    #[error("the text uses only one distinct character; there is nothing to predict")]
    OneSymbol,
    #[error("{0}")]
    Config(String),
    #[error("{0}")]
    Training(String),
}

/// A text as indices into its alphabet (the distinct characters, sorted).
#[derive(Clone, Debug, PartialEq)]
pub struct Corpus {
    pub vocab: Vec<char>,
    pub ids: Vec<u32>,
}

impl Corpus {
    pub fn new(text: &str) -> Result<Self, TextError> {
        let mut vocab: Vec<char> = text.chars().collect();
        vocab.sort_unstable();
        vocab.dedup();
        if vocab.len() < 2 {
            return Err(TextError::OneSymbol);
        }
        let ids = text.chars().map(|c| vocab.binary_search(&c).expect("in the vocabulary") as u32).collect();
        Ok(Corpus { vocab, ids })
    }

    /// The alphabet's size V: one-hot inputs and outputs are V wide.
    pub fn symbols(&self) -> usize {
        self.vocab.len()
    }
}

/// How to train a language model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TextConfig {
    pub cell: Cell,
    /// Hidden units of the recurrent layer.
    pub hidden: usize,
    /// Characters per training sequence (steps of backpropagation through time).
    pub seq_len: usize,
    pub batch_size: usize,
    pub epochs: usize,
    pub eta: f32,
    pub optimizer: Rule,
    pub clip: Option<f32>,
    /// Characters to sample after each epoch.
    pub sample_len: usize,
    /// Sampling temperature: below 1 picks likelier characters, above 1 adds variety.
    pub temperature: f32,
}

impl Default for TextConfig {
    fn default() -> Self {
        TextConfig {
            cell: Cell::Lstm,
            hidden: 128,
            seq_len: 32,
            batch_size: 16,
            epochs: 10,
            eta: 0.002,
            optimizer: Rule::ADAM,
            clip: Some(5.0),
            sample_len: 200,
            temperature: 0.8,
        }
    }
}

/// One epoch's figures: mean cross-entropy per character (nats) on training and held-out text,
/// and a sample.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TextEpoch {
    pub epoch: usize,
    pub train_loss: f64,
    pub validation_loss: Option<f64>,
    pub seconds: f64,
    pub sample: String,
}

/// The net: `rnn|lstm H seq` over T steps of V one-hot features, then a softmax over V at each step.
pub fn model_specs(cfg: &TextConfig, symbols: usize) -> Vec<LayerSpec> {
    let t = cfg.seq_len;
    vec![
        LayerSpec::Recurrent {
            cell: cfg.cell,
            input: Shape::new(1, t, symbols),
            hidden: cfg.hidden,
            sequence: true,
        },
        LayerSpec::TimeDense {
            steps: t,
            inputs: cfg.hidden,
            outputs: symbols,
            activation: crate::activation::Activation::Softmax,
        },
    ]
}

/// A text cut into windows of T characters, each with the characters one later as its
/// targets: examples for the shared training loop ([`crate::train::train`]). Inputs and
/// targets are `[T·V]` one-hot rows, step after step; each step's target is one answer.
pub struct Windows<'a> {
    ids: &'a [u32],
    steps: usize,
    symbols: usize,
    /// Characters between one window's start and the next's.
    stride: usize,
}

impl<'a> Windows<'a> {
    /// The windows of `ids` (character ids below `symbols`) of `steps` characters, starting at
    /// 0, `stride`, 2·`stride`, … while a window and its next character fit. Training takes
    /// every start (stride 1), so that no position in the text is always a window's first;
    /// measuring takes consecutive windows (stride T), so that each character counts once.
    pub fn new(ids: &'a [u32], steps: usize, symbols: usize, stride: usize) -> Self {
        Windows { ids, steps, symbols, stride: stride.max(1) }
    }
}

impl Examples for Windows<'_> {
    fn len(&self) -> usize {
        let starts = self.ids.len().saturating_sub(self.steps); // last start: len − T − 1
        starts.div_ceil(self.stride)
    }

    fn input_size(&self) -> usize {
        self.steps * self.symbols
    }

    fn target_size(&self) -> usize {
        self.steps * self.symbols
    }

    fn class_count(&self) -> usize {
        self.symbols
    }

    fn fill(&self, idx: &[usize], x: &mut [f32], y: &mut [f32]) {
        let (t, v) = (self.steps, self.symbols);
        x.fill(0.0);
        y.fill(0.0);
        for (b, &i) in idx.iter().enumerate() {
            let s = i * self.stride;
            for k in 0..t {
                x[(b * t + k) * v + self.ids[s + k] as usize] = 1.0;
                y[(b * t + k) * v + self.ids[s + k + 1] as usize] = 1.0;
            }
        }
    }
}

/// Trains `net` (from [`model_specs`]) on `corpus` through the shared training loop: the first
/// 90% in windows of `seq_len` characters, shuffled each epoch; the last 10% for the validation
/// loss. Calls `each` after every epoch with the losses per character and a sample.
pub fn train_text(
    net: &mut Network,
    corpus: &Corpus,
    cfg: &TextConfig,
    rng: &mut Rng,
    each: &mut dyn FnMut(&TextEpoch),
) -> Result<Vec<TextEpoch>, TextError> {
    let (t, v) = (cfg.seq_len, corpus.symbols());
    if t == 0 || cfg.batch_size == 0 || cfg.hidden == 0 {
        return Err(TextError::Config(
            "the sequence length, batch size and hidden units must be at least 1".into(),
        ));
    }
    let needed = 2 * (t + 1);
    if corpus.ids.len() < needed {
        return Err(TextError::TooShort { chars: corpus.ids.len(), needed });
    }
    let split = (corpus.ids.len() * 9 / 10).max(t + 1);
    let (train_ids, held_ids) = corpus.ids.split_at(split);
    // The held-out text starts with the training text's last character, so that its first
    // window has an input for its first target.
    let held_ids = &corpus.ids[split - 1..split + held_ids.len()];
    let (training, held) = (Windows::new(train_ids, t, v, 1), Windows::new(held_ids, t, v, t));
    let train_cfg = TrainConfig {
        epochs: cfg.epochs,
        // An epoch sees as many windows as fit in the text end to end (each character once).
        epoch_examples: Some((train_ids.len() / t).max(1)),
        batch_size: cfg.batch_size,
        eta: cfg.eta,
        optimizer: cfg.optimizer,
        clip: cfg.clip,
        monitor: Monitor {
            training_cost: true,
            training_accuracy: false,
            evaluation_cost: true,
            evaluation_accuracy: false,
        },
        ..TrainConfig::default()
    };
    let mut sampler =
        Sampler { corpus, cfg, rng: crate::seeded_rng(rng.random()), each, history: Vec::new() };
    let evaluation = (!held.is_empty()).then_some(&held);
    crate::train::train(net, &training, evaluation, &train_cfg, rng, &mut sampler).map_err(|e| match e {
        TrainError::Interrupted { .. } | TrainError::Diverged { .. } => TextError::Training(e.to_string()),
        other => TextError::Config(other.to_string()),
    })?;
    Ok(sampler.history)
}

/// After each epoch: the losses per character, and a sample of new text.
struct Sampler<'a> {
    corpus: &'a Corpus,
    cfg: &'a TextConfig,
    rng: Rng,
    each: &'a mut dyn FnMut(&TextEpoch),
    history: Vec<TextEpoch>,
}

impl Observer for Sampler<'_> {
    fn epoch_end(&mut self, m: &EpochMetrics, net: &Network) {
        let t = self.cfg.seq_len as f64;
        let record = TextEpoch {
            epoch: m.epoch,
            train_loss: m.training_cost.unwrap_or(f64::NAN) / t,
            validation_loss: m.evaluation_cost.map(|c| c / t),
            seconds: m.train_seconds,
            sample: sample(net, self.corpus, self.cfg, &mut self.rng),
        };
        (self.each)(&record);
        self.history.push(record);
    }
}

/// New text: starting from a random window of the corpus, repeatedly run the net over the last
/// T characters and draw the next from its distribution at the last step (sharpened or
/// flattened by the temperature).
pub fn sample(net: &Network, corpus: &Corpus, cfg: &TextConfig, rng: &mut Rng) -> String {
    let (t, v) = (cfg.seq_len, corpus.symbols());
    let start = rng.random_range(0..corpus.ids.len() - t);
    let mut context: Vec<u32> = corpus.ids[start..start + t].to_vec();
    let mut out = String::new();
    let mut x = Array2::zeros((1, t * v));
    let mut ws = net.workspace(0);
    for _ in 0..cfg.sample_len {
        x.fill(0.0);
        for (k, &id) in context[context.len() - t..].iter().enumerate() {
            x[[0, k * v + id as usize]] = 1.0;
        }
        let probs = net.feedforward(&mut ws, x.view(), false);
        let last = probs.slice(s![0, (t - 1) * v..]);
        let next = draw(last.iter().copied(), cfg.temperature, rng);
        context.push(next as u32);
        out.push(corpus.vocab[next]);
    }
    out
}

/// Draws an index from the distribution `probs` sharpened (temperature below 1) or flattened
/// (above 1): p_i^(1/T), renormalised. Worked in logarithms, relative to the likeliest, so a
/// tiny temperature picks the likeliest symbol instead of underflowing every weight to zero.
pub fn draw(probs: impl Iterator<Item = f32>, temperature: f32, rng: &mut Rng) -> usize {
    let logs: Vec<f64> = probs.map(|p| (p.max(1e-30) as f64).ln() / temperature as f64).collect();
    let top = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let weights: Vec<f64> = logs.iter().map(|l| (l - top).exp()).collect(); // the likeliest weighs 1
    let mut r = rng.random::<f64>() * weights.iter().sum::<f64>();
    for (i, w) in weights.iter().enumerate() {
        if r < *w {
            return i;
        }
        r -= w;
    }
    // Rounding left r at the very end: the last symbol with any weight.
    weights.iter().rposition(|&w| w > 0.0).unwrap_or(0)
}

/// Builds the language model for `corpus` with fresh weights (refused if it would not fit in
/// memory, see [`Network::new`]).
pub fn new_model(
    corpus: &Corpus,
    cfg: &TextConfig,
    rng: &mut Rng,
) -> Result<Network, crate::network::NetworkError> {
    Network::new(&model_specs(cfg, corpus.symbols()), Cost::LogLikelihood, Init::Scaled, rng)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_language_model_learns_a_repetitive_text() {
        let text = "the cat sat on the mat. ".repeat(40);
        let corpus = Corpus::new(&text).unwrap();
        assert_eq!(corpus.symbols(), 11); // "the cat sat on the mat. " has 10 letters + space... and '.'
        let cfg = TextConfig {
            hidden: 24,
            seq_len: 12,
            batch_size: 8,
            epochs: 30,
            eta: 0.01,
            sample_len: 60,
            ..Default::default()
        };
        let mut rng = crate::seeded_rng(3);
        let mut net = new_model(&corpus, &cfg, &mut rng).unwrap();
        let history = train_text(&mut net, &corpus, &cfg, &mut rng, &mut |e| println!("{e:?}")).unwrap();
        let (first, last) = (history[0].train_loss, history.last().unwrap().train_loss);
        assert!(last < 0.5 * first, "loss {first} -> {last}");
        assert!(history.last().unwrap().validation_loss.unwrap() < 0.5);
        let sample = &history.last().unwrap().sample;
        assert_eq!(sample.chars().count(), 60);
        assert!(sample.contains("the ") || sample.contains("at "), "{sample}");
        assert!(sample.chars().all(|c| corpus.vocab.contains(&c)));
    }

    #[test]
    fn texts_too_short_or_of_one_symbol_are_refused() {
        assert_eq!(Corpus::new("aaaa"), Err(TextError::OneSymbol));
        let corpus = Corpus::new("abcabc").unwrap();
        let cfg = TextConfig { seq_len: 8, ..Default::default() };
        let mut rng = crate::seeded_rng(1);
        let mut net = new_model(&corpus, &cfg, &mut rng).unwrap();
        assert!(matches!(
            train_text(&mut net, &corpus, &cfg, &mut rng, &mut |_| {}),
            Err(TextError::TooShort { .. })
        ));
    }

    #[test]
    fn a_tiny_temperature_draws_the_likeliest_symbol() {
        let mut rng = crate::seeded_rng(1);
        let probs = [0.1f32, 0.5, 0.3, 0.1];
        for t in [1e-5f32, 1e-3, 0.01] {
            for _ in 0..100 {
                assert_eq!(draw(probs.iter().copied(), t, &mut rng), 1, "temperature {t}");
            }
        }
        // At temperature 1 the draw follows the probabilities.
        let mut counts = [0usize; 4];
        for _ in 0..10_000 {
            counts[draw(probs.iter().copied(), 1.0, &mut rng)] += 1;
        }
        assert!((4_700..5_300).contains(&counts[1]) && (2_700..3_300).contains(&counts[2]), "{counts:?}");
        // Large temperatures flatten it, and zero probabilities stay reachable only then.
        let mut counts = [0usize; 4];
        for _ in 0..10_000 {
            counts[draw([0.97f32, 0.01, 0.01, 0.01].into_iter(), 100.0, &mut rng)] += 1;
        }
        assert!(counts.iter().all(|&c| c > 2_000), "{counts:?}");
    }
}
