//! Reverse statements moved into the arm where their gradient is not zero.
//!
//! A gradient first reached inside a branch is declared zero before it (`let mut d_m = 0.0;`)
//! and added to in one arm only. What the reverse pass does with it afterwards (the reverse of
//! the lines before the branch, `for k in (0..d).rev() { d_w[..] += x[..] * d_m; }`) adds
//! exactly zero when the other arm ran, so it moves into the arm that adds to it, as a
//! hand-written backward puts `dW[:, j] += X[i]` inside `if margin > 0`. Only statements whose
//! gradients all come from that one (no tape pops, no other gradient read) move, and only when
//! nothing left behind reads what they declare.

use std::collections::{HashMap, HashSet};

use proc_macro2::{Ident, TokenTree};

use crate::ir::{Program, VarId};

use super::BackStmt;
use super::reads::stmt_idents;

/// Moves statements of every block of `stmts`, nested ones included.
pub(super) fn sink(
    program: &Program,
    grads: &HashMap<VarId, Ident>,
    storage: &HashSet<VarId>,
    stmts: &mut Vec<BackStmt>,
) {
    let names: HashSet<String> = grads.values().map(ToString::to_string).collect();
    // The gradients the function returns, and those a loop keeps across iterations, are read
    // after the block that assigns them: they stay where they are.
    let kept: HashSet<String> = program
        .params
        .iter()
        .map(|p| p.var)
        .chain(storage.iter().copied())
        .filter_map(|v| grads.get(&v))
        .map(ToString::to_string)
        .collect();
    let returned: HashSet<String> = program
        .params
        .iter()
        .filter_map(|p| grads.get(&p.var))
        .map(ToString::to_string)
        .collect();
    let context = Context {
        program,
        grads,
        names: &names,
        kept: &kept,
        returned: &returned,
    };
    block(&context, stmts);
}

struct Context<'a> {
    program: &'a Program,
    grads: &'a HashMap<VarId, Ident>,
    /// Every gradient's name.
    names: &'a HashSet<String>,
    kept: &'a HashSet<String>,
    /// The gradients the function returns.
    returned: &'a HashSet<String>,
}

fn block(cx: &Context, stmts: &mut Vec<BackStmt>) {
    let mut z = 0;
    while z + 1 < stmts.len() {
        if let Some(moved) = movable(cx, stmts, z) {
            let mut taken = Vec::new();
            let mut k = z + 2;
            let mut index = 0;
            while k < stmts.len() {
                if moved.contains(&index) {
                    taken.push(stmts.remove(k));
                } else {
                    k += 1;
                }
                index += 1;
            }
            let var = zeroed(&stmts[z]).unwrap_or_default();
            if let BackStmt::If {
                then, otherwise, ..
            } = &mut stmts[z + 1]
            {
                let arm = if writes(then, var) { then } else { otherwise };
                arm.extend(taken);
            }
        }
        z += 1;
    }
    for stmt in stmts.iter_mut() {
        match stmt {
            BackStmt::For { body, fused, .. } => {
                block(cx, body);
                if let Some(fused) = fused {
                    block(cx, fused);
                }
            }
            BackStmt::If {
                then, otherwise, ..
            } => {
                block(cx, then);
                block(cx, otherwise);
            }
            BackStmt::Guarded { body, .. } => block(cx, body),
            _ => {}
        }
    }
}

/// The gradient a `let mut d_m = 0.0;` declares.
fn zeroed(stmt: &BackStmt) -> Option<VarId> {
    match stmt {
        BackStmt::Zero { var } => Some(*var),
        _ => None,
    }
}

/// For `let mut d_m = 0.0;` at `z` followed by a branch whose one arm only adds to `d_m`: the
/// positions (counted from `z + 2`) of the statements after it that read only gradients
/// derived from `d_m`, when nothing after them reads what they declare.
fn movable(cx: &Context, stmts: &[BackStmt], z: usize) -> Option<HashSet<usize>> {
    let (program, grads, names) = (cx.program, cx.grads, cx.names);
    let var = zeroed(&stmts[z])?;
    let BackStmt::If {
        then, otherwise, ..
    } = &stmts[z + 1]
    else {
        return None;
    };
    let name = grads.get(&var)?.to_string();
    let mentions = |arm: &[BackStmt]| {
        let mut read = HashSet::new();
        arm.iter().for_each(|s| stmt_idents(program, s, &mut read));
        read.contains(&name) || writes(arm, var)
    };
    if mentions(then) == mentions(otherwise) {
        return None;
    }
    let root = name.clone();
    let mut derived = HashSet::from([name]);
    let mut moved = HashSet::new();
    for (index, stmt) in stmts[z + 2..].iter().enumerate() {
        // Another contribution to `d_m` after the branch: it is not zero in the other arm.
        if writes(std::slice::from_ref(stmt), var) {
            return None;
        }
        let mut read = HashSet::new();
        stmt_idents(program, stmt, &mut read);
        let mut inside = declared_inside(grads, stmt);
        inside.extend(declared_here(grads, stmt));
        let gradients: Vec<&String> = read
            .iter()
            .filter(|n| names.contains(*n) && !inside.contains(*n))
            .collect();
        let reads_derived = gradients.iter().any(|n| derived.contains(*n));
        // A declaration of a returned gradient, or an assignment to one a loop keeps.
        let keeps = declared_here(grads, stmt)
            .iter()
            .any(|n| cx.returned.contains(n))
            || written_by(grads, stmt).iter().any(|n| cx.kept.contains(n));
        // Reversed loops, the carried gradients they start from, and contributions.
        let kind = match stmt {
            BackStmt::For { .. } | BackStmt::Accumulate { .. } | BackStmt::SetElement { .. } => {
                true
            }
            BackStmt::Raw(tokens) => tokens.to_string().starts_with("let mut"),
            _ => false,
        };
        // Only a run of statements right after the branch moves: what it reads is then
        // declared before the branch, or by the run itself.
        if kind
            && moved.len() == index
            && reads_derived
            && gradients.iter().all(|n| derived.contains(*n))
            && !has_tape_work(stmt)
            && !keeps
        {
            moved.insert(index);
            derived.extend(declared_here(grads, stmt));
            continue;
        }
        // What stays must neither read nor write what moves (the root stays where it is).
        let mut written = HashSet::new();
        written_names(grads, std::slice::from_ref(stmt), &mut written);
        if read
            .iter()
            .chain(&written)
            .any(|n| derived.contains(n) && *n != root)
        {
            return None;
        }
    }
    (!moved.is_empty()).then_some(moved)
}

/// The gradients `stmt` itself assigns (not in its nested blocks): a kept gradient assigned
/// in one arm only would keep its old value in the other.
fn written_by(grads: &HashMap<VarId, Ident>, stmt: &BackStmt) -> Vec<String> {
    match stmt {
        BackStmt::Init { var, .. } => grads
            .get(var)
            .map(ToString::to_string)
            .into_iter()
            .collect(),
        _ => Vec::new(),
    }
}

/// The names of the gradients `stmts` write, nested blocks included.
fn written_names(grads: &HashMap<VarId, Ident>, stmts: &[BackStmt], out: &mut HashSet<String>) {
    for s in stmts {
        match s {
            BackStmt::Init { var, .. }
            | BackStmt::Accumulate { var, .. }
            | BackStmt::SetElement { var, .. }
            | BackStmt::Zero { var } => out.extend(grads.get(var).map(ToString::to_string)),
            BackStmt::If {
                then, otherwise, ..
            } => {
                written_names(grads, then, out);
                written_names(grads, otherwise, out);
            }
            BackStmt::For { body, fused, .. } => {
                written_names(grads, body, out);
                if let Some(fused) = fused {
                    written_names(grads, fused, out);
                }
            }
            BackStmt::Guarded { body, .. } => written_names(grads, body, out),
            _ => {}
        }
    }
}

/// Whether `arm` adds to (or sets) the gradient `var`.
fn writes(arm: &[BackStmt], var: VarId) -> bool {
    arm.iter().any(|s| match s {
        BackStmt::Init { var: v, .. }
        | BackStmt::Accumulate { var: v, .. }
        | BackStmt::SetElement { var: v, .. }
        | BackStmt::Zero { var: v } => *v == var,
        BackStmt::If {
            then, otherwise, ..
        } => writes(then, var) || writes(otherwise, var),
        BackStmt::For { body, .. } | BackStmt::Guarded { body, .. } => writes(body, var),
        _ => false,
    })
}

/// The gradients `stmt` declares for what follows it: `let d_v = ..;`, `let mut d_v = ..;`.
fn declared_here(grads: &HashMap<VarId, Ident>, stmt: &BackStmt) -> Vec<String> {
    match stmt {
        BackStmt::Init { var, .. } | BackStmt::Zero { var } => grads
            .get(var)
            .map(ToString::to_string)
            .into_iter()
            .collect(),
        BackStmt::Raw(tokens) => {
            let trees: Vec<TokenTree> = tokens.clone().into_iter().collect();
            match trees.as_slice() {
                [
                    TokenTree::Ident(l),
                    TokenTree::Ident(m),
                    TokenTree::Ident(name),
                    ..,
                ] if l == "let" && m == "mut" => {
                    vec![name.to_string()]
                }
                [TokenTree::Ident(l), TokenTree::Ident(name), ..] if l == "let" => {
                    vec![name.to_string()]
                }
                _ => Vec::new(),
            }
        }
        _ => Vec::new(),
    }
}

/// The gradients declared inside the nested blocks of `stmt` (a loop body's own).
fn declared_inside(grads: &HashMap<VarId, Ident>, stmt: &BackStmt) -> HashSet<String> {
    let mut out = HashSet::new();
    let mut add = |stmts: &[BackStmt]| {
        for s in stmts {
            out.extend(declared_here(grads, s));
            out.extend(declared_inside(grads, s));
        }
    };
    match stmt {
        BackStmt::For { body, fused, .. } => {
            add(body);
            if let Some(fused) = fused {
                add(fused);
            }
        }
        BackStmt::If {
            then, otherwise, ..
        } => {
            add(then);
            add(otherwise);
        }
        BackStmt::Guarded { body, .. } => add(body),
        _ => {}
    }
    out
}

/// Whether `stmt` pops a tape or restores a buffer, which must happen whichever arm ran.
fn has_tape_work(stmt: &BackStmt) -> bool {
    match stmt {
        BackStmt::Pop { .. } | BackStmt::Forward(_) => true,
        BackStmt::Raw(tokens) | BackStmt::Setup(tokens) => tokens.to_string().contains("pop"),
        BackStmt::For { body, fused, .. } => {
            body.iter().chain(fused.iter().flatten()).any(has_tape_work)
        }
        BackStmt::If {
            then, otherwise, ..
        } => then.iter().chain(otherwise).any(has_tape_work),
        BackStmt::Guarded { body, .. } => body.iter().any(has_tape_work),
        _ => false,
    }
}
