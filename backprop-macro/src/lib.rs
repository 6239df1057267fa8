//! The `#[backprop]` attribute macro. Use it through the `backprop` crate, whose docs
//! describe the language it differentiates and the code it writes.
//!
//! The pipeline, one module per stage: [`args`] (the attribute's arguments), [`signature`]
//! (which parameters are differentiable), [`validate`] (constructs never supported),
//! [`lower`] (body → the staged IR of [`ir`]), [`reverse`] (the sweep, no calculus), [`rules`]
//! (the table of local gradients), [`naming`], [`emit`] and [`fallback`] (output on error).

mod args;
mod emit;
mod errors;
mod expand;
mod fallback;
mod ir;
mod lower;
mod naming;
mod reverse;
mod rules;
mod signature;
mod validate;

/// Writes `f_backward`, `f_grad` and `f_backward_source` next to the annotated function.
/// See the `backprop` crate for the guide.
#[proc_macro_attribute]
pub fn backprop(
    args: proc_macro::TokenStream,
    item: proc_macro::TokenStream,
) -> proc_macro::TokenStream {
    expand::expand(args.into(), item.into()).into()
}
