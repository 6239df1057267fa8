use backprop::backprop;

#[backprop]
async fn square(x: f64) -> f64 {
    x * x
}

fn main() {
    let (_y, _dx) = square_grad(3.0);
}
