// MAML's inner step, written with one gradient where `mse_grad` returns one per float
// argument (`x` and `y` are floats too).
use backprop::backprop;
use backprop::ndarray::{Array1, Array2};

#[backprop(hvp)]
fn mse(w: &Array1<f64>, x: &Array2<f64>, y: &Array1<f64>) -> f64 {
    let r = x.dot(w) - y;
    (&r * &r).mean().unwrap()
}

#[backprop(wrt(w))]
fn maml(w: &Array1<f64>, x: &Array2<f64>, y: &Array1<f64>) -> f64 {
    let (_, g) = mse_grad(w, x, y);
    let adapted = w - 0.1 * &g;
    mse(&adapted, x, y)
}

fn main() {
    let _ = maml_grad;
}
