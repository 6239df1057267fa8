//! `#[derive(Differentiable)]`: the `backprop::Differentiable` impl of a struct with named
//! fields, written field by field (each differentiable field through its own impl, each
//! `#[backprop(skip)]` field cloned), and the compile errors for what it does not support.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{ToTokens, quote, quote_spanned};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Field, Fields, Ident, Token, Type};

/// A field of the struct: its name and type, and whether it is `#[backprop(skip)]`.
struct FieldInfo<'a> {
    ident: &'a Ident,
    ty: &'a Type,
    skip: bool,
}

impl FieldInfo<'_> {
    /// Where the field's part of the generated code points: its type.
    fn span(&self) -> Span {
        at(self.ty.span())
    }
}

/// The impl for the struct in `input`, or its compile errors.
pub fn derive(input: TokenStream) -> TokenStream {
    let input: DeriveInput = match syn::parse2(input) {
        Ok(input) => input,
        Err(error) => return error.to_compile_error(),
    };
    match expand(&input) {
        Ok(tokens) => tokens,
        Err(error) => error.to_compile_error(),
    }
}

fn expand(input: &DeriveInput) -> syn::Result<TokenStream> {
    let name = &input.ident;
    let mut errors: Vec<syn::Error> = input
        .attrs
        .iter()
        .filter(|attr| attr.path().is_ident("backprop"))
        .map(|attr| {
            syn::Error::new_spanned(
                attr,
                "`#[backprop(..)]` goes on a field, not on the struct: mark a constant field `#[backprop(skip)]`",
            )
        })
        .collect();
    let fields = match named_fields(input) {
        Ok(fields) => fields,
        Err(error) => return Err(combine(error, errors)),
    };
    let mut infos = Vec::new();
    for field in fields {
        match field_info(field) {
            Ok(info) => infos.push(info),
            Err(error) => errors.push(error),
        }
    }
    let mut errors = errors.into_iter();
    if let Some(first) = errors.next() {
        return Err(combine(first, errors));
    }
    let differentiable: Vec<&FieldInfo> = infos.iter().filter(|field| !field.skip).collect();
    let Some(&first) = differentiable.first() else {
        return Err(syn::Error::new_spanned(
            name,
            format!(
                "`{name}` has no differentiable field, so `Differentiable` has nothing to differentiate; give it a field of a differentiable type (`f32`, `f64`, `[F; N]`, `Vec<F>`, an ndarray array, a `Differentiable` struct) that is not `#[backprop(skip)]`"
            ),
        ));
    };

    let type_params: Vec<&Ident> = input.generics.type_params().map(|p| &p.ident).collect();
    let is_generic = |ty: &Type| mentions(quote!(#ty), &|ident| type_params.contains(&ident));
    let float_of = |ty: &Type| {
        ["f64", "f32"]
            .into_iter()
            .find(|float| mentions(quote!(#ty), &|ident| ident == float))
    };
    // The scalar type: the float a field's type names (`f64` for `w: Array2<f64>`), else the
    // scalar of a generic field (`<Vec<F> as ..>::Scalar`), else the first field's. Every
    // other field is bound to have it, except in the last case: rustc overflows on such a
    // bound between concrete types, and the method bodies report a mismatch instead. (Naming
    // a nested struct in `type Scalar` only when there is no other way also keeps a public
    // struct with a private nested one compiling.)
    let concrete_float = differentiable
        .iter()
        .filter(|field| !is_generic(field.ty))
        .find_map(|field| float_of(field.ty));
    // A leaf (`b: F`, `w: Vec<F>`) defines it before a nested struct (`l1: Layer<F>`).
    let is_leaf = |ty: &Type| match ty {
        Type::Array(_) => true,
        Type::Path(path) => path.path.segments.last().is_some_and(|last| {
            let name = last.ident.to_string();
            type_params.contains(&&last.ident) || name == "Vec" || name.starts_with("Array")
        }),
        _ => false,
    };
    let generic_field = differentiable
        .iter()
        .copied()
        .find(|field| is_generic(field.ty) && is_leaf(field.ty))
        .or_else(|| {
            differentiable
                .iter()
                .copied()
                .find(|field| is_generic(field.ty))
        });
    let (scalar, defined_by, bound_all) = match (concrete_float, generic_field) {
        (Some(float), _) => {
            let float = Ident::new(float, Span::call_site());
            (quote!(#float), None, true)
        }
        (None, Some(field)) => (scalar_of(field.ty), Some(field), true),
        (None, None) => (scalar_of(first.ty), Some(first), false),
    };
    let defining_ty = defined_by.map(|field| field.ty.to_token_stream().to_string());
    let mut generics = input.generics.clone();
    let predicates = &mut generics.make_where_clause().predicates;
    for field in &infos {
        let (ty, span) = (field.ty, field.span());
        let defines_scalar = defined_by.is_some_and(|defining| std::ptr::eq(defining, field));
        // Spanned at the field's type: a field that is not differentiable, or has another
        // scalar, is an error there.
        let predicate = if field.skip {
            quote_spanned!(span=> #ty: ::core::clone::Clone)
        } else if defines_scalar
            || !bound_all
            // The defining field's type again (`l2: Layer<F>` after `l1: Layer<F>`): bound
            // to its own scalar, rustc overflows.
            || defining_ty.as_ref() == Some(&quote!(#ty).to_string())
        {
            quote_spanned!(span=> #ty: ::backprop::Differentiable)
        } else {
            // A float named at the field, so that a mismatch points at the field alone.
            let scalar = match concrete_float {
                Some(float) => Ident::new(float, span).into_token_stream(),
                None => scalar.clone(),
            };
            quote_spanned!(span=> #ty: ::backprop::Differentiable<Scalar = #scalar>)
        };
        predicates.push(syn::parse2(predicate)?);
    }
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();

    // Each field's part of each method, spanned at its type: a field of another scalar type is
    // a type error at that field.
    let copy = |field: &FieldInfo, value: TokenStream| {
        let (ident, span) = (field.ident, field.span());
        if field.skip {
            quote_spanned!(span=> #ident: ::core::clone::Clone::clone(&self.#ident))
        } else {
            quote_spanned!(span=> #ident: #value)
        }
    };
    let zeros = infos.iter().map(|field| {
        let (ident, span) = (field.ident, field.span());
        copy(
            field,
            quote_spanned!(span=> ::backprop::Differentiable::zeros_like(&self.#ident)),
        )
    });
    let read = infos.iter().map(|field| {
        let (ident, span) = (field.ident, field.span());
        copy(
            field,
            quote_spanned!(span=> ::backprop::Differentiable::read_flat(&self.#ident, flat)),
        )
    });
    let differentiable = infos
        .iter()
        .filter(|field| !field.skip)
        .map(|field| (field.ident, field.span()));
    let scaled_add = differentiable.clone().map(|(ident, span)| {
        quote_spanned!(span=> ::backprop::Differentiable::scaled_add(&mut self.#ident, alpha, &other.#ident);)
    });
    let flat_len = differentiable.clone().map(
        |(ident, span)| quote_spanned!(span=> + ::backprop::Differentiable::flat_len(&self.#ident)),
    );
    let write_flat = differentiable.map(|(ident, span)| {
        quote_spanned!(span=> ::backprop::Differentiable::write_flat(&self.#ident, out);)
    });

    let fields_macro = fields_macro(input, &infos);
    Ok(quote! {
        #fields_macro

        #[automatically_derived]
        impl #impl_generics ::backprop::Differentiable for #name #ty_generics #where_clause {
            type Scalar = #scalar;

            fn zeros_like(&self) -> Self {
                Self { #(#zeros,)* }
            }

            fn scaled_add(&mut self, alpha: Self::Scalar, other: &Self) {
                #(#scaled_add)*
            }

            fn flat_len(&self) -> usize {
                0 #(#flat_len)*
            }

            fn write_flat(&self, out: &mut ::std::vec::Vec<Self::Scalar>) {
                #(#write_flat)*
            }

            fn read_flat(&self, flat: &mut &[Self::Scalar]) -> Self {
                // A struct expression evaluates its fields in the order written: declaration
                // order, the order of `write_flat`.
                Self { #(#read,)* }
            }
        }

        // A gradient of the struct (what `f_grad` returns for a struct parameter), flattened
        // as `to_flat` does, so that `check_gradient` and `assert_gradient!` compare it.
        #[automatically_derived]
        impl #impl_generics ::backprop::Gradient<#scalar> for #name #ty_generics #where_clause {
            fn flatten_into(&self, out: &mut ::std::vec::Vec<#scalar>) {
                ::backprop::Differentiable::write_flat(self, out);
            }
        }
    })
}

/// The struct's fields for `#[backprop]`, which cannot see the struct from a function that
/// takes it: a macro named like the struct (in the macro namespace, so that importing the
/// struct imports it too) that hands the fields to `::backprop::__backprop_struct!`, appended
/// to what it is given. A function with a parameter `net: &Net` expands to
/// `Net! { ..its state.. }`, which continues its expansion with `Net { w: Array2<f64>, .. }`.
/// A generic struct names its type parameters (`Layer<F> { w: Vec<F> }`), which `#[backprop]`
/// replaces with a parameter's arguments (`&Layer<f64>`); one with lifetime or const
/// parameters has no such macro, and is a parameter `#[backprop]` reports.
fn fields_macro(input: &DeriveInput, infos: &[FieldInfo]) -> TokenStream {
    if input.generics.lifetimes().next().is_some() || input.generics.const_params().next().is_some()
    {
        return TokenStream::new();
    }
    let params: Vec<&syn::Ident> = input.generics.type_params().map(|p| &p.ident).collect();
    let generics = (!params.is_empty()).then(|| quote!(<#(#params),*>));
    let name = &input.ident;
    let module = quote::format_ident!("__backprop_fields_of_{}", name);
    let fields = infos.iter().map(|field| {
        let (ident, ty) = (field.ident, field.ty);
        let skip = field.skip.then(|| quote!(#[skip]));
        quote!(#skip #ident: #ty)
    });
    quote! {
        #[doc(hidden)]
        #[allow(non_snake_case, unused_imports, unused_macros)]
        mod #module {
            macro_rules! #name {
                ($($state:tt)*) => {
                    ::backprop::__backprop_struct! { $($state)* #name #generics { #(#fields),* } }
                };
            }
            pub(crate) use #name;
        }
        #[doc(hidden)]
        #[allow(unused_imports)]
        pub(crate) use #module::#name;
    }
}

/// `span`'s location with the macro's own hygiene (names of the generated code resolve as
/// if written at the derive, even when the struct comes from a `macro_rules!`).
fn at(span: Span) -> Span {
    Span::call_site().located_at(span)
}

/// `<ty as ::backprop::Differentiable>::Scalar`.
fn scalar_of(ty: &Type) -> TokenStream {
    quote!(<#ty as ::backprop::Differentiable>::Scalar)
}

/// Whether `tokens` (a type) holds an identifier that is `wanted`.
fn mentions(tokens: TokenStream, wanted: &dyn Fn(&Ident) -> bool) -> bool {
    tokens.into_iter().any(|token| match token {
        TokenTree::Ident(ident) => wanted(&ident),
        TokenTree::Group(group) => mentions(group.stream(), wanted),
        _ => false,
    })
}

/// The struct's named fields, or the error for any other item.
fn named_fields(input: &DeriveInput) -> syn::Result<&Punctuated<Field, Token![,]>> {
    let name = &input.ident;
    match &input.data {
        Data::Struct(data) => match &data.fields {
            Fields::Named(fields) => Ok(&fields.named),
            Fields::Unnamed(fields) => Err(syn::Error::new_spanned(
                fields,
                format!(
                    "`Differentiable` is derived for structs with named fields; name the fields: `struct {name} {{ w: f64 }}`"
                ),
            )),
            Fields::Unit => Err(syn::Error::new_spanned(
                name,
                format!(
                    "`Differentiable` is derived for structs with named fields, and `{name}` has no fields; give it the parameters as fields: `struct {name} {{ w: f64 }}`"
                ),
            )),
        },
        Data::Enum(data) => Err(syn::Error::new_spanned(
            data.enum_token,
            format!(
                "`Differentiable` is derived for structs with named fields, not enums; hold the parameters in a struct, `struct {name} {{ w: f64 }}`, or implement `backprop::Differentiable` by hand"
            ),
        )),
        Data::Union(data) => Err(syn::Error::new_spanned(
            data.union_token,
            format!(
                "`Differentiable` is derived for structs with named fields, not unions; hold the parameters in a struct: `struct {name} {{ w: f64 }}`"
            ),
        )),
    }
}

/// The field's name and type, and its `#[backprop(skip)]`.
fn field_info(field: &Field) -> syn::Result<FieldInfo<'_>> {
    let mut skip = false;
    let mut errors = Vec::new();
    for attr in &field.attrs {
        if !attr.path().is_ident("backprop") {
            continue;
        }
        if !matches!(attr.meta, syn::Meta::List(_)) {
            errors.push(syn::Error::new_spanned(
                attr,
                "write `#[backprop(skip)]` to make this field a constant (the one argument of `#[backprop(..)]` on a field)",
            ));
            continue;
        }
        let parsed = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("skip") {
                if !meta.input.is_empty() && !meta.input.peek(syn::Token![,]) {
                    return Err(meta.error("`skip` takes no value: write `#[backprop(skip)]`"));
                }
                skip = true;
                Ok(())
            } else {
                let path = &meta.path;
                let shown = quote!(#path).to_string().replace(' ', "");
                Err(meta.error(format!(
                    "unknown `backprop` argument `{shown}` on a field; the one argument is `skip`: `#[backprop(skip)]` makes the field a constant"
                )))
            }
        });
        if let Err(error) = parsed {
            errors.push(error);
        }
    }
    let mut errors = errors.into_iter();
    if let Some(first) = errors.next() {
        return Err(combine(first, errors));
    }
    let ident = field.ident.as_ref().ok_or_else(|| {
        syn::Error::new_spanned(
            field,
            "`Differentiable` is derived for structs with named fields; name this field",
        )
    })?;
    Ok(FieldInfo {
        ident,
        ty: &field.ty,
        skip,
    })
}

/// `first` and the `rest` as one error, reported together.
fn combine(mut first: syn::Error, rest: impl IntoIterator<Item = syn::Error>) -> syn::Error {
    for error in rest {
        first.combine(error);
    }
    first
}
