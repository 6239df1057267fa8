//! Whole-body checks for constructs that `#[backprop]` never differentiates, wherever they
//! appear (even in code that does not touch a differentiated value), each reported once.

use syn::visit::{self, Visit};

use crate::errors::Errors;

/// Whether `call` uses an iterator (`r.iter().map(..)`).
pub(crate) fn is_iterator_chain(call: &syn::ExprMethodCall) -> bool {
    !["iter", "enumerate", "rev"].contains(&call.method.to_string().as_str())
        && iterator_chain(&call.receiver)
}

/// Whether `expr` is an iterator: `r.iter()`, `r.into_iter()`, `r.iter_mut()`, a range
/// `(0..n)`, or an adaptor of one.
fn iterator_chain(expr: &syn::Expr) -> bool {
    match expr {
        syn::Expr::MethodCall(call) => {
            let method = call.method.to_string();
            // A reduction is a value, no iterator (`r.iter().sum::<f64>().sqrt()`).
            let reduces = [
                "sum", "product", "fold", "count", "collect", "max", "min", "reduce", "last",
                "nth", "any", "all",
            ]
            .contains(&method.as_str());
            ["iter", "into_iter", "iter_mut"].contains(&method.as_str())
                || (!reduces && iterator_chain(&call.receiver))
        }
        syn::Expr::Paren(p) => matches!(&*p.expr, syn::Expr::Range(_)) || iterator_chain(&p.expr),
        _ => false,
    }
}

pub fn validate_stmt(stmt: &syn::Stmt, errors: &mut Errors) {
    Validator { errors }.visit_stmt(stmt);
}

struct Validator<'a> {
    errors: &'a mut Errors,
}

impl<'ast> Visit<'ast> for Validator<'_> {
    fn visit_expr_closure(&mut self, closure: &'ast syn::ExprClosure) {
        self.errors.spanned(
            closure,
            "closures are supported only as `mapv`'s argument (`a.mapv(|v| v * v)`); elsewhere, write a named function `g` with a `g_backward` (or a second `#[backprop]` function) and call it",
        );
    }

    fn visit_expr_for_loop(&mut self, for_loop: &'ast syn::ExprForLoop) {
        // What a loop runs over is checked where it is lowered (one error for it).
        if !matches!(&*for_loop.expr, syn::Expr::Range(_)) {
            self.visit_block(&for_loop.body);
            return;
        }
        visit::visit_expr_for_loop(self, for_loop);
    }

    fn visit_expr_method_call(&mut self, call: &'ast syn::ExprMethodCall) {
        // `a.mapv(|v| ..)`: the closure's body is checked like any other code.
        if call.method == "mapv"
            && let [syn::Expr::Closure(closure)] = call.args.iter().collect::<Vec<_>>().as_slice()
        {
            self.visit_expr(&call.receiver);
            self.visit_expr(&closure.body);
            return;
        }
        // `r.iter().map(|v| v * v).sum::<f64>()`: of constants, a constant; of differentiated
        // values, one error for the chain where it is lowered, not one per part.
        if is_iterator_chain(call) {
            return;
        }
        // `a.slice(s![.., 0..h])`: ndarray's `s!`, which lowering reads.
        if call.method == "slice"
            && let [syn::Expr::Macro(mac)] = call.args.iter().collect::<Vec<_>>().as_slice()
            && mac.mac.path.segments.last().is_some_and(|s| s.ident == "s")
        {
            self.visit_expr(&call.receiver);
            return;
        }
        visit::visit_expr_method_call(self, call);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        // `vec![0.0; n]` starts a local buffer: the one macro whose expansion is known.
        if let Some((value, len)) = crate::lower::vec_repeat(mac) {
            self.visit_expr(&value);
            self.visit_expr(&len);
            return;
        }
        // `vec![a, b, c]`: a buffer filled by index.
        if let Some((elements, _)) =
            crate::lower::array_literal(&syn::Expr::Macro(syn::ExprMacro {
                attrs: Vec::new(),
                mac: mac.clone(),
            }))
        {
            elements.iter().for_each(|e| self.visit_expr(e));
            return;
        }
        if mac.path.segments.last().is_some_and(|s| s.ident == "s") {
            self.errors.spanned(
                mac,
                "ndarray's `s![..]` is read by `#[backprop]` where it is the argument of `slice`: write it in the call, `a.slice(s![.., 0..n])`",
            );
            return;
        }
        self.errors.spanned(
            mac,
            "macro calls are not supported in a `#[backprop]` function: the macro cannot see what they expand to; write the expression out",
        );
    }

    fn visit_expr_unsafe(&mut self, block: &'ast syn::ExprUnsafe) {
        self.errors.spanned(
            block.unsafe_token,
            "`unsafe` blocks are not supported in a `#[backprop]` function",
        );
    }

    fn visit_expr_async(&mut self, expr: &'ast syn::ExprAsync) {
        self.errors
            .spanned(expr.async_token, "`async` blocks cannot be differentiated");
    }

    fn visit_expr_await(&mut self, expr: &'ast syn::ExprAwait) {
        self.errors
            .spanned(expr, "`.await` cannot be differentiated");
    }

    fn visit_expr_try(&mut self, expr: &'ast syn::ExprTry) {
        self.errors.spanned(
            expr.question_token,
            "the `?` operator is not supported in a `#[backprop]` function",
        );
    }

    fn visit_item(&mut self, _item: &'ast syn::Item) {
        // Items in the body (`const K: f64 = 2.0;`) are copied, not differentiated.
    }
}
