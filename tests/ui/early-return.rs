use backprop::backprop;

#[backprop]
fn first_positive(w: &[f64]) -> f64 {
    for i in 0..w.len() {
        if w[i] > 0.0 {
            return w[i];
        }
    }
    0.0
}

fn main() {
    let (_y, _dx) = first_positive_grad(&[-1.0, 3.0]);
}
