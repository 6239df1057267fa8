use backprop::backprop;
use backprop::ndarray::Array1;

// One error for the unsupported closure body, none for the `.sum()` called on its result.
#[backprop]
fn arc_total(x: &Array1<f64>) -> f64 {
    x.mapv(|v| v.atan2(2.0)).sum()
}

fn main() {
    let _ = arc_total_grad(&Array1::zeros(2));
}
