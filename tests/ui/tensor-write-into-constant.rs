use backprop::backprop;
use backprop::ndarray::Array2;

// `m` is built from the data alone; a differentiated value written into it has nowhere to go.
#[backprop(wrt(w))]
fn write_into_constant(w: f64, x: &Array2<f64>) -> f64 {
    let mut m = x * 2.0;
    m[[0, 0]] = w * 3.0;
    m.sum()
}

fn main() {
    let _ = write_into_constant_grad(1.0, &Array2::zeros((2, 2)));
}
