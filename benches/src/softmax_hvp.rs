//! Second order on ndarray: the course's softmax loss of a linear classifier (no L2 term),
//! `#[backprop(hvp, wrt(w))]`, at N = 256 samples, D = 64 features, C = 10 classes, in three
//! variants:
//!
//! * `grad`: `softmax_loss_grad`, the value and ∇L;
//! * `hvp`: `softmax_loss_hvp`, the value, ∇L and H·V in the direction [`Inputs::v`];
//! * `hvp_hand`: the closed form, written with ndarray as a competent person would.
//!
//! The closed form. With S = XW, P = softmax(S) row by row and Y the one-hot labels,
//! L = −(1/N) Σᵢ log Pᵢ,yᵢ and ∇L = Xᵀ(P − Y)/N. In a direction V the scores move by
//! Ṡ = XV, and the derivative of a softmax row p in the direction ṡ is
//! ṗⱼ = pⱼṡⱼ − pⱼ Σₖ pₖṡₖ (from ∂pⱼ/∂sₖ = pⱼ(δⱼₖ − pₖ)). Y and X do not depend on W, so
//! H·V = d/dε ∇L(W + εV) = Xᵀ Ṗ / N = Xᵀ·(P⊙(XV) − P⊙rowsum(P⊙(XV)))/N.
//!
//! [`check`] asserts that the three variants agree (value and gradient to
//! [`EXACT`], `hvp`'s H·V with `hvp_hand`'s to `EXACT`) and that H·V is the central
//! difference of `softmax_loss_grad` in the direction V (to [`NUMERIC`]).

use backprop::backprop;
use backprop::ndarray::{Array2, Axis, Zip};

use crate::tensor::{data, labels};
use crate::{EXACT, NUMERIC, assert_close};

/// Samples in the batch.
pub const N: usize = 256;
/// Input features.
pub const D: usize = 64;
/// Classes.
pub const C: usize = 10;

/// The course's softmax loss of a linear classifier.
#[backprop(hvp, wrt(w))]
pub fn softmax_loss(w: &Array2<f64>, x: &Array2<f64>, y: &[usize]) -> f64 {
    let scores = x.dot(w);
    let logp = backprop::log_softmax(&scores, Axis(1));
    -backprop::pick(&logp, y).mean().unwrap()
}

/// The benchmark's inputs: `w` and the direction `v` (D×C), `x` (N×D), `y`.
pub struct Inputs {
    pub w: Array2<f64>,
    pub v: Array2<f64>,
    pub x: Array2<f64>,
    pub y: Vec<usize>,
}

/// Inputs at the given sizes: entries of `x` and `v` in [−1, 1), `w` scaled by 0.3 so that the
/// scores are of order one (the softmax neither saturated nor uniform).
pub fn inputs_of(n: usize, d: usize, c: usize, seed: u64) -> Inputs {
    Inputs {
        w: data(d, c, seed) * 0.3,
        v: data(d, c, seed + 1),
        x: data(n, d, seed + 2),
        y: labels(n, c),
    }
}

/// The benchmark's inputs, at N, D, C.
pub fn inputs() -> Inputs {
    inputs_of(N, D, C, 71)
}

/// `f_grad`: the value and ∇L.
#[inline(never)]
pub fn grad(w: &Array2<f64>, x: &Array2<f64>, y: &[usize]) -> (f64, Array2<f64>) {
    softmax_loss_grad(w, x, y)
}

/// `f_hvp`: the value, ∇L and H·V.
#[inline(never)]
pub fn hvp(
    w: &Array2<f64>,
    x: &Array2<f64>,
    y: &[usize],
    v: &Array2<f64>,
) -> (f64, (Array2<f64>, Array2<f64>)) {
    let (value, gradient, hv) = softmax_loss_hvp(w, x, y, v);
    (value, (gradient, hv))
}

/// The closed form: two products forward (XW, XV), the softmax computed in place in XW's
/// buffer, Ṗ/N in place in XV's, (P − Y)/N in place in P's, two products backward.
#[inline(never)]
pub fn hvp_hand(
    w: &Array2<f64>,
    x: &Array2<f64>,
    y: &[usize],
    v: &Array2<f64>,
) -> (f64, (Array2<f64>, Array2<f64>)) {
    let n = x.nrows() as f64;
    let mut probs = x.dot(w);
    let mut dprobs = x.dot(v);
    let mut loss = 0.0;
    for ((mut p, mut r), &label) in probs.rows_mut().into_iter().zip(dprobs.rows_mut()).zip(y) {
        // p = softmax(s) (stable), the loss from log p[y] = s[y] − max − ln Σ e^(s − max).
        let max = p.fold(f64::NEG_INFINITY, |m, &s| m.max(s));
        let correct = p[label] - max;
        p.mapv_inplace(|s| (s - max).exp());
        let total = p.sum();
        loss -= correct - total.ln();
        p /= total;
        // r = (p ⊙ ṡ − p Σ p ⊙ ṡ) / N, ṡ the row of XV.
        let mut dot = 0.0;
        Zip::from(&mut r).and(&p).for_each(|r, &p| {
            *r *= p;
            dot += *r;
        });
        Zip::from(&mut r)
            .and(&p)
            .for_each(|r, &p| *r = (*r - p * dot) / n);
        // p → (p − one_hot) / N: the gradient of the scores.
        p[label] -= 1.0;
        p /= n;
    }
    let gradient = x.t().dot(&probs);
    let hv = x.t().dot(&dprobs);
    (loss / n, (gradient, hv))
}

/// Asserts that the three variants agree at `inputs` and that H·V is the central difference
/// of `softmax_loss_grad` in the direction V.
pub fn check(inputs: &Inputs) {
    let Inputs { w, v, x, y } = inputs;
    let flat = |a: &Array2<f64>| a.iter().copied().collect::<Vec<f64>>();
    let (value, gradient) = grad(w, x, y);
    let (value_g, (gradient_g, hv_g)) = hvp(w, x, y, v);
    let (value_h, (gradient_h, hv_h)) = hvp_hand(w, x, y, v);
    assert_close(
        "softmax_hvp values",
        &[value_g, value_h],
        &[value, value],
        EXACT,
    );
    assert_close(
        "softmax_hvp generated gradient",
        &flat(&gradient_g),
        &flat(&gradient),
        EXACT,
    );
    assert_close(
        "softmax_hvp hand gradient",
        &flat(&gradient_h),
        &flat(&gradient),
        EXACT,
    );
    assert_close("softmax_hvp H·v", &flat(&hv_g), &flat(&hv_h), EXACT);
    assert!(
        hv_h.iter().any(|&h| h.abs() > 1e-3),
        "softmax_hvp: H·v vanishes"
    );
    let reference = crate::gradient_difference(
        |p| {
            let w = Array2::from_shape_vec(w.raw_dim(), p.to_vec()).unwrap();
            flat(&grad(&w, x, y).1)
        },
        &flat(w),
        &flat(v),
    );
    assert_close(
        "softmax_hvp H·v by differences",
        &flat(&hv_h),
        &reference,
        NUMERIC,
    );
}
