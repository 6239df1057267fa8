use backprop::{Differentiable, backprop};

#[derive(Differentiable)]
struct Scale {
    k: f64,
}

#[backprop(hvp)]
fn f(s: &Scale, x: f64) -> f64 {
    s.k * x
}

fn main() {}
