use backprop::backprop;
use backprop::ndarray::Array1;

fn leaky(x: &Array1<f64>, alpha: f64) -> Array1<f64> {
    x.mapv(|v| if v > 0.0 { v } else { alpha * v })
}

#[backprop]
fn net(x: &Array1<f64>, alpha: f64) -> f64 {
    let h = leaky(x, alpha);
    h.sum()
}

fn main() {
    let _ = net_grad(&Array1::zeros(2), 0.1);
}
