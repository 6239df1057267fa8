//! A loop program: the notes' naive multiclass SVM loss, written with loops over flat row-major
//! slices exactly as `examples/svm.rs`'s `svm_loss` (nested loops over samples, classes and
//! features, a `continue` guard, a conditional accumulation, the L2 term in a loop), at
//! N = 64 samples, D = 32 features, C = 10 classes, on deterministic data, in two variants with
//! one signature:
//!
//! * `generated`: the `_grad` that `#[backprop(wrt(w))]` wrote;
//! * `hand`: the course's `svm_loss_naive` backward, written by hand with the same loops: the
//!   margin computed once per (i, j) by the same inner loop as the forward, and where it is
//!   positive `dW[:, j] += X[i]`, `dW[:, y[i]] -= X[i]` in a second loop over the features;
//!   then `dW /= N`, `dW += 2 reg W` in one loop over W; it computes the same loss.
//!
//! Both are `#[inline(never)]`, as in the other programs. [`check`] asserts that they agree to
//! [`EXACT`](crate::EXACT) relative error on the loss and on every entry of dW.

use backprop::backprop;

use crate::{EXACT, assert_close};

/// Samples.
pub const N: usize = 64;
/// Features.
pub const D: usize = 32;
/// Classes.
pub const C: usize = 10;
/// L2 regularisation strength.
pub const REG: f64 = 0.05;
/// The scale of the weights: the margins are then spread enough that about one in ten is
/// negative, so both branches of `if margin > 0.0` run.
pub const W_SCALE: f64 = 0.3;

/// Deterministic pseudo-random entries in [−1, 1), row-major (the LCG of `tests/losses.rs` and
/// [`tensor::data`](crate::tensor::data)).
pub fn data(len: usize, seed: u64) -> Vec<f64> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
        })
        .collect()
}

/// The naive SVM loss with L2 regularisation, exactly as `examples/svm.rs`'s `svm_loss`:
/// `x` is n×d, `w` is d×c (both row-major), `y` the labels.
#[backprop(wrt(w))]
#[allow(clippy::needless_range_loop, clippy::too_many_arguments)]
pub fn svm_loss(w: &[f64], x: &[f64], y: &[usize], n: usize, d: usize, c: usize, reg: f64) -> f64 {
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
    let mut l2 = 0.0;
    for k in 0..d * c {
        l2 += w[k] * w[k];
    }
    loss / n as f64 + reg * l2
}

/// The benchmark's inputs: `w` (D×C), `x` (N×D), `y`, and the shape.
pub struct Inputs {
    pub w: Vec<f64>,
    pub x: Vec<f64>,
    pub y: Vec<usize>,
    pub n: usize,
    pub d: usize,
    pub c: usize,
}

/// Inputs of shape n×d, d×c from the given seed.
pub fn inputs_of(n: usize, d: usize, c: usize, seed: u64) -> Inputs {
    Inputs {
        w: data(d * c, seed).into_iter().map(|v| v * W_SCALE).collect(),
        x: data(n * d, seed + 1),
        y: (0..n).map(|i| (i * 7 + 3) % c).collect(),
        n,
        d,
        c,
    }
}

/// The benchmark's inputs: N×D, D×C.
pub fn inputs() -> Inputs {
    inputs_of(N, D, C, 5)
}

#[inline(never)]
#[allow(clippy::too_many_arguments)]
pub fn generated(
    w: &[f64],
    x: &[f64],
    y: &[usize],
    n: usize,
    d: usize,
    c: usize,
    reg: f64,
) -> (f64, Vec<f64>) {
    svm_loss_grad(w, x, y, n, d, c, reg)
}

/// The course's `svm_loss_naive`, forward and backward in the same loops.
#[inline(never)]
#[allow(clippy::needless_range_loop, clippy::too_many_arguments)]
pub fn hand(
    w: &[f64],
    x: &[f64],
    y: &[usize],
    n: usize,
    d: usize,
    c: usize,
    reg: f64,
) -> (f64, Vec<f64>) {
    let mut dw = vec![0.0; d * c];
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
                // dW[:, j] += X[i]; dW[:, y[i]] -= X[i]
                for k in 0..d {
                    dw[k * c + j] += x[i * d + k];
                    dw[k * c + y[i]] -= x[i * d + k];
                }
            }
        }
    }
    let mut l2 = 0.0;
    for k in 0..d * c {
        l2 += w[k] * w[k];
    }
    let loss = loss / n as f64 + reg * l2;
    // dW /= N; dW += 2 reg W
    for k in 0..d * c {
        dw[k] = dw[k] / n as f64 + 2.0 * reg * w[k];
    }
    (loss, dw)
}

/// The fraction of the (i, j ≠ y[i]) pairs whose margin is positive.
pub fn positive_margins(at: &Inputs) -> f64 {
    let Inputs { w, x, y, n, d, c } = at;
    let (n, d, c) = (*n, *d, *c);
    let mut positive = 0;
    for i in 0..n {
        for j in (0..c).filter(|&j| j != y[i]) {
            let margin: f64 = 1.0
                + (0..d)
                    .map(|k| x[i * d + k] * (w[k * c + j] - w[k * c + y[i]]))
                    .sum::<f64>();
            positive += usize::from(margin > 0.0);
        }
    }
    positive as f64 / (n * (c - 1)) as f64
}

/// Asserts that `generated` and `hand` agree on the loss and every entry of dW, and that the
/// gradient is worth measuring: finite, and every entry nonzero.
pub fn check(at: &Inputs, reg: f64) {
    let Inputs { w, x, y, n, d, c } = at;
    let (loss_g, dw_g) = generated(w, x, y, *n, *d, *c, reg);
    let (loss_h, dw_h) = hand(w, x, y, *n, *d, *c, reg);
    assert_close("svm_naive loss", &[loss_g], &[loss_h], EXACT);
    assert_close("svm_naive dW", &dw_g, &dw_h, EXACT);
    assert_eq!(dw_g.len(), d * c);
    if reg != 0.0 {
        assert!(
            dw_g.iter().all(|&g| g != 0.0),
            "svm_naive: a zero entry in dW"
        );
    }
}
