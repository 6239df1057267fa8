use backprop::backprop;

fn pair(x: f64) -> (f64, f64) {
    (x, 2.0 * x)
}

#[backprop]
fn product(x: f64, y: f64) -> f64 {
    let (a, b) = pair(x * y);
    a * b
}

fn main() {
    let (_y, (_dx, _dy)) = product_grad(2.0, 3.0);
}
