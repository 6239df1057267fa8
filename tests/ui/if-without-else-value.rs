use backprop::backprop;

#[backprop]
fn positive_part(x: f64) -> f64 {
    let y = if x > 0.0 {
        x
    };
    y
}

fn main() {
    let (_y, _dx) = positive_part_grad(3.0);
}
