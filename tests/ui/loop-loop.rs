use backprop::backprop;

#[backprop]
fn no_exit_guard(x: f64) -> f64 {
    let mut y = x;
    loop {
        y = y / 2.0;
        if y < 1.0 {
            if x > 0.0 {
                break;
            }
            y = y * 3.0;
        }
    }
    y
}

fn main() {
    let (_y, _dx) = no_exit_guard_grad(10.0);
}
