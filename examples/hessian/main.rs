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

#[path = "../common/mod.rs"]
mod common;

mod check;
mod net;
mod report;
mod scaling;
mod solve;
mod train;

use check::check_hessian;
use net::{Data, Params};
use nndl::plot;
use report::{convergence_chart, docs_body, timing_chart};
use scaling::{Extrapolation, Timing, print_timings};
use train::compare_methods;

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
