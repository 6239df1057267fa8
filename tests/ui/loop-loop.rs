use backprop::backprop;

#[backprop]
fn halve_until_small(x: f64) -> f64 {
    let mut y = x;
    loop {
        if y < 1.0 {
            break;
        }
        y = y / 2.0;
    }
    y
}

fn main() {
    let (_y, _dx) = halve_until_small_grad(10.0);
}
