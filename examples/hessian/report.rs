//! The plot (cost per iteration; the cost of H against the parameter count) and the docs
//! section, from what the three parts measured.

use crate::check::HessianCheck;
use crate::scaling::{Extrapolation, Timing, bytes, duration};
use crate::train::{Comparison, Trace};
use crate::{BOOK_EXAMPLES, BOOK_SIZES, RATES, STARTS, TARGETS, TIMING_EXAMPLES};
use nndl::plot::{Chart, Series};

/// Cost against log10 of the iteration: Newton's handful of iterations and gradient descent's
/// thousands on one readable axis. Iterations are thinned to about 100 per decade.
pub fn convergence_chart(runs: &[Trace]) -> Chart {
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
pub fn timing_chart(timings: &[Timing], book: &Extrapolation) -> Chart {
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

pub fn docs_body(
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
