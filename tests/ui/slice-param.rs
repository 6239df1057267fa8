use backprop::backprop;

#[backprop]
fn first_two(w: &[f64]) -> f64 {
    w[0] * w[1]
}

fn main() {
    let (_y, _dw) = first_two_grad(&[1.0, 2.0]);
}
