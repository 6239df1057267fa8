//! Calls in split mode: `#[backprop(split(g))]` differentiates each call `y = g(..)` with
//! `let (y, y_reverse) = g_forward(..);` in the forward pass and `y_reverse(d_y)` in the
//! reverse pass, where the default (joint) mode calls `g_backward(.., d_y)`, which runs `g`'s
//! forward pass a second time. The names of Tapenade's two ways of reversing a call: a callee
//! reversed in split mode keeps what its reverse needs from the caller's forward pass (here,
//! in the closure `g_forward` returns; in a loop, the closure goes on a tape like any value
//! the reverse reads). Hand-written gates have no `g_forward`, so the mode is the caller's
//! choice, per callee.

use std::collections::{HashMap, HashSet};

use proc_macro2::{Ident, Span, TokenStream, TokenTree};
use quote::format_ident;

use crate::errors::Errors;
use crate::ir::{Block, Node, Program, Ty, Var};
use crate::naming::Namer;
use crate::rules::{self, Pass, Prim};

/// Gives every differentiated call of a function named in `split` the variable of its reverse
/// closure, and reports a name that the body never calls. `borrowed`: the parameters that are
/// references (`&[f64]`, `&Array2<f64>`, views).
///
/// A call that passes an array the function owns (a local buffer, a `Vec` parameter) stays in
/// joint mode: the closure would borrow the array beyond the function (from `f_forward`) or
/// across a later write into it.
pub fn mark(
    program: &mut Program,
    split: &[Ident],
    borrowed: &HashSet<String>,
    body: &TokenStream,
    namer: &mut Namer,
    errors: &mut Errors,
) {
    if split.is_empty() {
        return;
    }
    let names: HashMap<String, Span> = split.iter().map(|n| (n.to_string(), n.span())).collect();
    let borrowed_names = borrowed;
    let borrowed: HashSet<crate::ir::VarId> = program
        .params
        .iter()
        .map(|p| p.var)
        .filter(|v| borrowed.contains(&program.vars[*v].ident.to_string()))
        .collect();
    // A call the body makes, differentiated or not (a call on constants is no error).
    let mut found = HashSet::new();
    calls_in(body.clone(), &mut found);
    let mut body = std::mem::replace(
        &mut program.body,
        Block {
            nodes: Vec::new(),
            results: Vec::new(),
        },
    );
    mark_block(
        program,
        &mut body,
        &names,
        (&borrowed, borrowed_names),
        namer,
    );
    program.body = body;
    for name in split {
        if !found.contains(&name.to_string()) {
            errors.spanned(
                name,
                format!(
                    "`split({name})`: this function calls no `#[backprop]` function `{name}`; `split(..)` names the functions whose calls keep their forward pass (`{name}_forward`) for the reverse"
                ),
            );
        }
    }
}

fn mark_block(
    program: &mut Program,
    block: &mut Block,
    names: &HashMap<String, Span>,
    (borrowed, borrowed_names): (&HashSet<crate::ir::VarId>, &HashSet<String>),
    namer: &mut Namer,
) {
    for node in &mut block.nodes {
        match node {
            Node::Assign(a) => {
                let Prim::Call {
                    path,
                    reverse,
                    pass,
                    parts: None,
                    ..
                } = &mut a.prim
                else {
                    // (A call whose tuple result is taken apart stays in joint mode.)
                    continue;
                };
                // An array the function owns (or a copy it makes), passed by reference: joint
                // mode (see `mark`). An array passed by value (`[f64; 2]`, `z.to_owned()`) is the callee's own copy.
                let owned_array = a.args.iter().zip(pass.iter()).any(|(arg, pass)| {
                    // `&m.to_owned()`: a reference to a temporary copy.
                    if *pass == Pass::RefOwned {
                        return true;
                    }
                    let by_reference = |ty: &Ty| match ty {
                        Ty::Array { .. } => *pass == Pass::Ref,
                        Ty::Tensor { .. } => !matches!(pass, Pass::Method(m) if m != "view"),
                        _ => false,
                    };
                    let (crate::ir::Operand::Var(v) | crate::ir::Operand::Element { var: v, .. }) =
                        arg
                    else {
                        // A constant array (`&[1.0, 2.0]`, `&h`) is a temporary or a local of
                        // this function, unless it is a borrowed parameter itself (`x` of `x:
                        // &Array2<f64>` outside `wrt`).
                        return matches!(arg, crate::ir::Operand::Const { ty, tokens, .. }
                            if (by_reference(ty) || tokens.to_string().starts_with('&'))
                                && !borrowed_names.contains(&tokens.to_string()));
                    };
                    let ty = &program.vars[*v].ty;
                    // `m.view()` of a view parameter borrows the parameter itself, a local.
                    let view_of_local = matches!(pass, Pass::Method(m) if m == "view")
                        && matches!(ty, Ty::Tensor { by_ref: false, .. });
                    by_reference(ty) && (view_of_local || !borrowed.contains(v))
                });
                if owned_array {
                    continue;
                }
                let name = rules::function_name(path);
                // A runtime gate has its own rule, not a `_forward`.
                let runtime = rules::gates::runtime_gate_name(path).is_some();
                let Some(&span) = names.get(&name).filter(|_| !runtime) else {
                    continue;
                };
                // `g_forward` is spanned at `split(g)`: a `g` without one (a hand-written
                // gate) is reported where the mode was chosen.
                *path = respanned(path, span);
                let ident = namer.fresh(&format!("{}_reverse", program.vars[a.target].ident));
                program.vars.push(Var {
                    ident,
                    ty: Ty::Reverse,
                    active: false,
                    buffer: false,
                    taped: false,
                });
                *reverse = Some(program.vars.len() - 1);
            }
            Node::Branch(b) => {
                mark_block(
                    program,
                    &mut b.then,
                    names,
                    (borrowed, borrowed_names),
                    namer,
                );
                mark_block(
                    program,
                    &mut b.otherwise,
                    names,
                    (borrowed, borrowed_names),
                    namer,
                );
            }
            Node::Loop(l) => mark_block(
                program,
                &mut l.body,
                names,
                (borrowed, borrowed_names),
                namer,
            ),
            Node::Store(_) => {}
        }
    }
}

/// The names of the functions `tokens` calls (`g` of `g(..)` and of `m::g(..)`).
fn calls_in(tokens: TokenStream, out: &mut HashSet<String>) {
    let trees: Vec<TokenTree> = tokens.into_iter().collect();
    for (k, tree) in trees.iter().enumerate() {
        match tree {
            TokenTree::Ident(name) => {
                if matches!(trees.get(k + 1), Some(TokenTree::Group(g))
                    if g.delimiter() == proc_macro2::Delimiter::Parenthesis)
                {
                    out.insert(name.to_string());
                }
            }
            TokenTree::Group(g) => calls_in(g.stream(), out),
            _ => {}
        }
    }
}

/// `path` with its last identifier spanned at `span`.
fn respanned(path: &TokenStream, span: Span) -> TokenStream {
    let mut trees: Vec<TokenTree> = path.clone().into_iter().collect();
    if let Some(TokenTree::Ident(last)) = trees.last_mut() {
        last.set_span(span);
    }
    trees.into_iter().collect()
}

/// `g_forward` for the call path `g` (`m::g` → `m::g_forward`), spanned at the user's `g`.
pub fn forward_path(path: &TokenStream) -> TokenStream {
    let mut trees: Vec<TokenTree> = path.clone().into_iter().collect();
    if let Some(TokenTree::Ident(last)) = trees.last_mut() {
        *last = format_ident!("{}_forward", last, span = last.span());
    }
    trees.into_iter().collect()
}
