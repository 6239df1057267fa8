use backprop::backprop;

/// A hand-written gate: `softsign` and `softsign_backward`, no `softsign_forward`.
fn softsign(x: f64) -> f64 {
    x / (1.0 + x.abs())
}

fn softsign_backward(x: f64, d_out: f64) -> (f64, f64) {
    let den = 1.0 + x.abs();
    (x / den, d_out / (den * den))
}

#[backprop(split(softsign))]
fn squashed(x: &[f64]) -> f64 {
    let mut s = 0.0;
    for i in 0..x.len() {
        s += softsign(x[i]);
    }
    s
}

fn main() {
    let _ = squashed_grad(&[0.5, -2.0]);
}
