//! Emission: the companions `f_backward`, `f_grad` and `f_backward_source` as Rust tokens.
//!
//! Forward lines are spanned at the user's expressions, so rustc's own errors point into the
//! user's function. The backward source is pretty-printed once, here, and shown both in the
//! rustdoc of `f_backward` and by `f_backward_source()`.
//!
//! This module holds the companions' names and signature pieces and writes the companions; the
//! lines of `f_backward` are split by concern: `lines` (the forward lines and the backward
//! statements in order, a loop or branch fused with its reverse where it can be, arrays dropped
//! after their last use, tapes declared), `forward` (forward lines, loops and branches, and
//! what they push on tapes) and `backward` (the statements of the backward pass).

mod backward;
mod forward;
mod lines;

use proc_macro2::{Ident, TokenStream};
use quote::{ToTokens, format_ident, quote};

use crate::ir::{Program, Ty};
use crate::reverse::Reversed;
use crate::rules;
use crate::signature::SignatureInfo;

use backward::zero;
use lines::{declare_tapes, drop_after_last_use, fused_block};

/// The names and signature pieces shared by the real companions and the fallback stubs.
pub struct Companions {
    pub backward: Ident,
    pub grad: Ident,
    pub source: Ident,
    /// `x: f64, w: &[f64; 3], n: usize` (without `mut`).
    pub params: Vec<TokenStream>,
    /// The parameter names, to forward a call.
    pub param_names: Vec<Ident>,
    pub output: TokenStream,
    /// The gradient type `G`.
    pub gradient: TokenStream,
}

impl Companions {
    pub fn new(function: &syn::ItemFn, signature: &SignatureInfo) -> Self {
        let name = &function.sig.ident;
        let differentiable: Vec<_> = signature
            .params
            .iter()
            .filter(|p| p.differentiable)
            .collect();
        let gradient_types: Vec<TokenStream> = differentiable
            .iter()
            .map(|p| match &p.ty {
                Ty::Array {
                    elem,
                    len: Some(len),
                } => {
                    let elem = elem.ident();
                    quote!([#elem; #len])
                }
                Ty::Array { elem, len: None } => {
                    let elem = elem.ident();
                    quote!(::std::vec::Vec<#elem>)
                }
                Ty::Tensor { elem, rank, .. } => {
                    let elem = elem.ident();
                    match rank {
                        Some(1) => quote!(::backprop::ndarray::Array1<#elem>),
                        _ => quote!(::backprop::ndarray::Array2<#elem>),
                    }
                }
                _ => p.ty_tokens.clone(),
            })
            .collect();
        let gradient = match gradient_types.as_slice() {
            [one] => one.clone(),
            many => quote!((#(#many),*)),
        };
        Companions {
            backward: format_ident!("{}_backward", name, span = name.span()),
            grad: format_ident!("{}_grad", name, span = name.span()),
            source: format_ident!("{}_backward_source", name, span = name.span()),
            params: signature
                .params
                .iter()
                .map(|p| {
                    let (ident, ty) = (&p.ident, &p.ty_tokens);
                    quote!(#ident: #ty)
                })
                .collect(),
            param_names: signature.params.iter().map(|p| p.ident.clone()).collect(),
            output: signature.output_tokens.clone(),
            gradient,
        }
    }
}

pub fn emit(
    function: &syn::ItemFn,
    companions: &Companions,
    program: &Program,
    reversed: &Reversed,
) -> TokenStream {
    let Companions {
        backward,
        grad,
        source,
        params,
        param_names,
        output,
        gradient,
    } = companions;
    let vis = &function.vis;
    let name = &function.sig.ident;
    let seed = &reversed.seed;

    let items = &program.items;
    let lines = fused_block(program, reversed, &reversed.forward, &reversed.stmts, false);
    let lines = drop_after_last_use(program, lines);
    let lines = declare_tapes(program, reversed, lines);
    let value = rules::render_bare(program, program.body.value());
    let gradients: Vec<TokenStream> = program
        .params
        .iter()
        .filter(|p| p.differentiable)
        .map(|p| match reversed.grads.get(&p.var) {
            Some(d) => d.to_token_stream(),
            None => zero(program, p.var),
        })
        .collect();
    let gradients = match gradients.as_slice() {
        [one] => one.clone(),
        many => quote!((#(#many),*)),
    };

    let backward_fn = quote! {
        #vis fn #backward(#(#params,)* #seed: #output) -> (#output, #gradient) {
            #(#items)*
            #(#lines)*
            (#value, #gradients)
        }
    };
    let printed = pretty(&backward_fn);
    let doc = format!(
        " Value and vector–Jacobian product of [`{name}`], written by `#[backprop]`.\n\n \
         Runs `{name}` forward, then walks its lines in reverse, seeded with the upstream gradient \
         `{seed}`, and returns `({name}(..), gradients)` with one gradient per differentiable \
         parameter, in signature order.\n\n The generated code:\n\n ```rust,ignore\n{}\n ```",
        printed
            .lines()
            .map(|l| format!(" {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let grad_doc = format!(
        " Value and gradient of [`{name}`]: `{backward}(.., 1.0)`, written by `#[backprop]`."
    );
    let source_doc = format!(" The source of [`{backward}`], as `#[backprop]` generated it.");
    // `f_grad` has `f`'s parameters: what the user allowed on `f` (too many arguments, say)
    // holds for it too.
    let user_allows = function.attrs.iter().filter(|a| a.path().is_ident("allow"));
    quote! {
        #[doc = #doc]
        #[allow(clippy::all, clippy::pedantic, unused_parens, unused_variables, unused_mut, unused_assignments)]
        #backward_fn

        #[doc = #grad_doc]
        #[allow(dead_code)]
        #(#user_allows)*
        #vis fn #grad(#(#params),*) -> (#output, #gradient) {
            // The companions compute `f` themselves; this marks it used, so that a program
            // calling only `f_grad` gets no dead-code warning for the function it annotated
            // (nor a deprecation warning, if it is deprecated).
            #[allow(deprecated)]
            let _ = #name;
            #backward(#(#param_names,)* 1.0)
        }

        #[doc = #source_doc]
        #[allow(dead_code)]
        #vis fn #source() -> &'static str {
            #printed
        }
    }
}

/// Pretty-printed source of one item, for people to read.
pub fn pretty(item: &TokenStream) -> String {
    match syn::parse2::<syn::File>(item.clone()) {
        Ok(file) => prettyplease::unparse(&file),
        Err(_) => item.to_string(),
    }
}
