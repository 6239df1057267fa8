use backprop::backprop;

#[backprop]
fn cell(h: f64, w: f64) -> f64 {
    (h * w).tanh()
}

// `split` names the callee, not what it is called as here.
#[backprop(split(cel))]
fn unrolled(w: &[f64]) -> f64 {
    let mut h = 1.0;
    for i in 0..w.len() {
        h = cell(h, w[i]);
    }
    h
}

fn main() {
    let _ = unrolled_grad(&[0.5, 0.25]);
}
