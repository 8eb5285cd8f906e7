//! [`Examples`]: what the training loop draws mini-batches from. Images, tables and texts all
//! are, so one loop (with its monitoring, schedules and early stopping) trains them all.

use super::{Dataset, Features};
use crate::layers::Shape;

/// Numbered examples, each an input row and a target row, that can be written into a
/// mini-batch's matrices.
///
/// A target row is one-hot groups of [`class_count`](Examples::class_count) columns: one group
/// for a classified example, one per step for a sequence (a language model predicts every next
/// character). An answer is right when the largest output of its group is the group's 1.
pub trait Examples: Sync {
    /// Number of examples.
    fn len(&self) -> usize;
    /// Whether there are none.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Numbers in one input row.
    fn input_size(&self) -> usize;
    /// Numbers in one target row (a multiple of `class_count`).
    fn target_size(&self) -> usize;
    /// Width of one one-hot group of a target row.
    fn class_count(&self) -> usize;
    /// Writes examples `idx` into `x: [idx.len(), input_size]` and `y: [idx.len(), target_size]`.
    fn fill(&self, idx: &[usize], x: &mut [f32], y: &mut [f32]);
    /// Hints that examples `idx` come next (e.g. to prefetch them into the CPU's caches).
    fn prefetch(&self, _idx: &[usize]) {}
    /// The examples `range` as stored, if they are bytes (`[range.len(), input_size]`
    /// row-major, x = byte/255), their one-hot targets written into `y`; `None` otherwise
    /// (then use [`fill`](Examples::fill)). Panics if y has the wrong length.
    fn bytes_and_targets(&self, _range: std::ops::Range<usize>, _y: &mut [f32]) -> Option<&[u8]> {
        None
    }
    /// All the examples as stored, if they are bytes (`[len, input_size]` row-major,
    /// x = byte/255); `None` otherwise.
    fn stored_bytes(&self) -> Option<&[u8]> {
        None
    }
    /// [`fill`](Examples::fill), and [`prefetch`](Examples::prefetch) of `next`, with the
    /// inputs' columns `cut..` written by the helper of the team the calling thread leads, where
    /// the first layer will read them ([`crate::layers::Layer::input_cut`]). By default all
    /// here.
    fn fill_cut(&self, idx: &[usize], next: &[usize], _cut: usize, x: &mut [f32], y: &mut [f32]) {
        self.prefetch(next);
        self.fill(idx, x, y);
    }
    /// The shape of an image, if the examples are images that random distortions suit.
    fn image_shape(&self) -> Option<Shape> {
        None
    }
}

impl Examples for Dataset {
    fn len(&self) -> usize {
        Dataset::len(self)
    }

    fn input_size(&self) -> usize {
        Dataset::input_size(self)
    }

    fn target_size(&self) -> usize {
        self.class_count()
    }

    fn class_count(&self) -> usize {
        Dataset::class_count(self)
    }

    fn fill(&self, idx: &[usize], x: &mut [f32], y: &mut [f32]) {
        self.fill_batch(idx, x, y);
    }

    fn prefetch(&self, idx: &[usize]) {
        Dataset::prefetch(self, idx);
    }

    fn fill_cut(&self, idx: &[usize], next: &[usize], cut: usize, x: &mut [f32], y: &mut [f32]) {
        self.fill_batch_cut(idx, next, cut, x, y);
    }

    fn bytes_and_targets(&self, range: std::ops::Range<usize>, y: &mut [f32]) -> Option<&[u8]> {
        let (p, k) = (self.input_size(), self.class_count());
        let Features::Bytes(bytes) = &self.features else { return None };
        assert_eq!(y.len(), range.len() * k, "y must hold {} one-hot rows of {k}", range.len());
        self.write_targets(range.clone(), y);
        Some(&bytes[range.start * p..range.end * p])
    }

    fn stored_bytes(&self) -> Option<&[u8]> {
        self.all_bytes()
    }

    fn image_shape(&self) -> Option<Shape> {
        let image =
            matches!(self.features, Features::Bytes(_)) && self.shape.height > 1 && self.shape.width > 1;
        image.then_some(self.shape)
    }
}
