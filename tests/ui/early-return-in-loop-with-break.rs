use backprop::backprop;

#[backprop]
fn capped(w: &[f64]) -> f64 {
    let mut s = 0.0;
    for i in 0..w.len() {
        if s > 10.0 {
            break;
        }
        s += w[i];
        if w[i] < 0.0 {
            return s;
        }
    }
    s
}

fn main() {
    let (_y, _dx) = capped_grad(&[1.0, -2.0]);
}
