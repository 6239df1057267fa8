//! The user's signature: which parameters are differentiable, their types, the return type.

use proc_macro2::{Ident, TokenStream};
use quote::ToTokens;
use syn::{FnArg, Pat, ReturnType, Type};

use crate::args::Args;
use crate::errors::Errors;
use crate::ir::{FloatTy, Ty};

pub struct ParamInfo {
    pub ident: Ident,
    pub mutable: bool,
    pub ty: Ty,
    pub ty_tokens: TokenStream,
    pub differentiable: bool,
}

pub struct SignatureInfo {
    pub params: Vec<ParamInfo>,
    /// The return type as written (`()` when there is none).
    pub output_tokens: TokenStream,
    /// Its kind: a float, `[F; M]`, `Vec<F>` or an owned ndarray array (`Ty::Other` when it
    /// is none of them, which is reported).
    pub output: Ty,
    /// The struct parameters read through their fields (`structs.rs`); each field is one of
    /// `params`.
    pub groups: Vec<crate::structs::Group>,
}

/// Reads the signature, reporting everything `#[backprop]` cannot handle. Parameters it
/// cannot read are skipped, so that companions with the remaining ones can still be emitted.
pub fn analyze(sig: &syn::Signature, args: &Args, errors: &mut Errors) -> SignatureInfo {
    if let Some(asyncness) = &sig.asyncness {
        errors.spanned(
            asyncness,
            "`async fn` cannot be differentiated; make the function synchronous",
        );
    }
    if let syn::Safety::Unsafe(unsafe_token) = &sig.safety {
        errors.spanned(
            unsafe_token,
            "`unsafe fn` is not supported by `#[backprop]`; remove `unsafe`",
        );
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        errors.spanned(
            &sig.generics,
            "generic functions are not supported by `#[backprop]`; write the function for `f64` (or `f32`)",
        );
    }
    if let Some(variadic) = &sig.variadic {
        errors.spanned(
            variadic,
            "variadic functions are not supported by `#[backprop]`",
        );
    }

    let mut params = Vec::new();
    for input in &sig.inputs {
        match input {
            FnArg::Receiver(receiver) => errors.spanned(
                receiver,
                "a `#[backprop]` method needs `#[backprop]` on its `impl` block too, which says what `self` is and puts the companions in the impl: `#[backprop] impl Net { #[backprop] fn loss(&self, ..) -> f64 { .. } }`",
            ),
            FnArg::Typed(pat_type) => {
                let Pat::Ident(pat) = &*pat_type.pat else {
                    errors.spanned(
                        &pat_type.pat,
                        "pattern parameters are not supported by `#[backprop]`; name the parameter (`p: [f64; 2]`) and read `p[0]`",
                    );
                    continue;
                };
                if pat.by_ref.is_some() || pat.subpat.is_some() {
                    errors.spanned(pat, "`ref` and `@` patterns are not supported here; name the parameter plainly");
                    continue;
                }
                match classify(&pat_type.ty) {
                    Ok(ty) => params.push(ParamInfo {
                        ident: pat.ident.clone(),
                        mutable: pat.mutability.is_some(),
                        differentiable: ty.float().is_some(),
                        ty,
                        ty_tokens: pat_type.ty.to_token_stream(),
                    }),
                    Err(message) => errors.spanned(&pat_type.ty, message),
                }
            }
        }
    }

    if let Some(wrt) = &args.wrt {
        for param in &mut params {
            param.differentiable = false;
        }
        for name in wrt {
            match params.iter_mut().find(|p| p.ident == *name) {
                Some(param) if param.ty.float().is_some() => param.differentiable = true,
                Some(_) => errors.spanned(
                    name,
                    format!("`{name}` is not a float parameter and cannot be differentiated; `wrt` takes parameters of type `f32`, `f64`, `[F; N]`, `&[F; N]`, `&[F]`, `Vec<F>` or an ndarray array of floats (flatten nested arrays: `[f64; 6]`)"),
                ),
                None => {
                    let names: Vec<String> = params.iter().map(|p| format!("`{}`", p.ident)).collect();
                    // `self` outside a method: say where a receiver comes from.
                    let what = match name == "self" {
                        true => "but this function has no receiver (`&self` of a method in a `#[backprop] impl` block)",
                        false => "which is not a parameter",
                    };
                    errors.spanned(name, format!("`wrt` names `{name}`, {what}; the parameters are {}", names.join(", ")));
                }
            }
        }
    } else if errors.is_empty() && !params.iter().any(|p| p.differentiable) {
        errors.spanned(
            &sig.ident,
            "this function has no float parameter to differentiate; `#[backprop]` needs a parameter of type `f32`, `f64`, `[F; N]` or `&[F; N]`",
        );
    }

    let generic = !sig.generics.params.is_empty();
    let (output_tokens, output) = match &sig.output {
        // A generic function is reported above; its return type is usually the type parameter.
        ReturnType::Type(_, ty) if generic => (ty.to_token_stream(), Ty::Other),
        ReturnType::Default => {
            errors.spanned(
                &sig.ident,
                "a `#[backprop]` function must return what it differentiates: add `-> f64` (a loss), or return an array of floats (`[f64; M]`, `Vec<f64>`, `Array1<f64>` .. `Array4<f64>`, `ArrayD<f64>`)",
            );
            (quote::quote!(()), Ty::Other)
        }
        ReturnType::Type(_, ty) => {
            let output = output_kind(ty);
            if matches!(output, Ty::Other) {
                let written = ty
                    .to_token_stream()
                    .to_string()
                    .replace(' ', "")
                    .replace(',', ", ");
                errors.spanned(
                    ty,
                    format!("a `#[backprop]` function returns a float (the loss: `-> f64`), an owned array of floats (`[f64; M]`, `Vec<f64>`, `Array1<f64>` .. `Array4<f64>`, `ArrayD<f64>`) or a tuple of them (`(Array2<f64>, Array2<f64>)`), not `{written}`"),
                );
            }
            (ty.to_token_stream(), output)
        }
    };
    SignatureInfo {
        params,
        output_tokens,
        output,
        groups: Vec::new(),
    }
}

/// What a function may return: a float, `[F; M]`, `Vec<F>`, or an owned ndarray array
/// (`Ty::Other` otherwise). A reference or a view would borrow from the function.
fn output_kind(ty: &Type) -> Ty {
    // `(h, c)`: a tuple of such values.
    if let Type::Tuple(tuple) = ty
        && !tuple.elems.is_empty()
    {
        return if tuple
            .elems
            .iter()
            .all(|e| !matches!(output_kind(e), Ty::Other))
        {
            Ty::Tuple
        } else {
            Ty::Other
        };
    }
    let view = matches!(ty, Type::Path(path)
        if path.path.segments.last().is_some_and(|s| s.ident.to_string().starts_with("ArrayView")));
    match classify(ty) {
        _ if view || matches!(ty, Type::Reference(_)) => Ty::Other,
        Ok(ty @ (Ty::Float(_) | Ty::Array { .. } | Ty::Tensor { .. })) => ty,
        _ => Ty::Other,
    }
}

/// `f32` / `f64`.
pub fn float_type(ty: &Type) -> Option<FloatTy> {
    match ty {
        Type::Path(path) if path.qself.is_none() => {
            let ident = path.path.get_ident()?;
            if ident == "f64" {
                Some(FloatTy::F64)
            } else if ident == "f32" {
                Some(FloatTy::F32)
            } else {
                None
            }
        }
        Type::Paren(inner) => float_type(&inner.elem),
        Type::Group(inner) => float_type(&inner.elem),
        _ => None,
    }
}

/// The kind of a parameter type, or what to write instead.
pub fn classify(ty: &Type) -> Result<Ty, String> {
    if let Some(float) = float_type(ty) {
        return Ok(Ty::Float(float));
    }
    match ty {
        Type::Array(array) => match float_type(&array.elem) {
            Some(elem) => Ok(Ty::Array {
                elem,
                len: Some(array.len.to_token_stream()),
            }),
            None => Ok(Ty::Other),
        },
        Type::Reference(reference) => {
            if reference.mutability.is_some() {
                return Err("`&mut` parameters are not supported by `#[backprop]`: a differentiated function must not mutate its inputs; take the value and return the result".into());
            }
            match classify(&reference.elem)? {
                Ty::Float(_) => Err("take scalars by value (`x: f64`), not by reference".into()),
                Ty::Tensor { elem, rank, .. } => Ok(Ty::Tensor {
                    elem,
                    rank,
                    by_ref: true,
                }),
                other => Ok(other),
            }
        }
        Type::Slice(slice) => match float_type(&slice.elem) {
            Some(elem) => Ok(Ty::Array { elem, len: None }),
            None => Ok(tensors(&slice.elem)),
        },
        Type::Path(path) if tensor_type(path).is_some() => {
            Ok(tensor_type(path).unwrap_or(Ty::Other))
        }
        Type::Path(path) if float_vec(path).is_some() => Ok(Ty::Array {
            elem: float_vec(path).unwrap_or(FloatTy::F64),
            len: None,
        }),
        // `Vec<Array2<F>>`.
        Type::Path(path)
            if path.path.segments.last().is_some_and(|s| s.ident == "Vec")
                && let syn::PathArguments::AngleBracketed(args) =
                    &path.path.segments[path.path.segments.len() - 1].arguments
                && let Some(syn::GenericArgument::Type(elem)) = args.args.first() =>
        {
            Ok(tensors(elem))
        }
        Type::ImplTrait(_) => Err(
            "`impl Trait` parameters are not supported by `#[backprop]`; use a concrete type"
                .into(),
        ),
        _ => Ok(Ty::Other),
    }
}

/// `Array1<F>` .. `Array4<F>`, `ArrayD<F>`, their views `ArrayView1<'_, F>` .., and
/// `Array<F, Ix1>` .. `Array<F, IxDyn>` (any path prefix): an ndarray tensor of floats, of a
/// rank the macro knows (`None` for `ArrayD`).
fn tensor_type(path: &syn::TypePath) -> Option<Ty> {
    let last = path.path.segments.last()?;
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    let types: Vec<&Type> = args
        .args
        .iter()
        .filter_map(|a| match a {
            syn::GenericArgument::Type(t) => Some(t),
            _ => None,
        })
        .collect();
    let elem = float_type(types.first()?)?;
    let rank = match last.ident.to_string().as_str() {
        "Array1" | "ArrayView1" => Some(1),
        "Array2" | "ArrayView2" => Some(2),
        "Array3" | "ArrayView3" => Some(3),
        "Array4" | "ArrayView4" => Some(4),
        "ArrayD" | "ArrayViewD" => None,
        "Array" | "ArrayView" => match types
            .get(1)
            .map(|t| t.to_token_stream().to_string())
            .as_deref()
        {
            Some("Ix1") => Some(1),
            Some("Ix2") => Some(2),
            Some("Ix3") => Some(3),
            Some("Ix4") => Some(4),
            Some("IxDyn") => None,
            _ => return None,
        },
        _ => return None,
    };
    Some(Ty::Tensor {
        elem,
        rank,
        by_ref: false,
    })
}

/// `[Array2<F>]`'s element: `Ty::Tensors` of an owned ndarray array, `Ty::Other` otherwise.
fn tensors(elem: &Type) -> Ty {
    match elem {
        Type::Path(path) => match tensor_type(path) {
            Some(Ty::Tensor { elem, rank, .. }) => Ty::Tensors { elem, rank },
            _ => Ty::Other,
        },
        _ => Ty::Other,
    }
}

/// `Vec<F>` of a float `F`.
fn float_vec(path: &syn::TypePath) -> Option<FloatTy> {
    let last = path.path.segments.last()?;
    if last.ident != "Vec" {
        return None;
    }
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.first() {
        Some(syn::GenericArgument::Type(t)) => float_type(t),
        _ => None,
    }
}
