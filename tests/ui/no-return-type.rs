use backprop::backprop;

#[backprop]
fn square(x: f64) {
    let _y = x * x;
}

fn main() {
    square(3.0);
}
