//! Control flow: `for`, `while` and `loop` loops over the variables they carry, `break`
//! guards (deferred after a `continue` guard), early-return guards in the function's body and
//! in its loops, and the syntax checks that find loops, guards and returns.

use std::collections::HashMap;

use proc_macro2::{Ident, Span, TokenStream};
use quote::{ToTokens, quote};
use syn::spanned::Spanned;
use syn::visit::Visit;
use syn::{Expr, Pat, Stmt};

use crate::ir::{Block, Carried, Loop, LoopExit, LoopKind, Node, Operand, Ty, VarId};

use super::expressions::{compound_op, strip_parens};
use super::{Binding, Lowerer, placeholder};

impl Lowerer<'_> {
    // ----- loops, breaks and returns --------------------------------------------------------

    /// `for i in a..b { .. }` (or `(a..b).rev()`): a loop node whose body is SSA over the outer
    /// `let mut` variables it assigns (carried from one iteration to the next).
    pub(super) fn lower_for(&mut self, for_loop: &syn::ExprForLoop, hint: &str) {
        if self.rejects_label(&for_loop.label) {
            return;
        }
        if let Some(indexed) = self.loop_over_elements(for_loop) {
            return self.lower_for(&indexed, hint);
        }
        let (range_expr, rev) = match strip_parens(&for_loop.expr) {
            Expr::MethodCall(call) if call.method == "rev" && call.args.is_empty() => {
                (strip_parens(&call.receiver), true)
            }
            other => (other, false),
        };
        let Expr::Range(range) = range_expr else {
            self.errors.spanned(
                &for_loop.expr,
                "a `#[backprop]` loop runs over a range (`for i in 0..n`, `for i in (0..n).rev()`) or over the elements of arrays (`for v in &r`, `&r[1..]`, `r.iter().enumerate()`, `w.iter().zip(&x)`, `h.iter_mut()`); write other iterators as a loop over the indices",
            );
            return;
        };
        if range.start.is_none() || range.end.is_none() {
            self.errors
                .spanned(range, "the loop's range needs both ends: `0..n`");
            return;
        }
        // The bounds are integers: even one computed from a differentiated value (`x as usize`)
        // is piecewise constant in it, so the range is taken as it is.
        let range_tokens = self.rename(range_expr).to_token_stream();
        let index_ident = match &*for_loop.pat {
            Pat::Ident(pat) if pat.by_ref.is_none() && pat.subpat.is_none() => pat.ident.clone(),
            Pat::Wild(_) => Ident::new("_index", Span::call_site()),
            other => {
                self.errors.spanned(
                    other,
                    "the loop variable must be a plain name: `for i in 0..n`",
                );
                return;
            }
        };
        self.lower_loop(&for_loop.body, for_loop.span(), hint, |this, scope| {
            // Loop variables of different loops never meet: each keeps the user's name.
            let index = this.new_var(index_ident.clone(), Ty::Other, false);
            if let Some(scope) = this.scopes.get_mut(scope) {
                scope.insert(
                    index_ident.to_string(),
                    Binding {
                        var: index,
                        mutable: false,
                    },
                );
            }
            LoopKind::For {
                index,
                range: range_tokens,
                rev,
            }
        });
    }

    /// `while cond { .. }`: the number of iterations depends on the data, so the forward pass
    /// counts them.
    pub(super) fn lower_while(&mut self, while_loop: &syn::ExprWhile, hint: &str) {
        if self.rejects_label(&while_loop.label) {
            return;
        }
        if matches!(&*while_loop.cond, Expr::Let(_)) {
            self.errors.spanned(
                &while_loop.cond,
                "`while let` is not supported; compare values: `while x > 1.0 { .. }`",
            );
            return;
        }
        self.lower_loop(&while_loop.body, while_loop.span(), hint, |this, _| {
            // Renamed inside the loop: it reads the values an iteration starts with.
            let cond = this.rename(&while_loop.cond).to_token_stream();
            LoopKind::While {
                cond,
                trips: this.namer.fresh("trips"),
            }
        });
    }

    /// Reports a loop label (`'outer: for ..`), which only labeled `break`s would use.
    fn rejects_label(&mut self, label: &Option<syn::Label>) -> bool {
        if let Some(label) = label {
            self.errors.spanned(
                label,
                "labeled loops are not supported in a `#[backprop]` function",
            );
        }
        label.is_some()
    }

    /// `loop { .. if cond { break; } .. }`: a `while true` loop that ends at its `break` guard.
    pub(super) fn lower_loop_expr(&mut self, loop_expr: &syn::ExprLoop, hint: &str) {
        if self.rejects_label(&loop_expr.label) {
            return;
        }
        // `break`s in the arms of `if`s: one guard on a flag (`lower/exits.rs`).
        let flag = self.namer.fresh("done");
        if let Some(body) = super::exits::nested_breaks(&loop_expr.body, &flag) {
            if body
                .stmts
                .iter()
                .any(|s| crate::ir::idents_in_stmt(s, &flag))
            {
                self.lower_declaration(
                    syn::parse_quote_spanned!(loop_expr.span()=> let mut #flag = false;),
                );
            }
            let rewritten = syn::ExprLoop {
                body,
                ..loop_expr.clone()
            };
            return self.lower_loop_expr_as_is(&rewritten, hint);
        }
        self.lower_loop_expr_as_is(loop_expr, hint)
    }

    /// [`Self::lower_loop_expr`] of a body whose exit is one guard.
    fn lower_loop_expr_as_is(&mut self, loop_expr: &syn::ExprLoop, hint: &str) {
        let before = self.nodes.last().map_or(0, Vec::len);
        self.lower_loop(&loop_expr.body, loop_expr.span(), hint, |this, _| {
            LoopKind::While {
                cond: quote!(true),
                trips: this.namer.fresh("trips"),
            }
        });
        let has_exit = matches!(
            self.nodes.last().and_then(|nodes| nodes.get(before)),
            Some(Node::Loop(l)) if l.exit.is_some()
        );
        if !has_exit {
            self.errors.spanned(
                loop_expr.loop_token,
                "a `loop` needs an exit of its own: `if cond { ..; break; }` in its body or in the arms of its `if`s (a `break` in an inner loop ends that loop)",
            );
        }
    }

    /// A loop node whose body is SSA over the outer `let mut` variables it assigns (carried
    /// from one iteration to the next). `header` makes the loop's kind inside the loop's scope
    /// (the index `scope` in `scopes`), once the carried variables are bound there.
    fn lower_loop(
        &mut self,
        body: &syn::Block,
        span: Span,
        hint: &str,
        header: impl FnOnce(&mut Self, usize) -> LoopKind,
    ) {
        let deferred = self.defer_break(body);
        let body = deferred.as_ref().unwrap_or(body);
        // The outer `let mut` variables the body assigns, in the order they were declared.
        let mut carried_names: Vec<(String, Ident, VarId)> = Vec::new();
        let mut assigned = assigned_names(body);
        // A loop on the way to a `return` assigns the returned value (see `return_from_loop`).
        if let Some(returned) = &self.returned
            && returns_from_body(body)
        {
            assigned.push(returned.clone());
        }
        for ident in assigned {
            let name = ident.to_string();
            // A buffer is written in place (`h = next;` copies into it): not carried.
            if let Some((_, binding)) = self.lookup(&name)
                && binding.mutable
                && !self.vars[binding.var].buffer
                && !carried_names.iter().any(|(n, _, _)| *n == name)
            {
                carried_names.push((name, ident, binding.var));
            }
        }
        carried_names.sort_by_key(|(_, _, var)| *var);

        self.scopes.push(HashMap::new());
        let start = self.scopes.len() - 1;
        self.arm_starts.push(start);
        self.arm_assigned.push(Vec::new());
        self.nodes.push(Vec::new());
        self.loop_depth += 1;
        let mut inners = Vec::new();
        let mut numbers = Vec::new();
        for (name, ident, entry) in &carried_names {
            let mut ty = self.vars[*entry].ty.clone();
            if matches!(ty, Ty::Array { .. }) {
                self.errors.spanned(ident, format!("`{name}` is an array assigned in a loop; loop-carried arrays are not supported yet"));
            }
            // An ndarray array carried by the loop is owned by it: each iteration's value
            // replaces the last one.
            if let Ty::Tensor { by_ref, .. } = &mut ty {
                *by_ref = false;
            }
            let number = self.carried_count;
            self.carried_count += 1;
            numbers.push(number);
            let active = self.vars[*entry].active
                || (self.active_carried.contains(&number)
                    && matches!(ty, Ty::Float(_) | Ty::FloatLit | Ty::Tensor { .. }));
            let version = self.namer.user_binding(ident, false);
            let inner = self.new_var(version, ty, active);
            if let Some(scope) = self.scopes.get_mut(start) {
                scope.insert(
                    name.clone(),
                    Binding {
                        var: inner,
                        mutable: true,
                    },
                );
            }
            inners.push(inner);
        }
        let kind = header(self, start);
        self.loop_guards.push((
            start,
            carried_names.iter().map(|(n, _, _)| n.clone()).collect(),
            None,
        ));
        // A `return` inside a loop body is not a guard of the function.
        let returns = std::mem::replace(&mut self.returns_here, false);
        self.lower_body_value(&body.stmts, body.span(), hint, false);
        self.returns_here = returns;
        let guard = self.loop_guards.pop().and_then(|(_, _, exit)| exit);
        let exits: Vec<Operand> = carried_names
            .iter()
            .zip(&inners)
            .map(|((name, _, _), inner)| {
                Operand::Var(
                    self.scopes
                        .get(start)
                        .and_then(|s| s.get(name))
                        .map(|b| b.var)
                        .unwrap_or(*inner),
                )
            })
            .collect();
        // A carried variable taken as a constant whose value at the end of an iteration (or
        // where the iteration breaks) is differentiated: the next pass lowers it as such.
        let broken: Vec<Operand> = guard
            .as_ref()
            .map(|(_, _, pre)| pre.clone())
            .unwrap_or_default();
        for (k, (inner, number)) in inners.iter().zip(&numbers).enumerate() {
            if !self.vars[*inner].active
                && (self.is_active(&exits[k]) || broken.get(k).is_some_and(|o| self.is_active(o)))
            {
                self.carried_active.insert(*number);
            }
        }
        let nodes = self.nodes.pop().unwrap_or_default();
        self.loop_depth -= 1;
        self.arm_assigned.pop();
        self.arm_starts.pop();
        self.scopes.pop();

        let mut carried = Vec::new();
        for ((name, ident, entry), inner) in carried_names.iter().zip(&inners) {
            let version = self.namer.user_binding(ident, false);
            let after = self.new_var(
                version,
                self.vars[*inner].ty.clone(),
                self.vars[*inner].active,
            );
            carried.push(Carried {
                entry: Operand::Var(*entry),
                inner: *inner,
                after,
            });
            if let Some((depth, _)) = self.lookup(name) {
                self.rebind(name.clone(), ident, after, depth);
            }
        }
        let exit = guard.map(|(cond, pre_len, pre_results)| LoopExit {
            cond,
            pre_len,
            pre_results,
            broke: self.namer.fresh("broke"),
            trips: match &kind {
                LoopKind::While { trips, .. } => trips.clone(),
                LoopKind::For { .. } => self.namer.fresh("trips"),
            },
        });
        self.push_node(Node::Loop(Loop {
            kind,
            exit,
            carried,
            body: Block {
                nodes,
                results: exits,
            },
            saved_whole: Vec::new(),
            span,
        }));
    }

    /// The function's value after an early-return guard: `if cond { then } else { rest }`.
    pub(super) fn guarded_rest(
        &mut self,
        cond: TokenStream,
        cond_span: Span,
        then: impl FnOnce(&mut Self) -> Operand,
        (rest, span): (&[Stmt], Span),
        hint: &str,
    ) -> Operand {
        let outer = std::mem::replace(&mut self.returns_here, true);
        let value = self.make_branch(cond, cond_span, true, then, |this| {
            this.lower_body_value(rest, span, hint, true)
        });
        self.returns_here = outer;
        if self.returns_here {
            let ident = self.namer.fresh(&format!("{hint}_value"));
            Operand::Var(self.bind(value, ident, None))
        } else {
            let ident = self.namer.fresh("out");
            let var = self.bind(value, ident, None);
            self.output_temp = Some(var);
            Operand::Var(var)
        }
    }

    /// A loop with a `return` guard in it (see [`returns_from_loop`]), then the rest of the
    /// function: `let mut returned = 0.0;`, the loop, whose guard becomes
    /// `if cond { ..; returned = v; break; }` (see [`Self::return_from_loop`]), and the function's
    /// value `if broke.is_some() { returned } else { rest }` (`broke`: where the loop broke,
    /// which the loop records for its reverse pass anyway).
    pub(super) fn loop_with_return(
        &mut self,
        looped: &Expr,
        rest: (&[Stmt], Span),
        hint: &str,
    ) -> Operand {
        let at = looped.span();
        let name = self.namer.fresh("returned");
        let float = self.default_float.ident();
        self.lower_declaration(syn::parse_quote_spanned!(at=> let mut #name: #float = 0.0;));
        let outer = self.returned.replace(name.clone());
        let broke = self.loop_recording_exit(looped, hint);
        self.returned = outer;
        // No exit: the loop reported an error.
        let Some(broke) = broke else {
            return placeholder();
        };
        let returned: Expr = syn::parse_quote_spanned!(at=> #name);
        let returned = [Stmt::Expr(returned, None)];
        // A `loop` ends only by returning.
        if let Expr::Loop(_) = looped {
            return self.lower_body_value(&returned, at, hint, true);
        }
        self.guarded_rest(
            broke,
            at,
            |this| this.lower_body_value(&returned, at, hint, true),
            rest,
            hint,
        )
    }

    /// Lowers a loop and returns the condition "it ended at its `break` guard", from what it
    /// records: where it broke (`for`), or whether (`while`, `loop`); `None` if it has no guard.
    fn loop_recording_exit(&mut self, looped: &Expr, hint: &str) -> Option<TokenStream> {
        let before = self.nodes.last().map_or(0, Vec::len);
        match looped {
            Expr::ForLoop(for_loop) => self.lower_for(for_loop, hint),
            Expr::While(while_loop) => self.lower_while(while_loop, hint),
            Expr::Loop(loop_expr) => self.lower_loop_expr(loop_expr, hint),
            _ => {}
        }
        match self.nodes.last().and_then(|nodes| nodes.get(before)) {
            Some(Node::Loop(l)) => l.exit.as_ref().map(|exit| {
                let broke = &exit.broke;
                match l.kind {
                    LoopKind::For { .. } => quote!(#broke.is_some()),
                    LoopKind::While { .. } => quote!(#broke),
                }
            }),
            _ => None,
        }
    }

    /// A loop body with a `break` guard after a `continue` guard (which makes the rest of the
    /// body a branch arm, where no exit can be): the guard records `stopped = true` instead,
    /// the lines after it run `if !stopped`, and the next iteration breaks first thing,
    /// `if stopped { break; }`. Lowers `let mut stopped = false;` before the loop.
    fn defer_break(&mut self, body: &syn::Block) -> Option<syn::Block> {
        let position = |found: &dyn Fn(&syn::ExprIf) -> bool| {
            body.stmts
                .iter()
                .position(|s| matches!(s, Stmt::Expr(Expr::If(e), _) if found(e)))
        };
        let continued = position(&is_continue_guard)?;
        let at = position(&|e| break_guard_body(e).is_some()).filter(|&at| at > continued)?;
        let Stmt::Expr(Expr::If(guard), _) = &body.stmts[at] else {
            return None;
        };
        let span = guard.span();
        let stopped = self.namer.fresh("stopped");
        self.lower_declaration(syn::parse_quote_spanned!(span=> let mut #stopped = false;));
        let mut stop = guard.clone();
        stop.then_branch.stmts.pop();
        stop.then_branch
            .stmts
            .push(syn::parse_quote_spanned!(span=> #stopped = true;));
        let after = &body.stmts[at + 1..];
        let mut stmts: Vec<Stmt> = vec![syn::parse_quote_spanned!(span=> if #stopped { break; })];
        stmts.extend_from_slice(&body.stmts[..at]);
        stmts.push(Stmt::Expr(Expr::If(stop), None));
        if !after.is_empty() {
            stmts.push(syn::parse_quote_spanned!(span=> if !#stopped { #(#after)* }));
        }
        Some(syn::Block {
            brace_token: body.brace_token,
            stmts,
        })
    }

    /// The innermost open loop ends here when `cond` holds: its exit, after the lines lowered
    /// so far, with the carried values as they are now.
    pub(super) fn set_loop_exit(&mut self, cond: TokenStream) {
        let pre_len = self.nodes.last().map_or(0, Vec::len);
        let (scope, names, _) = self.loop_guards.last().cloned().unwrap_or_default();
        let pre_results = names
            .iter()
            .filter_map(|n| self.scopes.get(scope)?.get(n).map(|b| Operand::Var(b.var)))
            .collect();
        if let Some(guard) = self.loop_guards.last_mut() {
            guard.2 = Some((cond, pre_len, pre_results));
        }
    }

    /// Inside a loop that [`Self::loop_with_return`] lowers, a statement of a loop body on the
    /// way to the `return`: the guard `if cond { ..; return v; }` becomes the loop's exit
    /// `if cond { ..; returned = v; break; }`, and a loop holding it, lowered, makes its own
    /// record the exit of the loop around it. `false` for any other statement.
    pub(super) fn return_from_loop(&mut self, stmt: &Stmt, hint: &str) -> bool {
        let Some(returned) = self.returned.clone() else {
            return false;
        };
        let in_loop_body = self
            .loop_guards
            .last()
            .is_some_and(|(scope, _, exit)| *scope + 1 == self.scopes.len() && exit.is_none());
        match stmt {
            Stmt::Expr(Expr::If(guard), _) if in_loop_body && is_return_guard(guard) => {
                let Some(Stmt::Expr(Expr::Return(ret), _)) = guard.then_branch.stmts.last() else {
                    return false;
                };
                let (value, at) = (&ret.expr, ret.span());
                let mut exit = guard.clone();
                exit.then_branch.stmts.pop();
                exit.then_branch
                    .stmts
                    .push(syn::parse_quote_spanned!(at=> #returned = #value;));
                exit.then_branch
                    .stmts
                    .push(syn::parse_quote_spanned!(at=> break;));
                self.lower_body_value(&[Stmt::Expr(Expr::If(exit), None)], at, hint, false);
                true
            }
            Stmt::Expr(looped, _) if in_loop_body && returns_from_loop(looped) => {
                if let Some(cond) = self.loop_recording_exit(looped, hint) {
                    self.set_loop_exit(cond);
                }
                true
            }
            _ => false,
        }
    }
}

/// A loop whose body has, among its own statements, a `return` guard
/// `if cond { ..; return v; }` or a loop of which this holds, and no `break` guard: that is its
/// one exit (not after a `continue` guard, which makes the rest of the body a branch arm).
pub(super) fn returns_from_loop(looped: &Expr) -> bool {
    match looped {
        Expr::ForLoop(l) => returns_from_body(&l.body),
        Expr::While(l) => returns_from_body(&l.body),
        Expr::Loop(l) => returns_from_body(&l.body),
        _ => false,
    }
}

/// [`returns_from_loop`] of a loop with this body.
fn returns_from_body(body: &syn::Block) -> bool {
    let mut exits = body.stmts.iter().enumerate().filter(|(_, s)| match s {
        Stmt::Expr(Expr::If(e), _) => is_return_guard(e) || break_guard_body(e).is_some(),
        Stmt::Expr(inner, _) => returns_from_loop(inner),
        _ => false,
    });
    let (Some((at, exit)), None) = (exits.next(), exits.next()) else {
        return false;
    };
    let continued = body.stmts[..at]
        .iter()
        .any(|s| matches!(s, Stmt::Expr(Expr::If(e), _) if is_continue_guard(e)));
    let breaks = matches!(exit, Stmt::Expr(Expr::If(e), _) if break_guard_body(e).is_some());
    !continued && !breaks
}

/// The statements before the `break` of `if cond { ..; break; }` (no other `break`,
/// `continue` or `return` among them).
pub(super) fn break_guard_body(if_expr: &syn::ExprIf) -> Option<&[Stmt]> {
    if if_expr.else_branch.is_some() || matches!(&*if_expr.cond, Expr::Let(_)) {
        return None;
    }
    let (Stmt::Expr(Expr::Break(b), _), before) = if_expr.then_branch.stmts.split_last()? else {
        return None;
    };
    let jumps = before.iter().any(|s| {
        let block = syn::Block {
            brace_token: Default::default(),
            stmts: vec![s.clone()],
        };
        find_return(&block).is_some() || find_loop_jump(&block)
    });
    (b.label.is_none() && b.expr.is_none() && !jumps).then_some(before)
}

/// `if cond { ..; return v; }`: a block ending with a `return`, with no other `return` in it.
pub(super) fn is_return_guard(if_expr: &syn::ExprIf) -> bool {
    let stmts = &if_expr.then_branch.stmts;
    if if_expr.else_branch.is_some() || matches!(&*if_expr.cond, Expr::Let(_)) {
        return false;
    }
    let Some((Stmt::Expr(Expr::Return(ret), _), before)) = stmts.split_last() else {
        return false;
    };
    ret.expr.is_some()
        && !before.iter().any(|s| {
            find_return(&syn::Block {
                brace_token: Default::default(),
                stmts: vec![s.clone()],
            })
            .is_some()
        })
}

/// `if cond { continue; }`.
pub(super) fn is_continue_guard(if_expr: &syn::ExprIf) -> bool {
    if_expr.else_branch.is_none()
        && matches!(if_expr.then_branch.stmts.as_slice(), [Stmt::Expr(Expr::Continue(c), _)] if c.label.is_none())
}

/// The names assigned (`x = ..`, `x += ..`) anywhere in `block`.
fn assigned_names(block: &syn::Block) -> Vec<Ident> {
    struct Finder {
        names: Vec<Ident>,
    }
    impl<'ast> Visit<'ast> for Finder {
        fn visit_expr_assign(&mut self, assign: &'ast syn::ExprAssign) {
            if let Expr::Path(path) = strip_parens(&assign.left)
                && let Some(ident) = path.path.get_ident()
            {
                self.names.push(ident.clone());
            }
            syn::visit::visit_expr_assign(self, assign);
        }
        fn visit_expr_binary(&mut self, binary: &'ast syn::ExprBinary) {
            if compound_op(&binary.op).is_some()
                && let Expr::Path(path) = strip_parens(&binary.left)
                && let Some(ident) = path.path.get_ident()
            {
                self.names.push(ident.clone());
            }
            syn::visit::visit_expr_binary(self, binary);
        }
        fn visit_expr_closure(&mut self, _: &'ast syn::ExprClosure) {}
        fn visit_item(&mut self, _: &'ast syn::Item) {}
    }
    let mut finder = Finder { names: Vec::new() };
    finder.visit_block(block);
    finder.names
}

/// The first `return` inside `block`, not looking into nested functions.
/// Whether `block` has a `break` or `continue` of the enclosing loop (not of a loop inside it).
fn find_loop_jump(block: &syn::Block) -> bool {
    struct Finder {
        found: bool,
    }
    impl<'ast> Visit<'ast> for Finder {
        fn visit_expr_break(&mut self, _: &'ast syn::ExprBreak) {
            self.found = true;
        }
        fn visit_expr_continue(&mut self, _: &'ast syn::ExprContinue) {
            self.found = true;
        }
        fn visit_expr_for_loop(&mut self, _: &'ast syn::ExprForLoop) {}
        fn visit_expr_while(&mut self, _: &'ast syn::ExprWhile) {}
        fn visit_expr_loop(&mut self, _: &'ast syn::ExprLoop) {}
        fn visit_item(&mut self, _: &'ast syn::Item) {}
        fn visit_expr_closure(&mut self, _: &'ast syn::ExprClosure) {}
    }
    let mut finder = Finder { found: false };
    finder.visit_block(block);
    finder.found
}

pub(super) fn find_return(block: &syn::Block) -> Option<&syn::ExprReturn> {
    struct Finder<'ast> {
        found: Option<&'ast syn::ExprReturn>,
    }
    impl<'ast> Visit<'ast> for Finder<'ast> {
        fn visit_expr_return(&mut self, ret: &'ast syn::ExprReturn) {
            self.found.get_or_insert(ret);
        }
        fn visit_item(&mut self, _: &'ast syn::Item) {}
        fn visit_expr_closure(&mut self, _: &'ast syn::ExprClosure) {}
    }
    let mut finder = Finder { found: None };
    finder.visit_block(block);
    finder.found
}
