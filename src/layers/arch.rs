//! The architecture language of `--arch`, and the summary table.
//!
//! Layers are separated by `;` (or new lines); the first takes the input (1×28×28 for MNIST):
//!
//! | layer | meaning |
//! | --- | --- |
//! | `conv F KxK [stride S] [valid\|same] [ACT]` | F feature maps of K×K filters (`conv 20 5` = `conv 20 5x5`) |
//! | `maxpool K [stride S]`, `avgpool K`, `l2pool K` | K×K pooling, stride K unless given |
//! | `dense N [ACT]` | N fully connected neurons (flattens what comes in) |
//! | `softmax N` | N softmax neurons (`dense N softmax`) |
//! | `dropout P` | drop each input with probability P while training |
//! | `flatten` | images to vectors (optional: dense flattens by itself) |
//! | `rnn H [seq\|last]`, `lstm H [seq\|last]` | H recurrent units over the input read as a sequence of its rows (an image: 28 steps of 28 pixels), giving every step's state (`seq`, the default when another recurrent layer follows) or the last step's |
//!
//! ACT is `sigmoid` (the default), `tanh`, `relu` or `identity`. Example, the book's chapter-6
//! net: `conv 20 5x5 relu; maxpool 2; conv 40 5x5 relu; maxpool 2; dense 100 relu; dropout 0.5; softmax 10`.

use super::{Cell, LayerSpec, Padding, PoolKind, Shape};
use crate::activation::Activation;
use std::fmt::Write as _;
use thiserror::Error;

/// A layer that cannot be read or does not fit; the message shows every shape up to it.
///
/// However long the description, the message stays short: the layer's text and the list of
/// shapes are shortened in the middle.
#[derive(Debug, Error, PartialEq)]
#[error(
    "layer {index} '{}': {} (shapes: {})",
    crate::shorten(text, 80),
    crate::shorten(why, 300),
    crate::shorten(shapes, 300)
)]
pub struct ArchError {
    /// 1-based position of the layer in the description.
    pub index: usize,
    pub text: String,
    pub why: String,
    /// `input 1×28×28 → conv 20 5x5 sigmoid 20×24×24 → …` up to the layer at fault.
    pub shapes: String,
}

/// Reads an architecture for inputs of shape `input`.
pub fn parse_arch(text: &str, input: Shape) -> Result<Vec<LayerSpec>, ArchError> {
    let mut specs = Vec::new();
    let mut shape = input;
    let mut shapes = format!("input {input}");
    let parts: Vec<&str> = text.split([';', '\n']).map(str::trim).filter(|p| !p.is_empty()).collect();
    for (i, &part) in parts.iter().enumerate() {
        let fail = |why: String, shapes: &str| ArchError {
            index: i + 1,
            text: part.to_string(),
            why,
            shapes: shapes.to_string(),
        };
        // A recurrent layer hands on its whole sequence when another recurrent layer follows.
        let next_is_recurrent = parts.get(i + 1).is_some_and(|p| {
            let w = p.split_whitespace().next().unwrap_or("").to_ascii_lowercase();
            w == "rnn" || w == "lstm"
        });
        let spec = parse_layer(part, shape, next_is_recurrent).map_err(|why| fail(why, &shapes))?;
        if let Some(why) = spec.problem() {
            return Err(fail(why, &shapes));
        }
        shape = spec.out_shape();
        let _ = write!(shapes, " → {spec} {shape}");
        specs.push(spec);
    }
    if specs.is_empty() {
        return Err(ArchError { index: 0, text: text.into(), why: "no layers given".into(), shapes });
    }
    Ok(specs)
}

fn parse_layer(text: &str, input: Shape, next_is_recurrent: bool) -> Result<LayerSpec, String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let number = |i: usize, what: &str| -> Result<usize, String> {
        let w = words.get(i).ok_or(format!("{what} is missing"))?;
        w.parse().map_err(|_| format!("'{w}' is not a whole number ({what})"))
    };
    // Options after the required words: `stride S`, `same`/`valid`, an activation.
    let mut stride = None;
    let mut padding = Padding::Valid;
    let mut activation = None;
    let options = |from: usize,
                   stride: &mut Option<usize>,
                   padding: &mut Padding,
                   activation: &mut Option<Activation>|
     -> Result<(), String> {
        let mut k = from;
        while k < words.len() {
            match words[k] {
                "stride" => {
                    *stride = Some(number(k + 1, "stride")?);
                    k += 1;
                }
                "same" => *padding = Padding::Same,
                "valid" => *padding = Padding::Valid,
                w => *activation = Some(w.parse()?),
            }
            k += 1;
        }
        Ok(())
    };
    let flat = Shape::flat(input.size());
    let kind = words.first().copied().unwrap_or("").to_ascii_lowercase();
    let spec = match kind.as_str() {
        "conv" => {
            let filters = number(1, "the number of feature maps")?;
            let k = words.get(2).ok_or("the filter size (e.g. 5x5) is missing")?;
            let kernel = match k.split_once(['x', '×']) {
                Some((a, b)) if a == b => {
                    a.parse().map_err(|_| format!("'{k}' is not a filter size like 5x5"))?
                }
                Some(_) => return Err(format!("'{k}': only square filters are supported")),
                None => k.parse().map_err(|_| format!("'{k}' is not a filter size like 5x5"))?,
            };
            options(3, &mut stride, &mut padding, &mut activation)?;
            let activation = activation.unwrap_or(Activation::Sigmoid);
            if activation == Activation::Softmax {
                return Err("softmax is for the output layer; give conv an elementwise activation".into());
            }
            LayerSpec::Conv { input, filters, kernel, stride: stride.unwrap_or(1), padding, activation }
        }
        "maxpool" | "avgpool" | "averagepool" | "l2pool" => {
            let pool = match kind.as_str() {
                "maxpool" => PoolKind::Max,
                "l2pool" => PoolKind::L2,
                _ => PoolKind::Average,
            };
            let size = number(1, "the pool size")?;
            options(2, &mut stride, &mut padding, &mut activation)?;
            if activation.is_some() || padding != Padding::Valid {
                return Err("pooling takes only a size and a stride".into());
            }
            LayerSpec::Pool { input, pool, size, stride: stride.unwrap_or(size) }
        }
        "dense" | "softmax" => {
            let outputs = number(1, "the number of neurons")?;
            options(2, &mut stride, &mut padding, &mut activation)?;
            if stride.is_some() || padding != Padding::Valid {
                return Err("dense takes a size and an activation".into());
            }
            let activation = if kind == "softmax" {
                Activation::Softmax
            } else {
                activation.unwrap_or(Activation::Sigmoid)
            };
            LayerSpec::Dense { inputs: flat.size(), outputs, activation }
        }
        "dropout" => {
            let p = words.get(1).ok_or("the dropout probability is missing")?;
            let p: f32 = p.parse().map_err(|_| format!("'{p}' is not a probability"))?;
            if words.len() > 2 {
                return Err("dropout takes only a probability".into());
            }
            LayerSpec::Dropout { input, p }
        }
        "flatten" => LayerSpec::Flatten { input },
        "rnn" | "lstm" => {
            let hidden = number(1, "the number of hidden units")?;
            let sequence = match words.get(2).copied() {
                None => next_is_recurrent,
                Some("seq" | "sequence") => true,
                Some("last") => false,
                Some(w) => return Err(format!("'{w}': a recurrent layer takes 'seq' or 'last'")),
            };
            if words.len() > 3 {
                return Err("a recurrent layer takes a size and 'seq' or 'last'".into());
            }
            let cell = if kind == "lstm" { Cell::Lstm } else { Cell::Rnn };
            LayerSpec::Recurrent { cell, input, hidden, sequence }
        }
        other => {
            return Err(format!(
                "unknown layer '{other}' (use conv, maxpool, avgpool, l2pool, dense, softmax, dropout, flatten, rnn, lstm)"
            ));
        }
    };
    Ok(spec)
}

/// A Keras-style table: each layer, its output shape and parameter count, and the total.
pub fn summary_table(specs: &[LayerSpec]) -> String {
    let mut out = format!("{:<3} {:<32} {:>14} {:>12}\n", "#", "layer", "output shape", "parameters");
    if let Some(first) = specs.first() {
        let _ = writeln!(out, "{:<3} {:<32} {:>14} {:>12}", "", "input", first.in_shape().to_string(), "");
    }
    for (i, spec) in specs.iter().enumerate() {
        let _ = writeln!(
            out,
            "{:<3} {:<32} {:>14} {:>12}",
            i + 1,
            spec.to_string(),
            spec.out_shape().to_string(),
            spec.param_count()
        );
    }
    let total: usize = specs.iter().map(LayerSpec::param_count).sum();
    let _ = write!(out, "total parameters: {total}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MNIST: Shape = Shape { channels: 1, height: 28, width: 28 };

    #[test]
    fn the_books_chapter_6_net_has_the_books_shapes() {
        let specs = parse_arch(
            "conv 20 5x5 relu; maxpool 2; conv 40 5x5 relu; maxpool 2; dense 100 relu; dropout 0.5; softmax 10",
            MNIST,
        )
        .unwrap();
        let shapes: Vec<String> = specs.iter().map(|s| s.out_shape().to_string()).collect();
        assert_eq!(shapes, ["20×24×24", "20×12×12", "40×8×8", "40×4×4", "100", "100", "10"]);
        assert_eq!(specs[0].param_count(), 20 * 25 + 20);
        assert_eq!(specs[2].param_count(), 40 * 20 * 25 + 40);
        assert_eq!(specs[4], LayerSpec::Dense { inputs: 640, outputs: 100, activation: Activation::Relu });
        let table = summary_table(&specs);
        assert!(table.contains("total parameters: 85670"), "{table}");
    }

    #[test]
    fn recurrent_layers_read_rows_and_stack() {
        let specs = parse_arch("lstm 32; rnn 16; softmax 10", MNIST).unwrap();
        let shapes: Vec<String> = specs.iter().map(|s| s.out_shape().to_string()).collect();
        assert_eq!(shapes, ["1×28×32", "16", "10"]);
        assert_eq!(specs[0].param_count(), 4 * 32 * (28 + 32 + 1));
        assert_eq!(specs[1].param_count(), 16 * (32 + 16 + 1));
        assert_eq!(specs[0].to_string(), "lstm 32 seq");
        assert!(parse_arch("lstm 32 sideways; softmax 10", MNIST).is_err());
    }

    #[test]
    fn padding_and_stride_shapes() {
        let specs =
            parse_arch("conv 8 3x3 same; conv 4 3 stride 2 same tanh; avgpool 2 stride 1; l2pool 3", MNIST)
                .unwrap();
        let shapes: Vec<String> = specs.iter().map(|s| s.out_shape().to_string()).collect();
        assert_eq!(shapes, ["8×28×28", "4×14×14", "4×13×13", "4×4×4"]);
    }

    #[test]
    fn errors_name_the_layer_and_list_the_shapes_so_far() {
        let err =
            parse_arch("conv 20 5x5; maxpool 2; conv 40 5x5; maxpool 2; conv 40 5x5; softmax 10", MNIST)
                .unwrap_err();
        assert_eq!(err.index, 5);
        assert!(err.why.contains("does not fit"), "{err}");
        assert!(
            err.to_string().contains("input 1×28×28 → conv 20 5x5 sigmoid 20×24×24 → maxpool 2 20×12×12"),
            "{err}"
        );
        assert!(err.to_string().contains("40×4×4"), "{err}");
        for bad in [
            "conv x 5x5",
            "conv 20 5x3",
            "maxpool",
            "dense 10 sigmod",
            "dropout 1.5",
            "fc 10",
            "conv 20 5x5 softmax",
            "",
        ] {
            assert!(parse_arch(bad, MNIST).is_err(), "{bad}");
        }
    }
}
