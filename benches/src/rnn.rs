//! An Elman RNN on ndarray, its hidden state carried by a loop over the time steps, exactly as
//! `examples/rnn.rs`'s `rnn_loss`: N = 64 sequences of T = 16 numbers (`xs`, N×T, one sequence
//! per row), the state `h` (N×H, H = 64) replaced at every step by
//! `h = tanh(x_t · W_x + h · W_h + b)`, the prediction `h · v`, the mean squared error against
//! `targets`. Two variants with one signature:
//!
//! * `generated`: `rnn_loss_grad`, written by `#[backprop(wrt(wx, wh, b, v))]`;
//! * `hand`: backpropagation through time written by hand with ndarray, as the lecture writes
//!   it: the forward loop keeping every state in a `Vec<Array2>` (allocated once, capacity
//!   T + 1), then `derr = 2 err / N`, `dv = h_Tᵀ·derr`, `dh = derr vᵀ`, and the reverse loop
//!   `da = (1 − h_t²) ⊙ dh` (in place), `dW_h += h_{t−1}ᵀ·da`, `dW_x += x_tᵀ·da` (both with
//!   `general_mat_mul`, into the gradient), `db += Σ_rows da`, `dh = da·W_hᵀ` (into a second
//!   buffer, swapped; not computed at t = 0, where nothing reads it).
//!
//! Both are `#[inline(never)]`, as in the other programs. [`check`] asserts that they agree to
//! [`EXACT`](crate::EXACT) relative error on the loss and on every gradient entry.

use backprop::backprop;
use backprop::ndarray::linalg::general_mat_mul;
use backprop::ndarray::{Array1, Array2, Axis};

use crate::tensor::data;
use crate::{EXACT, assert_close};

/// Sequences in the batch.
pub const N: usize = 64;
/// Time steps.
pub const T: usize = 16;
/// Hidden units.
pub const H: usize = 64;

/// The gradient: `(d_wx, d_wh, d_b, d_v)`.
pub type Grad = (Array2<f64>, Array2<f64>, Array1<f64>, Array1<f64>);

/// Mean squared error of an RNN over a batch, exactly as in `examples/rnn.rs`.
#[backprop(wrt(wx, wh, b, v))]
#[allow(clippy::too_many_arguments)]
pub fn rnn_loss(
    wx: &Array2<f64>,
    wh: &Array2<f64>,
    b: &Array1<f64>,
    v: &Array1<f64>,
    xs: &Array2<f64>,
    h0: &Array2<f64>,
    targets: &Array1<f64>,
) -> f64 {
    let mut h = h0.clone();
    for t in 0..xs.ncols() {
        let x_t = xs.column(t).insert_axis(Axis(1));
        h = (x_t.dot(wx) + h.dot(wh) + b).mapv(f64::tanh);
    }
    let err = h.dot(v) - targets;
    (&err * &err).mean().unwrap()
}

/// The benchmark's inputs: the parameters `wx` (1×H), `wh` (H×H), `b` (H), `v` (H), the
/// sequences `xs` (N×T), the initial state `h0` (N×H) and the `targets` (N).
pub struct Inputs {
    pub wx: Array2<f64>,
    pub wh: Array2<f64>,
    pub b: Array1<f64>,
    pub v: Array1<f64>,
    pub xs: Array2<f64>,
    pub h0: Array2<f64>,
    pub targets: Array1<f64>,
}

/// Inputs of `n` sequences of `steps` numbers and `hidden` units from `seed` (the tensor
/// programs' LCG): `xs` in [−1, 1), the targets `Σ_t 0.8^t x_t / 2` (the example's task),
/// `W_h` scaled by 1.2/√H (its spectral radius below 1: the states neither die out nor
/// saturate over the steps), `W_x` by 0.5, `b` by 0.1, `v` by 0.3, and `h0` small, not zero,
/// so that the first step's `h·W_h` is not a product of zeros.
pub fn inputs_of(n: usize, steps: usize, hidden: usize, seed: u64) -> Inputs {
    let xs = data(n, steps, seed);
    let targets = Array1::from_shape_fn(n, |i| {
        (0..steps)
            .map(|t| 0.8f64.powi(t as i32) * xs[[i, t]])
            .sum::<f64>()
            / 2.0
    });
    Inputs {
        wx: data(1, hidden, seed + 1) * 0.5,
        wh: data(hidden, hidden, seed + 2) * (1.2 / (hidden as f64).sqrt()),
        b: data(1, hidden, seed + 3).row(0).to_owned() * 0.1,
        v: data(1, hidden, seed + 4).row(0).to_owned() * 0.3,
        h0: data(n, hidden, seed + 5) * 0.1,
        xs,
        targets,
    }
}

/// The benchmark's inputs: N × T sequences, H hidden units.
pub fn inputs() -> Inputs {
    inputs_of(N, T, H, 41)
}

#[inline(never)]
#[allow(clippy::too_many_arguments)]
pub fn generated(
    wx: &Array2<f64>,
    wh: &Array2<f64>,
    b: &Array1<f64>,
    v: &Array1<f64>,
    xs: &Array2<f64>,
    h0: &Array2<f64>,
    targets: &Array1<f64>,
) -> (f64, Grad) {
    rnn_loss_grad(wx, wh, b, v, xs, h0, targets)
}

/// Backpropagation through time, written by hand.
#[inline(never)]
#[allow(clippy::too_many_arguments)]
pub fn hand(
    wx: &Array2<f64>,
    wh: &Array2<f64>,
    b: &Array1<f64>,
    v: &Array1<f64>,
    xs: &Array2<f64>,
    h0: &Array2<f64>,
    targets: &Array1<f64>,
) -> (f64, Grad) {
    let steps = xs.ncols();
    let n = xs.nrows() as f64;
    // forward: hs[t] is the state before step t, hs[steps] the last
    let mut hs: Vec<Array2<f64>> = Vec::with_capacity(steps + 1);
    hs.push(h0.clone());
    for t in 0..steps {
        let x_t = xs.column(t).insert_axis(Axis(1));
        let mut a = x_t.dot(wx);
        general_mat_mul(1.0, &hs[t], wh, 1.0, &mut a);
        a += b;
        a.mapv_inplace(f64::tanh);
        hs.push(a);
    }
    let err = hs[steps].dot(v) - targets;
    let loss = err.dot(&err) / n;
    // backward: the loss, then the prediction h_T · v
    let derr = err * (2.0 / n);
    let dv = hs[steps].t().dot(&derr);
    let mut dh = derr
        .insert_axis(Axis(1))
        .dot(&v.view().insert_axis(Axis(0)));
    let mut dh_prev = Array2::zeros(dh.raw_dim());
    let mut dwx = Array2::zeros(wx.raw_dim());
    let mut dwh = Array2::zeros(wh.raw_dim());
    let mut db = Array1::zeros(b.raw_dim());
    for t in (0..steps).rev() {
        // through the tanh: da = (1 − h²) ⊙ dh, in dh's buffer
        dh.zip_mut_with(&hs[t + 1], |d, &h| *d *= 1.0 - h * h);
        let da = &dh;
        let x_t = xs.column(t).insert_axis(Axis(1));
        general_mat_mul(1.0, &hs[t].t(), da, 1.0, &mut dwh);
        general_mat_mul(1.0, &x_t.t(), da, 1.0, &mut dwx);
        db += &da.sum_axis(Axis(0));
        if t > 0 {
            // dh_{t−1} = da · W_hᵀ
            general_mat_mul(1.0, da, &wh.t(), 0.0, &mut dh_prev);
            std::mem::swap(&mut dh, &mut dh_prev);
        }
    }
    (loss, (dwx, dwh, db, dv))
}

/// Asserts that `generated` and `hand` agree on the loss and on every gradient entry, and that
/// the states are neither saturated nor vanishing.
pub fn check(at: &Inputs) {
    let Inputs {
        wx,
        wh,
        b,
        v,
        xs,
        h0,
        targets,
    } = at;
    let (loss_g, (dwx_g, dwh_g, db_g, dv_g)) = generated(wx, wh, b, v, xs, h0, targets);
    let (loss_h, (dwx_h, dwh_h, db_h, dv_h)) = hand(wx, wh, b, v, xs, h0, targets);
    assert_close("rnn loss", &[loss_g], &[loss_h], EXACT);
    for (what, g, h) in [
        ("rnn dWx", dwx_g.as_slice(), dwx_h.as_slice()),
        ("rnn dWh", dwh_g.as_slice(), dwh_h.as_slice()),
        ("rnn db", db_g.as_slice(), db_h.as_slice()),
        ("rnn dv", dv_g.as_slice(), dv_h.as_slice()),
    ] {
        assert_close(what, g.unwrap(), h.unwrap(), EXACT);
    }
    assert!(dwh_g.iter().all(|&g| g != 0.0), "rnn: a zero entry in dWh");
}

/// The mean |h| of the last state: how far the states are from 0 (vanishing) and from 1
/// (saturated).
pub fn mean_abs_state(at: &Inputs) -> f64 {
    let mut h = at.h0.clone();
    for t in 0..at.xs.ncols() {
        let x_t = at.xs.column(t).insert_axis(Axis(1));
        h = (x_t.dot(&at.wx) + h.dot(&at.wh) + &at.b).mapv(f64::tanh);
    }
    h.mapv(f64::abs).mean().unwrap()
}
