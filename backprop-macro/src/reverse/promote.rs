//! Gradient elements accumulated in a register across a reversed loop.
//!
//! The reverse of `for r in j + 1..d { q[r] += l[idx] * c[j]; idx += 1; }` adds to `d_c[j]`
//! in every iteration, at an index the loop does not change. Written as `d_c[j] += ..`, each
//! iteration loads and stores the element: rustc cannot keep it in a register, since the
//! other gradients the iteration writes (`d_l[idx] += ..`) might, for all it knows, be the same
//! memory, and the loop runs at the speed of a store followed by a load of the same address.
//! A hand-written backward sums into a local, as this pass writes it:
//!
//! ```text
//! let mut d_c_j = d_c[j];
//! for r in (j + 1..d).rev() { ..; d_c_j += l[idx_2] * d_q; }
//! d_c[j] = d_c_j;
//! ```
//!
//! The additions happen in the same order on the same values, so the result is the same bit
//! for bit. Only a loop's own statements are promoted (not those of a branch arm inside it),
//! and only when nothing else in the loop reads or writes that gradient, and no name of the
//! index is assigned in the loop.

use std::collections::{HashMap, HashSet};

use proc_macro2::{Ident, TokenStream, TokenTree};
use quote::quote;

use crate::ir::{Program, Ty, VarId, defined_in_node, idents_in, is_range};
use crate::naming::Namer;

use super::BackStmt;
use super::reads::stmt_idents;

/// Promotes accumulations in every loop of `stmts`, nested ones included.
pub(super) fn promote(
    program: &Program,
    grads: &HashMap<VarId, Ident>,
    namer: &mut Namer,
    stmts: &mut Vec<BackStmt>,
) {
    promote_all(program, grads, namer, &mut Vec::new(), true, stmts);
}

/// `promote` inside the loops whose indices are `enclosing`. `fusable`: the statements may be
/// emitted with their forward lines, where a loop whose iterations only accumulate runs inside
/// its forward loop (`emit::lines`), away from the lines this pass puts beside it; the body of
/// a reversed loop never is.
fn promote_all(
    program: &Program,
    grads: &HashMap<VarId, Ident>,
    namer: &mut Namer,
    enclosing: &mut Vec<String>,
    fusable: bool,
    stmts: &mut Vec<BackStmt>,
) {
    let mut k = 0;
    while k < stmts.len() {
        let (before, after) = match &mut stmts[k] {
            BackStmt::For {
                index, body, fused, ..
            } => {
                enclosing.push(index.to_string());
                if let Some(fused) = fused {
                    promote_all(program, grads, namer, enclosing, true, fused);
                }
                if fusable && fused.is_some() {
                    // Only one of the two reverses is written out, most often the fused one:
                    // the names the other takes are not kept from the rest of the function.
                    promote_all(program, grads, &mut namer.clone(), enclosing, false, body);
                } else {
                    promote_all(program, grads, namer, enclosing, false, body);
                }
                enclosing.pop();
                if fusable && fused.is_some() {
                    (Vec::new(), Vec::new())
                } else {
                    promote_in(program, grads, namer, enclosing, index, body)
                }
            }
            BackStmt::If {
                then, otherwise, ..
            } => {
                promote_all(program, grads, namer, enclosing, fusable, then);
                promote_all(program, grads, namer, enclosing, fusable, otherwise);
                (Vec::new(), Vec::new())
            }
            BackStmt::Guarded { body, .. } => {
                promote_all(program, grads, namer, enclosing, fusable, body);
                (Vec::new(), Vec::new())
            }
            _ => (Vec::new(), Vec::new()),
        };
        let (b, a) = (before.len(), after.len());
        stmts.splice(k + 1..k + 1, after);
        stmts.splice(k..k, before);
        k += b + a + 1;
    }
}

/// The accumulations of one loop's body that can be promoted, rewritten; the lines to put
/// before the loop (`let mut d_c_j = d_c[j];`) and after it (`d_c[j] = d_c_j;`).
fn promote_in(
    program: &Program,
    grads: &HashMap<VarId, Ident>,
    namer: &mut Namer,
    enclosing: &[String],
    index: &Ident,
    body: &mut [BackStmt],
) -> (Vec<BackStmt>, Vec<BackStmt>) {
    // The element is read before the loop and written after it even when the loop runs no
    // iteration: only indices that cannot be out of range or overflow then are promoted, made
    // of the enclosing loops' indices, parameters and literals added and multiplied (`j`,
    // `c * d + j`).
    let mut allowed: HashSet<String> = enclosing.iter().cloned().collect();
    allowed.extend(
        program
            .params
            .iter()
            .map(|p| program.vars[p.var].ident.to_string()),
    );
    let mut written = HashSet::from([index.to_string()]);
    body.iter()
        .for_each(|s| assigned(program, grads, s, &mut written));
    // Each candidate gradient with the one index it is added to at.
    let mut candidates: Vec<(VarId, String, TokenStream)> = Vec::new();
    let mut rejected: HashSet<VarId> = HashSet::new();
    for stmt in body.iter() {
        if let BackStmt::Accumulate {
            var,
            element: Some(element),
            expr,
            ..
        } = stmt
        {
            let Some(d) = grads.get(var) else { continue };
            let mut index_names = HashSet::new();
            idents_in(element.clone(), &mut index_names);
            let mut expr_names = HashSet::new();
            idents_in(expr.clone(), &mut expr_names);
            let invariant = !expr_names.contains(&d.to_string())
                && !index_names.contains(&d.to_string())
                && !is_range(element)
                && safe_index(element.clone(), &allowed)
                && matches!(program.vars[*var].ty, Ty::Array { .. })
                && index_names.iter().all(|n| !written.contains(n));
            let key = element.to_string();
            match candidates.iter().find(|(v, _, _)| v == var) {
                _ if !invariant => {
                    rejected.insert(*var);
                }
                Some((_, k, _)) if *k != key => {
                    rejected.insert(*var);
                }
                Some(_) => {}
                None => candidates.push((*var, key, element.clone())),
            }
        }
    }
    candidates.retain(|(v, _, _)| !rejected.contains(v));
    // Nothing else in the loop may read or write the gradient.
    candidates.retain(|(var, key, _)| {
        let d = grads[var].to_string();
        body.iter().all(|s| match s {
            BackStmt::Accumulate {
                var: v,
                element: Some(e),
                ..
            } if v == var && e.to_string() == *key => true,
            other => {
                let mut names = HashSet::new();
                stmt_idents(program, other, &mut names);
                targets(grads, other, &mut names);
                !names.contains(&d)
            }
        })
    });
    let (mut before, mut after) = (Vec::new(), Vec::new());
    for (var, key, element) in candidates {
        let d = &grads[&var];
        let mut parts: Vec<String> = Vec::new();
        collect_names(element.clone(), &mut parts);
        // Joined with `_`: an empty part would make `d_w__1`, which is not snake case.
        parts.retain(|part| !part.is_empty());
        if parts.is_empty() {
            parts.push("element".to_string());
        }
        let acc = namer.fresh(&format!("{d}_{}", parts.join("_")));
        before.push(BackStmt::Raw(quote!(let mut #acc = #d[#element];)));
        for stmt in body.iter_mut() {
            if let BackStmt::Accumulate {
                var: v,
                element: Some(e),
                expr,
                ..
            } = stmt
                && *v == var
                && e.to_string() == key
            {
                *stmt = BackStmt::Raw(quote!(#acc += #expr;));
            }
        }
        after.push(BackStmt::SetElement {
            var,
            index: element,
            expr: quote!(#acc),
        });
    }
    (before, after)
}

/// Whether an index is made of `allowed` names and integer literals, added and multiplied.
fn safe_index(tokens: TokenStream, allowed: &HashSet<String>) -> bool {
    tokens.into_iter().all(|tree| match tree {
        TokenTree::Ident(i) => allowed.contains(&i.to_string()),
        TokenTree::Literal(_) => true,
        TokenTree::Punct(p) => matches!(p.as_char(), '+' | '*'),
        TokenTree::Group(g) => {
            g.delimiter() == proc_macro2::Delimiter::Parenthesis && safe_index(g.stream(), allowed)
        }
    })
}

/// The identifiers and integers of `tokens` in order (for a readable name: `c * d + j` gives
/// `c_d_j`, `1` gives `1`).
fn collect_names(tokens: TokenStream, out: &mut Vec<String>) {
    for tree in tokens {
        match tree {
            TokenTree::Ident(i) => out.push(i.to_string()),
            TokenTree::Literal(l) => out.push(
                l.to_string()
                    .chars()
                    .filter(char::is_ascii_alphanumeric)
                    .collect(),
            ),
            TokenTree::Group(g) => collect_names(g.stream(), out),
            _ => {}
        }
    }
}

/// The gradient a statement adds to, assigns or declares.
fn targets(grads: &HashMap<VarId, Ident>, stmt: &BackStmt, out: &mut HashSet<String>) {
    match stmt {
        BackStmt::Init { var, .. }
        | BackStmt::Accumulate { var, .. }
        | BackStmt::SetElement { var, .. }
        | BackStmt::Zero { var } => {
            if let Some(d) = grads.get(var) {
                out.insert(d.to_string());
            }
        }
        BackStmt::If {
            then, otherwise, ..
        } => then
            .iter()
            .chain(otherwise)
            .for_each(|s| targets(grads, s, out)),
        BackStmt::For { body, .. } | BackStmt::Guarded { body, .. } => {
            body.iter().for_each(|s| targets(grads, s, out))
        }
        _ => {}
    }
}

/// Every name a statement may assign: what it declares or pops, the values a recomputed line
/// defines, a nested loop's index, and in written-out lines any name followed by an assignment
/// (`idx_2 -= 1;`, `x[i] = ..`) or bound by a `let`.
fn assigned(
    program: &Program,
    grads: &HashMap<VarId, Ident>,
    stmt: &BackStmt,
    out: &mut HashSet<String>,
) {
    targets(grads, stmt, out);
    match stmt {
        BackStmt::Forward(node) => {
            let mut defined = HashSet::new();
            defined_in_node(node, &mut defined);
            let mut stored = Vec::new();
            node.stores(&mut stored);
            out.extend(
                defined
                    .into_iter()
                    .chain(stored)
                    .map(|v| program.vars[v].ident.to_string()),
            );
        }
        BackStmt::Pop { name, .. } => {
            out.insert(name.to_string());
        }
        BackStmt::Setup(tokens) | BackStmt::Raw(tokens) => written_in(tokens.clone(), out),
        BackStmt::Guarded { head, body } => {
            written_in(head.clone(), out);
            body.iter().for_each(|s| assigned(program, grads, s, out));
        }
        BackStmt::For { index, body, .. } => {
            out.insert(index.to_string());
            body.iter().for_each(|s| assigned(program, grads, s, out));
        }
        BackStmt::If {
            then, otherwise, ..
        } => then
            .iter()
            .chain(otherwise)
            .for_each(|s| assigned(program, grads, s, out)),
        _ => {}
    }
}

/// Names assigned in written-out tokens: bound by a `let` (every name of its pattern), or
/// followed (after an index) by `=` or a compound assignment. Conservative: `a <= b` counts `a`.
fn written_in(tokens: TokenStream, out: &mut HashSet<String>) {
    let trees: Vec<TokenTree> = tokens.into_iter().collect();
    let mut k = 0;
    while k < trees.len() {
        match &trees[k] {
            TokenTree::Ident(i) if i == "let" || i == "for" => {
                // Every name up to the `=` (or `in`) that ends the pattern.
                k += 1;
                while k < trees.len() {
                    match &trees[k] {
                        TokenTree::Punct(p) if p.as_char() == '=' => break,
                        TokenTree::Ident(i) if i == "in" => break,
                        TokenTree::Ident(i) => {
                            out.insert(i.to_string());
                        }
                        TokenTree::Group(g) => idents_in(g.stream(), out),
                        _ => {}
                    }
                    k += 1;
                }
            }
            TokenTree::Ident(i) => {
                let mut j = k + 1;
                while matches!(trees.get(j), Some(TokenTree::Group(g)) if g.delimiter() == proc_macro2::Delimiter::Bracket)
                {
                    j += 1;
                }
                let assigns = match (trees.get(j), trees.get(j + 1)) {
                    (Some(TokenTree::Punct(p)), _)
                        if p.as_char() == '=' && p.spacing() == proc_macro2::Spacing::Alone =>
                    {
                        true
                    }
                    (Some(TokenTree::Punct(op)), Some(TokenTree::Punct(eq)))
                        if op.spacing() == proc_macro2::Spacing::Joint
                            && eq.as_char() == '='
                            && op.as_char() != '=' =>
                    {
                        true
                    }
                    _ => false,
                };
                if assigns {
                    out.insert(i.to_string());
                }
            }
            TokenTree::Group(g) => written_in(g.stream(), out),
            _ => {}
        }
        k += 1;
    }
}
