use backprop::backprop;
use backprop::ndarray::Array2;

// `max` of an array with a number is ReLU, and differentiated (`z.mapv(|v| v.max(0.0))`); with
// an array as the other operand (numpy's leaky `np.maximum(0.01 * z, z)`) it is not: one error,
// at the `max`, and nothing about the `dot` that reads the result.
#[backprop]
fn layer(x: &Array2<f64>, w: &Array2<f64>) -> f64 {
    let z = x.dot(w);
    let h = z.mapv(|v| v.max(0.01 * v));
    h.dot(&w.t()).sum()
}

fn main() {}
