use backprop::backprop;

#[backprop]
fn sum_of_squares(w: [f64; 3]) -> f64 {
    let mut total = 0.0;
    for i in 0..3 {
        total += w[i] * w[i];
    }
    total
}

fn main() {
    let (_loss, _dw) = sum_of_squares_grad([1.0, 2.0, 3.0]);
}
