//! Data-parallel training between threads ([`LocalGroup`]): 1, 2 and 4 ranks keep replicas
//! that are bit-identical to each other and equal to one process's run up to f32 rounding, for
//! dense, conv and recurrent nets under every update rule.

use nndl::cost::Cost;
use nndl::data::{Augment, Dataset, numbered_classes};
use nndl::layers::{Init, Shape, parse_arch};
use nndl::network::Network;
use nndl::optim::Rule;
use nndl::train::{self, Collective, LocalGroup, Session, Silent, TrainConfig, TrainError};
use rand::Rng as _;

const SHAPE: Shape = Shape { channels: 1, height: 12, width: 12 };

/// `n` 12×12 images of 4 classes (a bright bar in a class's quarter, on noise).
fn data(n: usize) -> Dataset {
    let mut rng = nndl::seeded_rng(7);
    let mut bytes = vec![0u8; n * 144];
    let mut labels = Vec::with_capacity(n);
    for (i, img) in bytes.chunks_exact_mut(144).enumerate() {
        let class = (i * 7 + i / 3) % 4;
        for (p, v) in img.iter_mut().enumerate() {
            let (y, x) = (p / 12, p % 12);
            let lit = (y / 6) * 2 + x / 6 == class && (y % 6 == 2 || y % 6 == 3);
            *v = if lit { 200 + rng.random_range(0..56u8) } else { rng.random_range(0..60u8) };
        }
        labels.push(class as u32);
    }
    Dataset::images(SHAPE, bytes, labels, numbered_classes(4))
}

fn params(net: &Network) -> Vec<f32> {
    net.params().flat_map(|p| p.iter().copied()).collect()
}

fn net(arch: &str) -> Network {
    let specs = parse_arch(arch, SHAPE).unwrap();
    Network::new(&specs, Cost::LogLikelihood, Init::Scaled, &mut nndl::seeded_rng(3)).unwrap()
}

/// Trains `arch` with `cfg` on `ranks` threads (None: plain `train`); every rank's parameters.
fn run(arch: &str, data: &Dataset, cfg: &TrainConfig, ranks: Option<usize>) -> Vec<Vec<f32>> {
    let start = net(arch);
    let Some(size) = ranks else {
        let mut net = start;
        train::train(&mut net, data, None, cfg, &mut nndl::seeded_rng(11), &mut Silent).unwrap();
        return vec![params(&net)];
    };
    std::thread::scope(|s| {
        let handles: Vec<_> = LocalGroup::new(size)
            .into_iter()
            .map(|mut group| {
                let mut net = start.clone();
                s.spawn(move || {
                    let c: &mut dyn Collective = &mut group;
                    train::train_with(
                        &mut net,
                        data,
                        None,
                        cfg,
                        &mut nndl::seeded_rng(11),
                        &mut Silent,
                        session(c),
                    )
                    .unwrap();
                    params(&net)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

fn session(c: &mut dyn Collective) -> Session<'_> {
    Session { collective: Some(c), ..Session::default() }
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

const MLP: &str = "dense 20; softmax 4";
const CONV: &str = "conv 4 3x3 relu; maxpool 2; dense 16 relu; softmax 4";
const LSTM: &str = "lstm 8; softmax 4";

/// The update rules (plain SGD, momentum with L2, Adam, RMSProp with L1 and clipping), each
/// with a learning rate that suits it.
fn rules() -> Vec<(&'static str, TrainConfig)> {
    let base =
        TrainConfig { epochs: 2, batch_size: 10, monitor: Default::default(), ..TrainConfig::default() };
    vec![
        ("sgd", TrainConfig { eta: 0.5, ..base.clone() }),
        ("momentum+L2", TrainConfig { eta: 0.1, momentum: 0.9, lambda: 2.0, ..base.clone() }),
        ("adam", TrainConfig { eta: 0.01, optimizer: Rule::ADAM, ..base.clone() }),
        (
            "rmsprop+L1+clip",
            TrainConfig { eta: 0.003, optimizer: Rule::RMSPROP, l1: 0.5, clip: Some(1.0), ..base },
        ),
    ]
}

/// For one architecture: under every rule, every rank count's replicas are identical and
/// within 1e-4 of the single process. Returns the largest difference seen.
fn equal_to_one_process(arch: &str, data: &Dataset, extra: impl Fn(&mut TrainConfig)) -> f32 {
    let mut worst = 0.0f32;
    for (name, mut cfg) in rules() {
        extra(&mut cfg);
        let single = run(arch, data, &cfg, None).remove(0);
        assert_ne!(single, params(&net(arch)), "{arch} {name}: training moved nothing");
        for ranks in [1, 2, 4] {
            let replicas = run(arch, data, &cfg, Some(ranks));
            for (r, p) in replicas.iter().enumerate() {
                assert!(p == &replicas[0], "{arch} {name}: rank {r} of {ranks} differs from rank 0");
            }
            let diff = max_diff(&replicas[0], &single);
            println!("{arch} / {name} / {ranks} ranks: max |Δw| from one process {diff:.2e}");
            assert!(diff <= 1e-4, "{arch} {name} {ranks} ranks: {diff}");
            worst = worst.max(diff);
        }
    }
    worst
}

// 246 examples: the last mini-batch has 6, shared 2, 2, 1, 1 among four ranks.

#[test]
fn dense_nets_match_one_process() {
    let worst = equal_to_one_process(MLP, &data(246), |_| {});
    println!("dense: worst {worst:.2e}");
}

#[test]
fn conv_nets_match_one_process_with_augmentation() {
    let d = data(246);
    let worst = equal_to_one_process(CONV, &d, |cfg| {
        cfg.augment = Some(Augment { max_rotation: 10.0, max_shift: 1.0, flips: true });
    });
    println!("conv: worst {worst:.2e}");
}

#[test]
fn lstm_nets_match_one_process() {
    let worst = equal_to_one_process(LSTM, &data(246), |_| {});
    println!("lstm: worst {worst:.2e}");
}

/// A mini-batch smaller than the ranks: a rank with no examples adds zeros.
#[test]
fn more_ranks_than_examples_in_a_batch() {
    let d = data(40);
    let cfg =
        TrainConfig { epochs: 1, batch_size: 3, eta: 0.5, monitor: Default::default(), ..Default::default() };
    let single = run(MLP, &d, &cfg, None).remove(0);
    let replicas = run(MLP, &d, &cfg, Some(4));
    assert!(replicas.iter().all(|p| p == &replicas[0]));
    assert!(max_diff(&replicas[0], &single) <= 1e-4);
}

/// Dropout masks come from each rank's own stream: runs are reproducible (and replicas
/// identical), and differ from one process's.
#[test]
fn dropout_is_reproducible_per_rank_count() {
    let d = data(120);
    let arch = "dense 30; dropout 0.5; softmax 4";
    let cfg = TrainConfig { epochs: 2, eta: 0.3, monitor: Default::default(), ..Default::default() };
    let (a, b) = (run(arch, &d, &cfg, Some(2)), run(arch, &d, &cfg, Some(2)));
    assert_eq!(a, b);
    assert!(a[1] == a[0]);
    assert!(max_diff(&a[0], &run(arch, &d, &cfg, None)[0]) > 1e-3, "rank 1 drew rank 0's masks");
}

/// A rank that leaves (its thread ends) stops the others with an error, not a hang.
#[test]
fn a_rank_that_leaves_stops_the_others() {
    let d = data(100);
    let cfg = TrainConfig { epochs: 3, eta: 0.5, monitor: Default::default(), ..Default::default() };
    let mut groups = LocalGroup::new(2);
    drop(groups.pop());
    let mut group = groups.pop().unwrap();
    let mut net = net(MLP);
    let c: &mut dyn Collective = &mut group;
    let err = train::train_with(&mut net, &d, None, &cfg, &mut nndl::seeded_rng(1), &mut Silent, session(c))
        .unwrap_err();
    assert!(matches!(err, TrainError::Collective(_)), "{err}");
    assert!(err.to_string().contains("rank 1"), "{err}");
}

/// Replicas that differ (here: started from different networks) are caught after the epoch,
/// not left to drift apart.
#[test]
fn replicas_that_differ_are_caught() {
    let d = data(60);
    let cfg = TrainConfig { epochs: 2, eta: 0.5, monitor: Default::default(), ..Default::default() };
    let errors: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = LocalGroup::new(2)
            .into_iter()
            .map(|mut group| {
                let (d, cfg) = (&d, &cfg);
                s.spawn(move || {
                    let specs = parse_arch(MLP, SHAPE).unwrap();
                    let seed = 3 + group.rank() as u64; // a different start on each rank
                    let mut net =
                        Network::new(&specs, Cost::LogLikelihood, Init::Scaled, &mut nndl::seeded_rng(seed))
                            .unwrap();
                    let c: &mut dyn Collective = &mut group;
                    let got = train::train_with(
                        &mut net,
                        d,
                        None,
                        cfg,
                        &mut nndl::seeded_rng(1),
                        &mut Silent,
                        session(c),
                    );
                    got.err().map(|e| e.to_string()).unwrap_or_default()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(errors[1].contains("the replicas differ after epoch 1"), "{errors:?}");
    assert!(errors[0].contains("another rank left"), "{errors:?}");
}
