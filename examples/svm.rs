//! The notes' naive multiclass SVM loss, written with loops over flat row-major slices,
//! trained by gradient descent on a small synthetic data set with the gradient `#[backprop]`
//! wrote; then the generated backward code.
//!
//! Run with `cargo run --example svm`.

use backprop::backprop;

/// The naive SVM loss with L2 regularisation: `x` is n×d, `w` is d×c, `y` the labels.
#[backprop(wrt(w))]
#[allow(clippy::needless_range_loop, clippy::too_many_arguments)]
fn svm_loss(w: &[f64], x: &[f64], y: &[usize], n: usize, d: usize, c: usize, reg: f64) -> f64 {
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

fn main() {
    // Three Gaussian blobs in the plane, plus a constant 1 feature for the bias.
    let (n, d, c) = (150, 3, 3);
    let centers = [[2.0, 0.0], [-1.0, 1.7], [-1.0, -1.7]];
    let mut noise = Noise(11);
    let mut x = Vec::with_capacity(n * d);
    let mut y = Vec::with_capacity(n);
    for i in 0..n {
        let class = i % c;
        x.extend([
            centers[class][0] + 0.8 * noise.normal(),
            centers[class][1] + 0.8 * noise.normal(),
            1.0,
        ]);
        y.push(class);
    }
    let mut w: Vec<f64> = (0..d * c).map(|_| 0.01 * noise.normal()).collect();
    for step in 0..=100 {
        let (loss, dw) = svm_loss_grad(&w, &x, &y, n, d, c, 0.01);
        if step % 10 == 0 {
            let correct = (0..n)
                .filter(|&i| {
                    let score = |j: usize| (0..d).map(|k| x[i * d + k] * w[k * c + j]).sum::<f64>();
                    (0..c).max_by(|&a, &b| score(a).total_cmp(&score(b))) == Some(y[i])
                })
                .count();
            println!("step {step:>3}  loss {loss:.4}  training accuracy {correct}/{n}");
        }
        for (wk, dk) in w.iter_mut().zip(&dw) {
            *wk -= 0.1 * dk;
        }
    }
    println!(
        "\nThe backward pass #[backprop] wrote:\n\n{}",
        svm_loss_backward_source()
    );
}
