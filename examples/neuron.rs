//! The lecture's 2-D neuron f(w, x) = σ(w0 x0 + w1 x1 + w2) at w = [2, -3, -3], x = [-1, -2]:
//! the gradients the notes publish (dw ≈ [-0.20, -0.39, 0.20], dx ≈ [0.39, -0.59]), the code
//! `#[backprop]` wrote, and the same neuron with the sigmoid as a gate.
//!
//! Run with `cargo run --example neuron`.

use backprop::{assert_gradient, backprop};

/// The neuron with the sigmoid written out, as in the notes' first version.
#[backprop]
fn neuron(w: [f64; 3], x: [f64; 2]) -> f64 {
    let dot = w[0] * x[0] + w[1] * x[1] + w[2];
    1.0 / (1.0 + (-dot).exp())
}

/// The same neuron with the sigmoid gate of the runtime (a plain function plus its
/// hand-written `sigmoid_backward`), as the notes' "gate" version.
#[backprop]
fn neuron_with_gate(w: [f64; 3], x: [f64; 2]) -> f64 {
    let dot = w[0] * x[0] + w[1] * x[1] + w[2];
    backprop::sigmoid(dot)
}

fn main() {
    let (w, x) = ([2.0, -3.0, -3.0], [-1.0, -2.0]);
    let (f, (dw, dx)) = neuron_grad(w, x);
    println!("f  = {f:.4}");
    println!(
        "dw = [{:.2}, {:.2}, {:.2}]   (notes: [-0.20, -0.39, 0.20])",
        dw[0], dw[1], dw[2]
    );
    println!(
        "dx = [{:.2}, {:.2}]          (notes: [0.39, -0.59])\n",
        dx[0], dx[1]
    );
    println!("{}", neuron_backward_source());
    println!("{}", neuron_with_gate_backward_source());

    // Check both against central differences; panics with a table if they disagree.
    let flat = |p: &[f64]| neuron([p[0], p[1], p[2]], [p[3], p[4]]);
    let at = [w[0], w[1], w[2], x[0], x[1]];
    assert_gradient!(flat, &at, &(dw, dx));
    let gate = neuron_with_gate_grad(w, x);
    assert_gradient!(flat, &at, &gate.1);
    println!("both gradients agree with central differences");
}
