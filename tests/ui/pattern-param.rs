use backprop::backprop;

#[backprop]
fn product((a, b): (f64, f64)) -> f64 {
    a * b
}

fn main() {
    let (_y, _grad) = product_grad((2.0, 3.0));
}
