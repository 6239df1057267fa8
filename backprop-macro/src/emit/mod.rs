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
//! what they push on tapes) and `backward` (the statements of the backward pass); forward mode
//! by concern too: `tangent` (each line's tangent, loops, branches, calls) and `jvp` (the
//! companions `f_jvp`, `f_hvp`, `f_grad_backward`), and `compose` (the companions of those
//! companions, for calls of `g_jvp` and `g_grad` inside differentiated code).

mod backward;
mod compose;
mod forward;
mod hvp;
mod jvp;
mod lines;
mod tail;
mod tangent;
mod tangent_calls;
mod tangent_maps;

pub use hvp::hvp;
pub use jvp::jvp;

use proc_macro2::{Ident, TokenStream};
use quote::{ToTokens, format_ident, quote};

use crate::ir::{Operand, Program, Ty};
use crate::reverse::Reversed;
use crate::rules;
use crate::signature::SignatureInfo;

use backward::zero;
use lines::{declare_tapes, drop_after_last_use, fused_block, without_dead_copies};

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
    /// The output is a float: `f_grad` exists.
    pub scalar: bool,
    /// What the companions' calls of each other start with: `Self::` in an impl.
    pub prefix: TokenStream,
}

impl Companions {
    pub fn new(function: &syn::ItemFn, signature: &SignatureInfo) -> Self {
        let name = &function.sig.ident;
        let groups = &signature.groups;
        // A struct parameter's gradient is the struct; its fields' parameters are bound in
        // the companions' bodies, not taken.
        let public: Vec<_> = signature
            .params
            .iter()
            .filter(|p| !crate::structs::is_field_param(groups, &p.ident))
            .collect();
        let gradient_types: Vec<TokenStream> = public
            .iter()
            .filter(|p| {
                p.differentiable
                    || crate::structs::group_of(groups, &p.ident).is_some_and(|g| g.differentiable)
            })
            .map(|p| match &p.ty {
                _ if crate::structs::group_of(groups, &p.ident)
                    .is_some_and(|g| g.differentiable) =>
                {
                    crate::structs::group_of(groups, &p.ident)
                        .map(|g| g.path.clone())
                        .unwrap_or_default()
                }
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
                        Some(2) => quote!(::backprop::ndarray::Array2<#elem>),
                        Some(3) => quote!(::backprop::ndarray::Array3<#elem>),
                        Some(4) => quote!(::backprop::ndarray::Array4<#elem>),
                        _ => quote!(::backprop::ndarray::ArrayD<#elem>),
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
            params: public
                .iter()
                .map(|p| {
                    let (ident, ty) = (&p.ident, &p.ty_tokens);
                    quote!(#ident: #ty)
                })
                .collect(),
            param_names: public.iter().map(|p| p.ident.clone()).collect(),
            output: signature.output_tokens.clone(),
            gradient,
            scalar: matches!(signature.output, Ty::Float(_) | Ty::Other),
            prefix: TokenStream::new(),
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
        scalar,
        prefix,
    } = companions;
    let vis = &function.vis;
    let name = &function.sig.ident;
    let seed = &reversed.seed;

    let items = &program.items;
    // A returned buffer that the reverse pass restores (it was written over) is returned as it
    // was at the end of the forward pass.
    let (copy, value) = match (&reversed.output_copy, program.body.value()) {
        (Some(copy), Operand::Var(out)) => {
            let buffer = &program.vars[*out].ident;
            let line = match program.vars[*out].ty {
                Ty::Array { len: Some(_), .. } => quote!(let #copy = #buffer;),
                _ => quote!(let #copy = #buffer.clone();),
            };
            (Some(line), copy.to_token_stream())
        }
        _ => (None, output_value(program)),
    };
    let joint = tail::joint_tail_call(program, reversed);
    let (forward, stmts) = match &joint {
        Some((forward, stmts)) => (forward, stmts),
        None => (&reversed.forward, &reversed.stmts),
    };
    let lines = fused_block(program, reversed, forward, stmts, false, copy);
    let lines = drop_after_last_use(program, lines);
    let lines = declare_tapes(program, reversed, lines);
    let gradients = gradients(program, reversed);
    let lines = without_dead_copies(lines, &quote!((#value, #gradients)));

    let seed_param = upstream_param(seed, &lines);
    let backward_fn = quote! {
        #vis fn #backward(#(#params,)* #seed_param: #output) -> (#output, #gradient) {
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
    let forward_fn = forward_companion(function, companions, program, reversed);
    // `f_grad` has `f`'s parameters: what the user allowed on `f` (too many arguments, say)
    // holds for it too.
    let user_allows = function.attrs.iter().filter(|a| a.path().is_ident("allow"));
    // `f_grad` is `f_backward(.., 1.0)`: it exists for a float output only.
    let grad_fn = scalar.then(|| {
        quote! {
            #[doc = #grad_doc]
            #[allow(dead_code)]
            #(#user_allows)*
            #vis fn #grad(#(#params),*) -> (#output, #gradient) {
                #prefix #backward(#(#param_names,)* 1.0)
            }
        }
    });
    quote! {
        #[doc = #doc]
        #[allow(clippy::all, clippy::pedantic, unused_parens, unused_variables, unused_mut, unused_assignments)]
        #backward_fn

        #grad_fn

        #[doc = #source_doc]
        #[allow(dead_code)]
        #vis fn #source() -> &'static str {
            // The companions compute `f` themselves; this marks it used (an item allowed to be
            // dead is a root of rustc's liveness), so that a program calling only `f_grad` or
            // `f_backward` gets no dead-code warning for the function it annotated (nor a
            // deprecation warning, if it is deprecated).
            #[allow(deprecated)]
            let _ = #prefix #name;
            #printed
        }

        #forward_fn
    }
}

/// The upstream gradient parameter, `mut` when `lines` write into it: the gradient of a
/// returned buffer is the upstream itself, and an element the forward pass wrote over has its
/// gradient reset (`d_out[i] = 0.0;`).
fn upstream_param(seed: &Ident, lines: &[TokenStream]) -> TokenStream {
    fn writes(tokens: TokenStream, seed: &Ident) -> bool {
        use proc_macro2::TokenTree;
        let trees: Vec<TokenTree> = tokens.into_iter().collect();
        trees.iter().enumerate().any(|(k, tree)| match tree {
            TokenTree::Group(group) => writes(group.stream(), seed),
            TokenTree::Ident(ident) if ident == seed => {
                matches!(trees.get(k + 1), Some(TokenTree::Group(g)) if g.delimiter() == proc_macro2::Delimiter::Bracket)
                    && match (trees.get(k + 2), trees.get(k + 3)) {
                        (Some(TokenTree::Punct(p)), next) if p.as_char() == '=' => {
                            !matches!(next, Some(TokenTree::Punct(q)) if q.as_char() == '=')
                        }
                        (Some(TokenTree::Punct(p)), Some(TokenTree::Punct(q))) => {
                            "+-*/%".contains(p.as_char()) && q.as_char() == '='
                        }
                        _ => false,
                    }
            }
            _ => false,
        })
    }
    if lines.iter().any(|line| writes(line.clone(), seed)) {
        quote!(mut #seed)
    } else {
        seed.to_token_stream()
    }
}

/// The function's value as returned: an array output by value (it is read through `&out`
/// everywhere else).
fn output_value(program: &Program) -> TokenStream {
    // `(h, c)`: built here, from its parts.
    if let Some((parts, args)) = program.tuple_output() {
        return parts.render(&mut |i| value_of(program, &args[i]));
    }
    value_of(program, program.body.value())
}

/// An operand as a returned value (see [`output_value`]).
fn value_of(program: &Program, value: &Operand) -> TokenStream {
    match value {
        // A view (`x.t()`, `x.insert_axis(..)`, a part) or a parameter itself (`a.clone()`,
        // `m.to_owned()` of a view: the copy is not made in the lines) is copied out.
        Operand::Var(v) if borrows(program, value) => {
            let ident = &program.vars[*v].ident;
            quote!(#ident.to_owned())
        }
        Operand::Var(v) if matches!(program.vars[*v].ty, Ty::Tensor { by_ref: false, .. }) => {
            program.vars[*v].ident.to_token_stream()
        }
        Operand::Const {
            tokens,
            ty: Ty::Tensor { by_ref: false, .. },
            ..
        } => tokens.clone(),
        value => rules::render_bare(program, value),
    }
}

/// Whether the value is an array that borrows another (a view, a parameter), which the
/// function's value copies out.
fn is_copy_of_borrowed(program: &Program) -> bool {
    match program.tuple_output() {
        Some((_, args)) => args.iter().any(|a| borrows(program, a)),
        None => borrows(program, program.body.value()),
    }
}

/// Whether `value` is an array that borrows another (a view, a parameter).
fn borrows(program: &Program, value: &Operand) -> bool {
    matches!(value, Operand::Var(v)
        if program.vars[*v].ty.is_tensor()
            && (program.params.iter().any(|p| p.var == *v) || is_view(program, *v)))
}

/// Whether a top-level line makes `var` a view of another array.
fn is_view(program: &Program, var: crate::ir::VarId) -> bool {
    program.body.nodes.iter().any(|node| {
        matches!(node, crate::ir::Node::Assign(a) if a.target == var && matches!(
            a.prim,
            rules::Prim::Tensor(
                rules::TensorOp::T | rules::TensorOp::InsertAxis | rules::TensorOp::Part { .. }
            )
        ))
    })
}

/// `f_forward(p..) -> (R, impl FnOnce(R) -> G)`: the forward lines, then the backward
/// statements in a closure that owns what they read (the split mode of [`crate::split`]). No
/// loop or branch is fused with its reverse here: the upstream gradient comes later.
fn forward_companion(
    function: &syn::ItemFn,
    companions: &Companions,
    program: &Program,
    reversed: &Reversed,
) -> TokenStream {
    let Companions {
        backward,
        output,
        gradient,
        ..
    } = companions;
    let vis = &function.vis;
    let name = &function.sig.ident;
    let forward = format_ident!("{}_forward", name, span = name.span());
    let seed = &reversed.seed;
    let items = &program.items;
    // Every borrowed parameter gets the lifetime `'a`, which the closure may capture.
    let mut borrows = false;
    let params: Vec<TokenStream> = function
        .sig
        .inputs
        .iter()
        .filter_map(|input| match input {
            syn::FnArg::Typed(pat_type) => {
                let mut ty = (*pat_type.ty).clone();
                let mut named = NameLifetimes(false);
                syn::visit_mut::VisitMut::visit_type_mut(&mut named, &mut ty);
                borrows |= named.0;
                let ident = match &*pat_type.pat {
                    syn::Pat::Ident(p) => p.ident.clone(),
                    _ => return None,
                };
                Some(quote!(#ident: #ty))
            }
            syn::FnArg::Receiver(_) => None,
        })
        .collect();
    let (generics, bound) = if borrows {
        (quote!(<'a>), quote!(+ 'a))
    } else {
        (TokenStream::new(), TokenStream::new())
    };
    let mut lines: Vec<TokenStream> = reversed
        .forward
        .iter()
        .map(|n| forward::forward_node(program, n, Some(reversed)))
        .collect();
    let stmts: Vec<TokenStream> = reversed
        .stmts
        .iter()
        .map(|s| backward::back_stmt(program, reversed, s))
        .collect();
    let gradients = gradients(program, reversed);
    let views = views_again(program, &reversed.forward, &stmts);
    let reverse = format_ident!("{}_reverse", name);
    let seed_param = upstream_param(seed, &stmts);
    let closure = quote! {
        move |#seed_param: #output| -> #gradient {
            #(#views)*
            #(#stmts)*
            #gradients
        }
    };
    // An array output that the reverse pass reads (`1 - out²` of a tanh layer) or restores
    // (a buffer) is returned and owned by the closure: the closure gets a copy.
    let mut read = std::collections::HashSet::new();
    crate::ir::idents_in(closure.clone(), &mut read);
    let outputs: Vec<&Operand> = match program.tuple_output() {
        Some((_, args)) => args.iter().collect(),
        None => vec![program.body.value()],
    };
    let copies: Vec<TokenStream> = outputs
        .into_iter()
        .filter_map(|value| match value {
            Operand::Var(v)
                if matches!(
                    program.vars[*v].ty,
                    Ty::Tensor { by_ref: false, .. } | Ty::Array { len: None, .. }
                ) && read.contains(&program.vars[*v].ident.to_string()) =>
            {
                let out = &program.vars[*v].ident;
                Some(quote!(let mut #out = #out.clone();))
            }
            _ => None,
        })
        .collect();
    let closure = if copies.is_empty() {
        closure
    } else {
        quote!({
            #(#copies)*
            #closure
        })
    };
    // A copy of a view or of a parameter as the value is made before the closure takes the
    // array it borrows (`z.row(0).to_owned()` of a local `z`, a part of an owned parameter);
    // so is an element read as the value (`h[1]` of a buffer `h` the closure takes).
    let mut value = output_value(program);
    let element = match program.tuple_output() {
        Some((_, args)) => args.iter().any(|a| matches!(a, Operand::Element { .. })),
        None => matches!(program.body.value(), Operand::Element { .. }),
    };
    if is_copy_of_borrowed(program) || element {
        let copy = format_ident!("{}_value", name);
        lines.push(quote!(let #copy = #value;));
        value = copy.to_token_stream();
    }
    lines.push(quote!(let #reverse = #closure;));
    let lines = drop_after_last_use(program, lines);
    let lines = declare_tapes(program, reversed, lines);
    let doc = format!(
        " Value of [`{name}`] and the closure of its reverse pass, written by `#[backprop]`: \
         `let (y, reverse) = {forward}(..); let gradients = reverse(d_y);` computes what \
         [`{backward}`]`(.., d_y)` does, the forward pass now and the reverse pass when the \
         closure is called. A `#[backprop(split({name}))]` caller differentiates its calls of \
         `{name}` this way, so that `{name}`'s forward pass runs once."
    );
    quote! {
        #[doc = #doc]
        #[allow(dead_code, clippy::all, clippy::pedantic, unused_parens, unused_variables, unused_mut, unused_assignments)]
        #vis fn #forward #generics(#(#params),*) -> (#output, impl FnOnce(#output) -> #gradient #bound) {
            #(#items)*
            #(#lines)*
            (#value, #reverse)
        }
    }
}

/// The view lines (`a.t()`, `a.view().insert_axis(..)`, a constant view) whose views the
/// reverse statements `stmts` read, to run again inside the closure: a view of a local array
/// cannot leave the function, the array can (the closure owns it).
fn views_again(
    program: &Program,
    nodes: &[crate::ir::Node],
    stmts: &[TokenStream],
) -> Vec<TokenStream> {
    let mut read = std::collections::HashSet::new();
    stmts
        .iter()
        .for_each(|s| crate::ir::idents_in(s.clone(), &mut read));
    let mut again = Vec::new();
    for node in nodes.iter().rev() {
        let crate::ir::Node::Assign(a) = node else {
            continue;
        };
        let view = matches!(
            a.prim,
            rules::Prim::Tensor(
                rules::TensorOp::T | rules::TensorOp::InsertAxis | rules::TensorOp::Part { .. }
            )
        ) || matches!(a.args.as_slice(), [crate::ir::Operand::Const { ty, .. }] if ty.is_tensor());
        if view
            && program.vars[a.target].ty.is_tensor()
            && read.contains(&program.vars[a.target].ident.to_string())
        {
            let line = forward::forward_node(program, node, None);
            crate::ir::idents_in(line.clone(), &mut read);
            again.push(line);
        }
    }
    again.reverse();
    again
}

/// Names the elided lifetimes of a parameter's type `'a`: `&[f64]` → `&'a [f64]`,
/// `ArrayView1<f64>` → `ArrayView1<'a, f64>`; records whether there was one.
struct NameLifetimes(bool);

impl syn::visit_mut::VisitMut for NameLifetimes {
    fn visit_type_reference_mut(&mut self, reference: &mut syn::TypeReference) {
        if reference.lifetime.is_none() {
            reference.lifetime = Some(syn::parse_quote!('a));
            self.0 = true;
        }
        syn::visit_mut::visit_type_reference_mut(self, reference);
    }

    fn visit_path_segment_mut(&mut self, segment: &mut syn::PathSegment) {
        if segment.ident.to_string().starts_with("ArrayView")
            && let syn::PathArguments::AngleBracketed(args) = &mut segment.arguments
            && !args
                .args
                .iter()
                .any(|a| matches!(a, syn::GenericArgument::Lifetime(_)))
        {
            args.args.insert(0, syn::parse_quote!('a));
            self.0 = true;
        }
        syn::visit_mut::visit_path_segment_mut(self, segment);
    }
}

/// The gradients `f_backward` returns: one per differentiable parameter, in signature order.
fn gradients(program: &Program, reversed: &Reversed) -> TokenStream {
    let of = |var: crate::ir::VarId| match reversed.grads.get(&var) {
        Some(d) => d.to_token_stream(),
        None => zero(program, var),
    };
    let groups = &program.groups;
    let gradients: Vec<TokenStream> = program
        .params
        .iter()
        .filter_map(|p| {
            let ident = &program.vars[p.var].ident;
            // A struct parameter: the struct of its fields' gradients.
            if let Some(group) = crate::structs::group_of(groups, ident)
                && group.differentiable
            {
                return Some(crate::structs::gradient(group, &mut |field| {
                    program
                        .params
                        .iter()
                        .find(|q| program.vars[q.var].ident == *field)
                        .map(|q| of(q.var))
                        .unwrap_or_default()
                }));
            }
            (p.differentiable && !crate::structs::is_field_param(groups, ident)).then(|| of(p.var))
        })
        .collect();
    match gradients.as_slice() {
        [one] => one.clone(),
        many => quote!((#(#many),*)),
    }
}

/// Pretty-printed source of one item, for people to read.
pub fn pretty(item: &TokenStream) -> String {
    match syn::parse2::<syn::File>(item.clone()) {
        Ok(file) => prettyplease::unparse(&file),
        Err(_) => item.to_string(),
    }
}
