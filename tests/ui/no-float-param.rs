use backprop::backprop;

#[backprop]
fn count(n: usize) -> f64 {
    n as f64
}

fn main() {
    let (_y, _grad) = count_grad(3);
}
