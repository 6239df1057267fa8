//! ndarray arrays: the methods with rules of their own, parts and slices, concatenation, and
//! `mapv` closures.

use std::collections::HashMap;

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::spanned::Spanned;
use syn::{Expr, Pat, UnOp};

use crate::ir::{Operand, Ty};
use crate::rules::{self, Pass, Prim, TensorOp};

use super::calls::backward_path;
use super::expressions::{float_method_path, is_arithmetic, strip_parens};
use super::{Binding, Lowerer, Value, placeholder};

/// The ndarray methods with rules of their own (`rules::TensorOp`), and their arities.
pub(super) const ARRAY_METHODS: &[(&str, usize)] = &[
    ("t", 0),
    ("sum", 0),
    ("mean", 0),
    ("dot", 1),
    ("sum_axis", 1),
    ("mean_axis", 1),
    ("insert_axis", 1),
    ("mapv", 1),
    ("slice", 1),
    ("select", 2),
    ("var_axis", 2),
    ("std_axis", 2),
    ("to_shape", 1),
    ("into_shape_with_order", 1),
    ("into_shape", 1),
    ("row", 1),
    ("column", 1),
    ("index_axis", 2),
    ("slice_axis", 2),
];

/// Methods that read an array's length or shape, never its values: constants.
pub(super) const SHAPE_METHODS: &[&str] = &[
    "len", "nrows", "ncols", "len_of", "shape", "dim", "raw_dim", "is_empty",
];

impl Lowerer<'_> {
    // ----- ndarray methods ------------------------------------------------------------------

    /// `a.mapv(|v| expr)`: the closure's body is one expression of arithmetic and float
    /// methods, which hold elementwise, so it is lowered with `v` standing for the whole array
    /// (`a.mapv(|v| v * v + 1.0)` is `&a * &a + 1.0`), every line with its own rule.
    fn mapv_closure(&mut self, receiver: Operand, closure: &syn::ExprClosure, hint: &str) -> Value {
        let param = match closure.inputs.iter().collect::<Vec<_>>().as_slice() {
            [Pat::Ident(p)] if p.by_ref.is_none() && p.subpat.is_none() => p.ident.clone(),
            [Pat::Type(t)] if matches!(&*t.pat, Pat::Ident(_)) => match &*t.pat {
                Pat::Ident(p) => p.ident.clone(),
                _ => return Value::Operand(self.array_placeholder(&receiver)),
            },
            _ => {
                self.errors.spanned(
                    &closure.inputs,
                    "a `mapv` closure takes one value: `|v| ..`",
                );
                return Value::Operand(self.array_placeholder(&receiver));
            }
        };
        if not_elementwise(&closure.body).is_some() {
            return self.mapv_function(receiver, closure, &param, hint);
        }
        let var = match receiver {
            Operand::Var(v) => v,
            // A constant owned array read again later is borrowed, not moved into the copy
            // (`let m_array = &h;`).
            Operand::Const {
                tokens,
                ty:
                    Ty::Tensor {
                        elem,
                        rank,
                        by_ref: false,
                    },
                atomic: true,
            } => {
                let ident = self.namer.fresh(&format!("{hint}_array"));
                let borrowed = Operand::Const {
                    tokens: quote::quote!(&#tokens),
                    ty: Ty::Tensor {
                        elem,
                        rank,
                        by_ref: true,
                    },
                    atomic: true,
                };
                self.bind(Value::Operand(borrowed), ident, None)
            }
            other => {
                let ident = self.namer.fresh(&format!("{hint}_array"));
                self.bind(Value::Operand(other), ident, None)
            }
        };
        self.scopes.push(HashMap::new());
        if let Some(scope) = self.scopes.last_mut() {
            scope.insert(
                param.to_string(),
                Binding {
                    var,
                    mutable: false,
                },
            );
        }
        let value = self.value(&closure.body, hint);
        self.scopes.pop();
        value
    }

    /// `a.mapv(|v| body)` whose body is not elementwise array code (`if v > 0.0 { v } else
    /// { alpha * v }`, a block, a comparison): the body becomes a scalar function of the
    /// element and the float values it reads, `fn h_map(v: f64, alpha: f64) -> f64 { body }`,
    /// whose backward the macro writes too; the forward line maps the function over the
    /// array, and the reverse applies its backward to every element (see `TensorOp::Map`).
    fn mapv_function(
        &mut self,
        receiver: Operand,
        closure: &syn::ExprClosure,
        param: &proc_macro2::Ident,
        hint: &str,
    ) -> Value {
        let elem = self
            .operand_ty(&receiver)
            .float()
            .unwrap_or(self.default_float);
        // The names the body reads from the function, in order of appearance.
        struct Reads(Vec<syn::Ident>);
        impl<'ast> syn::visit::Visit<'ast> for Reads {
            fn visit_expr_path(&mut self, path: &'ast syn::ExprPath) {
                if let Some(ident) = path.path.get_ident()
                    && !self.0.contains(ident)
                {
                    self.0.push(ident.clone());
                }
            }
        }
        let mut reads = Reads(Vec::new());
        syn::visit::Visit::visit_expr(&mut reads, &closure.body);
        let mut captures = Vec::new();
        let mut failed = false;
        for name in reads.0.iter().filter(|n| *n != param) {
            let Some((_, binding)) = self.lookup(&name.to_string()) else {
                continue;
            };
            match self.vars[binding.var].ty {
                Ty::Float(_) | Ty::FloatLit => captures.push((name.clone(), binding.var)),
                _ => {
                    self.errors.spanned(
                        name,
                        format!("a `mapv` closure that is not elementwise array code (a branch, a call of your own function) is a function of the element and of float values; `{name}` is not a float: compute what the closure needs from it before the `mapv` (`let k = {name} as f64;`)"),
                    );
                    failed = true;
                }
            }
        }
        if failed {
            return Value::Operand(self.array_placeholder(&receiver));
        }
        let f = elem.ident();
        let name = self.namer.fresh(&format!("{hint}_map"));
        let names: Vec<&syn::Ident> = captures.iter().map(|(n, _)| n).collect();
        let body = &closure.body;
        let function: syn::ItemFn = syn::parse_quote_spanned!(closure.span()=>
            fn #name(#param: #f, #(#names: #f),*) -> #f {
                #body
            }
        );
        let active: Vec<bool> = captures.iter().map(|(_, v)| self.vars[*v].active).collect();
        let wrt = std::iter::once(param.clone()).chain(
            captures
                .iter()
                .zip(&active)
                .filter(|(_, a)| **a)
                .map(|((n, _), _)| n.clone()),
        );
        let args = crate::args::Args {
            wrt: Some(wrt.collect()),
            ..Default::default()
        };
        let Some(backward) = crate::expand::backward_of(&function, args, self.errors) else {
            return Value::Operand(self.array_placeholder(&receiver));
        };
        let backward_name = backward.sig.ident.clone();
        self.items.push(function.to_token_stream());
        self.items.push(backward.to_token_stream());
        let e = crate::rules::render::element_name(
            &captures
                .iter()
                .map(|(_, v)| self.vars[*v].ident.to_token_stream())
                .chain([name.to_token_stream()])
                .collect::<Vec<_>>(),
        );
        let current: Vec<proc_macro2::Ident> = captures
            .iter()
            .map(|(_, v)| self.vars[*v].ident.clone())
            .collect();
        let forward = quote::quote!(|#e| #name(#e, #(#current),*));
        let args = std::iter::once(receiver)
            .chain(captures.iter().map(|(_, v)| Operand::Var(*v)))
            .collect();
        Value::Assign {
            prim: Prim::Tensor(TensorOp::Map {
                closure: forward,
                function: name.clone(),
                backward: backward_name,
                wrt: active,
            }),
            args,
            span: closure.span(),
        }
    }

    /// `concatenate(axis, &[a.view(), b.view()])` / `stack(..)`, unwrapped as the user wrote
    /// it (`None`: not such a call).
    pub(super) fn concat(
        &mut self,
        call: &syn::ExprCall,
        unwrap: TokenStream,
        hint: &str,
    ) -> Option<Value> {
        let (path, stack) = concat_call(call)?;
        let Expr::Reference(parts) = strip_parens(&call.args[1]) else {
            return None;
        };
        let Expr::Array(parts) = strip_parens(&parts.expr) else {
            return None;
        };
        if self.mentions_active(&call.args[0]) {
            self.errors.spanned(
                &call.args[0],
                "an axis must not depend on differentiated values",
            );
            return Some(Value::Operand(placeholder()));
        }
        let axis = self.rename(&call.args[0]).to_token_stream();
        let args = parts
            .elems
            .iter()
            .map(|part| {
                // `a.view()`: the part is `a`.
                let part = match strip_parens(part) {
                    Expr::MethodCall(m) if m.method == "view" && m.args.is_empty() => &*m.receiver,
                    other => other,
                };
                self.operand(part, hint)
            })
            .collect();
        Some(Value::Assign {
            prim: Prim::Tensor(TensorOp::Concat {
                path,
                axis,
                stack,
                unwrap,
            }),
            args,
            span: call.span(),
        })
    }

    /// `a.slice(s![..])`, `a.row(i)`, `a.column(j)`, `a.index_axis(Axis(k), i)`,
    /// `a.slice_axis(Axis(k), Slice::from(..))`: the part's operation, its arguments renamed,
    /// or `None` after an error (an index that depends on differentiated values).
    fn part(&mut self, receiver: &Operand, call: &syn::ExprMethodCall) -> Option<TensorOp> {
        let rank = self.operand_ty(receiver).rank();
        let method = call.method.to_string();
        if let Some(active) = call.args.iter().find(|a| self.mentions_active(a)) {
            self.errors.spanned(
                active,
                format!("the indices of `{method}` must not depend on differentiated values"),
            );
            return None;
        }
        let (args, rank) = match method.as_str() {
            "slice" => {
                let Some((info, kept, dropped)) = self.slice_info(&call.args[0]) else {
                    if let Expr::Path(p) = strip_parens(&call.args[0])
                        && p.path
                            .get_ident()
                            .is_some_and(|n| self.unlowered.contains(&n.to_string()))
                    {
                        return None;
                    }
                    self.errors.spanned(
                        &call.args[0],
                        "`slice` is differentiated with ndarray's `s![..]` macro written in the call: `a.slice(s![.., 0..h])`",
                    );
                    return None;
                };
                let rank = rank.map(|r| (r + kept).saturating_sub(dropped));
                (info, rank)
            }
            "slice_axis" => {
                let args: Vec<Expr> = call.args.iter().map(|a| self.rename(a)).collect();
                (quote::quote!(#(#args),*), rank)
            }
            _ => {
                let args: Vec<Expr> = call.args.iter().map(|a| self.rename(a)).collect();
                (quote::quote!(#(#args),*), rank.map(|r| r.saturating_sub(1)))
            }
        };
        Some(TensorOp::Part {
            method: call.method.clone(),
            args,
            rank,
        })
    }

    /// The `s![..]` of a `slice` call with its names renamed, how many axes it adds
    /// (`NewAxis`) and how many it indexes away (an index, not a range).
    fn slice_info(&self, arg: &Expr) -> Option<(TokenStream, usize, usize)> {
        let Expr::Macro(mac) = strip_parens(arg) else {
            return None;
        };
        if mac.mac.path.segments.last().is_none_or(|s| s.ident != "s") {
            return None;
        }
        // `s![a, b;2, ..]`: elements separated by `,`, each perhaps with a `;step`.
        let parser = syn::punctuated::Punctuated::<SliceElement, syn::Token![,]>::parse_terminated;
        let elements = syn::parse::Parser::parse2(parser, mac.mac.tokens.clone()).ok()?;
        let (mut added, mut dropped) = (0, 0);
        let mut renamed = Vec::new();
        for element in elements {
            match strip_parens(&element.index) {
                Expr::Range(_) => {}
                Expr::Path(p) if p.path.segments.last().is_some_and(|s| s.ident == "NewAxis") => {
                    added += 1
                }
                _ => dropped += 1,
            }
            let index = self.rename(&element.index);
            renamed.push(match element.step {
                Some(step) => {
                    let step = self.rename(&step);
                    quote::quote!(#index; #step)
                }
                None => index.to_token_stream(),
            });
        }
        let path = &mac.mac.path;
        Some((quote::quote!(#path![#(#renamed),*]), added, dropped))
    }

    /// A method of an ndarray array: the tensor operations, elementwise math, `mapv`.
    pub(super) fn tensor_method(
        &mut self,
        receiver: Operand,
        call: &syn::ExprMethodCall,
        hint: &str,
        unwrap: Option<TokenStream>,
    ) -> Value {
        let span = call.span();
        let name = call.method.to_string();
        let tensor = |op: TensorOp, args: Vec<Operand>| Value::Assign {
            prim: Prim::Tensor(op),
            args,
            span,
        };
        let arity = ARRAY_METHODS
            .iter()
            .find(|(method, _)| *method == name)
            .map_or(usize::MAX, |&(_, arity)| arity);
        if arity != usize::MAX && call.args.len() != arity {
            self.errors
                .spanned(call, format!("`{name}` takes {arity} argument(s)"));
            return Value::Operand(placeholder());
        }
        let needs_unwrap = |this: &mut Self| -> Option<TokenStream> {
            if unwrap.is_none() {
                this.errors.spanned(
                    &call.method,
                    format!("ndarray's `{name}` returns an `Option` (`None` only for an empty array); unwrap it where you call it: `.{name}(..).expect(\"not empty\")`"),
                );
            }
            unwrap.clone()
        };
        match name.as_str() {
            "dot" => {
                let other = self.operand(&call.args[0], hint);
                let ranks = (
                    self.operand_ty(&receiver).rank(),
                    self.operand_ty(&other).rank(),
                );
                match ranks {
                    (Some(1 | 2), Some(1 | 2)) => tensor(TensorOp::Dot, vec![receiver, other]),
                    _ => {
                        self.errors.spanned(
                            call,
                            "`dot` is differentiated for arrays of rank 1 and 2 whose rank the macro can see; bind the operands to `Array1`/`Array2` parameters or `let`s",
                        );
                        Value::Operand(placeholder())
                    }
                }
            }
            "t" => tensor(TensorOp::T, vec![receiver]),
            "select" | "var_axis" | "std_axis" => {
                if let Some(active) = call.args.iter().find(|a| self.mentions_active(a)) {
                    self.errors.spanned(
                        active,
                        format!(
                            "the arguments of `{name}` must not depend on differentiated values"
                        ),
                    );
                    return Value::Operand(self.array_placeholder(&receiver));
                }
                let axis = self.constant(&call.args[0]);
                let other = self.constant(&call.args[1]);
                let op = match name.as_str() {
                    "select" => TensorOp::Select,
                    "var_axis" => TensorOp::VarAxis,
                    _ => TensorOp::StdAxis,
                };
                tensor(op, vec![receiver, axis, other])
            }
            "to_shape" | "into_shape_with_order" | "into_shape" => {
                if self.mentions_active(&call.args[0]) {
                    self.errors.spanned(
                        &call.args[0],
                        "a shape must not depend on differentiated values",
                    );
                    return Value::Operand(self.array_placeholder(&receiver));
                }
                let rank = match strip_parens(&call.args[0]) {
                    Expr::Tuple(t) => Some(t.elems.len()),
                    Expr::Array(a) => Some(a.elems.len()),
                    Expr::Lit(_) | Expr::Path(_) | Expr::Binary(_) => Some(1),
                    _ => None,
                };
                let shape = self.constant(&call.args[0]);
                match needs_unwrap(self) {
                    Some(unwrap) => {
                        tensor(TensorOp::Reshape { unwrap, rank }, vec![receiver, shape])
                    }
                    None => Value::Operand(self.array_placeholder(&receiver)),
                }
            }
            "slice" | "row" | "column" | "index_axis" | "slice_axis" => {
                match self.part(&receiver, call) {
                    Some(op) => tensor(op, vec![receiver]),
                    None => Value::Operand(self.array_placeholder(&receiver)),
                }
            }
            // The same values: `u.view().insert_axis(Axis(1))` of a borrowed `u`;
            // `into_owned()` of a reshape (`a.to_shape(..).unwrap().into_owned()`, as forward
            // mode writes a reshape's tangent, which `hvp` differentiates again).
            "view" | "clone" | "to_owned" | "into_owned" if call.args.is_empty() => {
                Value::Operand(receiver)
            }
            "sum" => tensor(TensorOp::Sum, vec![receiver]),
            "mean" => match needs_unwrap(self) {
                Some(unwrap) => tensor(TensorOp::Mean { unwrap }, vec![receiver]),
                None => Value::Operand(placeholder()),
            },
            "sum_axis" | "insert_axis" | "mean_axis" => {
                if self.mentions_active(&call.args[0]) {
                    self.errors.spanned(
                        &call.args[0],
                        "an axis must not depend on differentiated values",
                    );
                    return Value::Operand(placeholder());
                }
                let axis = self.constant(&call.args[0]);
                match name.as_str() {
                    "sum_axis" => tensor(TensorOp::SumAxis, vec![receiver, axis]),
                    "insert_axis" => tensor(TensorOp::InsertAxis, vec![receiver, axis]),
                    _ => match needs_unwrap(self) {
                        Some(unwrap) => tensor(TensorOp::MeanAxis { unwrap }, vec![receiver, axis]),
                        None => Value::Operand(placeholder()),
                    },
                }
            }
            // `a.mapv(f64::exp)` is `a.exp()`; `a.mapv(backprop::sigmoid)` is the gate on `a`.
            "mapv" => {
                let Expr::Path(function) = strip_parens(&call.args[0]) else {
                    if let Expr::Closure(closure) = strip_parens(&call.args[0]) {
                        return self.mapv_closure(receiver, closure, hint);
                    }
                    self.errors.spanned(
                        &call.args[0],
                        "`mapv` is differentiated for a float method (`f64::exp`) or a gate (`backprop::sigmoid`); write the elementwise expression with array operations instead of a closure",
                    );
                    return Value::Operand(placeholder());
                };
                match float_method_path(&function.path) {
                    Some((float, method)) => {
                        match rules::method_rule(&method.to_string()) {
                            Some(rule)
                                if rule.arity == 1
                                    && !rules::SCALAR_ONLY_METHODS.contains(&rule.name) =>
                            {
                                let name = method.clone();
                                Value::Assign {
                                    prim: Prim::Table { rule, name },
                                    args: vec![receiver],
                                    span,
                                }
                            }
                            _ => {
                                self.errors.spanned(function, format!("`{}::{method}` cannot be mapped over an array differentiably", float.name()));
                                Value::Operand(placeholder())
                            }
                        }
                    }
                    // `a.mapv(leaky)` of a function of the user's: the closure `|v| leaky(v)`.
                    None if rules::tensor_gate_rank(&function.path.to_token_stream()).is_none() => {
                        let element = quote::format_ident!("v");
                        let closure: syn::ExprClosure = syn::parse_quote_spanned!(function.span()=> |#element| #function(#element));
                        self.mapv_function(receiver, &closure, &element, hint)
                    }
                    _ => {
                        let (path, backward) = backward_path(&function.path);
                        Value::Assign {
                            prim: Prim::Call {
                                path,
                                backward,
                                pass: vec![Pass::Plain],
                                reverse: None,
                                parts: None,
                                structs: Vec::new(),
                                held: false,
                            },
                            args: vec![receiver],
                            span,
                        }
                    }
                }
            }
            method if SHAPE_METHODS.contains(&method) => {
                Value::Operand(self.constant_of_type(&Expr::MethodCall(call.clone()), Ty::Other))
            }
            method => match rules::method_rule(method) {
                // An elementwise float method; or `v.max(c)` in `z.mapv(|v| ..)`, a comparison
                // with number bounds, the rule applied to every element.
                Some(rule)
                    if (!rules::SCALAR_ONLY_METHODS.contains(&method)
                        || rules::ELEMENTWISE_SCALAR_METHODS.contains(&method))
                        && call.args.len() + 1 == rule.arity =>
                {
                    let mut args = vec![receiver];
                    for arg in &call.args {
                        args.push(self.operand(arg, hint));
                    }
                    if args[1..].iter().any(|a| self.operand_ty(a).is_tensor()) {
                        let message = if rules::ELEMENTWISE_SCALAR_METHODS.contains(&method) {
                            format!(
                                "elementwise `{method}` of an array takes numbers as its bounds, not arrays; write a gate `g` with its `g_backward` for two arrays"
                            )
                        } else {
                            format!("`{method}` on arrays takes a scalar argument")
                        };
                        self.errors.spanned(call, message);
                        return Value::Operand(self.array_placeholder(&args[0]));
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
                _ => {
                    self.errors.spanned(
                        &call.method,
                        format!(
                            "`{method}` is not differentiated on arrays; supported: `dot`, `t`, `view`, `clone`, `sum`, `mean`, `sum_axis`, `mean_axis`, `insert_axis`, `mapv`, elementwise float methods and `max`/`min`/`clamp` with numbers, and the gates `backprop::{{relu, sigmoid, softplus, softmax, log_softmax, max_axis, pick}}`"
                        ),
                    );
                    Value::Operand(self.array_placeholder(&receiver))
                }
            },
        }
    }
}

/// The first part of a `mapv` closure's body that is not elementwise array code: anything
/// but arithmetic, negation, literals, names, parentheses, method calls and function calls.
fn not_elementwise(expr: &Expr) -> Option<&Expr> {
    match strip_parens(expr) {
        Expr::Binary(b) if is_arithmetic(&b.op) => {
            not_elementwise(&b.left).or_else(|| not_elementwise(&b.right))
        }
        Expr::Unary(u) if matches!(u.op, UnOp::Neg(_)) => not_elementwise(&u.expr),
        Expr::Lit(_) | Expr::Path(_) => None,
        Expr::MethodCall(m) => {
            not_elementwise(&m.receiver).or_else(|| m.args.iter().find_map(not_elementwise))
        }
        // `f64::exp(v)` and the runtime's gates hold elementwise; a function of the user's
        // takes one element (`|v| leaky(v, alpha)`), so the closure is a scalar function.
        Expr::Call(c) => match strip_parens(&c.func) {
            Expr::Path(p)
                if float_method_path(&p.path).is_some()
                    || rules::tensor_gate_rank(&p.path.to_token_stream()).is_some() =>
            {
                c.args.iter().find_map(not_elementwise)
            }
            _ => Some(expr),
        },
        other => Some(other),
    }
}

/// One element of `s![..]`: an index or range, perhaps with a `;step`.
struct SliceElement {
    index: Expr,
    step: Option<Expr>,
}

impl syn::parse::Parse for SliceElement {
    fn parse(input: syn::parse::ParseStream) -> syn::Result<Self> {
        let index = input.parse()?;
        let step = if input.peek(syn::Token![;]) {
            input.parse::<syn::Token![;]>()?;
            Some(input.parse()?)
        } else {
            None
        };
        Ok(SliceElement { index, step })
    }
}

/// ndarray's `concatenate(axis, &[..])` or `stack(axis, &[..])` (the path as written), and
/// whether it stacks.
pub(super) fn concat_call(call: &syn::ExprCall) -> Option<(TokenStream, bool)> {
    let Expr::Path(path) = strip_parens(&call.func) else {
        return None;
    };
    let last = path.path.segments.last()?.ident.to_string();
    let stack = match last.as_str() {
        "concatenate" => false,
        "stack" => true,
        _ => return None,
    };
    let parts_given = matches!(strip_parens(call.args.iter().nth(1)?), Expr::Reference(r)
        if matches!(strip_parens(&r.expr), Expr::Array(_)));
    (call.args.len() == 2 && parts_given).then(|| (path.to_token_stream(), stack))
}

/// The rank of `a.slice(s![..])`: one axis per range (`..`, `0..h`, `1..;2`), none per index.
pub(super) fn slice_rank(arg: &Expr) -> Option<usize> {
    let Expr::Macro(mac) = strip_parens(arg) else {
        return None;
    };
    let text = mac.mac.tokens.to_string();
    Some(text.split(',').filter(|part| part.contains("..")).count())
}
