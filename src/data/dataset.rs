//! [`Dataset`]: labelled examples of any shape and any number of classes, held compactly
//! (images as bytes, tables as `f32`) and turned into `f32` mini-batches on demand.

use crate::layers::Shape;
use std::ops::Range;

/// How a data set's numbers are stored: images as bytes (0–255, scaled to [0, 1] when a batch
/// is drawn, so 60,000 MNIST digits take 47 MB), tables as the numbers themselves.
#[derive(Clone, Debug, PartialEq)]
pub enum Features {
    /// `shape.size()` bytes per example; example `i`'s value `v` is fed as `v / 255`.
    Bytes(Vec<u8>),
    /// `shape.size()` numbers per example, fed as they are.
    Floats(Vec<f32>),
}

impl Features {
    /// Numbers stored in all.
    pub fn len(&self) -> usize {
        match self {
            Features::Bytes(b) => b.len(),
            Features::Floats(f) => f.len(),
        }
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Labelled examples: each example's input is `shape` (channels × height × width, channel
/// after channel, row-major; a table's n features are `n × 1 × 1`), its label an index into
/// `classes`.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// One example's input.
    pub shape: Shape,
    /// The inputs, example after example.
    pub features: Features,
    /// Each example's class, an index into `classes` (empty: unlabelled, e.g. images read
    /// without their labels file).
    pub labels: Vec<u32>,
    /// The classes' names, in index order (MNIST: `"0"` … `"9"`).
    pub classes: Vec<String>,
}

/// The names `"0"`, `"1"`, … of `n` classes known only by number (IDX labels, digits).
pub fn numbered_classes(n: usize) -> Vec<String> {
    (0..n).map(|i| i.to_string()).collect()
}

impl Dataset {
    /// Images as bytes with their labels; `classes` names the label values.
    pub fn images(shape: Shape, bytes: Vec<u8>, labels: Vec<u32>, classes: Vec<String>) -> Self {
        Dataset { shape, features: Features::Bytes(bytes), labels, classes }
    }

    /// Number of examples.
    pub fn len(&self) -> usize {
        self.features.len().checked_div(self.input_size()).unwrap_or(0)
    }

    /// True when there are no examples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Numbers per example: `shape.size()`.
    pub fn input_size(&self) -> usize {
        self.shape.size()
    }

    /// Number of classes: the width of a one-hot label row.
    pub fn class_count(&self) -> usize {
        self.classes.len()
    }

    /// Whether the examples are images stored as bytes (what augmentation and expansion work on).
    pub fn is_images(&self) -> bool {
        matches!(self.features, Features::Bytes(_))
    }

    /// The stored bytes of example `i`, if the data set holds bytes. Panics if `i >= len()`.
    pub fn bytes(&self, i: usize) -> Option<&[u8]> {
        let p = self.input_size();
        match &self.features {
            Features::Bytes(b) => Some(&b[i * p..(i + 1) * p]),
            Features::Floats(_) => None,
        }
    }

    /// All the stored bytes, if the data set holds bytes.
    pub fn all_bytes(&self) -> Option<&[u8]> {
        match &self.features {
            Features::Bytes(b) => Some(b),
            Features::Floats(_) => None,
        }
    }

    /// Example `i` as the network sees it (bytes scaled to [0, 1]). Panics if `i >= len()`.
    pub fn example(&self, i: usize) -> Vec<f32> {
        let mut x = vec![0.0; self.input_size()];
        self.write_example(i, &mut x);
        x
    }

    fn write_example(&self, i: usize, out: &mut [f32]) {
        let p = self.input_size();
        match &self.features {
            Features::Bytes(b) => bytes_to_unit(&b[i * p..(i + 1) * p], out),
            Features::Floats(f) => out.copy_from_slice(&f[i * p..(i + 1) * p]),
        }
    }

    /// Writes the examples `idx` into `x`, row-major `[idx.len(), input_size()]`, and their
    /// one-hot labels into `y`, `[idx.len(), class_count()]`. Allocates nothing.
    ///
    /// Panics if `x` or `y` has the wrong length, an index is out of range, or the data set
    /// has no labels.
    pub fn fill_batch(&self, idx: &[usize], x: &mut [f32], y: &mut [f32]) {
        self.fill(idx.iter().copied(), x, y);
    }

    /// Hints the CPU to start fetching examples `idx` into its caches (e.g. the next
    /// mini-batch's, while this one trains): drawn in random order, each example is otherwise
    /// a wait on memory.
    pub fn prefetch(&self, idx: &[usize]) {
        self.prefetch_columns(idx, 0..self.input_size());
    }

    /// [`prefetch`](Self::prefetch) of the inputs `cols` of each example.
    fn prefetch_columns(&self, idx: &[usize], cols: Range<usize>) {
        #[cfg(target_arch = "x86_64")]
        {
            let (base, bytes, width) = match &self.features {
                Features::Bytes(b) => (b.as_ptr(), self.input_size(), 1),
                Features::Floats(f) => (f.as_ptr().cast::<u8>(), 4 * self.input_size(), 4),
            };
            let n = self.len();
            let (from, to) = (cols.start * width, cols.end.min(self.input_size()) * width);
            for &i in idx.iter().filter(|&&i| i < n) {
                for offset in (from / 64 * 64..to).step_by(64) {
                    // SAFETY: a prefetch is only a hint; the address is inside example i.
                    unsafe {
                        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                            base.add(i * bytes + offset).cast(),
                        )
                    };
                }
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = (idx, cols);
    }

    /// [`fill_batch`](Self::fill_batch) and [`prefetch`](Self::prefetch) of `next`, shared
    /// with the helper of the team the calling thread leads (see [`crate::team`]): the inputs
    /// `..cut` of each example here, `cut..` on the helper. A dense first layer that shares its
    /// inputs at `cut` then finds each thread's part of x in that thread's own cache: on these
    /// VMs 16 KB written on one core and read on the other took 5 µs more than on one core.
    pub fn fill_batch_cut(&self, idx: &[usize], next: &[usize], cut: usize, x: &mut [f32], y: &mut [f32]) {
        let (n, p, k) = (idx.len(), self.input_size(), self.class_count());
        assert_eq!(x.len(), n * p, "x must hold {n} examples of {p} numbers");
        assert_eq!(y.len(), n * k, "y must hold {n} one-hot rows of {k}");
        assert!(cut <= p, "cut {cut} past the {p} inputs");
        self.write_targets(idx.iter().copied(), y);
        let x = ndarray::ArrayViewMut2::from_shape((n, p), x).expect("checked above");
        let (x0, x1) = x.split_at(ndarray::Axis(1), cut);
        crate::team::for_parts(vec![(0..cut, x0), (cut..p, x1)], |(cols, mut x)| {
            for (&i, mut row) in idx.iter().zip(x.rows_mut()) {
                let row = row.as_slice_mut().expect("a part of a row is contiguous");
                let from = i * p;
                match &self.features {
                    Features::Bytes(b) => bytes_to_unit(&b[from + cols.start..from + cols.end], row),
                    Features::Floats(f) => row.copy_from_slice(&f[from + cols.start..from + cols.end]),
                }
            }
            self.prefetch_columns(next, cols);
        });
    }

    /// Same as [`fill_batch`](Self::fill_batch) for the contiguous examples `range`
    /// (for evaluation).
    pub fn fill_range(&self, range: Range<usize>, x: &mut [f32], y: &mut [f32]) {
        self.fill(range, x, y);
    }

    fn fill(&self, idx: impl ExactSizeIterator<Item = usize> + Clone, x: &mut [f32], y: &mut [f32]) {
        let (n, p, k) = (idx.len(), self.input_size(), self.class_count());
        assert_eq!(x.len(), n * p, "x must hold {n} examples of {p} numbers");
        assert_eq!(y.len(), n * k, "y must hold {n} one-hot rows of {k}");
        if n == 0 {
            return;
        }
        for (i, xr) in idx.clone().zip(x.chunks_exact_mut(p)) {
            self.write_example(i, xr);
        }
        self.write_targets(idx, y);
    }

    /// The one-hot labels of examples `idx` into `y`, `[idx.len(), class_count()]`.
    pub(crate) fn write_targets(&self, idx: impl Iterator<Item = usize>, y: &mut [f32]) {
        for (i, yr) in idx.zip(y.chunks_exact_mut(self.class_count().max(1))) {
            yr.fill(0.0);
            yr[self.labels[i] as usize] = 1.0;
        }
    }

    /// A copy of the examples (and labels, if any) in `range`. Panics if it is out of bounds.
    pub fn slice(&self, range: Range<usize>) -> Dataset {
        let p = self.input_size();
        let labels = if self.labels.is_empty() { Vec::new() } else { self.labels[range.clone()].to_vec() };
        let (from, to) = (range.start * p, range.end * p);
        let features = match &self.features {
            Features::Bytes(b) => Features::Bytes(b[from..to].to_vec()),
            Features::Floats(f) => Features::Floats(f[from..to].to_vec()),
        };
        Dataset { shape: self.shape, features, labels, classes: self.classes.clone() }
    }

    /// The examples `order` (indices, any order, repeats allowed), as a new data set.
    pub fn select(&self, order: &[usize]) -> Dataset {
        let p = self.input_size();
        let features = match &self.features {
            Features::Bytes(b) => {
                Features::Bytes(order.iter().flat_map(|&i| &b[i * p..(i + 1) * p]).copied().collect())
            }
            Features::Floats(f) => {
                Features::Floats(order.iter().flat_map(|&i| &f[i * p..(i + 1) * p]).copied().collect())
            }
        };
        let labels =
            if self.labels.is_empty() { Vec::new() } else { order.iter().map(|&i| self.labels[i]).collect() };
        Dataset { shape: self.shape, features, labels, classes: self.classes.clone() }
    }

    /// The same examples labelled by `classes` (another list of names, e.g. a trained model's)
    /// instead of their own, matched by name: how a test set is scored by a model whose classes
    /// were found in its training data. Fails with the name of a class that occurs here but
    /// not in `classes`.
    pub fn relabel(mut self, classes: &[String]) -> Result<Dataset, String> {
        let mut used = vec![false; self.classes.len()];
        for &l in &self.labels {
            used[l as usize] = true;
        }
        let map: Vec<Option<u32>> = self
            .classes
            .iter()
            .map(|name| classes.iter().position(|c| c == name).map(|i| i as u32))
            .collect();
        if let Some(k) = (0..map.len()).find(|&k| used[k] && map[k].is_none()) {
            return Err(self.classes[k].clone());
        }
        for l in &mut self.labels {
            *l = map[*l as usize].unwrap_or(0);
        }
        self.classes = classes.to_vec();
        Ok(self)
    }

    /// Splits off the last `validation_size` examples, keeps the first `train_size`: the
    /// book's split. The caller has checked `train_size + validation_size <= len()`.
    ///
    /// The validation examples are a copy; if memory runs out for it, the error says so (a
    /// failed allocation would otherwise abort the process). The training part is the input's
    /// own buffer, cut to size (the `nndl` binary's allocator does that in place, giving the
    /// tail back), so the peak is the input plus the validation copy, not a second copy of
    /// everything.
    ///
    /// Panics if `train_size + validation_size > len()`.
    pub fn split(
        mut self,
        train_size: usize,
        validation_size: usize,
    ) -> Result<(Dataset, Dataset), std::collections::TryReserveError> {
        let (n, p) = (self.len(), self.input_size());
        assert!(train_size + validation_size <= n, "split {train_size} + {validation_size} of {n}");
        let from = n - validation_size;
        let features = match &mut self.features {
            Features::Bytes(b) => {
                let mut v = Vec::new();
                v.try_reserve_exact(validation_size * p)?;
                v.extend_from_slice(&b[from * p..]);
                b.truncate(train_size * p);
                b.shrink_to_fit();
                Features::Bytes(v)
            }
            Features::Floats(f) => {
                let mut v = Vec::new();
                v.try_reserve_exact(validation_size * p)?;
                v.extend_from_slice(&f[from * p..]);
                f.truncate(train_size * p);
                f.shrink_to_fit();
                Features::Floats(v)
            }
        };
        let mut labels = Vec::new();
        if !self.labels.is_empty() {
            labels.try_reserve_exact(validation_size)?;
            labels.extend_from_slice(&self.labels[from..]);
            self.labels.truncate(train_size);
            self.labels.shrink_to_fit();
        }
        let validation = Dataset { shape: self.shape, features, labels, classes: self.classes.clone() };
        Ok((self, validation))
    }
}

/// The three sets as the book uses them: training, validation carved from the end of the
/// training data, and test.
#[derive(Clone, Debug)]
pub struct Mnist {
    /// The first `train_size` examples of the training data.
    pub training: Dataset,
    /// The last `validation_size` examples of the training data.
    pub validation: Dataset,
    /// The test examples.
    pub test: Dataset,
}

/// Pixel bytes as inputs: byte v becomes v/255 (0 black … 1 white), correctly rounded, as a
/// division gives. Where the CPU has FMA (with AVX-512 or AVX2) 16 or 8 at a time, as a
/// multiplication by 1/255 and one fused correction, which rounds to the same number for every
/// byte (test `fused_conversion_equals_division`) at a fraction of a division's cost: the
/// division loop was a sixth of an epoch of [784,30,10] at mini-batch 100 at 4 lanes, and still
/// a tenth of the chapter-1 net's at 16.
fn bytes_to_unit(bytes: &[u8], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f")]
        unsafe fn avx512(bytes: &[u8], out: &mut [f32]) {
            bytes_to_unit_fused(bytes, out)
        }
        #[target_feature(enable = "avx2,fma")]
        unsafe fn avx2(bytes: &[u8], out: &mut [f32]) {
            bytes_to_unit_fused(bytes, out)
        }
        if crate::linalg::has_avx512() {
            // SAFETY: the CPU has AVX-512F (and so FMA), checked just above.
            return unsafe { avx512(bytes, out) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has AVX2 and FMA, checked just above.
            return unsafe { avx2(bytes, out) };
        }
    }
    for (v, &byte) in out.iter_mut().zip(bytes) {
        *v = f32::from(byte) / 255.0;
    }
}

#[inline(always)]
fn bytes_to_unit_fused(bytes: &[u8], out: &mut [f32]) {
    const R: f32 = 1.0 / 255.0;
    for (v, &byte) in out.iter_mut().zip(bytes) {
        let x = f32::from(byte);
        let q = x * R;
        // x − 255·q, exact in one fused step, moves q to the rounded quotient
        *v = (-q).mul_add(255.0, x).mul_add(R, q);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fused_conversion_equals_division() {
        let bytes: Vec<u8> = (0..=255).collect();
        let mut fast = vec![0.0f32; 256];
        let mut fused = vec![0.0f32; 256];
        bytes_to_unit(&bytes, &mut fast);
        bytes_to_unit_fused(&bytes, &mut fused);
        for (i, &b) in bytes.iter().enumerate() {
            let divided = f32::from(b) / 255.0;
            assert_eq!(fast[i].to_bits(), divided.to_bits(), "byte {b}");
            assert_eq!(fused[i].to_bits(), divided.to_bits(), "byte {b}, fused");
        }
    }

    #[test]
    fn a_batch_filled_in_two_parts_is_the_batch_filled_whole() {
        let shape = Shape { channels: 1, height: 5, width: 7 };
        let bytes: Vec<u8> = (0..9 * 35).map(|i| (i * 37 % 256) as u8).collect();
        let labels: Vec<u32> = (0..9).map(|i| i % 3).collect();
        let bytes_set =
            Dataset::images(shape, bytes.clone(), labels.clone(), super::super::numbered_classes(3));
        let floats: Vec<f32> = bytes.iter().map(|&b| f32::from(b) / 255.0).collect();
        let float_set = Dataset {
            shape,
            features: Features::Floats(floats),
            labels,
            classes: super::super::numbered_classes(3),
        };
        let (idx, next) = ([4, 0, 8, 4], [1, 2]);
        let team = crate::team::Team::new().expect("a helper thread");
        for data in [&bytes_set, &float_set] {
            let (mut x, mut y) = (vec![f32::NAN; 4 * 35], vec![f32::NAN; 4 * 3]);
            data.fill_batch(&idx, &mut x, &mut y);
            for cut in [0, 1, 16, 34, 35] {
                let (mut x2, mut y2) = (vec![f32::NAN; 4 * 35], vec![f32::NAN; 4 * 3]);
                data.fill_batch_cut(&idx, &next, cut, &mut x2, &mut y2);
                assert_eq!((&x2, &y2), (&x, &y), "cut {cut}, alone");
                let _lead = team.lead();
                let (mut x3, mut y3) = (vec![f32::NAN; 4 * 35], vec![f32::NAN; 4 * 3]);
                data.fill_batch_cut(&idx, &next, cut, &mut x3, &mut y3);
                assert_eq!((&x3, &y3), (&x, &y), "cut {cut}, shared with the helper");
            }
        }
    }
}
