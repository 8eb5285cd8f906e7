//! [`Dataset`]: images held compactly as bytes, turned into `f32` batches on demand.

use std::ops::Range;

/// Number of classes (the digits 0–9): the width of a one-hot label row.
pub const CLASSES: usize = 10;

/// Images held compactly as bytes (one row of `rows * cols` bytes per image) plus labels.
///
/// `labels` is empty for a dataset read by [`read_idx_images`](super::read_idx_images) alone;
/// otherwise it holds one digit 0–9 per image.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// Pixels, 0 (background) to 255 (ink), image after image, each row-major.
    pub images: Vec<u8>,
    /// One label 0–9 per image (or empty).
    pub labels: Vec<u8>,
    /// Image height.
    pub rows: usize,
    /// Image width.
    pub cols: usize,
}

impl Dataset {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.images.len().checked_div(self.pixels()).unwrap_or(0)
    }

    /// True when there are no images.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Pixels per image: `rows * cols`.
    pub fn pixels(&self) -> usize {
        self.rows * self.cols
    }

    /// The bytes of image `i` (`pixels()` of them). Panics if `i >= len()`.
    pub fn image(&self, i: usize) -> &[u8] {
        let p = self.pixels();
        &self.images[i * p..(i + 1) * p]
    }

    /// Writes the images `idx` as `f32` in [0, 1] (byte / 255) into `x`, row-major
    /// `[idx.len(), pixels()]`, and their one-hot labels into `y`, `[idx.len(), 10]`.
    /// Allocates nothing.
    ///
    /// Panics if `x` or `y` has the wrong length, an index is out of range, or the dataset
    /// has no labels.
    pub fn fill_batch(&self, idx: &[usize], x: &mut [f32], y: &mut [f32]) {
        self.fill(idx.iter().copied(), x, y);
    }

    /// Hints the CPU to start fetching images `idx` into its caches (e.g. the next mini-batch's,
    /// while this one trains): drawn in random order, each image is otherwise a wait on memory.
    pub fn prefetch(&self, idx: &[usize]) {
        #[cfg(target_arch = "x86_64")]
        for &i in idx {
            let image = self.image(i);
            for offset in (0..image.len()).step_by(64) {
                // SAFETY: a prefetch is only a hint; the address is inside `image`.
                unsafe {
                    std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                        image.as_ptr().add(offset).cast(),
                    )
                };
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = idx;
    }

    /// Same as [`fill_batch`](Self::fill_batch) for the contiguous images `range`
    /// (for evaluation).
    pub fn fill_range(&self, range: Range<usize>, x: &mut [f32], y: &mut [f32]) {
        self.fill(range, x, y);
    }

    fn fill(&self, idx: impl ExactSizeIterator<Item = usize>, x: &mut [f32], y: &mut [f32]) {
        let (n, p) = (idx.len(), self.pixels());
        assert_eq!(x.len(), n * p, "x must hold {n} images of {p} pixels");
        assert_eq!(y.len(), n * CLASSES, "y must hold {n} one-hot rows of {CLASSES}");
        if n == 0 {
            return;
        }
        for ((i, xr), yr) in idx.zip(x.chunks_exact_mut(p)).zip(y.chunks_exact_mut(CLASSES)) {
            for (v, &b) in xr.iter_mut().zip(self.image(i)) {
                *v = f32::from(b) / 255.0;
            }
            yr.fill(0.0);
            yr[usize::from(self.labels[i])] = 1.0;
        }
    }

    /// A copy of the images (and labels, if any) in `range`. Panics if it is out of bounds.
    pub fn slice(&self, range: Range<usize>) -> Dataset {
        let p = self.pixels();
        let labels = if self.labels.is_empty() { Vec::new() } else { self.labels[range.clone()].to_vec() };
        Dataset {
            images: self.images[range.start * p..range.end * p].to_vec(),
            labels,
            rows: self.rows,
            cols: self.cols,
        }
    }

    /// Splits off the last `validation_size` examples, keeps the first `train_size`: the
    /// book's split. The caller has checked `train_size + validation_size <= len()`.
    ///
    /// The validation images are a copy; if memory runs out for it, the error says so (a
    /// failed allocation would otherwise abort the process).
    pub(crate) fn split(
        mut self,
        train_size: usize,
        validation_size: usize,
    ) -> Result<(Dataset, Dataset), std::collections::TryReserveError> {
        let (n, p) = (self.len(), self.pixels());
        debug_assert!(train_size + validation_size <= n);
        let from = n - validation_size;
        let mut images = Vec::new();
        images.try_reserve_exact(validation_size * p)?;
        images.extend_from_slice(&self.images[from * p..]);
        let mut labels = Vec::new();
        if !self.labels.is_empty() {
            labels.try_reserve_exact(validation_size)?;
            labels.extend_from_slice(&self.labels[from..]);
        }
        let validation = Dataset { images, labels, rows: self.rows, cols: self.cols };
        self.images.truncate(train_size * p);
        self.labels.truncate(train_size);
        Ok((self, validation))
    }
}

/// The three MNIST sets as the book uses them.
#[derive(Clone, Debug)]
pub struct Mnist {
    /// The first `train_size` images of the 60,000-image training file.
    pub training: Dataset,
    /// The last `validation_size` images of the training file.
    pub validation: Dataset,
    /// The 10,000 images of the t10k files.
    pub test: Dataset,
}
