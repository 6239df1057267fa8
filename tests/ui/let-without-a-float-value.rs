use backprop::backprop;

#[backprop]
fn late_array(x: f64) -> f64 {
    let w: [f64; 2];
    if x > 0.0 {
        w = [x, 1.0];
    } else {
        w = [0.0, x];
    }
    w[0] + w[1]
}

fn main() {
    let _ = late_array_grad(1.0);
}
