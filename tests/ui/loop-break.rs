use backprop::backprop;

#[backprop]
fn first_large(w: &[f64]) -> f64 {
    let mut s = 0.0;
    for i in 0..w.len() {
        s += w[i];
        if s > 1.0 {
            s *= 2.0;
            if w[i] > 0.5 {
                break;
            }
        }
    }
    s
}

fn main() {
    let _ = first_large_grad(&[1.0, 2.0]);
}
