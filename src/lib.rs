#![doc = include_str!("../README.md")]
//!
//! ## Crate layout
//!
//! This crate re-exports the attribute [`backprop`] (from `backprop-macro`) and the run-time
//! support (from `backprop-runtime`): the gates ([`sigmoid`], [`relu`], [`softplus`] and their
//! `_backward`), gradient checking ([`numeric_gradient`], [`relative_error`],
//! [`check_gradient`], [`assert_gradient!`]) and [`accumulate`], which generated code calls.

#[doc(hidden)]
pub use backprop_macro::__backprop_struct;
/// `#[derive(Differentiable)]`: the derive of the trait of the same name,
/// [`Differentiable`](trait@Differentiable).
pub use backprop_macro::Differentiable;
pub use backprop_macro::backprop;
pub use backprop_runtime::*;
/// The `ndarray` version the tensor gates and generated code use.
#[cfg(feature = "ndarray")]
pub use ndarray;
