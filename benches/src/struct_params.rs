//! Struct parameters: the two-layer net of [`tensor::two_layer`](crate::tensor::two_layer)
//! (N = 256, D = 512, H = 256, C = 10) with its parameters in one `#[derive(Differentiable)]`
//! struct, [`TwoLayerNet`], read as `net.w1`, against the same loss with four array parameters.
//! Two variants with one signature:
//!
//! * `struct`: `two_layer_loss_grad(&net, x, y, reg)`, written by `#[backprop(wrt(net))]`,
//!   its gradient a `TwoLayerNet`;
//! * `arrays`: `tensor::two_layer::generated(&w1, &b1, &w2, &b2, x, y, reg)`, written by
//!   `#[backprop(wrt(w1, b1, w2, b2))]` on the same body, its gradient a tuple of four arrays.
//!
//! Both are `#[inline(never)]`. [`check`] asserts that they return the same loss and the same
//! gradient, bit for bit (the generated code is the same but for the fields bound at the top
//! and the struct built at the end).

use backprop::ndarray::{Array1, Array2, Axis};
use backprop::{Differentiable, backprop};

use crate::tensor::two_layer;

/// The net's parameters: the first layer's weights (D×H) and biases (H), the second's (H×C,
/// C).
#[derive(Clone, Debug, Differentiable)]
pub struct TwoLayerNet {
    pub w1: Array2<f64>,
    pub b1: Array1<f64>,
    pub w2: Array2<f64>,
    pub b2: Array1<f64>,
}

/// `tensor::two_layer::two_layer_loss`, its four parameters the fields of `net`.
#[backprop(wrt(net))]
pub fn two_layer_loss(net: &TwoLayerNet, x: &Array2<f64>, y: &[usize], reg: f64) -> f64 {
    let hidden = backprop::relu(&(x.dot(&net.w1) + &net.b1));
    let scores = hidden.dot(&net.w2) + &net.b2;
    let log_probs = backprop::log_softmax(&scores, Axis(1));
    let data_loss = -backprop::pick(&log_probs, y).mean().unwrap();
    data_loss + 0.5 * reg * ((&net.w1 * &net.w1).sum() + (&net.w2 * &net.w2).sum())
}

/// The benchmark's inputs: `tensor::two_layer`'s, the parameters also as a struct.
pub struct Inputs {
    pub net: TwoLayerNet,
    pub arrays: two_layer::Inputs,
}

pub fn inputs() -> Inputs {
    from(two_layer::inputs())
}

/// The struct of `arrays`' parameters, beside them.
pub fn from(arrays: two_layer::Inputs) -> Inputs {
    let net = TwoLayerNet {
        w1: arrays.w1.clone(),
        b1: arrays.b1.clone(),
        w2: arrays.w2.clone(),
        b2: arrays.b2.clone(),
    };
    Inputs { net, arrays }
}

#[inline(never)]
pub fn with_struct(
    net: &TwoLayerNet,
    x: &Array2<f64>,
    y: &[usize],
    reg: f64,
) -> (f64, TwoLayerNet) {
    two_layer_loss_grad(net, x, y, reg)
}

#[inline(never)]
pub fn with_arrays(
    net: &TwoLayerNet,
    x: &Array2<f64>,
    y: &[usize],
    reg: f64,
) -> (f64, two_layer::Grad) {
    two_layer::generated(&net.w1, &net.b1, &net.w2, &net.b2, x, y, reg)
}

/// Asserts that both variants return the same loss and gradient, bit for bit, and that they
/// agree with the hand-written backward to [`EXACT`](crate::EXACT).
pub fn check(inputs: &Inputs, reg: f64) {
    let Inputs { net, arrays } = inputs;
    let (loss_s, d_net) = with_struct(net, &arrays.x, &arrays.y, reg);
    let (loss_a, (dw1, db1, dw2, db2)) = with_arrays(net, &arrays.x, &arrays.y, reg);
    assert_eq!(
        loss_s.to_bits(),
        loss_a.to_bits(),
        "struct_params: losses differ"
    );
    assert!(
        d_net.w1 == dw1 && d_net.b1 == db1 && d_net.w2 == dw2 && d_net.b2 == db2,
        "struct_params: gradients differ"
    );
    assert_eq!(d_net.flat_len(), net.flat_len());
    two_layer::check(arrays, reg);
}
