use backprop::backprop;

#[backprop]
fn positive_part(r: &[f64]) -> f64 {
    r.iter().filter(|v| **v > 0.0).sum::<f64>()
}

fn main() {
    let _ = positive_part_grad(&[1.0, -2.0]);
}
