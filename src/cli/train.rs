//! `nndl train`: build a network from flags, train it on the data, report and save.

use super::checkpoint::{self, CheckpointArgs, Origin};
use super::data::DataArgs;
use super::progress::EpochPrinter;
use super::ranks::Ranks;
use anyhow::{Context, bail};
use nndl::activation::Activation;
use nndl::cost::Cost;
use nndl::data::source::{Format, Loaded};
use nndl::layers::{Init, LayerSpec, Shape, parse_arch};
use nndl::network::{Network, dense_specs};
use nndl::optim::{Regulariser, Rule};
use nndl::train::{self, Monitor, Schedule, TrainConfig};
use nndl::{files, model_io};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
#[command(
    allow_negative_numbers = true,
    after_help = "Examples:\n  \
  nndl train                                          # network.py, chapter 1: ~95.7% in 30 epochs\n  \
  nndl train --layers 784,100,10                      # ~97.9%\n  \
  nndl train --layers 784,100,10 --cost cross-entropy --lambda 5 --eta 0.1 --epochs 60   # network2: ~97.9%\n  \
  nndl train --cost log-likelihood --eta 0.5 --save model.safetensors --metrics-json run.json\n  \
  nndl train --arch \"conv 20 5x5; maxpool 2; dense 100; softmax 10\" --eta 0.1 --epochs 60    # chapter 6: ~98.9%\n  \
  nndl train --arch \"lstm 128; softmax 10\" --optimizer adam --batch-size 64 --epochs 20        # ~98.7%\n  \
  nndl train --data photos/ --image-size 32x32 --arch \"conv 16 5x5 relu; maxpool 2; dense 64 relu; softmax 5\"\n  \
  nndl train --data wine.csv --layers 13,30,3 --cost cross-entropy --eta 0.5 --epochs 60 --validation-size 0  # ~99%"
)]
pub struct TrainArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Examples used for training: the first N of the training data [default: all but the
    /// validation examples; MNIST: 50,000]
    #[arg(long, value_name = "N", help_heading = "Data")]
    train_size: Option<usize>,
    /// Examples held out for validation: the last N of the training data [default: a sixth;
    /// MNIST: 10,000, the book's]
    #[arg(long, value_name = "N", help_heading = "Data")]
    validation_size: Option<usize>,
    /// The book's expanded training set: each image plus its four one-pixel shifts (5× the
    /// images; 196 MB more memory for 50,000)
    #[arg(long, help_heading = "Data")]
    expand: bool,
    /// Distort each training image as it is drawn: a random rotation within ±DEG degrees and a
    /// shift within ±PX pixels [default when given: 10,2]
    #[arg(long, value_name = "DEG,PX", num_args = 0..=1, default_missing_value = "10,2", value_parser = parse_augment, help_heading = "Data")]
    augment: Option<nndl::data::Augment>,
    /// With --augment, also mirror half the images (off by default: digits are not symmetric)
    #[arg(long, requires = "augment", help_heading = "Data")]
    augment_flips: bool,

    /// Neurons per layer, input first, e.g. 784,100,10 [default: inputs,30,classes; MNIST:
    /// 784,30,10, network.py's]
    #[arg(long, value_delimiter = ',', help_heading = "Network")]
    layers: Option<Vec<usize>>,
    /// Any architecture instead of --layers, e.g. "conv 20 5x5 relu; maxpool 2; dense 100 relu;
    /// dropout 0.5; softmax 10" (layers: conv F KxK [stride S] [same|valid] [ACT], maxpool K,
    /// avgpool K, l2pool K [stride S], dense N [ACT], softmax N, dropout P, flatten, and
    /// rnn H / lstm H [seq|last], which read an image as a sequence of its rows)
    #[arg(long, conflicts_with_all = ["layers", "activation", "output"], help_heading = "Network")]
    arch: Option<String>,
    /// Start from a saved model's layers and weights, to fine-tune it (e.g. one made by `nndl
    /// import`); its cost too, unless --cost is given
    #[arg(long, value_name = "MODEL", conflicts_with_all = ["arch", "layers", "activation", "output", "init"], help_heading = "Network")]
    init_from: Option<PathBuf>,
    /// Print the layers, their output shapes and parameter counts before training
    #[arg(long, help_heading = "Network")]
    summary: bool,
    /// Hidden neurons: sigmoid, tanh, relu, identity
    #[arg(long, default_value = "sigmoid", help_heading = "Network")]
    activation: Activation,
    /// Output neurons [default: softmax with --cost log-likelihood, else sigmoid]
    #[arg(long, help_heading = "Network")]
    output: Option<Activation>,
    /// Cost: quadratic, cross-entropy, log-likelihood [default: log-likelihood for a softmax
    /// output, else quadratic]
    #[arg(long, help_heading = "Network")]
    cost: Option<Cost>,
    /// Weight init: scaled = N(0,1/n_in), large = N(0,1) as in network.py (biases N(0,1) either way)
    #[arg(long, default_value = "scaled", help_heading = "Network")]
    init: Init,

    /// Learning rate η [default: 3.0 for sgd, 0.001 for adam and rmsprop]
    #[arg(long, help_heading = "Learning")]
    eta: Option<f32>,
    /// Update rule: sgd (with --momentum), adam (β₁ 0.9, β₂ 0.999, ε 1e-8) or rmsprop (ρ 0.9, ε 1e-8)
    #[arg(long, default_value = "sgd", value_parser = parse_optimizer, help_heading = "Learning")]
    optimizer: Rule,
    /// Scale each mini-batch's gradient down to this global norm when it is longer
    #[arg(long, value_name = "NORM", help_heading = "Learning")]
    clip: Option<f32>,
    /// Epochs (passes over the training images)
    #[arg(long, default_value_t = 30, help_heading = "Learning")]
    epochs: usize,
    /// Mini-batch size m
    #[arg(long, default_value_t = 10, help_heading = "Learning")]
    batch_size: usize,
    /// L2 regularisation λ (weight decay 1 − ηλ/n)
    #[arg(long, default_value_t = 0.0, help_heading = "Learning")]
    lambda: f32,
    /// L1 regularisation λ₁
    #[arg(long, default_value_t = 0.0, help_heading = "Learning")]
    l1: f32,
    /// Momentum coefficient μ (0 = plain SGD)
    #[arg(long, default_value_t = 0.0, help_heading = "Learning")]
    momentum: f32,
    /// Learning-rate schedule: constant, or halve:N (halve η after N epochs without validation
    /// improvement; stop at η/128)
    #[arg(long, default_value = "constant", value_parser = parse_schedule, help_heading = "Learning")]
    schedule: Schedule,
    /// Stop after N epochs without validation-accuracy improvement
    #[arg(long, value_name = "N", help_heading = "Learning")]
    early_stop: Option<usize>,
    /// Threads: a mini-batch with the work for it is shared out among N replicas (over 2 M
    /// multiply-adds and 150 per parameter: conv nets, LSTMs, large-batch dense nets), or its
    /// layers' neurons and examples between 2 threads (over 0.4 M: wide dense nets, cnn-1);
    /// evaluations (monitoring, test) split the images among N [default: all cores]. A seeded
    /// run is bit-identical for the same N.
    #[arg(long, value_name = "N", value_parser = super::parse_threads, help_heading = "Learning")]
    threads: Option<usize>,
    /// Multiply every pixel, zeros included. By default, under plain SGD on images that are
    /// mostly 0 (MNIST's are 81% black), the first dense layer skips the zero pixels on one
    /// thread: the same training up to rounding, in a fraction of the time on AVX-512 CPUs
    #[arg(long, help_heading = "Learning")]
    dense_inputs: bool,
    /// Seed for initialisation and shuffling; the same seed gives the same run [default: random, printed]
    #[arg(long, help_heading = "Learning")]
    seed: Option<u64>,

    /// Figures after each epoch: any of training-cost, training-accuracy, evaluation-cost,
    /// evaluation-accuracy (on the validation images), or all / none
    #[arg(long, default_value = "evaluation-accuracy", value_delimiter = ',', help_heading = "Output")]
    monitor: Vec<String>,
    /// Measure each layer's gradient ‖∂C/∂b^l‖ on N training images before training and after
    /// every epoch (chapter 5's speed of learning); printed, and kept in --metrics-json and --plot
    /// [default when given: 1000]
    #[arg(long, value_name = "N", num_args = 0..=1, default_missing_value = "1000", help_heading = "Output")]
    track_gradients: Option<usize>,
    /// Draw the learning curves (cost and accuracy per epoch, and gradient norms with
    /// --track-gradients) to this .png or .svg file
    #[arg(long, value_name = "PATH", help_heading = "Output")]
    plot: Option<PathBuf>,
    /// Save the trained network (safetensors with its architecture and settings)
    #[arg(long, value_name = "PATH", help_heading = "Output")]
    save: Option<PathBuf>,
    /// Write every epoch's figures as JSON
    #[arg(long, value_name = "PATH", help_heading = "Output")]
    metrics_json: Option<PathBuf>,
    /// No progress bar
    #[arg(long, short, help_heading = "Output")]
    pub quiet: bool,
    #[command(flatten)]
    pub checkpoint: CheckpointArgs,
    #[cfg(feature = "serve")]
    #[command(flatten)]
    pub serve: crate::serve::TrainServeArgs,
}

impl TrainArgs {
    /// The flags given that write files (--save, --metrics-json, --plot).
    #[cfg_attr(not(feature = "serve"), allow(dead_code))]
    pub fn output_flags(&self) -> Vec<&'static str> {
        [
            ("--save", self.save.is_some()),
            ("--metrics-json", self.metrics_json.is_some()),
            ("--plot", self.plot.is_some()),
        ]
        .into_iter()
        .filter_map(|(flag, given)| given.then_some(flag))
        .collect()
    }
}

/// The layers from --arch, else from --layers/--activation/--output, for examples of `input`
/// shape and `classes` classes.
pub fn architecture(args: &TrainArgs, input: Shape, classes: usize) -> anyhow::Result<Vec<LayerSpec>> {
    if let Some(path) = &args.init_from {
        return Ok(super::port::init_from(path)?.specs());
    }
    if let Some(text) = &args.arch {
        return parse_arch(text, input).context("--arch");
    }
    let output = args.output.unwrap_or(if args.cost == Some(Cost::LogLikelihood) {
        Activation::Softmax
    } else {
        Activation::Sigmoid
    });
    let sizes = args.layers.clone().unwrap_or_else(|| vec![input.size(), 30, classes]);
    dense_specs(&sizes, args.activation, output).context("--layers")
}

/// An MNIST digit as the first layer sees it.
pub const MNIST_SHAPE: Shape = Shape { channels: 1, height: 28, width: 28 };

/// `1×28×28 → conv 20 5x5 relu → maxpool 2 → … `
pub fn describe(specs: &[LayerSpec]) -> String {
    let input = specs.first().map_or(String::new(), |s| s.in_shape().to_string());
    std::iter::once(input).chain(specs.iter().map(|s| s.to_string())).collect::<Vec<_>>().join(" → ")
}

fn parse_optimizer(s: &str) -> Result<Rule, String> {
    match s.to_ascii_lowercase().as_str() {
        "sgd" => Ok(Rule::Sgd),
        "adam" => Ok(Rule::ADAM),
        "rmsprop" => Ok(Rule::RMSPROP),
        _ => Err(format!("'{s}' is not an optimizer (use sgd, adam or rmsprop)")),
    }
}

fn parse_augment(s: &str) -> Result<nndl::data::Augment, String> {
    let bad = || format!("'{s}' is not DEG,PX (e.g. 10,2: rotations within ±10°, shifts within ±2 px)");
    let (deg, px) = s.split_once(',').ok_or_else(bad)?;
    let (max_rotation, max_shift): (f32, f32) =
        (deg.trim().parse().map_err(|_| bad())?, px.trim().parse().map_err(|_| bad())?);
    if !(0.0..=180.0).contains(&max_rotation) || !(0.0..=28.0).contains(&max_shift) {
        return Err(bad());
    }
    Ok(nndl::data::Augment { max_rotation, max_shift, flips: false })
}

fn parse_schedule(s: &str) -> Result<Schedule, String> {
    match s.split_once(':') {
        None if s == "constant" => Ok(Schedule::Constant),
        Some(("halve", n)) => match n.parse() {
            Ok(patience) if patience > 0 => Ok(Schedule::Halve { patience }),
            _ => Err(format!("'{n}' is not a positive number of epochs (e.g. halve:10)")),
        },
        _ => Err(format!("'{s}' is not a schedule (use constant or halve:N)")),
    }
}

fn parse_monitor(items: &[String]) -> anyhow::Result<Monitor> {
    let mut m = Monitor {
        training_cost: false,
        training_accuracy: false,
        evaluation_cost: false,
        evaluation_accuracy: false,
    };
    for item in items {
        match item.trim() {
            "training-cost" => m.training_cost = true,
            "training-accuracy" => m.training_accuracy = true,
            "evaluation-cost" => m.evaluation_cost = true,
            "evaluation-accuracy" => m.evaluation_accuracy = true,
            "all" => {
                m = Monitor {
                    training_cost: true,
                    training_accuracy: true,
                    evaluation_cost: true,
                    evaluation_accuracy: true,
                }
            }
            "none" | "" => {}
            other => bail!(
                "--monitor: unknown figure '{other}'; use training-cost, training-accuracy, evaluation-cost, evaluation-accuracy, all or none"
            ),
        }
    }
    Ok(m)
}

/// Update-rule state kept per parameter (for the memory estimate).
fn optimizer_states(cfg: &TrainConfig) -> usize {
    match cfg.optimizer {
        Rule::Adam { .. } => 2,
        Rule::RmsProp { .. } => 1,
        Rule::Sgd if cfg.momentum != 0.0 => 1,
        Rule::Sgd => 0,
    }
}

/// A run ready to start: the flags checked, the data loaded, the network built (see [`prepare`]).
pub struct Prepared {
    pub args: TrainArgs,
    pub cfg: TrainConfig,
    pub net: Network,
    pub training: nndl::data::Dataset,
    pub validation: nndl::data::Dataset,
    pub test: nndl::data::Dataset,
    pub input: nndl::data::source::InputInfo,
    pub seed: u64,
    pub rng: nndl::Rng,
    /// What the data is, as a checkpoint records it.
    pub origin: Origin,
    /// The state to go on from (`--resume`).
    pub resumed: Option<train::TrainState>,
}

/// What a finished run leaves: the trained network, its report and its test figures, and the
/// record saved with it.
#[cfg_attr(not(feature = "serve"), allow(dead_code))]
pub struct Outcome {
    pub net: Network,
    pub report: train::TrainReport,
    pub test: train::Evaluation,
    pub record: serde_json::Value,
    pub input: nndl::data::source::InputInfo,
}

pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    #[cfg(feature = "serve")]
    if args.serve.serve {
        return crate::serve::train_serving(args);
    }
    let mut ranks = Ranks::start()?;
    super::silence(!ranks.is_root());
    let result = run_ranked(args, &mut ranks);
    ranks.finish(result)
}

/// `nndl train`, alone or as one rank of `mpirun -np N nndl train …` (see [`Ranks`]).
fn run_ranked(args: TrainArgs, ranks: &mut Ranks) -> anyhow::Result<()> {
    let run = prepare_ranked(args, ranks)?;
    let show_bar = !run.args.quiet && ranks.is_root() && std::io::stderr().is_terminal();
    let mut printer = EpochPrinter::new(run.cfg.epochs, show_bar);
    execute_ranked(run, &mut printer, ranks).map(drop)
}

/// Checks the flags, loads the data and builds the network, saying what it built.
#[cfg_attr(not(feature = "serve"), allow(dead_code))]
pub fn prepare(args: TrainArgs) -> anyhow::Result<Prepared> {
    prepare_ranked(args, &mut Ranks::alone())
}

/// [`prepare`] as one of `ranks`: they agree on the seed and share the machine's cores.
fn prepare_ranked(args: TrainArgs, ranks: &mut Ranks) -> anyhow::Result<Prepared> {
    // Every flag that can be checked without the data is checked before any is read.
    let mut cfg = TrainConfig {
        epochs: args.epochs,
        batch_size: args.batch_size,
        eta: args.eta.unwrap_or(args.optimizer.default_eta()),
        lambda: args.lambda,
        l1: args.l1,
        momentum: args.momentum,
        optimizer: args.optimizer,
        clip: args.clip,
        schedule: args.schedule,
        early_stop: args.early_stop,
        monitor: parse_monitor(&args.monitor)?,
        augment: args.augment.map(|a| nndl::data::Augment { flips: args.augment_flips, ..a }),
        threads: 1,
        epoch_examples: None,
        track_gradients: args.track_gradients,
        dense_inputs: args.dense_inputs,
    };
    cfg.validate().map_err(super::flag_error)?;
    if args.train_size == Some(0) {
        bail!("--train-size: at least one training example is needed");
    }
    if args.validation_size == Some(0) {
        if cfg.early_stop.is_some() {
            bail!("--early-stop: needs validation examples to watch; set --validation-size above 0");
        }
        if matches!(cfg.schedule, Schedule::Halve { .. }) {
            bail!("--schedule: needs validation examples to watch; set --validation-size above 0");
        }
    }
    if let Some(path) = &args.plot {
        nndl::plot::Format::of(path).context("--plot")?;
        // Evaluation figures exist only with validation examples.
        let m = cfg.monitor;
        let evaluated = args.validation_size != Some(0) && (m.evaluation_cost || m.evaluation_accuracy);
        let any = m.training_cost || m.training_accuracy || evaluated;
        if !any && cfg.track_gradients.is_none() {
            let why = if m.evaluation_cost || m.evaluation_accuracy {
                "the evaluation figures need validation images (--validation-size is 0)"
            } else {
                "with --monitor none"
            };
            bail!("--plot: nothing to draw {why}; monitor a training figure or add --track-gradients");
        }
    }
    let outputs: Vec<(&str, &Path)> = [
        ("--save", &args.save),
        ("--metrics-json", &args.metrics_json),
        ("--plot", &args.plot),
        ("--checkpoint", &args.checkpoint.checkpoint),
    ]
    .into_iter()
    .filter_map(|(flag, path)| path.as_deref().map(|p| (flag, p)))
    .collect();
    for &(flag, path) in &outputs {
        if flag == "--checkpoint" && files::is_stdout(path) {
            bail!("--checkpoint: a checkpoint is a file to resume from; give a file name, not -");
        }
        let stdout_ok = flag != "--plot" && flag != "--checkpoint";
        files::check_output(path, flag, stdout_ok).with_context(|| flag.to_string())?;
    }
    files::check_distinct(&outputs)?;
    let (format, data_path) = args.data.resolve();
    args.data.check(format)?;
    if args.expand && format == Format::Csv {
        bail!("--expand: shifts images, and a CSV table has none");
    }
    if args.augment.is_some() && format == Format::Csv {
        bail!("--augment: distorts images, and a CSV table has none");
    }
    cfg.threads = ranks.threads(args.threads);
    let resume = checkpoint::load(&args.checkpoint)?;
    let seed = ranks.agree_seed(checkpoint::seed(&resume, args.seed)?.unwrap_or_else(rand::random))?;

    // MNIST still to be downloaded has a known shape: the network is checked before the download.
    if args.data.is_mnist_to_download() {
        let n = args.train_size.unwrap_or(50_000);
        plan(&args, &cfg, MNIST_SHAPE, 10, n, args.validation_size.unwrap_or(10_000))?;
    }
    let Loaded { train: full, test, input } = args.data.load(seed)?;
    let available = full.len();
    let validation_size = args.validation_size.unwrap_or(if format == Format::Idx && available == 60_000 {
        10_000
    } else {
        available / 6
    });
    let train_size = args.train_size.unwrap_or(available.saturating_sub(validation_size));
    if train_size == 0 || train_size.saturating_add(validation_size) > available {
        bail!(
            "--train-size {train_size} + --validation-size {validation_size}: the training data ({}) holds {available} examples; lower them",
            data_path.display()
        );
    }
    let (specs, cost) = plan(&args, &cfg, input.shape, input.classes.len(), train_size, validation_size)?;
    // In place: copies of both parts next to the whole would double the data's peak memory.
    let (mut training, validation) = full.split(train_size, validation_size).map_err(|_| {
        anyhow::anyhow!(
            "{}: no memory for a copy of the {validation_size} validation examples; lower --validation-size",
            data_path.display()
        )
    })?;
    if args.expand {
        training = nndl::data::expand(&training);
    }
    if cfg.batch_size > training.len() {
        eprintln!(
            "note: --batch-size {} is more than the {} training examples; using {}",
            cfg.batch_size,
            training.len(),
            training.len()
        );
        cfg.batch_size = training.len();
    }
    if args.summary {
        say!("{}", nndl::layers::summary_table(&specs));
    }
    super::stdout_is_data(outputs.iter().any(|(_, p)| files::is_stdout(p)));

    nndl::set_threads(cfg.threads);
    let mut rng = nndl::seeded_rng(seed);
    let flag = if args.arch.is_some() { "--arch" } else { "--layers" };
    let mut net = Network::new(&specs, cost, args.init, &mut rng).context(flag)?;
    if let Some(path) = &args.init_from {
        let start = super::port::init_from(path)?;
        net.params_mut().zip(start.params()).for_each(|(p, q)| p.copy_from_slice(q));
    }
    let origin =
        Origin { seed, data: args.data.data.clone(), train_size, validation_size, expand: args.expand };
    let mut resumed = None;
    if let Some(cp) = resume {
        let state;
        (net, rng, state) = checkpoint::take_up(cp, &cfg, &specs, cost, &origin)?;
        say!("resuming after epoch {}", state.epoch);
        resumed = Some(state);
    }
    say!("network: {}", describe(&specs));
    say!(
        "{cost} cost, {} init; {} η {} m {} λ {} λ₁ {} μ {}{}; {} epochs; seed {seed}",
        args.init,
        match cfg.optimizer {
            Rule::Sgd => "sgd",
            Rule::Adam { .. } => "adam",
            Rule::RmsProp { .. } => "rmsprop",
        },
        cfg.eta,
        cfg.batch_size,
        cfg.lambda,
        cfg.l1,
        cfg.momentum,
        cfg.clip.map_or(String::new(), |c| format!(" clip {c}")),
        cfg.epochs
    );
    say!(
        "data: {} training, {} validation, {} test examples; {} classes{}",
        training.len(),
        validation.len(),
        test.len(),
        input.classes.len(),
        if format == Format::Idx && args.data.data.is_none() {
            String::new()
        } else {
            format!(" ({})", data_path.display())
        }
    );

    Ok(Prepared { args, cfg, net, training, validation, test, input, seed, rng, origin, resumed })
}

/// Trains the prepared network, showing progress to `observer`; evaluates it on the test set,
/// and writes the files the flags ask for.
#[cfg_attr(not(feature = "serve"), allow(dead_code))]
pub fn execute(run: Prepared, observer: &mut dyn train::Observer) -> anyhow::Result<Outcome> {
    let outcome = execute_ranked(run, observer, &mut Ranks::alone())?;
    Ok(outcome.expect("a process alone is rank 0, which has the outcome"))
}

/// [`execute`] as one of `ranks`: every rank trains its share; rank 0 alone (which gets the
/// outcome) reports, evaluates and writes the files.
fn execute_ranked(
    run: Prepared,
    observer: &mut dyn train::Observer,
    ranks: &mut Ranks,
) -> anyhow::Result<Option<Outcome>> {
    let Prepared { args, cfg, mut net, training, validation, test, input, seed, mut rng, origin, resumed } =
        run;
    let evaluation = (!validation.is_empty()).then_some(&validation);
    let (settings, from) = (&cfg, &origin);
    let mut sink = args.checkpoint.checkpoint.as_deref().filter(|_| ranks.is_root()).map(|path| {
        move |net: &Network, rng: &nndl::Rng, state| checkpoint::write(path, settings, from, net, rng, state)
    });
    let session = train::Session {
        collective: ranks.collective(),
        resume: resumed,
        checkpoint_every: Some(args.checkpoint.checkpoint_every),
        checkpoint: sink.as_mut().map(|f| f as train::CheckpointSink),
    };
    let report = train::train_with(&mut net, &training, evaluation, &cfg, &mut rng, observer, session)
        .map_err(super::flag_error)?;
    if !ranks.is_root() {
        return Ok(None); // rank 0 evaluates and saves
    }
    if let Some(line) = ranks.traffic(report.epochs.iter().map(|e| e.train_seconds).sum()) {
        say!("{line}");
    }
    if let Some(why) = &report.stopped_early {
        say!("stopped after epoch {}: {why}", report.epochs.len());
    }

    let reg = Regulariser { lambda: cfg.lambda, l1: cfg.l1, n: training.len() };
    let result = train::evaluate(&net, &test, &reg, cfg.threads);
    say!("test cost: {:.4}", result.cost);
    say!("test accuracy: {:.2}% ({} / {})", 100.0 * result.accuracy(), result.correct, result.total);

    let record = model_io::TrainingRecord {
        config: cfg.clone(),
        init: args.init,
        seed,
        data: args.data.data.clone(),
        train_size: training.len(),
        validation_size: validation.len(),
        epochs_run: report.epochs.len(),
        stopped_early: report.stopped_early.clone(),
        test_accuracy: result.accuracy(),
        test_cost: result.cost,
    };
    if let Some(path) = &args.metrics_json {
        let metrics = train::MetricsFile {
            training: record.to_json(),
            epochs: report.epochs.clone(),
            initial_gradient_norms: report.initial_gradient_norms.clone(),
        };
        let text = serde_json::to_string_pretty(&metrics)? + "\n";
        files::write_atomically(path, text.as_bytes()).context("--metrics-json")?;
        say!("metrics written to {}", super::shown(path));
    }
    if let Some(path) = &args.plot {
        let charts = nndl::plot::training_charts(&report.epochs, report.initial_gradient_norms.as_deref());
        nndl::plot::charts(path, &charts, charts.len().min(3)).context("--plot")?;
        say!("learning curves drawn to {}", path.display());
    }
    if let Some(path) = &args.save {
        model_io::save(&net, Some(&input), record.to_json(), path).context("--save")?;
        say!("model saved to {}", super::shown(path));
    }
    Ok(Some(Outcome { net, report, test: result, record: record.to_json(), input }))
}

/// The network the flags describe for examples of `input` shape and `classes` classes, with
/// its cost, checked to fit the data and the memory (training on `train_size` examples, with
/// `validation_size` more held in memory).
fn plan(
    args: &TrainArgs,
    cfg: &TrainConfig,
    input: Shape,
    classes: usize,
    train_size: usize,
    validation_size: usize,
) -> anyhow::Result<(Vec<LayerSpec>, Cost)> {
    let specs = architecture(args, input, classes)?;
    let output = specs.last().and_then(|s| s.activation()).unwrap_or(Activation::Sigmoid);
    let start_cost = args.init_from.as_deref().map(super::port::init_from).transpose()?.map(|n| n.cost);
    let cost = args.cost.or(start_cost).unwrap_or(if output == Activation::Softmax {
        Cost::LogLikelihood
    } else {
        Cost::Quadratic
    });
    let flag = if args.arch.is_some() { "--arch" } else { "--layers" };
    Network::check(&specs, cost).context(if args.arch.is_some() {
        "--arch/--cost"
    } else {
        "--cost/--output"
    })?;
    let (inputs, outputs) = (specs[0].in_size(), specs[specs.len() - 1].out_size());
    if inputs != input.size() {
        bail!(
            "{flag}: the first layer takes {inputs} inputs, but each example has {} ({input}); start with {}",
            input.size(),
            input.size()
        );
    }
    if outputs != classes {
        bail!(
            "{flag}: the network gives {outputs} outputs, but there are {classes} classes; end with a layer of {classes}"
        );
    }
    let training = train_size.saturating_mul(if args.expand { 5 } else { 1 });
    let batch = cfg.batch_size.min(training.max(1));
    let data = (training as u128 + validation_size as u128) * input.size() as u128 * 4;
    let need = nndl::memory::training_bytes(
        &specs,
        batch,
        cfg.threads,
        optimizer_states(cfg),
        train::eval_chunk(&specs),
    ) + data;
    nndl::memory::check(need, &format!("training this network on mini-batches of {batch}"))
        .map_err(anyhow::Error::msg)
        .context(flag)?;
    Ok((specs, cost))
}
