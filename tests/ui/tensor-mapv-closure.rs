use backprop::backprop;
use backprop::ndarray::Array2;

#[backprop]
fn squashed(a: &Array2<f64>) -> f64 {
    let s = a.mapv(|v| v / (1.0 + v.abs()));
    s.sum()
}

fn main() {
    let _ = squashed_grad(&Array2::zeros((2, 2)));
}
