//! What the macro emits when it reports errors: the user's function unchanged, the errors,
//! and companions with the right signatures whose bodies never run, so the user sees the one
//! real error and not a cascade of "cannot find function `f_grad`".

use proc_macro2::TokenStream;
use quote::quote;

use crate::emit::Companions;

pub fn stubs(function: &syn::ItemFn, companions: &Companions) -> TokenStream {
    let Companions {
        backward,
        grad,
        source,
        params,
        output,
        gradient,
        ..
    } = companions;
    let vis = &function.vis;
    quote! {
        #[allow(unused_variables, dead_code, clippy::all)]
        #vis fn #backward(#(#params,)* d_out: #output) -> (#output, #gradient) {
            ::core::unreachable!("`#[backprop]` reported a compile error for this function")
        }
        #[allow(unused_variables, dead_code, clippy::all)]
        #vis fn #grad(#(#params),*) -> (#output, #gradient) {
            ::core::unreachable!("`#[backprop]` reported a compile error for this function")
        }
        #[allow(dead_code)]
        #vis fn #source() -> &'static str {
            ""
        }
    }
}
