//! The attribute's arguments: `#[backprop]` or `#[backprop(wrt(a, b))]`.

use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Ident, Token, parenthesized};

mod kw {
    syn::custom_keyword!(wrt);
}

#[derive(Default)]
pub struct Args {
    /// `wrt(a, b)`: exactly these parameters are differentiable.
    pub wrt: Option<Vec<Ident>>,
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
                let names = Punctuated::<Ident, Token![,]>::parse_terminated(&content)?;
                if names.is_empty() {
                    return Err(syn::Error::new(
                        keyword.span,
                        "`wrt()` names no parameter; name the parameters to differentiate, e.g. `wrt(x)`",
                    ));
                }
                args.wrt = Some(names.into_iter().collect());
            } else {
                return Err(syn::Error::new(
                    input.span(),
                    "unknown argument; the only argument of `#[backprop]` is `wrt(param, ...)`, e.g. `#[backprop(wrt(x, w))]`",
                ));
            }
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        Ok(args)
    }
}
