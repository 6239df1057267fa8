//! What generated code wraps around a call of a composed function `g(..)`: checks that
//! `g_backward` returns as many gradients as the caller counts (so that a mismatch is one
//! compile error at the call, with what to write instead, rather than a type error in the
//! generated code), and the receiver of a struct's method taken by value.

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

// Each tuple of gradients, once for each check: several float arguments ([`args`]), and `N`
// of them beside a struct held constant ([`args_of`]).
macro_rules! call_gradients {
    ($($n:literal: ($($t:ident),*))*) => {$(
        impl<$($t),*> CallGradients for ($($t,)*) {
            type Tuple = Self;
            fn tuple(self) -> Self {
                self
            }
        }

        impl<$($t),*> CallArity<$n> for ($($t,)*) {
            type Tuple = Self;
            fn tuple(self) -> Self {
                self
            }
        }
    )*};
}
call_gradients! {
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
    note = "the struct's type derives `Differentiable`, so the function called differentiates it as well: name the struct in this function's `wrt(..)` too and ignore its gradient, or leave the struct out of the `wrt(..)` of the function called"
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
    note = "the struct's type derives `Differentiable`, so the function called differentiates it as well: name the struct in this function's `wrt(..)` too and ignore its gradient, or leave the struct out of the `wrt(..)` of the function called"
)]
pub trait CallArity<const N: usize> {
    /// The same tuple.
    type Tuple;
    /// Itself.
    fn tuple(self) -> Self::Tuple;
}
