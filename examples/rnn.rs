//! An Elman RNN on ndarray, its hidden state carried by a loop over the time steps, trained
//! with gradients written by `#[backprop]` on a small synthetic sequence task: read a sequence
//! of numbers, then output a weighted sum that favours the early ones (the net has to carry
//! them through the later steps). It checks the gradient against central differences first,
//! then prints the loss as it falls.
//!
//! Run with `cargo run --release --example rnn`.

use backprop::ndarray::{Array1, Array2, Axis};
use backprop::{backprop, check_gradient};

/// Mean squared error of an RNN over a batch: `xs` is N×T (one sequence per row), the state
/// `h` (N×H) starts at `h0` and is replaced at every step,
/// `h = tanh(x_t · W_x + h · W_h + b)`; the prediction is `h · v`.
#[backprop(wrt(wx, wh, b, v))]
#[allow(clippy::too_many_arguments)]
fn rnn_loss(
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

/// A small deterministic generator (64-bit LCG), so the example needs no crate.
struct Noise(u64);

impl Noise {
    fn uniform(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 11) as f64 + 0.5) / (1u64 << 53) as f64 * 2.0 - 1.0
    }
}

/// `n` sequences of `steps` numbers in (−1, 1), and their targets Σ_t 0.8^t x_t / 2.
fn task(n: usize, steps: usize, noise: &mut Noise) -> (Array2<f64>, Array1<f64>) {
    let xs = Array2::from_shape_fn((n, steps), |_| noise.uniform());
    let targets = Array1::from_shape_fn(n, |i| {
        (0..steps)
            .map(|t| 0.8f64.powi(t as i32) * xs[[i, t]])
            .sum::<f64>()
            / 2.0
    });
    (xs, targets)
}

fn main() {
    let (n, steps, hidden) = (64, 8, 16);
    let mut noise = Noise(7);
    let (xs, targets) = task(n, steps, &mut noise);
    let h0 = Array2::zeros((n, hidden));
    let mut wx = Array2::from_shape_fn((1, hidden), |_| 0.5 * noise.uniform());
    let mut wh = Array2::from_shape_fn((hidden, hidden), |_| 0.3 * noise.uniform());
    let mut b = Array1::zeros(hidden);
    let mut v = Array1::from_shape_fn(hidden, |_| 0.3 * noise.uniform());

    // The generated gradient against central differences, on the initial weights.
    let (_, (dwx, dwh, db, dv)) = rnn_loss_grad(&wx, &wh, &b, &v, &xs, &h0, &targets);
    let flat: Vec<f64> = wx.iter().chain(&wh).chain(&b).chain(&v).copied().collect();
    let analytic: Vec<f64> = dwx
        .iter()
        .chain(&dwh)
        .chain(&db)
        .chain(&dv)
        .copied()
        .collect();
    let sizes = (hidden, hidden * hidden);
    let check = check_gradient(
        |p: &[f64]| {
            let wx = Array2::from_shape_vec((1, sizes.0), p[..sizes.0].to_vec()).unwrap();
            let rest = &p[sizes.0..];
            let wh = Array2::from_shape_vec((sizes.0, sizes.0), rest[..sizes.1].to_vec()).unwrap();
            let b = Array1::from(rest[sizes.1..sizes.1 + sizes.0].to_vec());
            let v = Array1::from(rest[sizes.1 + sizes.0..].to_vec());
            rnn_loss(&wx, &wh, &b, &v, &xs, &h0, &targets)
        },
        &flat,
        &analytic,
    );
    println!(
        "gradient check against central differences: {}",
        if check.passed() { "passed" } else { "FAILED" }
    );
    assert!(check.passed(), "{check}");

    // Adam on the four parameter arrays.
    let (rate, beta1, beta2, eps) = (0.01, 0.9, 0.999, 1e-8);
    let mut moments: Vec<(Array1<f64>, Array1<f64>)> = [wx.len(), wh.len(), b.len(), v.len()]
        .iter()
        .map(|&k| (Array1::zeros(k), Array1::zeros(k)))
        .collect();
    for step in 1..=1500 {
        let (value, (dwx, dwh, db, dv)) = rnn_loss_grad(&wx, &wh, &b, &v, &xs, &h0, &targets);
        if step == 1 || step % 250 == 0 {
            println!("step {step:>4}  mean squared error {value:.5}");
        }
        let grads = [
            dwx.into_raw_vec_and_offset().0,
            dwh.into_raw_vec_and_offset().0,
            db.to_vec(),
            dv.to_vec(),
        ];
        let params: [&mut [f64]; 4] = [
            wx.as_slice_mut().unwrap(),
            wh.as_slice_mut().unwrap(),
            b.as_slice_mut().unwrap(),
            v.as_slice_mut().unwrap(),
        ];
        for ((param, grad), (m, s)) in params.into_iter().zip(&grads).zip(&mut moments) {
            for k in 0..param.len() {
                m[k] = beta1 * m[k] + (1.0 - beta1) * grad[k];
                s[k] = beta2 * s[k] + (1.0 - beta2) * grad[k] * grad[k];
                let m_hat = m[k] / (1.0 - beta1.powi(step));
                let s_hat = s[k] / (1.0 - beta2.powi(step));
                param[k] -= rate * m_hat / (s_hat.sqrt() + eps);
            }
        }
    }
    let baseline = targets.mapv(|t| t * t).mean().unwrap();
    let (value, _) = rnn_loss_grad(&wx, &wh, &b, &v, &xs, &h0, &targets);
    println!("\nfinal mean squared error {value:.5} (predicting 0: {baseline:.5})");
    println!(
        "\nThe backward pass #[backprop] wrote:\n\n{}",
        rnn_loss_backward_source()
    );
}
