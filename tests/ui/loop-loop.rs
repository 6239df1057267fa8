use backprop::backprop;

#[backprop]
fn no_exit(x: f64) -> f64 {
    let mut y = x;
    loop {
        y = y / 2.0;
        for _ in 0..3 {
            if y < 1.0 {
                break;
            }
            y = y * 0.9;
        }
    }
    y
}

fn main() {
    let (_y, _dx) = no_exit_grad(10.0);
}
