use backprop::backprop;

#[backprop]
fn shifted_square(x: f64) -> f64 {
    let y = x * x;
    y = y + 1.0;
    y
}

fn main() {
    let (_y, _dx) = shifted_square_grad(3.0);
}
