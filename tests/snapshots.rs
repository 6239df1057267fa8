//! Golden snapshots of generated backward code: the shape of what users read in rustdoc and
//! `f_backward_source()` is pinned here. Each snapshot's function also has its gradient
//! checked (here or in the other test files), so a snapshot is never blessed on faith.
//!
//! After an intended change of the generated code, re-bless with
//! `BLESS=1 cargo test --test snapshots` and read the diff.

mod common;

use backprop::backprop;
use backprop::ndarray::{Array2, Axis, array};
use common::{assert_gradient_exact, c, check_snapshot, dual_gradient};
use num_dual::{Dual64, DualNum};

/// The lecture's staged function.
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
fn staged_snapshot() {
    check_snapshot("staged", staged_backward_source());
    let reference = |v: &[Dual64]| {
        let (x, y) = (v[0], v[1]);
        let sigy = (c(1.0) + (-y).exp()).recip();
        let sigx = (c(1.0) + (-x).exp()).recip();
        (x + sigy) / (sigx + (x + y).powi(2))
    };
    assert_gradient_exact(
        "staged",
        &[3.0, -4.0],
        staged_grad(3.0, -4.0),
        dual_gradient(reference, &[3.0, -4.0]),
        |p| staged(p[0], p[1]),
        1e-14,
    );
}

/// The lecture's 2-D neuron: f(w, x) = σ(w0 x0 + w1 x1 + w2).
#[backprop]
fn neuron(w: [f64; 3], x: [f64; 2]) -> f64 {
    let dot = w[0] * x[0] + w[1] * x[1] + w[2];
    1.0 / (1.0 + (-dot).exp())
}

#[test]
fn neuron_snapshot() {
    check_snapshot("neuron", neuron_backward_source());
}

/// A max gate, shadowing and compound assignment, a branch with work in each arm.
#[backprop]
fn gates_and_versions(x: f64, y: f64, z: f64) -> f64 {
    let m = x.max(y);
    let mut s = m * z;
    s += x;
    let s = s * s;
    let r = if s > 1.0 { s.ln() * y } else { 0.0 };
    r + s
}

#[test]
fn gates_and_versions_snapshot() {
    check_snapshot("gates_and_versions", gates_and_versions_backward_source());
    let reference = |v: &[Dual64]| {
        let (x, y, z) = (v[0], v[1], v[2]);
        let m = if x.re >= y.re { x } else { y };
        let s = m * z + x;
        let s = s * s;
        let r = if s.re > 1.0 { s.ln() * y } else { c(0.0) };
        r + s
    };
    for at in [[0.5, 1.5, 2.0], [2.0, -1.0, 0.1]] {
        assert_gradient_exact(
            "gates_and_versions",
            &at,
            gates_and_versions_grad(at[0], at[1], at[2]),
            dual_gradient(reference, &at),
            |p| gates_and_versions(p[0], p[1], p[2]),
            1e-13,
        );
    }
}

/// A gate written by hand, composed: `g` and `g_backward`.
fn softsign(x: f64) -> f64 {
    x / (1.0 + x.abs())
}

fn softsign_backward(x: f64, d_out: f64) -> (f64, f64) {
    let den = 1.0 + x.abs();
    (x / den, d_out / (den * den))
}

#[backprop]
fn composed(x: f64, y: f64) -> f64 {
    let a = softsign(x * y);
    let b = backprop::sigmoid(a) + staged(a, y);
    b * x
}

#[test]
fn composed_snapshot() {
    check_snapshot("composed", composed_backward_source());
}

/// Vectorized softmax cross-entropy: matrix product, tensor gates, a reduction, L2.
#[backprop(wrt(w))]
fn softmax_loss(w: &Array2<f64>, x: &Array2<f64>, y: &[usize], reg: f64) -> f64 {
    let scores = x.dot(w);
    let log_probs = backprop::log_softmax(&scores, Axis(1));
    let data_loss = -backprop::pick(&log_probs, y).mean().unwrap();
    data_loss + 0.5 * reg * (w * w).sum()
}

#[test]
fn softmax_loss_snapshot() {
    check_snapshot("softmax_loss", softmax_loss_backward_source());
    // The gradient itself is checked in tests/losses.rs against the notes' closed form; here,
    // one point against central differences keeps the snapshot honest.
    let w = array![[0.2, -0.1, 0.4], [0.3, 0.5, -0.2]];
    let x = array![[1.0, -0.5], [0.3, 0.8]];
    let (_, dw) = softmax_loss_grad(&w, &x, &[2, 0], 0.1);
    backprop::assert_gradient!(
        |p: &[f64]| softmax_loss(
            &Array2::from_shape_vec((2, 3), p.to_vec()).unwrap(),
            &x,
            &[2, 0],
            0.1
        ),
        w.as_slice().unwrap(),
        &dw,
    );
}

/// The naive SVM loss: nested loops, a `continue` guard, a branch, no tape (every loop-carried
/// variable is a pure accumulation).
#[backprop(wrt(w))]
#[allow(clippy::needless_range_loop)]
fn svm_loss_naive(w: &[f64], x: &[f64], y: &[usize], n: usize, d: usize, c: usize) -> f64 {
    let mut loss = 0.0;
    for i in 0..n {
        for j in 0..c {
            if j == y[i] {
                continue;
            }
            let mut margin = 1.0;
            for k in 0..d {
                margin += x[i * d + k] * (w[k * c + j] - w[k * c + y[i]]);
            }
            if margin > 0.0 {
                loss += margin;
            }
        }
    }
    loss / n as f64
}

#[test]
fn svm_loss_naive_snapshot() {
    let source = svm_loss_naive_backward_source();
    check_snapshot("svm_loss_naive", source);
    assert!(!source.contains("Tape"), "pure accumulations need no tape");
    let (w, x, y) = (
        [0.3, -0.2, 0.5, 0.1, -0.4, 0.2],
        [1.0, -0.5, 0.3, 0.8, -1.2, 0.4],
        [2, 0, 1],
    );
    let (_, dw) = svm_loss_naive_grad(&w, &x, &y, 3, 2, 3);
    backprop::assert_gradient!(|p: &[f64]| svm_loss_naive(p, &x, &y, 3, 2, 3), &w, &dw);
}

/// A recurrence whose reverse pass needs the overwritten values: one tape, one value pushed
/// per iteration.
#[backprop]
#[allow(clippy::needless_range_loop)]
fn recurrence(w: &[f64], h0: f64) -> f64 {
    let mut h = h0;
    let mut total = 0.0;
    for i in 0..w.len() {
        h = (h * w[i]).tanh();
        total += h;
    }
    total
}

#[test]
fn recurrence_snapshot_tapes_only_what_the_reverse_pass_reads() {
    let source = recurrence_backward_source();
    check_snapshot("recurrence", source);
    // `h` is read by the reverse pass (`tanh`'s operand), `total` is not: one tape, one push
    // per iteration, one pop per reversed iteration; so the tape holds w.len() values.
    assert_eq!(source.matches("Tape::new()").count(), 1, "{source}");
    assert_eq!(source.matches(".push(").count(), 1, "{source}");
    assert_eq!(source.matches(".pop()").count(), 1, "{source}");
    let w = [0.5, -1.2, 0.8];
    let (_, dw) = recurrence_grad(&w, 0.3);
    backprop::assert_gradient!(
        |p: &[f64]| recurrence(&p[..3], p[3]),
        &[0.5, -1.2, 0.8, 0.3],
        &dw
    );
}
