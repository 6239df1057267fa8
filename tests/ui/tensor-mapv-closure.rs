use backprop::backprop;
use backprop::ndarray::Array2;

// A `mapv` closure with a branch is a scalar function of the element and of float values;
// `n` is a `usize`.
#[backprop]
fn scaled_leaky(a: &Array2<f64>, n: usize) -> f64 {
    let s = a.mapv(|v| if v > 0.0 { v } else { v / n as f64 });
    s.sum()
}

fn main() {
    let _ = scaled_leaky_grad(&Array2::zeros((2, 2)), 3);
}
