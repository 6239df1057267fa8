//! The pipeline: arguments → signature → lowering (with validation) → buffer check → reverse
//! sweep → emission, as a function over `proc_macro2` tokens (so tests can drive it without a
//! compiler).

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};

use crate::args::Args;
use crate::emit::{self, Companions};
use crate::errors::Errors;
use crate::naming::Namer;
use crate::{buffers, fallback, lower, reverse, signature, split, structs};

/// Expands `#[backprop(args)] item`: the item unchanged, then its companions; or, when the
/// function cannot be differentiated, its signature, the errors and stub companions.
pub fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let function: syn::ItemFn = match syn::parse2(item.clone()) {
        Ok(function) => function,
        // An impl block: its methods marked `#[backprop]` get companions in the same impl.
        Err(_) if let Ok(block) = syn::parse2::<syn::ItemImpl>(item.clone()) => {
            return crate::methods::expand_impl(args, block);
        }
        // Another kind of item: say what the attribute is for, and keep the item.
        Err(_) if syn::parse2::<syn::Item>(item.clone()).is_ok() => {
            let message = syn::Error::new(
                proc_macro2::Span::call_site(),
                "`#[backprop]` applies to a function: `fn f(x: f64) -> f64 { .. }`, or to an `impl` block whose methods it marks",
            );
            let errors = message.to_compile_error();
            return quote!(#item #errors);
        }
        // Not valid Rust: the parser's own error, at its span, is the useful message; the
        // broken item itself is not emitted again.
        Err(error) => return error.to_compile_error(),
    };
    let (parsed, errors) = match ask_for_structs(&args, &function, None) {
        Ok(ask) => return quote!(#function #ask),
        Err(parsed) => parsed,
    };
    match differentiate(&function, parsed, None, None, errors) {
        Differentiated::Companions(generated) => quote!(#function #generated),
        // The body, which the macro could not read, would only add rustc's errors about it.
        Differentiated::Errors(errors) => {
            let kept = fallback::function_without_body(&function);
            quote!(#kept #errors)
        }
    }
}

/// The first step for a function with struct parameters: the request for the first struct's
/// fields (`Ok`); otherwise the parsed arguments and their errors.
fn ask_for_structs(
    args: &TokenStream,
    function: &syn::ItemFn,
    in_impl: Option<&syn::Type>,
) -> Result<TokenStream, (Args, Errors)> {
    let mut errors = Errors::default();
    let parsed = match syn::parse2::<Args>(args.clone()) {
        Ok(parsed) => parsed,
        Err(error) => {
            errors.push(error);
            Args::default()
        }
    };
    if errors.is_empty()
        && let Some(first) = structs::candidates(function, &parsed).first()
    {
        let in_impl = in_impl.map(ToTokens::to_token_stream);
        let item = function.to_token_stream();
        let state = structs::state(args, &item, in_impl.as_ref(), &TokenStream::new());
        return Ok(structs::ask_for_fields(&first.path, state));
    }
    Err((parsed, errors))
}

/// What [`differentiate`] made.
enum Differentiated {
    /// The companions (and any errors rustc reports beside the function's body).
    Companions(TokenStream),
    /// Errors that make the function's body unreadable to the macro, and stub companions.
    Errors(TokenStream),
}

impl ToTokens for Differentiated {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        match self {
            Differentiated::Companions(t) | Differentiated::Errors(t) => t.to_tokens(tokens),
        }
    }
}

/// `__backprop_struct!`: the next struct's fields asked for, or the companions of the function
/// (which the first step emitted itself).
pub fn expand_with_structs(input: TokenStream) -> TokenStream {
    let input: structs::Input = match syn::parse2(input) {
        Ok(input) => input,
        Err(error) => return error.to_compile_error(),
    };
    let (mut function, args) = match (
        syn::parse2::<syn::ItemFn>(input.item.clone()),
        syn::parse2::<Args>(input.args.clone()),
    ) {
        (Ok(function), Ok(args)) => (function, args),
        (Err(error), _) | (_, Err(error)) => return error.to_compile_error(),
    };
    crate::methods::typed_self(&mut function);
    let candidates = structs::candidates(&function, &args);
    if let Some(next) = structs::missing(&candidates, &input.structs) {
        let state = structs::state(
            &input.args,
            &input.item,
            input.in_impl.as_ref(),
            &input.described,
        );
        return structs::ask_for_fields(&next, state);
    }
    let generated = differentiate(
        &function,
        args,
        Some((&candidates, &input.structs)),
        input.in_impl.as_ref(),
        Errors::default(),
    );
    let generated = match &input.in_impl {
        Some(self_ty) => quote!(impl #self_ty { #generated }),
        None => generated.into_token_stream(),
    };
    // This step runs inside the derive's `macro_rules!`, whose hygiene the names the macro
    // makes (`d_w`, `out`) would get: every name resolves where the user's function is.
    structs::resolved_at(generated, function.sig.ident.span())
}

/// The companions of a method of `self_ty` (the function as `methods` rewrote it: `self`
/// typed), to be put in an impl of `self_ty`; or the request for its structs' fields.
pub fn expand_method(
    args: TokenStream,
    function: &syn::ItemFn,
    self_ty: &syn::Type,
) -> TokenStream {
    let (parsed, errors) = match ask_for_structs(&args, function, Some(self_ty)) {
        Ok(ask) => return ask,
        Err(parsed) => parsed,
    };
    let generated = differentiate(
        function,
        parsed,
        None,
        Some(&self_ty.to_token_stream()),
        errors,
    );
    quote!(impl #self_ty { #generated })
}

/// The companions of `function` (not the function itself), or its errors and stubs.
fn differentiate(
    function: &syn::ItemFn,
    args: Args,
    with_structs: Option<(&[structs::Candidate], &structs::Structs)>,
    in_impl: Option<&TokenStream>,
    mut errors: Errors,
) -> Differentiated {
    let mut namer = Namer::new(function.to_token_stream());
    // Struct parameters: the pipeline reads the function with a parameter per field.
    let (flat, args, groups, prologue) = match with_structs {
        Some((candidates, structs)) => {
            structs::flatten(function, &args, candidates, structs, &mut namer)
        }
        None => (function.clone(), args, Vec::new(), Vec::new()),
    };
    let mut signature = signature::analyze(&flat.sig, &args, &mut errors);
    signature.groups = groups.clone();
    let mut companions = Companions::new(function, &signature);
    // In an impl, the companions call each other as `Self::f_backward(..)`.
    if in_impl.is_some() {
        companions.prefix = quote!(Self::);
    }
    // A return type the macro cannot differentiate is reported once: the body, written for
    // that type, would only repeat it.
    let unreadable_output =
        matches!(signature.output, crate::ir::Ty::Other) && function.sig.generics.params.is_empty();
    // So is a method outside a `#[backprop]` impl: without `self`'s type the body's uses of
    // `self` (`self.l1.forward(x)`) would each add an error of their own.
    let untyped_self = flat
        .sig
        .inputs
        .iter()
        .any(|input| matches!(input, syn::FnArg::Receiver(_)));
    let reported = errors.len();
    let mut program = lower::lower(&flat, &signature, &mut namer, &mut errors);
    if unreadable_output || untyped_self {
        errors.truncate(reported);
    }
    program.groups = groups;
    let prologue_len = prologue.len();
    program.items.splice(0..0, prologue);
    let borrowed: std::collections::HashSet<String> = signature
        .params
        .iter()
        .filter(|p| {
            let ty = p.ty_tokens.to_string();
            ty.starts_with('&') || ty.contains("ArrayView")
        })
        .map(|p| p.ident.to_string())
        .collect();
    let body = function.block.to_token_stream();
    split::mark(
        &mut program,
        &args.split,
        &borrowed,
        &body,
        &mut namer,
        &mut errors,
    );
    if errors.is_empty() {
        buffers::check(&mut program, &mut namer);
    }
    if !errors.is_empty() {
        let compile_errors = errors.to_compile_errors();
        // Companions whose signature repeats an unreadable return type (a view's elided
        // lifetime, say) would only add rustc's errors about it.
        let stubs = if unreadable_output {
            quote!()
        } else {
            fallback::stubs(function, &companions)
        };
        return Differentiated::Errors(quote!(#compile_errors #stubs));
    }
    let reversed = reverse::reverse(&program, &mut namer);
    let emit_all = |program: &crate::ir::Program,
                    signature: &signature::SignatureInfo,
                    errors: &mut Errors| {
        let generated = emit::emit(function, &companions, program, &reversed);
        // `f_jvp` and `hvp`'s tangent function are functions of their own: each names its
        // tangents from the same start (`t_x` in both).
        let (mut jvp_namer, mut hvp_namer) = (namer.clone(), namer.clone());
        let jvp = if args.jvp {
            emit::jvp(function, signature, program, &mut jvp_namer, errors)
        } else {
            TokenStream::new()
        };
        let hvp = if args.hvp {
            emit::hvp(
                function,
                signature,
                program,
                args.jvp,
                &companions.prefix,
                &mut hvp_namer,
                errors,
            )
        } else {
            TokenStream::new()
        };
        (generated, jvp, hvp)
    };
    let (mut generated, mut jvp, mut hvp) = emit_all(&program, &signature, &mut errors);
    // A struct's fields that no companion reads on their own (the struct is passed whole to
    // calls) are not bound: the companions are written again without those lines.
    if errors.is_empty()
        && structs::unbind_unread(&mut program.groups, &quote!(#generated #jvp #hvp))
    {
        signature.groups = program.groups.clone();
        let prologue = structs::prologue(&program.groups);
        program.items.splice(0..prologue_len, prologue);
        (generated, jvp, hvp) = emit_all(&program, &signature, &mut errors);
    }
    if !errors.is_empty() {
        let compile_errors = errors.to_compile_errors();
        return Differentiated::Companions(quote!(#generated #compile_errors));
    }
    Differentiated::Companions(quote!(#generated #jvp #hvp))
}

/// `g_backward` of a scalar function `g` the macro writes itself (a `mapv` closure with a
/// branch, `lower/tensors.rs`): the whole pipeline on `function`, its errors reported with the
/// caller's; `None` when it reported one.
pub fn backward_of(function: &syn::ItemFn, args: Args, errors: &mut Errors) -> Option<syn::ItemFn> {
    let reported = errors.len();
    let signature = signature::analyze(&function.sig, &args, errors);
    let companions = Companions::new(function, &signature);
    let mut namer = Namer::new(function.to_token_stream());
    let mut program = lower::lower(function, &signature, &mut namer, errors);
    if errors.len() > reported {
        return None;
    }
    buffers::check(&mut program, &mut namer);
    let reversed = reverse::reverse(&program, &mut namer);
    let generated = emit::emit(function, &companions, &program, &reversed);
    // The companions as items; `f_backward` alone, without its documentation (it is shown
    // inside the caller's) or its lint levels (the caller's hold inside it).
    let file: syn::File = syn::parse2(generated).ok()?;
    file.items.into_iter().find_map(|item| match item {
        syn::Item::Fn(mut f) if f.sig.ident == companions.backward => {
            f.attrs.clear();
            Some(f)
        }
        _ => None,
    })
}

/// `g_jvp` of a function the macro writes itself (`hvp`'s tangent function of a function that
/// calls nothing, `emit/compose.rs`): lowering and forward mode on `function`; `None` when
/// that reported an error.
pub fn jvp_of(function: &syn::ItemFn, args: Args) -> Option<syn::ItemFn> {
    let mut errors = Errors::default();
    let signature = signature::analyze(&function.sig, &args, &mut errors);
    let mut namer = Namer::new(function.to_token_stream());
    let mut program = lower::lower(function, &signature, &mut namer, &mut errors);
    if !errors.is_empty() {
        return None;
    }
    buffers::check(&mut program, &mut namer);
    let generated = emit::jvp(function, &signature, &program, &mut namer, &mut errors);
    if !errors.is_empty() {
        return None;
    }
    let mut jvp: syn::ItemFn = syn::parse2(generated).ok()?;
    // Its documentation and lint levels are the caller's.
    jvp.attrs.clear();
    Some(jvp)
}

/// `#[backprop(hvp)]`'s companions of a scalar function the macro writes itself (a `mapv`
/// closure's, `emit/tangent_maps.rs`): `g_hvp_tangent` and its `_backward` among them, every
/// float parameter differentiated; `None` when it reported an error.
pub fn hvp_of(function: &syn::ItemFn, errors: &mut Errors) -> Option<TokenStream> {
    let reported = errors.len();
    let args = Args {
        hvp: true,
        ..Default::default()
    };
    let signature = signature::analyze(&function.sig, &args, errors);
    let mut namer = Namer::new(function.to_token_stream());
    let mut program = lower::lower(function, &signature, &mut namer, errors);
    if errors.len() > reported {
        return None;
    }
    buffers::check(&mut program, &mut namer);
    let generated = emit::hvp(
        function,
        &signature,
        &program,
        false,
        &TokenStream::new(),
        &mut namer,
        errors,
    );
    if errors.len() > reported {
        return None;
    }
    // Without `g_grad_jvp`, which calls the `g_grad` that only a user's function has.
    let grad_jvp = quote::format_ident!("{}_grad_jvp", function.sig.ident);
    let file: syn::File = syn::parse2(generated).ok()?;
    let items = file
        .items
        .into_iter()
        .filter(|item| !matches!(item, syn::Item::Fn(f) if f.sig.ident == grad_jvp));
    Some(quote!(#(#items)*))
}

/// `BACKPROP_EXPAND=file.rs cargo test -p backprop-macro expand_file -- --ignored --nocapture`
/// prints what `#[backprop]` makes of the first function in `file.rs` (its attribute
/// arguments included), without compiling it: for reading generated code that does not
/// compile yet.
#[cfg(test)]
#[test]
#[ignore]
fn expand_file() {
    let path = std::env::var("BACKPROP_EXPAND").unwrap_or_default();
    let source = std::fs::read_to_string(&path).unwrap_or_default();
    let Ok(file) = syn::parse_file(&source) else {
        println!("{path}: not a Rust file");
        return;
    };
    for item in file.items {
        if let syn::Item::Fn(mut function) = item {
            let args = match function.attrs.first().map(|a| &a.meta) {
                Some(syn::Meta::List(list)) => list.tokens.clone(),
                _ => TokenStream::new(),
            };
            function.attrs.clear();
            let out = expand(args, function.to_token_stream());
            println!("{}", emit::pretty(&out));
            return;
        }
    }
}
