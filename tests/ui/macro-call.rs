use backprop::backprop;

#[backprop]
fn traced_square(x: f64) -> f64 {
    let y = x * x;
    println!("y = {y}");
    y
}

fn main() {
    let (_y, _dx) = traced_square_grad(3.0);
}
