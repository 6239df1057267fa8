use backprop::backprop;

#[backprop]
fn first_weight(w: [f64; 3]) -> f64 {
    let first = unsafe { *w.get_unchecked(0) };
    first * 2.0
}

fn main() {
    let (_y, _dw) = first_weight_grad([1.0, 2.0, 3.0]);
}
