//! The GMM objective of the standard AD benchmark (ADBench / GradBench), ported from its C++
//! as a C++ programmer writes it (scratch buffers declared once and rewritten for every point
//! and component, an integer counter walking the triangular factors), with its gradient
//! written by `#[backprop]` (`backprop_bench::gmm::gmm_objective_grad`): checked against
//! central differences and against the gradient written by hand, then used to fit the mixture
//! to its data by gradient ascent.
//!
//! Run with `cargo run --release -p backprop-bench --example gmm`.

use std::time::Instant;

use backprop::check_gradient;
use backprop_bench::gmm::{self, GmmInput, gmm_objective, gmm_objective_grad};

/// The objective at `p`, the parameters flattened (alphas, means, icf).
fn objective_at(at: &GmmInput, p: &[f64]) -> f64 {
    let (a, m) = (at.alphas.len(), at.means.len());
    gmm_objective(
        at.d,
        at.k,
        at.n,
        &p[..a],
        &p[a..a + m],
        &p[a + m..],
        &at.x,
        at.wishart,
    )
}

fn main() {
    // A small problem: the generated gradient against central differences and the hand one.
    let small = gmm::small(3);
    let (_, (da, dm, di)) = gmm_objective_grad(
        small.d,
        small.k,
        small.n,
        &small.alphas,
        &small.means,
        &small.icf,
        &small.x,
        small.wishart,
    );
    let flat: Vec<f64> = small
        .alphas
        .iter()
        .chain(&small.means)
        .chain(&small.icf)
        .copied()
        .collect();
    let analytic: Vec<f64> = da.iter().chain(&dm).chain(&di).copied().collect();
    let check = check_gradient(|p: &[f64]| objective_at(&small, p), &flat, &analytic);
    println!(
        "d = {}, K = {}, n = {}: gradient against central differences: {}",
        small.d,
        small.k,
        small.n,
        if check.passed() { "passed" } else { "FAILED" }
    );
    assert!(check.passed(), "{check}");

    // ADBench's 1k case (d = 10, K = 25, n = 1000): generated against hand, and the times.
    let mut at = gmm::bench();
    gmm::check(&at);
    let time = |f: &dyn Fn()| {
        let start = Instant::now();
        for _ in 0..20 {
            f();
        }
        start.elapsed().as_secs_f64() / 20.0 * 1e3
    };
    let objective = time(&|| {
        std::hint::black_box(gmm::objective(&at));
    });
    let generated = time(&|| {
        std::hint::black_box(gmm::generated(&at));
    });
    let hand = time(&|| {
        std::hint::black_box(gmm::hand(&at));
    });
    println!(
        "d = {}, K = {}, n = {}: generated and hand-written gradients agree; \
         objective {objective:.2} ms, generated gradient {generated:.2} ms ({:.2}x the \
         objective), hand-written {hand:.2} ms ({:.2}x)",
        at.d,
        at.k,
        at.n,
        generated / objective,
        hand / objective,
    );

    // Fit: the objective is a log-likelihood (plus ADBench's prior term), so gradient ascent on
    // the means and the mixture weights (the covariances stay).
    let rate = 2e-4;
    for step in 0..=200 {
        let (value, (da, dm, _)) = gmm::generated(&at);
        if step % 50 == 0 {
            println!("step {step:>3}  objective {value:.3}");
        }
        for (a, g) in at.alphas.iter_mut().zip(&da) {
            *a += rate * g;
        }
        for (m, g) in at.means.iter_mut().zip(&dm) {
            *m += rate * g;
        }
    }
}
