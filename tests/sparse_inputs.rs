//! Training that skips the zero inputs of byte examples (`layers/sparse_training.rs`) learns
//! what the matrix products learn, up to rounding, through the whole training loop: across
//! epochs (the first layer's weights handed back after each), with L2's decay, and when a run
//! is stopped between mini-batches.

use nndl::activation::Activation;
use nndl::cost::Cost;
use nndl::data::{Dataset, numbered_classes};
use nndl::layers::{Init, Shape};
use nndl::network::Network;
use nndl::train::{self, Observer, STOPPED_BY_REQUEST, Silent, TrainConfig};

const SHAPE: Shape = Shape { channels: 1, height: 16, width: 16 };

/// `n` 16×16 images of 4 classes: a stroke in a class's quarter on black (89% zeros).
fn data(n: usize) -> Dataset {
    let mut bytes = vec![0u8; n * 256];
    let mut labels = Vec::with_capacity(n);
    for (i, img) in bytes.chunks_exact_mut(256).enumerate() {
        let class = (i * 7 + i / 3) % 4;
        for (p, v) in img.iter_mut().enumerate() {
            let (y, x) = (p / 16, p % 16);
            let lit = (y / 8) * 2 + x / 8 == class && (y % 8 == (i % 5) + 1 || x % 8 == 3);
            *v = if lit { (100 + (i * 31 + p * 7) % 156) as u8 } else { 0 };
        }
        labels.push(class as u32);
    }
    Dataset::images(SHAPE, bytes, labels, numbered_classes(4))
}

fn params(net: &Network) -> Vec<f32> {
    net.params().flat_map(|p| p.iter().copied()).collect()
}

/// Stops the run at the first chance (after 64 mini-batches).
struct StopSoon;
impl Observer for StopSoon {
    fn stop_requested(&self) -> bool {
        true
    }
}

fn trained(d: &Dataset, cfg: &TrainConfig, observer: &mut dyn Observer) -> (Vec<f32>, Option<String>) {
    let act = Activation::Sigmoid;
    let mut net =
        Network::dense(&[256, 24, 4], act, act, Cost::CrossEntropy, Init::Scaled, &mut nndl::seeded_rng(3))
            .unwrap();
    let report = train::train(&mut net, d, None, cfg, &mut nndl::seeded_rng(5), observer).unwrap();
    (params(&net), report.stopped_early)
}

#[test]
fn skipping_zero_inputs_trains_as_multiplying_them() {
    let d = data(1000);
    assert!(
        d.all_bytes().unwrap().iter().filter(|&&b| b != 0).count() * 10 < d.all_bytes().unwrap().len() * 3
    );
    let cfg = TrainConfig {
        epochs: 3,
        batch_size: 10,
        eta: 0.5,
        lambda: 1.0,
        monitor: Default::default(),
        ..Default::default()
    };
    let dense_cfg = TrainConfig { dense_inputs: true, ..cfg.clone() };
    let skipping = nndl::layers::SparseTraining::new(&[0.0], 1, 1).is_some();
    for stop in [false, true] {
        let (a, b) = if stop {
            (trained(&d, &cfg, &mut StopSoon), trained(&d, &dense_cfg, &mut StopSoon))
        } else {
            (trained(&d, &cfg, &mut Silent), trained(&d, &dense_cfg, &mut Silent))
        };
        assert_eq!(a.1, b.1);
        assert_eq!(a.1.is_some(), stop);
        if stop {
            assert_eq!(a.1.as_deref(), Some(STOPPED_BY_REQUEST));
        }
        let worst = a.0.iter().zip(&b.0).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
        println!("stopped {stop}: skipping zeros vs multiplying them, max |Δw| {worst:.2e}");
        assert!(worst < 1e-4, "stopped {stop}: {worst}");
        // where this CPU skips zeros, the sums are taken in another order
        assert_eq!(a.0 != b.0, skipping, "stopped {stop}: the two ways were not both taken");
    }
}
