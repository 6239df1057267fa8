use backprop::backprop;

#[backprop]
fn first_large(w: &[f64]) -> f64 {
    for i in 0..w.len() {
        if w[i] > 0.0 {
            let v = w[i] * 2.0;
            if v > 1.0 {
                return v;
            }
        }
    }
    0.0
}

fn main() {
    let (_y, _dx) = first_large_grad(&[-1.0, 3.0]);
}
