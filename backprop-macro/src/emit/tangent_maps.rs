//! The tangent of `a.mapv(|v| h(v, c..))` in `hvp`'s tangent function, where the macro
//! differentiates it again. `f_jvp` applies `h_backward` to every element and its tangent
//! (`Zip`), which is no code of the forward language; here the tangent is written with
//! *slope functions* instead: `t_y = &a.mapv(|v| h_slope_0(v, c..)) * t_a + ..`, one per
//! differentiated argument of `h`, each `∂h/∂(that argument)` read from `h_hvp_tangent` with a
//! unit tangent. The slope functions and `h`'s second-order companions are items of the
//! tangent function, so its reverse pass differentiates the maps of slopes like any `mapv` of
//! a function of the user's (through `h_slope_k_backward`, which goes through
//! `h_hvp_tangent_backward`): no rule of its own.

use proc_macro2::{Ident, TokenStream};
use quote::quote;

use crate::errors::Errors;
use crate::ir::{Assign, FloatTy};
use crate::rules;

use super::tangent::Tangents;

/// `t_y` of `y = a.mapv(|v| h(v, c..))` (`args`: `a`, then the captures `c..`), the items it
/// calls added to `t.items`.
pub(super) fn map_tangent(
    t: &Tangents,
    assign: &Assign,
    function: &Ident,
    wrt: &[bool],
    float: FloatTy,
) -> Result<TokenStream, String> {
    let program = &t.program;
    let args = &assign.args;
    let failed = "a `mapv` closure whose function `hvp` cannot differentiate twice";
    let h = program
        .items
        .iter()
        .filter_map(|item| syn::parse2::<syn::ItemFn>(item.clone()).ok())
        .find(|item| item.sig.ident == *function)
        .ok_or(failed)?;
    let mut errors = Errors::default();
    let second_order = crate::expand::hvp_of(&h, &mut errors).ok_or(failed)?;
    let mut items = vec![second_order];
    let f = float.ident();
    let params: Vec<Ident> = h
        .sig
        .inputs
        .iter()
        .filter_map(|input| match input {
            syn::FnArg::Typed(typed) => match &*typed.pat {
                syn::Pat::Ident(p) => Some(p.ident.clone()),
                _ => None,
            },
            syn::FnArg::Receiver(_) => None,
        })
        .collect();
    let tangent_fn = quote::format_ident!("{}_hvp_tangent", function);
    let captures: Vec<TokenStream> = (1..args.len())
        .map(|k| rules::render_bare(program, &args[k]))
        .collect();
    let a = rules::render_receiver(program, &args[0], float);
    let e = rules::render::element_name(&captures);
    // Slot 0 is the element, slot k the k-th capture; a slot with no tangent adds nothing.
    let slots = std::iter::once(0).chain((0..wrt.len()).filter(|&k| wrt[k]).map(|k| k + 1));
    let mut terms = Vec::new();
    for slot in slots {
        let Some(tangent) = t.operand(&args[slot]) else {
            continue;
        };
        let slope = quote::format_ident!("{}_slope_{}", function, slot);
        // `∂h/∂(slot)`: `h_hvp_tangent` with the unit tangent of that argument.
        let units = (0..params.len()).map(|i| if i == slot { quote!(1.0) } else { quote!(0.0) });
        let source = quote! {
            fn #slope(#(#params: #f),*) -> #f {
                let [_, slope] = #tangent_fn(#(#params,)* #(#units),*);
                slope
            }
        };
        let slope_fn: syn::ItemFn = syn::parse2(source).map_err(|_| failed)?;
        let backward =
            crate::expand::backward_of(&slope_fn, Default::default(), &mut errors).ok_or(failed)?;
        items.push(quote!(#slope_fn #backward));
        let t_slot = rules::render(program, &tangent);
        terms.push(quote!(&#a.mapv(|#e| #slope(#e, #(#captures),*)) * #t_slot));
    }
    if terms.is_empty() {
        return Err("a `mapv` of constants".into());
    }
    t.items.borrow_mut().extend(items);
    Ok(quote!(#(#terms)+*))
}
