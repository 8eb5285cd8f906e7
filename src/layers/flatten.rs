//! Flatten: images to vectors. Activations are already stored flat, so this only copies.

use super::{Layer, LayerSpec, Param, Shape, rows_mut};
use crate::optim::SgdStep;
use ndarray::{Array2, ArrayView2, ArrayViewMut2, s};

/// `[batch, C·H·W] -> [batch, C·H·W]`, read as vectors from here on.
#[derive(Clone, Debug)]
pub struct Flatten {
    input: Shape,
    a: Array2<f32>,
    batch: usize,
}

impl Flatten {
    pub fn new(input: Shape) -> Self {
        Flatten { input, a: Array2::zeros((0, 0)), batch: 0 }
    }
}

impl Layer for Flatten {
    fn spec(&self) -> LayerSpec {
        LayerSpec::Flatten { input: self.input }
    }

    fn forward(&mut self, x: ArrayView2<f32>, _train: bool) {
        self.batch = x.nrows();
        rows_mut(&mut self.a, x.nrows(), x.ncols()).assign(&x);
    }

    fn output(&self) -> ArrayView2<'_, f32> {
        self.a.slice(s![..self.batch, ..])
    }

    fn backward(
        &mut self,
        _x: ArrayView2<f32>,
        grad: ArrayViewMut2<f32>,
        _grad_is_delta: bool,
        grad_x: Option<ArrayViewMut2<f32>>,
        _update: Option<&SgdStep>,
    ) {
        if let Some(mut gx) = grad_x {
            gx.assign(&grad);
        }
    }

    fn visit_params(&mut self, _f: &mut dyn FnMut(Param<'_>)) {}

    fn clone_box(&self) -> Box<dyn Layer> {
        Box::new(self.clone())
    }
}
