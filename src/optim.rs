//! Gradient descent: the update that follows each mini-batch's backprop.

use crate::layers::{FusedStep, SparseTraining};
use crate::network::{Network, Workspace};
use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};

/// The regularisation terms of chapter 3, added to the cost C₀ over a training set of `n`:
/// C = C₀ + (λ/2n) Σ w² + (λ₁/n) Σ |w|, over weights only (not biases).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Regulariser {
    /// λ, the L2 (weight decay) strength.
    pub lambda: f32,
    /// λ₁, the L1 strength.
    pub l1: f32,
    /// n, the size of the whole training set.
    pub n: usize,
}

impl Regulariser {
    /// The added cost (λ/2n) Σ w² + (λ₁/n) Σ |w| of the network's current weights.
    pub fn penalty(&self, net: &Network) -> f64 {
        if self.lambda == 0.0 && self.l1 == 0.0 {
            return 0.0;
        }
        let (mut sq, mut abs) = (0.0f64, 0.0f64);
        for (p, regularised) in net.params().zip(net.regularised()) {
            if regularised {
                for &w in p.iter() {
                    sq += (w as f64) * (w as f64);
                    abs += (w as f64).abs();
                }
            }
        }
        let n = self.n.max(1) as f64;
        self.lambda as f64 / (2.0 * n) * sq + self.l1 as f64 / n * abs
    }

    /// ∂C/∂w for one number: the batch mean of backprop's sum `nabla`, plus the terms'
    /// derivatives (λ/n) w + (λ₁/n) sgn(w) where `regularised`.
    #[inline]
    pub fn gradient(&self, w: f32, nabla: f32, inv_batch: f32, regularised: bool) -> f32 {
        let g = nabla * inv_batch;
        if !regularised {
            return g;
        }
        let n = self.n.max(1) as f32;
        let sgn = if w > 0.0 {
            1.0
        } else if w < 0.0 {
            -1.0
        } else {
            0.0
        };
        g + self.lambda / n * w + self.l1 / n * sgn
    }
}

/// How a gradient becomes a step.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Rule {
    /// w ← w − η∇C, or with momentum μ (chapter 3): v ← μv − η∇C, w ← w + v.
    #[default]
    Sgd,
    /// Adam (Kingma & Ba, 2015): running means of the gradient (β₁) and of its square (β₂),
    /// bias-corrected; w ← w − η m̂ / (√v̂ + ε).
    Adam { beta1: f32, beta2: f32, eps: f32 },
    /// RMSProp (Hinton's lecture 6e): v ← ρv + (1 − ρ)g², w ← w − η g / (√v + ε).
    RmsProp { rho: f32, eps: f32 },
}

impl Rule {
    /// Adam with the paper's defaults: β₁ = 0.9, β₂ = 0.999, ε = 10⁻⁸.
    pub const ADAM: Rule = Rule::Adam { beta1: 0.9, beta2: 0.999, eps: 1e-8 };
    /// RMSProp with ρ = 0.9, ε = 10⁻⁸.
    pub const RMSPROP: Rule = Rule::RmsProp { rho: 0.9, eps: 1e-8 };

    /// A learning rate that suits the rule when none is given: 3.0 for SGD (network.py's),
    /// 0.001 for Adam and RMSProp.
    pub fn default_eta(self) -> f32 {
        match self {
            Rule::Sgd => 3.0,
            _ => 0.001,
        }
    }
}

/// The optimiser: gradient descent over mini-batches with one of the update [`Rule`]s (plain
/// SGD, momentum, Adam, RMSProp), L1/L2 regularisation, and optional clipping of the
/// gradient's global norm.
///
/// Plain SGD with L2 reads as the book's w ← (1 − ηλ/n) w − (η/m) Σ_x ∂C_x/∂w.
#[derive(Clone, Debug)]
pub struct Optimizer {
    /// η, the learning rate.
    pub eta: f32,
    /// μ, the momentum coefficient (0 for plain SGD; only with [`Rule::Sgd`]).
    pub momentum: f32,
    pub regulariser: Regulariser,
    pub rule: Rule,
    /// Scale the whole gradient down to this norm when it is longer (None: never).
    pub clip: Option<f32>,
    /// Per parameter tensor: velocities (momentum), or first and second moments (Adam,
    /// RMSProp uses the second); made at the first step.
    first: Vec<Vec<f32>>,
    second: Vec<Vec<f32>>,
    /// Steps taken (Adam's bias correction).
    t: i32,
    /// Which parameter tensors take regularisation ([`Network::regularised`]), once known.
    regularised: Vec<bool>,
}

/// What an [`Optimizer`] carries from one mini-batch to the next besides the parameters: η (a
/// schedule may have lowered it), the steps taken, and per parameter tensor the velocities or
/// moments (empty before the first step, and for rules that keep none). Enough, with the
/// network, to go on exactly where it stopped ([`Optimizer::restore`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OptimizerState {
    pub eta: f32,
    pub t: i32,
    /// Momentum's velocities, or Adam's first moments.
    pub first: Vec<Vec<f32>>,
    /// Adam's and RMSProp's second moments.
    pub second: Vec<Vec<f32>>,
}

impl Optimizer {
    /// Its state, to save (e.g. in a checkpoint).
    pub fn state(&self) -> OptimizerState {
        OptimizerState { eta: self.eta, t: self.t, first: self.first.clone(), second: self.second.clone() }
    }

    /// Takes up a saved state (of an optimiser with the same settings, for the same network).
    pub fn restore(&mut self, state: OptimizerState) {
        (self.eta, self.t, self.first, self.second) = (state.eta, state.t, state.first, state.second);
    }

    pub fn new(eta: f32, momentum: f32, regulariser: Regulariser) -> Self {
        Optimizer {
            eta,
            momentum,
            regulariser,
            rule: Rule::Sgd,
            clip: None,
            first: Vec::new(),
            second: Vec::new(),
            t: 0,
            regularised: Vec::new(),
        }
    }

    /// The same with another update rule and clipping.
    pub fn with_rule(mut self, rule: Rule, clip: Option<f32>) -> Self {
        self.rule = rule;
        self.clip = clip;
        self
    }

    /// Whether the step is plain SGD, which layers may fold into their backward pass.
    pub fn is_plain(&self) -> bool {
        self.rule == Rule::Sgd && self.momentum == 0.0 && self.regulariser.l1 == 0.0 && self.clip.is_none()
    }

    /// Plain SGD's step for a mini-batch of `m`, as layers fold it in.
    pub fn fused_step(&self, m: usize) -> FusedStep {
        let n = self.regulariser.n.max(1) as f32;
        FusedStep { rate: self.eta / m as f32, decay: 1.0 - self.eta * self.regulariser.lambda / n }
    }

    /// Learns from one mini-batch `x: [m, in]`, `y: [m, out]`: backprop, then the update.
    /// Plain SGD (no momentum, no L1, no clipping) takes [`Network::train_step`], which folds
    /// the update into backprop where a layer can; otherwise the gradients are formed and
    /// [`Optimizer::step`] applies them.
    pub fn train_batch(
        &mut self,
        net: &mut Network,
        ws: &mut Workspace,
        x: ArrayView2<f32>,
        y: ArrayView2<f32>,
    ) {
        let m = x.nrows();
        if self.is_plain() {
            net.train_step(ws, x, y, &self.fused_step(m));
        } else {
            net.backprop(ws, x, y);
            self.step(net, ws, m);
        }
    }

    /// [`train_batch`](Self::train_batch) for a mini-batch of byte examples that `sparse`
    /// has read ([`Network::train_step_sparse`]); only for plain SGD ([`is_plain`](Self::is_plain)).
    pub fn train_batch_sparse(
        &mut self,
        net: &mut Network,
        ws: &mut Workspace,
        sparse: &mut SparseTraining,
        y: ArrayView2<f32>,
    ) {
        assert!(self.is_plain(), "the first layer skips zero inputs under plain SGD only");
        net.train_step_sparse(ws, sparse, y, &self.fused_step(y.nrows()));
    }

    /// The length of the whole gradient ∂C/∂(every parameter), regularisation included, from
    /// the gradients in `ws` of a mini-batch of `batch`.
    pub fn gradient_norm(&self, net: &Network, ws: &Workspace, batch: usize) -> f32 {
        let (reg, inv_batch) = (self.regulariser, 1.0 / batch as f32);
        let mut sum = 0.0f64;
        for ((w, g), r) in net.params().zip(ws.grads()).zip(net.regularised()) {
            for (&w, &g) in w.iter().zip(g.iter()) {
                let g = reg.gradient(w, g, inv_batch, r) as f64;
                sum += g * g;
            }
        }
        sum.sqrt() as f32
    }

    /// Updates every parameter from the gradients in `ws` (left by backprop, or summed over
    /// replicas) of a mini-batch of `batch` examples. One pass over each parameter tensor; no
    /// allocation after the first step.
    pub fn step(&mut self, net: &mut Network, ws: &Workspace, batch: usize) {
        // Clipping: ∇C ← ∇C · min(1, clip/‖∇C‖), applied by scaling every gradient below.
        let scale = match self.clip {
            Some(clip) => {
                let norm = self.gradient_norm(net, ws, batch);
                if norm > clip { clip / norm } else { 1.0 }
            }
            None => 1.0,
        };
        self.t += 1;
        let (eta, mu, reg, rule, t) = (self.eta, self.momentum, self.regulariser, self.rule, self.t);
        let inv_batch = 1.0 / batch as f32;
        if self.regularised.is_empty() {
            // Once: which tensors take regularisation (no allocation in later steps).
            self.regularised = net.regularised().collect();
        }
        let regularised = std::mem::take(&mut self.regularised);
        for (i, ((w, g), &r)) in net.params_mut().zip(ws.grads()).zip(&regularised).enumerate() {
            let grad = |w: f32, g: f32| scale * reg.gradient(w, g, inv_batch, r);
            let state = |s: &mut Vec<Vec<f32>>| {
                if s.len() <= i {
                    s.resize_with(i + 1, Vec::new);
                }
                if s[i].len() != w.len() {
                    s[i] = vec![0.0; w.len()]; // first step only
                }
                std::mem::take(&mut s[i])
            };
            match rule {
                Rule::Sgd if mu == 0.0 => {
                    for (w, &g) in w.iter_mut().zip(g.iter()) {
                        *w -= eta * grad(*w, g);
                    }
                }
                Rule::Sgd => {
                    let mut v = state(&mut self.first);
                    for ((w, &g), v) in w.iter_mut().zip(g.iter()).zip(v.iter_mut()) {
                        *v = mu * *v - eta * grad(*w, g);
                        *w += *v;
                    }
                    self.first[i] = v;
                }
                Rule::Adam { beta1, beta2, eps } => {
                    let (mut m1, mut m2) = (state(&mut self.first), state(&mut self.second));
                    let (c1, c2) = (1.0 - beta1.powi(t), 1.0 - beta2.powi(t));
                    for ((w, &g), (m1, m2)) in
                        w.iter_mut().zip(g.iter()).zip(m1.iter_mut().zip(m2.iter_mut()))
                    {
                        let g = grad(*w, g);
                        *m1 = beta1 * *m1 + (1.0 - beta1) * g;
                        *m2 = beta2 * *m2 + (1.0 - beta2) * g * g;
                        *w -= eta * (*m1 / c1) / ((*m2 / c2).sqrt() + eps);
                    }
                    (self.first[i], self.second[i]) = (m1, m2);
                }
                Rule::RmsProp { rho, eps } => {
                    let mut m2 = state(&mut self.second);
                    for ((w, &g), m2) in w.iter_mut().zip(g.iter()).zip(m2.iter_mut()) {
                        let g = grad(*w, g);
                        *m2 = rho * *m2 + (1.0 - rho) * g * g;
                        *w -= eta * g / (m2.sqrt() + eps);
                    }
                    self.second[i] = m2;
                }
            }
        }
        self.regularised = regularised;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn l2_step_is_the_books_weight_decay() {
        // w ← (1 − ηλ/n) w − (η/m) nabla
        let reg = Regulariser { lambda: 5.0, l1: 0.0, n: 50_000 };
        let (eta, w, nabla, m) = (0.1f32, 0.7f32, 2.0f32, 10.0f32);
        let sgd = w - eta * reg.gradient(w, nabla, 1.0 / m, true);
        let book = (1.0 - eta * 5.0 / 50_000.0) * w - eta / m * nabla;
        assert!((sgd - book).abs() < 1e-7);
        // biases are not decayed
        assert_eq!(reg.gradient(w, nabla, 1.0 / m, false), nabla / m);
    }

    fn params(net: &Network) -> Vec<f32> {
        net.params().flat_map(|p| p.iter().copied()).collect()
    }

    /// For every kind of layer, the fused step (each layer's `backward_step`) moves the
    /// parameters exactly as backprop followed by the optimiser's step.
    #[test]
    fn the_fused_step_is_backprop_then_step() {
        use crate::{cost::Cost, layers::Init, layers::Shape, layers::parse_arch, network::Network};
        for arch in [
            "dense 4; dense 3",
            "conv 2 3x3; maxpool 2; dense 3",
            "lstm 3; softmax 3",
            "conv 2 3x3 same relu; avgpool 2; dropout 0.0; softmax 3",
        ] {
            let shape = Shape::new(1, 6, 5);
            let specs = parse_arch(arch, shape).unwrap();
            let cost = if arch.contains("softmax") { Cost::LogLikelihood } else { Cost::Quadratic };
            let mut net = Network::new(&specs, cost, Init::Scaled, &mut crate::seeded_rng(1)).unwrap();
            let x = ndarray::Array2::from_shape_fn((2, 30), |(i, j)| ((i * 7 + j) % 11) as f32 / 7.0);
            let y = ndarray::array![[1.0f32, 0.0, 0.0], [0.0, 0.0, 1.0]];
            let reg = Regulariser { lambda: 2.0, l1: 0.0, n: 10 };
            let mut fused = net.clone();
            let mut ws = fused.workspace(0);
            Optimizer::new(0.5, 0.0, reg).train_batch(&mut fused, &mut ws, x.view(), y.view());
            let mut ws = net.workspace(0);
            net.backprop(&mut ws, x.view(), y.view());
            Optimizer::new(0.5, 0.0, reg).step(&mut net, &ws, 2);
            let (got, want) = (params(&fused), params(&net));
            assert!(got.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-6), "{arch}: {got:?}\n{want:?}");
            assert_eq!(got.len(), specs.iter().map(|s| s.param_count()).sum::<usize>());
        }
    }

    /// One-parameter checks of the rules against their formulas.
    #[test]
    fn adam_and_rmsprop_first_steps() {
        use crate::{activation::Activation, cost::Cost, layers::Init, network::Network};
        let mut rng = crate::seeded_rng(2);
        let net0 = Network::dense(
            &[3, 2],
            Activation::Sigmoid,
            Activation::Sigmoid,
            Cost::Quadratic,
            Init::Scaled,
            &mut rng,
        )
        .unwrap();
        let x = ndarray::array![[0.5f32, -1.0, 2.0]];
        let y = ndarray::array![[1.0f32, 0.0]];
        for rule in [Rule::ADAM, Rule::RMSPROP] {
            let mut net = net0.clone();
            let before = params(&net);
            let mut ws = net.workspace(0);
            net.backprop(&mut ws, x.view(), y.view());
            let g: Vec<f32> = ws.grads().flat_map(|g| g.iter().copied()).collect();
            let mut opt = Optimizer::new(0.01, 0.0, Regulariser::default()).with_rule(rule, None);
            opt.step(&mut net, &ws, 1);
            for ((a, b), g) in params(&net).iter().zip(&before).zip(&g) {
                // Adam's first step is η·sign(g) (m̂ = g, v̂ = g²); RMSProp's is η·g/(√0.1·|g|).
                let want = match rule {
                    Rule::Adam { .. } => 0.01 * g.signum(),
                    _ => 0.01 * g / (0.1f32.sqrt() * g.abs() + 1e-8),
                };
                assert!((b - a - want).abs() < 1e-5, "{rule:?}: moved {} want {want}", b - a);
            }
        }
    }

    #[test]
    fn clipping_bounds_the_step() {
        use crate::{activation::Activation, cost::Cost, layers::Init, network::Network};
        let mut rng = crate::seeded_rng(2);
        let mut net = Network::dense(
            &[3, 2],
            Activation::Identity,
            Activation::Identity,
            Cost::Quadratic,
            Init::Large,
            &mut rng,
        )
        .unwrap();
        let x = ndarray::array![[50.0f32, -80.0, 20.0]];
        let y = ndarray::array![[1.0f32, 0.0]];
        let mut ws = net.workspace(0);
        net.backprop(&mut ws, x.view(), y.view());
        let mut opt = Optimizer::new(1.0, 0.0, Regulariser::default()).with_rule(Rule::Sgd, Some(0.5));
        assert!(opt.gradient_norm(&net, &ws, 1) > 1.0);
        let before = params(&net);
        opt.step(&mut net, &ws, 1);
        let moved: f32 = params(&net).iter().zip(&before).map(|(a, b)| (a - b).powi(2)).sum();
        assert!((moved.sqrt() - 0.5).abs() < 1e-4, "step length {}", moved.sqrt());
    }

    #[test]
    fn l1_pulls_towards_zero_by_a_constant() {
        let reg = Regulariser { lambda: 0.0, l1: 2.0, n: 100 };
        assert!((reg.gradient(0.5, 0.0, 1.0, true) - 0.02).abs() < 1e-9);
        assert!((reg.gradient(-3.0, 0.0, 1.0, true) + 0.02).abs() < 1e-9);
        assert_eq!(reg.gradient(0.0, 0.0, 1.0, true), 0.0);
    }
}
