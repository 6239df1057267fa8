//! Generated names never collide with the user's: a user may call variables `d_x`, `d_out`,
//! `out` or `x_1`, call functions `grad` and `backward`, and shadow parameters.

mod common;

use backprop::backprop;
use common::{assert_gradient_exact, dual_gradient};
use num_dual::{Dual64, DualNum};

fn grad(v: f64) -> f64 {
    v * 2.0
}

fn grad_backward(v: f64, d_out: f64) -> (f64, f64) {
    (v * 2.0, 2.0 * d_out)
}

fn backward(v: f64) -> f64 {
    v.sin()
}

fn backward_backward(v: f64, d_out: f64) -> (f64, f64) {
    (v.sin(), v.cos() * d_out)
}

#[backprop]
fn clashing_names(x: f64, d_x: f64, d_out: f64) -> f64 {
    let out = x * d_x;
    let x_1 = out + d_out;
    let x = x_1 * x;
    let d_out_1 = grad(x) + backward(d_x);
    let out_1 = d_out_1 * out;
    out_1 + x
}

#[test]
fn user_names_equal_to_generated_names_still_work() {
    let reference = |v: &[Dual64]| {
        let (x, d_x, d_out) = (v[0], v[1], v[2]);
        let out = x * d_x;
        let x_1 = out + d_out;
        let x = x_1 * x;
        let d_out_1 = x * 2.0 + d_x.sin();
        d_out_1 * out + x
    };
    for at in [[0.5, 1.5, -0.25], [2.0, -1.0, 0.5]] {
        assert_gradient_exact(
            "clashing_names",
            &at,
            clashing_names_grad(at[0], at[1], at[2]),
            dual_gradient(reference, &at),
            |p| clashing_names(p[0], p[1], p[2]),
            1e-13,
        );
    }
    let source = clashing_names_backward_source();
    // The seed parameter steps around the user's `d_out` and `d_out_1`.
    assert!(source.contains("d_out_2: f64,"), "{source}");
}

#[backprop]
#[allow(clippy::let_and_return)] // the shadowing is what is tested
fn shadowed_parameter(mut x: f64) -> f64 {
    let x_copy = x;
    x = x * x;
    let x = x + x_copy;
    x
}

#[test]
fn shadowed_and_reassigned_parameters() {
    let (value, dx) = shadowed_parameter_grad(3.0);
    assert_eq!(value, 12.0);
    assert_eq!(dx, 7.0);
}

#[backprop]
#[allow(clippy::needless_range_loop)]
fn loop_names(w: &[f64], h_1_tape: f64, trips: f64) -> f64 {
    let mut h = h_1_tape;
    let mut t = trips;
    for i in 0..w.len() {
        h = (h * w[i]).tanh();
    }
    while t > 1.0 {
        t = (t * 0.5).sin() * 1.5 + h * 0.01;
    }
    h + t
}

#[test]
fn user_names_equal_to_tape_and_trip_counter_names_still_work() {
    let source = loop_names_backward_source();
    // The generated tape and trip counter step around the user's `h_1_tape` and `trips`.
    assert!(
        source.contains("let mut h_1_tape_1 = ::backprop::ScalarTape::new();"),
        "{source}"
    );
    assert!(source.contains("let mut trips_1 = 0usize;"), "{source}");
    let w = [0.5, -1.2, 0.8];
    let (_, gradient) = loop_names_grad(&w, 0.3, 7.0);
    backprop::assert_gradient!(
        |p: &[f64]| loop_names(&p[..3], p[3], p[4]),
        &[0.5, -1.2, 0.8, 0.3, 7.0],
        &gradient
    );
}
