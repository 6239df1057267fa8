use backprop::backprop;

#[backprop]
fn weird(x: f64, y: f64) -> f64 {
    let (a, b) = (x * 2.0, y * 3.0);
    let scale = |v: f64| v * 2.0;
    scale(a) * b
}

fn main() {
    let (_f, (_dx, _dy)) = weird_grad(2.0, 3.0);
}
