use backprop::backprop;

#[backprop]
fn shifted_square(x: f64) -> f64 {
    x = x + 1.0;
    x * x
}

fn main() {
    let (_y, _dx) = shifted_square_grad(3.0);
}
