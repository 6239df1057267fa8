use backprop::backprop;

#[backprop]
fn first_positive_row(w: &[f64], n: usize) -> f64 {
    for i in 0..n {
        for j in 0..n {
            if w[i * n + j] > 0.0 {
                return w[i * n + j];
            }
        }
    }
    0.0
}

fn main() {
    let (_y, _dx) = first_positive_row_grad(&[-1.0, 3.0, 0.5, 2.0], 2);
}
