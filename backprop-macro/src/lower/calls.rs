//! Function calls: a call of a `#[backprop]` function or a runtime gate (with its
//! `_backward`), a tuple of results, `ndarray::concatenate`, and how each argument is passed.

use proc_macro2::{Ident, TokenStream};
use quote::ToTokens;
use syn::Expr;
use syn::spanned::Spanned;

use crate::ir::{Operand, Ty};
use crate::rules::{self, Pass, Prim};

use super::expressions::{float_method_path, strip_parens};
use super::{Lowerer, Value, placeholder};

impl Lowerer<'_> {
    pub(super) fn call(&mut self, call: &syn::ExprCall, hint: &str) -> Value {
        let span = call.span();
        let Expr::Path(func) = strip_parens(&call.func) else {
            self.errors.spanned(
                &call.func,
                "only calls of named functions can be differentiated",
            );
            return Value::Operand(placeholder());
        };
        if func.qself.is_some() || func.path.segments.iter().any(|s| !s.arguments.is_none()) {
            self.errors.spanned(
                func,
                "generic or qualified calls are not supported; call the function by its plain path",
            );
            return Value::Operand(placeholder());
        }
        // `f64::exp(x)` is `x.exp()`.
        if let Some((float, method)) = float_method_path(&func.path) {
            let name = method.to_string();
            let Some(rule) = rules::method_rule(&name) else {
                self.errors.spanned(
                    method,
                    format!(
                        "`{name}` is not a differentiable float method; supported methods are {}",
                        rules::method_names()
                    ),
                );
                return Value::Operand(placeholder());
            };
            if call.args.len() != rule.arity {
                self.errors.spanned(
                    call,
                    format!(
                        "`{}::{name}` takes {} argument(s)",
                        float.name(),
                        rule.arity
                    ),
                );
                return Value::Operand(placeholder());
            }
            let args = call.args.iter().map(|a| self.operand(a, hint)).collect();
            return Value::Assign {
                prim: Prim::Table {
                    rule,
                    name: method.clone(),
                },
                args,
                span,
            };
        }
        let mut args = Vec::new();
        let mut pass = Vec::new();
        // A struct passed whole: its fields' parameters, operands after the written ones.
        let mut structs = Vec::new();
        let mut field_operands = Vec::new();
        for arg in &call.args {
            if let Some((group, fields)) = crate::structs::struct_argument(self.groups, arg) {
                let mut operands = Vec::new();
                for (leaf, place) in fields {
                    if let Some((_, binding)) = self.lookup(&leaf.to_string()) {
                        operands.push((Operand::Var(binding.var), place));
                    }
                }
                let reference = match strip_parens(arg) {
                    Expr::Reference(_) => true,
                    Expr::Path(path) => group.by_ref && path.path.is_ident(&group.param),
                    _ => false,
                };
                let root = (group.param.clone(), group.differentiable, reference);
                structs.push((args.len(), operands, root));
                args.push(self.constant(arg));
                pass.push(Pass::Plain);
            } else if let Expr::Reference(reference) = strip_parens(arg)
                && reference.mutability.is_none()
                && self.expression_is_tensor(&reference.expr)
            {
                // Arrays are passed by reference anyway: `softmax(&scores, Axis(1))`; a copy
                // of a view stays one (`gr(&m.to_owned())`).
                let copy_of_view = matches!(strip_parens(&reference.expr), Expr::MethodCall(m)
                    if m.args.is_empty()
                        && ["to_owned", "into_owned", "clone"].contains(&m.method.to_string().as_str())
                        && self.is_view_expression(&m.receiver));
                args.push(self.operand(arg, hint));
                pass.push(if copy_of_view {
                    Pass::RefOwned
                } else {
                    Pass::Plain
                });
            } else if let Expr::Reference(reference) = strip_parens(arg)
                && reference.mutability.is_none()
                && let Expr::Index(index) = strip_parens(&reference.expr)
                && let Expr::Range(range) = strip_parens(&index.index)
                && let Some(base) = self.array_binding(&index.expr)
                && matches!(self.vars[base.var].ty, Ty::Array { .. })
            {
                // `&q[a..b]`: a sub-slice, whose gradient lands in `d_q[a..b]`.
                if self.mentions_active(&index.index) {
                    self.errors.spanned(
                        &index.index,
                        "an index must not depend on differentiated values; use an integer expression",
                    );
                }
                let range = self.rename(&Expr::Range(range.clone()));
                args.push(Operand::Element {
                    var: base.var,
                    index: range.to_token_stream(),
                });
                pass.push(Pass::Ref);
            } else if let Expr::Reference(reference) = strip_parens(arg) {
                let is_array = self.array_binding(&reference.expr).is_some();
                if reference.mutability.is_some() || !is_array {
                    if self.mentions_active(arg) {
                        self.errors.spanned(reference, "only array parameters can be passed by reference (`&w`) to a differentiated call");
                    }
                    args.push(self.constant(arg));
                    pass.push(Pass::Plain);
                } else {
                    args.push(self.operand(&reference.expr, hint));
                    pass.push(Pass::Ref);
                }
            } else {
                let operand = self.operand(arg, hint);
                // A name that holds a reference (`y` of `y: &Array1<f64>`) passes it.
                let reference = matches!(strip_parens(arg), Expr::Path(_))
                    && matches!(self.operand_ty(&operand), Ty::Tensor { by_ref: true, .. });
                // The runtime's gates take arrays by reference as well as by value.
                let runtime =
                    rules::gates::runtime_gate_name(&func.path.to_token_stream()).is_some();
                pass.push(if reference || runtime {
                    Pass::Plain
                } else {
                    self.passed_by_value(arg)
                });
                args.push(operand);
            }
        }
        let structs = structs
            .into_iter()
            .map(
                |(position, operands, (root, differentiable, reference))| rules::StructArg {
                    position,
                    root,
                    differentiable,
                    reference,
                    fields: operands
                        .into_iter()
                        .map(|(operand, place)| {
                            field_operands.push(operand);
                            (args.len() + field_operands.len() - 1, place)
                        })
                        .collect(),
                },
            )
            .collect();
        args.extend(field_operands);
        // A struct held constant, passed as itself (`net`, `&net`, or as the receiver of one
        // of its methods, `::backprop::receive(&net)`).
        let held = call.args.iter().any(|arg| {
            let mut arg = strip_parens(arg);
            loop {
                arg = match arg {
                    Expr::Reference(reference) => strip_parens(&reference.expr),
                    Expr::Call(c) if c.args.len() == 1 && is_receive(&c.func) => &c.args[0],
                    _ => break,
                };
            }
            matches!(arg, Expr::Path(p) if p.path.get_ident().is_some_and(|i| self.held.contains_key(&i.to_string())))
        });
        let (path, backward) = backward_path(&func.path);
        Value::Assign {
            prim: Prim::Call {
                path,
                backward,
                pass,
                reverse: None,
                parts: None,
                structs,
                held,
            },
            args,
            span,
        }
    }

    /// How an argument written without `&` is passed. An ndarray array by value is the
    /// callee's own: the generated code reads the variable again (in the reverse pass), so it
    /// passes a copy (`go(z)` is `go(z.to_owned())`), a view as itself, or what the user's own
    /// method makes (`a.view()`, `z.clone()`).
    pub(super) fn passed_by_value(&self, arg: &Expr) -> Pass {
        if !self.expression_is_tensor(arg) {
            return Pass::Plain;
        }
        // `xs[k]` of a `&[Array2<F>]` (the `x` of `for x in xs`): a reference, as the loop's.
        if let Expr::Index(index) = strip_parens(arg)
            && let Expr::Path(p) = strip_parens(&index.expr)
            && self
                .lookup_path(p)
                .is_some_and(|b| matches!(self.vars[b.var].ty, Ty::Tensors { .. }))
        {
            return Pass::Plain;
        }
        match strip_parens(arg) {
            Expr::MethodCall(m)
                if m.args.is_empty() && (m.method == "view" || m.method == "clone") =>
            {
                Pass::Method(m.method.clone())
            }
            Expr::Path(p)
                if p.path
                    .get_ident()
                    .is_some_and(|i| self.views.contains(&i.to_string())) =>
            {
                Pass::View
            }
            _ => Pass::Method(Ident::new("to_owned", arg.span())),
        }
    }
}

/// `g` → (`g`, `g_backward`); a path into the runtime crate is made absolute.
pub(super) fn backward_path(path: &syn::Path) -> (TokenStream, TokenStream) {
    let mut forward = path.clone();
    if forward.leading_colon.is_none()
        && forward.segments.len() > 1
        && forward.segments[0].ident == "backprop"
    {
        forward.leading_colon = Some(Default::default());
    }
    let mut backward = forward.clone();
    if let Some(last) = backward.segments.last_mut() {
        // `format_ident!` drops the `r#` of a raw name: `r#type` → `type_backward`.
        last.ident = quote::format_ident!("{}_backward", last.ident, span = last.ident.span());
    }
    (forward.to_token_stream(), backward.to_token_stream())
}

/// Whether `func` is `::backprop::receive`, which generated calls of a struct's methods pass
/// the struct through (`Lowerer::struct_method_as_call`).
pub(crate) fn is_receive(func: &Expr) -> bool {
    func.to_token_stream().to_string().replace(' ', "") == "::backprop::receive"
}
