use backprop::backprop;

#[backprop]
fn total(w: &[f64]) -> f64 {
    let mut s = 0.0;
    for v in w.iter() {
        s += v * 2.0;
    }
    s
}

fn main() {
    let _ = total_grad(&[1.0, 2.0]);
}
