//! A small convolutional net built from `#[backprop]` layers — a naive convolution on
//! `Array4`, ReLU, max-pooling, a flatten and an affine read-out — trained on a synthetic
//! image task this example makes: 8×8 images of horizontal or vertical stripes, at a random
//! phase and with noise. Every layer is a function that returns an array, written as the
//! course's `*_forward` loops are; the loss calls them, and its gradient goes back through
//! each layer's `_backward` (the modular API of the lecture notes). Loss and accuracy are
//! printed as they improve.
//!
//! Run with `cargo run --release --example layers`.

use backprop::backprop;
use backprop::ndarray::{Array1, Array2, Array4, Axis};

/// `conv_forward_naive` with stride 1 and no padding.
#[backprop]
fn conv(x: &Array4<f64>, w: &Array4<f64>, b: &Array1<f64>) -> Array4<f64> {
    let (n, c, h, wd) = x.dim();
    let (f, _, hh, ww) = w.dim();
    let mut out = Array4::zeros((n, f, h - hh + 1, wd - ww + 1));
    for i_n in 0..n {
        for i_f in 0..f {
            for i in 0..h - hh + 1 {
                for j in 0..wd - ww + 1 {
                    let mut acc = b[i_f];
                    for k in 0..c {
                        for a in 0..hh {
                            for q in 0..ww {
                                acc += x[[i_n, k, i + a, j + q]] * w[[i_f, k, a, q]];
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

/// `max_pool_forward_naive` over 2×2 windows, stride 2.
#[backprop]
fn max_pool(x: &Array4<f64>) -> Array4<f64> {
    let (n, c, h, w) = x.dim();
    let mut out = Array4::zeros((n, c, h / 2, w / 2));
    for i_n in 0..n {
        for k in 0..c {
            for i in 0..h / 2 {
                for j in 0..w / 2 {
                    let mut m = x[[i_n, k, 2 * i, 2 * j]];
                    for a in 0..2 {
                        for q in 0..2 {
                            m = m.max(x[[i_n, k, 2 * i + a, 2 * j + q]]);
                        }
                    }
                    out[[i_n, k, i, j]] = m;
                }
            }
        }
    }
    out
}

/// conv → ReLU → max-pool → flatten → affine → softmax cross-entropy, plus L2 on the weights.
#[backprop(wrt(w1, b1, w2, b2))]
#[allow(clippy::too_many_arguments)]
fn loss(
    w1: &Array4<f64>,
    b1: &Array1<f64>,
    w2: &Array2<f64>,
    b2: &Array1<f64>,
    x: &Array4<f64>,
    y: &[usize],
    reg: f64,
) -> f64 {
    let features: Array4<f64> = conv(x, w1, b1);
    let active = features.mapv(|v| v.max(0.0));
    let pooled: Array4<f64> = max_pool(&active);
    let (n, c, h, w) = pooled.dim();
    let flat = pooled.to_shape((n, c * h * w)).unwrap();
    let scores = flat.dot(w2) + b2;
    let log_probs = backprop::log_softmax(&scores, Axis(1));
    let data_loss = -backprop::pick(&log_probs, y).mean().unwrap();
    data_loss + 0.5 * reg * ((w1 * w1).sum() + (w2 * w2).sum())
}

/// A small deterministic generator (64-bit LCG), so the example needs no crate.
struct Noise(u64);

impl Noise {
    fn uniform(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
}

/// `n` images of stripes: label 0 horizontal, 1 vertical, with a random period, phase and
/// noise.
fn stripes(n: usize, noise: &mut Noise) -> (Array4<f64>, Vec<usize>) {
    let mut x = Array4::zeros((n, 1, 8, 8));
    let mut y = Vec::with_capacity(n);
    for k in 0..n {
        let label = (noise.uniform() < 0.5) as usize;
        let period = 2.0 + 2.0 * noise.uniform();
        let phase = noise.uniform() * std::f64::consts::TAU;
        for i in 0..8 {
            for j in 0..8 {
                let along = if label == 0 { i } else { j } as f64;
                let value = (std::f64::consts::TAU * along / period + phase).sin();
                x[[k, 0, i, j]] = value + 0.3 * (noise.uniform() - 0.5);
            }
        }
        y.push(label);
    }
    (x, y)
}

fn accuracy(
    w1: &Array4<f64>,
    b1: &Array1<f64>,
    w2: &Array2<f64>,
    b2: &Array1<f64>,
    x: &Array4<f64>,
    y: &[usize],
) -> f64 {
    let pooled = max_pool(&conv(x, w1, b1).mapv(|v| v.max(0.0)));
    let n = y.len();
    let flat = pooled.to_shape((n, 36)).unwrap();
    let scores = flat.dot(w2) + b2;
    let right = scores
        .rows()
        .into_iter()
        .zip(y)
        .filter(|(row, label)| (row[1] > row[0]) as usize == **label)
        .count();
    right as f64 / n as f64
}

fn main() {
    let mut noise = Noise(7);
    let (x, y) = stripes(64, &mut noise);
    let (x_test, y_test) = stripes(200, &mut noise);
    let mut w1 = Array4::from_shape_fn((4, 1, 3, 3), |_| 0.3 * (noise.uniform() - 0.5));
    let mut b1 = Array1::zeros(4);
    let mut w2 = Array2::from_shape_fn((36, 2), |_| 0.3 * (noise.uniform() - 0.5));
    let mut b2 = Array1::zeros(2);
    let (rate, reg) = (0.5, 1e-4);
    for step in 0..=300 {
        let (value, (dw1, db1, dw2, db2)) = loss_grad(&w1, &b1, &w2, &b2, &x, &y, reg);
        if step % 50 == 0 {
            println!(
                "step {step:3}: loss {value:.4}, training accuracy {:.2}, test accuracy {:.2}",
                accuracy(&w1, &b1, &w2, &b2, &x, &y),
                accuracy(&w1, &b1, &w2, &b2, &x_test, &y_test),
            );
        }
        w1.scaled_add(-rate, &dw1);
        b1.scaled_add(-rate, &db1);
        w2.scaled_add(-rate, &dw2);
        b2.scaled_add(-rate, &db2);
    }
}
