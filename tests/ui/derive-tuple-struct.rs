#[derive(backprop::Differentiable)]
struct Params(f64, Vec<f64>);

fn main() {}
