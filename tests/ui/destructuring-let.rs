use backprop::backprop;

#[backprop]
fn product(w: [f64; 2]) -> f64 {
    let [a, b] = w;
    a * b
}

fn main() {
    let _ = product_grad([2.0, 3.0]);
}
