//! Run-time support for code written by `#[backprop]`.
//!
//! Everything here is ordinary Rust that a person could have written by hand:
//!
//! * [`gates`]: activation functions, each a plain forward function plus a hand-written
//!   `_backward` that follows the crate's contract (`g_backward(inputs..., d_out) -> (out, grad)`),
//!   so the macro differentiates a call to them exactly like a call to a user's own gate;
//! * [`check`]: numeric gradients by central differences, the notes' relative error, and an
//!   assertion that compares an analytic gradient against the numeric one with a readable report.

pub mod check;
pub mod gates;
#[cfg(feature = "ndarray")]
pub mod tensor;

pub use check::{Gradient, GradientCheck, Real, check_gradient, numeric_gradient, relative_error};
pub use gates::{
    Elementwise, relu, relu_backward, sigmoid, sigmoid_backward, softplus, softplus_backward,
};
#[cfg(feature = "ndarray")]
pub use tensor::{
    add_to, expand_axis, log_softmax, log_softmax_backward, max_axis, max_axis_backward, pick,
    pick_backward, softmax, softmax_backward, sum_to,
};

/// Everything a user of `#[backprop]` usually imports: `use backprop::prelude::*;`.
///
/// Importing a gate together with its `_backward` matters: the macro differentiates a call
/// `sigmoid(x)` by calling `sigmoid_backward` at the same path.
pub mod prelude {
    pub use crate::check::{Gradient, check_gradient, numeric_gradient, relative_error};
    pub use crate::gates::{
        relu, relu_backward, sigmoid, sigmoid_backward, softplus, softplus_backward,
    };
}

/// Adds a gradient into an accumulator of the same shape: `*acc += g`, elementwise for arrays.
///
/// Generated code uses it where a whole array's gradient arrives more than once (an array
/// passed to two differentiated calls); scalars use `+=` directly.
pub fn accumulate<T: Accumulate>(acc: &mut T, g: T) {
    acc.accumulate(g);
}

/// Types whose gradients can be added in place; see [`accumulate`].
pub trait Accumulate {
    fn accumulate(&mut self, g: Self);
}

impl Accumulate for f64 {
    fn accumulate(&mut self, g: Self) {
        *self += g;
    }
}

impl Accumulate for f32 {
    fn accumulate(&mut self, g: Self) {
        *self += g;
    }
}

impl<T: Accumulate, const N: usize> Accumulate for [T; N] {
    fn accumulate(&mut self, g: Self) {
        for (a, b) in self.iter_mut().zip(g) {
            a.accumulate(b);
        }
    }
}

impl<T: Accumulate> Accumulate for Vec<T> {
    /// Elementwise; both have the length of the same slice parameter.
    fn accumulate(&mut self, g: Self) {
        for (a, b) in self.iter_mut().zip(g) {
            a.accumulate(b);
        }
    }
}
