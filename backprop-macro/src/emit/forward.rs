//! Forward lines: `let v = expr;`, writes into buffers, branches and loops, each spanned at the
//! user's code; and what a forward block pushes on the tapes the reverse pass pops.

use std::collections::HashSet;

use proc_macro2::TokenStream;
use quote::{ToTokens, quote, quote_spanned};

use crate::ir::{Block, LoopKind, Node, Operand, Program, StoreOp, Ty};
use crate::reverse::Reversed;
use crate::rules::{self, Prim, Syntax};

/// An array operand as an owned value: an array variable the function computed itself (unless
/// `copy`: a copy of it, which leaves it usable), anything else `.to_owned()`.
fn owned_value(program: &Program, operand: &Operand, copy: bool) -> TokenStream {
    match operand {
        // An array the function computed is moved; a parameter may be a view, and a copy of
        // a view (`.clone()`) would be a view too: both get `.to_owned()`.
        Operand::Var(v)
            if !copy
                && matches!(program.vars[*v].ty, Ty::Tensor { by_ref: false, .. })
                && !program.params.iter().any(|p| p.var == *v) =>
        {
            program.vars[*v].ident.to_token_stream()
        }
        Operand::Var(v) => {
            let ident = &program.vars[*v].ident;
            quote!(#ident.to_owned())
        }
        other => {
            let value = rules::render_bare(program, other);
            quote!((#value).to_owned())
        }
    }
}

/// One forward line: `let v = expr;` (or a branch, or a loop). `tapes`: push on the tapes what
/// the reverse pass gets back from them (the forward pass; not a line recomputed by the reverse).
pub(super) fn forward_node(
    program: &Program,
    node: &Node,
    tapes: Option<&Reversed>,
) -> TokenStream {
    match node {
        // A call in split mode: its value, and the closure of its reverse.
        Node::Assign(assign)
            if let Prim::Call {
                path,
                backward,
                pass,
                reverse: Some(reverse),
                ..
            } = &assign.prim =>
        {
            let forward = Prim::Call {
                path: crate::split::forward_path(path),
                backward: backward.clone(),
                pass: pass.clone(),
                reverse: None,
                parts: None,
                structs: Vec::new(),
                held: false,
            };
            let float = program.vars[assign.target].ty.float();
            let call = rules::forward(
                &forward,
                program,
                &assign.args,
                float.unwrap_or(crate::ir::FloatTy::F64),
            );
            let (ident, reverse) = (
                &program.vars[assign.target].ident,
                &program.vars[*reverse].ident,
            );
            quote_spanned!(assign.span=> let (#ident, #reverse) = #call;)
        }
        // A part of a tuple result: bound by its call's pattern. A function's tuple value: built
        // where it is returned.
        Node::Assign(assign) if matches!(assign.prim, Prim::Field(_) | Prim::Tuple(_)) => {
            TokenStream::new()
        }
        // `let (h, c) = g(..);`: the call taken apart as the user wrote it.
        Node::Assign(assign)
            if let Prim::Call {
                parts: Some(parts), ..
            } = &assign.prim =>
        {
            let call = rules::forward(&assign.prim, program, &assign.args, crate::ir::FloatTy::F64);
            // A part nothing reads is `_`, as the user may have written it (not under `tapes:
            // None`, the tangent passes, which do not track reads).
            let pattern = parts.render(&mut |v| {
                let ident = &program.vars[v].ident;
                match tapes {
                    Some(reversed) if !reversed.needed.contains(&ident.to_string()) => quote!(_),
                    _ => ident.to_token_stream(),
                }
            });
            let annotation = assign.annotation.as_ref().map(|a| quote!(: #a));
            quote_spanned!(assign.span=> let #pattern #annotation = #call;)
        }
        Node::Assign(assign) => {
            let var = &program.vars[assign.target];
            let ident = &var.ident;
            let float = var.ty.float().unwrap_or(crate::ir::FloatTy::F64);
            let copy = matches!(&assign.prim, Prim::Table { rule, .. } if rule.name == "copy");
            let expr = match (&assign.args[..], &var.ty) {
                // A buffer that starts as a copy of an array.
                ([Operand::Var(source)], Ty::Array { len, .. }) if var.buffer && copy => {
                    let source = &program.vars[*source].ident;
                    match len {
                        Some(_) => quote!(#source.clone()),
                        None => quote!(#source.to_vec()),
                    }
                }
                ([Operand::Var(source)], Ty::Tensor { .. }) if var.buffer && copy => {
                    let source = &program.vars[*source].ident;
                    quote!(#source.to_owned())
                }
                // A new name of an owned array (`h = next_h;` carried by a loop): a copy, the
                // array itself where it is read last (see `emit/lines.rs`).
                ([Operand::Var(source)], Ty::Tensor { .. })
                    if copy
                        && matches!(program.vars[*source].ty, Ty::Tensor { by_ref: false, .. }) =>
                {
                    let source = &program.vars[*source].ident;
                    quote!(#source.clone())
                }
                _ => rules::forward(&assign.prim, program, &assign.args, float),
            };
            // `let s = 0.0;` later combined with f64 values: say so, or `s.exp()` would not
            // compile on the ambiguous `{float}`.
            let annotation = match (&assign.annotation, &assign.prim, &assign.args[..], &var.ty) {
                (Some(a), ..) => Some(a.clone()),
                (
                    None,
                    Prim::Table { rule, .. },
                    [
                        Operand::Const {
                            ty: Ty::FloatLit, ..
                        },
                    ],
                    Ty::Float(f),
                ) if matches!(rule.syntax, Syntax::Copy) => Some(f.ident().to_token_stream()),
                _ => None,
            };
            // A buffer is declared with its type, which its writes alone may not settle.
            if var.buffer && var.ty.is_tensor() {
                return quote_spanned!(assign.span=> let mut #ident = #expr;);
            }
            if var.buffer {
                let ty = annotation.unwrap_or_else(|| match &var.ty {
                    Ty::Array {
                        elem,
                        len: Some(len),
                    } => {
                        let elem = elem.ident();
                        quote!([#elem; #len])
                    }
                    _ => {
                        let elem = float.ident();
                        quote!(::std::vec::Vec<#elem>)
                    }
                });
                return quote_spanned!(assign.span=> let mut #ident: #ty = #expr;);
            }
            let annotation = annotation.map(|a| quote!(: #a));
            quote_spanned!(assign.span=> let #ident #annotation = #expr;)
        }
        Node::Store(store) => {
            let buffer = &program.vars[store.buffer].ident;
            let (index, value) = (&store.index, rules::render_bare(program, &store.value));
            // A taped buffer keeps the value it overwrites, for the reverse pass.
            let keep = tapes
                .and_then(|t| t.restores.get(&store.buffer))
                .filter(|_| store.saved)
                .map(|tape| quote!(#tape.push(#buffer[#index]);));
            let write = match store.op {
                StoreOp::Set => quote_spanned!(store.span=> #buffer[#index] = #value;),
                StoreOp::Add => quote_spanned!(store.span=> #buffer[#index] += #value;),
                StoreOp::Sub => quote_spanned!(store.span=> #buffer[#index] -= #value;),
            };
            quote!(#keep #write)
        }
        Node::Branch(branch) => {
            let value = branch_expr(
                program,
                &branch.cond,
                &branch.then,
                &branch.otherwise,
                tapes,
            );
            bind_branch(program, branch, value)
        }
        Node::Loop(l) => forward_loop(program, l, tapes, None),
    }
}

/// A forward loop; `fused`: an iteration's reverse, run at the end of each iteration (while
/// the carried variables still hold the values the iteration started with).
pub(super) fn forward_loop(
    program: &Program,
    l: &crate::ir::Loop,
    tapes: Option<&Reversed>,
    fused: Option<Vec<TokenStream>>,
) -> TokenStream {
    {
        {
            let mut before = Vec::new();
            let mut at_start = Vec::new();
            let mut at_end = Vec::new();
            let mut after = Vec::new();
            for (c, exit) in l.carried.iter().zip(&l.body.results) {
                let inner = &program.vars[c.inner].ident;
                let updated = !matches!(exit, Operand::Var(v) if *v == c.inner);
                // An array is owned by the loop that carries it.
                let array = program.vars[c.inner].ty.is_tensor();
                let (entry, exit) = if array {
                    (
                        owned_value(program, &c.entry, true),
                        owned_value(program, exit, false),
                    )
                } else {
                    (
                        rules::render_bare(program, &c.entry),
                        rules::render_bare(program, exit),
                    )
                };
                let tape = tapes.and_then(|t| t.tapes.get(&c.inner));
                if updated {
                    before.push(quote!(let mut #inner = #entry;));
                } else {
                    before.push(quote!(let #inner = #entry;));
                }
                match tape {
                    // The array an iteration started from goes to the tape as the next one
                    // replaces it: no copy.
                    Some(tape) if array && updated && l.exit.is_none() => {
                        at_end.push(quote!(#tape.push(::std::mem::replace(&mut #inner, #exit));));
                    }
                    Some(tape) => {
                        let value = if array {
                            quote!(#inner.clone())
                        } else {
                            quote!(#inner)
                        };
                        at_start.push(quote!(#tape.push(#value);));
                        if updated {
                            at_end.push(quote!(#inner = #exit;));
                        }
                    }
                    None if updated => at_end.push(quote!(#inner = #exit;)),
                    None => {}
                }
                let after_ident = &program.vars[c.after].ident;
                after.push(quote!(let #after_ident = #inner;));
            }
            // A buffer the loop sets every element of keeps its old contents whole.
            for buffer in &l.saved_whole {
                if let Some(tape) = tapes.and_then(|t| t.restores.get(buffer)) {
                    let buffer = &program.vars[*buffer].ident;
                    before.push(quote!(#tape.push_slice(&#buffer);));
                }
            }
            let mut body: Vec<TokenStream> = match fused {
                Some(fused) => fused,
                None => l
                    .body
                    .nodes
                    .iter()
                    .map(|n| forward_node(program, n, tapes))
                    .chain(pushes(program, tapes, &l.body.nodes, &l.body.results))
                    .collect(),
            };
            if let Some(exit) = &l.exit {
                // The breaking iteration leaves the carried variables where its first lines
                // left them, and tells the reverse pass that it ran.
                let leave: Vec<TokenStream> = l
                    .carried
                    .iter()
                    .zip(&exit.pre_results)
                    .filter(|(c, r)| !matches!(r, Operand::Var(v) if *v == c.inner))
                    .map(|(c, r)| {
                        let inner = &program.vars[c.inner].ident;
                        // An array is handed over (copied if it is another carried array).
                        let value = if program.vars[c.inner].ty.is_tensor() {
                            let carried = matches!(r, Operand::Var(v)
                                if l.carried.iter().any(|c| c.inner == *v));
                            owned_value(program, r, carried)
                        } else {
                            rules::render_bare(program, r)
                        };
                        quote!(#inner = #value;)
                    })
                    .collect();
                let cond = &exit.cond;
                let mark = break_record(program, l, exit, &mut before, &mut at_end);
                let kept = pushes(
                    program,
                    tapes,
                    &l.body.nodes[..exit.pre_len],
                    &exit.pre_results,
                );
                body.insert(
                    exit.pre_len,
                    quote!(if #cond { #(#kept)* #(#leave)* #mark break; }),
                );
            }
            match &l.kind {
                LoopKind::For { index, range, rev } => {
                    let index = &program.vars[*index].ident;
                    let range = if *rev {
                        quote!((#range).rev())
                    } else {
                        quote!(#range)
                    };
                    quote_spanned! {l.span=>
                        #(#before)*
                        for #index in #range {
                            #(#at_start)*
                            #(#body)*
                            #(#at_end)*
                        }
                        #(#after)*
                    }
                }
                LoopKind::While { cond, trips } => {
                    // `loop { .. }` is lowered as `while true`, and printed as it was written.
                    let head = if cond.to_string() == "true" {
                        quote!(loop)
                    } else {
                        quote!(while #cond)
                    };
                    quote_spanned! {l.span=>
                    #(#before)*
                    let mut #trips = 0usize;
                    #head {
                        #(#at_start)*
                        #(#body)*
                        #(#at_end)*
                        #trips += 1;
                    }
                    #(#after)*
                    }
                }
            }
        }
    }
}

/// The pushes at the end of a forward block (a loop body, an arm) of what the reverse of the
/// block gets back from tapes: the values the lines `nodes` made, and the trip counts and
/// break records of their loops. A buffer or an array is handed to its tape, unless the
/// block's `results` still read it.
fn pushes(
    program: &Program,
    tapes: Option<&Reversed>,
    nodes: &[Node],
    results: &[Operand],
) -> Vec<TokenStream> {
    let Some(tapes) = tapes else {
        return Vec::new();
    };
    let mut read = HashSet::new();
    results
        .iter()
        .for_each(|r| crate::ir::idents_in(rules::render(program, r), &mut read));
    let mut out = Vec::new();
    for node in nodes {
        for t in node.targets() {
            if let Some(tape) = tapes.shapes.get(&t) {
                let ident = &program.vars[t].ident;
                out.push(quote!(#tape.push(#ident.raw_dim());));
            }
            if let Some(tape) = tapes.records.get(&t) {
                let var = &program.vars[t];
                let ident = &var.ident;
                let copied = matches!(var.ty, Ty::Float(_) | Ty::FloatLit | Ty::Other)
                    || matches!(var.ty, Ty::Array { len: Some(_), .. });
                if copied || !read.contains(&ident.to_string()) {
                    out.push(quote!(#tape.push(#ident);));
                } else {
                    out.push(quote!(#tape.push(#ident.clone());));
                }
            }
        }
        if let Node::Loop(l) = node {
            for c in crate::record::counters(l) {
                if let Some(tape) = tapes.counts.get(&c) {
                    let ident = proc_macro2::Ident::new(&c, proc_macro2::Span::call_site());
                    out.push(quote!(#tape.push(#ident);));
                }
            }
        }
    }
    out
}

/// `let target = value;` (or a tuple of targets) for a branch's `if` expression.
pub(super) fn bind_branch(
    program: &Program,
    branch: &crate::ir::Branch,
    value: TokenStream,
) -> TokenStream {
    let idents: Vec<&proc_macro2::Ident> = branch
        .targets
        .iter()
        .map(|t| &program.vars[*t].ident)
        .collect();
    match idents.as_slice() {
        // An `if` that only writes into buffers.
        [] => quote_spanned!(branch.span=> #value),
        [one] => quote_spanned!(branch.span=> let #one = #value;),
        many => quote_spanned!(branch.span=> let (#(#many),*) = #value;),
    }
}

fn branch_expr(
    program: &Program,
    cond: &TokenStream,
    then: &Block,
    otherwise: &Block,
    tapes: Option<&Reversed>,
) -> TokenStream {
    let then = block_expr(program, then, tapes);
    // `else { let v = if .. ; v }` reads better as `else if ..`.
    let results_are = |targets: &[usize]| {
        otherwise.results.len() == targets.len()
            && otherwise
                .results
                .iter()
                .zip(targets)
                .all(|(r, t)| matches!(r, Operand::Var(v) if v == t))
    };
    let otherwise = match &otherwise.nodes[..] {
        [Node::Branch(inner)]
            if results_are(&inner.targets)
                && tapes.is_none_or(|t| {
                    pushes(program, Some(t), &otherwise.nodes, &otherwise.results).is_empty()
                }) =>
        {
            branch_expr(program, &inner.cond, &inner.then, &inner.otherwise, tapes)
        }
        _ => block_expr(program, otherwise, tapes),
    };
    quote!(if #cond #then else #otherwise)
}

fn block_expr(program: &Program, block: &Block, tapes: Option<&Reversed>) -> TokenStream {
    let kept = pushes(program, tapes, &block.nodes, &block.results);
    // `{ let r_mul = a * b; r_mul }` reads better as `{ a * b }`.
    if let (Some((Node::Assign(last), rest)), [Operand::Var(result)], true) = (
        block.nodes.split_last(),
        &block.results[..],
        kept.is_empty(),
    ) && last.target == *result
    {
        let nodes = rest.iter().map(|n| forward_node(program, n, tapes));
        let float = program.vars[*result]
            .ty
            .float()
            .unwrap_or(crate::ir::FloatTy::F64);
        let value = rules::forward(&last.prim, program, &last.args, float);
        return quote!({ #(#nodes)* #value });
    }
    let nodes = block
        .nodes
        .iter()
        .map(|n| forward_node(program, n, tapes))
        .chain(kept);
    // An array is the arm's value as an array, not a reference to one: the branch's target
    // may be a variable that holds an array (`h_1 = h_3;` of a carried `h`).
    let results: Vec<TokenStream> = block
        .results
        .iter()
        .map(|r| match r {
            Operand::Var(v) if matches!(program.vars[*v].ty, Ty::Tensor { by_ref: false, .. }) => {
                let ident = &program.vars[*v].ident;
                quote!(#ident.clone())
            }
            r => rules::render_bare(program, r),
        })
        .collect();
    match results.as_slice() {
        [] => quote!({ #(#nodes)* }),
        [one] => quote!({ #(#nodes)* #one }),
        many => quote!({ #(#nodes)* (#(#many),*) }),
    }
}

/// The record of a loop's `break` that the reverse pass (or the lines after the loop) reads:
/// its declarations go to `before`, the per-iteration count to `at_end`; returns the
/// statement the breaking guard runs (`broke = Some(i);` of a `for`, `broke = true;`).
pub(super) fn break_record(
    program: &Program,
    l: &crate::ir::Loop,
    exit: &crate::ir::LoopExit,
    before: &mut Vec<TokenStream>,
    at_end: &mut Vec<TokenStream>,
) -> TokenStream {
    let (broke, trips) = (&exit.broke, &exit.trips);
    match &l.kind {
        LoopKind::For { index, .. } => {
            let index = &program.vars[*index].ident;
            before.push(quote!(let mut #broke = None;));
            before.push(quote!(let mut #trips = 0usize;));
            at_end.push(quote!(#trips += 1;));
            quote!(#broke = Some(#index);)
        }
        LoopKind::While { .. } => {
            before.push(quote!(let mut #broke = false;));
            quote!(#broke = true;)
        }
    }
}
