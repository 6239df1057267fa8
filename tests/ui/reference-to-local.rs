use backprop::backprop;

#[backprop]
fn double(x: f64) -> f64 {
    let r = &x;
    r * 2.0
}

fn main() {
    let (_y, _dx) = double_grad(3.0);
}
