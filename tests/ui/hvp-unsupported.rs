use backprop::backprop;
use backprop::ndarray::Array1;

#[backprop(hvp)]
fn loss(x: &Array1<f64>) -> f64 {
    let hinge = x.mapv(|v| if v > 0.0 { v * v } else { 0.0 });
    hinge.sum()
}

fn main() {}
