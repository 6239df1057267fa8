use backprop::backprop;
use backprop::ndarray::{Array1, Array2};

#[backprop]
fn layer(x: &Array2<f64>, w: &Array1<f64>) -> Array1<f64> {
    x.dot(w).mapv(f64::tanh)
}

#[backprop(hvp)]
fn loss(x: &Array2<f64>, w: &Array1<f64>) -> f64 {
    let h: Array1<f64> = layer(x, w);
    (&h * &h).sum()
}

fn main() {}
