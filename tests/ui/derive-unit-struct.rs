#[derive(backprop::Differentiable)]
struct Params;

fn main() {}
