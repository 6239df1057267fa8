#[derive(backprop::Differentiable)]
enum Params {
    Linear { w: f64 },
    Quadratic { a: f64, b: f64 },
}

fn main() {}
