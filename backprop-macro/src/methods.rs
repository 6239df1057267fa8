//! `#[backprop]` on an `impl` block: its methods marked `#[backprop(..)]` get their companions
//! as methods of the same type (`net.loss_grad(&x)`, `Net::loss_backward(&net, &x, 1.0)`).
//!
//! The attribute has to be on the impl: on a method alone, it would see neither the type that
//! `self` is nor that its companions are associated functions, which call each other through
//! `Self::`. Each marked method is differentiated as a function whose first parameter is `self`
//! typed as the impl's type (`self: &Net`, a receiver rustc accepts), so that `self` is a struct
//! parameter like any other (`structs.rs`), read through its fields and differentiable by default.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use syn::spanned::Spanned;

/// The impl with the marks taken off its methods, then an impl of the same type holding each
/// marked method's companions (or, for a method with a struct parameter, the request for the
/// struct's fields, which ends in such an impl).
pub fn expand_impl(args: TokenStream, mut block: syn::ItemImpl) -> TokenStream {
    let mut errors = Vec::new();
    if !args.is_empty() {
        errors.push(syn::Error::new_spanned(
            &args,
            "`#[backprop]` on an `impl` block takes no arguments; write them on each method: `#[backprop(wrt(x))] fn loss(&self, x: f64) -> f64`",
        ));
    }
    if let Some((path, _)) = &block.trait_ {
        errors.push(syn::Error::new_spanned(
            path,
            "`#[backprop]` differentiates methods of an inherent `impl` (`impl Net { .. }`), not of a trait impl: its companions would not be items of the trait",
        ));
    }
    if !block.generics.params.is_empty() {
        errors.push(syn::Error::new_spanned(
            &block.generics,
            "`#[backprop]` does not differentiate methods of a generic `impl`; write the impl for the concrete type (`impl Net<f64> { .. }`)",
        ));
    }
    if !errors.is_empty() {
        let errors = errors.into_iter().map(|e| e.to_compile_error());
        strip_marks(&mut block);
        return quote!(#block #(#errors)*);
    }
    let self_ty = (*block.self_ty).clone();
    let mut companions = Vec::new();
    for item in &mut block.items {
        let syn::ImplItem::Fn(method) = item else {
            continue;
        };
        let Some(position) = method.attrs.iter().position(is_mark) else {
            continue;
        };
        let mark = method.attrs.remove(position);
        let method_args = match &mark.meta {
            syn::Meta::List(list) => list.tokens.clone(),
            _ => TokenStream::new(),
        };
        match as_function(method, &self_ty) {
            Ok(function) => companions.push(crate::expand::expand_method(
                method_args,
                &function,
                &self_ty,
            )),
            Err(error) => companions.push(error.to_compile_error()),
        }
    }
    quote!(#block #(#companions)*)
}

/// Whether `attr` is `#[backprop]` or `#[backprop(..)]` (also written `backprop::backprop`).
fn is_mark(attr: &syn::Attribute) -> bool {
    let path = attr.path();
    path.is_ident("backprop")
        || (path.segments.len() == 2 && path.segments.iter().all(|s| s.ident == "backprop"))
}

/// The impl with every `#[backprop]` mark taken off, so that rustc does not run the
/// attribute again on each method.
fn strip_marks(block: &mut syn::ItemImpl) {
    for item in &mut block.items {
        if let syn::ImplItem::Fn(method) = item {
            method.attrs.retain(|a| !is_mark(a));
        }
    }
}

/// The method as a function: `&self` becomes `self: &Net`, `self` becomes `self: Net`.
fn as_function(method: &syn::ImplItemFn, self_ty: &syn::Type) -> syn::Result<syn::ItemFn> {
    let mut sig = method.sig.clone();
    if let Some(syn::FnArg::Receiver(receiver)) = sig.inputs.first() {
        let ty = match &receiver.kind {
            syn::ReceiverKind::Reference(_, _, Some(_)) => {
                return Err(syn::Error::new(
                    receiver.span(),
                    "a `#[backprop]` method does not change `self`: take `&self` or `self`",
                ));
            }
            syn::ReceiverKind::Reference(..) => quote!(&#self_ty),
            syn::ReceiverKind::Value => self_ty.to_token_stream(),
            _ => {
                return Err(syn::Error::new(
                    receiver.span(),
                    "write the receiver of a `#[backprop]` method as `&self` or `self`, without a type",
                ));
            }
        };
        let typed: syn::FnArg = syn::parse_quote_spanned!(receiver.span()=> self: #ty);
        sig.inputs[0] = typed;
    }
    let mut function = syn::ItemFn {
        attrs: method
            .attrs
            .iter()
            .filter(|a| a.path().is_ident("allow"))
            .cloned()
            .collect(),
        vis: method.vis.clone(),
        modifiers: method.modifiers.clone(),
        sig,
        block: Box::new(method.block.clone()),
    };
    typed_self(&mut function);
    Ok(function)
}

/// A typed receiver (`self: &Net`, as syn reads it) as the parameter `self` of that type, which
/// the pipeline reads like any other.
pub fn typed_self(function: &mut syn::ItemFn) {
    if let Some(syn::FnArg::Receiver(receiver)) = function.sig.inputs.first()
        && let syn::ReceiverKind::Typed(_, ty) = &receiver.kind
    {
        let ty = ty.clone();
        let span = receiver.self_token.span;
        let pat = syn::Pat::Ident(syn::PatIdent {
            attrs: Vec::new(),
            by_ref: None,
            mutability: None,
            ident: proc_macro2::Ident::new("self", span),
            subpat: None,
        });
        let typed = syn::FnArg::Typed(syn::PatType {
            attrs: Vec::new(),
            pat: Box::new(pat),
            colon_token: syn::Token![:](span),
            ty,
        });
        function.sig.inputs[0] = typed;
    }
}
