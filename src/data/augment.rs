//! More training data from the data we have (chapter 6): the book's expansion by one-pixel
//! shifts, and random small rotations and shifts drawn afresh for every mini-batch.

use super::Dataset;
use crate::Rng;
use rand::Rng as _;
use serde::{Deserialize, Serialize};

/// The book's expanded training set: every image followed by its four one-pixel shifts (up,
/// down, left, right; the edge that moves in is blank), so 5× the images. Held as bytes: for
/// the 50,000 MNIST training images that is 250,000 images, 196 MB.
pub fn expand(data: &Dataset) -> Dataset {
    let (rows, cols, p) = (data.rows, data.cols, data.pixels());
    let shifts: [(isize, isize); 5] = [(0, 0), (-1, 0), (1, 0), (0, -1), (0, 1)];
    let mut images = Vec::with_capacity(data.images.len() * 5);
    let mut labels = Vec::with_capacity(data.labels.len() * 5);
    let mut shifted = vec![0u8; p];
    for i in 0..data.len() {
        for &(dy, dx) in &shifts {
            shift(data.image(i), rows, cols, dy, dx, &mut shifted);
            images.extend_from_slice(&shifted);
            if !data.labels.is_empty() {
                labels.push(data.labels[i]);
            }
        }
    }
    Dataset { images, labels, rows, cols }
}

/// `out[y, x] = image[y − dy, x − dx]`, 0 where that falls outside (the image moves by (dy, dx)).
pub fn shift(image: &[u8], rows: usize, cols: usize, dy: isize, dx: isize, out: &mut [u8]) {
    for y in 0..rows {
        for x in 0..cols {
            let (sy, sx) = (y as isize - dy, x as isize - dx);
            let inside = (0..rows as isize).contains(&sy) && (0..cols as isize).contains(&sx);
            out[y * cols + x] = if inside { image[sy as usize * cols + sx as usize] } else { 0 };
        }
    }
}

/// Random distortions applied to each training image as its mini-batch is drawn, so that no
/// epoch sees exactly the same images. Reproducible from the run's seed.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Augment {
    /// Largest rotation, in degrees either way, about the image centre.
    pub max_rotation: f32,
    /// Largest shift, in pixels, along each axis (fractions allowed).
    pub max_shift: f32,
    /// Also mirror half the images left to right. Off by default: digits are not symmetric.
    pub flips: bool,
}

impl Default for Augment {
    fn default() -> Self {
        Augment { max_rotation: 10.0, max_shift: 2.0, flips: false }
    }
}

impl Augment {
    /// Distorts each `rows × cols` image in `x` (row after row, f32) in place, by a rotation
    /// and a shift drawn uniformly within the limits, sampling the source bilinearly (0 outside).
    /// `scratch` must hold one image.
    pub fn apply(&self, x: &mut [f32], rows: usize, cols: usize, rng: &mut Rng, scratch: &mut [f32]) {
        let p = rows * cols;
        for image in x.chunks_exact_mut(p) {
            let angle = rng.random_range(-1.0..=1.0f32) * self.max_rotation.to_radians();
            let (ty, tx) = (
                rng.random_range(-1.0..=1.0f32) * self.max_shift,
                rng.random_range(-1.0..=1.0f32) * self.max_shift,
            );
            let flip = self.flips && rng.random::<bool>();
            scratch[..p].copy_from_slice(image);
            let (cy, cx) = ((rows as f32 - 1.0) / 2.0, (cols as f32 - 1.0) / 2.0);
            let (sin, cos) = angle.sin_cos();
            for y in 0..rows {
                for x in 0..cols {
                    // Where output pixel (y, x) comes from: undo the shift, then the rotation.
                    let (dy, mut dx) = (y as f32 - cy - ty, x as f32 - cx - tx);
                    if flip {
                        dx = -dx;
                    }
                    let sy = cy + cos * dy + sin * dx;
                    let sx = cx - sin * dy + cos * dx;
                    image[y * cols + x] = bilinear(&scratch[..p], rows, cols, sy, sx);
                }
            }
        }
    }
}

/// The image's value at the real position (y, x), 0 outside.
fn bilinear(img: &[f32], rows: usize, cols: usize, y: f32, x: f32) -> f32 {
    let (y0, x0) = (y.floor(), x.floor());
    let (fy, fx) = (y - y0, x - x0);
    let at = |yy: f32, xx: f32| {
        if yy < 0.0 || xx < 0.0 || yy >= rows as f32 || xx >= cols as f32 {
            0.0
        } else {
            img[yy as usize * cols + xx as usize]
        }
    };
    let top = at(y0, x0) * (1.0 - fx) + at(y0, x0 + 1.0) * fx;
    let bottom = at(y0 + 1.0, x0) * (1.0 - fx) + at(y0 + 1.0, x0 + 1.0) * fx;
    top * (1.0 - fy) + bottom * fy
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digit() -> Dataset {
        // a 4×4 image with one lit pixel at (1, 2), label 7
        let mut images = vec![0u8; 16];
        images[6] = 200;
        Dataset { images, labels: vec![7], rows: 4, cols: 4 }
    }

    #[test]
    fn expansion_adds_the_four_one_pixel_shifts() {
        let e = expand(&digit());
        assert_eq!((e.len(), e.labels.clone()), (5, vec![7; 5]));
        let lit = |i: usize| e.image(i).iter().position(|&v| v == 200).unwrap();
        assert_eq!([lit(0), lit(1), lit(2), lit(3), lit(4)], [6, 2, 10, 5, 7]);
        assert!(e.image(1).iter().filter(|&&v| v > 0).count() == 1);
    }

    #[test]
    fn augmenting_keeps_the_ink_and_is_reproducible() {
        let mut x = vec![0.0f32; 28 * 28 * 3];
        for img in x.chunks_exact_mut(784) {
            for y in 8..20 {
                img[y * 28 + 13] = 1.0; // a vertical bar
                img[y * 28 + 14] = 1.0;
            }
        }
        let ink: f32 = x.iter().sum();
        let (mut a, mut b) = (x.clone(), x.clone());
        let mut scratch = vec![0.0; 784];
        let aug = Augment::default();
        aug.apply(&mut a, 28, 28, &mut crate::seeded_rng(5), &mut scratch);
        aug.apply(&mut b, 28, 28, &mut crate::seeded_rng(5), &mut scratch);
        assert_eq!(a, b);
        assert_ne!(a, x);
        let moved: f32 = a.iter().sum();
        assert!((moved - ink).abs() / ink < 0.05, "ink {ink} -> {moved}");
        assert!(a.iter().all(|v| (0.0..=1.0 + 1e-6).contains(v)));
        // no rotation and no shift is the identity
        let none = Augment { max_rotation: 0.0, max_shift: 0.0, flips: false };
        let mut c = x.clone();
        none.apply(&mut c, 28, 28, &mut crate::seeded_rng(1), &mut scratch);
        assert!(c.iter().zip(&x).all(|(p, q)| (p - q).abs() < 1e-5));
    }
}
