// A method that takes `self` by value, called from another `#[backprop]` function on a struct
// that is not `Clone`: the generated code calls it twice.
use backprop::{Differentiable, backprop};

#[derive(Debug, Differentiable)]
struct Scorer {
    w: [f64; 2],
}

#[backprop]
impl Scorer {
    #[backprop]
    fn score(self, x: f64) -> f64 {
        self.w[0] * x + self.w[1]
    }
}

#[backprop]
fn scored(net: Scorer, x: f64) -> f64 {
    let s = net.score(x);
    s * s
}

fn main() {
    let _ = scored_grad;
}
