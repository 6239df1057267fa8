//! The companions of companions, for calls of `g_jvp` and `g_grad` inside differentiated code:
//! `g_grad_jvp` (a caller with `jvp` calling `g_grad`), and, on a function that has both `jvp`
//! and `hvp`, `g_jvp_backward` (a reverse-differentiated caller of `g_jvp`) and `g_jvp_jvp`
//! (a caller with `jvp` calling `g_jvp`). Each is a thin wrapper: `hvp`'s tangent function
//! `g_hvp_tangent` already is `g_jvp` written in the forward language, so its `_backward`
//! (reverse over forward) and its `_jvp` (forward over forward) are the calculus; only the
//! shapes differ (`[F; 2]` for the pair of a float function's value and tangent, where
//! `g_jvp` returns a tuple).

use proc_macro2::{Ident, TokenStream};
use quote::quote;

use crate::errors::Errors;

/// What the wrappers are written from: the function, its `hvp` tangent function and that
/// function's `_backward`.
pub(super) struct TangentFunction<'a> {
    pub function: &'a syn::ItemFn,
    /// `g_hvp_tangent(p.., t..)`: `[F; 2]` for a float `g`, `(R, R)` otherwise.
    pub inner: &'a syn::ItemFn,
    /// `g_hvp_tangent_backward(p.., t.., d_out)`.
    pub backward: &'a syn::ItemFn,
    /// `g` returns a float (else an array or a tuple of arrays).
    pub float_output: bool,
    /// How many parameters are differentiated (the gradients are `H·t` for them, then `∇g`).
    pub k: usize,
    /// `(R, G)` of `g_grad`, for `g_grad_jvp`.
    pub output: &'a TokenStream,
    pub gradient: &'a TokenStream,
}

/// The parameter names of a signature, to forward a call.
fn names(sig: &syn::Signature) -> Vec<TokenStream> {
    sig.inputs
        .iter()
        .filter_map(|input| match input {
            syn::FnArg::Typed(typed) => match &*typed.pat {
                syn::Pat::Ident(p) => {
                    let ident = &p.ident;
                    Some(quote!(#ident))
                }
                _ => None,
            },
            syn::FnArg::Receiver(_) => None,
        })
        .collect()
}

/// The type of `(value, gradients)`'s second part in a `_backward`'s `-> (V, G)`.
fn gradients_type(backward: &syn::ItemFn) -> Option<TokenStream> {
    let syn::ReturnType::Type(_, ty) = &backward.sig.output else {
        return None;
    };
    let syn::Type::Tuple(tuple) = &**ty else {
        return None;
    };
    tuple.elems.iter().nth(1).map(|g| quote!(#g))
}

/// `gradients.i` for `i` in `range`, a tuple of them, or the one.
fn pick(range: std::ops::Range<usize>) -> TokenStream {
    let fields: Vec<TokenStream> = range
        .map(|i| {
            let i = syn::Index::from(i);
            quote!(gradients.#i)
        })
        .collect();
    match fields.as_slice() {
        [one] => one.clone(),
        many => quote!((#(#many),*)),
    }
}

/// `g_grad_jvp(p.., s..) -> ((R, G), (R, G))`: `g_grad`'s value and gradient, and their
/// derivatives in the direction `s`, `(∇g·s, H·s)`: the numbers `g_hvp` computes, with
/// `∇g·s`, the tangent function's second value.
pub(super) fn grad_jvp(tf: &TangentFunction) -> TokenStream {
    let function = tf.function;
    let name = &function.sig.ident;
    let grad_jvp = quote::format_ident!("{}_grad_jvp", name, span = name.span());
    let backward = &tf.backward.sig.ident;
    let inputs = &tf.inner.sig.inputs;
    let forwarded = names(&tf.inner.sig);
    let (hv, gradient) = (pick(0..tf.k), pick(tf.k..2 * tf.k));
    let (output, gradient_type) = (tf.output, tf.gradient);
    let vis = &function.vis;
    let doc = format!(
        " `{name}_grad` differentiated in the direction of the tangents: \
         `(({name}(..), ∇{name}), (∇{name}·t, H·t))`, the forward-mode companion of \
         `{name}_grad` that a caller with `#[backprop(jvp)]` calls."
    );
    quote! {
        #[doc = #doc]
        #[allow(dead_code, clippy::type_complexity, clippy::too_many_arguments)]
        #vis fn #grad_jvp(#inputs) -> ((#output, #gradient_type), (#output, #gradient_type)) {
            let (value, gradients) = #backward(#(#forwarded,)* [0.0, 1.0]);
            ((value[0], #gradient), (value[1], #hv))
        }
    }
}

/// `g_jvp_backward`, `g_hvp_tangent_jvp` and `g_jvp_jvp`, for a function with `jvp` and `hvp`.
pub(super) fn of_jvp(tf: &TangentFunction, wrt: Vec<Ident>, errors: &mut Errors) -> TokenStream {
    let function = tf.function;
    let name = &function.sig.ident;
    let vis = &function.vis;
    let allow = quote!(#[allow(dead_code, clippy::type_complexity, clippy::too_many_arguments)]);

    // Reverse over `g_jvp`: the tangent function's `_backward`, its pairs as tuples.
    let jvp_backward = quote::format_ident!("{}_jvp_backward", name, span = name.span());
    let backward = &tf.backward.sig.ident;
    let inputs = &tf.inner.sig.inputs;
    let forwarded = names(&tf.inner.sig);
    let Some(gradients) = gradients_type(tf.backward) else {
        return TokenStream::new();
    };
    let jvp_backward_doc = format!(
        " The composition rule applied to `{name}_jvp`: for the upstream `d_out` of its \
         `(value, tangent)`, returns them and the gradient of `d_out`'s dot product with them \
         with respect to every parameter and tangent, so that a `#[backprop]` function may call \
         `{name}_jvp` and be differentiated (reverse over forward)."
    );
    let jvp_backward_fn = if tf.float_output {
        let f = float_of(tf.inner);
        quote! {
            #[doc = #jvp_backward_doc]
            #allow
            #vis fn #jvp_backward(#inputs, d_out: (#f, #f)) -> ((#f, #f), #gradients) {
                let (value, gradients) = #backward(#(#forwarded,)* [d_out.0, d_out.1]);
                ((value[0], value[1]), gradients)
            }
        }
    } else {
        let output = &tf.backward.sig.output;
        let d_out = tf.backward.sig.inputs.last();
        quote! {
            #[doc = #jvp_backward_doc]
            #allow
            #vis fn #jvp_backward(#inputs, #d_out) #output {
                #backward(#(#forwarded,)* d_out)
            }
        }
    };

    // Forward over `g_jvp`: the tangent function differentiated by forward mode.
    let wrt_names = wrt.clone();
    let args = crate::args::Args {
        wrt: Some(wrt),
        ..Default::default()
    };
    let Some(inner_jvp) = crate::expand::jvp_of(tf.inner, args, errors) else {
        return jvp_backward_fn;
    };
    let inner_jvp_name = &inner_jvp.sig.ident;
    let jvp_jvp = quote::format_ident!("{}_jvp_jvp", name, span = name.span());
    // `g_jvp_jvp(p.., t.., s_p.., s_t..)`: a tangent for each argument of `g_jvp`, named `s_`
    // after it (the inner function's own names avoid its parameters' names, `t_x_1`).
    let s_types = inner_jvp
        .sig
        .inputs
        .iter()
        .skip(inputs.len())
        .map(|input| match input {
            syn::FnArg::Typed(typed) => {
                let ty = &typed.ty;
                quote!(#ty)
            }
            syn::FnArg::Receiver(_) => TokenStream::new(),
        });
    let s_names: Vec<Ident> = wrt_names
        .iter()
        .map(|w| quote::format_ident!("s_{}", w))
        .collect();
    let s_params = s_names.iter().zip(s_types).map(|(s, ty)| quote!(#s: #ty));
    let jvp_inputs = quote!(#inputs, #(#s_params),*);
    let jvp_forwarded: Vec<TokenStream> = forwarded
        .iter()
        .cloned()
        .chain(s_names.iter().map(|s| quote!(#s)))
        .collect();
    let jvp_jvp_doc = format!(
        " `{name}_jvp` differentiated in the direction of tangents of all its arguments: \
         `(({name}(..), J·t), (J·s, its derivative))`, the forward-mode companion of `{name}_jvp` \
         that a caller with `#[backprop(jvp)]` calls (forward over forward)."
    );
    let jvp_jvp_fn = if tf.float_output {
        let f = float_of(tf.inner);
        quote! {
            #[doc = #jvp_jvp_doc]
            #allow
            #vis fn #jvp_jvp(#jvp_inputs) -> ((#f, #f), (#f, #f)) {
                let (value, tangent) = #inner_jvp_name(#(#jvp_forwarded),*);
                ((value[0], value[1]), (tangent[0], tangent[1]))
            }
        }
    } else {
        let output = &inner_jvp.sig.output;
        quote! {
            #[doc = #jvp_jvp_doc]
            #allow
            #vis fn #jvp_jvp(#jvp_inputs) #output {
                #inner_jvp_name(#(#jvp_forwarded),*)
            }
        }
    };
    let inner_doc = format!(
        " `{name}_hvp_tangent` differentiated by forward mode: what `{name}_jvp_jvp` and a \
         caller of `{name}_hvp_tangent` with `#[backprop(jvp)]` call."
    );
    quote! {
        #jvp_backward_fn
        #[doc = #inner_doc]
        #[doc(hidden)]
        #[allow(dead_code, non_snake_case, clippy::all, clippy::pedantic, unused_parens, unused_variables, unused_mut, unused_assignments)]
        #vis #inner_jvp
        #jvp_jvp_fn
    }
}

/// `F` of a tangent function's `-> [F; 2]`.
fn float_of(inner: &syn::ItemFn) -> TokenStream {
    if let syn::ReturnType::Type(_, ty) = &inner.sig.output
        && let syn::Type::Array(array) = &**ty
    {
        let elem = &array.elem;
        return quote!(#elem);
    }
    quote!(f64)
}
