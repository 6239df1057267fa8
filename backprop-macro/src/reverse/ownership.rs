//! Ownership of gradients: an array gradient handed on whole by its last reader is moved
//! instead of copied, a gradient read only as a gate's upstream is left unwritten, and whether
//! a uniform upstream gradient keeps the shapes of a line's contributions.

use std::collections::{HashMap, HashSet};

use proc_macro2::{Ident, TokenStream, TokenTree};
use quote::ToTokens;

use crate::ir::{Operand, Program, VarId, idents_in};

use super::BackStmt;
use super::reads::{collect_mutable, stmt_idents};

/// An array gradient handed on whole (`let d_a = d_y.clone();`, `sum_to(d_y.clone(), ..)`, the
/// upstream of `relu_grad(&x, &d_y)`) by the last statement that reads it is moved instead:
/// never a returned gradient; inside a reversed loop or arm, only a gradient declared there (a
/// loop body runs again).
///
/// Returns the statements that now hand a gradient to a gate's gradient-only function as its
/// upstream, with the gradient's name.
pub(super) fn move_last_uses(
    program: &Program,
    grads: &HashMap<VarId, Ident>,
    stmts: &mut [BackStmt],
) -> Vec<(usize, String)> {
    let mut handed = Vec::new();
    let returned: HashSet<String> = program
        .params
        .iter()
        .filter_map(|p| grads.get(&p.var))
        .map(ToString::to_string)
        .collect();
    let gradients: HashSet<String> = grads.values().map(ToString::to_string).collect();
    let movable = |name: &str| gradients.contains(name) && !returned.contains(name);
    for i in 0..stmts.len() {
        let (head, tail) = stmts.split_at_mut(i + 1);
        clones_moved(program, &mut head[i], tail, &movable);
        let (BackStmt::Init { expr, moved, .. } | BackStmt::Accumulate { expr, moved, .. }) =
            &mut head[i]
        else {
            continue;
        };
        // What a rule offered to take by value, or a gradient handed on whole (`&d_y`).
        let offered = moved.take();
        let to_gate = offered.is_some();
        let Some((name, moved)) = offered
            .map(|(name, moved)| (name.to_string(), moved))
            .or_else(|| borrowed_whole(expr))
        else {
            continue;
        };
        let mut later = HashSet::new();
        tail.iter()
            .for_each(|s| stmt_idents(program, s, &mut later));
        if !returned.contains(&name) && !later.contains(&name) {
            *expr = moved;
            if to_gate {
                handed.push((i, name));
            }
        }
    }
    for stmt in stmts.iter_mut() {
        move_in_blocks(program, grads, stmt);
    }
    handed
}

/// The same inside the reversed loops and arms of `stmt`: a gradient declared in a block (one
/// iteration's, one arm's) and handed on whole by its last reader in that block is moved.
fn move_in_blocks(program: &Program, grads: &HashMap<VarId, Ident>, stmt: &mut BackStmt) {
    let block = |stmts: &mut Vec<BackStmt>| {
        let local: HashSet<String> = stmts
            .iter()
            .filter_map(|s| match s {
                BackStmt::Init { var, .. } => grads.get(var).map(ToString::to_string),
                _ => None,
            })
            .collect();
        for i in 0..stmts.len() {
            let (head, tail) = stmts.split_at_mut(i + 1);
            clones_moved(program, &mut head[i], tail, &|name| local.contains(name));
            if let BackStmt::Init { expr, .. } | BackStmt::Accumulate { expr, .. } = &mut head[i]
                && let Some((name, moved)) = borrowed_whole(expr)
                && local.contains(&name)
            {
                let mut later = HashSet::new();
                tail.iter()
                    .for_each(|s| stmt_idents(program, s, &mut later));
                if !later.contains(&name) {
                    *expr = moved;
                }
            }
        }
        for stmt in stmts.iter_mut() {
            move_in_blocks(program, grads, stmt);
        }
    };
    match stmt {
        BackStmt::For { body, fused, .. } => {
            block(body);
            if let Some(fused) = fused {
                block(fused);
            }
        }
        BackStmt::If {
            then, otherwise, ..
        } => {
            block(then);
            block(otherwise);
        }
        BackStmt::Guarded { body, .. } => block(body),
        _ => {}
    }
}

/// A gradient that its rule can leave unwritten (`one_hot` for `pick`) and that is read once,
/// by a gate's gradient-only function taking it as its upstream by value, is left unwritten:
/// that function folds it into its own buffer (see `handed` of [`move_last_uses`]).
pub(super) fn leave_unwritten(
    program: &Program,
    grads: &HashMap<VarId, Ident>,
    handed: &[(usize, String)],
    stmts: &mut [BackStmt],
) {
    for i in 0..stmts.len() {
        let (head, tail) = stmts.split_at_mut(i + 1);
        let BackStmt::Init {
            var,
            expr,
            unwritten,
            ..
        } = &mut head[i]
        else {
            continue;
        };
        let (Some(unwritten), Some(name)) = (unwritten.take(), grads.get(var)) else {
            continue;
        };
        let name = name.to_string();
        let mut added_to = HashSet::new();
        collect_mutable(tail, &mut added_to);
        let readers: Vec<usize> = tail
            .iter()
            .enumerate()
            .filter(|(_, s)| {
                let mut names = HashSet::new();
                stmt_idents(program, s, &mut names);
                names.contains(&name)
            })
            .map(|(k, _)| i + 1 + k)
            .collect();
        if let [reader] = readers[..]
            && !added_to.contains(var)
            && handed.contains(&(reader, name))
        {
            *expr = unwritten;
        }
    }
}

/// Whether every contribution to an array operand has that operand's shape (or is summed to
/// it) with a scalar upstream gradient `upstream`: it mentions the operand itself or the line's
/// value (other than through `upstream`). `b * d` for `a` in `a * b` does not: `b` may be
/// smaller than `a` and only the full upstream array broadcast it.
pub(super) fn keeps_shapes(
    program: &Program,
    assign: &crate::ir::Assign,
    backward: &crate::contributions::Backward,
    upstream: &TokenStream,
) -> bool {
    let mut in_upstream = HashSet::new();
    idents_in(upstream.clone(), &mut in_upstream);
    let output = program.vars[assign.target].ident.to_string();
    backward.setup.is_empty()
        && backward.contributions.iter().all(|c| {
            let operand = &assign.args[c.operand];
            let mut names = HashSet::new();
            idents_in(c.expr.clone(), &mut names);
            if !program.ty_of(operand).is_tensor() {
                // A scalar operand's contribution is summed over the line's elements: it needs
                // an array in it (`(a * d).sum()`), not the scalar upstream alone (`d` of
                // `a + s`, whose sum is `d` times the number of elements).
                return assign
                    .args
                    .iter()
                    .chain([&Operand::Var(assign.target)])
                    .any(|a| {
                        matches!(a, Operand::Var(v) if program.vars[*v].ty.is_tensor()
                        && names.contains(&program.vars[*v].ident.to_string())
                        && !in_upstream.contains(&program.vars[*v].ident.to_string()))
                    });
            }
            let own = match operand {
                Operand::Var(v) => program.vars[*v].ident.to_string(),
                _ => return false,
            };
            [own, output.clone()]
                .iter()
                .any(|name| names.contains(name) && !in_upstream.contains(name))
        })
}

/// `name.clone()` in `stmt`, of a gradient that `movable` allows and that no statement of
/// `tail` reads, becomes `name`: the upstream gradient an array-valued call takes by value
/// (`g_backward(.., d_h.clone())`) is handed over when the call is its last reader.
fn clones_moved(
    program: &Program,
    stmt: &mut BackStmt,
    tail: &[BackStmt],
    movable: &dyn Fn(&str) -> bool,
) {
    let (BackStmt::Setup(tokens)
    | BackStmt::Init { expr: tokens, .. }
    | BackStmt::Accumulate { expr: tokens, .. }) = stmt
    else {
        return;
    };
    let mut cloned = Vec::new();
    cloned_names(tokens.clone(), &mut cloned);
    cloned.retain(|name| movable(name));
    if cloned.is_empty() {
        return;
    }
    let mut later = HashSet::new();
    tail.iter()
        .for_each(|s| stmt_idents(program, s, &mut later));
    for name in cloned.iter().filter(|name| !later.contains(*name)) {
        *tokens = clone_as_move(tokens.clone(), name);
    }
}

/// The names `x` of the `x.clone()` in `tokens`, at any depth.
fn cloned_names(tokens: TokenStream, out: &mut Vec<String>) {
    let trees: Vec<TokenTree> = tokens.into_iter().collect();
    for (k, tree) in trees.iter().enumerate() {
        if let TokenTree::Group(group) = tree {
            cloned_names(group.stream(), out);
        }
        if let [
            TokenTree::Ident(name),
            TokenTree::Punct(dot),
            TokenTree::Ident(clone),
            TokenTree::Group(args),
        ] = &trees[k..(k + 4).min(trees.len())]
            && dot.as_char() == '.'
            && clone == "clone"
            && args.stream().is_empty()
            && (k == 0 || !matches!(&trees[k - 1], TokenTree::Punct(p) if p.as_char() == '.'))
        {
            out.push(name.to_string());
        }
    }
}

/// `tokens` with `name.clone()` written `name`.
fn clone_as_move(tokens: TokenStream, name: &str) -> TokenStream {
    let trees: Vec<TokenTree> = tokens.into_iter().collect();
    let mut out = Vec::new();
    let mut k = 0;
    while k < trees.len() {
        match &trees[k..(k + 4).min(trees.len())] {
            [
                TokenTree::Ident(ident),
                TokenTree::Punct(dot),
                TokenTree::Ident(clone),
                TokenTree::Group(args),
            ] if ident == name
                && dot.as_char() == '.'
                && clone == "clone"
                && args.stream().is_empty() =>
            {
                out.push(trees[k].clone());
                k += 4;
            }
            [TokenTree::Group(group), ..] => {
                let mut inner =
                    proc_macro2::Group::new(group.delimiter(), clone_as_move(group.stream(), name));
                inner.set_span(group.span());
                out.push(TokenTree::Group(inner));
                k += 1;
            }
            _ => {
                out.push(trees[k].clone());
                k += 1;
            }
        }
    }
    out.into_iter().collect()
}

/// The gradient an expression borrows whole (`&name`), and the expression moving it instead.
fn borrowed_whole(expr: &TokenStream) -> Option<(String, TokenStream)> {
    let tokens: Vec<TokenTree> = expr.clone().into_iter().collect();
    match tokens.as_slice() {
        [TokenTree::Punct(amp), TokenTree::Ident(name)] if amp.as_char() == '&' => {
            Some((name.to_string(), name.to_token_stream()))
        }
        _ => None,
    }
}
