// A method of a struct that `wrt(x)` holds constant, called in a saliency map.
use backprop::ndarray::{Array1, Array2};
use backprop::{Differentiable, backprop};

#[derive(Clone, Debug, Differentiable)]
struct Dense {
    w: Array2<f64>,
    b: Array1<f64>,
}

#[backprop]
impl Dense {
    #[backprop]
    fn forward(&self, x: &Array1<f64>) -> Array1<f64> {
        (x.dot(&self.w) + &self.b).mapv(f64::tanh)
    }
}

#[backprop(wrt(x))]
fn saliency(layer: &Dense, x: &Array1<f64>) -> f64 {
    let h: Array1<f64> = layer.forward(x);
    h.sum()
}

fn main() {
    let _ = saliency_grad;
}
