//! Several networks voting (chapter 6's ensemble of five).

use crate::data::Dataset;
use crate::network::Network;
use crate::train::argmax;
use ndarray::{Array2, ArrayView2, s};

/// Each network's outputs for every example of `data`, `[n, classes]` per network.
pub fn outputs(nets: &[Network], data: &Dataset) -> Vec<Array2<f32>> {
    let inputs = data.input_size();
    nets.iter()
        .map(|net| {
            let (classes, chunk) = (net.out_size(), crate::train::eval_chunk(&net.specs()));
            let mut all = Array2::zeros((data.len(), classes));
            let mut ws = net.workspace(0);
            let mut x = vec![0.0f32; chunk * inputs];
            let mut y = vec![0.0f32; chunk * data.class_count()];
            for start in (0..data.len()).step_by(chunk) {
                let end = (start + chunk).min(data.len());
                let k = end - start;
                data.fill_range(start..end, &mut x[..k * inputs], &mut y[..k * data.class_count()]);
                let xv = ArrayView2::from_shape((k, inputs), &x[..k * inputs]).expect("sizes agree");
                all.slice_mut(s![start..end, ..]).assign(&net.feedforward(&mut ws, xv, false));
            }
            all
        })
        .collect()
}

/// The ensemble's answer for each example: the class most networks chose; among classes with
/// equally many votes, the one whose outputs summed over the networks are largest.
pub fn vote(outputs: &[Array2<f32>]) -> Vec<usize> {
    let (n, classes) = outputs[0].dim();
    (0..n)
        .map(|i| {
            let mut votes = vec![0usize; classes];
            let mut sums = vec![0.0f32; classes];
            for out in outputs {
                let row = out.row(i);
                votes[argmax(row.iter().copied())] += 1;
                sums.iter_mut().zip(row).for_each(|(s, v)| *s += v);
            }
            let most = *votes.iter().max().expect("at least one class");
            (0..classes)
                .filter(|&c| votes[c] == most)
                .max_by(|&a, &b| sums[a].total_cmp(&sums[b]))
                .expect("a winner")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn majority_wins_and_ties_go_to_the_larger_sum() {
        let a = array![[0.9f32, 0.1, 0.0], [0.6, 0.4, 0.0]];
        let b = array![[0.8f32, 0.2, 0.0], [0.0, 0.3, 0.7]];
        let c = array![[0.1f32, 0.9, 0.0], [0.1, 0.9, 0.0]];
        // example 0: two votes for class 0; example 1: one vote each, sums 0.7 / 1.6 / 0.7
        assert_eq!(vote(&[a, b, c]), vec![0, 1]);
    }
}
