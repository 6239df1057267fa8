use backprop::{Differentiable, backprop};

#[derive(Differentiable)]
struct Scale {
    k: f64,
}

trait Loss {
    fn loss(&self, x: f64) -> f64;
}

#[backprop]
impl Loss for Scale {
    #[backprop]
    fn loss(&self, x: f64) -> f64 {
        self.k * x
    }
}

#[backprop]
impl Scale {
    #[backprop]
    fn reset(&mut self, x: f64) -> f64 {
        self.k * x
    }
}

fn main() {}
