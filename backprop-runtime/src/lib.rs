//! Run-time support for code written by `#[backprop]`.
//!
//! Everything here is ordinary Rust that a person could have written by hand:
//!
//! * [`gates`]: activation functions, each a plain forward function plus a hand-written
//!   `_backward` that follows the crate's contract (`g_backward(inputs..., d_out) -> (out, grad)`),
//!   so the macro differentiates a call to them exactly like a call to a user's own gate;
//! * [`check`]: numeric gradients by central differences, the notes' relative error, and an
//!   assertion that compares an analytic gradient against the numeric one with a readable report;
//! * [`differentiable`]: the [`Differentiable`] trait (zeros, `scaled_add`, flat vectors) of
//!   values whose entries are differentiated, and its implementations for floats and arrays.

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

/// `g_backward(.., d)` for a call `g(..)` with several float arguments, in generated code:
/// passed through, checked to hold one gradient per argument (a tuple), so that a callee
/// declared with `wrt(..)` of one parameter fails to compile with a message that says so, at
/// the call.
///
/// The result's type goes through [`CallGradients::Tuple`] (the tuple itself): when the check
/// fails, rustc knows no type for it and reports nothing more about the generated code that
/// takes the gradients out of it, only the one error at the call.
pub fn args<R, G: CallGradients>(value_and_gradients: (R, G)) -> (R, G::Tuple) {
    let (value, gradients) = value_and_gradients;
    (value, gradients.tuple())
}

/// The gradients a split-mode call's reverse closure returns (`y_reverse(d)` for `let (y,
/// y_reverse) = g_forward(..)`), checked as [`args`] checks `g_backward`'s.
pub fn split_args<G: CallGradients>(gradients: G) -> G::Tuple {
    gradients.tuple()
}

/// The gradients of a call with several float arguments: a tuple, one per argument (see
/// [`args`]).
#[diagnostic::on_unimplemented(
    message = "this call's `_backward` returns one gradient, `{Self}`, where the call passes several float arguments",
    label = "the function called here does not return a gradient for each float argument",
    note = "a function called from a `#[backprop]` function must differentiate every float argument it is passed: drop its `#[backprop(wrt(..))]` (the caller ignores the gradients it does not need), or give a hand-written `g_backward` one gradient per float argument"
)]
pub trait CallGradients {
    /// The same tuple.
    type Tuple;
    /// Itself.
    fn tuple(self) -> Self::Tuple;
}

macro_rules! call_gradients {
    ($(($($t:ident),*))*) => {$(
        impl<$($t),*> CallGradients for ($($t,)*) {
            type Tuple = Self;
            fn tuple(self) -> Self {
                self
            }
        }
    )*};
}
call_gradients! {
    (A, B)
    (A, B, C)
    (A, B, C, D)
    (A, B, C, D, E)
    (A, B, C, D, E, F)
    (A, B, C, D, E, F, G)
    (A, B, C, D, E, F, G, H)
    (A, B, C, D, E, F, G, H, I)
    (A, B, C, D, E, F, G, H, I, J)
    (A, B, C, D, E, F, G, H, I, J, K)
    (A, B, C, D, E, F, G, H, I, J, K, L)
}

/// A struct parameter taken by value, as the receiver of one of its methods in generated code
/// (`Net::score(::backprop::receive(&net), x)` for `net.score(x)`): the reference itself for a
/// `&self` method, a copy for a method that takes `self` by value, which the generated code
/// calls twice (in the forward pass, and in the reverse pass through `score_backward`). Which
/// of the two is inferred from the method's signature.
pub fn receive<'a, S, T: Receiver<'a, S>>(receiver: &'a S) -> T {
    T::receive(receiver)
}

/// What [`receive`] makes of a struct: `&S` for `&self`, a clone for `self`.
#[diagnostic::on_unimplemented(
    message = "a method that takes `self` by value is called on `{S}`, which the generated code needs again",
    label = "the struct is passed to the method here",
    note = "the generated code calls the method in its forward pass and again through its `_backward`, so it passes a copy: derive `Clone` on the struct, or take `&self`"
)]
pub trait Receiver<'a, S> {
    /// The receiver made from a reference to the struct.
    fn receive(receiver: &'a S) -> Self;
}

impl<'a, S> Receiver<'a, S> for &'a S {
    fn receive(receiver: &'a S) -> Self {
        receiver
    }
}

impl<'a, S: Clone> Receiver<'a, S> for S {
    fn receive(receiver: &'a S) -> Self {
        receiver.clone()
    }
}

/// `g_backward(.., d)` of a call with one float argument and a struct held constant
/// (`dense(net, x)` with `net` outside `wrt(..)`), in generated code: passed through, checked
/// to hold one gradient, so that a callee which differentiates the struct fails to compile
/// with a message that says so.
pub fn one_arg<R, G: OneGradient>(value_and_gradient: (R, G)) -> (R, G::Gradient) {
    let (value, gradient) = value_and_gradient;
    (value, gradient.gradient())
}

/// `g_backward(.., d)` of a call with `N` float arguments and a struct held constant, checked
/// as [`one_arg`] checks one.
pub fn args_of<const N: usize, R, G: CallArity<N>>(value_and_gradients: (R, G)) -> (R, G::Tuple) {
    let (value, gradients) = value_and_gradients;
    (value, gradients.tuple())
}

/// The one gradient of a call with one float argument (see [`one_arg`]): a float's or an
/// array's.
#[diagnostic::on_unimplemented(
    message = "this call's `_backward` returns several gradients, `{Self}`, where the call passes one float argument and a struct that `wrt(..)` holds constant",
    label = "the function called here differentiates the struct passed to it",
    note = "the struct's type derives `Differentiable`, so the function called differentiates it as well: name the struct in this function's `wrt(..)` too and ignore its gradient, or pass the function the struct's fields"
)]
pub trait OneGradient {
    /// The same gradient.
    type Gradient;
    /// Itself.
    fn gradient(self) -> Self::Gradient;
}

impl OneGradient for f32 {
    type Gradient = Self;
    fn gradient(self) -> Self {
        self
    }
}

impl OneGradient for f64 {
    type Gradient = Self;
    fn gradient(self) -> Self {
        self
    }
}

impl<F, const N: usize> OneGradient for [F; N] {
    type Gradient = Self;
    fn gradient(self) -> Self {
        self
    }
}

impl<F> OneGradient for Vec<F> {
    type Gradient = Self;
    fn gradient(self) -> Self {
        self
    }
}

#[cfg(feature = "ndarray")]
impl<S: ndarray::RawData, D> OneGradient for ndarray::ArrayBase<S, D> {
    type Gradient = Self;
    fn gradient(self) -> Self {
        self
    }
}

/// The gradients of a call with `N` float arguments (see [`args_of`]): a tuple of `N`.
#[diagnostic::on_unimplemented(
    message = "this call's `_backward` returns the gradients `{Self}`, not one for each float argument the call passes: a struct that `wrt(..)` holds constant is passed too",
    label = "the function called here differentiates the struct passed to it",
    note = "the struct's type derives `Differentiable`, so the function called differentiates it as well: name the struct in this function's `wrt(..)` too and ignore its gradient, or pass the function the struct's fields"
)]
pub trait CallArity<const N: usize> {
    /// The same tuple.
    type Tuple;
    /// Itself.
    fn tuple(self) -> Self::Tuple;
}

macro_rules! call_arity {
    ($($n:literal: ($($t:ident),*))*) => {$(
        impl<$($t),*> CallArity<$n> for ($($t,)*) {
            type Tuple = Self;
            fn tuple(self) -> Self {
                self
            }
        }
    )*};
}
call_arity! {
    2: (A, B)
    3: (A, B, C)
    4: (A, B, C, D)
    5: (A, B, C, D, E)
    6: (A, B, C, D, E, F)
    7: (A, B, C, D, E, F, G)
    8: (A, B, C, D, E, F, G, H)
    9: (A, B, C, D, E, F, G, H, I)
    10: (A, B, C, D, E, F, G, H, I, J)
    11: (A, B, C, D, E, F, G, H, I, J, K)
    12: (A, B, C, D, E, F, G, H, I, J, K, L)
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
