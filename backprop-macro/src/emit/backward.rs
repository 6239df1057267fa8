//! Backward statements: a statement of the reverse sweep as Rust (gradients introduced,
//! accumulated, zeroed; values popped from tapes; reversed loops and branches), and how a
//! gradient expression is owned or borrowed.

use proc_macro2::TokenStream;
use quote::quote;

use crate::ir::{Operand, Program, Ty};
use crate::reverse::{BackStmt, Popped, Reversed};
use crate::rules;

use super::forward::forward_node;

/// A zero gradient for `var`.
pub(super) fn zero(program: &Program, var: usize) -> TokenStream {
    match &program.vars[var].ty {
        Ty::Array { len: Some(len), .. } => quote!([0.0; #len]),
        Ty::Array { len: None, .. } => {
            let ident = &program.vars[var].ident;
            quote!(::std::vec![0.0; #ident.len()])
        }
        Ty::Tensor { .. } => {
            let ident = &program.vars[var].ident;
            quote!(::backprop::ndarray::Array::zeros(#ident.raw_dim()))
        }
        _ => quote!(0.0),
    }
}

/// `&d_y` as an owned array (`d_y.clone()`); any other expression is already owned.
fn owned(expr: &TokenStream) -> TokenStream {
    match borrowed_name(expr) {
        Some(name) => quote!(#name.clone()),
        None => expr.clone(),
    }
}

/// An expression as a reference: `&d_y` stays, anything else is borrowed.
fn borrowed(expr: &TokenStream) -> TokenStream {
    let tokens: Vec<proc_macro2::TokenTree> = expr.clone().into_iter().collect();
    match (borrowed_name(expr), tokens.as_slice()) {
        (Some(_), _) => expr.clone(),
        (None, [proc_macro2::TokenTree::Ident(name)]) => quote!(&#name),
        (None, _) => quote!(&(#expr)),
    }
}

/// Whether an "element" of a tensor's gradient is a part of it, the view a method like
/// `row_mut(i)` or `slice_mut(s![..])` gives (not an index `[i, j]` or `i`).
fn is_part(index: &TokenStream) -> bool {
    let tokens: Vec<proc_macro2::TokenTree> = index.clone().into_iter().collect();
    matches!(tokens.as_slice(), [proc_macro2::TokenTree::Ident(method), proc_macro2::TokenTree::Group(g)]
        if g.delimiter() == proc_macro2::Delimiter::Parenthesis && method.to_string().ends_with("_mut"))
}

/// `name` when `expr` is exactly `&name`.
fn borrowed_name(expr: &TokenStream) -> Option<proc_macro2::Ident> {
    let tokens: Vec<proc_macro2::TokenTree> = expr.clone().into_iter().collect();
    match tokens.as_slice() {
        [
            proc_macro2::TokenTree::Punct(p),
            proc_macro2::TokenTree::Ident(name),
        ] if p.as_char() == '&' => Some(name.clone()),
        _ => None,
    }
}

pub(super) fn back_stmt(program: &Program, reversed: &Reversed, stmt: &BackStmt) -> TokenStream {
    let lines = |stmts: &[BackStmt]| -> Vec<TokenStream> {
        stmts
            .iter()
            .map(|s| back_stmt(program, reversed, s))
            .collect()
    };
    let grad = |var: &usize| {
        reversed
            .grads
            .get(var)
            .cloned()
            .unwrap_or_else(|| program.vars[*var].ident.clone())
    };
    match stmt {
        BackStmt::Forward(node) => forward_node(program, node, None),
        BackStmt::Pop { name, tape, popped } => match popped {
            Popped::Value => quote!(let #name = #tape.pop();),
            Popped::Buffer => quote!(let mut #name = #tape.pop();),
            Popped::Shape => quote!(let #name = ::backprop::Shape(#tape.pop());),
        },
        BackStmt::Setup(tokens) => tokens.clone(),
        BackStmt::Init {
            var, expr, sum_to, ..
        } => {
            let d = grad(var);
            let value = match (&program.vars[*var].ty, sum_to) {
                // A borrowed gradient is reduced in place, not copied first.
                (Ty::Tensor { .. }, true) => {
                    let like = rules::render(program, &Operand::Var(*var));
                    match borrowed_name(expr) {
                        Some(_) => quote!(::backprop::sum_to_ref(#expr, #like)),
                        None => quote!(::backprop::sum_to(#expr, #like)),
                    }
                }
                (Ty::Tensor { .. }, false) => owned(expr),
                _ => expr.clone(),
            };
            if reversed.storage.contains(var) {
                quote!(#d = #value;)
            } else if reversed.mutable.contains(var) {
                quote!(let mut #d = #value;)
            } else {
                quote!(let #d = #value;)
            }
        }
        BackStmt::Accumulate {
            var,
            element: None,
            expr,
            sum_to,
            product,
            ..
        } => {
            let d = grad(var);
            match (&program.vars[*var].ty, sum_to) {
                (Ty::Tensor { .. }, false) if product.is_some() => {
                    let (a, b) = product.clone().unwrap_or_default();
                    quote!(::backprop::ndarray::linalg::general_mat_mul(1.0, &#a, &#b, 1.0, &mut #d);)
                }
                (Ty::Array { .. }, _) => quote!(::backprop::accumulate(&mut #d, #expr);),
                (Ty::Tensor { .. }, true) => {
                    let expr = borrowed(expr);
                    quote!(::backprop::add_to(&mut #d, #expr);)
                }
                (Ty::Tensor { .. }, false) => {
                    let expr = borrowed(expr);
                    quote!(#d += #expr;)
                }
                _ => quote!(#d += #expr;),
            }
        }
        BackStmt::Accumulate {
            var,
            element: Some(index),
            expr,
            ..
        } => {
            let d = grad(var);
            if program.vars[*var].ty.is_tensor() && is_part(index) {
                // A part of an array (`slice_mut(s![.., 0..h])`, `row_mut(i)`).
                let expr = borrowed(expr);
                quote!(::backprop::add_to_part(#d.#index, #expr);)
            } else if crate::ir::is_range(index) {
                quote!(::backprop::accumulate_slice(&mut #d[#index], #expr);)
            } else {
                quote!(#d[#index] += #expr;)
            }
        }
        BackStmt::SetElement { var, index, expr } => {
            let d = grad(var);
            quote!(#d[#index] = #expr;)
        }
        BackStmt::Zero { var } => {
            let d = grad(var);
            let zero = zero(program, *var);
            if reversed.storage.contains(var) {
                quote!(#d = #zero;)
            } else {
                quote!(let mut #d = #zero;)
            }
        }
        BackStmt::Raw(tokens) => tokens.clone(),
        BackStmt::Guarded { head, body } => {
            let body = lines(body);
            quote!(#head { #(#body)* })
        }
        BackStmt::For {
            index,
            range,
            rev,
            body,
            ..
        } => {
            let body = lines(body);
            let range = if *rev {
                quote!((#range).rev())
            } else {
                quote!(#range)
            };
            quote!(for #index in #range { #(#body)* })
        }
        BackStmt::If {
            cond,
            then,
            otherwise,
            ..
        } => {
            let then = lines(then);
            let otherwise = lines(otherwise);
            if otherwise.is_empty() {
                quote!(if #cond { #(#then)* })
            } else if then.is_empty() {
                quote!(if !(#cond) { #(#otherwise)* })
            } else {
                quote!(if #cond { #(#then)* } else { #(#otherwise)* })
            }
        }
    }
}
