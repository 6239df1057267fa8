//! Local buffers: `let mut h = vec![0.0; n];`, `[0.0; N]`, array literals filled by index,
//! copies of arrays (`x.to_vec()`), ndarray arrays made by `ArrayN::zeros(..)` and written by
//! index, and a buffer replaced whole by a copy of another; and the syntax that finds them
//! (`vec![v; n]`, literals, the names a body writes by index).

use std::collections::HashSet;

use proc_macro2::{Ident, Span};
use quote::{ToTokens, quote};
use syn::Expr;
use syn::spanned::Spanned;

use crate::ir::{Assign, Node, Operand, Ty};
use crate::rules::{self, Prim};
use crate::signature::{classify, float_type};

use super::Lowerer;
use super::expressions::{compound_op, strip_parens};

impl Lowerer<'_> {
    /// `let mut h = vec![0.0; n];` or `[0.0; N]`: a local buffer, written by index later.
    pub(super) fn lower_buffer(
        &mut self,
        ident: &Ident,
        annotation: Option<&syn::Type>,
        value: &Expr,
        len: &Expr,
        is_vec: bool,
    ) {
        if self.mentions_active(value) {
            self.errors.spanned(
                value,
                "a buffer starts from a constant (`vec![0.0; n]`); write the differentiated values into it by index",
            );
        }
        let elem = match annotation.map(classify) {
            Some(Ok(Ty::Array { elem, .. })) => elem,
            _ => self
                .constant_ty(value)
                .float()
                .unwrap_or(self.default_float),
        };
        let value = self.rename(value);
        let len = self.rename(len);
        let (ty, init) = if is_vec {
            (
                Ty::Array { elem, len: None },
                quote!(::std::vec![#value; #len]),
            )
        } else {
            (
                Ty::Array {
                    elem,
                    len: Some(len.to_token_stream()),
                },
                quote!([#value; #len]),
            )
        };
        let number = self.buffer_numbers.len();
        let active = self.active_buffers.contains(&number);
        let var = self.declare(ident, ty.clone(), active, true);
        self.vars[var].buffer = true;
        self.buffer_numbers.insert(var, number);
        let rule = rules::operator("copy");
        self.push_node(Node::Assign(Assign {
            target: var,
            prim: Prim::Table {
                rule,
                name: Ident::new("copy", Span::call_site()),
            },
            args: vec![Operand::Const {
                tokens: init,
                ty,
                atomic: true,
            }],
            annotation: annotation.map(ToTokens::to_token_stream),
            span: ident.span(),
        }));
    }

    /// The array type of `Array4::zeros(shape)` (`Array`, `Array1` .. `Array4`, `ArrayD`, with
    /// or without a turbofish): its rank from the name, the annotation or the shape (a tuple,
    /// or the `dim()`/`raw_dim()` of an array the macro knows).
    pub(super) fn tensor_zeros(&self, expr: &Expr, annotation: Option<&syn::Type>) -> Option<Ty> {
        self.tensor_filled(expr, annotation, &["zeros"])
    }

    /// The type of `Array2::zeros(..)` or another of `constructors` (`ones`): an array of a
    /// constant.
    pub(super) fn tensor_filled(
        &self,
        expr: &Expr,
        annotation: Option<&syn::Type>,
        constructors: &[&str],
    ) -> Option<Ty> {
        let Expr::Call(call) = strip_parens(expr) else {
            return None;
        };
        let Expr::Path(path) = strip_parens(&call.func) else {
            return None;
        };
        let segments: Vec<&syn::PathSegment> = path.path.segments.iter().collect();
        let [.., array, zeros] = segments.as_slice() else {
            return None;
        };
        let name = array.ident.to_string();
        if !constructors.iter().any(|c| zeros.ident == c)
            || !name.starts_with("Array")
            || call.args.len() != 1
        {
            return None;
        }
        let annotated = annotation
            .and_then(|ty| classify(ty).ok())
            .filter(Ty::is_tensor);
        let turbofish = match &array.arguments {
            syn::PathArguments::AngleBracketed(args) => args.args.iter().find_map(|a| match a {
                syn::GenericArgument::Type(t) => float_type(t),
                _ => None,
            }),
            _ => None,
        };
        let rank = match name.as_str() {
            "Array1" => Some(1),
            "Array2" => Some(2),
            "Array3" => Some(3),
            "Array4" => Some(4),
            _ => annotated.as_ref().and_then(Ty::rank).or_else(|| {
                match strip_parens(&call.args[0]) {
                    Expr::Tuple(t) => Some(t.elems.len()),
                    Expr::Array(a) => Some(a.elems.len()),
                    Expr::MethodCall(m) if m.method == "dim" || m.method == "raw_dim" => {
                        match strip_parens(&m.receiver) {
                            Expr::Path(p) => {
                                self.lookup_path(p).and_then(|b| self.vars[b.var].ty.rank())
                            }
                            _ => None,
                        }
                    }
                    _ => None,
                }
            }),
        };
        let elem = annotated
            .and_then(|t| t.float())
            .or(turbofish)
            .unwrap_or(self.default_float);
        Some(Ty::Tensor {
            elem,
            rank,
            by_ref: false,
        })
    }

    /// `let mut out = Array4::zeros(shape);`: a local ndarray buffer, written by index later
    /// (`out[[n, f, i, j]] = acc;`), differentiated when a differentiated value is written.
    pub(super) fn lower_tensor_buffer(
        &mut self,
        ident: &Ident,
        annotation: Option<&syn::Type>,
        init: &Expr,
        ty: Ty,
    ) {
        let number = self.buffer_numbers.len();
        let active = self.active_buffers.contains(&number);
        let var = self.declare(ident, ty.clone(), active, true);
        self.vars[var].buffer = true;
        self.buffer_numbers.insert(var, number);
        let init = self.rename(init);
        self.push_node(Node::Assign(Assign {
            target: var,
            prim: Prim::Table {
                rule: rules::operator("copy"),
                name: Ident::new("copy", Span::call_site()),
            },
            args: vec![Operand::Const {
                tokens: init.to_token_stream(),
                ty,
                atomic: true,
            }],
            annotation: annotation.map(ToTokens::to_token_stream),
            span: ident.span(),
        }));
    }

    /// `[a, b, c]` or `vec![a, b, c]` of differentiated values: a buffer of zeros written by
    /// index (`r[0] = a;` ..), whose reverse reads the gradient element by element.
    pub(super) fn lower_array_literal(
        &mut self,
        ident: &Ident,
        annotation: Option<&syn::Type>,
        elements: &[Expr],
        is_vec: bool,
    ) {
        let len = syn::Index::from(elements.len());
        let zero: Expr = syn::parse_quote!(0.0);
        let len_expr: Expr = syn::parse_quote!(#len);
        self.lower_buffer(ident, annotation, &zero, &len_expr, is_vec);
        for (k, element) in elements.iter().enumerate() {
            let k = syn::Index::from(k);
            let target: Expr = syn::parse_quote_spanned!(element.span()=> #ident[#k]);
            self.lower_assign(&target, None, element, element);
        }
    }

    /// The array that `x.to_vec()`, `x.clone()`, `x.to_owned()` or `x` copies, when `x` is a
    /// slice, a `Vec`, an `[F; N]` or a buffer.
    pub(super) fn copied_array(&self, expr: &Expr) -> Option<crate::ir::VarId> {
        // `let mut st = w;` of an array parameter.
        if let Expr::Path(_) = strip_parens(expr) {
            let binding = self.array_binding(expr)?;
            return matches!(self.vars[binding.var].ty, Ty::Array { .. }).then_some(binding.var);
        }
        let Expr::MethodCall(call) = strip_parens(expr) else {
            return None;
        };
        if !call.args.is_empty()
            || !["to_vec", "clone", "to_owned"].contains(&call.method.to_string().as_str())
        {
            return None;
        }
        let binding = self.array_binding(&call.receiver)?;
        matches!(self.vars[binding.var].ty, Ty::Array { .. }).then_some(binding.var)
    }

    /// `let mut st = state.to_vec();`: a local buffer that starts as a copy of an array (a slice
    /// parameter, another buffer); its gradient flows back into the array's.
    pub(super) fn lower_buffer_copy(
        &mut self,
        ident: &Ident,
        annotation: Option<&syn::Type>,
        source: crate::ir::VarId,
    ) {
        let ty = match self.vars[source].ty.clone() {
            Ty::Array {
                elem,
                len: Some(len),
            } => Ty::Array {
                elem,
                len: Some(len),
            },
            other => Ty::Array {
                elem: other.float().unwrap_or(self.default_float),
                len: None,
            },
        };
        let number = self.buffer_numbers.len();
        let active = self.vars[source].active || self.active_buffers.contains(&number);
        let var = self.declare(ident, ty, active, true);
        self.vars[var].buffer = true;
        self.buffer_numbers.insert(var, number);
        self.push_node(Node::Assign(Assign {
            target: var,
            prim: Prim::Table {
                rule: rules::operator("copy"),
                name: Ident::new("copy", Span::call_site()),
            },
            args: vec![Operand::Var(source)],
            annotation: annotation.map(ToTokens::to_token_stream),
            span: ident.span(),
        }));
    }

    /// `h = next;` of a buffer: the new values are copied in, element by element, so that `h`
    /// stays one buffer (of the same length) written in place.
    pub(super) fn lower_buffer_replace(
        &mut self,
        name: &Ident,
        right: &Expr,
        whole: &dyn ToTokens,
    ) -> bool {
        let Some(source) = self.array_binding(right) else {
            return false;
        };
        if !matches!(self.vars[source.var].ty, Ty::Array { .. }) {
            return false;
        }
        let k = self.namer.fresh("k");
        let span = whole.to_token_stream().span();
        let copy: syn::ExprForLoop = syn::parse_quote_spanned! {span=>
            for #k in 0..#name.len() {
                #name[#k] = #right[#k];
            }
        };
        self.lower_for(&copy, &name.to_string());
        true
    }
}

/// `vec![value; len]` or `[value; N]`: the start of a local buffer, its value and length, and
/// whether it is a `Vec`.
pub fn buffer_init(expr: &Expr) -> Option<(Expr, Expr, bool)> {
    match strip_parens(expr) {
        Expr::Repeat(repeat) => Some(((*repeat.expr).clone(), (*repeat.len).clone(), false)),
        Expr::Macro(mac) => vec_repeat(&mac.mac).map(|(value, len)| (value, len, true)),
        _ => None,
    }
}

/// The elements of `[a, b, c]` or `vec![a, b, c]`, and whether it is a `Vec`.
pub fn array_literal(expr: &Expr) -> Option<(Vec<Expr>, bool)> {
    match strip_parens(expr) {
        Expr::Array(array) => Some((array.elems.iter().cloned().collect(), false)),
        Expr::Macro(mac) if is_vec_macro(&mac.mac.path) && vec_repeat(&mac.mac).is_none() => {
            let parser = syn::punctuated::Punctuated::<Expr, syn::Token![,]>::parse_terminated;
            let elements = syn::parse::Parser::parse2(parser, mac.mac.tokens.clone()).ok()?;
            Some((elements.into_iter().collect(), true))
        }
        _ => None,
    }
}

/// The names that `block` writes by index: `m[..] = ..` or `m[..] op= ..`.
pub(super) fn indexed_names(block: &syn::Block) -> HashSet<String> {
    struct Find(HashSet<String>);
    impl<'ast> syn::visit::Visit<'ast> for Find {
        fn visit_expr_assign(&mut self, assign: &'ast syn::ExprAssign) {
            self.target(&assign.left);
            syn::visit::visit_expr_assign(self, assign);
        }
        fn visit_expr_binary(&mut self, binary: &'ast syn::ExprBinary) {
            if compound_op(&binary.op).is_some() {
                self.target(&binary.left);
            }
            syn::visit::visit_expr_binary(self, binary);
        }
    }
    impl Find {
        fn target(&mut self, left: &Expr) {
            if let Expr::Index(index) = strip_parens(left)
                && let Expr::Path(path) = strip_parens(&index.expr)
                && let Some(ident) = path.path.get_ident()
            {
                self.0.insert(ident.to_string());
            }
        }
    }
    let mut find = Find(HashSet::new());
    syn::visit::Visit::visit_block(&mut find, block);
    find.0
}

/// `vec![value; len]`: its value and length.
pub fn vec_repeat(mac: &syn::Macro) -> Option<(Expr, Expr)> {
    if !is_vec_macro(&mac.path) {
        return None;
    }
    let parser = |input: syn::parse::ParseStream| {
        let value: Expr = input.parse()?;
        input.parse::<syn::Token![;]>()?;
        let len: Expr = input.parse()?;
        Ok((value, len))
    };
    syn::parse::Parser::parse2(parser, mac.tokens.clone()).ok()
}

/// `vec!`, `std::vec!` or `::std::vec!` (how generated code writes it, which `hvp`
/// differentiates again), `alloc::vec!`.
pub fn is_vec_macro(path: &syn::Path) -> bool {
    let names: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
    matches!(
        names
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice(),
        ["vec"] | ["std" | "alloc", "vec"]
    )
}
