use backprop::ndarray::Array1;
use backprop::{Differentiable, backprop};

#[derive(Differentiable)]
struct Scale {
    k: Array1<f64>,
}

// A function that returns an array has only a tangent function under `hvp`, which callers
// call with the struct's fields: not written yet.
#[backprop(hvp)]
fn scaled(s: &Scale, x: &Array1<f64>) -> Array1<f64> {
    &s.k * x
}

fn main() {}
