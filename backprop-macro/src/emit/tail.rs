//! A function whose value is a call, `let out = g(..);` as its last line, runs `g` forward once
//! in `f_backward`: the call's reverse is the first statement of the reverse pass, seeded with
//! `d_out`, and `g_backward` returns `g`'s value beside the gradients, so the forward line is
//! left out and the reverse statement binds the value (`let (out, d_out_inputs) =
//! ::backprop::args(g_backward(.., d_out));`). Without it every tail call (`mse(&adapted, x,
//! y)` ending a meta-loss, `loss(&w, x, y)` ending a wrapper) runs its callee's forward pass
//! twice. `f_forward` keeps the line: its reverse runs later, in the closure.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};

use crate::ir::{Node, Operand, Program};
use crate::reverse::{BackStmt, Reversed};
use crate::rules::Prim;

/// `forward` without its last line and `stmts` with the first binding its value, when the
/// last line is such a call; `None` otherwise.
pub(super) fn joint_tail_call(
    program: &Program,
    reversed: &Reversed,
) -> Option<(Vec<Node>, Vec<BackStmt>)> {
    let Some(Node::Assign(last)) = reversed.forward.last() else {
        return None;
    };
    // A split call (`reverse: Some`) returns its closure, and a tuple result is bound by its
    // pattern; a runtime gate on arrays is differentiated by its gradient-only function.
    let Prim::Call {
        reverse: None,
        parts: None,
        backward,
        ..
    } = &last.prim
    else {
        return None;
    };
    let returned = matches!(*program.body.value(), Operand::Var(out) if out == last.target);
    if !returned
        || program.output_temp != Some(last.target)
        || reversed.output_copy.is_some()
        || reversed.grads.get(&last.target) != Some(&reversed.seed)
    {
        return None;
    }
    let value = &program.vars[last.target].ident;
    let first = match reversed.stmts.first()? {
        // Several gradients: `let (_, d_out_inputs) = ::backprop::args(g_backward(..));`.
        BackStmt::Setup(tokens) => {
            let syn::Stmt::Local(local) = syn::parse2::<syn::Stmt>(tokens.clone()).ok()? else {
                return None;
            };
            let syn::Pat::Tuple(pattern) = &local.pat else {
                return None;
            };
            let [syn::Pat::Wild(_), gradients] = &pattern.elems.iter().collect::<Vec<_>>()[..]
            else {
                return None;
            };
            let init = local.init.as_ref()?;
            if !calls(&init.expr, backward) {
                return None;
            }
            let call = &init.expr;
            BackStmt::Setup(quote!(let (#value, #gradients) = #call;))
        }
        // One gradient: `let d_x = g_backward(.., d_out).1;`.
        BackStmt::Init {
            var,
            expr,
            sum_to: false,
            moved: None,
            unwritten: None,
        } => {
            let syn::Expr::Field(field) = syn::parse2::<syn::Expr>(expr.clone()).ok()? else {
                return None;
            };
            if field.member.to_token_stream().to_string() != "1" || !calls(&field.base, backward) {
                return None;
            }
            let gradient = reversed.grads.get(var)?;
            let binding = match reversed.mutable.contains(var) {
                true => quote!(mut #gradient),
                false => gradient.to_token_stream(),
            };
            let call = &field.base;
            BackStmt::Setup(quote!(let (#value, #binding) = #call;))
        }
        _ => return None,
    };
    let forward = reversed.forward[..reversed.forward.len() - 1].to_vec();
    let stmts = std::iter::once(first)
        .chain(reversed.stmts[1..].iter().cloned())
        .collect();
    Some((forward, stmts))
}

/// Whether `expr` is the call `backward(..)`, possibly inside `::backprop::args(..)`.
fn calls(expr: &syn::Expr, backward: &TokenStream) -> bool {
    let syn::Expr::Call(call) = expr else {
        return false;
    };
    let callee = call.func.to_token_stream().to_string();
    if callee == backward.to_string() {
        return true;
    }
    callee == quote!(::backprop::args).to_string()
        && call.args.len() == 1
        && calls(&call.args[0], backward)
}
