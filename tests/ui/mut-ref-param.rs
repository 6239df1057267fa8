use backprop::backprop;

#[backprop]
fn scale_in_place(w: &mut [f64; 2], s: f64) -> f64 {
    w[0] * s + w[1] * s
}

fn main() {
    let mut w = [1.0, 2.0];
    let (_y, _ds) = scale_in_place_grad(&mut w, 3.0);
}
