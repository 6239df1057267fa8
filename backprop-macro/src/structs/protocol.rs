//! The exchange with `#[derive(Differentiable)]`'s hidden macro: how `#[backprop]` asks for a
//! struct's fields (`Net! { ..state.. }`), the state handed from step to step, and the
//! descriptions it receives (`Layer<F> { w: Vec<F>, #[skip] n: usize }`), read with a
//! parameter's generic arguments in place of the struct's type parameters.

use std::collections::HashMap;

use proc_macro2::{Ident, TokenStream, TokenTree};
use quote::{ToTokens, quote};
use syn::Type;
use syn::parse::{Parse, ParseStream};

/// A field of a struct, as its derive describes it.
#[derive(Clone)]
pub struct FieldDecl {
    pub name: Ident,
    pub ty: Type,
    pub skip: bool,
}

/// The structs met so far: each one's fields, and its generic parameters (`F` of
/// `struct Layer<F> { w: Vec<F> }`), by the struct's name.
#[derive(Default)]
pub struct Structs {
    fields: HashMap<String, Vec<FieldDecl>>,
    params: HashMap<String, Vec<Ident>>,
}

impl Structs {
    /// Whether the struct at `path` is described yet.
    pub fn describes(&self, path: &syn::Path) -> bool {
        self.fields.contains_key(&struct_name(path))
    }

    /// The fields of the struct at `path`, each generic parameter replaced by the path's
    /// argument in its place (`w: Vec<F>` of `Layer<f64>` is `w: Vec<f64>`).
    pub fn fields_of(&self, path: &syn::Path) -> Option<Vec<FieldDecl>> {
        let name = struct_name(path);
        let fields = self.fields.get(&name)?;
        let params = self
            .params
            .get(&name)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let args: Vec<TokenStream> = match path.segments.last().map(|s| &s.arguments) {
            Some(syn::PathArguments::AngleBracketed(angle)) => {
                angle.args.iter().map(ToTokens::to_token_stream).collect()
            }
            _ => Vec::new(),
        };
        if params.len() != args.len() {
            return params.is_empty().then(|| fields.clone());
        }
        fn replace(tokens: TokenStream, params: &[Ident], args: &[TokenStream]) -> TokenStream {
            tokens
                .into_iter()
                .flat_map(|tree| match tree {
                    TokenTree::Ident(ident) => match params.iter().position(|p| *p == ident) {
                        Some(i) => args[i].clone(),
                        None => TokenTree::Ident(ident).into(),
                    },
                    TokenTree::Group(group) => {
                        let mut new = proc_macro2::Group::new(
                            group.delimiter(),
                            replace(group.stream(), params, args),
                        );
                        new.set_span(group.span());
                        TokenTree::Group(new).into()
                    }
                    other => other.into(),
                })
                .collect()
        }
        fields
            .iter()
            .map(|field| {
                let ty = replace(field.ty.to_token_stream(), params, &args);
                Some(FieldDecl {
                    ty: syn::parse2(ty).ok()?,
                    ..field.clone()
                })
            })
            .collect()
    }
}

/// The struct's name: the last segment of its path.
pub(super) fn struct_name(path: &syn::Path) -> String {
    path.segments
        .last()
        .map(|s| s.ident.to_string())
        .unwrap_or_default()
}

/// What `#[backprop]` expands to when a struct's fields are still unknown: a call of the
/// struct's macro, which continues with `__backprop_struct!`.
pub fn ask_for_fields(path: &syn::Path, state: TokenStream) -> TokenStream {
    // The macro is named like the struct, without its generic arguments (`Layer!`).
    let mut path = path.clone();
    if let Some(last) = path.segments.last_mut() {
        last.arguments = syn::PathArguments::None;
    }
    quote!(#path! { #state })
}

/// The state handed from step to step: `@args (..) @item { fn .. }`, for a method `@impl {
/// Type }`, and the structs so far.
pub fn state(
    args: &TokenStream,
    item: &TokenStream,
    in_impl: Option<&TokenStream>,
    structs: &TokenStream,
) -> TokenStream {
    let in_impl = in_impl.map(|ty| quote!(@impl { #ty }));
    quote!(@args (#args) @item { #item } #in_impl #structs)
}

/// The input of `__backprop_struct!`.
pub struct Input {
    pub args: TokenStream,
    pub item: TokenStream,
    /// The type whose impl the companions go in, for a method.
    pub in_impl: Option<TokenStream>,
    /// The structs' descriptions, as received (handed on unchanged).
    pub described: TokenStream,
    pub structs: Structs,
}

impl Parse for Input {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let group = |input: ParseStream, keyword: &str| -> syn::Result<TokenStream> {
            input.parse::<syn::Token![@]>()?;
            let word: Ident = input.parse()?;
            if word != keyword {
                return Err(syn::Error::new(
                    word.span(),
                    "`__backprop_struct!` is internal to `#[backprop]`",
                ));
            }
            match input.parse::<TokenTree>()? {
                TokenTree::Group(g) => Ok(g.stream()),
                other => Err(syn::Error::new(
                    other.span(),
                    "`__backprop_struct!` is internal to `#[backprop]`",
                )),
            }
        };
        let args = group(input, "args")?;
        let item = group(input, "item")?;
        let in_impl = if input.peek(syn::Token![@]) && input.peek2(syn::Token![impl]) {
            input.parse::<syn::Token![@]>()?;
            input.parse::<syn::Token![impl]>()?;
            let content;
            syn::braced!(content in input);
            Some(content.parse::<TokenStream>()?)
        } else {
            None
        };
        let described: TokenStream = input.fork().parse()?;
        let mut structs = Structs::default();
        while !input.is_empty() {
            let name: Ident = input.parse()?;
            // `Layer<F> { .. }` of a generic struct.
            let mut params = Vec::new();
            if input.peek(syn::Token![<]) {
                input.parse::<syn::Token![<]>()?;
                while !input.peek(syn::Token![>]) {
                    params.push(input.parse::<Ident>()?);
                    if !input.peek(syn::Token![>]) {
                        input.parse::<syn::Token![,]>()?;
                    }
                }
                input.parse::<syn::Token![>]>()?;
            }
            let content;
            syn::braced!(content in input);
            let fields = content.parse_terminated(parse_field, syn::Token![,])?;
            structs
                .fields
                .insert(name.to_string(), fields.into_iter().collect());
            structs.params.insert(name.to_string(), params);
        }
        Ok(Input {
            args,
            item,
            in_impl,
            described,
            structs,
        })
    }
}

/// `#[skip] name: Type` or `name: Type`.
fn parse_field(input: ParseStream) -> syn::Result<FieldDecl> {
    let attrs = input.call(syn::Attribute::parse_outer)?;
    let name: Ident = input.parse()?;
    input.parse::<syn::Token![:]>()?;
    let ty: Type = input.parse()?;
    Ok(FieldDecl {
        name,
        ty,
        skip: attrs.iter().any(|a| a.path().is_ident("skip")),
    })
}
