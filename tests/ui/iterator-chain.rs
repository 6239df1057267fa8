use backprop::backprop;

#[backprop]
fn sum_of_squares(r: &[f64]) -> f64 {
    r.iter().map(|v| v * v).sum::<f64>()
}

fn main() {
    let _ = sum_of_squares_grad(&[1.0, 2.0]);
}
