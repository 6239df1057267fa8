use backprop::backprop;

#[backprop]
fn write_parameter(mut w: [f64; 2], x: f64) -> f64 {
    w[0] = x;
    w[0] * w[1]
}

fn main() {
    let _ = write_parameter_grad([1.0, 2.0], 3.0);
}
