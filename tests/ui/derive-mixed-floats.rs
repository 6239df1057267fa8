// The differentiable fields share one float type.
#[derive(backprop::Differentiable)]
struct Model {
    w: Vec<f64>,
    b: f32,
}

fn main() {}
