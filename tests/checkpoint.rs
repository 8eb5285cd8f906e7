//! Checkpoints: a run resumed from one (through its file's bytes) is bit-identical to the run
//! that never stopped: plain SGD, Adam with augmentation, momentum with L2 and the halving
//! schedule; alone and as two data-parallel ranks; and through the CLI.

mod common;

use nndl::cost::Cost;
use nndl::data::{Augment, Dataset, numbered_classes};
use nndl::layers::{Init, Shape, parse_arch};
use nndl::network::Network;
use nndl::optim::Rule;
use nndl::train::{
    self, Checkpoint, CheckpointError, Collective, LocalGroup, Monitor, Schedule, Session, Silent,
    TrainConfig, TrainReport,
};
use rand::Rng as _;
use std::path::Path;
use std::process::Command;

const SHAPE: Shape = Shape { channels: 1, height: 10, width: 10 };

/// `n` noisy 10×10 images of 3 classes (a bright row band per class).
fn data(n: usize, seed: u64) -> Dataset {
    let mut rng = nndl::seeded_rng(seed);
    let mut bytes = vec![0u8; n * 100];
    let mut labels = Vec::new();
    for (i, img) in bytes.chunks_exact_mut(100).enumerate() {
        let class = i % 3;
        for (p, v) in img.iter_mut().enumerate() {
            let lit = (p / 10) / 3 == class;
            *v = if lit { rng.random_range(100..255u8) } else { rng.random_range(0..120u8) };
        }
        labels.push(class as u32);
    }
    Dataset::images(SHAPE, bytes, labels, numbered_classes(3))
}

fn params(net: &Network) -> Vec<f32> {
    net.params().flat_map(|p| p.iter().copied()).collect()
}

/// The report without the timings, which differ from run to run.
fn figures(r: &TrainReport) -> TrainReport {
    let mut r = r.clone();
    r.epochs.iter_mut().for_each(|e| e.train_seconds = 0.0);
    r
}

/// Trains 4 epochs straight (checkpointing after epoch 2, through the file format), then from
/// that checkpoint; both on `ranks` threads (None: alone). Returns both results.
fn straight_and_resumed(
    arch: &str,
    cfg: &TrainConfig,
    ranks: Option<usize>,
) -> ((Vec<f32>, TrainReport), (Vec<f32>, TrainReport)) {
    let (training, validation) = (data(150, 1), data(60, 2));
    let specs = parse_arch(arch, SHAPE).unwrap();
    let mut rng = nndl::seeded_rng(5);
    let start = Network::new(&specs, Cost::LogLikelihood, Init::Scaled, &mut rng).unwrap();
    let (training, validation) = (&training, &validation);

    // One rank's run: from `start` and `rng`, or from a checkpoint's bytes.
    let run = |c: Option<&mut LocalGroup>, from: Option<&[u8]>, save: bool| {
        let (mut net, mut rng, resume) = match from {
            Some(bytes) => {
                let cp = Checkpoint::from_bytes(bytes, Path::new("cp")).unwrap();
                assert_eq!(cp.config, *cfg);
                (cp.net, cp.rng, Some(cp.state))
            }
            None => (start.clone(), rng.clone(), None),
        };
        let mut saved = None;
        let mut sink = |net: &Network, rng: &nndl::Rng, state| -> Result<(), CheckpointError> {
            let cp = Checkpoint {
                net: net.clone(),
                rng: rng.clone(),
                state,
                config: cfg.clone(),
                extra: serde_json::Value::Null,
            };
            if cp.state.epoch == 2 {
                saved = Some(cp.to_bytes().unwrap());
            }
            Ok(())
        };
        let session = Session {
            collective: c.map(|g| g as &mut dyn Collective),
            resume,
            checkpoint_every: Some(1),
            checkpoint: if save { Some(&mut sink) } else { None },
        };
        let report =
            train::train_with(&mut net, training, Some(validation), cfg, &mut rng, &mut Silent, session)
                .unwrap();
        ((params(&net), figures(&report)), saved)
    };

    let Some(size) = ranks else {
        let (straight, saved) = run(None, None, true);
        let (resumed, _) = run(None, Some(&saved.expect("a checkpoint after epoch 2")), false);
        return (straight, resumed);
    };
    let both = |from: Option<Vec<u8>>| {
        std::thread::scope(|s| {
            let handles: Vec<_> = LocalGroup::new(size)
                .into_iter()
                .map(|mut g| {
                    let from = from.clone();
                    s.spawn(move || {
                        let root = g.rank() == 0;
                        run(Some(&mut g), from.as_deref(), root)
                    })
                })
                .collect();
            let mut all: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
            assert!(all.iter().all(|((p, _), _)| *p == all[0].0.0), "replicas differ");
            all.swap_remove(0)
        })
    };
    let (straight, saved) = both(None);
    let (resumed, _) = both(Some(saved.expect("a checkpoint after epoch 2")));
    (straight, resumed)
}

fn base() -> TrainConfig {
    TrainConfig { epochs: 4, batch_size: 8, monitor: Monitor::default(), ..TrainConfig::default() }
}

fn assert_same(arch: &str, cfg: TrainConfig, ranks: Option<usize>) {
    let (straight, resumed) = straight_and_resumed(arch, &cfg, ranks);
    assert_eq!(resumed.1.epochs.len(), 4, "the resumed report keeps the first epochs");
    assert_eq!(straight.1, resumed.1, "{arch}: figures differ");
    assert!(straight.0 == resumed.0, "{arch}: weights differ after resuming");
}

#[test]
fn sgd_resumes_bit_identically() {
    assert_same("dense 20; softmax 3", TrainConfig { eta: 0.5, ..base() }, None);
}

#[test]
fn adam_with_augmentation_resumes_bit_identically() {
    let cfg = TrainConfig {
        eta: 0.005,
        optimizer: Rule::ADAM,
        augment: Some(Augment { max_rotation: 10.0, max_shift: 1.0, flips: false }),
        ..base()
    };
    assert_same("conv 3 3x3 relu; maxpool 2; dense 10 relu; softmax 3", cfg, None);
}

#[test]
fn momentum_l2_and_the_schedule_resume_bit_identically() {
    // Validation accuracy soon stops rising on these easy examples, so the schedule halves η.
    let cfg = TrainConfig {
        eta: 0.5,
        momentum: 0.5,
        lambda: 3.0,
        schedule: Schedule::Halve { patience: 1 },
        epochs: 6,
        ..base()
    };
    let (straight, resumed) = straight_and_resumed("dense 12; softmax 3", &cfg, None);
    let etas: Vec<f32> = straight.1.epochs.iter().map(|e| e.eta).collect();
    assert!(etas.iter().any(|&e| e < 0.5), "the schedule never halved η: {etas:?}");
    assert_eq!(straight.1, resumed.1);
    assert!(straight.0 == resumed.0);
}

#[test]
fn two_ranks_resume_bit_identically() {
    let cfg = TrainConfig { eta: 0.01, optimizer: Rule::ADAM, ..base() };
    assert_same("dense 16; softmax 3", cfg, Some(2));
}

/// The CLI: `--checkpoint` then `--resume` gives the model of the run that never stopped, byte
/// for byte; a resume with other settings is refused, naming them.
#[test]
fn the_cli_resumes_a_run() {
    let dir = tempfile::tempdir().unwrap();
    let data = common::data_dir().display().to_string();
    let nndl = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_nndl"))
            .args([
                "train",
                "--data",
                &data,
                "--train-size",
                "2000",
                "--validation-size",
                "500",
                "--epochs",
                "3",
            ])
            .args(["--seed", "4", "--optimizer", "adam", "--threads", "1", "--quiet"])
            .args(extra)
            .current_dir(dir.path())
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (ok, out) = nndl(&["--checkpoint", "cp", "--checkpoint-every", "2", "--save", "full"]);
    assert!(ok && out.contains("checkpoint after epoch 2 written to cp"), "{out}");
    let (ok, out) = nndl(&["--resume", "cp", "--save", "resumed"]);
    assert!(ok && out.contains("resuming after epoch 2") && out.contains("epoch 3/3"), "{out}");
    assert!(!out.contains("epoch 1/3"), "{out}");
    let read = |name: &str| std::fs::read(dir.path().join(name)).unwrap();
    assert!(read("full") == read("resumed"), "the resumed model differs");

    let (ok, out) = nndl(&["--resume", "cp", "--eta", "0.1"]);
    assert!(!ok && out.contains("--resume: the checkpoint's run had other settings (eta was 0.001"), "{out}");
    let (ok, out) = nndl(&["--checkpoint", "-"]);
    assert!(!ok && out.contains("--checkpoint: a checkpoint is a file to resume from"), "{out}");
    let (ok, out) = nndl(&["--checkpoint", "x", "--save", "./x"]);
    assert!(!ok && out.contains("--checkpoint") && out.contains("--save"), "{out}");
    let (ok, out) = nndl(&["--resume", "full"]);
    assert!(!ok && out.contains("--resume: full: not an nndl checkpoint"), "{out}");
}
