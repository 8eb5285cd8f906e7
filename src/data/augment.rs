//! More training data from the data we have (chapter 6): the book's expansion by one-pixel
//! shifts, and random small rotations and shifts drawn afresh for every mini-batch.

use super::{Dataset, Features};
use crate::Rng;
use crate::layers::Shape;
use rand::Rng as _;
use serde::{Deserialize, Serialize};

/// The book's expanded training set: every image followed by its four one-pixel shifts (up,
/// down, left, right; the edge that moves in is blank), so 5× the images, each channel moved
/// alike. Held as the data set holds them: for the 50,000 MNIST training images (bytes) that
/// is 250,000 images, 196 MB.
pub fn expand(data: &Dataset) -> Dataset {
    const SHIFTS: [(isize, isize); 5] = [(0, 0), (-1, 0), (1, 0), (0, -1), (0, 1)];
    fn five<T: Copy + Default>(v: &[T], n: usize, shape: Shape) -> Vec<T> {
        let p = shape.size();
        let mut out = Vec::with_capacity(v.len() * 5);
        let mut shifted = vec![T::default(); p];
        for i in 0..n {
            for &(dy, dx) in &SHIFTS {
                shift(&v[i * p..(i + 1) * p], shape, dy, dx, &mut shifted);
                out.extend_from_slice(&shifted);
            }
        }
        out
    }
    let (n, shape) = (data.len(), data.shape);
    let features = match &data.features {
        Features::Bytes(b) => Features::Bytes(five(b, n, shape)),
        Features::Floats(f) => Features::Floats(five(f, n, shape)),
    };
    let labels = data.labels.iter().flat_map(|&l| [l; 5]).collect();
    Dataset { shape, features, labels, classes: data.classes.clone() }
}

/// `out[c, y, x] = image[c, y − dy, x − dx]`, 0 where that falls outside (each channel of the
/// image moves by (dy, dx)).
pub fn shift<T: Copy + Default>(image: &[T], shape: Shape, dy: isize, dx: isize, out: &mut [T]) {
    let (rows, cols) = (shape.height, shape.width);
    for (plane, out) in image.chunks_exact(rows * cols).zip(out.chunks_exact_mut(rows * cols)) {
        for y in 0..rows {
            for x in 0..cols {
                let (sy, sx) = (y as isize - dy, x as isize - dx);
                let inside = (0..rows as isize).contains(&sy) && (0..cols as isize).contains(&sx);
                out[y * cols + x] =
                    if inside { plane[sy as usize * cols + sx as usize] } else { T::default() };
            }
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
    /// Distorts each image of `shape` in `x` (row after row, f32) in place, by a rotation and
    /// a shift drawn uniformly within the limits (the same for every channel of an image),
    /// sampling the source bilinearly (0 outside). `scratch` must hold one channel.
    pub fn apply(&self, x: &mut [f32], shape: Shape, rng: &mut Rng, scratch: &mut [f32]) {
        for example in x.chunks_exact_mut(shape.size()) {
            self.draw(rng).apply(example, shape, scratch);
        }
    }

    /// One image's distortion, drawn within the limits: what [`Augment::apply`] draws for each
    /// image in turn. Data-parallel ranks draw one for every image of a mini-batch from the
    /// same stream and apply only those of their own share, so the distortions do not depend
    /// on how many ranks share the batch.
    pub fn draw(&self, rng: &mut Rng) -> Distortion {
        let angle = rng.random_range(-1.0..=1.0f32) * self.max_rotation.to_radians();
        let (ty, tx) = (
            rng.random_range(-1.0..=1.0f32) * self.max_shift,
            rng.random_range(-1.0..=1.0f32) * self.max_shift,
        );
        let flip = self.flips && rng.random::<bool>();
        Distortion { angle, ty, tx, flip }
    }
}

/// One image's rotation (radians), shift (pixels) and mirroring, from [`Augment::draw`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Distortion {
    pub angle: f32,
    pub ty: f32,
    pub tx: f32,
    pub flip: bool,
}

impl Distortion {
    /// Distorts one `example` of `shape` in place (every channel alike), sampling the source
    /// bilinearly (0 outside). `scratch` must hold one channel.
    pub fn apply(&self, example: &mut [f32], shape: Shape, scratch: &mut [f32]) {
        let (rows, cols) = (shape.height, shape.width);
        let p = rows * cols;
        let Distortion { angle, ty, tx, flip } = *self;
        let (cy, cx) = ((rows as f32 - 1.0) / 2.0, (cols as f32 - 1.0) / 2.0);
        let (sin, cos) = angle.sin_cos();
        for image in example.chunks_exact_mut(p) {
            scratch[..p].copy_from_slice(image);
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
        // a 4×4 image with one lit pixel at (1, 2), label 7, and a second channel lit at (2, 1)
        let mut images = vec![0u8; 32];
        images[6] = 200;
        images[16 + 9] = 100;
        Dataset::images(Shape::new(2, 4, 4), images, vec![7], crate::data::numbered_classes(8))
    }

    #[test]
    fn expansion_adds_the_four_one_pixel_shifts_to_every_channel() {
        let e = expand(&digit());
        assert_eq!((e.len(), e.labels.clone()), (5, vec![7; 5]));
        let lit = |i: usize, v: u8| e.bytes(i).unwrap().iter().position(|&b| b == v).unwrap();
        assert_eq!([lit(0, 200), lit(1, 200), lit(2, 200), lit(3, 200), lit(4, 200)], [6, 2, 10, 5, 7]);
        assert_eq!([lit(0, 100), lit(1, 100), lit(2, 100), lit(3, 100), lit(4, 100)], [25, 21, 29, 24, 26]);
        assert!(e.bytes(1).unwrap().iter().filter(|&&v| v > 0).count() == 2);
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
        let shape = Shape::new(1, 28, 28);
        aug.apply(&mut a, shape, &mut crate::seeded_rng(5), &mut scratch);
        aug.apply(&mut b, shape, &mut crate::seeded_rng(5), &mut scratch);
        assert_eq!(a, b);
        assert_ne!(a, x);
        let moved: f32 = a.iter().sum();
        assert!((moved - ink).abs() / ink < 0.05, "ink {ink} -> {moved}");
        assert!(a.iter().all(|v| (0.0..=1.0 + 1e-6).contains(v)));
        // no rotation and no shift is the identity
        let none = Augment { max_rotation: 0.0, max_shift: 0.0, flips: false };
        let mut c = x.clone();
        none.apply(&mut c, shape, &mut crate::seeded_rng(1), &mut scratch);
        assert!(c.iter().zip(&x).all(|(p, q)| (p - q).abs() < 1e-5));
    }
}
