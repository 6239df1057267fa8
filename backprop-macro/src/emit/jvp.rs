//! The forward-mode companion `f_jvp`: the tangent lines of [`super::tangent`] in a function of
//! the parameters and their tangents (`hvp` makes the same lines a function of its own).

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote};

use crate::errors::Errors;
use crate::ir::{Node, Operand, Program, Ty};
use crate::naming::Namer;
use crate::rules;

use super::tangent::{Tangents, block_lines, zero_like};

/// `f_jvp(p.., t..) -> (R, R)`: the value and the tangent of the output, for the tangents `t`
/// of the differentiable parameters (typed like them).
pub fn jvp(
    function: &syn::ItemFn,
    signature: &crate::signature::SignatureInfo,
    program: &Program,
    namer: &mut Namer,
    errors: &mut Errors,
) -> TokenStream {
    let mut t = Tangents::new(program, namer);
    t.references = references(signature);
    let lines = block_lines(&t, &program.body, errors);
    let name = &function.sig.ident;
    let jvp = quote::format_ident!("{}_jvp", name, span = name.span());
    let groups = &signature.groups;
    // A struct parameter's fields are bound in the body (`program.items`), not taken.
    let public = || {
        signature
            .params
            .iter()
            .zip(&program.params)
            .filter(|(p, _)| !crate::structs::is_field_param(groups, &p.ident))
    };
    let params = public().map(|(p, _)| {
        let (ident, ty) = (&p.ident, &p.ty_tokens);
        quote!(#ident: #ty)
    });
    // A struct parameter's tangent is a struct too (`t_net: &Net`), its fields' tangents bound
    // from it as the fields are.
    let mut tangent_fields = Vec::new();
    let tangent_params: Vec<TokenStream> = public()
        .filter_map(|(p, param)| {
            let ty = &p.ty_tokens;
            if let Some(group) = crate::structs::group_of(groups, &p.ident) {
                if !group.differentiable {
                    return None;
                }
                let t_struct = quote::format_ident!("t_{}", p.ident, span = p.ident.span());
                for binding in group.all_bindings() {
                    let leaf = program
                        .params
                        .iter()
                        .find(|q| program.vars[q.var].ident == binding.leaf);
                    if let Some(t_leaf) = leaf.and_then(|q| t.var(q.var)) {
                        tangent_fields.push(binding.line(t_leaf, &quote!(#t_struct)));
                    }
                }
                return Some(quote!(#t_struct: #ty));
            }
            if !param.differentiable {
                return None;
            }
            t.var(param.var).map(|ident| quote!(#ident: #ty))
        })
        .collect();
    let output = &signature.output_tokens;
    let value = super::output_value(program);
    let out = program.body.value();
    let tangent = owned_tangent(&t, program, signature);
    let (bind, value, tangent) = if t.operand(out).is_none() {
        (
            Some(quote!(let value = #value; let tangent = #tangent;)),
            quote!(value),
            quote!(tangent),
        )
    } else {
        (None, value, tangent)
    };
    let items = &program.items;
    let vis = &function.vis;
    let user_allows = function.attrs.iter().filter(|a| a.path().is_ident("allow"));
    let body = quote! {
        #vis fn #jvp(#(#params,)* #(#tangent_params),*) -> (#output, #output) {
            #(#items)*
            #(#tangent_fields)*
            #(#lines)*
            #bind
            (#value, #tangent)
        }
    };
    let printed = super::pretty(&body);
    let doc = format!(
        " Value and Jacobian–vector product of [`{name}`], written by `#[backprop(jvp)]`.\n\n \
         Runs `{name}` forward once with a tangent beside every differentiated value, and returns \
         `({name}(..), J·t)`: the derivative of the output in the direction of the tangents `t_..` \
         (one per differentiable parameter, typed like it).\n\n The generated code:\n\n ```rust,ignore\n{}\n ```",
        printed
            .lines()
            .map(|l| format!(" {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    quote! {
        #[doc = #doc]
        #[allow(dead_code, clippy::all, clippy::pedantic, unused_parens, unused_variables, unused_mut, unused_assignments)]
        #(#user_allows)*
        #body
    }
}

/// The tangent of the function's value, owned as the value is; a zero like `value` when the
/// value has no gradient.
pub(super) fn owned_tangent(
    t: &Tangents,
    program: &Program,
    signature: &crate::signature::SignatureInfo,
) -> TokenStream {
    let out = program.body.value();
    let out_ty = crate::ir::operand_ty(&program.vars, out);
    match t.operand(out) {
        Some(Operand::Var(tv)) if out_ty.is_tensor() => {
            let ident = &t.program.vars[tv].ident;
            // The value is copied out of a borrowed array (`z.t().to_owned()`): so is its
            // tangent, which borrows the tangent of that array.
            if super::borrows(program, out)
                || !matches!(t.program.vars[tv].ty, Ty::Tensor { by_ref: false, .. })
            {
                quote!(#ident.to_owned())
            } else {
                ident.to_token_stream()
            }
        }
        Some(tangent) => rules::render_bare(&t.program, &tangent),
        // A value with no gradient: a zero of the output's type, like the value.
        None => zero_like(&quote!(value), &signature.output),
    }
}

/// The tangent of a function's tuple value, `(t_h, t_c)`.
pub(super) fn output_tuple_tangent(
    t: &Tangents,
    program: &Program,
    errors: &mut Errors,
) -> TokenStream {
    let Operand::Var(out) = program.body.value() else {
        return TokenStream::new();
    };
    let assign = program.body.nodes.iter().find_map(|node| match node {
        Node::Assign(a) if a.target == *out => Some(a),
        _ => None,
    });
    match assign.map(|a| super::tangent::tangent_expr(t, a)) {
        Some(Ok(tangent)) => tangent,
        Some(Err(what)) => {
            errors.push(syn::Error::new(
                assign.map_or_else(Span::call_site, |a| a.span),
                format!("{what} has no forward-mode rule yet"),
            ));
            TokenStream::new()
        }
        None => TokenStream::new(),
    }
}

/// The names of the parameters that are references.
pub(super) fn references(
    signature: &crate::signature::SignatureInfo,
) -> std::collections::HashSet<String> {
    signature
        .params
        .iter()
        .filter(|p| p.ty_tokens.to_string().starts_with('&'))
        .map(|p| p.ident.to_string())
        .collect()
}
