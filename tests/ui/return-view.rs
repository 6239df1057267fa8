use backprop::backprop;
use backprop::ndarray::{Array2, ArrayView2};

// A view borrows from the function: return an owned array.
#[backprop]
fn scaled(x: &Array2<f64>, s: f64) -> ArrayView2<'_, f64> {
    x.view()
}

// A tuple with a part that is no float nor array: return those from another function.
#[backprop]
fn both(x: f64, y: f64) -> (f64, usize) {
    (x * y, 2)
}

fn main() {}
