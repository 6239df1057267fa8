// A constant field without `#[backprop(skip)]`: rustc's error, at the field's type, says how to
// mark it.
#[derive(Clone, backprop::Differentiable)]
struct Model {
    w: Vec<f64>,
    name: String,
}

fn main() {}
