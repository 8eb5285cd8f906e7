//! Flatten: images to vectors. Activations are already stored flat, so this only copies.

use super::{Layer, LayerSpec, Shape, Work};
use crate::buffer::Buf;
use ndarray::{ArrayView2, ArrayViewMut2};

/// `[batch, C·H·W] -> [batch, C·H·W]`, read as vectors from here on.
#[derive(Clone, Debug)]
pub struct Flatten {
    input: Shape,
}

/// The copy of the last forward pass's input.
struct FlattenWork {
    a: Buf,
    batch: usize,
}

impl Flatten {
    pub fn new(input: Shape) -> Self {
        Flatten { input }
    }
}

impl Layer for Flatten {
    fn spec(&self) -> LayerSpec {
        LayerSpec::Flatten { input: self.input }
    }

    fn work(&self, _seed: u64) -> Work {
        Work::new(&[], FlattenWork { a: Buf::default(), batch: 0 })
    }

    fn forward(&self, work: &mut Work, x: ArrayView2<f32>, _train: bool) {
        let (_, st) = work.parts::<FlattenWork>();
        st.batch = x.nrows();
        st.a.rows_mut(x.nrows(), x.ncols()).assign(&x);
    }

    fn output<'w>(&self, work: &'w Work) -> ArrayView2<'w, f32> {
        let st = work.state::<FlattenWork>();
        st.a.rows(st.batch, self.input.size())
    }

    fn backward(
        &self,
        _work: &mut Work,
        _x: ArrayView2<f32>,
        grad: ArrayViewMut2<f32>,
        _grad_is_delta: bool,
        grad_x: Option<ArrayViewMut2<f32>>,
    ) {
        if let Some(mut gx) = grad_x {
            gx.assign(&grad);
        }
    }

    fn clone_box(&self) -> Box<dyn Layer> {
        Box::new(self.clone())
    }
}
