//! Tensor programs: the course's vectorized losses on ndarray, exactly as in `tests/losses.rs`,
//! at N = 256 examples, D = 512 features, H = 256 hidden units and C = 10 classes, each in two
//! variants with one signature:
//!
//! * `generated`: the `_grad` that `#[backprop]` wrote;
//! * `hand`: the notes' backward written with ndarray as a competent person would: forward
//!   values cached, `dscores = (softmax − one_hot) / N` built in place in the probabilities'
//!   buffer, one matrix product per weight gradient, `scaled_add` for the L2 term, the ReLU
//!   mask applied in place; it computes the same loss value, its L2 term as the notes'
//!   `0.5 * reg * np.sum(W * W)` (`(w * w).sum()`: ndarray's unrolled sum over a temporary
//!   beats a sequential `fold` over `w` by about 2.5× at this size).
//!
//! Both are `#[inline(never)]`, as in the scalar programs. [`check`] asserts that they agree to
//! [`EXACT`](crate::EXACT) relative error on the loss and on every gradient entry.

use backprop::backprop;
use backprop::ndarray::{Array1, Array2, Axis};

use crate::{EXACT, assert_close};

/// Examples in the batch.
pub const N: usize = 256;
/// Input features.
pub const D: usize = 512;
/// Hidden units of the two-layer net.
pub const H: usize = 256;
/// Classes.
pub const C: usize = 10;
/// L2 regularisation strength.
pub const REG: f64 = 0.05;

/// Deterministic pseudo-random entries in [−1, 1) (the LCG of `tests/losses.rs`).
pub fn data(rows: usize, cols: usize, seed: u64) -> Array2<f64> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    Array2::from_shape_fn((rows, cols), |_| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    })
}

/// Labels `0..classes`, spread over the batch.
pub fn labels(n: usize, classes: usize) -> Vec<usize> {
    (0..n).map(|i| (i * 7 + 3) % classes).collect()
}

/// Turns the scores into probabilities in place, row by row (stable softmax), and returns the
/// mean cross-entropy −(1/N) Σᵢ log p[i, yᵢ], with log p = s − max − ln Σ e^(s − max).
fn softmax_in_place(scores: &mut Array2<f64>, y: &[usize]) -> f64 {
    let mut loss = 0.0;
    for (mut row, &label) in scores.rows_mut().into_iter().zip(y) {
        let max = row.fold(f64::NEG_INFINITY, |m, &v| m.max(v));
        let correct = row[label] - max;
        row.mapv_inplace(|v| (v - max).exp());
        let total = row.sum();
        loss -= correct - total.ln();
        row /= total;
    }
    loss / scores.nrows() as f64
}

/// Probabilities → `dscores = (probs − one_hot(y)) / N`, in place.
fn dscores_in_place(probs: &mut Array2<f64>, y: &[usize]) {
    let n = probs.nrows() as f64;
    for (i, &label) in y.iter().enumerate() {
        probs[[i, label]] -= 1.0;
    }
    *probs /= n;
}

/// Softmax cross-entropy with L2 regularisation.
pub mod softmax {
    use super::*;

    /// Exactly as in `tests/losses.rs`.
    #[backprop(wrt(w))]
    pub fn softmax_loss(w: &Array2<f64>, x: &Array2<f64>, y: &[usize], reg: f64) -> f64 {
        let scores = x.dot(w);
        let log_probs = backprop::log_softmax(&scores, Axis(1));
        let data_loss = -backprop::pick(&log_probs, y).mean().unwrap();
        data_loss + 0.5 * reg * (w * w).sum()
    }

    /// The benchmark's inputs: `w` (D×C), `x` (N×D), `y`.
    pub struct Inputs {
        pub w: Array2<f64>,
        pub x: Array2<f64>,
        pub y: Vec<usize>,
    }

    pub fn inputs() -> Inputs {
        Inputs {
            w: data(D, C, 3) * 0.1,
            x: data(N, D, 4),
            y: labels(N, C),
        }
    }

    #[inline(never)]
    pub fn generated(
        w: &Array2<f64>,
        x: &Array2<f64>,
        y: &[usize],
        reg: f64,
    ) -> (f64, Array2<f64>) {
        softmax_loss_grad(w, x, y, reg)
    }

    /// The notes' backward: dscores = (softmax − one_hot) / N, dW = Xᵀ·dscores + reg·W.
    #[inline(never)]
    pub fn hand(w: &Array2<f64>, x: &Array2<f64>, y: &[usize], reg: f64) -> (f64, Array2<f64>) {
        // forward pass
        let mut probs = x.dot(w);
        let data_loss = softmax_in_place(&mut probs, y);
        let loss = data_loss + 0.5 * reg * (w * w).sum();
        // backward pass
        let mut dscores = probs;
        dscores_in_place(&mut dscores, y);
        let mut dw = x.t().dot(&dscores);
        dw.scaled_add(reg, w);
        (loss, dw)
    }

    /// Asserts that `generated` and `hand` agree on the loss and every entry of dW.
    pub fn check(inputs: &Inputs, reg: f64) {
        let Inputs { w, x, y } = inputs;
        let (loss_g, dw_g) = generated(w, x, y, reg);
        let (loss_h, dw_h) = hand(w, x, y, reg);
        assert_close("softmax loss", &[loss_g], &[loss_h], EXACT);
        assert_close(
            "softmax dW",
            dw_g.as_slice().unwrap(),
            dw_h.as_slice().unwrap(),
            EXACT,
        );
    }
}

/// The two-layer net: affine → ReLU → affine → softmax cross-entropy, L2 on both weights.
pub mod two_layer {
    use super::*;

    /// Gradient with respect to `(w1, b1, w2, b2)`.
    pub type Grad = (Array2<f64>, Array1<f64>, Array2<f64>, Array1<f64>);

    /// Exactly as in `tests/losses.rs`.
    #[backprop(wrt(w1, b1, w2, b2))]
    #[allow(clippy::too_many_arguments)]
    pub fn two_layer_loss(
        w1: &Array2<f64>,
        b1: &Array1<f64>,
        w2: &Array2<f64>,
        b2: &Array1<f64>,
        x: &Array2<f64>,
        y: &[usize],
        reg: f64,
    ) -> f64 {
        let hidden = backprop::relu(&(x.dot(w1) + b1));
        let scores = hidden.dot(w2) + b2;
        let log_probs = backprop::log_softmax(&scores, Axis(1));
        let data_loss = -backprop::pick(&log_probs, y).mean().unwrap();
        data_loss + 0.5 * reg * ((w1 * w1).sum() + (w2 * w2).sum())
    }

    /// The benchmark's inputs: `w1` (D×H), `b1` (H), `w2` (H×C), `b2` (C), `x` (N×D), `y`.
    pub struct Inputs {
        pub w1: Array2<f64>,
        pub b1: Array1<f64>,
        pub w2: Array2<f64>,
        pub b2: Array1<f64>,
        pub x: Array2<f64>,
        pub y: Vec<usize>,
    }

    /// Weights scaled so that about half the hidden units are active and the scores are of
    /// order one.
    pub fn inputs() -> Inputs {
        Inputs {
            w1: data(D, H, 5) * 0.05,
            b1: data(1, H, 6).row(0).to_owned() * 0.1,
            w2: data(H, C, 7) * 0.1,
            b2: data(1, C, 8).row(0).to_owned() * 0.1,
            x: data(N, D, 9),
            y: labels(N, C),
        }
    }

    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    pub fn generated(
        w1: &Array2<f64>,
        b1: &Array1<f64>,
        w2: &Array2<f64>,
        b2: &Array1<f64>,
        x: &Array2<f64>,
        y: &[usize],
        reg: f64,
    ) -> (f64, Grad) {
        two_layer_loss_grad(w1, b1, w2, b2, x, y, reg)
    }

    /// The notes' backward for the two-layer net.
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    pub fn hand(
        w1: &Array2<f64>,
        b1: &Array1<f64>,
        w2: &Array2<f64>,
        b2: &Array1<f64>,
        x: &Array2<f64>,
        y: &[usize],
        reg: f64,
    ) -> (f64, Grad) {
        // forward pass
        let mut hidden = x.dot(w1) + b1;
        hidden.mapv_inplace(|v| v.max(0.0)); // ReLU
        let mut probs = hidden.dot(w2) + b2;
        let data_loss = softmax_in_place(&mut probs, y);
        let loss = data_loss + 0.5 * reg * ((w1 * w1).sum() + (w2 * w2).sum());
        // backward pass
        let mut dscores = probs;
        dscores_in_place(&mut dscores, y);
        // second layer
        let mut dw2 = hidden.t().dot(&dscores);
        dw2.scaled_add(reg, w2);
        let db2 = dscores.sum_axis(Axis(0));
        // backprop into the hidden layer, through the ReLU
        let mut dhidden = dscores.dot(&w2.t());
        dhidden.zip_mut_with(&hidden, |d, &h| {
            if h <= 0.0 {
                *d = 0.0;
            }
        });
        // first layer
        let mut dw1 = x.t().dot(&dhidden);
        dw1.scaled_add(reg, w1);
        let db1 = dhidden.sum_axis(Axis(0));
        (loss, (dw1, db1, dw2, db2))
    }

    /// Asserts that `generated` and `hand` agree on the loss and every gradient entry.
    pub fn check(inputs: &Inputs, reg: f64) {
        let Inputs {
            w1,
            b1,
            w2,
            b2,
            x,
            y,
        } = inputs;
        let (loss_g, (dw1_g, db1_g, dw2_g, db2_g)) = generated(w1, b1, w2, b2, x, y, reg);
        let (loss_h, (dw1_h, db1_h, dw2_h, db2_h)) = hand(w1, b1, w2, b2, x, y, reg);
        assert_close("two-layer loss", &[loss_g], &[loss_h], EXACT);
        for (what, g, h) in [
            ("two-layer dW1", dw1_g.as_slice(), dw1_h.as_slice()),
            ("two-layer db1", db1_g.as_slice(), db1_h.as_slice()),
            ("two-layer dW2", dw2_g.as_slice(), dw2_h.as_slice()),
            ("two-layer db2", db2_g.as_slice(), db2_h.as_slice()),
        ] {
            assert_close(what, g.unwrap(), h.unwrap(), EXACT);
        }
    }

    /// The fraction of hidden pre-activations above zero.
    pub fn active_fraction(inputs: &Inputs) -> f64 {
        let pre = inputs.x.dot(&inputs.w1) + &inputs.b1;
        pre.iter().filter(|&&v| v > 0.0).count() as f64 / pre.len() as f64
    }
}

/// Asserts that both variants of both tensor programs agree at the benchmark inputs, and that
/// the two-layer net's ReLU is neither (almost) all on nor all off there.
pub fn check() {
    softmax::check(&softmax::inputs(), REG);
    let at = two_layer::inputs();
    two_layer::check(&at, REG);
    let active = two_layer::active_fraction(&at);
    assert!(
        (0.1..0.9).contains(&active),
        "two-layer: a fraction {active} of the hidden units is active"
    );
}
