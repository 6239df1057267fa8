use backprop::backprop;
use backprop::ndarray::{Array1, Axis};

#[backprop]
fn centered(a: &Array1<f64>) -> f64 {
    let m = a.mean_axis(Axis(0));
    (a - &m).sum()
}

fn main() {
    let _ = centered_grad(&Array1::zeros(3));
}
