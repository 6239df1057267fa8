//! Branches: an `if` used as a value or as a statement that assigns outer variables, each
//! arm lowered in its own scope; and the `if`s whose arms end in tuples or array literals,
//! rewritten as arms that assign names or write a buffer by index.

use std::collections::HashMap;

use proc_macro2::{Ident, Span, TokenStream};
use quote::quote;
use syn::Expr;
use syn::spanned::Spanned;

use crate::ir::{Block, Node, Operand, VarId};

use super::{Lowerer, Value, placeholder};

impl Lowerer<'_> {
    // ----- branches -------------------------------------------------------------------------

    /// An `if` used as a value (`has_value`, which needs an `else`) or as a statement that
    /// assigns outer variables.
    pub(super) fn if_branch(
        &mut self,
        if_expr: &syn::ExprIf,
        hint: &str,
        has_value: bool,
    ) -> Value {
        let returns = std::mem::replace(&mut self.returns_here, false);
        let value = self.if_branch_arms(if_expr, hint, has_value);
        self.returns_here = returns;
        value
    }

    fn if_branch_arms(&mut self, if_expr: &syn::ExprIf, hint: &str, has_value: bool) -> Value {
        if matches!(&*if_expr.cond, Expr::Let(_)) {
            self.errors.spanned(
                &if_expr.cond,
                "`if let` is not supported; compare values: `if x > 0.0 { .. } else { .. }`",
            );
            return Value::Operand(placeholder());
        }
        if has_value && if_expr.else_branch.is_none() {
            self.errors.spanned(
                if_expr.if_token,
                "an `if` used as a value needs an `else` branch: `if cond { a } else { b }`",
            );
            return Value::Operand(placeholder());
        }
        let cond = {
            let renamed = self.rename(&if_expr.cond);
            quote!(#renamed)
        };
        let then = |this: &mut Self| {
            this.lower_body_value(
                &if_expr.then_branch.stmts,
                if_expr.then_branch.span(),
                hint,
                has_value,
            )
        };
        let otherwise = |this: &mut Self| match if_expr.else_branch.as_ref().map(|(_, e)| &**e) {
            Some(Expr::Block(block)) => {
                this.lower_body_value(&block.block.stmts, block.span(), hint, has_value)
            }
            Some(Expr::If(nested)) => {
                let value = this.if_branch(nested, hint, has_value);
                match value {
                    Value::Branch { .. } => {
                        let ident = if has_value {
                            Some(this.namer.fresh(&format!("{hint}_if")))
                        } else {
                            None
                        };
                        let value_var = this.bind_branch(value, ident, None);
                        value_var.map(Operand::Var).unwrap_or_else(placeholder)
                    }
                    Value::Operand(operand) => operand,
                    other => {
                        let ident = this.namer.fresh(&format!("{hint}_if"));
                        Operand::Var(this.bind(other, ident, None))
                    }
                }
            }
            Some(other) => this.operand(other, hint),
            None => placeholder(),
        };
        self.make_branch(cond, if_expr.span(), has_value, then, otherwise)
    }

    /// A branch from its two arms, each lowered in its own scope.
    pub(super) fn make_branch(
        &mut self,
        cond: TokenStream,
        span: Span,
        has_value: bool,
        then: impl FnOnce(&mut Self) -> Operand,
        otherwise: impl FnOnce(&mut Self) -> Operand,
    ) -> Value {
        let then = self.arm(then);
        let otherwise = self.arm(otherwise);
        // Every outer variable either arm assigns is a result of both arms: the arm that does
        // not assign it passes on the value from before the branch.
        let (then_nodes, then_value, then_assigned) = then;
        let (else_nodes, else_value, else_assigned) = otherwise;
        let mut assigned: Vec<(String, Ident)> = Vec::new();
        for (name, ident, _) in then_assigned.iter().chain(&else_assigned) {
            if !assigned.iter().any(|(n, _)| n == name) {
                assigned.push((name.clone(), ident.clone()));
            }
        }
        // In the order the variables were declared, so that an `else if` chain's nested
        // branch lines up with its parent (and prints as `else if`).
        assigned.sort_by_key(|(name, _)| self.lookup(name).map(|(_, b)| b.var));
        let results = |this: &Self, value: Operand, arm_assigned: &[(String, Ident, VarId)]| {
            let mut results = Vec::new();
            if has_value {
                results.push(value);
            }
            for (name, _) in &assigned {
                let var = match arm_assigned.iter().find(|(n, _, _)| n == name) {
                    Some((_, _, var)) => *var,
                    None => this.lookup(name).map(|(_, b)| b.var).unwrap_or(0),
                };
                results.push(Operand::Var(var));
            }
            results
        };
        let then = Block {
            nodes: then_nodes,
            results: results(self, then_value, &then_assigned),
        };
        let otherwise = Block {
            nodes: else_nodes,
            results: results(self, else_value, &else_assigned),
        };
        Value::Branch {
            cond,
            then,
            otherwise,
            span,
            has_value,
            assigned,
        }
    }

    /// Lowers one branch arm in its own scope and node list: its nodes, its value, and the
    /// outer variables it assigns with their final versions.
    fn arm(
        &mut self,
        lower: impl FnOnce(&mut Self) -> Operand,
    ) -> (Vec<Node>, Operand, Vec<(String, Ident, VarId)>) {
        self.scopes.push(HashMap::new());
        let start = self.scopes.len() - 1;
        self.arm_starts.push(start);
        self.arm_assigned.push(Vec::new());
        self.nodes.push(Vec::new());
        let value = lower(self);
        let nodes = self.nodes.pop().unwrap_or_default();
        let assigned = self.arm_assigned.pop().unwrap_or_default();
        let finals = assigned
            .into_iter()
            .filter_map(|(name, ident)| {
                let var = self.scopes.get(start)?.get(&name)?.var;
                Some((name, ident, var))
            })
            .collect();
        self.arm_starts.pop();
        self.scopes.pop();
        (nodes, value, finals)
    }
}

impl Lowerer<'_> {
    /// `if c { [a, b] } else { [u, v] }` as the function's value: `let mut out = [0.0; 2];`,
    /// the `if` with each arm writing its elements, then `out`.
    pub(super) fn lower_literal_arms(&mut self, if_expr: &syn::ExprIf) -> Option<Operand> {
        let out = self.namer.fresh("out");
        let (written, len, is_vec) = literal_arms_written(if_expr, &out)?;
        let len = syn::Index::from(len);
        let span = if_expr.span();
        let init: syn::Stmt = if is_vec {
            syn::parse_quote_spanned!(span=> let mut #out = vec![0.0; #len];)
        } else {
            syn::parse_quote_spanned!(span=> let mut #out = [0.0; #len];)
        };
        let stmts = [init, syn::Stmt::Expr(Expr::If(written), None)];
        self.lower_body_value(&stmts, span, "out", false);
        let (_, binding) = self.lookup(&out.to_string())?;
        Some(Operand::Var(binding.var))
    }
}

/// Each arm's final array literal written into `name` by index (`name[0] = a; ..`); the
/// literals' common length and whether they are `vec![..]`. `None` unless every arm ends in one.
fn literal_arms_written(if_expr: &syn::ExprIf, name: &Ident) -> Option<(syn::ExprIf, usize, bool)> {
    fn arm(block: &syn::Block, name: &Ident) -> Option<(syn::Block, usize, bool)> {
        let mut block = block.clone();
        let Some(syn::Stmt::Expr(last, None)) = block.stmts.pop() else {
            return None;
        };
        let (elements, is_vec) = super::array_literal(&last)?;
        for (k, value) in elements.iter().enumerate() {
            let k = syn::Index::from(k);
            block
                .stmts
                .push(syn::parse_quote_spanned!(value.span()=> #name[#k] = #value;));
        }
        Some((block, elements.len(), is_vec))
    }
    let mut out = if_expr.clone();
    let (then, len, is_vec) = arm(&if_expr.then_branch, name)?;
    out.then_branch = then;
    let (else_token, otherwise) = if_expr.else_branch.as_ref()?;
    let (otherwise, other_len, other_vec) = match &**otherwise {
        Expr::If(inner) => {
            let (inner, len, is_vec) = literal_arms_written(inner, name)?;
            (Expr::If(inner), len, is_vec)
        }
        Expr::Block(b) => {
            let (block, len, is_vec) = arm(&b.block, name)?;
            let block = syn::ExprBlock { block, ..b.clone() };
            (Expr::Block(block), len, is_vec)
        }
        _ => return None,
    };
    if (len, is_vec) != (other_len, other_vec) {
        return None;
    }
    out.else_branch = Some((*else_token, Box::new(otherwise)));
    Some((out, len, is_vec))
}

/// `if c { ..; (a, b) } else { ..; (u, v) }` with each arm's tuple (of `idents.len()` values)
/// assigned to `idents` instead (`y = a; t = b;`); `None` if an arm does not end in such a
/// tuple.
pub(super) fn tuple_arms_assigned(if_expr: &syn::ExprIf, idents: &[Ident]) -> Option<syn::ExprIf> {
    fn arm(block: &syn::Block, idents: &[Ident]) -> Option<syn::Block> {
        let mut block = block.clone();
        let Some(syn::Stmt::Expr(Expr::Tuple(tuple), None)) = block.stmts.pop() else {
            return None;
        };
        if tuple.elems.len() != idents.len() {
            return None;
        }
        for (ident, value) in idents.iter().zip(&tuple.elems) {
            block
                .stmts
                .push(syn::parse_quote_spanned!(value.span()=> #ident = #value;));
        }
        Some(block)
    }
    let mut out = if_expr.clone();
    out.then_branch = arm(&if_expr.then_branch, idents)?;
    let (else_token, otherwise) = if_expr.else_branch.as_ref()?;
    let otherwise = match &**otherwise {
        Expr::If(inner) => Expr::If(tuple_arms_assigned(inner, idents)?),
        Expr::Block(b) => Expr::Block(syn::ExprBlock {
            block: arm(&b.block, idents)?,
            ..b.clone()
        }),
        _ => return None,
    };
    out.else_branch = Some((*else_token, Box::new(otherwise)));
    Some(out)
}
