//! Loop exits written anywhere in a loop's body (`if a { break; } else if b { .. } else { ..;
//! if c { break; } .. }`, gradient descent's stopping rules): rewritten to the one form the
//! loop lowering reads, a guard at the top of the body, by a flag that the `break`s set and
//! the statements after them skip on (`done = true;` .. `if !done { .. }`). The values are the
//! same: the iteration that breaks runs nothing after its `break`, and the next one exits at
//! its start.

use proc_macro2::Ident;
use syn::visit::Visit;
use syn::{Block, Expr, Stmt};

/// `body` with its `break`s rewritten onto `flag`, when it has a `break` other than one guard
/// `if cond { ..; break; }` directly in it; `None` when the loop lowering reads it as it is.
pub(super) fn nested_breaks(body: &Block, flag: &Ident) -> Option<Block> {
    let stmts = hoisted(&body.stmts);
    let guards = stmts.iter().filter(|s| is_guard(s)).count();
    let nested = stmts
        .iter()
        .filter(|s| !is_guard(s) && has_break(s))
        .count();
    if nested == 0 && guards <= 1 && stmts.len() == body.stmts.len() {
        return None;
    }
    if nested == 0 && guards <= 1 {
        // Only hoisted: `if a { break; } else { .. }` as a guard and the statements after it.
        return Some(Block {
            stmts,
            ..body.clone()
        });
    }
    let mut out: Vec<Stmt> = Vec::new();
    let rest = match stmts.first() {
        // `if a { break; }` first: the flag joins its condition.
        Some(Stmt::Expr(Expr::If(guard), _))
            if guard.else_branch.is_none()
                && matches!(guard.then_branch.stmts.as_slice(), [s] if is_break(s)) =>
        {
            let cond = &guard.cond;
            out.push(syn::parse_quote!(if #flag || (#cond) { break; }));
            &stmts[1..]
        }
        _ => {
            out.push(syn::parse_quote!(if #flag { break; }));
            &stmts[..]
        }
    };
    out.extend(rewritten(rest, flag));
    Some(Block {
        stmts: out,
        ..body.clone()
    })
}

/// The statements with `if a { ..; break; } else { rest }` made `if a { ..; break; }` and
/// `rest` after it (the `else` runs exactly when the guard does not break).
fn hoisted(stmts: &[Stmt]) -> Vec<Stmt> {
    let mut out = Vec::new();
    for stmt in stmts {
        match stmt {
            Stmt::Expr(Expr::If(if_expr), semi)
                if if_expr.else_branch.is_some()
                    && if_expr.then_branch.stmts.last().is_some_and(is_break) =>
            {
                let mut guard = if_expr.clone();
                let Some((_, otherwise)) = guard.else_branch.take() else {
                    continue;
                };
                out.push(Stmt::Expr(Expr::If(guard), Some(Default::default())));
                let rest: Vec<Stmt> = match *otherwise {
                    Expr::Block(block) => block.block.stmts,
                    other => vec![Stmt::Expr(other, *semi)],
                };
                out.extend(hoisted(&rest));
            }
            stmt => out.push(stmt.clone()),
        }
    }
    out
}

/// The statements with each `break` setting `flag` instead, and what follows a statement that
/// may have set it run only if it did not.
fn rewritten(stmts: &[Stmt], flag: &Ident) -> Vec<Stmt> {
    let mut out = Vec::new();
    for (k, stmt) in stmts.iter().enumerate() {
        let rest = &stmts[k + 1..];
        if is_break(stmt) {
            out.push(syn::parse_quote!(#flag = true;));
            return out;
        }
        if !has_break(stmt) {
            out.push(stmt.clone());
            continue;
        }
        let Stmt::Expr(Expr::If(if_expr), _) = stmt else {
            // A `break` in another statement (a block, a `match`): left for the lowering to
            // report.
            out.push(stmt.clone());
            continue;
        };
        let mut if_expr = if_expr.clone();
        if_expr.then_branch.stmts = rewritten(&if_expr.then_branch.stmts, flag);
        // `if c { ..; break; }` then the rest: the rest is its `else`.
        if if_expr.else_branch.is_none() && ends_in_break(stmt) {
            let rest = rewritten(rest, flag);
            if !rest.is_empty() {
                if_expr.else_branch = Some((
                    Default::default(),
                    Box::new(Expr::Block(syn::parse_quote!({ #(#rest)* }))),
                ));
            }
            out.push(Stmt::Expr(Expr::If(if_expr), None));
            return out;
        }
        if let Some((token, otherwise)) = if_expr.else_branch.take() {
            let otherwise = match *otherwise {
                Expr::Block(mut block) => {
                    block.block.stmts = rewritten(&block.block.stmts, flag);
                    Expr::Block(block)
                }
                other => {
                    let stmts = rewritten(&[Stmt::Expr(other, None)], flag);
                    Expr::Block(syn::parse_quote!({ #(#stmts)* }))
                }
            };
            if_expr.else_branch = Some((token, Box::new(otherwise)));
        }
        out.push(Stmt::Expr(Expr::If(if_expr), None));
        if !rest.is_empty() {
            let rest = rewritten(rest, flag);
            out.push(syn::parse_quote!(if !#flag { #(#rest)* }));
        }
        return out;
    }
    out
}

/// `break;`
fn is_break(stmt: &Stmt) -> bool {
    matches!(stmt, Stmt::Expr(Expr::Break(b), _) if b.label.is_none() && b.expr.is_none())
}

/// `if c { ..; break; }` with no `else`.
fn ends_in_break(stmt: &Stmt) -> bool {
    matches!(stmt, Stmt::Expr(Expr::If(i), _)
        if i.else_branch.is_none() && i.then_branch.stmts.last().is_some_and(is_break))
}

/// A guard the loop lowering reads: `if c { ..; break; }` with no other `break` in it.
fn is_guard(stmt: &Stmt) -> bool {
    let Stmt::Expr(Expr::If(i), _) = stmt else {
        return false;
    };
    let (last, before) = match i.then_branch.stmts.split_last() {
        Some(split) => split,
        None => return false,
    };
    i.else_branch.is_none() && is_break(last) && !before.iter().any(has_break)
}

/// Whether `stmt` has a `break` of the loop it is in (not of an inner loop, not in a closure).
fn has_break(stmt: &Stmt) -> bool {
    struct Find(bool);
    impl<'ast> Visit<'ast> for Find {
        fn visit_expr_break(&mut self, _: &'ast syn::ExprBreak) {
            self.0 = true;
        }
        fn visit_expr_for_loop(&mut self, _: &'ast syn::ExprForLoop) {}
        fn visit_expr_while(&mut self, _: &'ast syn::ExprWhile) {}
        fn visit_expr_loop(&mut self, _: &'ast syn::ExprLoop) {}
        fn visit_expr_closure(&mut self, _: &'ast syn::ExprClosure) {}
    }
    let mut find = Find(false);
    find.visit_stmt(stmt);
    find.0
}
