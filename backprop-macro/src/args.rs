//! The attribute's arguments: `#[backprop]`, `#[backprop(wrt(a, b))]`, `#[backprop(split(g))]`.

use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Ident, Token, parenthesized};

mod kw {
    syn::custom_keyword!(wrt);
    syn::custom_keyword!(split);
    syn::custom_keyword!(jvp);
    syn::custom_keyword!(hvp);
}

#[derive(Clone, Default)]
pub struct Args {
    /// `wrt(a, b)`: exactly these parameters are differentiable.
    pub wrt: Option<Vec<Ident>>,
    /// `split(g, h)`: calls of these functions are differentiated in split mode, with
    /// `g_forward` and the closure it returns instead of `g_backward`.
    pub split: Vec<Ident>,
    /// `jvp`: also write `f_jvp`, forward mode.
    pub jvp: bool,
    /// `hvp`: also write `f_hvp` and `f_grad_backward`, second order.
    pub hvp: bool,
}

impl Parse for Args {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut args = Args::default();
        while !input.is_empty() {
            let lookahead = input.lookahead1();
            if lookahead.peek(kw::wrt) {
                let keyword: kw::wrt = input.parse()?;
                if args.wrt.is_some() {
                    return Err(syn::Error::new(
                        keyword.span,
                        "`wrt` is given twice; list every parameter in one `wrt(...)`",
                    ));
                }
                let content;
                parenthesized!(content in input);
                // `self` is a keyword, not an identifier: a method names its receiver too.
                let names = Punctuated::<Ident, Token![,]>::parse_terminated_with(
                    &content,
                    Ident::parse_any,
                )?;
                if names.is_empty() {
                    return Err(syn::Error::new(
                        keyword.span,
                        "`wrt()` names no parameter; name the parameters to differentiate, e.g. `wrt(x)`",
                    ));
                }
                args.wrt = Some(names.into_iter().collect());
            } else if lookahead.peek(kw::split) {
                let keyword: kw::split = input.parse()?;
                let content;
                parenthesized!(content in input);
                let names = Punctuated::<Ident, Token![,]>::parse_terminated(&content)?;
                if names.is_empty() {
                    return Err(syn::Error::new(
                        keyword.span,
                        "`split()` names no function; name the `#[backprop]` functions whose calls keep their forward pass, e.g. `split(neuron)`",
                    ));
                }
                args.split.extend(names);
            } else if lookahead.peek(kw::jvp) {
                input.parse::<kw::jvp>()?;
                args.jvp = true;
            } else if lookahead.peek(kw::hvp) {
                input.parse::<kw::hvp>()?;
                args.hvp = true;
            } else {
                return Err(syn::Error::new(
                    input.span(),
                    "unknown argument; `#[backprop]` takes `wrt(param, ...)`, `split(function, ...)`, `jvp` and `hvp`, e.g. `#[backprop(wrt(x, w), jvp)]`",
                ));
            }
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        Ok(args)
    }
}
