use backprop::backprop;
use backprop::ndarray::Array2;

#[backprop]
fn leaky(a: &Array2<f64>) -> f64 {
    let s = a.mapv(|v| if v > 0.0 { v } else { 0.01 * v });
    s.sum()
}

fn main() {
    let _ = leaky_grad(&Array2::zeros((2, 2)));
}
