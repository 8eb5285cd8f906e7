//! Looking inside a trained network: its weights as pictures, and its mistakes (the confusion
//! matrix and the examples it gets wrong).

use crate::layers::{LayerSpec, Shape};
use crate::network::Network;
use crate::plot::Tile;
use crate::train::argmax;
use ndarray::Array2;
use thiserror::Error;

/// Why a layer's weights cannot be drawn.
#[derive(Debug, Error, PartialEq)]
pub enum InspectError {
    #[error("layer {index}: the network has {layers} layers (they count from 1)")]
    NoSuchLayer { index: usize, layers: usize },
    #[error("the network has no dense or conv layer")]
    NoWeightedLayer,
    #[error("layer {index} ({layer}) has no weights to draw; choose a dense or conv layer")]
    NoWeights { index: usize, layer: String },
    #[error(
        "layer {index} ({layer}) reads {shape}, which is not one image; draw the first dense layer of an MLP or a conv layer"
    )]
    NotAnImage { index: usize, layer: String, shape: String },
}

/// The weights of layer `index` (counting from 1; `None`: the first dense or conv layer) as
/// tiles, at most `max`: each neuron's input weights as an image of the input, or each conv
/// filter (one colour tile over 3 input channels, else one tile per channel). `input` is the
/// shape of the network's input (an image's `C × H × W`; a dense layer that reads it directly,
/// or after dropout or flatten, draws its weights in that shape). Also returns a line saying
/// what the tiles are.
pub fn weight_tiles(
    net: &Network,
    input: Shape,
    index: Option<usize>,
    max: usize,
) -> Result<(usize, Vec<Tile>, String), InspectError> {
    let specs = net.specs();
    let has_weights = |s: &LayerSpec| matches!(s, LayerSpec::Dense { .. } | LayerSpec::Conv { .. });
    let i = match index {
        Some(l) if l == 0 || l > specs.len() => {
            return Err(InspectError::NoSuchLayer { index: l, layers: specs.len() });
        }
        Some(l) => l - 1,
        None => specs.iter().position(has_weights).ok_or(InspectError::NoWeightedLayer)?,
    };
    let spec = &specs[i];
    let values: &[f32] = net.layers[i].params().first().map_or(&[], |w| w);
    let tile = |at: usize, len: usize, shape: Shape, caption: String| Tile {
        values: values[at..at + len].to_vec(),
        width: shape.width,
        height: shape.height,
        caption,
    };
    match *spec {
        LayerSpec::Dense { inputs, outputs, .. } => {
            let reads_input =
                specs[..i].iter().all(|s| matches!(s, LayerSpec::Dropout { .. } | LayerSpec::Flatten { .. }));
            let shape = if reads_input { input } else { spec.in_shape() };
            // The input may be in colour; a later layer's input is one map of activations.
            let channels_ok = shape.channels == 1 || (reads_input && shape.channels == 3);
            let drawable = channels_ok && shape.height > 1;
            if !drawable || shape.size() != inputs {
                let shape = if reads_input { input } else { spec.in_shape() };
                return Err(InspectError::NotAnImage {
                    index: i + 1,
                    layer: spec.to_string(),
                    shape: shape.to_string(),
                });
            }
            let tiles = (0..outputs.min(max))
                .map(|n| tile(n * inputs, inputs, shape, format!("{}", n + 1)))
                .collect();
            let what = format!(
                "{outputs} neurons, each one's {inputs} input weights as a {}×{} image",
                shape.height, shape.width
            );
            Ok((i + 1, tiles, what))
        }
        LayerSpec::Conv { input: shape, filters, kernel, .. } => {
            let (c, per) = (shape.channels, kernel * kernel);
            let square = Shape::new(1, kernel, kernel);
            let mut tiles = Vec::new();
            for f in 0..filters {
                if c == 3 {
                    tiles.push(tile(f * 3 * per, 3 * per, square, format!("{}", f + 1)));
                    continue;
                }
                for ch in 0..c {
                    let caption = if c == 1 { format!("{}", f + 1) } else { format!("{}.{}", f + 1, ch + 1) };
                    tiles.push(tile((f * c + ch) * per, per, square, caption));
                }
            }
            tiles.truncate(max);
            let how = if c == 3 {
                "in colour (red, green, blue channels)".to_string()
            } else {
                format!("over {c} channel(s)")
            };
            Ok((i + 1, tiles, format!("{filters} filters of {kernel}×{kernel} {how}")))
        }
        _ => Err(InspectError::NoWeights { index: i + 1, layer: spec.to_string() }),
    }
}

/// How a classifier's answers on labelled examples fall: `matrix[true][predicted]` counts, and
/// the examples it got wrong.
#[derive(Clone, Debug, PartialEq)]
pub struct Confusion {
    /// `matrix[t][p]`: examples of class t answered p.
    pub matrix: Vec<Vec<f64>>,
    /// Each example answered wrongly: (index, true class, predicted class).
    pub wrong: Vec<(usize, usize, usize)>,
}

impl Confusion {
    /// From the outputs `[n, classes]` of a network and the examples' labels.
    pub fn new(outputs: &Array2<f32>, labels: &[u32]) -> Self {
        let classes = outputs.ncols();
        let mut matrix = vec![vec![0.0f64; classes]; classes];
        let mut wrong = Vec::new();
        for (i, (row, &label)) in outputs.rows().into_iter().zip(labels).enumerate() {
            let guess = argmax(row.iter().copied());
            let label = label as usize;
            matrix[label][guess] += 1.0;
            if guess != label {
                wrong.push((i, label, guess));
            }
        }
        Confusion { matrix, wrong }
    }

    /// Examples answered right, of all.
    pub fn correct(&self) -> (usize, usize) {
        let total = self.matrix.iter().flatten().sum::<f64>() as usize;
        (total - self.wrong.len(), total)
    }

    /// The `n` most frequent mistakes, (true, predicted, count), most frequent first.
    pub fn most_common(&self, n: usize) -> Vec<(usize, usize, usize)> {
        let k = self.matrix.len();
        let mut all: Vec<(usize, usize, usize)> = (0..k)
            .flat_map(|t| (0..k).map(move |p| (t, p)))
            .filter(|&(t, p)| t != p && self.matrix[t][p] > 0.0)
            .map(|(t, p)| (t, p, self.matrix[t][p] as usize))
            .collect();
        all.sort_by(|a, b| b.2.cmp(&a.2).then((a.0, a.1).cmp(&(b.0, b.1))));
        all.truncate(n);
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_confusion_matrix_counts_answers_and_ranks_mistakes() {
        let out = ndarray::array![
            [0.9f32, 0.1, 0.0],
            [0.2, 0.7, 0.1],
            [0.6, 0.3, 0.1],
            [0.5, 0.4, 0.1],
            [0.0, 0.2, 0.8]
        ];
        let c = Confusion::new(&out, &[0, 1, 2, 2, 1]);
        assert_eq!(c.matrix, vec![vec![1.0, 0.0, 0.0], vec![0.0, 1.0, 1.0], vec![2.0, 0.0, 0.0]]);
        assert_eq!(c.wrong, vec![(2, 2, 0), (3, 2, 0), (4, 1, 2)]);
        assert_eq!(c.correct(), (2, 5));
        assert_eq!(c.most_common(1), vec![(2, 0, 2)]);
    }

    #[test]
    fn weights_of_colour_filters_are_one_tile_each() {
        let specs = crate::layers::parse_arch("conv 4 3x3; dense 5; softmax 2", Shape::new(3, 6, 6)).unwrap();
        let net = Network::new(
            &specs,
            crate::cost::Cost::LogLikelihood,
            crate::layers::Init::Scaled,
            &mut crate::seeded_rng(1),
        )
        .unwrap();
        let (layer, tiles, what) = weight_tiles(&net, Shape::new(3, 6, 6), None, 100).unwrap();
        assert_eq!((layer, tiles.len(), tiles[0].values.len()), (1, 4, 27));
        assert!(what.contains("colour"), "{what}");
        assert!(matches!(
            weight_tiles(&net, Shape::new(3, 6, 6), Some(2), 9),
            Err(InspectError::NotAnImage { .. })
        ));
        assert!(matches!(
            weight_tiles(&net, Shape::new(3, 6, 6), Some(4), 9),
            Err(InspectError::NoSuchLayer { .. })
        ));
    }
}
