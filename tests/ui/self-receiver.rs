use backprop::backprop;

struct Neuron {
    weight: f64,
}

impl Neuron {
    #[backprop]
    fn forward(&self, x: f64) -> f64 {
        self.weight * x
    }
}

fn main() {
    let neuron = Neuron { weight: 2.0 };
    let _y = neuron.forward(3.0);
    let (_y, _dx) = neuron.forward_grad(3.0);
}
