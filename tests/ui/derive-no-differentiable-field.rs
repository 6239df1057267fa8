#[derive(backprop::Differentiable)]
struct Config {
    #[backprop(skip)]
    name: String,
    #[backprop(skip)]
    size: usize,
}

fn main() {}
