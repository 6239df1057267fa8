//! Names in generated code: readable, deterministic, and never equal to a user's name.
//!
//! The [`Namer`] is seeded with every identifier in the user's function. A user's first
//! binding of a name keeps it; every other name (later versions of a re-bound name,
//! temporaries, gradients) is `base`, or `base_1`, `base_2`, ... when `base` is taken.

use std::collections::HashSet;

use proc_macro2::{Ident, Span, TokenStream, TokenTree};

#[derive(Clone, Default)]
pub struct Namer {
    /// Every identifier of the user's function, and every name handed out so far.
    taken: HashSet<String>,
}

impl Namer {
    pub fn new(user_tokens: TokenStream) -> Self {
        let mut taken = HashSet::new();
        collect_idents(user_tokens, &mut taken);
        Namer { taken }
    }

    /// The name for a user's binding: the user's own name the first time it is bound,
    /// a fresh version of it afterwards.
    pub fn user_binding(&mut self, ident: &Ident, first_time: bool) -> Ident {
        if first_time {
            ident.clone()
        } else {
            self.fresh_spanned(&ident.to_string(), ident.span())
        }
    }

    /// A name no one uses yet, based on `base`.
    pub fn fresh(&mut self, base: &str) -> Ident {
        self.fresh_spanned(base, Span::call_site())
    }

    fn fresh_spanned(&mut self, base: &str, span: Span) -> Ident {
        // Bases are made of user names (`d_` + `r#type`, `x_` + a path): keep what is valid in
        // an identifier.
        let base: String = base
            .replace("r#", "")
            .chars()
            .map(|c| {
                if c.is_alphanumeric() || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let base = if base.is_empty() || base.starts_with(|c: char| c.is_ascii_digit()) {
            format!("v{base}")
        } else {
            base
        };
        let mut name = base.clone();
        let mut k = 1;
        while self.taken.contains(&name) || is_keyword(&name) {
            name = format!("{base}_{k}");
            k += 1;
        }
        self.taken.insert(name.clone());
        Ident::new(&name, span)
    }
}

fn collect_idents(tokens: TokenStream, out: &mut HashSet<String>) {
    for tree in tokens {
        match tree {
            TokenTree::Ident(i) => {
                let s = i.to_string();
                out.insert(s.strip_prefix("r#").map(str::to_string).unwrap_or(s));
            }
            TokenTree::Group(g) => collect_idents(g.stream(), out),
            _ => {}
        }
    }
}

fn is_keyword(name: &str) -> bool {
    syn::parse_str::<Ident>(name).is_err()
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    #[test]
    fn fresh_names_avoid_every_user_identifier() {
        let mut namer = Namer::new(quote!(
            fn f(x: f64, d_x: f64, d_x_1: f64) -> f64 {
                x
            }
        ));
        assert_eq!(namer.fresh("d_x").to_string(), "d_x_2");
        assert_eq!(namer.fresh("d_x").to_string(), "d_x_3");
        assert_eq!(namer.fresh("d_out").to_string(), "d_out");
        assert_eq!(namer.fresh("d_out").to_string(), "d_out_1");
        assert_eq!(namer.fresh("fn").to_string(), "fn_1");
        assert_eq!(namer.fresh("d_r#type").to_string(), "d_type");
        assert_eq!(namer.fresh("x_::g").to_string(), "x___g");
        assert_eq!(namer.fresh("_").to_string(), "__1");
        assert_eq!(namer.fresh("").to_string(), "v");
    }
}
