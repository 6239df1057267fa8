use backprop::backprop;

fn step(x: f64, h: f64) -> (f64, usize) {
    ((x * h).tanh(), 1)
}

fn step_backward(x: f64, h: f64, d: (f64, usize)) -> ((f64, usize), (f64, f64)) {
    let y = (x * h).tanh();
    let g = d.0 * (1.0 - y * y);
    ((y, 1), (g * h, g * x))
}

#[backprop]
fn run(x: f64, h: f64) -> f64 {
    let (y, steps): (f64, usize) = step(x, h);
    y * steps as f64
}

fn main() {
    let _ = run_grad(0.5, 1.0);
}
