use backprop::backprop;

#[backprop]
fn product(w: [f64; 3]) -> f64 {
    let [a, rest @ ..] = w;
    a * rest[0]
}

fn main() {
    let _ = product_grad([2.0, 3.0, 4.0]);
}
