//! The lecture notes' worked examples, with the numbers the notes publish.

mod common;

use backprop::backprop;
use common::{assert_gradient_exact, c, dual_gradient};
use num_dual::{Dual64, DualNum};

/// The 2-D neuron of the notes: f(w, x) = 1 / (1 + e^-(w0 x0 + w1 x1 + w2)).
#[backprop]
fn neuron(w: [f64; 3], x: [f64; 2]) -> f64 {
    let dot = w[0] * x[0] + w[1] * x[1] + w[2];
    1.0 / (1.0 + (-dot).exp())
}

#[test]
fn neuron_gradient_is_the_published_one() {
    let (f, (dw, dx)) = neuron_grad([2.0, -3.0, -3.0], [-1.0, -2.0]);
    // The notes: f ≈ 0.73, dw ≈ [-0.20, -0.39, 0.20], dx ≈ [0.39, -0.59].
    assert!((f - 0.73).abs() < 0.005, "{f}");
    for (got, published) in dw.iter().zip([-0.20, -0.39, 0.20]) {
        assert!((got - published).abs() < 0.005, "dw = {dw:?}");
    }
    for (got, published) in dx.iter().zip([0.39, -0.59]) {
        assert!((got - published).abs() < 0.005, "dx = {dx:?}");
    }
    let at = [2.0, -3.0, -3.0, -1.0, -2.0];
    let reference = |v: &[Dual64]| (c(1.0) + (-(v[0] * v[3] + v[1] * v[4] + v[2])).exp()).recip();
    assert_gradient_exact(
        "neuron",
        &at,
        (f, (dw, dx)),
        dual_gradient(reference, &at),
        |p| neuron([p[0], p[1], p[2]], [p[3], p[4]]),
        1e-15,
    );
}

/// The staged f(x, y) = (x + σ(y)) / (σ(x) + (x + y)²) of the notes.
#[backprop]
fn staged(x: f64, y: f64) -> f64 {
    let sigy = 1.0 / (1.0 + (-y).exp()); // (1)
    let num = x + sigy; // (2)
    let sigx = 1.0 / (1.0 + (-x).exp()); // (3)
    let xpy = x + y; // (4)
    let xpysqr = xpy.powi(2); // (5)
    let den = sigx + xpysqr; // (6)
    let invden = 1.0 / den; // (7)
    num * invden // (8)
}

#[test]
fn staged_function_matches_dual_numbers_at_many_points() {
    let reference = |v: &[Dual64]| {
        let (x, y) = (v[0], v[1]);
        (x + (c(1.0) + (-y).exp()).recip()) / ((c(1.0) + (-x).exp()).recip() + (x + y).powi(2))
    };
    for at in [[3.0, -4.0], [0.5, 0.5], [-2.0, 1.0], [10.0, -10.5]] {
        assert_gradient_exact(
            "staged",
            &at,
            staged_grad(at[0], at[1]),
            dual_gradient(reference, &at),
            |p| staged(p[0], p[1]),
            1e-14,
        );
    }
}

#[test]
fn staged_backward_walks_the_lines_in_reverse_with_plus_equals_at_forks() {
    let source = staged_backward_source();
    let backward: Vec<&str> = source
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("d_") || l.starts_with("let d_") || l.starts_with("let mut d_"))
        .collect();
    // One line per (forward line, differentiable operand), in reverse order of the forward
    // lines (8) .. (1), as in the notes.
    assert_eq!(
        backward,
        [
            "let d_num = invden * d_out;",
            "let d_invden = num * d_out;",
            "let d_den = -invden / den * d_invden;",
            "let d_sigx = d_den;",
            "let d_xpysqr = d_den;",
            "let d_xpy = 2.0 * xpy * d_xpysqr;",
            "let mut d_x = d_xpy;",
            "let mut d_y = d_xpy;",
            "d_x += (1.0 - sigx) * sigx * d_sigx;",
            "d_x += d_num;",
            "let d_sigy = d_num;",
            "d_y += (1.0 - sigy) * sigy * d_sigy;",
        ]
    );
}
