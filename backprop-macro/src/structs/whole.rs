//! Structs passed whole: a struct parameter, or a struct field of one, as a call's argument
//! (`dense(&net.l1, x)`, `self.l1.forward(x)`): which argument is one and what its fields'
//! parameters are (for `rules::StructArg`), whether a struct taken by value must stay whole,
//! and which fields' bindings the companions end up not reading.

use std::collections::HashMap;

use proc_macro2::{Ident, TokenStream, TokenTree};
use quote::quote;
use syn::Expr;

use super::{FieldOf, Group, Structs, field_chain, user_struct};

/// A call's argument that is a struct parameter, or a struct field of one, passed whole
/// (`net`, `&net`, `&net.l1`, `self`): its group, and its fields' parameters and their places
/// in it (`net_l1_w` at `.w`), in declaration order.
pub fn struct_argument<'a>(
    groups: &'a [Group],
    arg: &Expr,
) -> Option<(&'a Group, Vec<(Ident, TokenStream)>)> {
    let mut expr = arg;
    loop {
        expr = match expr {
            Expr::Reference(reference) if reference.mutability.is_none() => &reference.expr,
            Expr::Paren(paren) => &paren.expr,
            // `a.clone()` of a struct taken by reference, passed by value.
            Expr::MethodCall(m) if m.method == "clone" && m.args.is_empty() => &m.receiver,
            // The receiver of a method of a struct taken by value (`struct_method_as_call`).
            Expr::Call(c) if c.args.len() == 1 && crate::lower::calls::is_receive(&c.func) => {
                &c.args[0]
            }
            _ => break,
        };
    }
    let (chain, _) = field_chain(expr)?;
    let place = chain.join(".");
    fn find<'a>(group: &'a Group, place: &str) -> Option<&'a Group> {
        if group.access.to_string().replace(' ', "") == place {
            return Some(group);
        }
        group.fields.iter().find_map(|(_, field)| match field {
            FieldOf::Nested(nested) => find(nested, place),
            _ => None,
        })
    }
    let group = groups.iter().find_map(|g| find(g, &place))?;
    fn leaves(group: &Group, prefix: TokenStream, out: &mut Vec<(Ident, TokenStream)>) {
        for (name, field) in &group.fields {
            match field {
                FieldOf::Leaf(leaf) => out.push((leaf.clone(), quote!(#prefix.#name))),
                FieldOf::Skipped => {}
                FieldOf::Nested(nested) => leaves(nested, quote!(#prefix.#name), out),
            }
        }
    }
    let mut out = Vec::new();
    leaves(group, TokenStream::new(), &mut out);
    Some((group, out))
}

/// Whether `block` passes the struct parameter `param` (of struct `path`), or a struct field
/// of it, whole to a call.
pub(super) fn passes_whole(
    block: &syn::Block,
    param: &Ident,
    path: &syn::Path,
    structs: &Structs,
) -> bool {
    struct Find<'a> {
        param: &'a Ident,
        path: &'a syn::Path,
        structs: &'a Structs,
        found: bool,
    }
    impl Find<'_> {
        /// Whether `arg` is the parameter or a struct field of it.
        fn is_struct(&self, arg: &Expr) -> bool {
            let mut expr = arg;
            while let Expr::Reference(syn::ExprReference { expr: inner, .. })
            | Expr::Paren(syn::ExprParen { expr: inner, .. })
            | Expr::MethodCall(syn::ExprMethodCall {
                receiver: inner, ..
            }) = expr
            {
                expr = inner;
            }
            let Some((chain, _)) = field_chain(expr) else {
                return false;
            };
            if chain.first() != Some(&self.param.to_string()) {
                return false;
            }
            let mut current = self.path.clone();
            for name in &chain[1..] {
                let Some(field) = self
                    .structs
                    .fields_of(&current)
                    .and_then(|fields| fields.into_iter().find(|f| f.name == name))
                else {
                    return false;
                };
                match user_struct(&field.ty) {
                    Some(nested) => current = nested,
                    None => return false,
                }
            }
            true
        }
    }
    impl<'ast> syn::visit::Visit<'ast> for Find<'_> {
        fn visit_expr_call(&mut self, call: &'ast syn::ExprCall) {
            self.found |= call.args.iter().any(|a| self.is_struct(a));
            syn::visit::visit_expr_call(self, call);
        }
        fn visit_expr_method_call(&mut self, call: &'ast syn::ExprMethodCall) {
            self.found |= call.method != "clone" && self.is_struct(&call.receiver);
            syn::visit::visit_expr_method_call(self, call);
        }
    }
    let mut find = Find {
        param,
        path,
        structs,
        found: false,
    };
    syn::visit::Visit::visit_block(&mut find, block);
    find.found
}

/// Drops the bindings of the fields that `companions` never read but where they bind them
/// (`let net_l1_w = ..;` of a struct only passed whole to calls); whether it dropped one.
pub fn unbind_unread(groups: &mut [Group], companions: &TokenStream) -> bool {
    fn reads(tokens: &TokenStream, counts: &mut HashMap<String, usize>) {
        let mut after_let = false;
        for tree in tokens.clone() {
            match &tree {
                TokenTree::Ident(ident) if ident == "let" => {
                    after_let = true;
                    continue;
                }
                TokenTree::Ident(ident) if !after_let => {
                    *counts.entry(ident.to_string()).or_default() += 1;
                }
                TokenTree::Group(group) => reads(&group.stream(), counts),
                _ => {}
            }
            after_let = false;
        }
    }
    fn unbind(group: &mut Group, counts: &HashMap<String, usize>) -> bool {
        let before = group.bindings.len();
        group.bindings.retain(|b| {
            counts.contains_key(&b.leaf.to_string())
                || counts.contains_key(&format!("t_{}", b.leaf))
        });
        let mut changed = group.bindings.len() != before;
        for (_, field) in &mut group.fields {
            if let FieldOf::Nested(nested) = field {
                changed |= unbind(nested, counts);
            }
        }
        changed
    }
    let mut counts = HashMap::new();
    reads(companions, &mut counts);
    let mut changed = false;
    for group in groups {
        changed |= unbind(group, &counts);
    }
    changed
}
