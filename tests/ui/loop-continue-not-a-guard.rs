use backprop::backprop;

#[backprop]
fn skip_negative(w: &[f64]) -> f64 {
    let mut s = 0.0;
    for i in 0..w.len() {
        if w[i] < 0.0 {
            s += 1.0;
            continue;
        }
        s += w[i];
    }
    s
}

fn main() {
    let _ = skip_negative_grad(&[1.0, -2.0]);
}
