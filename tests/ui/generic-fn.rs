use backprop::backprop;

#[backprop]
fn square<F: std::ops::Mul<Output = F> + Copy>(x: F) -> F {
    x * x
}

fn main() {
    let _y = square(3.0_f64);
    let (_y, _dx) = square_grad(3.0_f64);
}
