//! Run-time support for code written by `#[backprop]`.
//!
//! Everything here is ordinary Rust that a person could have written by hand:
//!
//! * [`gates`]: activation functions, each a plain forward function plus a hand-written
//!   `_backward` that follows the crate's contract (`g_backward(inputs..., d_out) -> (out, grad)`),
//!   so the macro differentiates a call to them exactly like a call to a user's own gate;
//! * [`check`]: numeric gradients by central differences, the notes' relative error, and an
//!   assertion that compares an analytic gradient against the numeric one with a readable report;
//! * [`calls`]: what generated code wraps around a call of a composed function: the checks
//!   that its `_backward` returns one gradient per float argument (each failure a message at
//!   the call), and the receiver of a struct's method;
//! * [`differentiable`]: the [`Differentiable`] trait (zeros, `scaled_add`, flat vectors) of
//!   values whose entries are differentiated, and its implementations for floats and arrays.

pub mod calls;
pub mod check;
pub mod differentiable;
#[cfg(feature = "ndarray")]
pub mod forward;
pub mod gates;
pub mod inner;
#[cfg(feature = "ndarray")]
pub mod max_axis;
#[cfg(feature = "ndarray")]
pub mod parts;
pub mod tape;
#[cfg(feature = "ndarray")]
pub mod tensor;

pub use calls::{
    CallArity, CallGradients, OneGradient, Receiver, args, args_of, one_arg, receive, split_args,
};
pub use check::{
    Gradient, GradientCheck, Real, check_gradient, check_hvp, check_jvp, numeric_directional,
    numeric_gradient, relative_error,
};
pub use differentiable::Differentiable;
#[cfg(feature = "ndarray")]
pub use forward::{TangentPart, tangent_like, tangent_like_backward, tangent_like_jvp};
pub use gates::{
    Elementwise, relu, relu_backward, relu_hvp_tangent, relu_hvp_tangent_backward, relu_jvp,
    sigmoid, sigmoid_backward, sigmoid_hvp_tangent, sigmoid_hvp_tangent_backward, sigmoid_jvp,
    softplus, softplus_backward, softplus_hvp_tangent, softplus_hvp_tangent_backward, softplus_jvp,
};
#[cfg(feature = "ndarray")]
pub use gates::{relu_grad, sigmoid_grad, softplus_grad};
pub use inner::{Components, inner};
#[cfg(feature = "ndarray")]
pub use max_axis::{
    max_axis, max_axis_backward, max_axis_hvp_tangent, max_axis_hvp_tangent_backward, max_axis_jvp,
    max_axis_jvp_backward,
};
#[cfg(feature = "ndarray")]
pub use parts::{concat_part, reshape_grad, select_grad, std_axis_grad, var_axis_grad};
pub use tape::{ScalarTape, Tape};
#[cfg(feature = "ndarray")]
pub use tensor::{
    ArrayInput, OneHot, PickUpstream, Shape, ShapeOf, SumAxis, Upstream, add_to, add_to_part,
    expand_axis, log_softmax, log_softmax_backward, log_softmax_grad, map_upstream, one_hot, pick,
    pick_backward, pick_grad, softmax, softmax_backward, softmax_grad, sum_to, sum_to_ref,
};

/// Everything a user of `#[backprop]` usually imports: `use backprop::prelude::*;`.
///
/// Importing a gate together with its `_backward` matters: the macro differentiates a call
/// `sigmoid(x)` by calling `sigmoid_backward` at the same path.
pub mod prelude {
    pub use crate::check::{Gradient, check_gradient, numeric_gradient, relative_error};
    pub use crate::differentiable::Differentiable;
    // With the second-order companions: a `#[backprop(hvp)]` caller of `sigmoid(x)` calls
    // `sigmoid_hvp_tangent` and its `_backward` at the same path.
    pub use crate::gates::{
        relu, relu_backward, relu_hvp_tangent, relu_hvp_tangent_backward, relu_jvp, sigmoid,
        sigmoid_backward, sigmoid_hvp_tangent, sigmoid_hvp_tangent_backward, sigmoid_jvp, softplus,
        softplus_backward, softplus_hvp_tangent, softplus_hvp_tangent_backward, softplus_jvp,
    };
}

/// Adds a gradient into an accumulator of the same shape: `*acc += g`, elementwise for arrays.
///
/// Generated code uses it where a whole array's gradient arrives more than once (an array
/// passed to two differentiated calls); scalars use `+=` directly.
pub fn accumulate<T: Accumulate>(acc: &mut T, g: T) {
    acc.accumulate(g);
}

/// Adds the gradient of a sub-slice (`&q[a..b]` passed to a call) into that range of the
/// array's gradient: `acc[k] += g[k]`. Both have the sub-slice's length.
pub fn accumulate_slice<T: Accumulate>(acc: &mut [T], g: Vec<T>) {
    assert_eq!(acc.len(), g.len(), "a sub-slice's gradient has its length");
    for (a, b) in acc.iter_mut().zip(g) {
        a.accumulate(b);
    }
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
