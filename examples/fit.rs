//! Logistic regression trained by gradient descent with a `#[backprop]` gradient, on a small
//! synthetic data set of two Gaussian blobs that the example makes itself.
//!
//! Run with `cargo run --example fit`.

use backprop::backprop;

/// Cross-entropy of one labelled point under the model p(y = 1 | x) = σ(w0 x0 + w1 x1 + w2),
/// written with the stable softplus gate: -ln σ(z) = softplus(-z), -ln(1 - σ(z)) = softplus(z).
/// Only the weights are differentiated; the point and its label are constants.
#[backprop(wrt(w))]
fn point_loss(w: [f64; 3], x0: f64, x1: f64, label: f64) -> f64 {
    let z = w[0] * x0 + w[1] * x1 + w[2];
    backprop::softplus(z) - label * z
}

/// A small deterministic generator (64-bit LCG + Box–Muller), so the example needs no crate.
struct Gaussian(u64);

impl Gaussian {
    fn uniform(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn sample(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

fn main() {
    let mut noise = Gaussian(7);
    // 100 points around (-1, -1) labelled 0 and 100 around (1.5, 1) labelled 1.
    let data: Vec<([f64; 2], f64)> = (0..200)
        .map(|i| {
            let (center, label) = if i % 2 == 0 {
                ([-1.0, -1.0], 0.0)
            } else {
                ([1.5, 1.0], 1.0)
            };
            (
                [center[0] + noise.sample(), center[1] + noise.sample()],
                label,
            )
        })
        .collect();

    let mut w = [0.0; 3];
    let learning_rate = 0.5;
    for step in 0..=200 {
        let mut loss = 0.0;
        let mut grad = [0.0; 3];
        for &(x, label) in &data {
            let (l, dw) = point_loss_grad(w, x[0], x[1], label);
            loss += l;
            for k in 0..3 {
                grad[k] += dw[k];
            }
        }
        let n = data.len() as f64;
        if step % 20 == 0 {
            println!("step {step:>3}  loss {:.5}", loss / n);
        }
        for k in 0..3 {
            w[k] -= learning_rate * grad[k] / n;
        }
    }
    let correct = data
        .iter()
        .filter(|(x, label)| {
            let z = w[0] * x[0] + w[1] * x[1] + w[2];
            (z > 0.0) == (*label == 1.0)
        })
        .count();
    println!(
        "\nweights {w:.3?}, training accuracy {correct}/{}",
        data.len()
    );
    println!(
        "\nThe gradient #[backprop] wrote:\n\n{}",
        point_loss_backward_source()
    );
}
