//! One example through a network, keeping what every layer computed on the way: the weighted
//! inputs z and activations a (what `nndl serve` shows of a drawing).

use crate::layers::{LayerSpec, Shape};
use crate::network::Network;
use ndarray::ArrayView2;

/// What one layer computed for one example.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerValues {
    /// The shape `a` (and `z`) are read as: the layer's output shape, except for a recurrent
    /// layer, whose hidden states are `1 × steps × units`.
    pub shape: Shape,
    /// The weighted inputs z = w·a^{l−1} + b (dense, conv, time-dense); `None` for layers without
    /// neurons of their own (pooling, dropout, flatten, recurrent).
    pub z: Option<Vec<f32>>,
    /// The activations a = σ(z); a recurrent layer's hidden state after every step, step after
    /// step, also when its output is only the last step's.
    pub a: Vec<f32>,
}

/// Runs `x` (one example, `net.in_size()` numbers) through `net` at inference (dropout off):
/// the output `a^L` and each layer's [`LayerValues`], first layer first.
///
/// Panics if `x` is not `net.in_size()` long (the caller checks the input it was given).
pub fn probe(net: &Network, x: &[f32]) -> (Vec<f32>, Vec<LayerValues>) {
    assert_eq!(x.len(), net.in_size(), "one example of the network's input size");
    let mut ws = net.workspace(0);
    let x = ArrayView2::from_shape((1, x.len()), x).expect("one row");
    let output = net.feedforward(&mut ws, x, false).row(0).to_vec();
    let row = |v: ArrayView2<f32>| v.row(0).to_vec();
    let values = net
        .layers
        .iter()
        .enumerate()
        .map(|(l, layer)| {
            let work = ws.work(l);
            let spec = layer.spec();
            match spec {
                LayerSpec::Dense { .. } | LayerSpec::TimeDense { .. } => LayerValues {
                    shape: spec.out_shape(),
                    z: Some(row(layer.weighted_input(work))),
                    a: row(layer.output(work)),
                },
                LayerSpec::Conv { activation, .. } => {
                    // A conv layer may leave its activation to the max-pooling after it: its
                    // own output is then z, so a is computed here.
                    let z = row(layer.weighted_input(work));
                    let mut a = vec![0.0; z.len()];
                    activation.apply_row(&z, &mut a);
                    LayerValues { shape: spec.out_shape(), z: Some(z), a }
                }
                LayerSpec::Recurrent { input, hidden, .. } => LayerValues {
                    shape: Shape::new(1, input.height, hidden),
                    z: None,
                    a: layer.hidden_states(work).map_or_else(|| row(layer.output(work)), row),
                },
                LayerSpec::Pool { .. } | LayerSpec::Dropout { .. } | LayerSpec::Flatten { .. } => {
                    LayerValues { shape: spec.out_shape(), z: None, a: row(layer.output(work)) }
                }
            }
        })
        .collect();
    (output, values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost::Cost;
    use crate::layers::{Init, parse_arch};

    fn net(arch: &str) -> Network {
        let specs = parse_arch(arch, Shape::new(1, 8, 8)).unwrap();
        Network::new(&specs, Cost::LogLikelihood, Init::Scaled, &mut crate::seeded_rng(3)).unwrap()
    }

    #[test]
    fn every_layer_is_seen_and_the_last_one_is_the_output() {
        let net = net("conv 3 3x3 relu; maxpool 2; dropout 0.5; dense 5 sigmoid; softmax 4");
        let x: Vec<f32> = (0..64).map(|i| (i % 7) as f32 / 7.0).collect();
        let (out, layers) = probe(&net, &x);
        assert_eq!(layers.len(), 5);
        assert_eq!(layers[0].shape, Shape::new(3, 6, 6));
        let conv = &layers[0];
        let z = conv.z.as_ref().unwrap();
        assert!(z.iter().zip(&conv.a).all(|(z, a)| *a == z.max(0.0)), "relu(z) = a");
        assert!(z.iter().any(|&v| v < 0.0), "some z below 0, so relu is tested");
        assert_eq!((layers[1].shape, layers[1].z.is_none()), (Shape::new(3, 3, 3), true));
        assert_eq!(layers[2].a, layers[1].a, "dropout passes everything at inference");
        assert_eq!(layers[4].a, out);
        assert!((out.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        let mut ws = net.workspace(0);
        let batch = net.feedforward(&mut ws, ArrayView2::from_shape((1, 64), &x[..]).unwrap(), false);
        assert_eq!(batch.row(0).to_vec(), out);
    }

    #[test]
    fn a_recurrent_layer_shows_every_step_even_when_it_gives_the_last() {
        let net = net("lstm 6 last; softmax 3");
        let x: Vec<f32> = (0..64).map(|i| (i % 5) as f32 / 5.0).collect();
        let (_, layers) = probe(&net, &x);
        assert_eq!(layers[0].shape, Shape::new(1, 8, 6));
        assert_eq!(layers[0].a.len(), 48);
        let mut ws = net.workspace(0);
        net.feedforward(&mut ws, ArrayView2::from_shape((1, 64), &x[..]).unwrap(), false);
        let last = net.layers[0].output(ws.work(0)).row(0).to_vec();
        assert_eq!(&layers[0].a[42..], &last[..], "the last step's hidden state is the output");
    }
}
