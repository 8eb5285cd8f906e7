//! [`Buf`]: the f32 buffers the hot loops stream through, each starting on a 64-byte boundary.
//!
//! A cache line, and one AVX-512 vector, is 64 bytes. The dense forward kernel and the
//! elementwise loops load whole rows of weights and activations 16 floats at a time; with the
//! system allocator's 16-byte alignment every such load straddles two cache lines, which cost
//! 13% of an epoch of the chapter-1 net. So parameters, gradients and activations live in
//! `Buf`s, allocated as 64-byte blocks, and the library is as fast for a Rust user as for the
//! `nndl` binary, whatever allocator the program uses.

use ndarray::{ArrayView2, ArrayViewMut2};
use std::ops::{Deref, DerefMut};

/// 16 floats on a 64-byte boundary: the unit a [`Buf`] is allocated in.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[repr(C, align(64))]
struct Block([f32; 16]);

/// A growable array of f32 whose first element is 64-byte aligned. Derefs to `[f32]`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Buf {
    blocks: Vec<Block>,
    len: usize,
}

impl Buf {
    /// `len` zeros.
    pub fn zeros(len: usize) -> Self {
        Buf { blocks: vec![Block::default(); len.div_ceil(16)], len }
    }

    /// A copy of `values`.
    pub fn from_slice(values: &[f32]) -> Self {
        let mut b = Buf::zeros(values.len());
        b.copy_from_slice(values);
        b
    }

    /// Makes it `len` long, keeping what fits and filling new places with zeros. Allocates only
    /// when it grows past anything it held before.
    pub fn resize(&mut self, len: usize) {
        let blocks = len.div_ceil(16);
        if blocks > self.blocks.len() {
            self.blocks.resize(blocks, Block::default());
        }
        if len > self.len {
            // Places between the old and new length may hold old values: zero them.
            let old = self.len;
            self.len = len;
            self[old..].fill(0.0);
        } else {
            self.len = len;
        }
    }

    /// The buffer as a `[rows, cols]` matrix, row-major. Panics unless `rows · cols == len()`.
    pub fn view2(&self, rows: usize, cols: usize) -> ArrayView2<'_, f32> {
        ArrayView2::from_shape((rows, cols), self).expect("a Buf viewed with its own size")
    }

    /// The buffer as a mutable `[rows, cols]` matrix. Panics unless `rows · cols == len()`.
    pub fn view2_mut(&mut self, rows: usize, cols: usize) -> ArrayViewMut2<'_, f32> {
        ArrayViewMut2::from_shape((rows, cols), self).expect("a Buf viewed with its own size")
    }

    /// The first `rows` rows of `cols` as a matrix. Panics if the buffer holds fewer numbers.
    pub fn rows(&self, rows: usize, cols: usize) -> ArrayView2<'_, f32> {
        ArrayView2::from_shape((rows, cols), &self[..rows * cols]).expect("sizes agree")
    }

    /// The first `rows` rows of `cols`, growing the buffer if needed (never shrinking its
    /// allocation): a layer's per-batch buffer, sized by the batch it is given. Nothing is
    /// allocated once the largest batch has been seen.
    pub fn rows_mut(&mut self, rows: usize, cols: usize) -> ArrayViewMut2<'_, f32> {
        self.resize(rows * cols);
        self.view2_mut(rows, cols)
    }
}

impl Deref for Buf {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        // SAFETY: `Block` is `repr(C)` around `[f32; 16]` with no padding (64 bytes, align 64),
        // so `blocks` is `16 · blocks.len() ≥ len` contiguous, initialised f32.
        unsafe { std::slice::from_raw_parts(self.blocks.as_ptr().cast::<f32>(), self.len) }
    }
}

impl DerefMut for Buf {
    fn deref_mut(&mut self) -> &mut [f32] {
        // SAFETY: as in `deref`, and `&mut self` makes the slice the only access.
        unsafe { std::slice::from_raw_parts_mut(self.blocks.as_mut_ptr().cast::<f32>(), self.len) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_zeroed_and_growing_keeps_values() {
        let mut b = Buf::zeros(5);
        assert_eq!(b.as_ptr() as usize % 64, 0);
        assert_eq!(&b[..], &[0.0; 5]);
        b.copy_from_slice(&[1.0, 2.0, 3.0, 4.0, 5.0]);
        b.resize(3);
        b.resize(40);
        assert_eq!(b.as_ptr() as usize % 64, 0);
        assert_eq!(&b[..5], &[1.0, 2.0, 3.0, 0.0, 0.0]);
        assert!(b[5..].iter().all(|&v| v == 0.0));
        let m = b.rows_mut(4, 10);
        assert_eq!(m.dim(), (4, 10));
        assert_eq!(Buf::from_slice(&[7.0; 33]).view2(3, 11)[[2, 10]], 7.0);
        assert!(Buf::zeros(0).is_empty());
    }
}
