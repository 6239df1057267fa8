use backprop::backprop;
use backprop::ndarray::Array2;

#[backprop]
fn diagonal_sum(a: &Array2<f64>) -> f64 {
    let d = a.diag();
    d.sum()
}

fn main() {
    let _ = diagonal_sum_grad(&Array2::zeros((2, 2)));
}
