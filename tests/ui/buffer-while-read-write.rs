use backprop::backprop;

#[backprop]
fn halve_while(x: f64) -> f64 {
    let mut h = vec![0.0; 1];
    h[0] = x;
    while h[0] > 1.0 {
        h[0] = h[0] * 0.5;
    }
    h[0]
}

fn main() {
    let _ = halve_while_grad(3.0);
}
