//! The local gradients of the ndarray operations: whole-array code that follows the shapes
//! (`dA = dY·Bᵀ`), never a Jacobian. Part of the table: the calculus of [`TensorOp`]s.

use proc_macro2::TokenStream;
use quote::quote;

use super::{Local, TensorOp};
use crate::ir::{Operand, Program};

/// The factors of a matrix product's gradient `dA = dY·Bᵀ`, `dB = Aᵀ·dY` (both operands of
/// rank 2), as [`tensor_grad`] writes them.
pub(crate) fn matrix_factors(
    op: &TensorOp,
    c: &Local,
    program: &Program,
    args: &[Operand],
    i: usize,
) -> Option<(TokenStream, TokenStream)> {
    let (TensorOp::Dot, [a, b]) = (op, args) else {
        return None;
    };
    let (Some(2), Some(2)) = (program.ty_of(a).rank(), program.ty_of(b).rank()) else {
        return None;
    };
    let (d, a, b) = (&c.d_name, c.r(0), c.r(1));
    Some(match i {
        0 => (quote!(#d), quote!(#b.t())),
        _ => (quote!(#a.t()), quote!(#d)),
    })
}

/// Local gradients of the ndarray operations: whole-array code that follows the shapes, never
/// a Jacobian.
pub(crate) fn tensor_grad(
    op: &TensorOp,
    c: &Local,
    program: &Program,
    args: &[Operand],
    i: usize,
) -> TokenStream {
    let (d, d_name, f) = (&c.d, &c.d_name, c.float.ident());
    let a = c.r(0);
    let axis_of = |k: usize| quote!(::backprop::ndarray::Axis(#k));
    match op {
        TensorOp::Dot => {
            let (xa, xb, rb) = (c.x(0), c.x(1), c.r(1));
            let ranks = (
                program.ty_of(&args[0]).rank(),
                program.ty_of(&args[1]).rank(),
            );
            let (rows, cols) = (axis_of(1), axis_of(0));
            match (ranks, i) {
                // Y = A B: dA = dY Bᵀ, dB = Aᵀ dY.
                ((Some(2), Some(2)), 0) => quote!(#d_name.dot(&#rb.t())),
                ((Some(2), Some(2)), _) => quote!(#a.t().dot(#d)),
                // y = A x: dA = dy xᵀ (an outer product), dx = Aᵀ dy.
                ((Some(2), Some(1)), 0) => {
                    quote!(#d_name.view().insert_axis(#rows).dot(&#rb.view().insert_axis(#cols)))
                }
                ((Some(2), Some(1)), _) => quote!(#a.t().dot(#d)),
                // y = x A: dx = A dy, dA = x dyᵀ.
                ((Some(1), Some(2)), 0) => quote!(#rb.dot(#d)),
                ((Some(1), Some(2)), _) => {
                    quote!(#a.view().insert_axis(#rows).dot(&#d_name.view().insert_axis(#cols)))
                }
                // s = a · b: da = b ds, db = a ds.
                (_, 0) => quote!(#xb * #d),
                _ => quote!(#xa * #d),
            }
        }
        TensorOp::T => quote!(#d_name.t().to_owned()),
        // s = Σ a: every element gets ds.
        TensorOp::Sum => quote!(::backprop::ndarray::Array::from_elem(#a.raw_dim(), #d)),
        TensorOp::Mean { .. } => {
            quote!(::backprop::ndarray::Array::from_elem(#a.raw_dim(), #d / #a.len() as #f))
        }
        // y = Σ_axis a: dy spread back along the summed axis.
        TensorOp::SumAxis => {
            let (axis, xa) = (c.bare[1].clone(), c.x(0));
            quote!(::backprop::expand_axis(#d, #axis, #xa))
        }
        TensorOp::MeanAxis { .. } => {
            let (axis, xa) = (c.bare[1].clone(), c.x(0));
            quote!(::backprop::expand_axis(#d, #axis, #xa) / #a.len_of(#axis) as #f)
        }
        TensorOp::InsertAxis => {
            let axis = c.bare[1].clone();
            quote!(#d_name.index_axis(#axis, 0).to_owned())
        }
        // y = a.select(axis, idx): each row of dy back where it was picked from, added.
        TensorOp::Select => {
            let (axis, indices) = (c.bare[1].clone(), c.bare[2].clone());
            quote!(::backprop::select_grad(#d, #axis, &#indices, #a.raw_dim()))
        }
        // y = var(a) along axis: da = dy · 2 (a − mean) / (n − ddof).
        TensorOp::VarAxis => {
            let (axis, ddof, xa) = (c.bare[1].clone(), c.bare[2].clone(), c.x(0));
            quote!(::backprop::var_axis_grad(#xa, #axis, #ddof, #d))
        }
        // y = std(a) along axis: da = dy · (a − mean) / ((n − ddof) y).
        TensorOp::StdAxis => {
            let (axis, ddof, xa, y) = (c.bare[1].clone(), c.bare[2].clone(), c.x(0), &c.y);
            quote!(::backprop::std_axis_grad(#xa, #y, #axis, #ddof, #d))
        }
        // A reshape: dy in a's shape.
        TensorOp::Reshape { .. } => quote!(::backprop::reshape_grad(#d, #a.raw_dim())),
        // A concatenation: operand i's part of dy, after the lengths of those before it; a
        // stack: dy's i-th sub-view along the new axis.
        TensorOp::Concat {
            axis, stack: false, ..
        } => {
            let before: Vec<TokenStream> = (0..i)
                .map(|j| {
                    let r = c.r(j);
                    quote!(#r.len_of(#axis))
                })
                .collect();
            let start = if before.is_empty() {
                quote!(0)
            } else {
                quote!(#(#before)+*)
            };
            let r = c.r(i);
            quote!(::backprop::concat_part(#d, #axis, #start, #r.len_of(#axis)))
        }
        TensorOp::Concat {
            axis, stack: true, ..
        } => {
            let i = proc_macro2::Literal::usize_unsuffixed(i);
            quote!(#d_name.index_axis(#axis, #i).to_owned())
        }
        // Their backwards are not this table's (`contributions.rs`).
        TensorOp::Map { .. } | TensorOp::Part { .. } => quote!(::core::unreachable!()),
    }
}
