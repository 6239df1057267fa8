use backprop::backprop;
use backprop::ndarray::Array2;

#[backprop]
fn fused(a: &Array2<f64>) -> f64 {
    let c = a.mapv(|v| v.mul_add(2.0, 1.0));
    c.sum()
}

fn main() {
    let _ = fused_grad(&Array2::zeros((2, 2)));
}
