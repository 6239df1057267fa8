use backprop::backprop;

#[backprop]
fn smoothness(w: &[f64]) -> f64 {
    let mut s = 0.0;
    for pair in w.windows(2) {
        s += (pair[1] - pair[0]).powi(2);
    }
    s
}

fn main() {
    let _ = smoothness_grad(&[1.0, 2.0, 4.0]);
}
