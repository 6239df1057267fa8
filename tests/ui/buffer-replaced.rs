use backprop::backprop;

#[backprop]
fn replace_buffer(x: f64) -> f64 {
    let mut h = vec![0.0; 2];
    h[0] = x;
    h = vec![1.0; 2];
    h[0] * x
}

fn main() {
    let _ = replace_buffer_grad(1.0);
}
