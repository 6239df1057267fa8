use backprop::backprop;

#[backprop]
fn lookup(w: [f64; 3], x: f64) -> f64 {
    let picked = w[x as usize];
    picked * x
}

fn main() {
    let (_y, (_dw, _dx)) = lookup_grad([1.0, 2.0, 3.0], 1.0);
}
