use backprop::backprop;
use backprop::ndarray::{Array2, s};

// The slice is given as a value made elsewhere: the macro reads `s![..]` written in the call.
#[backprop]
fn first_half(a: &Array2<f64>, n: usize) -> f64 {
    let info = s![.., 0..n];
    a.slice(info).sum()
}

fn main() {}
