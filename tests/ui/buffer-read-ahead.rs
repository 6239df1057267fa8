use backprop::backprop;

// Iteration `i` reads `h[i + 1]` before iteration `i + 1` overwrites it.
#[backprop]
fn read_ahead(a: &[f64]) -> f64 {
    let n = a.len();
    let mut h = vec![1.0; n + 1];
    for i in 0..n {
        h[i] = h[i + 1] * a[i];
    }
    h[0]
}

fn main() {
    let _ = read_ahead_grad(&[1.0, 2.0]);
}
