use backprop::backprop;
use backprop::ndarray::Array2;

struct Neuron {
    weight: f64,
    w: Array2<f64>,
}

impl Neuron {
    #[backprop]
    fn forward(&self, x: f64) -> f64 {
        self.weight * x
    }

    // One error for the method, none for the body's uses of `self`.
    #[backprop]
    fn layer(&self, x: &Array2<f64>) -> f64 {
        x.dot(&self.w).sum() + self.forward(1.0)
    }
}

fn main() {
    let neuron = Neuron { weight: 2.0, w: Array2::zeros((2, 2)) };
    let _y = neuron.forward(3.0);
    let (_y, _dx) = neuron.forward_grad(3.0);
}
