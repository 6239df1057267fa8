#[derive(backprop::Differentiable)]
union Params {
    single: f32,
    double: f64,
}

fn main() {}
