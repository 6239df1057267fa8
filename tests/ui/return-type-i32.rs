use backprop::backprop;

#[backprop]
fn rounded_square(x: f64) -> i32 {
    (x * x) as i32
}

fn main() {
    let _y = rounded_square(3.0);
    let (_y, _dx) = rounded_square_backward(3.0, 1);
}
