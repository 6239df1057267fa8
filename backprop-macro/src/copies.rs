//! Plain copies of gradients in reversed loop bodies, taken out: `let d_a = d_b;` followed by
//! reads of `d_a` becomes those reads of `d_b`, and `d_b = d_b;` is dropped.
//!
//! The sweep introduces a gradient per forward version, and a loop's bookkeeping moves the
//! carried gradients between them (`let d_s_2 = d_s_1; .. d_s_1 = d_s_2;`): right, but not what
//! a person writes. Outside loops the copies stay: they are the lecture's own lines
//! (`dsigx = dden`), one per forward line.

use std::collections::{HashMap, HashSet};

use proc_macro2::{Group, Ident, TokenStream, TokenTree};

use crate::ir::{Program, Ty, VarId};
use crate::reverse::{BackStmt, collect_mutable, stmt_idents};

/// Takes the plain copies out of the bodies of the reversed loops in `stmts`.
pub fn propagate(
    program: &Program,
    grads: &HashMap<VarId, Ident>,
    storage: &HashSet<VarId>,
    stmts: &mut [BackStmt],
) {
    let mut added = HashSet::new();
    // Gradients added to or overwritten after their first contribution.
    collect_mutable(stmts, &mut added);
    let copies = Copies {
        program,
        grads,
        storage,
        added,
    };
    for stmt in stmts {
        copies.in_loops(stmt);
    }
}

struct Copies<'a> {
    program: &'a Program,
    grads: &'a HashMap<VarId, Ident>,
    storage: &'a HashSet<VarId>,
    /// Gradients written after their first contribution.
    added: HashSet<VarId>,
}

impl Copies<'_> {
    fn in_loops(&self, stmt: &mut BackStmt) {
        match stmt {
            BackStmt::For { body, fused, .. } => {
                self.block(body);
                if let Some(fused) = fused {
                    self.block(fused);
                }
            }
            BackStmt::If {
                then, otherwise, ..
            } => {
                then.iter_mut().for_each(|s| self.in_loops(s));
                otherwise.iter_mut().for_each(|s| self.in_loops(s));
            }
            BackStmt::Guarded { body, .. } => self.block(body),
            _ => {}
        }
    }

    /// One reversed loop body (or a branch arm in one).
    fn block(&self, stmts: &mut Vec<BackStmt>) {
        let mut k = 0;
        while k < stmts.len() {
            if let Some((from, to, source)) = self.copy_at(&stmts[k])
                && self.can_replace(&stmts[k + 1..], &from, &to, source)
            {
                stmts.remove(k);
                for stmt in &mut stmts[k..] {
                    rename(stmt, &from, &to);
                }
                stmts.retain(|s| !self.assigns_itself(s));
                continue;
            }
            k += 1;
        }
        for stmt in stmts.iter_mut() {
            match stmt {
                BackStmt::If {
                    then, otherwise, ..
                } => {
                    self.block(then);
                    self.block(otherwise);
                }
                other => self.in_loops(other),
            }
        }
    }

    /// `let d_a = d_b;` of scalars, `d_a` never added to: `(d_a, d_b, b)`.
    fn copy_at(&self, stmt: &BackStmt) -> Option<(String, Ident, VarId)> {
        let BackStmt::Init {
            var,
            expr,
            sum_to: false,
            moved: None,
            unwritten: None,
        } = stmt
        else {
            return None;
        };
        if self.storage.contains(var)
            || self.added.contains(var)
            || !matches!(self.program.vars[*var].ty, Ty::Float(_) | Ty::FloatLit)
        {
            return None;
        }
        let trees: Vec<TokenTree> = expr.clone().into_iter().collect();
        let [TokenTree::Ident(to)] = &trees[..] else {
            return None;
        };
        let to = to.clone();
        let source = self
            .grads
            .iter()
            .find(|(_, name)| **name == to)
            .map(|(v, _)| *v)?;
        Some((self.grads.get(var)?.to_string(), to, source))
    }

    /// Whether every read of `from` in `rest` may read `to` instead: `to` is not written
    /// before the last of them (other than `d_b = d_a;`, which the replacement makes a no-op).
    fn can_replace(&self, rest: &[BackStmt], from: &str, to: &Ident, source: VarId) -> bool {
        let Some(last) = rest.iter().rposition(|s| mentions(self.program, s, from)) else {
            return true;
        };
        rest[..=last].iter().all(|s| {
            let assigns_copy = matches!(s, BackStmt::Init { var, expr, .. }
                if *var == source && self.storage.contains(var) && is_ident(expr, from));
            assigns_copy || !writes(s, source, to)
        })
    }

    /// `d_b = d_b;`.
    fn assigns_itself(&self, stmt: &BackStmt) -> bool {
        matches!(stmt, BackStmt::Init { var, expr, .. }
            if self.storage.contains(var)
                && self.grads.get(var).is_some_and(|name| is_ident(expr, &name.to_string())))
    }
}

fn is_ident(expr: &TokenStream, name: &str) -> bool {
    matches!(&expr.clone().into_iter().collect::<Vec<_>>()[..], [TokenTree::Ident(i)] if i == name)
}

/// Whether `stmt` writes the gradient `var` (named `name`).
fn writes(stmt: &BackStmt, var: VarId, name: &Ident) -> bool {
    match stmt {
        BackStmt::Init { var: v, .. }
        | BackStmt::Accumulate { var: v, .. }
        | BackStmt::SetElement { var: v, .. }
        | BackStmt::Zero { var: v } => *v == var,
        BackStmt::If {
            then, otherwise, ..
        } => then.iter().chain(otherwise).any(|s| writes(s, var, name)),
        BackStmt::For { body, fused, .. } => body
            .iter()
            .chain(fused.iter().flatten())
            .any(|s| writes(s, var, name)),
        BackStmt::Guarded { body, .. } => body.iter().any(|s| writes(s, var, name)),
        // Loop bookkeeping: `d_b = ..;`, `let mut d_b = ..;`.
        BackStmt::Raw(tokens) | BackStmt::Setup(tokens) => {
            let trees: Vec<TokenTree> = tokens.clone().into_iter().collect();
            trees.iter().enumerate().any(|(k, t)| {
                matches!(t, TokenTree::Ident(i) if i == name)
                    && matches!(trees.get(k + 1), Some(TokenTree::Punct(p)) if p.as_char() == '=' || p.as_char() == '+' || p.as_char() == '-')
                    || matches!(t, TokenTree::Ident(i) if i == "let")
                        && trees[k + 1..]
                            .iter()
                            .take(2)
                            .any(|t| matches!(t, TokenTree::Ident(i) if i == name))
            })
        }
        BackStmt::Forward(_) | BackStmt::Pop { .. } => false,
    }
}

/// Whether `stmt` reads `name`.
fn mentions(program: &Program, stmt: &BackStmt, name: &str) -> bool {
    let mut names = HashSet::new();
    stmt_idents(program, stmt, &mut names);
    names.contains(name)
}

/// `stmt` with every read of `from` reading `to` instead.
fn rename(stmt: &mut BackStmt, from: &str, to: &Ident) {
    let swap = |tokens: &mut TokenStream| *tokens = renamed(tokens.clone(), from, to);
    match stmt {
        BackStmt::Setup(t) | BackStmt::Raw(t) => swap(t),
        BackStmt::Init {
            expr,
            moved,
            unwritten,
            ..
        } => {
            swap(expr);
            if let Some((name, m)) = moved {
                if name == from {
                    *name = to.clone();
                }
                swap(m);
            }
            if let Some(u) = unwritten {
                swap(u);
            }
        }
        BackStmt::Accumulate {
            element,
            expr,
            product,
            moved,
            ..
        } => {
            swap(expr);
            if let Some(e) = element {
                swap(e);
            }
            if let Some((a, b)) = product {
                swap(a);
                swap(b);
            }
            if let Some((name, m)) = moved {
                if name == from {
                    *name = to.clone();
                }
                swap(m);
            }
        }
        BackStmt::SetElement { index, expr, .. } => {
            swap(index);
            swap(expr);
        }
        BackStmt::Guarded { head, body } => {
            swap(head);
            body.iter_mut().for_each(|s| rename(s, from, to));
        }
        BackStmt::If {
            cond,
            then,
            otherwise,
            ..
        } => {
            swap(cond);
            then.iter_mut()
                .chain(otherwise.iter_mut())
                .for_each(|s| rename(s, from, to));
        }
        BackStmt::For {
            range, body, fused, ..
        } => {
            swap(range);
            body.iter_mut()
                .chain(fused.iter_mut().flatten())
                .for_each(|s| rename(s, from, to));
        }
        BackStmt::Zero { .. } | BackStmt::Forward(_) | BackStmt::Pop { .. } => {}
    }
}

fn renamed(tokens: TokenStream, from: &str, to: &Ident) -> TokenStream {
    tokens
        .into_iter()
        .map(|tree| match tree {
            TokenTree::Ident(i) if i == from => TokenTree::Ident(to.clone()),
            TokenTree::Group(g) => {
                let mut group = Group::new(g.delimiter(), renamed(g.stream(), from, to));
                group.set_span(g.span());
                TokenTree::Group(group)
            }
            other => other,
        })
        .collect()
}
