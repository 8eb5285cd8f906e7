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

/// Nets with the work for two replicas (`train::replicas`: enough multiply-adds per parameter)
/// at the mini-batch size beside each; small enough that a rank's layers do not share their
/// examples out among threads (which would change the order of the sums).
const REPLICA_NETS: [(&str, usize); 3] = [
    ("conv 8 3x3 same relu; conv 8 3x3 same relu; maxpool 4; softmax 4", 32),
    ("lstm 32; softmax 4", 32),
    ("dense 100; dropout 0.3; softmax 4", 200),
];

/// Two threads of one process share each mini-batch out among replicas exactly as two ranks
/// do: the same shares, the gradients summed in the same order, the same dropout streams, so
/// the result is the 2-rank run's bit for bit, under every update rule, and within f32
/// rounding of one thread's.
#[test]
fn threads_train_as_ranks_do() {
    let d = data(246);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    for (arch, batch) in REPLICA_NETS {
        let engaged = pool.install(|| train::Replicas::new(&net(arch), 2, batch, 0).map(|r| r.len()));
        assert_eq!(engaged, Some(2), "{arch}: too little work for replicas; the test tests nothing");
        for (name, mut cfg) in rules() {
            cfg.batch_size = batch;
            if arch.starts_with("conv") {
                cfg.augment = Some(Augment { max_rotation: 10.0, max_shift: 1.0, flips: true });
            }
            let ranks = run(arch, &d, &cfg, Some(2)).remove(0);
            let threaded = TrainConfig { threads: 2, ..cfg.clone() };
            let (a, b) = pool.install(|| (run(arch, &d, &threaded, None), run(arch, &d, &threaded, None)));
            assert!(a == b, "{arch} {name}: two runs on 2 threads differ");
            assert!(
                a[0] == ranks,
                "{arch} {name}: 2 threads differ from 2 ranks by {:.2e}",
                max_diff(&a[0], &ranks)
            );
            if !arch.contains("dropout") {
                let single = run(arch, &d, &cfg, None).remove(0);
                let diff = max_diff(&a[0], &single);
                println!("{arch} / {name}: 2 threads vs 1, max |Δw| {diff:.2e}");
                // RMSProp divides by √(mean g²), so a weight whose gradients are all tiny moves by
                // about η whatever their rounding; with L1, sign(w) flips for a weight near 0.
                let bound = if name.starts_with("rmsprop") { 1e-3 } else { 1e-4 };
                assert!(diff <= bound, "{arch} {name}: {diff}");
            }
        }
    }
}

/// Nets with little arithmetic per parameter train on one thread whatever `--threads` says:
/// replicas would spend more on passes over the parameters than they save.
#[test]
fn light_nets_keep_to_one_thread() {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    pool.install(|| {
        for (arch, batch) in [(MLP, 10), ("dense 100; softmax 4", 100), (CONV, 10), (REPLICA_NETS[0].0, 1)] {
            assert!(train::Replicas::new(&net(arch), 2, batch, 0).is_none(), "{arch} at {batch}");
        }
    });
}

/// Nets with too little work per parameter for replicas but enough per mini-batch for a team
/// (`nndl::team`: a second thread spinning between jobs): their layers share the neurons (dense)
/// or the examples (conv) of each pass between the two threads. Two such runs are the same bit
/// for bit, and within f32 rounding of one thread's, under every update rule.
#[test]
fn a_team_shares_each_layer_and_stays_reproducible() {
    let d = data(246);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    for (arch, batch) in [
        // at mini-batch 10 the dense layer shares its neurons, at 40 its inputs
        ("dense 400; softmax 4", 10),
        ("dense 400; softmax 4", 40),
        ("conv 16 5x5 same; maxpool 2; dense 300; softmax 4", 10),
    ] {
        assert!(pool.install(|| train::Replicas::new(&net(arch), 2, batch, 0)).is_none(), "{arch}: replicas");
        if !train::replicas::wants_team(&net(arch), 2, batch) {
            // one core (or the work below the threshold): nothing here to test
            assert!(std::thread::available_parallelism().map_or(1, |n| n.get()) < 2, "{arch}: no team");
            return;
        }
        for (name, mut cfg) in rules() {
            cfg.batch_size = batch;
            let threaded = TrainConfig { threads: 2, ..cfg.clone() };
            let (a, b) = pool.install(|| (run(arch, &d, &threaded, None), run(arch, &d, &threaded, None)));
            assert!(a == b, "{arch} {name}: two runs on 2 threads differ");
            let single = run(arch, &d, &cfg, None).remove(0);
            assert_ne!(single, params(&net(arch)), "{arch} {name}: training moved nothing");
            let diff = max_diff(&a[0], &single);
            println!("{arch} / {name}: a team of 2 vs 1 thread, max |Δw| {diff:.2e}");
            // The conv layer's two halves sum their ∂C/∂W apart, then together. RMSProp steps
            // each weight by about η·g/√(mean g²): for a weight whose gradients are all rounding-
            // sized that is ±η whatever the rounding, and L1's sign(w) flips near 0 (measured
            // 5.5e-3 = 1.8η here); so a few η for it, 1e-4 for the others.
            let bound = if name.starts_with("rmsprop") { 4.0 * cfg.eta } else { 1e-4 };
            assert!(diff <= bound, "{arch} {name}: {diff}");
        }
    }
}
