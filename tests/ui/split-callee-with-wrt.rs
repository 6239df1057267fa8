use backprop::backprop;

// The callee differentiates only `w`, but the call passes two float arguments.
#[backprop(wrt(w))]
fn cell(h: f64, w: f64) -> f64 {
    (h * w).tanh()
}

#[backprop(split(cell))]
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
