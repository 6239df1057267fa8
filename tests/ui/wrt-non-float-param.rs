use backprop::backprop;

#[backprop(wrt(x, n))]
fn power(x: f64, n: usize) -> f64 {
    x.powi(n as i32)
}

fn main() {
    let (_y, _dx) = power_grad(2.0, 3);
}
