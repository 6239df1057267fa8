use backprop::backprop;
use backprop::ndarray::Array2;

// numpy's `np.maximum(0, z)`, ported as a closure over the elements: one error, at the `max`,
// and nothing about the `dot` that reads the result.
#[backprop]
fn layer(x: &Array2<f64>, w: &Array2<f64>) -> f64 {
    let z = x.dot(w);
    let h = z.mapv(|v| v.max(0.0));
    h.dot(&w.t()).sum()
}

#[backprop]
fn clipped(x: &Array2<f64>) -> f64 {
    x.min(1.0).sum()
}

fn main() {}
