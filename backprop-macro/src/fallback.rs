//! What the macro emits when it reports errors: the user's signature (its body set aside),
//! the errors, and companions with the right signatures whose bodies never run, so the user
//! sees the real errors only, not a cascade of "cannot find function `f_grad`".

use proc_macro2::TokenStream;
use quote::{ToTokens, format_ident, quote};
use syn::{FnArg, Pat};

use crate::emit::Companions;

/// The user's function with its body set aside: its signature stays, so calls to it still
/// type-check, but rustc does not report the same unsupported construct a second time.
pub fn function_without_body(function: &syn::ItemFn) -> TokenStream {
    let syn::ItemFn {
        attrs, vis, sig, ..
    } = function;
    quote! {
        #(#attrs)*
        #[allow(unused_variables, clippy::all)]
        #vis #sig {
            ::core::unreachable!("`#[backprop]` reported a compile error for this function")
        }
    }
}

/// `f_backward`, `f_grad` and `f_backward_source` with the signatures they would have had.
pub fn stubs(function: &syn::ItemFn, companions: &Companions) -> TokenStream {
    let Companions {
        backward,
        grad,
        source,
        output,
        gradient,
        scalar,
        ..
    } = companions;
    let vis = &function.vis;
    let name = &function.sig.ident;
    let forward = format_ident!("{}_forward", name, span = name.span());
    let generics = &function.sig.generics;
    let where_clause = &generics.where_clause;
    // Every parameter, even one the macro could not read, so that the user's calls match.
    let params: Vec<TokenStream> = function
        .sig
        .inputs
        .iter()
        .enumerate()
        .map(|(i, input)| match input {
            FnArg::Receiver(receiver) => receiver.to_token_stream(),
            FnArg::Typed(typed) => {
                let ty = &typed.ty;
                let ident = match &*typed.pat {
                    Pat::Ident(pat) => pat.ident.clone(),
                    _ => format_ident!("_param{}", i),
                };
                quote!(#ident: #ty)
            }
        })
        .collect();
    let grad_stub = scalar.then(|| {
        quote! {
            #[allow(unused_variables, dead_code, clippy::all)]
            #vis fn #grad #generics(#(#params),*) -> (#output, #gradient) #where_clause {
                ::core::unreachable!("`#[backprop]` reported a compile error for this function")
            }
        }
    });
    quote! {
        #[allow(unused_variables, dead_code, clippy::all)]
        #vis fn #backward #generics(#(#params,)* d_out: #output) -> (#output, #gradient) #where_clause {
            ::core::unreachable!("`#[backprop]` reported a compile error for this function")
        }
        #grad_stub
        #[allow(dead_code)]
        #vis fn #source() -> &'static str {
            ""
        }
        #[allow(unused_variables, dead_code, clippy::all)]
        #vis fn #forward #generics(#(#params),*) -> (#output, fn(#output) -> #gradient) #where_clause {
            ::core::unreachable!("`#[backprop]` reported a compile error for this function")
        }
    }
}
