use backprop::backprop;
use backprop::ndarray::Array2;

#[backprop]
fn clipped(a: &Array2<f64>) -> f64 {
    let c = a.clamp(-1.0, 1.0);
    c.sum()
}

fn main() {
    let _ = clipped_grad(&Array2::zeros((2, 2)));
}
