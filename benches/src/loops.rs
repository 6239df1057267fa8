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
//!
//! Two smaller loop programs over n = 1000 entries, in the same two variants, are in
//! [`recurrence`] (a scalar recurrence `h = tanh(h w_i + x_i)` summed over the steps, whose
//! reverse needs every `h`: the generated code keeps them on a tape) and [`dot`] (a dot product
//! accumulated in a loop, then `tanh`: nothing to keep); [`call`] is the recurrence with its
//! step a `#[backprop]` function called in split mode and in the default (joint) mode.

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

/// The length of the [`recurrence`] and [`dot`] programs' inputs.
pub const LEN: usize = 1000;

/// A taped scalar recurrence: h_i = tanh(h_{i−1} w_i + x_i) from h_0, the output Σᵢ h_i,
/// differentiated with respect to `w` and `x`.
///
/// * `generated`: `recurrence_grad`, written by `#[backprop(wrt(w, x))]`; its reverse loop
///   reads `h` from a `backprop::Tape` the forward loop pushed it on (one push per step);
/// * `hand`: what a person writes: the forward loop storing every `h` in a `Vec` allocated once
///   with capacity n + 1, then the reverse loop reading `hs[i + 1]` (for `tanh`'s derivative)
///   and `hs[i]` (for `w`'s), `dh` carried from step to step.
pub mod recurrence {
    use backprop::backprop;

    use crate::{EXACT, assert_close};

    /// The gradient: `(d_w, d_x)`.
    pub type Grad = (Vec<f64>, Vec<f64>);

    #[backprop(wrt(w, x))]
    #[allow(clippy::needless_range_loop)]
    pub fn recurrence(w: &[f64], x: &[f64], h0: f64) -> f64 {
        let mut h = h0;
        let mut total = 0.0;
        for i in 0..w.len() {
            h = (h * w[i] + x[i]).tanh();
            total += h;
        }
        total
    }

    /// The benchmark's inputs: `w` and `x` of length n, and h₀.
    pub struct Inputs {
        pub w: Vec<f64>,
        pub x: Vec<f64>,
        pub h0: f64,
    }

    /// Inputs of length `n` from `seed`: `w` and `x` in [−1, 1), h₀ = 0.3 (the states stay
    /// inside (−1, 1), away from `tanh`'s flat ends: no gradient entry vanishes).
    pub fn inputs_of(n: usize, seed: u64) -> Inputs {
        Inputs {
            w: super::data(n, seed),
            x: super::data(n, seed + 1),
            h0: 0.3,
        }
    }

    /// The benchmark's inputs: n = [`LEN`](super::LEN).
    pub fn inputs() -> Inputs {
        inputs_of(super::LEN, 7)
    }

    #[inline(never)]
    pub fn generated(w: &[f64], x: &[f64], h0: f64) -> (f64, Grad) {
        recurrence_grad(w, x, h0)
    }

    /// The forward loop keeping every state, the reverse loop reading them.
    #[inline(never)]
    #[allow(clippy::needless_range_loop)]
    pub fn hand(w: &[f64], x: &[f64], h0: f64) -> (f64, Grad) {
        let n = w.len();
        // forward: hs[i] is the state before step i, hs[n] the last
        let mut hs = Vec::with_capacity(n + 1);
        hs.push(h0);
        let mut h = h0;
        let mut total = 0.0;
        for i in 0..n {
            h = (h * w[i] + x[i]).tanh();
            total += h;
            hs.push(h);
        }
        // backward: d total / d h_i = 1 at every step, plus what step i + 1 passes back
        let mut dw = vec![0.0; n];
        let mut dx = vec![0.0; n];
        let mut dh = 0.0;
        for i in (0..n).rev() {
            dh += 1.0;
            let h_next = hs[i + 1];
            let da = (1.0 - h_next * h_next) * dh;
            dw[i] = hs[i] * da;
            dx[i] = da;
            dh = w[i] * da;
        }
        (total, (dw, dx))
    }

    /// Asserts that `generated` and `hand` agree on the value and on every entry of both
    /// gradients, and that no entry vanishes.
    pub fn check(at: &Inputs) {
        let (f_g, (dw_g, dx_g)) = generated(&at.w, &at.x, at.h0);
        let (f_h, (dw_h, dx_h)) = hand(&at.w, &at.x, at.h0);
        assert_close("recurrence value", &[f_g], &[f_h], EXACT);
        assert_close("recurrence d_w", &dw_g, &dw_h, EXACT);
        assert_close("recurrence d_x", &dx_g, &dx_h, EXACT);
        assert_eq!((dw_g.len(), dx_g.len()), (at.w.len(), at.x.len()));
        assert!(
            dw_g.iter().chain(&dx_g).all(|&g| g != 0.0),
            "recurrence: a zero gradient entry"
        );
    }
}

/// The [`recurrence`] with its step written as a `#[backprop]` function `step` that the loop
/// calls, `h = step(h, w[i], x[i])`: the composition of the lecture's modular API inside a loop.
///
/// * `generated`: `#[backprop(wrt(w, x), split(step))]`: the forward loop calls `step_forward`
///   and keeps the closure of its reverse on a tape; the reverse loop calls it (`step`'s
///   forward pass runs once);
/// * `joint`: the same function with `#[backprop(wrt(w, x))]`: the forward loop keeps `step`'s
///   value, the reverse loop calls `step_backward`, which runs `step`'s `tanh` again;
/// * `hand`: [`recurrence::hand`], the same computation written by hand.
pub mod call {
    use backprop::backprop;

    use crate::{EXACT, assert_close};

    /// One step: h' = tanh(h w + x).
    #[backprop]
    pub fn step(h: f64, w: f64, x: f64) -> f64 {
        (h * w + x).tanh()
    }

    #[backprop(wrt(w, x), split(step))]
    #[allow(clippy::needless_range_loop)]
    pub fn recurrence_split(w: &[f64], x: &[f64], h0: f64) -> f64 {
        let mut h = h0;
        let mut total = 0.0;
        for i in 0..w.len() {
            h = step(h, w[i], x[i]);
            total += h;
        }
        total
    }

    #[backprop(wrt(w, x))]
    #[allow(clippy::needless_range_loop)]
    pub fn recurrence_joint(w: &[f64], x: &[f64], h0: f64) -> f64 {
        let mut h = h0;
        let mut total = 0.0;
        for i in 0..w.len() {
            h = step(h, w[i], x[i]);
            total += h;
        }
        total
    }

    #[inline(never)]
    pub fn generated(w: &[f64], x: &[f64], h0: f64) -> (f64, super::recurrence::Grad) {
        recurrence_split_grad(w, x, h0)
    }

    #[inline(never)]
    pub fn joint(w: &[f64], x: &[f64], h0: f64) -> (f64, super::recurrence::Grad) {
        recurrence_joint_grad(w, x, h0)
    }

    /// Asserts that both generated variants agree with the hand-written gradient.
    pub fn check(at: &super::recurrence::Inputs) {
        let (f_h, (dw_h, dx_h)) = super::recurrence::hand(&at.w, &at.x, at.h0);
        for (name, (f, (dw, dx))) in [
            ("call", generated(&at.w, &at.x, at.h0)),
            ("call_joint", joint(&at.w, &at.x, at.h0)),
        ] {
            assert_close(name, &[f], &[f_h], EXACT);
            assert_close(name, &dw, &dw_h, EXACT);
            assert_close(name, &dx, &dx_h, EXACT);
        }
    }
}

/// A dot product accumulated in a loop, then a nonlinearity: tanh(Σᵢ wᵢ xᵢ), differentiated
/// with respect to `w` and `x`.
///
/// * `generated`: `dot_grad`, written by `#[backprop(wrt(w, x))]`;
/// * `hand`: the forward loop, `ds = 1 − tanh²(s)`, then one loop writing `dw[i] = x[i] ds`
///   and `dx[i] = w[i] ds`.
pub mod dot {
    use backprop::backprop;

    use crate::{EXACT, assert_close};

    /// The gradient: `(d_w, d_x)`.
    pub type Grad = (Vec<f64>, Vec<f64>);

    /// The scale of `w`: Σᵢ wᵢ xᵢ over 1000 entries in [−1, 1) would be ±10, where `tanh` is
    /// flat to 1e-8; scaled, the sum is about ±0.5.
    pub const W_SCALE: f64 = 0.05;

    #[backprop(wrt(w, x))]
    #[allow(clippy::needless_range_loop)]
    pub fn dot(w: &[f64], x: &[f64]) -> f64 {
        let mut s = 0.0;
        for i in 0..w.len() {
            s += w[i] * x[i];
        }
        s.tanh()
    }

    /// The benchmark's inputs: `w` and `x` of length n.
    pub struct Inputs {
        pub w: Vec<f64>,
        pub x: Vec<f64>,
    }

    /// Inputs of length `n` from `seed`: `x` in [−1, 1), `w` in [−W_SCALE, W_SCALE).
    pub fn inputs_of(n: usize, seed: u64) -> Inputs {
        Inputs {
            w: super::data(n, seed)
                .into_iter()
                .map(|v| v * W_SCALE)
                .collect(),
            x: super::data(n, seed + 1),
        }
    }

    /// The benchmark's inputs: n = [`LEN`](super::LEN).
    pub fn inputs() -> Inputs {
        inputs_of(super::LEN, 9)
    }

    #[inline(never)]
    pub fn generated(w: &[f64], x: &[f64]) -> (f64, Grad) {
        dot_grad(w, x)
    }

    #[inline(never)]
    #[allow(clippy::needless_range_loop)]
    pub fn hand(w: &[f64], x: &[f64]) -> (f64, Grad) {
        let n = w.len();
        let mut s = 0.0;
        for i in 0..n {
            s += w[i] * x[i];
        }
        let t = s.tanh();
        let ds = 1.0 - t * t;
        let mut dw = vec![0.0; n];
        let mut dx = vec![0.0; n];
        for i in 0..n {
            dw[i] = x[i] * ds;
            dx[i] = w[i] * ds;
        }
        (t, (dw, dx))
    }

    /// Asserts that `generated` and `hand` agree on the value and on every entry of both
    /// gradients, and that the sum is not where `tanh` is flat.
    pub fn check(at: &Inputs) {
        let (f_g, (dw_g, dx_g)) = generated(&at.w, &at.x);
        let (f_h, (dw_h, dx_h)) = hand(&at.w, &at.x);
        assert_close("dot value", &[f_g], &[f_h], EXACT);
        assert_close("dot d_w", &dw_g, &dw_h, EXACT);
        assert_close("dot d_x", &dx_g, &dx_h, EXACT);
        assert_eq!((dw_g.len(), dx_g.len()), (at.w.len(), at.x.len()));
        assert!(f_g.abs() < 0.99, "dot: tanh saturated ({f_g})");
    }
}

/// cmpad's linear least squares (GradBench's `llsq`), as `backprop-gradbench` writes it: the
/// residual of a polynomial with coefficients `x` at n points `t` of [−1, 1] against their
/// sign, `r = s − Σⱼ xⱼ tʲ` by a loop carrying `r` and the power `tʲ`, summed squared. The
/// reverse of the inner loop reads every power: the generated code either keeps them on a
/// tape or runs that loop again forwards, computing them as the forward loop did.
///
/// * `generated`: `llsq_grad`;
/// * `hand`: GradBench's C++ `manual` tool ported line by line (the residuals in one pass,
///   then `dx[j] -= r tʲ` in a second pass that steps the power again), times the factor 2 of
///   ½Σr² that `manual` folds in the same way.
///
/// At m = 128 coefficients and n = 1024 points (one of the eval's default workloads).
pub mod llsq {
    use backprop::backprop;

    use crate::{EXACT, assert_close};

    /// Coefficients.
    pub const M: usize = 128;
    /// Points.
    pub const N: usize = 1024;

    #[backprop(wrt(x))]
    pub fn llsq(x: &[f64], n: usize) -> f64 {
        let mut sum = 0.0;
        for i in 0..n {
            let t = -1.0 + i as f64 * 2.0 / (n as f64 - 1.0);
            let s = if t > 0.0 {
                1.0
            } else if t < 0.0 {
                -1.0
            } else {
                0.0
            };
            let mut r = s;
            let mut power = 1.0;
            for &xj in x {
                r -= xj * power;
                power *= t;
            }
            sum += r * r;
        }
        sum / 2.0
    }

    /// The benchmark's inputs: the coefficients in [0, 1) (the eval's `rand(m)`) and `n`.
    pub struct Inputs {
        pub x: Vec<f64>,
        pub n: usize,
    }

    pub fn inputs() -> Inputs {
        Inputs {
            x: super::data(M, 11)
                .into_iter()
                .map(|v| (v + 1.0) / 2.0)
                .collect(),
            n: N,
        }
    }

    #[inline(never)]
    pub fn generated(x: &[f64], n: usize) -> (f64, Vec<f64>) {
        llsq_grad(x, n)
    }

    #[inline(never)]
    pub fn hand(x: &[f64], n: usize) -> (f64, Vec<f64>) {
        let m = x.len();
        let t = |i: usize| -1.0 + i as f64 * 2.0 / (n as f64 - 1.0);
        let mut sums = vec![0.0; n];
        let mut value = 0.0;
        for (i, sum) in sums.iter_mut().enumerate() {
            let ti = t(i);
            let mut inner = if ti > 0.0 {
                1.0
            } else if ti < 0.0 {
                -1.0
            } else {
                0.0
            };
            let mut mul = 1.0;
            for &xl in x {
                inner -= xl * mul;
                mul *= ti;
            }
            *sum = inner;
            value += inner * inner;
        }
        let mut dx = vec![0.0; m];
        for (i, &sum) in sums.iter().enumerate() {
            let ti = t(i);
            let mut term = 1.0;
            for d in dx.iter_mut() {
                *d -= sum * term;
                term *= ti;
            }
        }
        (value / 2.0, dx)
    }

    /// Asserts that `generated` and `hand` agree on the value and on every entry of the
    /// gradient.
    pub fn check(at: &Inputs) {
        let (f_g, dx_g) = generated(&at.x, at.n);
        let (f_h, dx_h) = hand(&at.x, at.n);
        assert_close("llsq value", &[f_g], &[f_h], EXACT);
        assert_close("llsq d_x", &dx_g, &dx_h, EXACT);
        assert_eq!(dx_g.len(), at.x.len());
    }
}
