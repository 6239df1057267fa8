use backprop::backprop;

// `h[i] *= a[i]` reads the old `h[i]`, which the reverse pass needs and no longer has.
#[backprop]
fn scale_in_place(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len();
    let mut h = vec![0.0; n];
    for i in 0..n {
        h[i] = b[i];
        h[i] *= a[i];
    }
    h[0] + h[1]
}

fn main() {
    let _ = scale_in_place_grad(&[1.0, 2.0], &[3.0, 4.0]);
}
