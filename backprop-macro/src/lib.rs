//! The `#[backprop]` attribute macro. Use it through the `backprop` crate, whose docs
//! describe the language it differentiates and the code it writes.
//!
//! The pipeline, one module per stage: `args` (the attribute's arguments), `signature`
//! (which parameters are differentiable), `validate` (constructs never supported),
//! `lower` (body → the staged IR of `ir`), `reverse` (the sweep, no calculus), `rules`
//! (the table of local gradients), `naming`, `emit` and `fallback` (output on error).

mod args;
mod buffers;
mod contributions;
mod copies;
mod derive;
mod emit;
mod errors;
mod expand;
mod fallback;
mod ir;
mod lower;
mod methods;
mod naming;
mod record;
mod reverse;
mod rules;
mod signature;
mod split;
mod structs;
mod validate;

/// Writes the backward pass of a staged function: `f_backward`, `f_grad` and
/// `f_backward_source` next to the annotated `f`, which is kept as written.
///
/// Use it through the `backprop` crate (`use backprop::backprop;`), whose guide describes the
/// language it differentiates, the companions' contract and how to write a gate.
///
/// # Before
///
/// ```rust,ignore
/// #[backprop]
/// fn staged(x: f64, y: f64) -> f64 {
///     let sigy = 1.0 / (1.0 + (-y).exp()); // (1)
///     let num = x + sigy;                  // (2)
///     let sigx = 1.0 / (1.0 + (-x).exp()); // (3)
///     let xpy = x + y;                     // (4)
///     let xpysqr = xpy.powi(2);            // (5)
///     let den = sigx + xpysqr;             // (6)
///     let invden = 1.0 / den;              // (7)
///     num * invden                         // (8)
/// }
/// ```
///
/// # After
///
/// Next to `staged`, the macro writes (`staged_grad(x, y)` is `staged_backward(x, y, 1.0)`):
///
/// <!-- staged-backward: kept equal to tests/snapshots/staged.expanded.rs by tests/docs.rs -->
/// ```rust,ignore
/// fn staged_backward(x: f64, y: f64, d_out: f64) -> (f64, (f64, f64)) {
///     let sigy = 1.0 / (1.0 + (-y).exp());
///     let num = x + sigy;
///     let sigx = 1.0 / (1.0 + (-x).exp());
///     let xpy = x + y;
///     let xpysqr = xpy.powi(2);
///     let den = sigx + xpysqr;
///     let invden = 1.0 / den;
///     let out = num * invden;
///     let d_num = invden * d_out;
///     let d_invden = num * d_out;
///     let d_den = -invden / den * d_invden;
///     let d_sigx = d_den;
///     let d_xpysqr = d_den;
///     let d_xpy = 2.0 * xpy * d_xpysqr;
///     let mut d_x = d_xpy;
///     let mut d_y = d_xpy;
///     d_x += (1.0 - sigx) * sigx * d_sigx;
///     d_x += d_num;
///     let d_sigy = d_num;
///     d_y += (1.0 - sigy) * sigy * d_sigy;
///     (out, (d_x, d_y))
/// }
/// ```
///
/// `#[backprop(wrt(a, b))]` differentiates with respect to `a` and `b` only.
/// `#[backprop(jvp)]` adds `f_jvp` (forward mode); `#[backprop(hvp)]` adds `f_hvp`,
/// `f_grad_backward` and `f_grad_jvp` (second order, and `f_grad` inside differentiated code);
/// both add `f_jvp_backward` and `f_jvp_jvp` (`f_jvp` inside differentiated code). The guide's
/// "Forward mode" and "Second order" describe them.
#[proc_macro_attribute]
pub fn backprop(
    args: proc_macro::TokenStream,
    item: proc_macro::TokenStream,
) -> proc_macro::TokenStream {
    expand::expand(args.into(), item.into()).into()
}

/// `#[derive(Differentiable)]`: implements `backprop::Differentiable` for a struct with named
/// fields, each a differentiable type or marked `#[backprop(skip)]` (a constant).
///
/// Use it through the `backprop` crate (`#[derive(backprop::Differentiable)]`), whose guide
/// describes the trait.
#[proc_macro_derive(Differentiable, attributes(backprop))]
pub fn derive_differentiable(item: proc_macro::TokenStream) -> proc_macro::TokenStream {
    derive::derive(item.into()).into()
}

/// The second step of `#[backprop]` on a function with struct parameters: the struct's
/// `#[derive(Differentiable)]` hands its fields over (see `structs`). Not for direct use.
#[doc(hidden)]
#[proc_macro]
pub fn __backprop_struct(input: proc_macro::TokenStream) -> proc_macro::TokenStream {
    expand::expand_with_structs(input.into()).into()
}

#[cfg(test)]
mod robustness;
