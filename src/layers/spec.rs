//! What a layer is, apart from its numbers: kind, shapes, settings. Saved in model files and
//! built into layers by [`LayerSpec::build`].

use super::{Cell, Conv2d, Dense, Dropout, Flatten, Init, Layer, Pool, Recurrent, TimeDense};
use crate::Rng;
use crate::activation::Activation;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The largest any one size in a layer description may be (units, filters, kernel, pixels…).
pub const MAX_DIM: usize = 1 << 31;
/// The most numbers one layer may hold in parameters, or take, give or keep per example:
/// 2⁴⁰ f32 are 4 TiB, beyond any memory; the limit only keeps the arithmetic on shapes from
/// overflowing. Whether a network fits in memory is [`crate::memory`]'s question.
pub const MAX_ELEMENTS: u128 = 1 << 40;

fn shape_dims(s: Shape) -> Vec<(&'static str, usize)> {
    vec![("input channels", s.channels), ("input height", s.height), ("input width", s.width)]
}

/// One parameter tensor of a layer: its name in model files (`layers.{i}.{name}`), its
/// shape, and whether L1/L2 regularisation applies (weights yes, biases no, as in the book).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamInfo {
    pub name: &'static str,
    pub shape: Vec<usize>,
    pub regularised: bool,
}

impl ParamInfo {
    /// Numbers in the tensor.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether it holds no numbers (never, for a spec without a problem).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One example's activations without the batch axis: `channels × height × width`
/// (a flat vector of n is `n × 1 × 1`). In memory, channel after channel, row-major.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shape {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
}

impl Shape {
    /// `channels × height × width`.
    pub fn new(channels: usize, height: usize, width: usize) -> Self {
        Shape { channels, height, width }
    }
    /// A flat vector of `n` features.
    pub fn flat(n: usize) -> Self {
        Shape { channels: n, height: 1, width: 1 }
    }
    /// Numbers per example.
    pub fn size(&self) -> usize {
        self.channels * self.height * self.width
    }
    /// Whether this is a plain vector.
    pub fn is_flat(&self) -> bool {
        self.height == 1 && self.width == 1
    }

    /// What is wrong with the shape as a layer's input, if anything: each side from 1 to
    /// [`MAX_DIM`], the whole at most [`MAX_ELEMENTS`] (so [`size`](Self::size) cannot overflow).
    pub fn problem(&self) -> Option<String> {
        let sides = [self.channels, self.height, self.width];
        if sides.iter().any(|&n| n == 0 || n > MAX_DIM) {
            return Some(format!(
                "the shape {}×{}×{} has a side of 0 or above 2³¹",
                sides[0], sides[1], sides[2]
            ));
        }
        let size = sides.iter().map(|&n| n as u128).product::<u128>();
        (size > MAX_ELEMENTS).then(|| format!("the shape holds {size} numbers, beyond nndl's limit of 2⁴⁰"))
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_flat() {
            write!(f, "{}", self.channels)
        } else {
            write!(f, "{}×{}×{}", self.channels, self.height, self.width)
        }
    }
}

/// Zero padding around a convolution's input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Padding {
    /// None: the filter only visits positions where it fits (output shrinks by k − 1).
    #[default]
    Valid,
    /// Enough zeros that the output is ⌈input / stride⌉ wide (the input's size at stride 1).
    Same,
}

/// How a pooling window summarises its inputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PoolKind {
    /// The largest value (chapter 6's max-pooling).
    Max,
    /// The mean.
    Average,
    /// √(Σ x²), chapter 6's L2 pooling.
    L2,
}

/// A layer's description.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum LayerSpec {
    /// Fully connected neurons: `[batch, inputs] -> [batch, outputs]`.
    Dense { inputs: usize, outputs: usize, activation: Activation },
    /// `filters` feature maps, each a `kernel × kernel` local receptive field with shared weights
    /// and bias over all `input.channels`, moved by `stride`.
    Conv {
        input: Shape,
        filters: usize,
        kernel: usize,
        stride: usize,
        padding: Padding,
        activation: Activation,
    },
    /// `size × size` windows moved by `stride`, each channel on its own.
    Pool { input: Shape, pool: PoolKind, size: usize, stride: usize },
    /// Inverted dropout: while training, each input is zeroed with probability `p` and the
    /// rest scaled by 1/(1 − p); at inference it passes everything unchanged.
    Dropout { input: Shape, p: f32 },
    /// Images to flat vectors (a change of view only).
    Flatten { input: Shape },
    /// An RNN or LSTM with `hidden` units over the input read as `input.height` steps of
    /// `input.channels · input.width` features; gives every step's hidden state (`sequence`) or
    /// the last one's.
    Recurrent { cell: Cell, input: Shape, hidden: usize, sequence: bool },
    /// The same dense layer applied to each of `steps` steps: `[batch, T·inputs] -> [batch, T·outputs]`.
    TimeDense { steps: usize, inputs: usize, outputs: usize, activation: Activation },
}

impl LayerSpec {
    /// The shape of one example going in.
    pub fn in_shape(&self) -> Shape {
        match *self {
            LayerSpec::Dense { inputs, .. } => Shape::flat(inputs),
            LayerSpec::TimeDense { steps, inputs, .. } => Shape::new(1, steps, inputs),
            LayerSpec::Conv { input, .. }
            | LayerSpec::Pool { input, .. }
            | LayerSpec::Dropout { input, .. }
            | LayerSpec::Flatten { input }
            | LayerSpec::Recurrent { input, .. } => input,
        }
    }

    /// The shape of one example coming out.
    pub fn out_shape(&self) -> Shape {
        match *self {
            LayerSpec::Dense { outputs, .. } => Shape::flat(outputs),
            LayerSpec::TimeDense { steps, outputs, .. } => Shape::new(1, steps, outputs),
            LayerSpec::Conv { input, filters, kernel, stride, padding, .. } => {
                let (h, w) = conv_out(input, kernel, stride, padding);
                Shape::new(filters, h, w)
            }
            LayerSpec::Pool { input, size, stride, .. } => Shape::new(
                input.channels,
                window_count(input.height, size, stride),
                window_count(input.width, size, stride),
            ),
            LayerSpec::Dropout { input, .. } => input,
            LayerSpec::Flatten { input } => Shape::flat(input.size()),
            LayerSpec::Recurrent { input, hidden, sequence: true, .. } => Shape::new(1, input.height, hidden),
            LayerSpec::Recurrent { hidden, .. } => Shape::flat(hidden),
        }
    }

    /// Features per example this layer takes.
    pub fn in_size(&self) -> usize {
        self.in_shape().size()
    }
    /// Features per example this layer gives.
    pub fn out_size(&self) -> usize {
        self.out_shape().size()
    }

    /// The neurons' activation, if the layer has neurons.
    pub fn activation(&self) -> Option<Activation> {
        match *self {
            LayerSpec::Dense { activation, .. }
            | LayerSpec::Conv { activation, .. }
            | LayerSpec::TimeDense { activation, .. } => Some(activation),
            _ => None,
        }
    }

    /// Number of trainable numbers in the layer.
    pub fn param_count(&self) -> usize {
        match *self {
            LayerSpec::Dense { inputs, outputs, .. } | LayerSpec::TimeDense { inputs, outputs, .. } => {
                inputs * outputs + outputs
            }
            LayerSpec::Conv { input, filters, kernel, .. } => {
                filters * input.channels * kernel * kernel + filters
            }
            LayerSpec::Recurrent { cell, input, hidden, .. } => {
                let gates = if cell == Cell::Lstm { 4 } else { 1 };
                gates * hidden * (input.channels * input.width + hidden + 1)
            }
            _ => 0,
        }
    }

    /// Multiply-adds of one example's forward pass (a backward pass costs about twice as
    /// many): the products' work, which is what a layer's time goes on. Call on a spec
    /// without a [`problem`](Self::problem).
    pub fn macs_per_example(&self) -> u128 {
        let out = self.out_shape();
        match *self {
            LayerSpec::Dense { inputs, outputs, .. } => inputs as u128 * outputs as u128,
            LayerSpec::TimeDense { steps, inputs, outputs, .. } => {
                steps as u128 * inputs as u128 * outputs as u128
            }
            LayerSpec::Conv { input, filters, kernel, .. } => {
                let fan_in = input.channels as u128 * kernel as u128 * kernel as u128;
                filters as u128 * fan_in * out.height as u128 * out.width as u128
            }
            LayerSpec::Recurrent { cell, input, hidden, .. } => {
                let g = if cell == Cell::Lstm { 4u128 } else { 1 } * hidden as u128;
                input.height as u128 * g * (input.channels as u128 * input.width as u128 + hidden as u128)
            }
            LayerSpec::Pool { input, .. }
            | LayerSpec::Dropout { input, .. }
            | LayerSpec::Flatten { input } => input.size() as u128,
        }
    }

    /// Roughly how many f32 the layer keeps per example during a pass (activations, and
    /// im2col columns or per-step gates): what sizes the evaluation chunks.
    pub fn floats_per_example(&self) -> usize {
        let out = 2 * self.out_size();
        match *self {
            LayerSpec::Conv { input, kernel, .. } => {
                let positions = self.out_shape().height * self.out_shape().width;
                out + input.channels * kernel * kernel * positions
            }
            LayerSpec::Recurrent { cell, input, hidden, .. } => {
                let gates = if cell == Cell::Lstm { 4 } else { 1 };
                out + input.height * (gates + 2) * hidden
            }
            _ => out,
        }
    }

    /// The parameter tensors a built layer holds, in the order of
    /// [`Layer::params`](super::Layer::params): what a model file must contain for this layer.
    /// Call on a spec without a [`problem`](Self::problem).
    pub fn params(&self) -> Vec<ParamInfo> {
        let weights = |shape: Vec<usize>| ParamInfo { name: "weights", shape, regularised: true };
        let biases = |n: usize| ParamInfo { name: "biases", shape: vec![n], regularised: false };
        match *self {
            LayerSpec::Dense { inputs, outputs, .. } | LayerSpec::TimeDense { inputs, outputs, .. } => {
                vec![weights(vec![outputs, inputs]), biases(outputs)]
            }
            LayerSpec::Conv { input, filters, kernel, .. } => {
                vec![weights(vec![filters, input.channels, kernel, kernel]), biases(filters)]
            }
            LayerSpec::Recurrent { cell, input, hidden, .. } => {
                let g = if cell == Cell::Lstm { 4 } else { 1 } * hidden;
                vec![
                    weights(vec![g, input.channels * input.width]),
                    ParamInfo { name: "recurrent", shape: vec![g, hidden], regularised: true },
                    biases(g),
                ]
            }
            LayerSpec::Pool { .. } | LayerSpec::Dropout { .. } | LayerSpec::Flatten { .. } => Vec::new(),
        }
    }

    /// What is wrong with the settings, if anything. Every size must be at least 1 and at most
    /// [`MAX_DIM`], and what follows from the sizes (features in and out, parameters, numbers
    /// kept per example) at most [`MAX_ELEMENTS`]: checked in wide arithmetic, so that a spec
    /// without a problem can be computed with in `usize` without overflow. The same checks
    /// serve `--arch` and model files.
    pub fn problem(&self) -> Option<String> {
        if let Some(why) = self.size_problem() {
            return Some(why);
        }
        let zero = |what: &str| Some(format!("{what} must be at least 1"));
        match *self {
            LayerSpec::Dense { inputs, outputs, .. } if inputs == 0 || outputs == 0 => zero("the layer size"),
            LayerSpec::Conv { input, filters, kernel, stride, padding, activation } => {
                if filters == 0 || kernel == 0 || stride == 0 {
                    zero("filters, kernel and stride")
                } else if activation == Activation::Softmax {
                    Some("softmax is for the output layer; give conv an elementwise activation".into())
                } else if padding == Padding::Valid && (kernel > input.height || kernel > input.width) {
                    Some(format!(
                        "a {kernel}×{kernel} filter does not fit in a {input} input; use a smaller kernel or 'same' padding"
                    ))
                } else {
                    None
                }
            }
            LayerSpec::Pool { input, size, stride, .. } => {
                if size == 0 || stride == 0 {
                    zero("the pool size and stride")
                } else if size > input.height || size > input.width {
                    Some(format!("a {size}×{size} pool does not fit in a {input} input"))
                } else {
                    None
                }
            }
            LayerSpec::Recurrent { hidden: 0, .. } => zero("the number of hidden units"),
            LayerSpec::Dropout { p, .. } if !(0.0..1.0).contains(&p) => {
                Some(format!("the dropout probability must be in [0, 1), not {p}"))
            }
            _ => None,
        }
    }

    /// The part of [`problem`](Self::problem) that keeps the shape arithmetic in range.
    fn size_problem(&self) -> Option<String> {
        let dims: Vec<(&str, usize)> = match *self {
            LayerSpec::Dense { inputs, outputs, .. } => vec![("inputs", inputs), ("outputs", outputs)],
            LayerSpec::TimeDense { steps, inputs, outputs, .. } => {
                vec![("steps", steps), ("inputs", inputs), ("outputs", outputs)]
            }
            LayerSpec::Conv { input, filters, kernel, stride, .. } => {
                let mut d = shape_dims(input);
                d.extend([("filters", filters), ("kernel", kernel), ("stride", stride)]);
                d
            }
            LayerSpec::Pool { input, size, stride, .. } => {
                let mut d = shape_dims(input);
                d.extend([("pool size", size), ("stride", stride)]);
                d
            }
            LayerSpec::Dropout { input, .. } | LayerSpec::Flatten { input } => shape_dims(input),
            LayerSpec::Recurrent { input, hidden, .. } => {
                let mut d = shape_dims(input);
                d.push(("hidden units", hidden));
                d
            }
        };
        if let Some((what, n)) = dims.iter().find(|(_, n)| *n == 0 || *n > MAX_DIM) {
            return Some(if *n == 0 {
                format!("the {what} must be at least 1")
            } else {
                format!("{n} {what} is beyond nndl's limit of 2³¹ for one size")
            });
        }
        // Every size is now at most 2^31, so these products of at most four fit in u128.
        let wide = |s: Shape| s.channels as u128 * s.height as u128 * s.width as u128;
        let input = wide(self.in_shape());
        let (params, per_example) = match *self {
            LayerSpec::Dense { inputs, outputs, .. } | LayerSpec::TimeDense { inputs, outputs, .. } => {
                (inputs as u128 * outputs as u128 + outputs as u128, 0)
            }
            LayerSpec::Conv { input: shape, filters, kernel, stride, padding, .. } => {
                let k2 = kernel as u128 * kernel as u128;
                let (h, w) = conv_out(shape, kernel, stride, padding);
                let positions = h as u128 * w as u128;
                (filters as u128 * (shape.channels as u128 * k2 + 1), shape.channels as u128 * k2 * positions)
            }
            LayerSpec::Recurrent { cell, input: shape, hidden, .. } => {
                let g = if cell == Cell::Lstm { 4u128 } else { 1 } * hidden as u128;
                let features = shape.channels as u128 * shape.width as u128;
                (g * (features + hidden as u128 + 1), shape.height as u128 * (g + 2 * hidden as u128))
            }
            _ => (0, 0),
        };
        let out = match *self {
            LayerSpec::Conv { filters, kernel, stride, padding, input: shape, .. } => {
                let (h, w) = conv_out(shape, kernel, stride, padding);
                filters as u128 * h as u128 * w as u128
            }
            LayerSpec::TimeDense { steps, outputs, .. } => steps as u128 * outputs as u128,
            LayerSpec::Recurrent { input: shape, hidden, sequence: true, .. } => {
                shape.height as u128 * hidden as u128
            }
            LayerSpec::Recurrent { hidden, .. } => hidden as u128,
            LayerSpec::Dense { outputs, .. } => outputs as u128,
            _ => input,
        };
        let worst = [("inputs per example", input), ("outputs per example", out), ("parameters", params)]
            .into_iter()
            .chain([("numbers kept per example", per_example)])
            .find(|(_, n)| *n > MAX_ELEMENTS);
        worst.map(|(what, n)| {
            format!(
                "it would hold {n} {what} ({} of memory), beyond nndl's limit of 2⁴⁰ numbers",
                crate::memory::human(4 * n)
            )
        })
    }

    /// A new layer with freshly drawn parameters (and, for dropout, its own random stream).
    pub fn build(&self, init: Init, rng: &mut Rng) -> Box<dyn Layer> {
        match *self {
            LayerSpec::Dense { inputs, outputs, activation } => {
                Box::new(Dense::new(inputs, outputs, activation, init, rng))
            }
            LayerSpec::Conv { .. } => Box::new(Conv2d::new(self.clone(), init, rng)),
            LayerSpec::Pool { input, pool, size, stride } => Box::new(Pool::new(input, pool, size, stride)),
            LayerSpec::Dropout { input, p } => Box::new(Dropout::new(input, p, rng)),
            LayerSpec::Flatten { input } => Box::new(Flatten::new(input)),
            LayerSpec::Recurrent { .. } => Box::new(Recurrent::new(self, init, rng)),
            LayerSpec::TimeDense { steps, inputs, outputs, activation } => {
                Box::new(TimeDense::new(steps, inputs, outputs, activation, init, rng))
            }
        }
    }
}

impl fmt::Display for LayerSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            LayerSpec::Dense { outputs, activation: Activation::Softmax, .. } => {
                write!(f, "softmax {outputs}")
            }
            LayerSpec::Dense { outputs, activation, .. } => write!(f, "dense {outputs} {activation}"),
            LayerSpec::Conv { filters, kernel, stride, padding, activation, .. } => {
                write!(f, "conv {filters} {kernel}x{kernel}")?;
                if stride != 1 {
                    write!(f, " stride {stride}")?;
                }
                if padding == Padding::Same {
                    write!(f, " same")?;
                }
                write!(f, " {activation}")
            }
            LayerSpec::Pool { pool, size, stride, .. } => {
                let name = match pool {
                    PoolKind::Max => "maxpool",
                    PoolKind::Average => "avgpool",
                    PoolKind::L2 => "l2pool",
                };
                write!(f, "{name} {size}")?;
                if stride != size {
                    write!(f, " stride {stride}")?;
                }
                Ok(())
            }
            LayerSpec::Dropout { p, .. } => write!(f, "dropout {p}"),
            LayerSpec::Flatten { .. } => write!(f, "flatten"),
            LayerSpec::TimeDense { outputs, activation, .. } => {
                write!(f, "dense {outputs} {activation} per step")
            }
            LayerSpec::Recurrent { cell, hidden, sequence, .. } => {
                let name = if cell == Cell::Lstm { "lstm" } else { "rnn" };
                write!(f, "{name} {hidden}{}", if sequence { " seq" } else { "" })
            }
        }
    }
}

/// Output height and width of a convolution, and the zeros added before the first row/column.
pub(crate) fn conv_geometry(
    input: Shape,
    kernel: usize,
    stride: usize,
    padding: Padding,
) -> (usize, usize, usize, usize) {
    let (h, w) = conv_out(input, kernel, stride, padding);
    let pad = |n: usize, out: usize| ((out - 1) * stride + kernel).saturating_sub(n) / 2;
    (h, w, pad(input.height, h), pad(input.width, w))
}

fn conv_out(input: Shape, kernel: usize, stride: usize, padding: Padding) -> (usize, usize) {
    match padding {
        Padding::Valid => {
            (window_count(input.height, kernel, stride), window_count(input.width, kernel, stride))
        }
        Padding::Same => (input.height.div_ceil(stride.max(1)), input.width.div_ceil(stride.max(1))),
    }
}

/// How many windows of `size` moved by `stride` fit in `n` (0 if none).
fn window_count(n: usize, size: usize, stride: usize) -> usize {
    if size > n || stride == 0 { 0 } else { (n - size) / stride + 1 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::parse_arch;

    /// What a model file must hold for a layer is what the built layer holds.
    #[test]
    fn param_infos_are_what_built_layers_hold() {
        let mut rng = crate::seeded_rng(1);
        for arch in [
            "dense 7 relu; softmax 3",
            "conv 4 3x3 stride 2 same; maxpool 2; avgpool 1; l2pool 2; dropout 0.2; flatten; dense 5",
            "conv 3 5x5; conv 2 3x3 tanh; dense 4",
            "lstm 6; rnn 5 seq; lstm 3; softmax 2",
        ] {
            for spec in parse_arch(arch, Shape::new(1, 12, 10)).unwrap() {
                let layer = spec.build(Init::Scaled, &mut rng);
                let lens: Vec<usize> = layer.params().iter().map(|p| p.len()).collect();
                let want: Vec<usize> = spec.params().iter().map(ParamInfo::len).collect();
                assert_eq!(lens, want, "{spec}");
                assert_eq!(spec.param_count(), lens.iter().sum::<usize>(), "{spec}");
                let work = layer.work(0);
                assert_eq!(work.grads.iter().map(|g| g.len()).collect::<Vec<_>>(), want, "{spec}");
            }
        }
    }

    #[test]
    fn absurd_sizes_are_problems_not_overflows() {
        let flat = Shape::flat(784);
        let huge = Shape::new(1 << 30, 1 << 30, 1 << 30);
        let act = Activation::Sigmoid;
        let conv = |kernel, stride, padding| LayerSpec::Conv {
            input: Shape::new(1, 28, 28),
            filters: 2,
            kernel,
            stride,
            padding,
            activation: act,
        };
        for (spec, words) in [
            (LayerSpec::Dense { inputs: 784, outputs: 0, activation: act }, "at least 1"),
            (LayerSpec::Dense { inputs: 784, outputs: 1 << 40, activation: act }, "2³¹"),
            (LayerSpec::Dense { inputs: 1 << 31, outputs: 1 << 31, activation: act }, "parameters"),
            (LayerSpec::Flatten { input: huge }, "inputs per example"),
            (LayerSpec::Dropout { input: flat, p: f32::NAN }, "dropout"),
            (conv(29, 1, Padding::Valid), "does not fit"),
            (conv(5, 0, Padding::Same), "at least 1"),
            (conv(0, 1, Padding::Same), "at least 1"),
            (
                LayerSpec::Recurrent { cell: Cell::Lstm, input: flat, hidden: 0, sequence: false },
                "at least 1",
            ),
            (LayerSpec::Pool { input: Shape::new(1, 4, 4), pool: PoolKind::Max, size: 5, stride: 5 }, "fit"),
        ] {
            let why = spec.problem().unwrap_or_else(|| panic!("{spec:?} passed"));
            assert!(why.contains(words), "{spec:?}: {why}");
        }
    }
}
