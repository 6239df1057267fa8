//! The programs the benchmarks differentiate, each in four variants with one signature:
//!
//! * `generated`: the `_grad` that `#[backprop]` wrote;
//! * `hand`: backward code transcribed by hand in the lecture notes' flat-backprop style
//!   (forward lines caching intermediates, then one local-gradient line per forward line in
//!   reverse order, `+=` at forks);
//! * `numeric`: central differences, [`backprop::numeric_gradient`];
//! * `dual`: forward mode with `num_dual::Dual64`, one pass per input.
//!
//! Every variant is `#[inline(never)]`, so the benchmark loop, the instruction-count binary and
//! the tests all call the same machine code, and no variant is inlined into its caller where
//! another is not. [`check`] asserts that all variants agree before anything is measured.
//!
//! The tensor programs (softmax cross-entropy, a two-layer net on ndarray, and two layers that
//! return arrays: affine + ReLU, the naive convolution on `Array4`) are in [`tensor`], in the
//! variants `generated` and `hand` only; the loop programs (the naive SVM loss over flat
//! slices, a taped scalar recurrence, a dot product) are in [`loops`], in the same two
//! variants; an Elman RNN on ndarray, its state carried by a loop over the time steps, is in
//! [`rnn`], in the same two; the ADBench GMM objective is in [`gmm`], in those two and
//! `objective` (the function alone). Second order: `staged` and `chain200` in [`modes`], the
//! full Hessian of the extended Rosenbrock function in [`hessian`], and the softmax loss of a
//! linear classifier on ndarray in [`softmax_hvp`] (`f_grad`, `f_hvp` and a hand-written HVP).
//! The two-layer net with its parameters in a `#[derive(Differentiable)]` struct, against the
//! same net with four array parameters, is in [`struct_params`].

use backprop::{backprop, numeric_gradient, relative_error};
use num_dual::{Dual64, DualNum};

pub mod gmm;
pub mod loops;
pub mod rnn;
pub mod softmax_hvp;
pub mod struct_params;
pub mod tensor;

/// Largest relative error accepted between two exact gradients (generated, hand, dual).
pub const EXACT: f64 = 1e-10;
/// Largest relative error accepted for central differences.
pub const NUMERIC: f64 = 1e-6;

/// Seeds a forward-mode pass: `value` with derivative `1.0` if `seed`, else `0.0`.
fn dual(value: f64, seed: bool) -> Dual64 {
    if seed {
        Dual64::from_re(value).derivative()
    } else {
        Dual64::from_re(value)
    }
}

/// Panics unless `a` and `b` agree component by component to `tolerance` (relative).
fn assert_close(what: &str, a: &[f64], b: &[f64], tolerance: f64) {
    assert_eq!(a.len(), b.len(), "{what}: gradient lengths differ");
    for (i, (&a, &b)) in a.iter().zip(b).enumerate() {
        assert!(a.is_finite() && b.is_finite(), "{what}[{i}]: {a} vs {b}");
        let error = relative_error(a, b);
        assert!(
            error <= tolerance,
            "{what}[{i}]: {a} vs {b}, relative error {error:e} > {tolerance:e}"
        );
    }
}

/// The lecture's staged function f(x, y) = (x + σ(y)) / (σ(x) + (x + y)²).
pub mod staged {
    use super::*;

    /// The point of the notes.
    pub const POINT: (f64, f64) = (3.0, -4.0);

    /// Gradient with respect to `(x, y)`.
    pub type Grad = (f64, f64);

    pub use crate::modes::{
        staged_forward as forward, staged_gradient as grad, staged_hvp_at as hvp,
        staged_jvp_at as jvp,
    };

    /// Written exactly as in `examples/staged.rs` (with `staged_jvp` and `staged_hvp`).
    #[backprop(jvp, hvp)]
    pub fn staged(x: f64, y: f64) -> f64 {
        let sigy = 1.0 / (1.0 + (-y).exp()); // (1)
        let num = x + sigy; // (2)
        let sigx = 1.0 / (1.0 + (-x).exp()); // (3)
        let xpy = x + y; // (4)
        let xpysqr = xpy.powi(2); // (5)
        let den = sigx + xpysqr; // (6)
        let invden = 1.0 / den; // (7)
        num * invden // (8)
    }

    #[inline(never)]
    pub fn generated(x: f64, y: f64) -> (f64, (f64, f64)) {
        staged_grad(x, y)
    }

    /// The notes' backward code for this function, line for line.
    #[inline(never)]
    pub fn hand(x: f64, y: f64) -> (f64, (f64, f64)) {
        // forward pass
        let sigy = 1.0 / (1.0 + (-y).exp()); // (1)
        let num = x + sigy; // (2)
        let sigx = 1.0 / (1.0 + (-x).exp()); // (3)
        let xpy = x + y; // (4)
        let xpysqr = xpy.powi(2); // (5)
        let den = sigx + xpysqr; // (6)
        let invden = 1.0 / den; // (7)
        let f = num * invden; // (8)
        // backprop f = num * invden
        let d_num = invden; // (8)
        let d_invden = num; // (8)
        // backprop invden = 1.0 / den
        let d_den = (-1.0 / den.powi(2)) * d_invden; // (7)
        // backprop den = sigx + xpysqr
        let d_sigx = d_den; // (6)
        let d_xpysqr = d_den; // (6)
        // backprop xpysqr = xpy**2
        let d_xpy = (2.0 * xpy) * d_xpysqr; // (5)
        // backprop xpy = x + y
        let mut d_x = d_xpy; // (4)
        let mut d_y = d_xpy; // (4)
        // backprop sigx = 1.0 / (1 + exp(-x))
        d_x += ((1.0 - sigx) * sigx) * d_sigx; // (3)
        // backprop num = x + sigy
        d_x += d_num; // (2)
        let d_sigy = d_num; // (2)
        // backprop sigy = 1.0 / (1 + exp(-y))
        d_y += ((1.0 - sigy) * sigy) * d_sigy; // (1)
        (f, (d_x, d_y))
    }

    #[inline(never)]
    pub fn numeric(x: f64, y: f64) -> (f64, (f64, f64)) {
        let g = numeric_gradient(|p: &[f64]| staged(p[0], p[1]), &[x, y]);
        (staged(x, y), (g[0], g[1]))
    }

    fn staged_dual(x: Dual64, y: Dual64) -> Dual64 {
        let sigy = ((-y).exp() + 1.0).recip();
        let num = x + sigy;
        let sigx = ((-x).exp() + 1.0).recip();
        let xpy = x + y;
        let xpysqr = xpy.powi(2);
        let den = sigx + xpysqr;
        let invden = den.recip();
        num * invden
    }

    #[inline(never)]
    pub fn dual(x: f64, y: f64) -> (f64, (f64, f64)) {
        let fx = staged_dual(super::dual(x, true), super::dual(y, false));
        let fy = staged_dual(super::dual(x, false), super::dual(y, true));
        (fx.re, (fx.eps, fy.eps))
    }

    /// Asserts that the four variants agree at `(x, y)`.
    pub fn check(x: f64, y: f64) {
        let flat = |(f, (a, b)): (f64, (f64, f64))| [f, a, b];
        let reference = flat(dual(x, y));
        assert_close(
            "staged generated",
            &flat(generated(x, y)),
            &reference,
            EXACT,
        );
        assert_close("staged hand", &flat(hand(x, y)), &reference, EXACT);
        assert_close("staged numeric", &flat(numeric(x, y)), &reference, NUMERIC);
    }
}

/// The notes' 2-input sigmoid neuron f(w, x) = σ(w₀x₀ + w₁x₁ + w₂).
pub mod neuron {
    use super::*;

    /// The weights and inputs of the notes' circuit diagram.
    pub const POINT: ([f64; 3], [f64; 2]) = ([2.0, -3.0, -3.0], [-1.0, -2.0]);

    /// Gradient with respect to `(w, x)`.
    pub type Grad = ([f64; 3], [f64; 2]);

    #[backprop]
    pub fn neuron(w: [f64; 3], x: [f64; 2]) -> f64 {
        let dot = w[0] * x[0] + w[1] * x[1] + w[2];
        1.0 / (1.0 + (-dot).exp())
    }

    #[inline(never)]
    pub fn generated(w: [f64; 3], x: [f64; 2]) -> (f64, Grad) {
        neuron_grad(w, x)
    }

    /// The notes' backward code for the neuron, line for line.
    #[inline(never)]
    pub fn hand(w: [f64; 3], x: [f64; 2]) -> (f64, Grad) {
        // forward pass
        let dot = w[0] * x[0] + w[1] * x[1] + w[2];
        let f = 1.0 / (1.0 + (-dot).exp()); // sigmoid function
        // backward pass through the neuron (backpropagation)
        let d_dot = (1.0 - f) * f; // gradient on dot variable, using the sigmoid gradient
        let d_x = [w[0] * d_dot, w[1] * d_dot]; // backprop into x
        let d_w = [x[0] * d_dot, x[1] * d_dot, 1.0 * d_dot]; // backprop into w
        (f, (d_w, d_x))
    }

    #[inline(never)]
    pub fn numeric(w: [f64; 3], x: [f64; 2]) -> (f64, Grad) {
        let at = [w[0], w[1], w[2], x[0], x[1]];
        let g = numeric_gradient(|p: &[f64]| neuron([p[0], p[1], p[2]], [p[3], p[4]]), &at);
        (neuron(w, x), ([g[0], g[1], g[2]], [g[3], g[4]]))
    }

    fn neuron_dual(w: [Dual64; 3], x: [Dual64; 2]) -> Dual64 {
        let dot = w[0] * x[0] + w[1] * x[1] + w[2];
        ((-dot).exp() + 1.0).recip()
    }

    #[inline(never)]
    pub fn dual(w: [f64; 3], x: [f64; 2]) -> (f64, Grad) {
        let pass = |i: usize| {
            let wd = [0, 1, 2].map(|k| super::dual(w[k], i == k));
            let xd = [0, 1].map(|k| super::dual(x[k], i == 3 + k));
            neuron_dual(wd, xd)
        };
        let g = [0, 1, 2, 3, 4].map(pass);
        (
            g[0].re,
            ([g[0].eps, g[1].eps, g[2].eps], [g[3].eps, g[4].eps]),
        )
    }

    /// Asserts that the four variants agree at `(w, x)`.
    pub fn check(w: [f64; 3], x: [f64; 2]) {
        let flat = |(f, (dw, dx)): (f64, Grad)| [f, dw[0], dw[1], dw[2], dx[0], dx[1]];
        let reference = flat(dual(w, x));
        assert_close(
            "neuron generated",
            &flat(generated(w, x)),
            &reference,
            EXACT,
        );
        assert_close("neuron hand", &flat(hand(w, x)), &reference, EXACT);
        assert_close("neuron numeric", &flat(numeric(w, x)), &reference, NUMERIC);
    }
}

/// A 200-line staged chain of `sin`, `tanh`, `exp`, products and sums over four inputs, with
/// fan-out to earlier lines; written by `build.rs` (see there) as `chain200` (for
/// `#[backprop]`), `chain200_hand` and `chain200_dual`.
// `#[backprop(jvp, hvp)]` writes `chain200_jvp` and `chain200_hvp` with eight parameters.
#[allow(clippy::too_many_arguments)]
pub mod chain {
    use super::*;

    include!(concat!(env!("OUT_DIR"), "/chain200.rs"));

    /// The point the benchmarks evaluate at.
    pub const POINT: [f64; 4] = [0.7, -1.3, 0.4, 1.1];

    pub use crate::modes::{
        chain_forward as forward, chain_gradient as grad, chain_hvp_at as hvp, chain_jvp_at as jvp,
    };

    /// Gradient with respect to `(p, q, r, s)`.
    pub type Grad = (f64, f64, f64, f64);

    #[inline(never)]
    pub fn generated(p: f64, q: f64, r: f64, s: f64) -> (f64, Grad) {
        chain200_grad(p, q, r, s)
    }

    #[inline(never)]
    pub fn hand(p: f64, q: f64, r: f64, s: f64) -> (f64, Grad) {
        chain200_hand(p, q, r, s)
    }

    #[inline(never)]
    pub fn numeric(p: f64, q: f64, r: f64, s: f64) -> (f64, Grad) {
        let g = numeric_gradient(|v: &[f64]| chain200(v[0], v[1], v[2], v[3]), &[p, q, r, s]);
        (chain200(p, q, r, s), (g[0], g[1], g[2], g[3]))
    }

    #[inline(never)]
    pub fn dual(p: f64, q: f64, r: f64, s: f64) -> (f64, Grad) {
        let at = [p, q, r, s];
        let pass = |i: usize| {
            let [p, q, r, s] = [0, 1, 2, 3].map(|k| super::dual(at[k], i == k));
            chain200_dual(p, q, r, s)
        };
        let g = [0, 1, 2, 3].map(pass);
        (g[0].re, (g[0].eps, g[1].eps, g[2].eps, g[3].eps))
    }

    /// Asserts that the four variants agree at `(p, q, r, s)`, and that the gradient is worth
    /// measuring: finite, and no component vanishing.
    pub fn check(p: f64, q: f64, r: f64, s: f64) {
        let flat = |(f, (a, b, c, d)): (f64, Grad)| [f, a, b, c, d];
        let reference = flat(dual(p, q, r, s));
        for (i, g) in reference.iter().enumerate().skip(1) {
            assert!(
                g.is_finite() && g.abs() > 1e-3,
                "chain200: gradient component {} is {g}",
                i - 1
            );
        }
        let generated = flat(generated(p, q, r, s));
        assert_close("chain200 generated", &generated, &reference, EXACT);
        assert_close("chain200 hand", &flat(hand(p, q, r, s)), &reference, EXACT);
        assert_close(
            "chain200 numeric",
            &flat(numeric(p, q, r, s)),
            &reference,
            NUMERIC,
        );
    }
}

/// Central differences of a gradient `g` in the direction `v`: `(g(x + hv) - g(x - hv)) / 2h`,
/// the reference for a Hessian–vector product.
fn gradient_difference(g: impl Fn(&[f64]) -> Vec<f64>, x: &[f64], v: &[f64]) -> Vec<f64> {
    let h = 1e-5;
    let shifted = |s: f64| -> Vec<f64> {
        let p: Vec<f64> = x.iter().zip(v).map(|(x, v)| x + s * h * v).collect();
        g(&p)
    };
    let (plus, minus) = (shifted(1.0), shifted(-1.0));
    plus.iter()
        .zip(&minus)
        .map(|(a, b)| (a - b) / (2.0 * h))
        .collect()
}

/// Forward mode and second order on `staged` and `chain200`, in the variants `forward` (the
/// function itself), `jvp` (`f_jvp`, value and J·t), `grad` (`f_grad`) and `hvp` (`f_hvp`,
/// value, gradient and H·v), each returning `(value, rest)`.
pub mod modes {
    use super::*;
    use crate::chain::{chain200, chain200_grad, chain200_hvp, chain200_jvp};
    use crate::staged::{staged, staged_grad, staged_hvp, staged_jvp};

    /// The direction of `staged`'s JVP and HVP.
    pub const STAGED_DIRECTION: (f64, f64) = (0.6, -0.8);
    /// The direction of `chain200`'s JVP and HVP.
    pub const CHAIN_DIRECTION: [f64; 4] = [0.5, -0.5, 0.5, 0.5];

    #[inline(never)]
    pub fn staged_forward(x: f64, y: f64) -> (f64, ()) {
        (staged(x, y), ())
    }

    #[inline(never)]
    pub fn staged_jvp_at(x: f64, y: f64, tx: f64, ty: f64) -> (f64, f64) {
        staged_jvp(x, y, tx, ty)
    }

    #[inline(never)]
    pub fn staged_gradient(x: f64, y: f64) -> (f64, (f64, f64)) {
        staged_grad(x, y)
    }

    #[inline(never)]
    pub fn staged_hvp_at(x: f64, y: f64, vx: f64, vy: f64) -> (f64, (staged::Grad, staged::Grad)) {
        let (value, g, hv) = staged_hvp(x, y, vx, vy);
        (value, (g, hv))
    }

    #[inline(never)]
    pub fn chain_forward(p: f64, q: f64, r: f64, s: f64) -> (f64, ()) {
        (chain200(p, q, r, s), ())
    }

    #[allow(clippy::too_many_arguments)]
    #[inline(never)]
    pub fn chain_jvp_at(
        p: f64,
        q: f64,
        r: f64,
        s: f64,
        tp: f64,
        tq: f64,
        tr: f64,
        ts: f64,
    ) -> (f64, f64) {
        chain200_jvp(p, q, r, s, tp, tq, tr, ts)
    }

    #[inline(never)]
    pub fn chain_gradient(p: f64, q: f64, r: f64, s: f64) -> (f64, chain::Grad) {
        chain200_grad(p, q, r, s)
    }

    #[allow(clippy::too_many_arguments)]
    #[inline(never)]
    pub fn chain_hvp_at(
        p: f64,
        q: f64,
        r: f64,
        s: f64,
        vp: f64,
        vq: f64,
        vr: f64,
        vs: f64,
    ) -> (f64, (chain::Grad, chain::Grad)) {
        let (value, g, hv) = chain200_hvp(p, q, r, s, vp, vq, vr, vs);
        (value, (g, hv))
    }

    /// Asserts, at the benchmark points: each variant's value is the function's; the JVP is
    /// the gradient's dot product with the direction (1e-10); the HVP's gradient is `f_grad`'s
    /// (1e-10) and its H·v the central difference of `f_grad` in the direction (1e-6).
    pub fn check() {
        let (x, y) = staged::POINT;
        let (tx, ty) = STAGED_DIRECTION;
        let (f, (gx, gy)) = staged_gradient(x, y);
        let (fj, t) = staged_jvp_at(x, y, tx, ty);
        let (fh, ((hgx, hgy), (hx, hy))) = staged_hvp_at(x, y, tx, ty);
        let value = staged_forward(x, y).0;
        assert_close("staged values", &[value, fj, fh], &[f, f, f], EXACT);
        assert_close("staged jvp", &[t], &[gx * tx + gy * ty], EXACT);
        assert_close("staged hvp gradient", &[hgx, hgy], &[gx, gy], EXACT);
        let reference = gradient_difference(
            |p| {
                let (_, (a, b)) = staged_grad(p[0], p[1]);
                vec![a, b]
            },
            &[x, y],
            &[tx, ty],
        );
        assert_close("staged hvp", &[hx, hy], &reference, NUMERIC);

        let [p, q, r, s] = chain::POINT;
        let [tp, tq, tr, ts] = CHAIN_DIRECTION;
        let flat = |(a, b, c, d): chain::Grad| [a, b, c, d];
        let (f, g) = chain_gradient(p, q, r, s);
        let (fj, t) = chain_jvp_at(p, q, r, s, tp, tq, tr, ts);
        let (fh, (hg, hv)) = chain_hvp_at(p, q, r, s, tp, tq, tr, ts);
        let value = chain_forward(p, q, r, s).0;
        assert_close("chain200 values", &[value, fj, fh], &[f, f, f], EXACT);
        let g = flat(g);
        let gt: f64 = g.iter().zip(CHAIN_DIRECTION).map(|(g, t)| g * t).sum();
        assert_close("chain200 jvp", &[t], &[gt], EXACT);
        assert_close("chain200 hvp gradient", &flat(hg), &g, EXACT);
        let reference = gradient_difference(
            |v| flat(chain200_grad(v[0], v[1], v[2], v[3]).1).to_vec(),
            &chain::POINT,
            &CHAIN_DIRECTION,
        );
        assert_close("chain200 hvp", &flat(hv), &reference, NUMERIC);
    }
}

/// A full Hessian, from `n` Hessian–vector products (`rosenbrock_hvp` with the unit vectors)
/// against num-dual's `hessian` (one pass with second-order dual numbers `Dual2DVec64`, which
/// carry an n-vector gradient and an n×n Hessian), on the extended Rosenbrock function.
pub mod hessian {
    use super::*;
    use nalgebra::{DMatrix, DVector};
    use num_dual::Dual2DVec64;

    /// The extended Rosenbrock function, Σᵢ 100 (xᵢ − xᵢ₋₁²)² + (1 − xᵢ₋₁)².
    #[backprop(hvp)]
    pub fn rosenbrock(x: &[f64]) -> f64 {
        let mut sum = 0.0;
        for i in 1..x.len() {
            let a = x[i] - x[i - 1] * x[i - 1];
            let b = 1.0 - x[i - 1];
            sum += 100.0 * a * a + b * b;
        }
        sum
    }

    fn rosenbrock_dual(x: &[Dual2DVec64]) -> Dual2DVec64 {
        let mut sum = Dual2DVec64::from_re(0.0);
        for i in 1..x.len() {
            let a = x[i].clone() - x[i - 1].clone() * &x[i - 1];
            let b = -x[i - 1].clone() + 1.0;
            sum += a.clone() * &a * 100.0 + b.clone() * &b;
        }
        sum
    }

    /// The benchmark point in `n` dimensions.
    pub fn point(n: usize) -> Vec<f64> {
        (0..n)
            .map(|i| 0.3 + 0.9 * ((i as f64) * 0.7).sin())
            .collect()
    }

    /// The value and the Hessian, row-major, from `n` calls of `rosenbrock_hvp`.
    #[inline(never)]
    pub fn hvp_hessian(x: &[f64]) -> (f64, Vec<f64>) {
        let n = x.len();
        let mut hessian = vec![0.0; n * n];
        let mut unit = vec![0.0; n];
        let mut value = 0.0;
        for j in 0..n {
            unit[j] = 1.0;
            let (f, _, column) = rosenbrock_hvp(x, &unit);
            unit[j] = 0.0;
            value = f;
            hessian[j * n..(j + 1) * n].copy_from_slice(&column);
        }
        (value, hessian)
    }

    /// The value and the Hessian from `num_dual::hessian`.
    #[inline(never)]
    pub fn dual_hessian(x: &[f64]) -> (f64, DMatrix<f64>) {
        let (value, _, hessian) = num_dual::hessian(
            |v: DVector<Dual2DVec64>| rosenbrock_dual(v.as_slice()),
            &DVector::from_column_slice(x),
        );
        (value, hessian)
    }

    /// Asserts that both Hessians agree at `x` (1e-10), and the value is the function's.
    pub fn check(x: &[f64]) {
        let n = x.len();
        let (f, by_hvp) = hvp_hessian(x);
        let (fd, by_dual) = dual_hessian(x);
        let by_dual: Vec<f64> = (0..n * n).map(|k| by_dual[(k / n, k % n)]).collect();
        assert_close("rosenbrock value", &[f, fd], &[rosenbrock(x); 2], EXACT);
        assert_close("rosenbrock hessian", &by_hvp, &by_dual, EXACT);
        assert!(by_hvp.iter().any(|&h| h != 0.0));
    }
}

/// Asserts that all variants of all programs, scalar, loop, tensor and GMM, agree at their
/// benchmark points.
pub fn check() {
    check_scalar();
    check_loops();
    tensor::check();
    struct_params::check(&struct_params::inputs(), tensor::REG);
    softmax_hvp::check(&softmax_hvp::inputs());
    rnn::check(&rnn::inputs());
    gmm::check(&gmm::bench());
}

/// Asserts that both variants of the loop programs agree at their benchmark points.
pub fn check_loops() {
    loops::check(&loops::inputs(), loops::REG);
    loops::recurrence::check(&loops::recurrence::inputs());
    loops::dot::check(&loops::dot::inputs());
}

/// Asserts that all variants of the scalar programs agree at their benchmark points.
pub fn check_scalar() {
    let (x, y) = staged::POINT;
    staged::check(x, y);
    let (w, x) = neuron::POINT;
    neuron::check(w, x);
    let [p, q, r, s] = chain::POINT;
    chain::check(p, q, r, s);
    modes::check();
    hessian::check(&hessian::point(8));
    hessian::check(&hessian::point(64));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_agree_at_the_benchmark_points() {
        check();
    }

    #[test]
    fn variants_agree_elsewhere() {
        staged::check(-1.5, 0.25);
        staged::check(0.5, 2.0);
        neuron::check([0.3, -0.7, 0.1], [1.5, 0.4]);
        chain::check(-0.2, 0.9, -1.1, 0.35);
    }

    #[test]
    fn tensor_variants_agree_elsewhere() {
        use tensor::{data, labels, softmax, two_layer};
        // Other shapes (a batch of one among them), other data, another regularisation.
        for (n, d, h, c) in [(7, 5, 6, 3), (1, 4, 3, 2), (32, 20, 16, 10)] {
            let at = softmax::Inputs {
                w: data(d, c, 11),
                x: data(n, d, 12),
                y: labels(n, c),
            };
            softmax::check(&at, 0.3);
            let at = two_layer::Inputs {
                w1: data(d, h, 13),
                b1: data(1, h, 14).row(0).to_owned(),
                w2: data(h, c, 15),
                b2: data(1, c, 16).row(0).to_owned(),
                x: data(n, d, 17),
                y: labels(n, c),
            };
            two_layer::check(&at, 0.3);
            // The same net with its parameters in a struct.
            crate::struct_params::check(&crate::struct_params::from(at), 0.3);
        }
    }

    #[test]
    fn layer_variants_agree_elsewhere() {
        use tensor::{affine_relu, conv};
        // Other shapes (a batch of one among them), other data.
        for (n, d, h, seed) in [(7, 5, 6, 61), (1, 4, 3, 62), (32, 20, 16, 63)] {
            affine_relu::check(&affine_relu::inputs_of(n, d, h, seed));
        }
        // One image and one channel, stride 2, a non-square image, a 1×1 filter.
        for (x, filters, stride, seed) in [
            ((1, 1, 5, 5), (2, 3), 1, 64),
            ((2, 3, 7, 7), (4, 3), 2, 65),
            ((3, 2, 6, 9), (5, 3), 1, 66),
            ((2, 4, 5, 5), (3, 1), 1, 67),
        ] {
            conv::check(&conv::inputs_of(x, filters, stride, seed));
        }
    }

    #[test]
    fn softmax_hvp_variants_agree_elsewhere() {
        // Other shapes (a batch of one, two classes among them), other data.
        for (n, d, c, seed) in [(1, 3, 2, 81), (7, 5, 3, 82), (32, 20, 10, 83)] {
            softmax_hvp::check(&softmax_hvp::inputs_of(n, d, c, seed));
        }
    }

    #[test]
    fn loop_variants_agree_elsewhere() {
        // Other shapes (a single sample, a single feature, two classes), other data, other
        // regularisation (none among them).
        for (n, d, c, seed, reg) in [
            (1, 1, 2, 21, 0.3),
            (7, 5, 3, 22, 0.0),
            (16, 9, 4, 23, 1.0),
            (64, 32, 10, 24, 0.05),
        ] {
            loops::check(&loops::inputs_of(n, d, c, seed), reg);
        }
    }

    #[test]
    fn recurrence_and_dot_agree_elsewhere() {
        // One step, a few, and other data at the benchmark's length.
        for (n, seed) in [(1, 31), (2, 32), (17, 33), (1000, 34)] {
            loops::recurrence::check(&loops::recurrence::inputs_of(n, seed));
            loops::dot::check(&loops::dot::inputs_of(n, seed));
        }
        let mut at = loops::recurrence::inputs_of(50, 35);
        at.h0 = -0.8;
        loops::recurrence::check(&at);
    }

    #[test]
    fn loop_benchmark_takes_both_branches() {
        // Both `margin > 0.0` and its negation occur at the benchmark point.
        let positive = loops::positive_margins(&loops::inputs());
        assert!(positive > 0.5 && positive < 1.0, "{positive}");
    }

    #[test]
    #[ignore]
    fn print_loop_source() {
        println!("{}", loops::svm_loss_backward_source());
        println!("{}", loops::recurrence::recurrence_backward_source());
        println!("{}", loops::dot::dot_backward_source());
    }

    #[test]
    fn rnn_variants_agree_elsewhere() {
        // One sequence, one step, one hidden unit; other shapes and data.
        for (n, steps, hidden, seed) in [
            (1, 1, 1, 51),
            (3, 2, 5, 52),
            (8, 5, 7, 53),
            (64, 16, 64, 54),
        ] {
            rnn::check(&rnn::inputs_of(n, steps, hidden, seed));
        }
    }

    #[test]
    fn rnn_states_are_neither_saturated_nor_vanishing() {
        let mean = rnn::mean_abs_state(&rnn::inputs());
        assert!(mean > 0.1 && mean < 0.8, "{mean}");
    }

    #[test]
    #[ignore]
    fn print_rnn_source() {
        println!("{}", rnn::rnn_loss_backward_source());
    }

    #[test]
    #[ignore]
    fn print_tensor_sources() {
        println!("{}", tensor::softmax::softmax_loss_backward_source());
        println!("{}", tensor::two_layer::two_layer_loss_backward_source());
        println!("{}", tensor::affine_relu::affine_relu_backward_source());
        println!("{}", tensor::conv::conv_naive_backward_source());
    }

    #[test]
    fn chain200_has_200_lines() {
        // 199 `let` lines and the tail expression.
        let source = chain::chain200_backward_source();
        for k in 1..200 {
            assert!(source.contains(&format!("let a{k} ")), "line a{k} missing");
        }
        assert!(!source.contains("let a200 "));
        assert!(source.contains("d_a199"));
    }
}
