use backprop::backprop;

#[backprop]
fn scaled_square(x: f64) -> f64 {
    let square = |v: f64| v * v;
    2.0 * square(x)
}

fn main() {
    let (_y, _dx) = scaled_square_grad(3.0);
}
