use backprop::backprop;

#[backprop]
fn relu(x: f64) -> f64 {
    let y = if x < 0.0 {
        return 0.0;
    } else {
        x
    };
    y
}

fn main() {
    let (_y, _dx) = relu_grad(3.0);
}
