use backprop::backprop;

// The reverse pass reads `h[0]` as the forward pass left it: the value `t` was computed from
// is gone.
#[backprop]
fn overwrite_after_read(a: f64) -> f64 {
    let mut h = [0.0; 2];
    h[0] = a * a;
    let t = h[0].sin();
    h[0] = t * 2.0;
    h[0]
}

fn main() {
    let _ = overwrite_after_read_grad(1.0);
}
