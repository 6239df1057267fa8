use backprop::backprop;

#[backprop(foo)]
fn square(x: f64) -> f64 {
    x * x
}

fn main() {
    let (_y, _dx) = square_grad(3.0);
}
