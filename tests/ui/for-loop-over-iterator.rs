use backprop::backprop;

#[backprop]
fn total(w: &[f64], x: &[f64]) -> f64 {
    let mut s = 0.0;
    for (a, b) in w.iter().zip(x.iter()) {
        s += a * b;
    }
    s
}

fn main() {
    let _ = total_grad(&[1.0, 2.0], &[3.0, 4.0]);
}
