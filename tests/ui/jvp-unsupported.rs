use backprop::backprop;
use backprop::ndarray::{Array2, Axis};

#[backprop(jvp)]
fn spread(x: &Array2<f64>) -> f64 {
    let v = x.var_axis(Axis(0), 0.0);
    v.sum()
}

fn main() {
    let _ = spread_grad(&Array2::zeros((2, 2)));
}
