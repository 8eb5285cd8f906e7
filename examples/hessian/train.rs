//! Part 2: Newton's method (damped: Levenberg–Marquardt) against gradient descent and momentum
//! on XOR, those two at their best learning rates, from one start and then from further ones.

use crate::net::{Data, Params, cost, gradient, hessian};
use crate::solve::damped_newton_step;
use crate::{MOMENTUM, RATES, STARTS, TARGETS, XOR_SIZES};

/// How a net is trained in part 2.
#[derive(Clone, Copy, Debug)]
pub enum Method {
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
    pub fn eta_text(self) -> String {
        match self {
            Method::Newton => "-".into(),
            Method::GradientDescent { eta } | Method::Momentum { eta } => format!("{eta}"),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Method::Newton => "Newton (damped)",
            Method::GradientDescent { .. } => "gradient descent",
            Method::Momentum { .. } => "momentum",
        }
    }

    /// For the plot's legend: the name and the rates.
    pub fn label(self) -> String {
        match self {
            Method::Newton => self.name().into(),
            Method::GradientDescent { eta } => format!("{}, η = {eta}", self.name()),
            Method::Momentum { eta } => format!("{}, η = {eta}, μ = {MOMENTUM}", self.name()),
        }
    }
}

/// A training run: its cost before any step (`costs[0]`) and after each iteration.
pub struct Trace {
    pub method: Method,
    pub costs: Vec<f64>,
    /// Newton only: no damped step lowered the cost any more (a minimum or a saddle).
    pub stuck: bool,
    /// Newton only: linear systems solved (several in an iteration when λ had to grow).
    pub solves: usize,
}

impl Trace {
    /// The first iteration after which the cost was below `target`.
    pub fn iterations_to(&self, target: f64) -> Option<usize> {
        self.costs.iter().position(|&c| c < target)
    }

    /// Iterations to `target` as text: a number, or "-" if never reached.
    pub fn iterations_text(&self, target: f64) -> String {
        self.iterations_to(target).map_or_else(|| "-".to_string(), |i| i.to_string())
    }

    pub fn final_cost(&self) -> f64 {
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
pub fn compare_methods(
    start: &Params,
    data: &Data,
    max_iterations: usize,
    rng: &mut nndl::Rng,
) -> Comparison {
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
pub struct StartsSummary {
    pub reached: Vec<(Method, usize)>,
    /// The costs at which Newton's runs stopped, unable to lower the cost.
    pub newton_stuck: Vec<f64>,
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
pub struct Comparison {
    pub runs: Vec<Trace>,
    pub starts: StartsSummary,
}
