//! Statements: a body's statements and its value, `let`s (and the `let`s the lowering writes
//! itself), the writes into local buffers (the buffers themselves: `buffers.rs`),
//! assignments, `if` statements, and the function's output.

use std::collections::HashSet;

use proc_macro2::{Ident, Span};
use quote::{ToTokens, quote};
use syn::spanned::Spanned;
use syn::{Expr, Pat, Stmt};

use crate::ir::{Assign, Node, Operand, Store, StoreOp, Ty};
use crate::rules::{self, Prim};
use crate::signature::{classify, float_type};
use crate::validate;

use super::buffers::{array_literal, buffer_init};
use super::control::{
    break_guard_body, find_return, is_continue_guard, is_return_guard, returns_from_loop,
};
use super::expressions::{compound_op, is_reported_by_validation, strip_parens, table};
use super::{Binding, Lowerer, Value, placeholder};

/// Where an early `return` can be differentiated, for the error at one that cannot.
const RETURN_NOT_A_GUARD: &str = "this `return` is not supported: an early return is a guard `if cond { ..; return v; }` among the function's own statements, or directly in the body of a loop among them or of a loop directly in such a body (a loop without a `break` guard, before any `continue` guard; not in a branch arm or another block)";

impl Lowerer<'_> {
    // ----- statements -----------------------------------------------------------------------

    /// Lowers a function body or block: its statements, then its value.
    /// `hint` names the temporaries of the block's value.
    pub(super) fn lower_body(&mut self, stmts: &[Stmt], span: Span, hint: &str) -> Operand {
        self.lower_body_value(stmts, span, hint, true)
    }

    /// Lowers statements; with `needs_value`, the block must end with its value.
    pub(super) fn lower_body_value(
        &mut self,
        stmts: &[Stmt],
        span: Span,
        hint: &str,
        needs_value: bool,
    ) -> Operand {
        let mut result = None;
        for (index, stmt) in stmts.iter().enumerate() {
            let last = index + 1 == stmts.len();
            if self.scopes.len() == 1 {
                // Statement by statement, so that all errors come out in source order.
                validate::validate_stmt(stmt, self.errors);
            }
            // In a loop that returns: the `return` guard, or a loop on the way to it.
            if self.return_from_loop(stmt, hint) {
                continue;
            }
            match stmt {
                Stmt::Local(local) => self.lower_let(local),
                Stmt::Item(item) => {
                    if let syn::Item::Const(constant) = item
                        && let Some(float) = float_type(&constant.ty)
                    {
                        self.const_types.insert(constant.ident.to_string(), float);
                    }
                    self.items.push(item.to_token_stream())
                }
                // Reported by validation.
                Stmt::Macro(_) => {}
                Stmt::Expr(Expr::Return(ret), _) if last && (self.returns_here || (self.nodes.len() == 1 && self.scopes.len() == 1)) => {
                    match &ret.expr {
                        Some(expr) if self.returns_here => result = Some(self.operand(expr, hint)),
                        Some(expr) => result = Some(self.lower_output(expr)),
                        None => self.errors.spanned(ret, "`return` needs the function's value: `return loss;`"),
                    }
                }
                // `if cond { ..; return v; }` in the function's own statements: the rest of the
                // function is the `else` arm, and the function's value is the branch's.
                Stmt::Expr(Expr::If(if_expr), _)
                    if (self.returns_here || (self.nodes.len() == 1 && self.scopes.len() == 1))
                        && is_return_guard(if_expr) =>
                {
                    let cond = self.rename(&if_expr.cond).to_token_stream();
                    let guard = &if_expr.then_branch.stmts;
                    result = Some(self.guarded_rest(
                        cond,
                        if_expr.span(),
                        |this| this.lower_body_value(guard, if_expr.then_branch.span(), hint, true),
                        (&stmts[index + 1..], span),
                        hint,
                    ));
                    break;
                }
                // A loop among the function's own statements with `if cond { ..; return v; }`
                // directly in its body: the guard keeps `v` and breaks, and the rest of the
                // function is the `else` arm of "the loop broke".
                Stmt::Expr(looped, _)
                    if (self.returns_here || (self.nodes.len() == 1 && self.scopes.len() == 1))
                        && self.scalar_output
                        && returns_from_loop(looped) =>
                {
                    result = Some(self.loop_with_return(looped, (&stmts[index + 1..], span), hint));
                    break;
                }
                Stmt::Expr(Expr::Return(ret), _) => self.errors.spanned(
                    ret.return_token,
                    RETURN_NOT_A_GUARD,
                ),
                Stmt::Expr(Expr::Assign(assign), _) => self.lower_assign(&assign.left, None, &assign.right, assign),
                Stmt::Expr(Expr::Binary(binary), _) if compound_op(&binary.op).is_some() => {
                    self.lower_assign(&binary.left, compound_op(&binary.op), &binary.right, binary)
                }
                Stmt::Expr(Expr::ForLoop(for_loop), _) => self.lower_for(for_loop, hint),
                Stmt::Expr(Expr::While(while_loop), _) => self.lower_while(while_loop, hint),
                Stmt::Expr(Expr::Loop(loop_expr), _) => self.lower_loop_expr(loop_expr, hint),
                // `if cond { continue; }`: the rest of the body is the `else` arm.
                Stmt::Expr(Expr::If(if_expr), _) if self.loop_depth > 0 && is_continue_guard(if_expr) => {
                    let cond = self.rename(&if_expr.cond).to_token_stream();
                    let rest = &stmts[index + 1..];
                    let value = self.make_branch(cond, if_expr.span(), false, |_| placeholder(), |this| {
                        this.lower_body_value(rest, span, hint, false)
                    });
                    if has_effect(&value) {
                        self.bind_branch(value, None, None);
                    }
                    break;
                }
                Stmt::Expr(Expr::Continue(token), _) => self.errors.spanned(
                    token,
                    "`continue` is supported as a guard at the top of a loop body's statements: `if cond { continue; }`",
                ),
                // `if cond { ..; break; }` directly in a loop body: the loop's exit. The lines
                // before the `break` run in the breaking iteration only: an `if` statement
                // (whose condition reads the values from before it, as the exit's does).
                Stmt::Expr(Expr::If(if_expr), _)
                    if break_guard_body(if_expr).is_some()
                        && self.loop_guards.last().is_some_and(|(scope, _, exit)| *scope + 1 == self.scopes.len() && exit.is_none()) =>
                {
                    let cond = self.rename(&if_expr.cond).to_token_stream();
                    if let Some(before) = break_guard_body(if_expr).filter(|b| !b.is_empty()) {
                        let mut arm = if_expr.clone();
                        arm.then_branch.stmts = before.to_vec();
                        self.lower_if_statement(&arm, hint);
                    }
                    self.set_loop_exit(cond);
                }
                Stmt::Expr(Expr::Break(token), _) => self.errors.spanned(
                    token,
                    "`break` is supported as one guard directly in a loop body: `if cond { ..; break; }`",
                ),
                Stmt::Expr(Expr::If(if_expr), _) if break_guard_body(if_expr).is_some() => self.errors.spanned(
                    if_expr.if_token,
                    "`break` is supported as one guard directly in a loop body: `if cond { ..; break; }`",
                ),
                // An `if` statement: its arms assign outer variables.
                Stmt::Expr(Expr::If(if_expr), semi) if !(last && needs_value && semi.is_none()) => {
                    self.lower_if_statement(if_expr, hint)
                }
                Stmt::Expr(expr, None) if last => {
                    result = Some(if self.nodes.len() == 1 && self.scopes.len() == 1 {
                        self.lower_output(expr)
                    } else {
                        self.operand(expr, hint)
                    });
                }
                Stmt::Expr(expr, _) if is_reported_by_validation(expr) => {}
                Stmt::Expr(expr, _) => self.errors.spanned(
                    expr,
                    "this statement has no effect on the result; a `#[backprop]` body is made of `let` bindings, assignments and a final value",
                ),
            }
        }
        result.unwrap_or_else(|| {
            if needs_value && self.errors.is_empty() {
                self.errors.push(syn::Error::new(span, "the body must end with the value to differentiate, e.g. `loss` or `return loss;`"));
            }
            placeholder()
        })
    }

    /// A `let` the lowering writes itself (`let mut returned = 0.0;`), at the user's span.
    pub(super) fn lower_declaration(&mut self, declaration: Stmt) {
        if let Stmt::Local(local) = &declaration {
            self.lower_let(local);
        }
    }

    /// `if cond { .. } [else { .. }]` as a statement: new versions of what its arms assign.
    fn lower_if_statement(&mut self, if_expr: &syn::ExprIf, hint: &str) {
        if if_expr.else_branch.is_none()
            && let Some(ret) = find_return(&if_expr.then_branch)
        {
            self.errors.spanned(ret.return_token, RETURN_NOT_A_GUARD);
            return;
        }
        let value = self.if_branch(if_expr, hint, false);
        if has_effect(&value) {
            self.bind_branch(value, None, None);
        }
    }

    fn lower_output(&mut self, expr: &Expr) -> Operand {
        // `if c { [a, b] } else { [u, v] }` of a function that returns an array: a buffer that
        // each arm fills (`out[0] = a; out[1] = b;`).
        if !self.scalar_output
            && let Expr::If(if_expr) = strip_parens(expr)
            && let Some(out) = self.lower_literal_arms(if_expr)
        {
            return out;
        }
        // `(h, c)` of a function that returns a tuple (`lower/tuples.rs`).
        if !self.scalar_output
            && let Expr::Tuple(_) = strip_parens(expr)
        {
            return self.tuple_output(expr);
        }
        // A function returning `[f64; M]` or `Vec<f64>` as a literal of differentiated values.
        if !self.scalar_output
            && let Some((elements, is_vec)) = array_literal(expr)
            && elements.iter().any(|e| self.mentions_active(e))
        {
            let ident = self.namer.fresh("out");
            self.lower_array_literal(&ident, None, &elements, is_vec);
            return match self.lookup(&ident.to_string()) {
                Some((_, binding)) => Operand::Var(binding.var),
                None => placeholder(),
            };
        }
        match self.value(expr, "out") {
            Value::Operand(operand) => operand,
            value => {
                let ident = self.namer.fresh("out");
                let var = self.bind(value, ident, None);
                self.output_temp = Some(var);
                Operand::Var(var)
            }
        }
    }

    fn lower_let(&mut self, local: &syn::Local) {
        let (pat, annotation) = match &local.pat {
            Pat::Type(pat_type) => (&*pat_type.pat, Some(&*pat_type.ty)),
            pat => (pat, None),
        };
        // `let _ = v;` only silences a warning: the body is pure, so there is nothing to run.
        if matches!(pat, Pat::Wild(_)) {
            return;
        }
        // `let (h, c) = (a, b);`: one `let` per name, when no value reads a name it binds.
        if let (Pat::Tuple(names), None, Some(init)) = (pat, annotation, &local.init)
            && let Expr::Tuple(values) = strip_parens(&init.expr)
            && init.diverge.is_none()
            && names.elems.len() == values.elems.len()
            && !values.elems.iter().any(|v| reads_any(v, &names.elems))
        {
            for (name, value) in names.elems.iter().zip(&values.elems) {
                let mut single = local.clone();
                single.pat = name.clone();
                if let Some(init) = &mut single.init {
                    *init.expr = value.clone();
                }
                self.lower_let(&single);
            }
            return;
        }
        // `let (y, t) = if c { ..; (a, b) } else { ..; (u, v) };`: one `let` per name, assigned
        // in the arms (`let y; let t; if c { ..; y = a; t = b; } else { .. }`).
        if let (Pat::Tuple(names), None, Some(init)) = (pat, annotation, &local.init)
            && let Expr::If(if_expr) = strip_parens(&init.expr)
            && init.diverge.is_none()
            && let Some(idents) = names
                .elems
                .iter()
                .map(|n| match n {
                    Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => {
                        Some(p.ident.clone())
                    }
                    _ => None,
                })
                .collect::<Option<Vec<_>>>()
            && let Some(assigned) = super::branches::tuple_arms_assigned(if_expr, &idents)
        {
            for ident in &idents {
                self.lower_declaration(syn::parse_quote_spanned!(ident.span()=> let #ident;));
            }
            self.lower_if_statement(&assigned, "branch");
            return;
        }
        // `let (n, c, h, w) = x.dim();` of constants: the tuple bound once, then one `let` per
        // name (`let n = x_dim.0;`).
        // (A call's tuple result is taken apart by the call's own pattern, below, typed by
        // the callee's gradient types: its value is not known to be a float.)
        if let (Pat::Tuple(names), Some(init)) = (pat, &local.init)
            && init.diverge.is_none()
            && !self.mentions_active(&init.expr)
            && !matches!(strip_parens(&init.expr), Expr::Call(_))
            && names.elems.iter().all(|n| {
                matches!(n, Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none())
                    || matches!(n, Pat::Wild(_))
            })
        {
            let hint = match strip_parens(&init.expr) {
                Expr::MethodCall(call) => match strip_parens(&call.receiver) {
                    Expr::Path(p) if p.path.get_ident().is_some() => {
                        format!("{}_{}", p.path.segments[0].ident, call.method)
                    }
                    _ => call.method.to_string(),
                },
                _ => "tuple".to_string(),
            };
            let tuple = self.namer.fresh(&hint);
            let value = &init.expr;
            let ty = annotation.map(|ty| quote!(: #ty));
            self.lower_declaration(
                syn::parse_quote_spanned!(local.span()=> let #tuple #ty = #value;),
            );
            for (k, name) in names.elems.iter().enumerate() {
                if let Pat::Ident(name) = name {
                    let k = syn::Index::from(k);
                    let ident = &name.ident;
                    self.lower_declaration(
                        syn::parse_quote_spanned!(ident.span()=> let #ident = #tuple.#k;),
                    );
                }
            }
            return;
        }
        // `let [value, tangent] = g(..);` of an array: the array bound once (typed by the
        // annotation, or `[F; N]` of the pattern's length), then one `let` per name.
        if let (Pat::Slice(names), Some(init)) = (pat, &local.init)
            && init.diverge.is_none()
            && names.elems.iter().all(|n| {
                matches!(n, Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none())
                    || matches!(n, Pat::Wild(_))
            })
        {
            let value = &init.expr;
            // A variable is indexed where it is; anything else is bound first, a call's result
            // typed (as lowering asks of a call that returns an array).
            let array = match strip_parens(value) {
                Expr::Path(path) if path.path.get_ident().is_some() => quote!(#value),
                _ => {
                    let array = self.namer.fresh("array");
                    let ty = match (annotation, strip_parens(value)) {
                        (Some(ty), _) => Some(quote!(: #ty)),
                        (None, Expr::Call(_)) => {
                            let (f, n) = (self.default_float.ident(), names.elems.len());
                            Some(quote!(: [#f; #n]))
                        }
                        (None, _) => None,
                    };
                    self.lower_declaration(
                        syn::parse_quote_spanned!(local.span()=> let #array #ty = #value;),
                    );
                    quote!(#array)
                }
            };
            for (k, name) in names.elems.iter().enumerate() {
                if let Pat::Ident(name) = name {
                    let ident = &name.ident;
                    self.lower_declaration(
                        syn::parse_quote_spanned!(ident.span()=> let #ident = #array[#k];),
                    );
                }
            }
            return;
        }
        // `let (h, c) = g(..);`: a call's tuple result taken apart (`lower/tuples.rs`).
        if let (Pat::Tuple(_), Some(init)) = (pat, &local.init)
            && init.diverge.is_none()
            && let Expr::Call(call) = strip_parens(&init.expr)
        {
            self.lower_tuple_call(pat, annotation, call);
            return;
        }
        // `let (v, (_, gx)) = self.critic_grad(x);`: a struct's method, the same call.
        if let (Pat::Tuple(_), Some(init)) = (pat, &local.init)
            && init.diverge.is_none()
            && let Expr::MethodCall(method) = strip_parens(&init.expr)
            && let Some(call) = self.struct_method_as_call(method)
        {
            self.lower_tuple_call(pat, annotation, &call);
            return;
        }
        let Pat::Ident(pat_ident) = pat else {
            self.errors.spanned(
                pat,
                "this destructuring `let` is not supported; bind one name per `let`, or take apart a tuple (`let (a, b) = (x, y);`) or an array by one name per element (`let [a, b] = w;`)",
            );
            return;
        };
        if pat_ident.by_ref.is_some() || pat_ident.subpat.is_some() {
            self.errors.spanned(
                pat_ident,
                "`ref` and `@` patterns are not supported; bind the value by name",
            );
            return;
        }
        let Some(init) = &local.init else {
            // `let l;` then `l = ..` in each arm of an `if`: a float variable that starts from
            // zero, which rustc checks every path overwrites before it is read.
            if annotation.is_none_or(|ty| float_type(ty).is_some()) {
                let ident = &pat_ident.ident;
                let ty = annotation.map(|ty| quote!(: #ty));
                self.lower_declaration(
                    syn::parse_quote_spanned!(local.span()=> let mut #ident #ty = 0.0;),
                );
                return;
            }
            self.errors.spanned(
                local,
                "a `let` without a value is supported for a float assigned later; give the value at the `let`",
            );
            self.unlowered.insert(pat_ident.ident.to_string());
            return;
        };
        if let Some((else_token, _)) = &init.diverge {
            self.errors.spanned(
                else_token,
                "`let ... else` is not supported in a `#[backprop]` function",
            );
            return;
        }
        if pat_ident.mutability.is_some()
            && let Some((value, len, is_vec)) = buffer_init(&init.expr)
        {
            self.lower_buffer(&pat_ident.ident, annotation, &value, &len, is_vec);
            return;
        }
        // `let mut out = Array4::zeros((n, f, ho, wo));`: an ndarray buffer written by index.
        // (Never written by index, `let mut c = Array2::zeros(..); .. c = next_c;`, it is a
        // constant that a loop replaces: a carried variable.)
        if pat_ident.mutability.is_some()
            && self.indexed.contains(&pat_ident.ident.to_string())
            && let Some(ty) = self.tensor_zeros(&init.expr, annotation)
        {
            self.lower_tensor_buffer(&pat_ident.ident, annotation, &init.expr, ty);
            return;
        }
        // `let r = [a * b, a + b];` of differentiated values: a buffer filled by index; so is
        // `let mut r = [1.0, 0.0, 0.0];` of constants that the function writes into.
        if let Some((elements, is_vec)) = array_literal(&init.expr)
            && (elements.iter().any(|e| self.mentions_active(e))
                || (pat_ident.mutability.is_some()
                    && self.indexed.contains(&pat_ident.ident.to_string())))
        {
            self.lower_array_literal(&pat_ident.ident, annotation, &elements, is_vec);
            return;
        }
        if pat_ident.mutability.is_some()
            && let Some(source) = self.copied_array(&init.expr)
        {
            self.lower_buffer_copy(&pat_ident.ident, annotation, source);
            return;
        }
        // An array annotation says what a call of the user's own gate returns (see `bind`).
        // `let r: [f64; 2] = g(..);` / `Vec<f64>`: a function returning an array of floats.
        let array_call = matches!(strip_parens(&init.expr), Expr::Call(_))
            && annotation.is_some_and(|ty| matches!(classify(ty), Ok(Ty::Array { .. })));
        // `let mut r: [f64; 2] = g(..);` then `r[0] *= x;`: the call's result, then a buffer
        // of its own that starts as a copy of it.
        if array_call
            && pat_ident.mutability.is_some()
            && self.indexed.contains(&pat_ident.ident.to_string())
        {
            let ident = &pat_ident.ident;
            let result = self.namer.fresh(&format!("{ident}_result"));
            let value = &init.expr;
            self.lower_declaration(
                syn::parse_quote_spanned!(local.span()=> let #result: #annotation = #value;),
            );
            self.lower_declaration(
                syn::parse_quote_spanned!(local.span()=> let mut #ident: #annotation = #result;),
            );
            return;
        }
        if let Some(ty) = annotation
            && float_type(ty).is_none()
            && !classify(ty).is_ok_and(|ty| ty.is_tensor())
            && !array_call
            && self.mentions_active(&init.expr)
        {
            self.errors.spanned(ty, "a differentiated value must be `f32`, `f64` or an ndarray array of floats, or an array of floats (`[f64; M]`, `Vec<f64>`) that a function call returns; remove the annotation or use one of these types");
        }
        let name = pat_ident.ident.to_string();
        // A macro the validation reported (`let info = s![..];`): later reads of the name are
        // not reported again.
        if is_reported_by_validation(strip_parens(&init.expr)) {
            self.unlowered.insert(name.clone());
        }
        if self.is_view_expression(&init.expr) {
            self.views.insert(name.clone());
        } else {
            self.views.remove(&name);
        }
        let value = self.value(&init.expr, &name);
        let first = self.bound.insert(name.clone());
        let written = pat_ident.mutability.is_some() && self.indexed.contains(&name);
        let var = match value {
            // An ndarray array written in place (`m[[i, y[i]]] = 0.0`) is one of its own, even
            // when it starts as a copy of another (`let mut m = a.clone();`).
            Value::Operand(Operand::Var(v)) if self.vars[v].ty.is_tensor() && written => {
                let ident = self.namer.user_binding(&pat_ident.ident, first);
                let mut ty = self.vars[v].ty.clone();
                if let Ty::Tensor { by_ref, .. } = &mut ty {
                    *by_ref = false;
                }
                let var = self.new_var(ident, ty, self.vars[v].active);
                self.push_node(Node::Assign(Assign {
                    target: var,
                    prim: Prim::Table {
                        rule: rules::operator("copy"),
                        name: Ident::new("copy", Span::call_site()),
                    },
                    args: vec![Operand::Var(v)],
                    annotation: annotation.map(ToTokens::to_token_stream),
                    span: pat_ident.ident.span(),
                }));
                var
            }
            // `let v = h;` (or `h.view()`, `h.clone()`) of an array: another name for `h`, whose
            // lines read it through references anyway; a copy line would borrow or move it.
            Value::Operand(Operand::Var(v)) if self.vars[v].ty.is_tensor() => v,
            value => {
                let ident = self.namer.user_binding(&pat_ident.ident, first);
                self.bind(value, ident, annotation)
            }
        };
        if written && self.vars[var].ty.is_tensor() {
            self.vars[var].buffer = true;
            // A copy of a constant array becomes differentiated when a differentiated value
            // is written into it (found in the first pass, as for `vec![0.0; n]`).
            if !self.buffer_numbers.contains_key(&var) {
                let number = self.buffer_numbers.len();
                self.buffer_numbers.insert(var, number);
                if self.active_buffers.contains(&number) {
                    self.vars[var].active = true;
                }
            }
        }
        if let Some(scope) = self.scopes.last_mut() {
            scope.insert(
                name,
                Binding {
                    var,
                    mutable: pat_ident.mutability.is_some(),
                },
            );
        }
    }

    /// `h[i] = value` or `h[i] op= value` into a local buffer: a write in place.
    fn lower_store(
        &mut self,
        target: &syn::ExprIndex,
        op: Option<&'static str>,
        right: &Expr,
        whole: &dyn ToTokens,
    ) {
        let tensor = match strip_parens(&target.expr) {
            Expr::Path(p) => self
                .lookup_path(p)
                .filter(|b| self.vars[b.var].ty.is_tensor() && self.vars[b.var].buffer),
            _ => None,
        };
        let Some(binding) = tensor.or_else(|| self.array_binding(&target.expr)) else {
            self.errors.spanned(
                &target.expr,
                "only a local buffer or a local ndarray array can be written by index: `let mut h = vec![0.0; n];` or `let mut m = a.clone();`, then `h[i] = ..`, `m[[i, j]] = ..`",
            );
            return;
        };
        let buffer = binding.var;
        if !self.vars[buffer].buffer {
            self.errors.spanned(
                &target.expr,
                "a `#[backprop]` function does not write into its parameters; write into a local buffer (`let mut h = vec![0.0; n];`)",
            );
            return;
        }
        if self.mentions_active(&target.index) {
            self.errors.spanned(
                &target.index,
                "an index must not depend on differentiated values; use an integer expression",
            );
            return;
        }
        let index = self.rename(strip_parens(&target.index)).to_token_stream();
        let hint = self.vars[buffer].ident.to_string();
        let (op, value) = match op {
            None => (StoreOp::Set, self.operand(right, &hint)),
            Some("add") => (StoreOp::Add, self.operand(right, &hint)),
            Some("sub") => (StoreOp::Sub, self.operand(right, &hint)),
            // `h[i] *= v` is `h[i] = h[i] * v`.
            Some(op) => {
                let rhs = self.operand(right, &hint);
                let current = Operand::Element {
                    var: buffer,
                    index: index.clone(),
                };
                let value = table(op, vec![current, rhs], right.span());
                let ident = self.namer.fresh(&format!("{hint}_{op}"));
                (StoreOp::Set, Operand::Var(self.bind(value, ident, None)))
            }
        };
        if self.is_active(&value)
            && !self.vars[buffer].active
            && self.vars[buffer].ty.is_tensor()
            && !self.buffer_numbers.contains_key(&buffer)
        {
            let name = self.vars[buffer].ident.to_string();
            self.errors.spanned(
                right,
                format!("`{name}` does not depend on the differentiated parameters, and writing a differentiated value into one of its elements is not supported yet; keep the differentiated values in an array of their own and combine it with `{name}` by whole-array operations"),
            );
            return;
        }
        if self.is_active(&value) && !self.vars[buffer].active {
            self.vars[buffer].active = true;
            if let Some(number) = self.buffer_numbers.get(&buffer) {
                self.written_active.insert(*number);
            }
        }
        self.push_node(Node::Store(Store {
            buffer,
            index,
            op,
            value,
            reset: true,
            saved: false,
            span: whole.to_token_stream().span(),
        }));
    }

    /// `x = value` or `x op= value`: a new version of `x`.
    pub(super) fn lower_assign(
        &mut self,
        left: &Expr,
        op: Option<&'static str>,
        right: &Expr,
        whole: &dyn ToTokens,
    ) {
        let Expr::Path(path) = strip_parens(left) else {
            match strip_parens(left) {
                Expr::Index(target) => self.lower_store(target, op, right, whole),
                _ => self.errors.spanned(
                    left,
                    "only local variables can be assigned to in a `#[backprop]` function",
                ),
            }
            return;
        };
        let Some(ident) = path.path.get_ident().cloned() else {
            self.errors.spanned(
                left,
                "only local variables can be assigned to in a `#[backprop]` function",
            );
            return;
        };
        let name = ident.to_string();
        let Some((depth, binding)) = self.lookup(&name) else {
            // A `let` reported already: one error, not one per assignment.
            if !self.unlowered.contains(&name) {
                self.errors.spanned(
                    left,
                    format!("cannot find a local variable `{name}` to assign to"),
                );
            }
            return;
        };
        if self.vars[binding.var].buffer
            && op.is_none()
            && self.lower_buffer_replace(&ident, right, whole)
        {
            return;
        }
        if self.vars[binding.var].buffer {
            self.errors.spanned(
                whole,
                format!("`{name}` is a buffer: write its elements (`{name}[i] = ..`); replacing it whole is not supported"),
            );
            return;
        }
        if !binding.mutable {
            self.errors.spanned(
                whole,
                format!("cannot assign to `{name}`: it is not declared mutable; write `let mut {name}` (or `mut {name}` for a parameter), or bind a new `let {name} = ...`"),
            );
            return;
        }
        let value = match op {
            None => self.value(right, &name),
            Some(op) => {
                let rhs = self.operand(right, &name);
                Value::Assign {
                    prim: Prim::Table {
                        rule: rules::operator(op),
                        name: Ident::new(op, Span::call_site()),
                    },
                    args: vec![Operand::Var(binding.var), rhs],
                    span: right.span(),
                }
            }
        };
        let version = self.namer.user_binding(&ident, false);
        let var = self.bind(value, version, None);
        self.rebind(name, &ident, var, depth);
    }
}

/// Whether `expr` reads a name that one of `patterns` binds.
fn reads_any(expr: &Expr, patterns: &syn::punctuated::Punctuated<Pat, syn::Token![,]>) -> bool {
    // The variables the expression reads (`theta` of `theta.cos()`, not the method `cos`).
    struct Reads(HashSet<String>);
    impl<'ast> syn::visit::Visit<'ast> for Reads {
        fn visit_expr_path(&mut self, path: &'ast syn::ExprPath) {
            if let Some(ident) = path.path.get_ident() {
                self.0.insert(ident.to_string());
            }
        }
        fn visit_macro(&mut self, mac: &'ast syn::Macro) {
            crate::ir::idents_in(mac.tokens.clone(), &mut self.0);
        }
    }
    let mut bound = HashSet::new();
    patterns
        .iter()
        .for_each(|p| crate::ir::idents_in(p.to_token_stream(), &mut bound));
    let mut read = Reads(HashSet::new());
    syn::visit::Visit::visit_expr(&mut read, expr);
    !bound.is_disjoint(&read.0)
}

/// Whether an `if` statement does anything: assign outer variables or write into buffers.
fn has_effect(value: &Value) -> bool {
    let Value::Branch {
        assigned,
        then,
        otherwise,
        ..
    } = value
    else {
        return false;
    };
    let mut written = Vec::new();
    for node in then.nodes.iter().chain(&otherwise.nodes) {
        node.stores(&mut written);
    }
    !assigned.is_empty() || !written.is_empty()
}
