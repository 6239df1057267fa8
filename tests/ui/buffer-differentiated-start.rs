use backprop::backprop;

#[backprop]
fn start_from_x(x: f64) -> f64 {
    let mut h = vec![x; 3];
    h[0] = x * x;
    let v = vec![x; 2];
    h[0] + h[1] + v[0]
}

fn main() {
    let _ = start_from_x_grad(1.0);
}
