//! `#[backprop(wrt(..))]` picks the differentiable parameters; gradients come in signature
//! order, and the others are constants.

use backprop::backprop;

#[backprop(wrt(y, w))]
fn pick(x: f64, w: [f64; 2], y: f64) -> f64 {
    x * y + w[0] * w[1] * x
}

#[test]
fn only_the_named_parameters_get_gradients_in_signature_order() {
    let (value, (dw, dy)): (f64, ([f64; 2], f64)) = pick_grad(2.0, [3.0, 4.0], 5.0);
    assert_eq!(value, 2.0 * 5.0 + 3.0 * 4.0 * 2.0);
    assert_eq!(dw, [4.0 * 2.0, 3.0 * 2.0]);
    assert_eq!(dy, 2.0);
}

#[backprop(wrt(x))]
fn single(x: f64, y: f64) -> f64 {
    (x * y).sin()
}

#[test]
fn one_differentiable_parameter_gives_a_bare_gradient() {
    let (value, dx): (f64, f64) = single_grad(0.5, 3.0);
    assert_eq!(value, 1.5f64.sin());
    assert_eq!(dx, 1.5f64.cos() * 3.0);
    let (_, dx2) = single_backward(0.5, 3.0, 2.0);
    assert_eq!(dx2, 2.0 * dx);
}

#[backprop(wrt(x))]
fn constant_parameter_in_a_branch(x: f64, threshold: f64) -> f64 {
    let y = if x > threshold {
        x * threshold
    } else {
        x.exp()
    };
    y * threshold
}

#[test]
fn a_constant_float_parameter_still_shapes_the_gradient() {
    let (_, above) = constant_parameter_in_a_branch_grad(2.0, 1.5);
    assert_eq!(above, 1.5 * 1.5);
    let (_, below) = constant_parameter_in_a_branch_grad(1.0, 1.5);
    assert_eq!(below, 1.0f64.exp() * 1.5);
}
