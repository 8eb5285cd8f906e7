//! Part 3: what the exact Hessian costs as the net grows — the time to form and to solve H on
//! nets of a few sizes, extrapolated to the book's [784, 30, 10], and the table of it.

use crate::common;
use crate::net::{Data, Params, gradient, hessian};
use crate::solve::damped_newton_step;
use crate::{BOOK_EXAMPLES, BOOK_SIZES, TIMING_EXAMPLES};
use std::time::Instant;

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
pub struct Timing {
    pub sizes: Vec<usize>,
    pub params: usize,
    pub gradient: f64,
    pub form: f64,
    pub solve: f64,
}

impl Timing {
    pub fn measure(sizes: &[usize], rng: &mut nndl::Rng) -> Timing {
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
pub struct Extrapolation {
    pub params: usize,
    /// One gradient (∝ P), with [`TIMING_EXAMPLES`] examples.
    pub gradient: f64,
    /// Forming H with [`TIMING_EXAMPLES`] examples, and with the book's 50,000.
    pub form_few: f64,
    pub form_all: f64,
    pub solve: f64,
}

impl Extrapolation {
    pub fn to_book(largest: &Timing) -> Extrapolation {
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
pub fn duration(seconds: f64) -> String {
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
pub fn bytes(n: f64) -> String {
    match n {
        n if n < 1e3 => format!("{n:.0} B"),
        n if n < 1e6 => format!("{:.1} kB", n / 1e3),
        n if n < 1e9 => format!("{:.1} MB", n / 1e6),
        n => format!("{:.2} GB", n / 1e9),
    }
}

pub fn print_timings(timings: &[Timing], book: &Extrapolation) {
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
