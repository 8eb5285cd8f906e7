//! Chapter 3's "Hessian technique": minimise the second-order Taylor expansion
//! C(w + Δw) ≈ C(w) + ∇C·Δw + ½ Δwᵀ H Δw, i.e. step Δw = −H⁻¹∇C, where H_jk = ∂²C/∂w_j∂w_k.
//! The book says it converges in fewer steps than gradient descent but that H is too big to
//! form for a real network. This experiment measures both claims:
//!
//! 1. the exact Hessian of a small net (a 2-2-1 sigmoid net on XOR, quadratic cost), by
//!    Pearlmutter's R-operator — one exact Hessian-vector product Hv per parameter, each costing
//!    about two backprops — checked against central differences of backprop gradients;
//! 2. Newton steps (damped: Levenberg–Marquardt) beside gradient descent and momentum from the
//!    same start, those two at their best learning rates: iterations to a few target costs, and
//!    how often each gets there from further random starts;
//! 3. the time and memory to form and solve H as the net grows, extrapolated to the book's
//!    [784, 30, 10].
//!
//! ```sh
//! cargo run --release --example hessian
//! ```
//!
//! Everything is in f64 (second derivatives and their finite-difference check need it), written
//! here with ndarray rather than the library's f32 layers. Shapes follow the library: a batch is
//! one row per example, and layer l computes z = a·wᵀ + b.

mod common;

use ndarray::{Array1, Array2, Axis, s};
use nndl::plot::{self, Chart, Series};
use rand::Rng as _;
use rand_distr::{Distribution, StandardNormal};
use std::time::Instant;

/// The small net of parts 1 and 2.
const XOR_SIZES: [usize; 3] = [2, 2, 1];
/// Part 2 counts the iterations to each of these costs; runs stop at the lowest.
const TARGETS: [f64; 3] = [1e-2, 1e-3, 1e-4];
/// Learning rates tried for gradient descent and for momentum; each is given its best.
const RATES: [f64; 8] = [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0];
/// Further random starts on which part 2's three methods are tried.
const STARTS: usize = 10;
/// The momentum coefficient μ of the book's momentum-based gradient descent.
const MOMENTUM: f64 = 0.9;
/// The step of the central differences that check the Hessian.
const FD_STEP: f64 = 1e-5;
/// Random examples that the nets of part 3 are measured on.
const TIMING_EXAMPLES: usize = 10;
/// The book's chapter-1 net and its training set, for the extrapolation.
const BOOK_SIZES: [usize; 3] = [784, 30, 10];
const BOOK_EXAMPLES: usize = 50_000;

fn main() {
    let opts = common::Opts::parse_for(
        "Chapter 3's Hessian technique: the exact Hessian by the R-operator, Newton's method against \
         gradient descent, and what forming H costs as the net grows",
    );
    let mut rng = nndl::seeded_rng(opts.seed);
    let data = Data::xor();
    let start = Params::random(&XOR_SIZES, &mut rng);

    let check = check_hessian(&start, &data);
    let max_iterations = if opts.quick { 20_000 } else { 100_000 };
    let comparison = compare_methods(&start, &data, max_iterations, &mut rng);

    let sizes: &[&[usize]] = if opts.quick {
        &[&[2, 2, 1], &[5, 5, 1], &[10, 10, 1], &[20, 20, 1]]
    } else {
        &[&[2, 2, 1], &[5, 5, 1], &[10, 10, 1], &[20, 20, 1], &[30, 30, 1], &[50, 30, 1], &[80, 30, 1]]
    };
    let timings: Vec<Timing> = sizes.iter().map(|s| Timing::measure(s, &mut rng)).collect();
    let book = Extrapolation::to_book(timings.last().expect("at least one size"));
    print_timings(&timings, &book);

    let path = opts.plot_path("hessian");
    common::check(
        plot::charts(&path, &[convergence_chart(&comparison.runs), timing_chart(&timings, &book)], 2),
        "drawing the plot",
    );
    common::wrote(&path);
    opts.write_section(
        "hessian",
        "The Hessian technique (chapter 3)",
        &docs_body(&check, &comparison, &timings, &book),
    );
}

// ---------------------------------------------------------------------------------------------
// The net: parameters, forward pass, cost, backprop.
// ---------------------------------------------------------------------------------------------

/// A fully connected sigmoid net's parameters: `weights[l]` is `[n_{l+1}, n_l]` (entry `[j, k]`
/// joins neuron k of layer l to neuron j of layer l + 1) and `biases[l]` is `[n_{l+1}]`.
///
/// Anything shaped like the parameters uses it too: gradients, directions v, products Hv.
#[derive(Clone, Debug)]
struct Params {
    weights: Vec<Array2<f64>>,
    biases: Vec<Array1<f64>>,
}

impl Params {
    /// All zeros, for a net of the given layer sizes.
    fn zeros(sizes: &[usize]) -> Params {
        Params {
            weights: sizes.windows(2).map(|w| Array2::zeros((w[1], w[0]))).collect(),
            biases: sizes[1..].iter().map(|&n| Array1::zeros(n)).collect(),
        }
    }

    /// Weights and biases drawn from N(0, 1), the book's chapter-1 initialisation.
    fn random(sizes: &[usize], rng: &mut nndl::Rng) -> Params {
        let mut p = Params::zeros(sizes);
        for (w, b) in p.weights.iter_mut().zip(&mut p.biases) {
            w.mapv_inplace(|_| StandardNormal.sample(rng));
            b.mapv_inplace(|_| StandardNormal.sample(rng));
        }
        p
    }

    /// `[n_0, n_1, …]`.
    fn sizes(&self) -> Vec<usize> {
        std::iter::once(self.weights[0].ncols()).chain(self.biases.iter().map(|b| b.len())).collect()
    }

    /// How many numbers: the Hessian is `count × count`.
    fn count(&self) -> usize {
        self.weights.iter().map(|w| w.len()).sum::<usize>()
            + self.biases.iter().map(|b| b.len()).sum::<usize>()
    }

    /// All numbers in one vector: w of layer 1 row by row, b of layer 1, w of layer 2, ….
    /// This order numbers the rows and columns of H.
    fn to_vec(&self) -> Vec<f64> {
        let mut v = Vec::with_capacity(self.count());
        for (w, b) in self.weights.iter().zip(&self.biases) {
            v.extend(w.iter());
            v.extend(b.iter());
        }
        v
    }

    /// The inverse of [`Params::to_vec`], for a net with the given sizes.
    fn from_slice(sizes: &[usize], values: &[f64]) -> Params {
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
struct Data {
    x: Array2<f64>,
    y: Array2<f64>,
}

impl Data {
    /// XOR: the four inputs of two bits, output 1 when exactly one is 1.
    fn xor() -> Data {
        Data {
            x: ndarray::array![[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]],
            y: ndarray::array![[0.0], [1.0], [1.0], [0.0]],
        }
    }

    /// `n` random examples for a net of `sizes`: inputs uniform in [0, 1), outputs 0 or 1.
    fn random(sizes: &[usize], n: usize, rng: &mut nndl::Rng) -> Data {
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
fn cost(p: &Params, data: &Data) -> f64 {
    let a = forward(p, &data.x).activations.pop().expect("the output layer");
    (&a - &data.y).mapv(|d| d * d).sum() / (2.0 * data.n())
}

/// ∇C by backpropagation (chapter 2's four equations), averaged over the examples.
fn gradient(p: &Params, data: &Data) -> Params {
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
fn hessian(p: &Params, data: &Data) -> Array2<f64> {
    let (sizes, count) = (p.sizes(), p.count());
    let mut h = Array2::zeros((count, count));
    for i in 0..count {
        let column = hessian_vector(p, &Params::unit(&sizes, count, i), data).to_vec();
        h.column_mut(i).assign(&Array1::from(column));
    }
    h
}

/// The Hessian again by central differences of backprop gradients, `[P, P]`: column i is
/// (∇C(w + h e_i) − ∇C(w − h e_i)) / 2h, accurate to about h² (and rounding of order ε/h).
fn hessian_by_differences(p: &Params, data: &Data) -> Array2<f64> {
    let (sizes, w) = (p.sizes(), p.to_vec());
    let mut h = Array2::zeros((w.len(), w.len()));
    for i in 0..w.len() {
        let moved = |by: f64| {
            let mut w = w.clone();
            w[i] += by;
            Array1::from(gradient(&Params::from_slice(&sizes, &w), data).to_vec())
        };
        h.column_mut(i).assign(&((moved(FD_STEP) - moved(-FD_STEP)) / (2.0 * FD_STEP)));
    }
    h
}

/// What part 1 found at the start point.
struct HessianCheck {
    params: usize,
    fd_difference: f64,
    largest_entry: f64,
    asymmetry: f64,
    positive_definite: bool,
}

/// Forms H both ways at `p` and compares them; prints the findings.
fn check_hessian(p: &Params, data: &Data) -> HessianCheck {
    let exact = hessian(p, data);
    let differences = hessian_by_differences(p, data);
    let check = HessianCheck {
        params: p.count(),
        fd_difference: (&exact - &differences).iter().fold(0.0, |m, d| m.max(d.abs())),
        largest_entry: exact.iter().fold(0.0, |m, d| m.max(d.abs())),
        asymmetry: (&exact - &exact.t()).iter().fold(0.0, |m, d| m.max(d.abs())),
        positive_definite: cholesky(&exact).is_some(),
    };
    println!(
        "1. The exact Hessian of the quadratic cost of a {XOR_SIZES:?} sigmoid net on XOR \
         ({} parameters), at a random start (N(0,1) weights):",
        check.params
    );
    println!(
        "   R-operator against central differences of backprop gradients (h = {FD_STEP:e}): \
         max |difference| = {:.1e} (largest entry {:.3})",
        check.fd_difference, check.largest_entry
    );
    println!("   symmetry: max |H_jk - H_kj| = {:.1e}", check.asymmetry);
    println!(
        "   positive definite: {}",
        if check.positive_definite { "yes" } else { "no (a pure Newton step need not go downhill)" }
    );
    check
}

// ---------------------------------------------------------------------------------------------
// Part 2: Newton's method against gradient descent.
// ---------------------------------------------------------------------------------------------

/// The Cholesky factor L of a symmetric `a` (`[n, n]`): a = L·Lᵀ with L lower triangular.
/// It exists exactly when `a` is positive definite; `None` otherwise. Costs n³/3 multiply-adds.
fn cholesky(a: &Array2<f64>) -> Option<Array2<f64>> {
    let n = a.nrows();
    let mut l = Array2::<f64>::zeros((n, n));
    for i in 0..n {
        for j in 0..=i {
            // a_ij = Σ_{k<j} l_ik l_jk + l_ij l_jj: everything but l_ij is known by now
            let known = l.slice(s![i, ..j]).dot(&l.slice(s![j, ..j]));
            let rest = a[[i, j]] - known;
            if i == j {
                if rest <= 0.0 {
                    return None;
                }
                l[[i, i]] = rest.sqrt();
            } else {
                l[[i, j]] = rest / l[[j, j]];
            }
        }
    }
    Some(l)
}

/// Solves (H + λI)·Δ = −g for the step Δ, or `None` if H + λI is not positive definite.
///
/// With λ = 0 this is Newton's step Δw = −H⁻¹∇C. Adding λI (Levenberg–Marquardt damping) helps
/// twice. Where H has negative eigenvalues (as at a random start), the pure Newton step jumps
/// to the quadratic model's saddle point, uphill along the directions of negative curvature;
/// with λ above the most negative eigenvalue, H + λI is positive definite and the step goes
/// downhill. And for large λ the step becomes −∇C/λ, a short step of gradient descent, so λ
/// also keeps steps short where the quadratic model is poor.
fn damped_newton_step(h: &Array2<f64>, g: &[f64], lambda: f64) -> Option<Vec<f64>> {
    let mut damped = h.clone();
    damped.diag_mut().mapv_inplace(|d| d + lambda);
    let l = cholesky(&damped)?;
    let n = g.len();
    // L·y = −g, forward substitution
    let mut y = vec![0.0; n];
    for i in 0..n {
        let known: f64 = (0..i).map(|k| l[[i, k]] * y[k]).sum();
        y[i] = (-g[i] - known) / l[[i, i]];
    }
    // Lᵀ·Δ = y, back substitution
    let mut step = vec![0.0; n];
    for i in (0..n).rev() {
        let known: f64 = (i + 1..n).map(|k| l[[k, i]] * step[k]).sum();
        step[i] = (y[i] - known) / l[[i, i]];
    }
    Some(step)
}

/// How a net is trained in part 2.
#[derive(Clone, Copy, Debug)]
enum Method {
    /// Damped Newton steps (Levenberg–Marquardt); no learning rate.
    Newton,
    /// w → w − η∇C.
    GradientDescent { eta: f64 },
    /// The book's momentum: v → μv − η∇C, w → w + v, with μ = [`MOMENTUM`].
    Momentum { eta: f64 },
}

impl Method {
    /// One word, as printed in the tables (and read by the tests).
    fn key(self) -> &'static str {
        match self {
            Method::Newton => "newton",
            Method::GradientDescent { .. } => "gradient-descent",
            Method::Momentum { .. } => "momentum",
        }
    }

    /// The learning rate, as text ("-" for Newton).
    fn eta_text(self) -> String {
        match self {
            Method::Newton => "-".into(),
            Method::GradientDescent { eta } | Method::Momentum { eta } => format!("{eta}"),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Method::Newton => "Newton (damped)",
            Method::GradientDescent { .. } => "gradient descent",
            Method::Momentum { .. } => "momentum",
        }
    }

    /// For the plot's legend: the name and the rates.
    fn label(self) -> String {
        match self {
            Method::Newton => self.name().into(),
            Method::GradientDescent { eta } => format!("{}, η = {eta}", self.name()),
            Method::Momentum { eta } => format!("{}, η = {eta}, μ = {MOMENTUM}", self.name()),
        }
    }
}

/// A training run: its cost before any step (`costs[0]`) and after each iteration.
struct Trace {
    method: Method,
    costs: Vec<f64>,
    /// Newton only: no damped step lowered the cost any more (a minimum or a saddle).
    stuck: bool,
    /// Newton only: linear systems solved (several in an iteration when λ had to grow).
    solves: usize,
}

impl Trace {
    /// The first iteration after which the cost was below `target`.
    fn iterations_to(&self, target: f64) -> Option<usize> {
        self.costs.iter().position(|&c| c < target)
    }

    /// Iterations to `target` as text: a number, or "-" if never reached.
    fn iterations_text(&self, target: f64) -> String {
        self.iterations_to(target).map_or_else(|| "-".to_string(), |i| i.to_string())
    }

    fn final_cost(&self) -> f64 {
        self.costs[self.costs.len() - 1]
    }
}

/// Trains from `start` until the cost is below `goal`, for at most `max_iterations`.
fn train(method: Method, start: &Params, data: &Data, goal: f64, max_iterations: usize) -> Trace {
    let mut trace = Trace { method, costs: vec![cost(start, data)], stuck: false, solves: 0 };
    match method {
        Method::Newton => newton(&mut trace, start, data, goal, max_iterations),
        Method::GradientDescent { eta } => {
            gradient_descent(&mut trace, start, data, (eta, 0.0), goal, max_iterations)
        }
        Method::Momentum { eta } => {
            gradient_descent(&mut trace, start, data, (eta, MOMENTUM), goal, max_iterations)
        }
    }
    trace
}

/// Levenberg–Marquardt: each iteration forms ∇C and H once, then tries the damped Newton step,
/// raising λ until the step lowers the cost; after a success λ is lowered again, so that where
/// the quadratic model is good the steps become Newton's own.
fn newton(trace: &mut Trace, start: &Params, data: &Data, goal: f64, max_iterations: usize) {
    let sizes = start.sizes();
    let mut w = start.to_vec();
    let mut lambda = 1e-3;
    while trace.costs.len() <= max_iterations && trace.final_cost() >= goal {
        let p = Params::from_slice(&sizes, &w);
        let (g, h) = (gradient(&p, data).to_vec(), hessian(&p, data));
        let mut accepted = None;
        while accepted.is_none() && lambda < 1e10 {
            trace.solves += 1;
            accepted = damped_newton_step(&h, &g, lambda)
                .map(|step| w.iter().zip(&step).map(|(w, d)| w + d).collect::<Vec<f64>>())
                .map(|trial| (cost(&Params::from_slice(&sizes, &trial), data), trial))
                .filter(|(trial_cost, _)| *trial_cost < trace.final_cost());
            lambda = if accepted.is_some() { (lambda / 3.0).max(1e-12) } else { lambda * 4.0 };
        }
        let Some((next_cost, next)) = accepted else {
            trace.stuck = true; // even tiny gradient-descent-like steps fail: ∇C ≈ 0 here
            return;
        };
        w = next;
        trace.costs.push(next_cost);
    }
}

/// Gradient descent with momentum μ (μ = 0: plain gradient descent), on all four examples at
/// once: v → μv − η∇C, w → w + v.
fn gradient_descent(
    trace: &mut Trace,
    start: &Params,
    data: &Data,
    (eta, momentum): (f64, f64),
    goal: f64,
    max_iterations: usize,
) {
    let sizes = start.sizes();
    let mut w = start.to_vec();
    let mut velocity = vec![0.0; w.len()];
    while trace.costs.len() <= max_iterations && trace.final_cost() >= goal {
        let g = gradient(&Params::from_slice(&sizes, &w), data).to_vec();
        for ((w, v), g) in w.iter_mut().zip(&mut velocity).zip(&g) {
            *v = momentum * *v - eta * g;
            *w += *v;
        }
        trace.costs.push(cost(&Params::from_slice(&sizes, &w), data));
    }
}

/// Gradient descent's speed depends on η, so each of the two is given its best rate from
/// [`RATES`]: the one that reaches the lowest target in the fewest iterations. Prints the sweep.
fn best_rate(make: fn(f64) -> Method, start: &Params, data: &Data, max_iterations: usize) -> Method {
    let lowest = TARGETS[TARGETS.len() - 1];
    let tried: Vec<(f64, Option<usize>)> = RATES
        .iter()
        .map(|&eta| (eta, train(make(eta), start, data, lowest, max_iterations).iterations_to(lowest)))
        .collect();
    let shown: Vec<String> =
        tried.iter().map(|(eta, n)| format!("{eta}: {}", n.map_or("-".into(), |n| n.to_string()))).collect();
    let best = tried.iter().filter_map(|&(eta, n)| n.map(|n| (n, eta))).min_by_key(|&(n, _)| n);
    let eta = best.map_or(RATES[0], |(_, eta)| eta);
    println!(
        "   {:<17} iterations to {lowest:e} by eta  {}  -> eta = {eta}",
        make(eta).key(),
        shown.join(", ")
    );
    make(eta)
}

/// Part 2: Newton against gradient descent and momentum, each at its best learning rate, from
/// the same start; then how often each gets there from further random starts.
fn compare_methods(start: &Params, data: &Data, max_iterations: usize, rng: &mut nndl::Rng) -> Comparison {
    println!(
        "\n2. Newton's method against gradient descent on XOR, from the same start (cost {:.4}); \
         at most {max_iterations} iterations:",
        cost(start, data)
    );
    let gd = best_rate(|eta| Method::GradientDescent { eta }, start, data, max_iterations);
    let momentum = best_rate(|eta| Method::Momentum { eta }, start, data, max_iterations);
    let lowest = TARGETS[TARGETS.len() - 1];
    let runs: Vec<Trace> = [Method::Newton, gd, momentum]
        .iter()
        .map(|&m| train(m, start, data, lowest, max_iterations))
        .collect();

    let heads: Vec<String> = TARGETS.iter().map(|t| format!("C<{t:e}")).collect();
    println!(
        "   {:<17} {:>5} {:>9} {:>9} {:>9} {:>11}",
        "method", "eta", heads[0], heads[1], heads[2], "final cost"
    );
    for run in &runs {
        let cells: Vec<String> = TARGETS.iter().map(|&t| run.iterations_text(t)).collect();
        println!(
            "   {:<17} {:>5} {:>9} {:>9} {:>9} {:>11.3e}",
            run.method.key(),
            run.method.eta_text(),
            cells[0],
            cells[1],
            cells[2],
            run.final_cost()
        );
    }
    println!(
        "   (iterations to each cost; '-': not reached. Newton solved {} linear systems.)",
        runs[0].solves
    );

    let starts = further_starts(&[Method::Newton, gd, momentum], data, max_iterations, rng);
    Comparison { runs, starts }
}

/// How many of [`STARTS`] further random starts each method trains below the middle target
/// from, and how many times Newton got stuck.
struct StartsSummary {
    reached: Vec<(Method, usize)>,
    /// The costs at which Newton's runs stopped, unable to lower the cost.
    newton_stuck: Vec<f64>,
}

fn further_starts(
    methods: &[Method],
    data: &Data,
    max_iterations: usize,
    rng: &mut nndl::Rng,
) -> StartsSummary {
    let goal = TARGETS[1];
    let starts: Vec<Params> = (0..STARTS).map(|_| Params::random(&XOR_SIZES, rng)).collect();
    let mut newton_stuck = Vec::new();
    let reached = methods
        .iter()
        .map(|&m| {
            let runs: Vec<Trace> = starts.iter().map(|s| train(m, s, data, goal, max_iterations)).collect();
            newton_stuck.extend(runs.iter().filter(|r| r.stuck).map(Trace::final_cost));
            (m, runs.iter().filter(|r| r.iterations_to(goal).is_some()).count())
        })
        .collect::<Vec<_>>();
    let shown: Vec<String> = reached.iter().map(|(m, n)| format!("{} {n}", m.key())).collect();
    let stuck: Vec<String> = newton_stuck.iter().map(|c| format!("{c:.4}")).collect();
    println!(
        "   From {STARTS} more random starts, runs reaching C < {goal:e}: {} (of {STARTS} each; \
         Newton stuck {} times, at costs [{}])",
        shown.join(", "),
        newton_stuck.len(),
        stuck.join(", ")
    );
    StartsSummary { reached, newton_stuck }
}

/// What part 2 found.
struct Comparison {
    runs: Vec<Trace>,
    starts: StartsSummary,
}

// ---------------------------------------------------------------------------------------------
// Part 3: what H costs as the net grows.
// ---------------------------------------------------------------------------------------------

/// Runs `f` repeatedly for at least 50 ms (once, if it is slower) and returns the mean time of
/// one call in seconds, with the last result.
fn timed<T>(mut f: impl FnMut() -> T) -> (f64, T) {
    let start = Instant::now();
    let mut calls = 0;
    loop {
        let result = f();
        calls += 1;
        let elapsed = start.elapsed().as_secs_f64();
        if elapsed >= 0.05 {
            return (elapsed / calls as f64, result);
        }
    }
}

/// Seconds for one gradient, for forming H and for one damped Newton solve, on a net of
/// `sizes` and [`TIMING_EXAMPLES`] random examples.
struct Timing {
    sizes: Vec<usize>,
    params: usize,
    gradient: f64,
    form: f64,
    solve: f64,
}

impl Timing {
    fn measure(sizes: &[usize], rng: &mut nndl::Rng) -> Timing {
        let p = Params::random(sizes, rng);
        let data = Data::random(sizes, TIMING_EXAMPLES, rng);
        let (gradient_time, g) = timed(|| gradient(&p, &data).to_vec());
        let (form, h) = timed(|| hessian(&p, &data));
        // Damping by the largest absolute row sum of H makes H + λI diagonally dominant, hence
        // positive definite (Gershgorin), so the solve is timed without failed attempts.
        let lambda =
            h.rows().into_iter().map(|r| r.iter().map(|v| v.abs()).sum::<f64>()).fold(0.0, f64::max) + 1e-6;
        let (solve, step) = timed(|| damped_newton_step(&h, &g, lambda));
        if step.is_none() {
            common::fail("a diagonally dominant matrix failed its Cholesky factorisation");
        }
        Timing { sizes: sizes.to_vec(), params: p.count(), gradient: gradient_time, form, solve }
    }
}

/// The largest measured net's times scaled to the book's [784, 30, 10]: forming H is P
/// Hessian-vector products each costing ∝ P per example, so ∝ P²·N; the Cholesky solve ∝ P³.
struct Extrapolation {
    params: usize,
    /// One gradient (∝ P), with [`TIMING_EXAMPLES`] examples.
    gradient: f64,
    /// Forming H with [`TIMING_EXAMPLES`] examples, and with the book's 50,000.
    form_few: f64,
    form_all: f64,
    solve: f64,
}

impl Extrapolation {
    fn to_book(largest: &Timing) -> Extrapolation {
        let params = Params::zeros(&BOOK_SIZES).count();
        let ratio = params as f64 / largest.params as f64;
        let form_few = largest.form * ratio.powi(2);
        Extrapolation {
            params,
            gradient: largest.gradient * ratio,
            form_few,
            form_all: form_few * (BOOK_EXAMPLES / TIMING_EXAMPLES) as f64,
            solve: largest.solve * ratio.powi(3),
        }
    }
}

/// "12 µs", "3.4 ms", "1.2 s", "5.1 min", "3.2 h" or "4.1 days".
fn duration(seconds: f64) -> String {
    match seconds {
        s if s < 1e-3 => format!("{:.0} µs", s * 1e6),
        s if s < 1.0 => format!("{:.1} ms", s * 1e3),
        s if s < 120.0 => format!("{s:.2} s"),
        s if s < 7200.0 => format!("{:.1} min", s / 60.0),
        s if s < 172_800.0 => format!("{:.1} h", s / 3600.0),
        s => format!("{:.1} days", s / 86_400.0),
    }
}

/// "648 B", "12.3 kB", "75.0 MB", "2.28 GB" (powers of 1000).
fn bytes(n: f64) -> String {
    match n {
        n if n < 1e3 => format!("{n:.0} B"),
        n if n < 1e6 => format!("{:.1} kB", n / 1e3),
        n if n < 1e9 => format!("{:.1} MB", n / 1e6),
        n => format!("{:.2} GB", n / 1e9),
    }
}

fn print_timings(timings: &[Timing], book: &Extrapolation) {
    println!(
        "\n3. The cost of the exact Hessian ({TIMING_EXAMPLES} random examples; H formed by one \
         R-operator pass per parameter, solved by Cholesky):"
    );
    println!(
        "   {:<14} {:>7} {:>12} {:>10} {:>10} {:>10} {:>10}",
        "sizes", "params", "H entries", "H (f64)", "gradient", "form H", "solve"
    );
    for t in timings {
        let entries = (t.params * t.params) as f64;
        println!(
            "   {:<14} {:>7} {:>12} {:>10} {:>10} {:>10} {:>10}",
            format!("{:?}", t.sizes),
            t.params,
            t.params * t.params,
            bytes(8.0 * entries),
            duration(t.gradient),
            duration(t.form),
            duration(t.solve)
        );
    }
    let entries = (book.params * book.params) as f64;
    println!(
        "   {:<14} {:>7} {:>12} {:>10} {:>10} {:>10} {:>10}   \
         (extrapolated: gradient ∝ P, form ∝ P², solve ∝ P³)",
        format!("{BOOK_SIZES:?}"),
        book.params,
        book.params * book.params,
        bytes(8.0 * entries),
        duration(book.gradient),
        duration(book.form_few),
        duration(book.solve)
    );
    println!(
        "   The book's net: {} parameters, {} Hessian entries, {} in f32 ({} in f64); forming H over \
         its {BOOK_EXAMPLES} training images would take about {}, and each Newton solve about {}.",
        book.params,
        book.params * book.params,
        bytes(4.0 * entries),
        bytes(8.0 * entries),
        duration(book.form_all),
        duration(book.solve)
    );
}

// ---------------------------------------------------------------------------------------------
// The plot and the docs.
// ---------------------------------------------------------------------------------------------

/// Cost against log10 of the iteration: Newton's handful of iterations and gradient descent's
/// thousands on one readable axis. Iterations are thinned to about 100 per decade.
fn convergence_chart(runs: &[Trace]) -> Chart {
    // The top decades are left empty for the legend, which is drawn in the top right corner.
    let lowest = runs.iter().flat_map(|r| r.costs.iter()).fold(f64::INFINITY, |m, &c| m.min(c));
    let mut chart = Chart::new(
        "XOR, 2-2-1 net: cost per iteration",
        "log10(iteration): 1 = 10, 2 = 100, 3 = 1000",
        "cost",
    )
    .log_y()
    .y_range(lowest / 2.0, 10.0);
    for run in runs {
        let mut points = Vec::new();
        let mut next = 1.0;
        for (i, &c) in run.costs.iter().enumerate().skip(1) {
            if i as f64 >= next || i + 1 == run.costs.len() {
                points.push(((i as f64).log10(), c));
                next = (i as f64 * 1.023).max(i as f64 + 1.0);
            }
        }
        chart = chart.with(Series::new(run.method.label(), points));
    }
    chart
}

/// Seconds against log10 of the parameter count, measured and extrapolated to the book's net.
fn timing_chart(timings: &[Timing], book: &Extrapolation) -> Chart {
    let line =
        |get: fn(&Timing) -> f64| timings.iter().map(|t| ((t.params as f64).log10(), get(t))).collect();
    let last = timings.last().expect("at least one size");
    let (from, to) = ((last.params as f64).log10(), (book.params as f64).log10());
    // Room above the lines for the legend: about a third of the height, on a log scale.
    let all = timings.iter().flat_map(|t| [t.gradient, t.form, t.solve]).chain([book.form_few, book.solve]);
    let (low, high) = all.fold((f64::INFINITY, 0.0f64), |(lo, hi), t| (lo.min(t), hi.max(t)));
    let top = high * (high / low).powf(0.6);
    let x_label = format!("log10(parameters)   (book's net: {to:.2})");
    Chart::new("Cost of the exact Hessian", x_label, "seconds")
        .log_y()
        .y_range(low / 2.0, top)
        .with(Series::new("one gradient (backprop)", line(|t| t.gradient)))
        .with(Series::new("form H (P products Hv)", line(|t| t.form)))
        .with(Series::new("solve (Cholesky)", line(|t| t.solve)))
        .with(Series::new("form H, extrapolated ∝ P²", vec![(from, last.form), (to, book.form_few)]))
        .with(Series::new("solve, extrapolated ∝ P³", vec![(from, last.solve), (to, book.solve)]))
}

fn docs_body(
    check: &HessianCheck,
    comparison: &Comparison,
    timings: &[Timing],
    book: &Extrapolation,
) -> String {
    let mut s = format!(
        "The book's Hessian technique replaces gradient descent's step by Δw = −H⁻¹∇C, the \
         minimum of the second-order Taylor expansion of the cost. On a [2, 2, 1] sigmoid net \
         learning XOR (quadratic cost, {} parameters, N(0, 1) start), the exact Hessian is formed \
         by Pearlmutter's R-operator — one exact Hessian-vector product per parameter, each a \
         forward and a backward pass with the derivative in a direction v carried alongside. \
         It agrees with central differences of backprop gradients to {:.1e} (entries up to \
         {:.2}) and is symmetric to {:.1e}. At the start it is {}positive definite.\n\n",
        check.params,
        check.fd_difference,
        check.largest_entry,
        check.asymmetry,
        if check.positive_definite { "" } else { "not " },
    );
    s += &comparison_docs(comparison);
    s += &format!(
        "\nThe book's caveat is the cost of H, measured in the right panel and here \
         ({TIMING_EXAMPLES} random examples per net; the solve is this example's plain Cholesky \
         factorisation, {:.1} GFLOP/s on the largest):\n\n\
         | sizes | parameters P | H entries | H in f64 | one gradient | form H | solve |\n\
         | --- | --- | --- | --- | --- | --- | --- |\n",
        cholesky_gflops(&timings[timings.len() - 1])
    );
    for t in timings {
        let entries = t.params * t.params;
        s += &format!(
            "| {:?} | {} | {} | {} | {} | {} | {} |\n",
            t.sizes,
            t.params,
            entries,
            bytes(8.0 * entries as f64),
            duration(t.gradient),
            duration(t.form),
            duration(t.solve)
        );
    }
    let entries = (book.params * book.params) as f64;
    s += &format!(
        "| {BOOK_SIZES:?} (extrapolated) | {} | {} | {} | {} | {} | {} |\n\n\
         Forming H takes P Hessian-vector products, each costing about {:.1} gradients here, so it \
         grows as P² per example; the Cholesky solve grows as P³. For the book's \
         [784, 30, 10] net, H has {} entries — {} in f32, {} in f64 (the book's own example, \
         10⁷ weights and biases, would have 10¹⁴) — forming it over the {BOOK_EXAMPLES} training \
         images would take about {} on this machine, and each solve about {}, where one gradient \
         over {TIMING_EXAMPLES} examples takes about {}.\n",
        book.params,
        book.params * book.params,
        bytes(8.0 * entries),
        duration(book.gradient),
        duration(book.form_few),
        duration(book.solve),
        products_per_gradient(&timings[timings.len() - 1]),
        book.params * book.params,
        bytes(4.0 * entries),
        bytes(8.0 * entries),
        duration(book.form_all),
        duration(book.solve),
        duration(book.gradient),
    );
    s
}

/// What one Hessian-vector product costs, in gradients: forming H is `params` of them.
fn products_per_gradient(t: &Timing) -> f64 {
    t.form / t.params as f64 / t.gradient
}

/// The solve's speed: a Cholesky factorisation of a P × P matrix takes P³/3 multiply-adds.
fn cholesky_gflops(t: &Timing) -> f64 {
    (t.params as f64).powi(3) / 3.0 * 2.0 / t.solve / 1e9
}

/// Part 2's table and findings, for the docs.
fn comparison_docs(comparison: &Comparison) -> String {
    let runs = &comparison.runs;
    let mut s = String::from(
        "Newton's damped steps (Levenberg–Marquardt: solve (H + λI)Δw = −∇C, raising λ until the \
         step lowers the cost) against gradient descent and momentum from the same start, each of \
         those at its best learning rate among ",
    );
    let rates: Vec<String> = RATES.iter().map(|r| r.to_string()).collect();
    s += &format!(
        "{} (the one that reached {:e} soonest). Iterations until the cost first fell below each \
         value ('-': not within the limit; left panel):\n\n\
         | method | η | C < {:e} | C < {:e} | C < {:e} | final cost |\n\
         | --- | --- | --- | --- | --- | --- |\n",
        rates.join(", "),
        TARGETS[2],
        TARGETS[0],
        TARGETS[1],
        TARGETS[2]
    );
    for run in runs {
        let cells: Vec<String> = TARGETS.iter().map(|&t| run.iterations_text(t)).collect();
        s += &format!(
            "| {} | {} | {} | {:.2e} |\n",
            run.method.name(),
            run.method.eta_text(),
            cells.join(" | "),
            run.final_cost()
        );
    }
    let reached: Vec<String> =
        comparison.starts.reached.iter().map(|(m, n)| format!("{} {n}", m.name())).collect();
    s += &format!(
        "\nEach Newton iteration forms and solves H (it solved {} linear systems in all). The book's \
         point holds: far fewer steps. Newton's method, though, heads for the nearest point where \
         ∇C = 0. From {STARTS} further random starts, the runs that reached C < {:e} within the \
         limit were: {} (of {STARTS} each; gradient descent and momentum at the rates chosen \
         above). ",
        runs[0].solves,
        TARGETS[1],
        reached.join("; "),
    );
    s += &stuck_docs(&comparison.starts.newton_stuck);
    s
}

/// Where Newton's runs from the further starts stopped, for the docs.
fn stuck_docs(costs: &[f64]) -> String {
    if costs.is_empty() {
        return "None of Newton's runs got stuck.\n".into();
    }
    let shown: Vec<String> = costs.iter().map(|c| format!("{c:.4}")).collect();
    format!(
        "Newton's runs stopped {} times, unable to lower the cost, at costs [{}] (1/16 = 0.0625 \
         is XOR's well-known local minimum, with two of the four outputs at ½).\n",
        costs.len(),
        shown.join(", ")
    )
}
