use backprop::backprop;

#[backprop(wrt(pred))]
fn huber(pred: f64, target: f64, delta: f64) -> f64 {
    let r = pred - target;
    let a = r.abs();
    if a <= delta { 0.5 * r * r } else { delta * (a - 0.5 * delta) }
}

#[backprop(wrt(pred))]
fn huber_mean(pred: &[f64], target: &[f64], delta: f64) -> f64 {
    let mut total = 0.0;
    for i in 0..pred.len() {
        total += huber(pred[i], target[i], delta);
    }
    total / pred.len() as f64
}

fn main() {
    let _ = huber_mean_grad(&[0.3, 1.2], &[0.5, -1.0], 1.0);
}
