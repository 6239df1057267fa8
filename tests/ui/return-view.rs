use backprop::backprop;
use backprop::ndarray::{Array2, ArrayView2};

// A view borrows from the function: return an owned array.
#[backprop]
fn scaled(x: &Array2<f64>, s: f64) -> ArrayView2<'_, f64> {
    x.view()
}

// Two outputs: return an array of floats, or write two functions.
#[backprop]
fn both(x: f64, y: f64) -> (f64, f64) {
    (x * y, x + y)
}

fn main() {}
