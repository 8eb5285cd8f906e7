//! The net: a fully connected sigmoid net's parameters, its forward pass, the quadratic cost and
//! its gradient by backprop, and (for part 1) the exact Hessian by Pearlmutter's R-operator.
//! Everything is in f64, one row per example.

use ndarray::{Array1, Array2, Axis};
use rand::Rng as _;
use rand_distr::{Distribution, StandardNormal};

/// A fully connected sigmoid net's parameters: `weights[l]` is `[n_{l+1}, n_l]` (entry `[j, k]`
/// joins neuron k of layer l to neuron j of layer l + 1) and `biases[l]` is `[n_{l+1}]`.
///
/// Anything shaped like the parameters uses it too: gradients, directions v, products Hv.
#[derive(Clone, Debug)]
pub struct Params {
    weights: Vec<Array2<f64>>,
    biases: Vec<Array1<f64>>,
}

impl Params {
    /// All zeros, for a net of the given layer sizes.
    pub fn zeros(sizes: &[usize]) -> Params {
        Params {
            weights: sizes.windows(2).map(|w| Array2::zeros((w[1], w[0]))).collect(),
            biases: sizes[1..].iter().map(|&n| Array1::zeros(n)).collect(),
        }
    }

    /// Weights and biases drawn from N(0, 1), the book's chapter-1 initialisation.
    pub fn random(sizes: &[usize], rng: &mut nndl::Rng) -> Params {
        let mut p = Params::zeros(sizes);
        for (w, b) in p.weights.iter_mut().zip(&mut p.biases) {
            w.mapv_inplace(|_| StandardNormal.sample(rng));
            b.mapv_inplace(|_| StandardNormal.sample(rng));
        }
        p
    }

    /// `[n_0, n_1, …]`.
    pub fn sizes(&self) -> Vec<usize> {
        std::iter::once(self.weights[0].ncols()).chain(self.biases.iter().map(|b| b.len())).collect()
    }

    /// How many numbers: the Hessian is `count × count`.
    pub fn count(&self) -> usize {
        self.weights.iter().map(|w| w.len()).sum::<usize>()
            + self.biases.iter().map(|b| b.len()).sum::<usize>()
    }

    /// All numbers in one vector: w of layer 1 row by row, b of layer 1, w of layer 2, ….
    /// This order numbers the rows and columns of H.
    pub fn to_vec(&self) -> Vec<f64> {
        let mut v = Vec::with_capacity(self.count());
        for (w, b) in self.weights.iter().zip(&self.biases) {
            v.extend(w.iter());
            v.extend(b.iter());
        }
        v
    }

    /// The inverse of [`Params::to_vec`], for a net with the given sizes.
    pub fn from_slice(sizes: &[usize], values: &[f64]) -> Params {
        let mut p = Params::zeros(sizes);
        let mut rest = values;
        for (w, b) in p.weights.iter_mut().zip(&mut p.biases) {
            let (for_w, after) = rest.split_at(w.len());
            w.iter_mut().zip(for_w).for_each(|(w, &v)| *w = v);
            let (for_b, after) = after.split_at(b.len());
            b.iter_mut().zip(for_b).for_each(|(b, &v)| *b = v);
            rest = after;
        }
        p
    }

    /// The unit vector e_i in parameter space: H·e_i is column i of H.
    fn unit(sizes: &[usize], count: usize, i: usize) -> Params {
        let mut v = vec![0.0; count];
        v[i] = 1.0;
        Params::from_slice(sizes, &v)
    }
}

/// Training examples, one per row: inputs `x` `[N, n_0]` and desired outputs `y` `[N, n_L]`.
pub struct Data {
    x: Array2<f64>,
    y: Array2<f64>,
}

impl Data {
    /// XOR: the four inputs of two bits, output 1 when exactly one is 1.
    pub fn xor() -> Data {
        Data {
            x: ndarray::array![[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]],
            y: ndarray::array![[0.0], [1.0], [1.0], [0.0]],
        }
    }

    /// `n` random examples for a net of `sizes`: inputs uniform in [0, 1), outputs 0 or 1.
    pub fn random(sizes: &[usize], n: usize, rng: &mut nndl::Rng) -> Data {
        let (inputs, outputs) = (sizes[0], sizes[sizes.len() - 1]);
        Data {
            x: Array2::from_shape_simple_fn((n, inputs), || rng.random::<f64>()),
            y: Array2::from_shape_simple_fn((n, outputs), || if rng.random::<bool>() { 1.0 } else { 0.0 }),
        }
    }

    /// n, the number of examples, by which the cost and its derivatives are averaged.
    fn n(&self) -> f64 {
        self.x.nrows() as f64
    }
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// σ'(z) = σ(z)(1 − σ(z)).
fn sigmoid_prime(z: f64) -> f64 {
    let s = sigmoid(z);
    s * (1.0 - s)
}

/// σ''(z) = σ'(z)(1 − 2σ(z)): the R-operator needs it where backprop uses σ'.
fn sigmoid_second(z: f64) -> f64 {
    sigmoid_prime(z) * (1.0 - 2.0 * sigmoid(z))
}

/// What a forward pass keeps for backprop: `zs[l]` is layer l + 1's weighted input and
/// `activations[l + 1]` its output, `[N, n_{l+1}]`; `activations[0]` is the input.
struct Forward {
    zs: Vec<Array2<f64>>,
    activations: Vec<Array2<f64>>,
}

/// a^l = σ(w^l a^{l−1} + b^l) (eq. 25), one row per example.
fn forward(p: &Params, x: &Array2<f64>) -> Forward {
    let mut activations = vec![x.clone()];
    let mut zs = Vec::new();
    for (w, b) in p.weights.iter().zip(&p.biases) {
        let z = activations[activations.len() - 1].dot(&w.t()) + b;
        activations.push(z.mapv(sigmoid));
        zs.push(z);
    }
    Forward { zs, activations }
}

/// The quadratic cost C = (1/2n) Σ_x ‖y(x) − a‖² (eq. 6).
pub fn cost(p: &Params, data: &Data) -> f64 {
    let a = forward(p, &data.x).activations.pop().expect("the output layer");
    (&a - &data.y).mapv(|d| d * d).sum() / (2.0 * data.n())
}

/// ∇C by backpropagation (chapter 2's four equations), averaged over the examples.
pub fn gradient(p: &Params, data: &Data) -> Params {
    let f = forward(p, &data.x);
    let top = p.weights.len() - 1;
    let mut grad = Params::zeros(&p.sizes());
    // BP1: δ^L = (a^L − y) ⊙ σ'(z^L), one row per example
    let mut delta = (&f.activations[top + 1] - &data.y) * f.zs[top].mapv(sigmoid_prime);
    for l in (0..=top).rev() {
        // BP4: ∂C/∂w_jk = a_k^{l−1} δ_j^l; BP3: ∂C/∂b_j = δ_j^l (summed over rows, then / n)
        grad.weights[l] = delta.t().dot(&f.activations[l]) / data.n();
        grad.biases[l] = delta.sum_axis(Axis(0)) / data.n();
        if l > 0 {
            // BP2: δ^{l−1} = ((w^l)ᵀ δ^l) ⊙ σ'(z^{l−1})
            delta = delta.dot(&p.weights[l]) * f.zs[l - 1].mapv(sigmoid_prime);
        }
    }
    grad
}

// ---------------------------------------------------------------------------------------------
// Part 1: the exact Hessian.
// ---------------------------------------------------------------------------------------------

/// H·v, exactly, by Pearlmutter's R-operator (Neural Computation, 1994).
///
/// R{f} = d/dε f(w + εv) at ε = 0 is a directional derivative. Applied to ∇C it gives
/// R{∇C} = H·v. It obeys the rules of calculus, so it can be pushed through every line of the
/// forward pass and of backprop, giving one more pass of each: the cost is about that of two
/// gradients, and the result is exact (no step size, unlike finite differences).
fn hessian_vector(p: &Params, v: &Params, data: &Data) -> Params {
    let f = forward(p, &data.x);
    let top = p.weights.len() - 1;
    let sp: Vec<Array2<f64>> = f.zs.iter().map(|z| z.mapv(sigmoid_prime)).collect();
    let spp: Vec<Array2<f64>> = f.zs.iter().map(|z| z.mapv(sigmoid_second)).collect();

    // Forward: R{a^0} = 0 (the input does not depend on w);
    // z^l = a^{l−1}·(w^l)ᵀ + b^l  ⇒  R{z^l} = R{a^{l−1}}·(w^l)ᵀ + a^{l−1}·(v_w^l)ᵀ + v_b^l;
    // a^l = σ(z^l)  ⇒  R{a^l} = σ'(z^l) ⊙ R{z^l}.
    let mut r_a = vec![Array2::zeros(data.x.raw_dim())];
    let mut r_z = Vec::new();
    for l in 0..=top {
        let rz = r_a[l].dot(&p.weights[l].t()) + f.activations[l].dot(&v.weights[l].t()) + &v.biases[l];
        r_a.push(&rz * &sp[l]);
        r_z.push(rz);
    }

    // Backward, beside each of backprop's equations its R.
    let mut hv = Params::zeros(&p.sizes());
    let error = &f.activations[top + 1] - &data.y;
    // BP1: δ^L = (a^L − y) ⊙ σ'(z^L)  ⇒  R{δ^L} = R{a^L} ⊙ σ'(z^L) + (a^L − y) ⊙ σ''(z^L) ⊙ R{z^L}
    let mut delta = &error * &sp[top];
    let mut r_delta = &r_a[top + 1] * &sp[top] + &error * &spp[top] * &r_z[top];
    for l in (0..=top).rev() {
        // BP4: ∇w^l = (δ^l)ᵀ·a^{l−1}  ⇒  R{∇w^l} = R{δ^l}ᵀ·a^{l−1} + (δ^l)ᵀ·R{a^{l−1}}
        hv.weights[l] = (r_delta.t().dot(&f.activations[l]) + delta.t().dot(&r_a[l])) / data.n();
        // BP3: ∇b^l = δ^l  ⇒  R{∇b^l} = R{δ^l}
        hv.biases[l] = r_delta.sum_axis(Axis(0)) / data.n();
        if l > 0 {
            // BP2: δ^{l−1} = (δ^l·w^l) ⊙ σ'(z^{l−1})  ⇒
            // R{δ^{l−1}} = (R{δ^l}·w^l + δ^l·v_w^l) ⊙ σ'(z^{l−1}) + (δ^l·w^l) ⊙ σ''(z^{l−1}) ⊙ R{z^{l−1}}
            let back = delta.dot(&p.weights[l]);
            let r_back = r_delta.dot(&p.weights[l]) + delta.dot(&v.weights[l]);
            r_delta = r_back * &sp[l - 1] + &back * &spp[l - 1] * &r_z[l - 1];
            delta = back * &sp[l - 1];
        }
    }
    hv
}

/// The whole Hessian, `[P, P]` for P parameters: column i is H·e_i, one R-operator pass each.
pub fn hessian(p: &Params, data: &Data) -> Array2<f64> {
    let (sizes, count) = (p.sizes(), p.count());
    let mut h = Array2::zeros((count, count));
    for i in 0..count {
        let column = hessian_vector(p, &Params::unit(&sizes, count, i), data).to_vec();
        h.column_mut(i).assign(&Array1::from(column));
    }
    h
}
