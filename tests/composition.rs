//! Composition: a `#[backprop]` function calls another, a hand-written gate (a `g` plus its
//! `g_backward`), and the runtime's gates by path or imported.

mod common;

use backprop::backprop;
use backprop::ndarray::{Array1, Array2, array};
use backprop::prelude::*;
use common::{assert_gradient_exact, c, dual_gradient};
use num_dual::{Dual64, DualNum};

/// A user's gate: softsign(x) = x / (1 + |x|), with its hand-written backward.
fn softsign(x: f64) -> f64 {
    x / (1.0 + x.abs())
}

fn softsign_backward(x: f64, d_out: f64) -> (f64, f64) {
    let den = 1.0 + x.abs();
    (x / den, d_out / (den * den))
}

fn dual_softsign(x: Dual64) -> Dual64 {
    let abs = if x.re < 0.0 { -x } else { x };
    x / (abs + 1.0)
}

fn dual_sigmoid(x: Dual64) -> Dual64 {
    (c(1.0) + (-x).exp()).recip()
}

#[backprop]
fn inner(a: f64, b: f64) -> f64 {
    let s = a * b + a.sin();
    s * s
}

#[backprop]
fn outer(x: f64, y: f64) -> f64 {
    let u = inner(x, y * 2.0);
    let v = inner(u, x) + softsign(u * y);
    v * backprop::sigmoid(x) + relu(y - x) + backprop::softplus(v / 10.0)
}

fn dual_inner(a: Dual64, b: Dual64) -> Dual64 {
    let s = a * b + a.sin();
    s * s
}

#[test]
fn functions_gates_and_runtime_gates_compose() {
    let reference = |v: &[Dual64]| {
        let (x, y) = (v[0], v[1]);
        let u = dual_inner(x, y * 2.0);
        let w = dual_inner(u, x) + dual_softsign(u * y);
        let relu = if (y - x).re > 0.0 { y - x } else { c(0.0) };
        let softplus = (w / 10.0).exp().ln_1p();
        w * dual_sigmoid(x) + relu + softplus
    };
    for at in [[0.5, 0.75], [-0.3, 0.4], [0.9, -0.2]] {
        assert_gradient_exact(
            "outer",
            &at,
            outer_grad(at[0], at[1]),
            dual_gradient(reference, &at),
            |p| outer(p[0], p[1]),
            1e-12,
        );
    }
}

#[backprop]
fn dot3(w: &[f64; 3], x: &[f64; 3]) -> f64 {
    w[0] * x[0] + w[1] * x[1] + w[2] * x[2]
}

#[backprop]
fn uses_arrays(w: [f64; 3], x: [f64; 3], scale: f64) -> f64 {
    let d = dot3(&w, &x);
    (d * scale).tanh() + w[0]
}

#[test]
fn array_gradients_of_a_composed_call_accumulate() {
    let at = [0.5, -1.0, 0.25, 1.5, 2.0, -0.5, 0.3];
    let got = uses_arrays_grad([at[0], at[1], at[2]], [at[3], at[4], at[5]], at[6]);
    let reference = |v: &[Dual64]| {
        let d = v[0] * v[3] + v[1] * v[4] + v[2] * v[5];
        (d * v[6]).tanh() + v[0]
    };
    assert_gradient_exact(
        "uses_arrays",
        &at,
        got,
        dual_gradient(reference, &at),
        |p| uses_arrays([p[0], p[1], p[2]], [p[3], p[4], p[5]], p[6]),
        1e-14,
    );
}

#[backprop]
fn with_constant_argument(x: f64) -> f64 {
    inner(x, 3.0) + inner(2.0, x)
}

#[test]
fn float_constants_passed_to_a_composed_function_take_their_gradient_slot() {
    let reference = |v: &[Dual64]| dual_inner(v[0], c(3.0)) + dual_inner(c(2.0), v[0]);
    assert_gradient_exact(
        "with_constant_argument",
        &[0.7],
        with_constant_argument_grad(0.7),
        dual_gradient(reference, &[0.7]),
        |p| with_constant_argument(p[0]),
        1e-13,
    );
}

#[backprop]
fn runtime_gates_in_f32(x: f32) -> f32 {
    backprop::sigmoid(x) * relu(x) + softplus(-x)
}

#[test]
fn runtime_gates_are_generic_over_f32() {
    // f = σ(x) x + ln(1 + e^-x) for x > 0, f' = σ'(x) x + σ(x) - σ(-x).
    let (value, grad) = runtime_gates_in_f32_grad(0.5);
    let sigmoid = |x: f64| 1.0 / (1.0 + (-x).exp());
    let s = sigmoid(0.5);
    let expected_value = s * 0.5 + (-0.5f64).exp().ln_1p();
    let expected_grad = s * (1.0 - s) * 0.5 + s - sigmoid(-0.5);
    assert!(
        (value as f64 - expected_value).abs() < 1e-6,
        "{value} vs {expected_value}"
    );
    assert!(
        (grad as f64 - expected_grad).abs() < 1e-6,
        "{grad} vs {expected_grad}"
    );
}

#[backprop]
fn element_then_call(w: [f64; 3], x: [f64; 3]) -> f64 {
    let e = w[0] * 2.0;
    let d = dot3(&w, &x);
    d + e
}

#[test]
fn an_element_contribution_after_a_whole_array_contribution_adds_to_it() {
    // Regression: the element's first contribution was once written as `d_w[0] = ..`,
    // dropping what the call had put there.
    let (_, (dw, dx)) = element_then_call_grad([0.5, -1.0, 0.25], [1.5, 2.0, -0.5]);
    assert_eq!(dw, [1.5 + 2.0, 2.0, -0.5]);
    assert_eq!(dx, [0.5, -1.0, 0.25]);
}

/// A loss reused on arrays, called with a constant array (the caller differentiates only `w`):
/// the constant still takes its slot in the callee's gradient.
#[backprop]
fn mse(a: &Array1<f64>, b: &Array1<f64>) -> f64 {
    let d = a - b;
    (&d * &d).mean().unwrap()
}

#[backprop(wrt(w))]
fn model_loss(w: &Array1<f64>, x: &Array2<f64>, y: &Array1<f64>) -> f64 {
    let pred = x.dot(w);
    mse(&pred, y)
}

#[test]
fn constant_arrays_passed_to_a_composed_function_take_their_gradient_slot() {
    let w = array![0.2, -0.3, 0.7];
    let x = array![[0.5, -1.0, 2.0], [0.1, 0.3, -0.7]];
    let y = array![1.0, 2.0];
    let (loss, dw) = model_loss_grad(&w, &x, &y);
    // Closed form: L = |Xw − y|² / n, dL/dw = 2 Xᵀ (Xw − y) / n.
    let residual = x.dot(&w) - &y;
    assert!((loss - residual.dot(&residual) / 2.0).abs() < 1e-15);
    let expected = x.t().dot(&residual) * (2.0 / 2.0);
    for (a, b) in dw.iter().zip(&expected) {
        assert!((a - b).abs() < 1e-15, "{dw} vs {expected}");
    }
}

/// A hand-written gate on arrays (leaky ReLU with a learned slope): the `let` says it returns
/// an array; its backward takes the upstream gradient by value, as the contract says.
fn leaky(x: &Array1<f64>, alpha: f64) -> Array1<f64> {
    x.mapv(|v| if v > 0.0 { v } else { alpha * v })
}

fn leaky_backward(
    x: &Array1<f64>,
    alpha: f64,
    d: Array1<f64>,
) -> (Array1<f64>, (Array1<f64>, f64)) {
    let dalpha = (&d * &x.mapv(|v| if v > 0.0 { 0.0 } else { v })).sum();
    let dx = d * &x.mapv(|v| if v > 0.0 { 1.0 } else { alpha });
    (leaky(x, alpha), (dx, dalpha))
}

#[backprop]
fn leaky_net(x: &Array1<f64>, alpha: f64) -> f64 {
    let h: Array1<f64> = leaky(&x.tanh(), alpha);
    (&h * &h).sum()
}

#[test]
fn a_hand_written_gate_on_arrays() {
    let x = array![0.5, -1.3, 0.2];
    let (_, (dx, dalpha)) = leaky_net_grad(&x, 0.1);
    // Closed form: h = leaky(tanh x), L = Σ h², dL/dx = 2 h leaky'(tanh x) (1 − tanh² x).
    let t = x.tanh();
    let h = leaky(&t, 0.1);
    let slope = t.mapv(|v| if v > 0.0 { 1.0 } else { 0.1 });
    let expected = 2.0 * &h * &slope * &(1.0 - &t * &t);
    for (a, b) in dx.iter().zip(&expected) {
        assert!((a - b).abs() < 1e-15, "{dx} vs {expected}");
    }
    let expected_alpha: f64 = (2.0 * &h * &t.mapv(|v| if v > 0.0 { 0.0 } else { v })).sum();
    assert!((dalpha - expected_alpha).abs() < 1e-15);
}

/// The squared norm of a slice, a helper called on sub-slices.
#[backprop]
#[allow(clippy::needless_range_loop)]
fn sqnorm(v: &[f64]) -> f64 {
    let mut s = 0.0;
    for i in 0..v.len() {
        s += v[i] * v[i];
    }
    s
}

/// A differentiated helper called on the rows of a flat matrix, `&q[j * d..(j + 1) * d]`, as
/// C++ code passes `&q[j * d]`: the gradient of each call lands in its range of `d_q`.
#[backprop(wrt(q))]
fn weighted_row_norms(q: &[f64], d: usize) -> f64 {
    let k = q.len() / d;
    let mut total = 0.0;
    for j in 0..k {
        total += sqnorm(&q[j * d..(j + 1) * d]) * (j as f64 + 1.0);
    }
    total + sqnorm(&q[..d]).sqrt() + sqnorm(&q[d..])
}

#[test]
fn sub_slices_passed_to_a_differentiated_helper() {
    let q = [0.5, -1.0, 0.3, 1.2, -0.4, 0.8];
    let reference = |v: &[Dual64]| {
        let norm = |r: &[Dual64]| r.iter().fold(c(0.0), |s, &x| s + x * x);
        let mut total = c(0.0);
        for j in 0..3 {
            total += norm(&v[j * 2..(j + 1) * 2]) * (j as f64 + 1.0);
        }
        total + norm(&v[..2]).sqrt() + norm(&v[2..])
    };
    assert_gradient_exact(
        "weighted_row_norms",
        &q,
        weighted_row_norms_grad(&q, 2),
        dual_gradient(reference, &q),
        |p| weighted_row_norms(p, 2),
        1e-12,
    );
}

// A gate that counts how often its forward and its backward run.
thread_local! {
    static RUNS: std::cell::Cell<(usize, usize)> = const { std::cell::Cell::new((0, 0)) };
}

fn counted(s: f64) -> f64 {
    RUNS.with(|r| r.set((r.get().0 + 1, r.get().1)));
    s.ln_1p()
}

fn counted_backward(s: f64, d_out: f64) -> (f64, f64) {
    RUNS.with(|r| r.set((r.get().0, r.get().1 + 1)));
    (s.ln_1p(), d_out / (1.0 + s))
}

/// The last line is a call: `f_backward` takes its value from `counted_backward`.
#[backprop]
fn ends_in_a_gate(x: &[f64]) -> f64 {
    let mut s = 0.0;
    for &v in x {
        s += v * v;
    }
    counted(s)
}

/// The same with several gradients (`inner` of two floats) after a branch.
#[backprop]
fn ends_in_a_call(x: f64, y: f64) -> f64 {
    let a = if x > 0.0 { x * y } else { y - x };
    inner(a, y)
}

#[test]
fn a_call_on_the_last_line_runs_its_forward_once() {
    let x = [0.3, -1.2, 0.8];
    RUNS.with(|r| r.set((0, 0)));
    let (value, d_x) = ends_in_a_gate_grad(&x);
    assert_eq!(
        RUNS.with(|r| r.get()),
        (0, 1),
        "forward runs, backward runs"
    );
    let reference = |v: &[Dual64]| {
        let s = v.iter().fold(c(0.0), |s, &x| s + x * x);
        s.ln_1p()
    };
    assert_gradient_exact(
        "ends_in_a_gate",
        &x,
        (value, d_x),
        dual_gradient(reference, &x),
        ends_in_a_gate,
        1e-14,
    );
    for (x, y) in [(0.7, -0.4), (-0.5, 1.3)] {
        let reference = |v: &[Dual64]| {
            let a = if v[0].re > 0.0 {
                v[0] * v[1]
            } else {
                v[1] - v[0]
            };
            dual_inner(a, v[1])
        };
        assert_gradient_exact(
            "ends_in_a_call",
            &[x, y],
            ends_in_a_call_grad(x, y),
            dual_gradient(reference, &[x, y]),
            |p| ends_in_a_call(p[0], p[1]),
            1e-13,
        );
    }
    assert!(
        ends_in_a_call_backward_source().contains("let (out, d_out_inputs) = ::backprop::args("),
        "{}",
        ends_in_a_call_backward_source()
    );
}
