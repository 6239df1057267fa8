use backprop::backprop;

#[backprop(wrt(z))]
fn product(x: f64, y: f64) -> f64 {
    x * y
}

fn main() {
    let (_y, _grad) = product_grad(2.0, 3.0);
}
