//! Expressions: operands and the temporaries they bind, binary operators, method calls,
//! indexing, constants (inactive expressions kept whole, renamed), and the syntax helpers
//! these share (function calls are in `calls.rs`).

use std::collections::HashMap;

use proc_macro2::{Ident, Span};
use quote::{ToTokens, quote};
use syn::spanned::Spanned;
use syn::visit::Visit;
use syn::visit_mut::VisitMut;
use syn::{BinOp, Expr, Lit, UnOp};

use crate::ir::{FloatTy, Operand, Ty};
use crate::rules::{self, Prim, TensorOp};
use crate::signature::float_type;

use super::buffers::{buffer_init, vec_repeat};
use super::tensors::{ARRAY_METHODS, SHAPE_METHODS};
use super::{Lowerer, Value, placeholder};

/// The ndarray methods that make a view of their receiver.
pub const VIEW_METHODS: &[&str] = &[
    "view",
    "t",
    "row",
    "column",
    "slice",
    "slice_axis",
    "index_axis",
];

impl Lowerer<'_> {
    /// `net.forward(x)`, `self.l1.forward(x)`: a method of a struct parameter (or of a struct
    /// field of one) as the call `Net::forward(&net, x)`, of a method with its companions
    /// (`#[backprop]` in its impl).
    pub(super) fn struct_method_as_call(
        &self,
        call: &syn::ExprMethodCall,
    ) -> Option<syn::ExprCall> {
        if call.method == "clone" {
            return None;
        }
        let (group, _) = crate::structs::struct_argument(self.groups, &call.receiver)?;
        // A generic struct's arguments are inferred from the receiver (`Critic::score(self, x)`
        // of `impl Critic<f64>`), as a call with them would not be differentiated.
        let mut path: syn::Path = syn::parse2(group.path.clone()).ok()?;
        path.segments
            .iter_mut()
            .for_each(|s| s.arguments = syn::PathArguments::None);
        let (method, args) = (&call.method, &call.args);
        let receiver = strip_parens(&call.receiver);
        // A struct taken by value lends itself to a `&self` method and gives a copy to a
        // `self` one (which the generated code calls twice): `::backprop::receive` is either,
        // inferred from the method.
        let receiver = match receiver {
            Expr::Path(_) if group.by_ref => quote!(#receiver),
            // Spanned at the receiver: a struct that is not `Clone` is reported there.
            Expr::Path(path) => {
                let span = syn::spanned::Spanned::span(path);
                quote::quote_spanned!(span=> ::backprop::receive(&#receiver))
            }
            _ => quote!(&#receiver),
        };
        let span = syn::spanned::Spanned::span(call);
        Some(syn::parse_quote_spanned!(span=> #path::#method(#receiver, #args)))
    }

    // ----- expressions ----------------------------------------------------------------------

    /// Lowers `expr` to an operand, binding a compound value to a temporary named after
    /// `hint` and the operation.
    pub(super) fn operand(&mut self, expr: &Expr, hint: &str) -> Operand {
        match self.value(expr, hint) {
            Value::Operand(operand) => operand,
            value => {
                let base = format!("{hint}_{}", value_name(&value));
                let ident = self.namer.fresh(&base);
                Operand::Var(self.bind(value, ident, None))
            }
        }
    }

    /// Whether `expr` reads a variable that has a gradient.
    pub(super) fn mentions_active(&self, expr: &Expr) -> bool {
        struct Finder<'l, 'a> {
            lowerer: &'l Lowerer<'a>,
            found: bool,
            /// The parameters of the closures around the current expression (`|v| ..` of a
            /// `mapv`), which shadow the function's own names.
            shadowed: Vec<String>,
        }
        impl<'ast> Visit<'ast> for Finder<'_, '_> {
            fn visit_expr_path(&mut self, path: &'ast syn::ExprPath) {
                let shadowed = path
                    .path
                    .get_ident()
                    .is_some_and(|i| self.shadowed.contains(&i.to_string()));
                if !shadowed && let Some(b) = self.lowerer.lookup_path(path) {
                    self.found |= self.lowerer.vars[b.var].active;
                }
            }
            fn visit_expr_closure(&mut self, closure: &'ast syn::ExprClosure) {
                let before = self.shadowed.len();
                for input in &closure.inputs {
                    let pat = match input {
                        syn::Pat::Type(t) => &*t.pat,
                        other => other,
                    };
                    if let syn::Pat::Ident(p) = pat {
                        self.shadowed.push(p.ident.to_string());
                    }
                }
                self.visit_expr(&closure.body);
                self.shadowed.truncate(before);
            }
            fn visit_macro(&mut self, mac: &'ast syn::Macro) {
                if let Some((value, len)) = vec_repeat(mac) {
                    self.visit_expr(&value);
                    self.visit_expr(&len);
                }
            }
            // An array's length or shape does not depend on its values (`x[x.len() - 1]`).
            fn visit_expr_method_call(&mut self, call: &'ast syn::ExprMethodCall) {
                if SHAPE_METHODS.iter().any(|m| call.method == m) {
                    return;
                }
                syn::visit::visit_expr_method_call(self, call);
            }
        }
        let mut finder = Finder {
            lowerer: self,
            found: false,
            shadowed: Vec::new(),
        };
        finder.visit_expr(expr);
        finder.found
    }

    /// `expr` with every local name replaced by the name of its current variable.
    pub(super) fn rename(&self, expr: &Expr) -> Expr {
        struct Renamer<'l, 'a> {
            lowerer: &'l Lowerer<'a>,
        }
        impl VisitMut for Renamer<'_, '_> {
            fn visit_expr_mut(&mut self, expr: &mut Expr) {
                // `x.into_shape_with_order(s).unwrap()` of an owned array moves it, which the
                // reverse pass may read (`d_w = xᵀ·d_z` of a constant `x`): the reshape is a
                // copy, as of a differentiated array (`Prim::Reshape`'s rendering).
                let moves = self.moving_reshape(expr);
                syn::visit_mut::visit_expr_mut(self, expr);
                if moves
                    && let Expr::MethodCall(unwrap) = expr
                    && let Expr::MethodCall(reshape) = strip_parens(&unwrap.receiver)
                {
                    let (receiver, args) = (&reshape.receiver, &reshape.args);
                    let (method, unwrap_args) = (&unwrap.method, &unwrap.args);
                    *expr = syn::parse_quote!(
                        #receiver.to_shape(#args).#method(#unwrap_args).into_owned()
                    );
                }
            }
            fn visit_expr_path_mut(&mut self, path: &mut syn::ExprPath) {
                if let Some(b) = self.lowerer.lookup_path(path)
                    && let Some(segment) = path.path.segments.first_mut()
                {
                    let span = segment.ident.span();
                    segment.ident = self.lowerer.vars[b.var].ident.clone();
                    segment.ident.set_span(span);
                }
            }
            fn visit_macro_mut(&mut self, mac: &mut syn::Macro) {
                if let Some((mut value, mut len)) = vec_repeat(mac) {
                    self.visit_expr_mut(&mut value);
                    self.visit_expr_mut(&mut len);
                    mac.tokens = quote!(#value; #len);
                }
            }
        }
        impl Renamer<'_, '_> {
            /// `x.into_shape_with_order(s).unwrap()` (or `expect`, `into_shape`) of an owned
            /// array the lowerer knows.
            fn moving_reshape(&self, expr: &Expr) -> bool {
                if let Expr::MethodCall(unwrap) = expr
                    && (unwrap.method == "unwrap" || unwrap.method == "expect")
                    && let Expr::MethodCall(reshape) = strip_parens(&unwrap.receiver)
                    && (reshape.method == "into_shape_with_order" || reshape.method == "into_shape")
                    && let Expr::Path(path) = strip_parens(&reshape.receiver)
                    && let Some(b) = self.lowerer.lookup_path(path)
                {
                    return matches!(
                        self.lowerer.vars[b.var].ty,
                        Ty::Tensor { by_ref: false, .. }
                    ) && !self
                        .lowerer
                        .views
                        .contains(&path.to_token_stream().to_string());
                }
                false
            }
        }
        let mut renamed = expr.clone();
        Renamer { lowerer: self }.visit_expr_mut(&mut renamed);
        renamed
    }

    /// An inactive expression as a constant operand.
    pub(super) fn constant(&self, expr: &Expr) -> Operand {
        let expr = strip_parens(expr);
        // `&x` of an array: arrays are borrowed where they are used anyway.
        if let Expr::Reference(reference) = expr
            && reference.mutability.is_none()
            && self.constant_ty(&reference.expr).is_tensor()
        {
            return self.constant(&reference.expr);
        }
        let renamed = self.rename(expr);
        let atomic = is_atomic(expr);
        Operand::Const {
            tokens: renamed.to_token_stream(),
            ty: self.constant_ty(expr),
            atomic,
        }
    }

    /// An expression that reads differentiated values but is itself not differentiable (a
    /// comparison, `x as i32`), as a constant of type `ty`.
    pub(super) fn constant_of_type(&self, expr: &Expr, ty: Ty) -> Operand {
        Operand::Const {
            tokens: self.rename(expr).to_token_stream(),
            ty,
            atomic: is_atomic(expr),
        }
    }

    pub(super) fn value(&mut self, expr: &Expr, hint: &str) -> Value {
        if !self.mentions_active(expr) && !contains_control_flow(expr) {
            return Value::Operand(self.constant(expr));
        }
        let span = expr.span();
        match expr {
            Expr::Paren(inner) => self.value(&inner.expr, hint),
            Expr::Group(inner) => self.value(&inner.expr, hint),
            Expr::Path(path) => match self.lookup_path(path) {
                Some(b) => Value::Operand(Operand::Var(b.var)),
                None => Value::Operand(self.constant(expr)),
            },
            Expr::Unary(unary) => match unary.op {
                UnOp::Neg(_) => {
                    let a = self.operand(&unary.expr, hint);
                    table("neg", vec![a], span)
                }
                _ => {
                    self.errors.spanned(unary, "only unary `-` can be differentiated; `!` and `*` are not supported on differentiated values");
                    Value::Operand(placeholder())
                }
            },
            Expr::Binary(binary) => self.binary(binary, hint),
            Expr::MethodCall(call) => self.method_call(call, hint),
            Expr::Call(call) => self.call(call, hint),
            Expr::Cast(cast) => match float_type(&cast.ty) {
                Some(to) => {
                    let a = self.operand(&cast.expr, hint);
                    Value::Assign {
                        prim: Prim::Cast(to),
                        args: vec![a],
                        span,
                    }
                }
                // `x as i32` of a differentiated `x` is piecewise constant: a constant.
                None => Value::Operand(self.constant_of_type(expr, Ty::Other)),
            },
            Expr::Index(index) => self.index(index),
            Expr::If(if_expr) => self.if_branch(if_expr, hint, true),
            Expr::Block(block) if block.label.is_none() => {
                self.scopes.push(HashMap::new());
                let returns = std::mem::replace(&mut self.returns_here, false);
                let result = self.lower_body(&block.block.stmts, block.span(), hint);
                self.returns_here = returns;
                self.scopes.pop();
                Value::Operand(result)
            }
            Expr::Lit(_) => Value::Operand(self.constant(expr)),
            // `&b` of an array, as in `x.dot(&w) + &b`: the array itself.
            Expr::Reference(reference)
                if reference.mutability.is_none() && self.expression_is_tensor(&reference.expr) =>
            {
                self.value(&reference.expr, hint)
            }
            Expr::Reference(reference) => {
                self.errors.spanned(
                    reference,
                    "references to differentiated values are not supported here; use the value itself (arrays may be passed as `&w` to a function call)",
                );
                Value::Operand(placeholder())
            }
            expr if buffer_init(expr).is_some() => {
                self.errors.spanned(
                    expr,
                    "an array of differentiated values is built as a buffer: `let mut h = vec![0.0; n];`, then `h[i] = ..`",
                );
                Value::Operand(placeholder())
            }
            expr if is_reported_by_validation(expr) => Value::Operand(placeholder()),
            Expr::Return(ret) => {
                self.errors.spanned(ret.return_token, "an early `return` is not supported yet; return once, as the last statement of the function");
                Value::Operand(placeholder())
            }
            other => {
                self.errors.spanned(
                    other,
                    format!(
                        "{} cannot be differentiated by `#[backprop]`; use `let` bindings, arithmetic, float methods, `if`/`else` and function calls",
                        describe(other)
                    ),
                );
                Value::Operand(placeholder())
            }
        }
    }

    fn binary(&mut self, binary: &syn::ExprBinary, hint: &str) -> Value {
        let span = binary.span();
        let name = match binary.op {
            BinOp::Add(_) => "add",
            BinOp::Sub(_) => "sub",
            BinOp::Mul(_) => "mul",
            BinOp::Div(_) => "div",
            BinOp::Rem(_) => "rem",
            BinOp::Eq(_)
            | BinOp::Ne(_)
            | BinOp::Lt(_)
            | BinOp::Le(_)
            | BinOp::Gt(_)
            | BinOp::Ge(_)
            | BinOp::And(_)
            | BinOp::Or(_) => {
                // A comparison is a constant (a `bool`) even when it reads differentiated values.
                return Value::Operand(
                    self.constant_of_type(&Expr::Binary(binary.clone()), Ty::Other),
                );
            }
            _ => {
                let message = if compound_op(&binary.op).is_some() {
                    "a compound assignment is a statement here: write `x += v;` on its own line"
                } else {
                    "bitwise and shift operators cannot be differentiated"
                };
                self.errors.spanned(binary.op, message);
                return Value::Operand(placeholder());
            }
        };
        if name == "div"
            && let Some(x) = sigmoid_idiom(binary)
        {
            let a = self.operand(x, hint);
            return table("sigmoid", vec![a], span);
        }
        let a = self.operand(&binary.left, hint);
        let b = self.operand(&binary.right, hint);
        table(name, vec![a, b], span)
    }

    fn method_call(&mut self, call: &syn::ExprMethodCall, hint: &str) -> Value {
        let span = call.span();
        if crate::validate::is_iterator_chain(call) {
            // `r.iter().map(|v| v * v).sum::<f64>()`: the loop it stands for.
            if let Some(acc) = self.reduction(call, hint)
                && let Some((_, binding)) = self.lookup(&acc.to_string())
            {
                return Value::Operand(Operand::Var(binding.var));
            }
            self.errors.spanned(
                call,
                "this iterator chain is not differentiated: a `#[backprop]` function reduces an iterator over the elements of arrays (`r.iter()`, `&x[1..]`, `.zip(&y)`, `.enumerate()`, `.copied()`) or over a range (`(0..n)`), with at most one `.map(|v| ..)`, by `.sum()`, `.product()` or `.fold(init, |acc, v| ..)` (`f64::max`); write other chains as the loop: `let mut total = 0.0; for v in r.iter() { total += v * v; }`",
            );
            return Value::Operand(placeholder());
        }
        if let Some(turbofish) = &call.turbofish {
            self.errors.spanned(
                turbofish,
                "turbofish arguments are not supported on differentiated values",
            );
            return Value::Operand(placeholder());
        }
        if let Some(as_call) = self.struct_method_as_call(call) {
            return self.call(&as_call, hint);
        }
        // `concatenate(Axis(1), &[a.view(), b.view()]).unwrap()`.
        if (call.method == "unwrap" || call.method == "expect")
            && let Expr::Call(inner) = strip_parens(&call.receiver)
            && super::tensors::concat_call(inner).is_some()
        {
            let (method, args) = (&call.method, &call.args);
            if let Some(value) = self.concat(inner, quote!(.#method(#args)), hint) {
                return value;
            }
        }
        // `a.mean().unwrap()`: ndarray's mean is an `Option`, unwrapped as the user wrote it;
        // so is a reshape's `Result`.
        if (call.method == "unwrap" || call.method == "expect")
            && let Expr::MethodCall(inner) = strip_parens(&call.receiver)
            && [
                "mean",
                "mean_axis",
                "to_shape",
                "into_shape_with_order",
                "into_shape",
            ]
            .contains(&inner.method.to_string().as_str())
            && self.expression_is_tensor(&inner.receiver)
        {
            let (method, args) = (&call.method, &call.args);
            let unwrap = quote!(.#method(#args));
            let receiver = self.operand(&inner.receiver, hint);
            return self.tensor_method(receiver, inner, hint, Some(unwrap));
        }
        if self.expression_is_tensor(&call.receiver) {
            let before = self.errors.len();
            let receiver = self.operand(&call.receiver, hint);
            // The receiver was reported: no second error for what is called on it.
            if self.errors.len() > before {
                return Value::Operand(placeholder());
            }
            if self.operand_ty(&receiver).is_tensor() {
                return self.tensor_method(receiver, call, hint, None);
            }
        }
        let receiver_is_array = self.array_binding(&call.receiver).is_some();
        if receiver_is_array && call.method == "len" && call.args.is_empty() {
            return Value::Operand(
                self.constant_of_type(&Expr::MethodCall(call.clone()), Ty::Other),
            );
        }
        let name = call.method.to_string();
        // `camera.project(theta)` of a struct that `wrt(..)` holds constant: the call
        // `Camera::project(camera, theta)`, whose gradients are checked to leave the struct out
        // (its method's `wrt(..)` must, as for any call it is passed to).
        if let Expr::Path(receiver) = strip_parens(&call.receiver)
            && let Some(struct_name) = receiver.path.get_ident()
            && let Some((path, by_ref)) = self.held.get(&struct_name.to_string())
        {
            let span = syn::spanned::Spanned::span(receiver);
            let receiver = match by_ref {
                true => quote::quote_spanned!(span=> #receiver),
                false => quote::quote_spanned!(span=> ::backprop::receive(&#receiver)),
            };
            let (method, args) = (&call.method, &call.args);
            // The type as written in the signature, spanned at the call: what rustc reports
            // about the call points there.
            let mut path = path.clone();
            path.segments
                .iter_mut()
                .for_each(|s| s.ident.set_span(method.span()));
            let span = syn::spanned::Spanned::span(call);
            let as_call: syn::ExprCall =
                syn::parse_quote_spanned!(span=> #path::#method(#receiver, #args));
            return self.call(&as_call, hint);
        }
        let Some(rule) = rules::method_rule(&name) else {
            let message = if ARRAY_METHODS.iter().any(|(method, _)| *method == name) {
                format!(
                    "`{name}` is an array method, but its receiver is taken to be a float; if it is an array returned by your own function, say so at its `let`: `let h: Array1<f64> = g(..);`"
                )
            } else {
                format!(
                    "`{name}` is not a differentiable float method; supported methods are {}; for your own function, call it as `{name}(x)` and write a `{name}_backward` next to it",
                    rules::method_names()
                )
            };
            self.errors.spanned(&call.method, message);
            return Value::Operand(placeholder());
        };
        if call.args.len() + 1 != rule.arity {
            self.errors.spanned(
                call,
                format!("`{name}` takes {} argument(s)", rule.arity - 1),
            );
            return Value::Operand(placeholder());
        }
        let mut args = vec![self.operand(&call.receiver, hint)];
        for arg in &call.args {
            args.push(self.operand(arg, hint));
        }
        Value::Assign {
            prim: Prim::Table {
                rule,
                name: call.method.clone(),
            },
            args,
            span,
        }
    }

    /// Whether a `let`'s value is an ndarray view: a view-making method (`a.t()`, `a.view()`,
    /// `a.row(i)`, `a.slice(s![..])`), or another name of a view.
    pub(super) fn is_view_expression(&self, expr: &Expr) -> bool {
        match strip_parens(expr) {
            Expr::MethodCall(m) if m.method == "clone" => self.is_view_expression(&m.receiver),
            Expr::MethodCall(m) => VIEW_METHODS.contains(&m.method.to_string().as_str()),
            Expr::Path(p) => p
                .path
                .get_ident()
                .is_some_and(|i| self.views.contains(&i.to_string())),
            _ => false,
        }
    }

    fn index(&mut self, index: &syn::ExprIndex) -> Value {
        // `x[[n, c, i, j]]` (or `x[(i, j)]`): an element of an ndarray array, at integer indices.
        let element_of_tensor = match (strip_parens(&index.expr), strip_parens(&index.index)) {
            (Expr::Path(path), Expr::Array(_) | Expr::Tuple(_)) => self
                .lookup_path(path)
                .filter(|b| self.vars[b.var].ty.is_tensor()),
            // `b[i]` of a vector.
            (Expr::Path(path), _) => self.lookup_path(path).filter(|b| {
                self.vars[b.var].ty.is_tensor() && self.vars[b.var].ty.rank() == Some(1)
            }),
            _ => None,
        };
        // `xs[t]` of a slice of arrays: a constant array.
        if let Expr::Path(path) = strip_parens(&index.expr)
            && let Some(b) = self.lookup_path(path)
            && let Ty::Tensors { elem, rank } = self.vars[b.var].ty
        {
            if self.mentions_active(&index.index) {
                self.errors.spanned(
                    &index.index,
                    "an index must not depend on differentiated values; use an integer expression",
                );
                return Value::Operand(placeholder());
            }
            let renamed = self.rename(&Expr::Index(index.clone()));
            return Value::Operand(Operand::Const {
                tokens: renamed.to_token_stream(),
                ty: Ty::Tensor {
                    elem,
                    rank,
                    by_ref: false,
                },
                atomic: true,
            });
        }
        let base = self.array_binding(&index.expr).or(element_of_tensor);
        let Some(base) = base else {
            let message = match &*index.expr {
                Expr::Path(path)
                    if self
                        .lookup_path(path)
                        .is_some_and(|b| self.vars[b.var].ty.is_tensor()) =>
                {
                    "an element of an ndarray array is read at integer indices, one per axis: `x[[i, j]]`"
                }
                _ => {
                    "only slices, arrays (`[F; N]`, `&[F]`, `Vec<F>`) and local buffers can be indexed in a `#[backprop]` function"
                }
            };
            self.errors.spanned(&index.expr, message);
            return Value::Operand(placeholder());
        };
        if self.mentions_active(&index.index) {
            self.errors.spanned(
                &index.index,
                "an index must not depend on differentiated values; use an integer expression",
            );
            return Value::Operand(placeholder());
        }
        let index = self.rename(strip_parens(&index.index)).to_token_stream();
        Value::Operand(Operand::Element {
            var: base.var,
            index,
        })
    }
}

pub(super) fn table(name: &'static str, args: Vec<Operand>, span: Span) -> Value {
    Value::Assign {
        prim: Prim::Table {
            rule: rules::operator(name),
            name: Ident::new(name, Span::call_site()),
        },
        args,
        span,
    }
}

/// What a temporary holding `value` is named after.
fn value_name(value: &Value) -> String {
    match value {
        Value::Operand(_) => "value".into(),
        Value::Assign { prim, .. } => match prim {
            Prim::Table { rule, .. } => rule.name.into(),
            Prim::Cast(to) => format!("as_{}", to.name()),
            Prim::Tensor(op) => match op {
                TensorOp::Dot => "dot",
                TensorOp::T => "t",
                TensorOp::Sum => "sum",
                TensorOp::Mean { .. } => "mean",
                TensorOp::SumAxis => "sum_axis",
                TensorOp::MeanAxis { .. } => "mean_axis",
                TensorOp::InsertAxis => "insert_axis",
                TensorOp::Map { .. } => "map",
                TensorOp::Part { method, .. } => return method.to_string(),
                TensorOp::Select => "select",
                TensorOp::VarAxis => "var",
                TensorOp::StdAxis => "std",
                TensorOp::Reshape { .. } => "reshaped",
                TensorOp::Concat { stack: false, .. } => "concat",
                TensorOp::Concat { stack: true, .. } => "stacked",
            }
            .into(),
            Prim::Call { path, .. } => rules::function_name(path),
            Prim::Field(_) => "part".into(),
            Prim::Tuple(_) => "tuple".into(),
        },
        Value::Branch { .. } => "if".into(),
    }
}

/// `1.0 / (1.0 + (-x).exp())` (or with `f64::exp(-x)`): the lecture's sigmoid, returns `x`.
fn sigmoid_idiom(div: &syn::ExprBinary) -> Option<&Expr> {
    if !is_one(&div.left) {
        return None;
    }
    let Expr::Binary(sum) = strip_parens(&div.right) else {
        return None;
    };
    if !matches!(sum.op, BinOp::Add(_)) || !is_one(&sum.left) {
        return None;
    }
    let negated = match strip_parens(&sum.right) {
        Expr::MethodCall(call) if call.method == "exp" && call.args.is_empty() => &*call.receiver,
        Expr::Call(call) if call.args.len() == 1 => match strip_parens(&call.func) {
            Expr::Path(p) if float_method_path(&p.path).is_some_and(|(_, m)| m == "exp") => {
                &call.args[0]
            }
            _ => return None,
        },
        _ => return None,
    };
    match strip_parens(negated) {
        Expr::Unary(unary) if matches!(unary.op, UnOp::Neg(_)) => Some(&unary.expr),
        _ => None,
    }
}

fn is_one(expr: &Expr) -> bool {
    match strip_parens(expr) {
        Expr::Lit(lit) => match &lit.lit {
            Lit::Float(f) => f.base10_parse::<f64>().is_ok_and(|v| v == 1.0),
            Lit::Int(i) => i.base10_digits() == "1",
            _ => false,
        },
        _ => false,
    }
}

/// Whether `expr` needs no parentheses next to an operator.
fn is_atomic(expr: &Expr) -> bool {
    matches!(
        strip_parens(expr),
        Expr::Path(_)
            | Expr::Lit(_)
            | Expr::MethodCall(_)
            | Expr::Call(_)
            | Expr::Index(_)
            | Expr::Field(_)
    ) && !matches!(strip_parens(expr), Expr::Lit(syn::ExprLit { lit: Lit::Int(_) | Lit::Float(_), .. }) if expr.to_token_stream().to_string().starts_with('-'))
}

pub(super) fn strip_parens(expr: &Expr) -> &Expr {
    match expr {
        Expr::Paren(inner) => strip_parens(&inner.expr),
        Expr::Group(inner) => strip_parens(&inner.expr),
        other => other,
    }
}

pub(super) fn is_arithmetic(op: &BinOp) -> bool {
    matches!(
        op,
        BinOp::Add(_) | BinOp::Sub(_) | BinOp::Mul(_) | BinOp::Div(_) | BinOp::Rem(_)
    )
}

pub(super) fn compound_op(op: &BinOp) -> Option<&'static str> {
    match op {
        BinOp::AddAssign(_) => Some("add"),
        BinOp::SubAssign(_) => Some("sub"),
        BinOp::MulAssign(_) => Some("mul"),
        BinOp::DivAssign(_) => Some("div"),
        BinOp::RemAssign(_) => Some("rem"),
        _ => None,
    }
}

/// `f64::name` or `f32::name`: the float type and the method's name.
pub(super) fn float_method_path(path: &syn::Path) -> Option<(FloatTy, &Ident)> {
    if path.leading_colon.is_some() || path.segments.len() != 2 {
        return None;
    }
    let float = match path.segments[0].ident.to_string().as_str() {
        "f64" => FloatTy::F64,
        "f32" => FloatTy::F32,
        _ => return None,
    };
    Some((float, &path.segments[1].ident))
}

/// Branches and blocks are lowered even when constant, so their statements are checked.
fn contains_control_flow(expr: &Expr) -> bool {
    matches!(strip_parens(expr), Expr::If(_) | Expr::Block(_))
}

/// Constructs that `validate` reports once, wherever they are.
pub(super) fn is_reported_by_validation(expr: &Expr) -> bool {
    matches!(
        expr,
        Expr::Closure(_)
            | Expr::Macro(_)
            | Expr::Unsafe(_)
            | Expr::Async(_)
            | Expr::Await(_)
            | Expr::Try(_)
            | Expr::TryBlock(_)
            | Expr::Yield(_)
    )
}

fn describe(expr: &Expr) -> &'static str {
    match expr {
        Expr::Array(_) => "an array literal",
        Expr::Assign(_) => "an assignment inside an expression",
        Expr::Break(_) => "`break`",
        Expr::Continue(_) => "`continue`",
        Expr::Field(_) => "a field access",
        Expr::Match(_) => "a `match`",
        Expr::Range(_) => "a range",
        Expr::Repeat(_) => "an array repeat expression",
        Expr::Struct(_) => "a struct literal",
        Expr::Tuple(_) => "a tuple",
        Expr::Let(_) => "a `let` expression",
        Expr::Block(_) => "a labeled block",
        _ => "this expression",
    }
}
