// `self` named in `wrt(..)` of a free function, which has no receiver.
use backprop::backprop;

#[backprop(wrt(self, x))]
fn f(x: f64, y: f64) -> f64 {
    x * y
}

fn main() {}
