use backprop::backprop;
use backprop::ndarray::Array2;

// An element of a matrix is read with one index per axis: `w[[0, 1]]`.
#[backprop(wrt(w))]
fn corner(w: &Array2<f64>) -> f64 {
    w[0] * 2.0 + w.sum()
}

fn main() {
    let _ = corner_grad(&Array2::zeros((2, 2)));
}
