#[derive(backprop::Differentiable)]
struct Model {
    w: Vec<f64>,
    #[backprop(skp)]
    name: String,
    #[backprop]
    steps: usize,
    #[backprop(skip = true)]
    size: usize,
}

fn main() {}
