// A saliency map with the model held constant by `wrt(x)`, passed whole to a layer that
// differentiates it: the layer returns a gradient for the model too.
use backprop::ndarray::{Array1, Array2};
use backprop::{Differentiable, backprop};

#[derive(Clone, Debug, Differentiable)]
struct Dense {
    w: Array2<f64>,
    b: Array1<f64>,
}

#[backprop]
fn dense(layer: &Dense, x: &Array1<f64>) -> Array1<f64> {
    (x.dot(&layer.w) + &layer.b).mapv(f64::tanh)
}

#[backprop(wrt(x))]
fn saliency(layer: &Dense, x: &Array1<f64>) -> f64 {
    let h: Array1<f64> = dense(layer, x);
    h.sum()
}

fn main() {
    let _ = saliency_grad;
}
