use backprop::{Differentiable, backprop};

#[derive(Clone, Differentiable)]
struct Neuron<F> {
    w: Vec<F>,
    b: F,
}

// The struct's fields are described with `F`: its parameter is not differentiated yet (before,
// it was silently read as a constant).
#[backprop]
fn score(n: &Neuron<f64>, x: &[f64]) -> f64 {
    let mut s = n.b;
    for i in 0..x.len() {
        s += n.w[i] * x[i];
    }
    s.tanh()
}

fn main() {}
