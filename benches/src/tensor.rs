//! Tensor programs: the course's vectorized losses on ndarray, exactly as in `tests/losses.rs`,
//! at N = 256 examples, D = 512 features, H = 256 hidden units and C = 10 classes, and two of
//! its layers that return arrays (an affine + ReLU layer at the same sizes, [`affine_relu`], and
//! the naive convolution on `Array4`, [`conv`]), each in two variants with one signature:
//!
//! * `generated`: the `_grad` that `#[backprop]` wrote (for a layer, its `_backward`, given the
//!   upstream gradient `dout`);
//! * `hand`: the notes' backward written with ndarray as a competent person would: forward
//!   values cached, `dscores = (softmax − one_hot) / N` built in place in the probabilities'
//!   buffer, one matrix product per weight gradient, `scaled_add` for the L2 term, the ReLU
//!   mask applied in place; it computes the same loss value, its L2 term as the notes'
//!   `0.5 * reg * np.sum(W * W)` (`(w * w).sum()`: ndarray's unrolled sum over a temporary
//!   beats a sequential `fold` over `w` by about 2.5× at this size).
//!
//! Both are `#[inline(never)]`, as in the scalar programs. [`check`] asserts that they agree to
//! [`EXACT`](crate::EXACT) relative error on the loss (a layer's output) and on every gradient
//! entry.

use backprop::backprop;
use backprop::ndarray::{Array1, Array2, Array4, Axis};

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

/// Asserts that `a` and `b`, of the same shape, agree entry by entry to `tolerance`.
fn assert_arrays<D: backprop::ndarray::Dimension>(
    what: &str,
    a: &backprop::ndarray::Array<f64, D>,
    b: &backprop::ndarray::Array<f64, D>,
    tolerance: f64,
) {
    assert_eq!(a.shape(), b.shape(), "{what}: shapes differ");
    assert_close(
        what,
        a.as_slice().unwrap(),
        b.as_slice().unwrap(),
        tolerance,
    );
}

/// The course's affine + ReLU layer, `np.maximum(0, x.dot(w) + b)`, returning its output, at
/// N = 256, D = 512, H = 256, through its backward given an upstream gradient `dout` (N×H).
pub mod affine_relu {
    use super::*;

    /// `(dx, dw, db)`.
    pub type Grad = (Array2<f64>, Array2<f64>, Array1<f64>);

    /// Exactly as in the README ("Functions that return arrays") and `tests/outputs.rs`.
    #[backprop]
    pub fn affine_relu(x: &Array2<f64>, w: &Array2<f64>, b: &Array1<f64>) -> Array2<f64> {
        let z = x.dot(w) + b;
        z.mapv(|v| v.max(0.0))
    }

    /// The benchmark's inputs: `x` (N×D), `w` (D×H), `b` (H), the upstream gradient `dout`
    /// (N×H), which each call gets a clone of (in both variants).
    pub struct Inputs {
        pub x: Array2<f64>,
        pub w: Array2<f64>,
        pub b: Array1<f64>,
        pub dout: Array2<f64>,
    }

    /// The weights of `two_layer`'s first layer: about half the units active.
    pub fn inputs() -> Inputs {
        inputs_of(N, D, H, 40)
    }

    /// Inputs of other shapes, from other data.
    pub fn inputs_of(n: usize, d: usize, h: usize, seed: u64) -> Inputs {
        Inputs {
            x: data(n, d, seed),
            w: data(d, h, seed + 1) * 0.05,
            b: data(1, h, seed + 2).row(0).to_owned() * 0.1,
            dout: data(n, h, seed + 3),
        }
    }

    #[inline(never)]
    pub fn generated(
        x: &Array2<f64>,
        w: &Array2<f64>,
        b: &Array1<f64>,
        dout: Array2<f64>,
    ) -> (Array2<f64>, Grad) {
        affine_relu_backward(x, w, b, dout)
    }

    /// The course's `affine_relu_backward` (after its forward), written with ndarray: the mask
    /// applied in place in `dout`'s buffer, one matrix product per input gradient.
    #[inline(never)]
    pub fn hand(
        x: &Array2<f64>,
        w: &Array2<f64>,
        b: &Array1<f64>,
        dout: Array2<f64>,
    ) -> (Array2<f64>, Grad) {
        // forward pass: z = x·w + b (in the product's buffer), out = relu(z)
        let z = x.dot(w) + b;
        let out = z.mapv(|v| v.max(0.0));
        // backward pass: dz = dout where z > 0, in place (a select, not a branch: about half
        // the entries are masked, at random)
        let mut dz = dout;
        dz.zip_mut_with(&z, |d, &z| *d = if z > 0.0 { *d } else { 0.0 });
        let dx = dz.dot(&w.t());
        let dw = x.t().dot(&dz);
        let db = dz.sum_axis(Axis(0));
        (out, (dx, dw, db))
    }

    /// Asserts that `generated` and `hand` agree on the output and every gradient entry.
    pub fn check(inputs: &Inputs) {
        let Inputs { x, w, b, dout } = inputs;
        let (out_g, (dx_g, dw_g, db_g)) = generated(x, w, b, dout.clone());
        let (out_h, (dx_h, dw_h, db_h)) = hand(x, w, b, dout.clone());
        assert_arrays("affine_relu out", &out_g, &out_h, EXACT);
        assert_arrays("affine_relu dx", &dx_g, &dx_h, EXACT);
        assert_arrays("affine_relu dw", &dw_g, &dw_h, EXACT);
        assert_arrays("affine_relu db", &db_g, &db_h, EXACT);
    }

    /// The fraction of pre-activations above zero.
    pub fn active_fraction(inputs: &Inputs) -> f64 {
        let z = inputs.x.dot(&inputs.w) + &inputs.b;
        z.iter().filter(|&&v| v > 0.0).count() as f64 / z.len() as f64
    }
}

/// The course's naive convolution on `Array4`, written with element loops, returning its output,
/// through its backward given an upstream gradient `dout`: a batch of `BATCH` images of
/// `CHANNELS`×`SIDE`×`SIDE`, `FILTERS` filters of `CHANNELS`×`K`×`K`, stride `STRIDE`.
pub mod conv {
    use super::*;

    /// Images in the batch.
    pub const BATCH: usize = 8;
    /// Input channels.
    pub const CHANNELS: usize = 3;
    /// Image height and width.
    pub const SIDE: usize = 16;
    /// Filters.
    pub const FILTERS: usize = 8;
    /// Filter height and width.
    pub const K: usize = 3;
    /// Stride.
    pub const STRIDE: usize = 1;

    /// `(dx, dw, db)`.
    pub type Grad = (Array4<f64>, Array4<f64>, Array1<f64>);

    /// Exactly as in `tests/layers.rs`:
    /// `out[n, f, i, j] = Σ_{c, a, q} x[n, c, i·s + a, j·s + q] · w[f, c, a, q] + b[f]`.
    #[backprop(wrt(x, w, b))]
    pub fn conv_naive(
        x: &Array4<f64>,
        w: &Array4<f64>,
        b: &Array1<f64>,
        stride: usize,
    ) -> Array4<f64> {
        let (n, c, h, wd) = x.dim();
        let (f, _, hh, ww) = w.dim();
        let ho = 1 + (h - hh) / stride;
        let wo = 1 + (wd - ww) / stride;
        let mut out = Array4::zeros((n, f, ho, wo));
        for i_n in 0..n {
            for i_f in 0..f {
                for i in 0..ho {
                    for j in 0..wo {
                        let mut acc = b[i_f];
                        for k in 0..c {
                            for a in 0..hh {
                                for q in 0..ww {
                                    acc += x[[i_n, k, i * stride + a, j * stride + q]]
                                        * w[[i_f, k, a, q]];
                                }
                            }
                        }
                        out[[i_n, i_f, i, j]] = acc;
                    }
                }
            }
        }
        out
    }

    /// The benchmark's inputs: `x` (BATCH×CHANNELS×SIDE×SIDE), `w` (FILTERS×CHANNELS×K×K), `b`
    /// (FILTERS), `stride`, the upstream gradient `dout` (of the output's shape), which each
    /// call gets a clone of (in both variants).
    pub struct Inputs {
        pub x: Array4<f64>,
        pub w: Array4<f64>,
        pub b: Array1<f64>,
        pub stride: usize,
        pub dout: Array4<f64>,
    }

    pub fn inputs() -> Inputs {
        inputs_of((BATCH, CHANNELS, SIDE, SIDE), (FILTERS, K), STRIDE, 50)
    }

    /// Inputs of other shapes: `x` of `(n, c, h, w)`, `filters` filters of `c`×`k`×`k`.
    pub fn inputs_of(
        (n, c, h, wd): (usize, usize, usize, usize),
        (filters, k): (usize, usize),
        stride: usize,
        seed: u64,
    ) -> Inputs {
        let four = |shape: (usize, usize, usize, usize), seed| {
            let flat = data(1, shape.0 * shape.1 * shape.2 * shape.3, seed);
            Array4::from_shape_vec(shape, flat.into_raw_vec_and_offset().0).unwrap()
        };
        let (ho, wo) = (1 + (h - k) / stride, 1 + (wd - k) / stride);
        Inputs {
            x: four((n, c, h, wd), seed),
            w: four((filters, c, k, k), seed + 1) * 0.2,
            b: data(1, filters, seed + 2).row(0).to_owned() * 0.1,
            stride,
            dout: four((n, filters, ho, wo), seed + 3),
        }
    }

    #[inline(never)]
    pub fn generated(
        x: &Array4<f64>,
        w: &Array4<f64>,
        b: &Array1<f64>,
        stride: usize,
        dout: Array4<f64>,
    ) -> (Array4<f64>, Grad) {
        conv_naive_backward(x, w, b, stride, dout)
    }

    /// The course's `conv_forward_naive` and `conv_backward_naive`, as element loops: the
    /// output computed, then `db`, `dx` and `dw` accumulated in one pass over the output.
    #[inline(never)]
    pub fn hand(
        x: &Array4<f64>,
        w: &Array4<f64>,
        b: &Array1<f64>,
        stride: usize,
        dout: Array4<f64>,
    ) -> (Array4<f64>, Grad) {
        let (n, c, h, wd) = x.dim();
        let (f, _, hh, ww) = w.dim();
        let ho = 1 + (h - hh) / stride;
        let wo = 1 + (wd - ww) / stride;
        // forward pass
        let mut out = Array4::zeros((n, f, ho, wo));
        for i_n in 0..n {
            for i_f in 0..f {
                for i in 0..ho {
                    for j in 0..wo {
                        let mut acc = b[i_f];
                        for k in 0..c {
                            for a in 0..hh {
                                for q in 0..ww {
                                    acc += x[[i_n, k, i * stride + a, j * stride + q]]
                                        * w[[i_f, k, a, q]];
                                }
                            }
                        }
                        out[[i_n, i_f, i, j]] = acc;
                    }
                }
            }
        }
        // backward pass
        let mut dx = Array4::zeros(x.raw_dim());
        let mut dw = Array4::zeros(w.raw_dim());
        let mut db = Array1::zeros(f);
        for i_n in 0..n {
            for i_f in 0..f {
                for i in 0..ho {
                    for j in 0..wo {
                        let d = dout[[i_n, i_f, i, j]];
                        db[i_f] += d;
                        for k in 0..c {
                            for a in 0..hh {
                                for q in 0..ww {
                                    let (r, s) = (i * stride + a, j * stride + q);
                                    dx[[i_n, k, r, s]] += w[[i_f, k, a, q]] * d;
                                    dw[[i_f, k, a, q]] += x[[i_n, k, r, s]] * d;
                                }
                            }
                        }
                    }
                }
            }
        }
        (out, (dx, dw, db))
    }

    /// Asserts that `generated` and `hand` agree on the output and every gradient entry, to
    /// [`EXACT`](crate::EXACT) although the generated reverse loops add the contributions in
    /// the opposite order (1568 terms per entry of `dw` and `db` at the benchmark size).
    pub fn check(inputs: &Inputs) {
        let Inputs {
            x,
            w,
            b,
            stride,
            dout,
        } = inputs;
        let (out_g, (dx_g, dw_g, db_g)) = generated(x, w, b, *stride, dout.clone());
        let (out_h, (dx_h, dw_h, db_h)) = hand(x, w, b, *stride, dout.clone());
        assert_arrays("conv out", &out_g, &out_h, EXACT);
        assert_arrays("conv dx", &dx_g, &dx_h, EXACT);
        assert_arrays("conv dw", &dw_g, &dw_h, EXACT);
        assert_arrays("conv db", &db_g, &db_h, EXACT);
    }
}

/// Asserts that both variants of every tensor program agree at the benchmark inputs, and that
/// the two-layer net's and the affine + ReLU layer's ReLUs are neither (almost) all on nor all
/// off there.
pub fn check() {
    softmax::check(&softmax::inputs(), REG);
    let at = two_layer::inputs();
    two_layer::check(&at, REG);
    let active = two_layer::active_fraction(&at);
    assert!(
        (0.1..0.9).contains(&active),
        "two-layer: a fraction {active} of the hidden units is active"
    );
    let at = affine_relu::inputs();
    affine_relu::check(&at);
    let active = affine_relu::active_fraction(&at);
    assert!(
        (0.1..0.9).contains(&active),
        "affine_relu: a fraction {active} of the units is active"
    );
    conv::check(&conv::inputs());
}
