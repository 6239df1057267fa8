use backprop::backprop;

// A struct of the user's without `#[derive(Differentiable)]`, differentiated by default: the
// macro asks the struct for its fields through the macro the derive writes.
struct Config {
    scale: f64,
    steps: usize,
}

#[backprop]
fn f(config: &Config, x: f64) -> f64 {
    config.scale * x * config.steps as f64
}

fn main() {}
