//! Forward mode's lines for calls: `let (y, t_y) = g_jvp(args.., tangents..);`, and, in the
//! tangent function that `hvp` differentiates again, `g_hvp_tangent(..)` (an `[F; 2]`, or the
//! pair of an array result and its tangent, or of a tuple's).

use proc_macro2::TokenStream;
use quote::{ToTokens, quote, quote_spanned};

use crate::ir::{FloatTy, Ty};
use crate::rules::{self, Pass, Prim};

use super::tangent::{Tangents, zero_like};

/// `let (y, t_y) = g_jvp(args.., tangents..);`: a tangent for every float argument (the
/// callee's differentiable parameters), zero for a constant one, passed as its value is.
pub(super) fn call_line(t: &Tangents, assign: &crate::ir::Assign) -> TokenStream {
    let program = &t.program;
    let Prim::Call {
        path,
        pass,
        structs,
        ..
    } = &assign.prim
    else {
        return TokenStream::new();
    };
    let float = program.vars[assign.target]
        .ty
        .float()
        .unwrap_or(FloatTy::F64);
    let receivers: Vec<TokenStream> = assign
        .args
        .iter()
        .map(|a| rules::render_receiver(program, a, float))
        .collect();
    let bare: Vec<TokenStream> = assign
        .args
        .iter()
        .map(|a| rules::render_bare(program, a))
        .collect();
    let args = rules::render::with_references(bare.clone(), &receivers, pass);
    // A tangent per float argument and per struct argument, in order (a struct's fields are
    // operands after the written arguments).
    let written = crate::contributions::written_arguments(&assign.prim, &assign.args);
    let positions: Vec<usize> = (0..written)
        .filter(|&i| {
            crate::contributions::differentiable_positions(&assign.prim, &assign.args).contains(&i)
                || structs.iter().any(|s| s.position == i)
        })
        .collect();
    let tangents: Vec<TokenStream> = positions
        .iter()
        .map(|&i| {
            if let Some(argument) = structs.iter().find(|s| s.position == i) {
                return struct_tangent(argument, &bare[i]);
            }
            let arg = &assign.args[i];
            let ty = crate::ir::operand_ty(&program.vars, arg);
            match t.operand(arg) {
                Some(tangent) => {
                    let bare = rules::render_bare(program, &tangent);
                    let receiver = rules::render_receiver(program, &tangent, float);
                    rules::render::with_references(vec![bare], &[receiver], &pass[i..=i]).remove(0)
                }
                None => {
                    let zero = zero_like(&receivers[i], &ty);
                    let reference = t.references.contains(&receivers[i].to_string());
                    match &pass[i] {
                        Pass::Ref | Pass::RefOwned => quote!(&#zero),
                        Pass::Plain if ty.is_tensor() || reference => quote!(&#zero),
                        Pass::View => quote!(#zero.view()),
                        _ => zero,
                    }
                }
            }
        })
        .collect();
    let (args, tangents) = if t.for_hvp && !structs.is_empty() {
        struct_fields_for_hvp(t, assign, args, &positions, tangents)
    } else {
        (args, tangents)
    };
    let y = &program.vars[assign.target].ident;
    let t_y = t.var(assign.target);
    let span = assign.span;
    // `let ((h, c), (t_h, t_c)) = g_jvp(..);` of `let (h, c) = g(..);` (`g_hvp_tangent` in
    // `hvp`'s tangent function), typed by the user's annotation.
    if let Prim::Call {
        parts: Some(parts), ..
    } = &assign.prim
    {
        let callee = match t.for_hvp {
            true => suffixed(path, "hvp_tangent"),
            false => jvp_path(path),
        };
        let values = parts.render(&mut |v| program.vars[v].ident.to_token_stream());
        let tangents_of = parts.render(&mut |v| match t.var(v) {
            Some(t_v) => t_v.to_token_stream(),
            None => quote!(_),
        });
        let annotation = assign.annotation.as_ref().map(|a| quote!(: (#a, #a)));
        return quote_spanned! {span=>
            let (#values, #tangents_of) #annotation = #callee(#(#args,)* #(#tangents),*);
        };
    }
    if t.for_hvp {
        let tangent_fn = suffixed(path, "hvp_tangent");
        // `let (y, t_y): (A, A) = g_hvp_tangent(..);` of an array, differentiated by its
        // `_backward` like any call taken apart by a tuple pattern.
        if let Some(array) = array_type(assign, &program.vars[assign.target].ty) {
            let t_y = t_y.map_or_else(|| quote!(_), |t| t.to_token_stream());
            return quote_spanned! {span=>
                let (#y, #t_y): (#array, #array) = #tangent_fn(#(#args,)* #(#tangents),*);
            };
        }
        // `let y_and_tangent: [f64; 2] = g_hvp_tangent(..);`, differentiated by its
        // `_backward` like any call that returns an array.
        let pair = quote::format_ident!("{}_and_tangent", y);
        let f = float.ident();
        return quote_spanned! {span=>
            let #pair: [#f; 2] = #tangent_fn(#(#args,)* #(#tangents),*);
            let #y = #pair[0];
            let #t_y = #pair[1];
        };
    }
    let jvp = jvp_path(path);
    let annotation = assign.annotation.as_ref().map(|a| quote!(: (#a, #a)));
    quote_spanned!(span=> let (#y, #t_y) #annotation = #jvp(#(#args,)* #(#tangents),*);)
}

/// Under `hvp`, a struct passed whole goes to the callee's tangent function as `#[backprop(hvp)]`
/// on the callee writes it, by its fields: the struct by reference (its skipped fields are read
/// through it), then each differentiable field, and each field's tangent where the struct's
/// would be (`g_hvp_tangent(&net, net_w, net_b, x, t_net_w, t_net_b, t_x)`). The macro
/// differentiates that function again, and a struct's fields are what it differentiates.
fn struct_fields_for_hvp(
    t: &Tangents,
    assign: &crate::ir::Assign,
    args: Vec<TokenStream>,
    positions: &[usize],
    tangents: Vec<TokenStream>,
) -> (Vec<TokenStream>, Vec<TokenStream>) {
    let program = &t.program;
    let Prim::Call { structs, .. } = &assign.prim else {
        return (args, tangents);
    };
    // A field's value or tangent, by reference unless it is a float or one already.
    let pass = |operand: &crate::ir::Operand, leaf: &TokenStream| {
        let ty = crate::ir::operand_ty(&program.vars, operand);
        let bare = rules::render_bare(program, operand);
        if matches!(ty, Ty::Float(_)) || t.references.contains(&leaf.to_string()) {
            bare
        } else {
            quote!(&#bare)
        }
    };
    let mut values = Vec::new();
    for (i, arg) in args.into_iter().enumerate() {
        let Some(argument) = structs.iter().find(|s| s.position == i) else {
            values.push(arg);
            continue;
        };
        // `&net` coerces to the `&Net` the tangent function takes, whether `net` is the
        // struct or a reference to it.
        values.push(quote!(&#arg));
        for (operand, _) in &argument.fields {
            let operand = &assign.args[*operand];
            let leaf = rules::render_bare(program, operand);
            values.push(pass(operand, &leaf));
        }
    }
    let mut out = Vec::new();
    for (&i, tangent) in positions.iter().zip(tangents) {
        let Some(argument) = structs.iter().find(|s| s.position == i) else {
            out.push(tangent);
            continue;
        };
        for (operand, _) in &argument.fields {
            let operand = &assign.args[*operand];
            let leaf = rules::render_bare(program, operand);
            out.push(match t.operand(operand) {
                Some(tangent) => pass(&tangent, &leaf),
                None => {
                    let ty = crate::ir::operand_ty(&program.vars, operand);
                    let zero = zero_like(&leaf, &ty);
                    match ty {
                        Ty::Float(_) => zero,
                        _ => quote!(&#zero),
                    }
                }
            });
        }
    }
    (values, out)
}

/// The tangent of a struct passed whole (`&net.l1`): the same place in the struct parameter's
/// tangent (`&t_net.l1`), or a zero like it when the parameter is not differentiated.
fn struct_tangent(argument: &crate::rules::StructArg, written: &TokenStream) -> TokenStream {
    let root = &argument.root;
    if !argument.differentiable {
        let (by_ref, place) = match written.clone().into_iter().next() {
            Some(proc_macro2::TokenTree::Punct(p)) if p.as_char() == '&' => (
                true,
                written.clone().into_iter().skip(1).collect::<TokenStream>(),
            ),
            _ => (false, written.clone()),
        };
        return match (by_ref, argument.reference) {
            (true, _) => quote!(&::backprop::Differentiable::zeros_like(&#place)),
            // `layer` of `layer: &Layer`.
            (false, true) => quote!(&::backprop::Differentiable::zeros_like(#place)),
            (false, false) => quote!(::backprop::Differentiable::zeros_like(&#place)),
        };
    }
    let t_root = quote::format_ident!("t_{}", root);
    written
        .clone()
        .into_iter()
        .map(|tree| match tree {
            proc_macro2::TokenTree::Ident(ident) if ident == *root => {
                proc_macro2::TokenTree::Ident(t_root.clone())
            }
            other => other,
        })
        .collect()
}

/// The type of a call's array result: the user's annotation, or `Array1<F>`/`Array2<F>`/..
/// of its rank (`Array<F, _>` when unknown). `None` for a float.
fn array_type(assign: &crate::ir::Assign, ty: &Ty) -> Option<TokenStream> {
    // `[F; N]` and `Vec<F>` results are annotated (lowering asks for it).
    if let (Ty::Array { .. } | Ty::Tensor { .. }, Some(annotation)) = (ty, &assign.annotation) {
        return Some(annotation.clone());
    }
    let Ty::Tensor { elem, rank, .. } = ty else {
        return None;
    };
    let f = elem.ident();
    Some(match rank {
        Some(rank) => {
            let array = quote::format_ident!("Array{}", rank);
            quote!(::backprop::ndarray::#array<#f>)
        }
        None => quote!(::backprop::ndarray::Array<#f, _>),
    })
}

/// `g_jvp` of a call of `g` (`::backprop::sigmoid_jvp` of `::backprop::sigmoid`).
fn jvp_path(path: &TokenStream) -> TokenStream {
    suffixed(path, "jvp")
}

/// `path` with `_suffix` on its last name.
fn suffixed(path: &TokenStream, suffix: &str) -> TokenStream {
    let mut trees: Vec<proc_macro2::TokenTree> = path.clone().into_iter().collect();
    if let Some(proc_macro2::TokenTree::Ident(last)) = trees.last_mut() {
        *last = quote::format_ident!("{}_{}", last, suffix, span = last.span());
    }
    trees.into_iter().collect()
}
