use backprop::backprop;

#[backprop]
fn product(x: f64, y: f64) -> f64 {
    let (a, b) = (x * 2.0, y * 3.0);
    a * b
}

fn main() {
    let (_y, (_dx, _dy)) = product_grad(2.0, 3.0);
}
