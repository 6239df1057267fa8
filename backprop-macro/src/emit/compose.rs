//! The companions of companions, for calls of `g_jvp` and `g_grad` inside differentiated code:
//! `g_grad_jvp` (a caller with `jvp` calling `g_grad`), and, on a function that has both `jvp`
//! and `hvp`, `g_jvp_backward` (a reverse-differentiated caller of `g_jvp`) and `g_jvp_jvp`
//! (a caller with `jvp` calling `g_jvp`, for a float `g`). Each is a thin wrapper over
//! `hvp`'s tangent function's `_backward` (`g_hvp_tangent` is `g_jvp` written in the forward
//! language): the calculus is its reverse pass, and the wrappers only change shapes (`[F; 2]`,
//! where `g_jvp` returns a tuple) and take inner products with the directions. None of them
//! asks anything more of `g`'s callees than `hvp` does.

use proc_macro2::{Ident, TokenStream};
use quote::quote;

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
    /// Whether each differentiated parameter is a float (its inner product a product).
    pub float_params: Vec<bool>,
    /// `g` calls no function (nor maps one): forward mode over its tangent function asks
    /// nothing of callees, and is one pass.
    pub calls_nothing: bool,
    /// `(R, G)` of `g_grad`, for `g_grad_jvp`.
    pub output: &'a TokenStream,
    pub gradient: &'a TokenStream,
    /// What the wrappers' calls of the companions start with: `Self::` in an impl.
    pub prefix: &'a TokenStream,
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

/// The parameter names of a signature, to forward a call that is not the last to read them:
/// a parameter taken by value that is not `Copy` (`w: Vec<f64>`) is cloned.
fn names_kept(sig: &syn::Signature) -> Vec<TokenStream> {
    sig.inputs
        .iter()
        .filter_map(|input| match input {
            syn::FnArg::Typed(typed) => {
                let syn::Pat::Ident(p) = &*typed.pat else {
                    return None;
                };
                let ident = &p.ident;
                let copy = match &*typed.ty {
                    syn::Type::Reference(_) => true,
                    syn::Type::Array(a) => crate::signature::float_type(&a.elem).is_some(),
                    ty => crate::signature::float_type(ty).is_some(),
                };
                Some(if copy {
                    quote!(#ident)
                } else {
                    quote!(::core::clone::Clone::clone(&#ident))
                })
            }
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
pub(super) fn pick(range: std::ops::Range<usize>) -> TokenStream {
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
    let prefix = tf.prefix;
    let inputs = &tf.inner.sig.inputs;
    let forwarded = names(&tf.inner.sig);
    let hv = pick(0..tf.k);
    // The value and gradient as `g_grad` computes them, bit for bit (the tangent function's
    // reverse pass rounds differently), so that a caller's `_jvp` has the caller's value.
    let grad = quote::format_ident!("{}_grad", name);
    let kept = names_kept(&tf.inner.sig);
    let params = &kept[..kept.len() - tf.k];
    let (output, gradient_type) = (tf.output, tf.gradient);
    let vis = &function.vis;
    let doc = grad_jvp_doc(name);
    quote! {
        #[doc = #doc]
        #[allow(dead_code, clippy::type_complexity, clippy::too_many_arguments)]
        #vis fn #grad_jvp(#inputs) -> ((#output, #gradient_type), (#output, #gradient_type)) {
            let value_and_gradient = #prefix #grad(#(#params),*);
            let (value, gradients) = #prefix #backward(#(#forwarded,)* [0.0, 1.0]);
            (value_and_gradient, (value[1], #hv))
        }
    }
}

/// The rustdoc of `g_grad_jvp` (also of a function with a struct parameter, `hvp.rs`).
pub(super) fn grad_jvp_doc(name: &Ident) -> String {
    format!(
        " `{name}_grad` differentiated in the direction of the tangents: \
         `(({name}(..), ∇{name}), (∇{name}·t, H·t))`, the forward-mode companion of \
         `{name}_grad` that a caller with `#[backprop(jvp)]` calls."
    )
}

/// `g_jvp_backward`, and `g_jvp_jvp` for a float `g`, for a function with `jvp` and `hvp`.
pub(super) fn of_jvp(tf: &TangentFunction, wrt: &[Ident]) -> TokenStream {
    let function = tf.function;
    let name = &function.sig.ident;
    let vis = &function.vis;
    let allow = quote!(#[allow(dead_code, clippy::type_complexity, clippy::too_many_arguments)]);

    // Reverse over `g_jvp`: the tangent function's `_backward`, its pairs as tuples.
    let jvp_backward = quote::format_ident!("{}_jvp_backward", name, span = name.span());
    let backward = &tf.backward.sig.ident;
    let prefix = tf.prefix;
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
                let (value, gradients) = #prefix #backward(#(#forwarded,)* [d_out.0, d_out.1]);
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
                #prefix #backward(#(#forwarded,)* d_out)
            }
        }
    };

    // Forward over `g_jvp`, for a float `g`: `(f, ∇f·t)` in the direction `(s_p, s_t)` is
    // `(∇f·s_p, tᵀH s_p + ∇f·s_t)`, and the tangent function's gradients for the upstream
    // `[0, 1]` are `H·t` (for `p`) and `∇f` (for `t`): one reverse pass, and inner products.
    let jvp_jvp = quote::format_ident!("{}_jvp_jvp", name, span = name.span());
    if !tf.float_output {
        // An array `g` that calls nothing: forward mode over its tangent function, whose
        // `(value, tangent)` pair is differentiated as a pair. (Through calls, the tangent
        // function's reverse pass gives inner products with a float output only.)
        let Some(mut inner_jvp) = tf
            .calls_nothing
            .then(|| {
                let args = crate::args::Args {
                    wrt: Some(wrt.to_vec()),
                    ..Default::default()
                };
                crate::expand::jvp_of(tf.inner, args)
            })
            .flatten()
        else {
            return jvp_backward_fn;
        };
        let inner_jvp_name = quote::format_ident!("{}_hvp_tangent_jvp", name);
        inner_jvp.sig.ident = inner_jvp_name.clone();
        let output = tf.output;
        let s_params = s_parameters(inputs, wrt);
        let s_names = s_parameter_names(wrt);
        let doc = format!(
            " `{name}_jvp` differentiated in the direction of tangents of all its arguments \
             (`s_..` of the parameters, `s_t_..` of their tangents): `(({name}(..), J·t), \
             (J·s, the derivative of J·t))`, the forward-mode companion of `{name}_jvp` that a \
             caller with `#[backprop(jvp)]` calls (forward over forward)."
        );
        return quote! {
            #jvp_backward_fn

            #[doc(hidden)]
            #[allow(dead_code, non_snake_case, clippy::all, clippy::pedantic, unused_parens, unused_variables, unused_mut, unused_assignments)]
            #vis #inner_jvp

            #[doc = #doc]
            #allow
            #vis fn #jvp_jvp(#inputs, #(#s_params),*) -> ((#output, #output), (#output, #output)) {
                #prefix #inner_jvp_name(#(#forwarded,)* #(#s_names),*)
            }
        };
    }
    // The value and tangent as `g_jvp` computes them, bit for bit (see `grad_jvp`).
    let jvp = quote::format_ident!("{}_jvp", name);
    let kept = names_kept(&tf.inner.sig);
    let k = tf.k;
    let s_names = s_parameter_names(wrt);
    let s_params = s_parameters(inputs, wrt);
    // `⟨gradients.i, s⟩`: a product for a float parameter.
    let inner = |i: usize, s: &Ident| {
        let g = syn::Index::from(i);
        if tf.float_params[i % k] {
            quote!(gradients.#g * #s)
        } else {
            quote!(::backprop::inner(&gradients.#g, &#s))
        }
    };
    let along: Vec<TokenStream> = (0..k).map(|i| inner(k + i, &s_names[i])).collect();
    let second: Vec<TokenStream> = (0..k)
        .map(|i| inner(i, &s_names[i]))
        .chain((0..k).map(|i| inner(k + i, &s_names[k + i])))
        .collect();
    let f = float_of(tf.inner);
    let jvp_jvp_doc = format!(
        " `{name}_jvp` differentiated in the direction of tangents of all its arguments \
         (`s_..` of the parameters, `s_t_..` of their tangents): `(({name}(..), ∇{name}·t), \
         (∇{name}·s, tᵀH·s + ∇{name}·s_t))`, the forward-mode companion of `{name}_jvp` that a \
         caller with `#[backprop(jvp)]` calls (forward over forward), from one reverse pass \
         of `{name}_hvp_tangent`."
    );
    // A function that calls nothing: forward mode over its tangent function, one pass (whose
    // forward lines are `g_jvp`'s, so its value is too).
    let fast = if tf.calls_nothing {
        let args = crate::args::Args {
            wrt: Some(wrt.to_vec()),
            ..Default::default()
        };
        crate::expand::jvp_of(tf.inner, args)
    } else {
        None
    };
    if let Some(mut inner_jvp) = fast {
        let inner_jvp_name = quote::format_ident!("{}_hvp_tangent_jvp", name);
        inner_jvp.sig.ident = inner_jvp_name.clone();
        return quote! {
            #jvp_backward_fn

            #[doc(hidden)]
            #[allow(dead_code, non_snake_case, clippy::all, clippy::pedantic, unused_parens, unused_variables, unused_mut, unused_assignments)]
            #vis #inner_jvp

            #[doc = #jvp_jvp_doc]
            #allow
            #vis fn #jvp_jvp(#inputs, #(#s_params),*) -> ((#f, #f), (#f, #f)) {
                let (value, tangent) = #prefix #inner_jvp_name(#(#forwarded,)* #(#s_names),*);
                ((value[0], value[1]), (tangent[0], tangent[1]))
            }
        };
    }
    quote! {
        #jvp_backward_fn

        #[doc = #jvp_jvp_doc]
        #allow
        #vis fn #jvp_jvp(#inputs, #(#s_params),*) -> ((#f, #f), (#f, #f)) {
            let value_and_tangent = #prefix #jvp(#(#kept),*);
            let (_, gradients) = #prefix #backward(#(#forwarded,)* [0.0, 1.0]);
            (value_and_tangent, (#(#along)+*, #(#second)+*))
        }
    }
}

/// The directions of `g_jvp_jvp`, `s_x` for each argument `x` of `g_jvp`.
fn s_parameter_names(wrt: &[Ident]) -> Vec<Ident> {
    wrt.iter()
        .map(|w| quote::format_ident!("s_{}", w))
        .collect()
}

/// `s_x: T` for each argument `x: T` of `g_jvp` (its parameters and their tangents): each
/// direction typed like the argument it is the direction of.
fn s_parameters(
    inputs: &syn::punctuated::Punctuated<syn::FnArg, syn::Token![,]>,
    wrt: &[Ident],
) -> Vec<TokenStream> {
    s_parameter_names(wrt)
        .iter()
        .zip(wrt)
        .map(|(s, w)| {
            let ty = inputs
                .iter()
                .find_map(|input| match input {
                    syn::FnArg::Typed(typed)
                        if matches!(&*typed.pat, syn::Pat::Ident(p) if p.ident == *w) =>
                    {
                        let ty = &typed.ty;
                        Some(quote!(#ty))
                    }
                    _ => None,
                })
                .unwrap_or_default();
            quote!(#s: #ty)
        })
        .collect()
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
