//! A two-layer net (affine → ReLU → affine → softmax) trained on the course's spiral data set
//! with gradients written by `#[backprop]`, printing the loss and the training accuracy as
//! they improve.
//!
//! Run with `cargo run --release --example two_layer` (or without `--release`, slower).

use backprop::backprop;
use backprop::ndarray::{Array1, Array2, Axis};

/// The loss of the notes' two-layer net: softmax cross-entropy plus L2 on both weight
/// matrices. The data `x`, the labels `y` and `reg` are constants.
#[backprop(wrt(w1, b1, w2, b2))]
#[allow(clippy::too_many_arguments)]
fn loss(
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

/// A small deterministic generator (64-bit LCG + Box–Muller), so the example needs no crate.
struct Noise(u64);

impl Noise {
    fn uniform(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// The course's spiral: `classes` arms of `per_class` points each in the plane.
fn spiral(per_class: usize, classes: usize, noise: &mut Noise) -> (Array2<f64>, Vec<usize>) {
    let mut x = Array2::zeros((per_class * classes, 2));
    let mut y = Vec::with_capacity(per_class * classes);
    for class in 0..classes {
        for i in 0..per_class {
            let r = i as f64 / (per_class - 1) as f64;
            let t = class as f64 * 4.0 + 4.0 * r + noise.normal() * 0.2;
            let row = class * per_class + i;
            x[[row, 0]] = r * t.sin();
            x[[row, 1]] = r * t.cos();
            y.push(class);
        }
    }
    (x, y)
}

fn accuracy(
    w1: &Array2<f64>,
    b1: &Array1<f64>,
    w2: &Array2<f64>,
    b2: &Array1<f64>,
    x: &Array2<f64>,
    y: &[usize],
) -> f64 {
    let hidden = (x.dot(w1) + b1).mapv(|v| v.max(0.0));
    let scores = hidden.dot(w2) + b2;
    let correct = scores
        .rows()
        .into_iter()
        .zip(y)
        .filter(|(row, label)| {
            let best = row
                .iter()
                .enumerate()
                .fold(
                    (0, f64::NEG_INFINITY),
                    |b, (k, &v)| if v > b.1 { (k, v) } else { b },
                );
            best.0 == **label
        })
        .count();
    correct as f64 / y.len() as f64
}

fn main() {
    let mut noise = Noise(42);
    let (x, y) = spiral(100, 3, &mut noise);
    let (hidden, classes) = (100, 3);
    let mut w1 = Array2::from_shape_fn((2, hidden), |_| 0.01 * noise.normal());
    let mut b1 = Array1::zeros(hidden);
    let mut w2 = Array2::from_shape_fn((hidden, classes), |_| 0.01 * noise.normal());
    let mut b2 = Array1::zeros(classes);
    let (step_size, reg) = (1.0, 1e-3);

    for step in 0..=3000 {
        let (value, (dw1, db1, dw2, db2)) = loss_grad(&w1, &b1, &w2, &b2, &x, &y, reg);
        if step % 500 == 0 {
            let acc = accuracy(&w1, &b1, &w2, &b2, &x, &y);
            println!(
                "step {step:>4}  loss {value:.4}  training accuracy {:.1}%",
                100.0 * acc
            );
        }
        w1.scaled_add(-step_size, &dw1);
        b1.scaled_add(-step_size, &db1);
        w2.scaled_add(-step_size, &dw2);
        b2.scaled_add(-step_size, &db2);
    }
    println!(
        "\nThe backward pass #[backprop] wrote:\n\n{}",
        loss_backward_source()
    );
}
