//! Types and activity: the float type of a line, the type of a result, literal types settled
//! by use, which expressions are arrays, and the type of a constant.

use quote::ToTokens;
use syn::{Expr, Lit, UnOp};

use crate::ir::{FloatTy, Operand, Ty};
use crate::rules::{self, Prim, TensorOp};
use crate::signature::float_type;

use super::expressions::{float_method_path, is_arithmetic, strip_parens};
use super::tensors::{concat_call, slice_rank};
use super::{Binding, Lowerer, placeholder};

impl Lowerer<'_> {
    // ----- types and activity ---------------------------------------------------------------

    pub(super) fn is_active(&self, operand: &Operand) -> bool {
        crate::ir::operand_active(&self.vars, operand)
    }

    /// A stand-in for an array operation that was reported as an error: of `like`'s array type,
    /// so that the lines reading it (`h.dot(..)`) report nothing more.
    pub(super) fn array_placeholder(&self, like: &Operand) -> Operand {
        match self.operand_ty(like) {
            Ty::Tensor { elem, rank, .. } => Operand::Const {
                tokens: quote::quote!(0.0),
                ty: Ty::Tensor {
                    elem,
                    rank,
                    by_ref: false,
                },
                atomic: true,
            },
            _ => placeholder(),
        }
    }

    pub(super) fn operand_ty(&self, operand: &Operand) -> Ty {
        crate::ir::operand_ty(&self.vars, operand)
    }

    /// The float type of a line: that of its first typed operand, else `f64` (what an
    /// unsuffixed literal defaults to).
    pub(super) fn line_float(&self, args: &[Operand]) -> FloatTy {
        args.iter()
            .find_map(|a| self.operand_ty(a).float())
            .unwrap_or(self.default_float)
    }

    pub(super) fn result_ty(&self, prim: &Prim, args: &[Operand]) -> Ty {
        let elem = self.line_float(args);
        // Rank 0 stays an array (ndarray's `Array0`, from an axis reduction of a vector).
        let tensor = |rank: Option<usize>| Ty::Tensor {
            elem,
            rank,
            by_ref: false,
        };
        let rank_of = |i: usize| args.get(i).and_then(|a| self.operand_ty(a).rank());
        match prim {
            Prim::Cast(to) => Ty::Float(*to),
            Prim::Tensor(op) => match op {
                TensorOp::Dot => match (rank_of(0), rank_of(1)) {
                    (Some(2), Some(2)) => tensor(Some(2)),
                    (Some(1), Some(1)) => Ty::Float(elem),
                    _ => tensor(Some(1)),
                },
                TensorOp::T | TensorOp::Map { .. } => tensor(rank_of(0)),
                TensorOp::Part { rank, .. } | TensorOp::Reshape { rank, .. } => tensor(*rank),
                TensorOp::Select => tensor(rank_of(0)),
                TensorOp::VarAxis | TensorOp::StdAxis => {
                    tensor(rank_of(0).map(|r| r.saturating_sub(1)))
                }
                TensorOp::Concat { stack, .. } => {
                    tensor(rank_of(0).map(|r| if *stack { r + 1 } else { r }))
                }
                TensorOp::Sum | TensorOp::Mean { .. } => Ty::Float(elem),
                TensorOp::SumAxis | TensorOp::MeanAxis { .. } => {
                    tensor(rank_of(0).map(|r| r.saturating_sub(1)))
                }
                TensorOp::InsertAxis => tensor(rank_of(0).map(|r| r + 1)),
            },
            Prim::Field(_) => Ty::Other,
            Prim::Tuple(_) => Ty::Tuple,
            // `::backprop::tangent_like(t, y)` (second order, see `emit/jvp.rs`): `y`'s shape.
            Prim::Call { path, .. } if rules::function_name(path) == "tangent_like" => {
                tensor(rank_of(1))
            }
            Prim::Call { path, .. } => {
                let first_tensor = args.iter().map(|a| self.operand_ty(a)).find(Ty::is_tensor);
                match (rules::tensor_gate_rank(path), first_tensor) {
                    (Some(change), Some(t)) => tensor(t.rank().map(change)),
                    _ => Ty::Float(elem),
                }
            }
            Prim::Table { .. } => match args
                .iter()
                .map(|a| self.operand_ty(a))
                .filter(Ty::is_tensor)
                .map(|t| t.rank())
                .max()
            {
                Some(rank) => tensor(rank),
                None => Ty::Float(elem),
            },
        }
    }

    /// A `let mut s = 0.0;` variable takes the type of the typed values it is combined with,
    /// so that its forward line can be annotated (rustc cannot call `s.exp()` on `{float}`).
    pub(super) fn settle_literal_types(&mut self, args: &[Operand], ty: &Ty) {
        let Some(float) = ty.float() else { return };
        for arg in args {
            if let Operand::Var(v) = arg
                && matches!(self.vars[*v].ty, Ty::FloatLit)
            {
                self.vars[*v].ty = Ty::Float(float);
            }
        }
    }

    /// The binding of `expr` when it names an array, slice or `Vec` of floats.
    pub(super) fn array_binding(&self, expr: &Expr) -> Option<Binding> {
        match strip_parens(expr) {
            Expr::Path(p) => self
                .lookup_path(p)
                .filter(|b| matches!(self.vars[b.var].ty, Ty::Array { .. })),
            _ => None,
        }
    }

    /// Whether `expr` is an ndarray value, as far as its leading variable tells.
    pub(super) fn expression_is_tensor(&self, expr: &Expr) -> bool {
        match strip_parens(expr) {
            Expr::Path(path) => self
                .lookup_path(path)
                .is_some_and(|b| self.vars[b.var].ty.is_tensor()),
            Expr::MethodCall(call) => self.expression_is_tensor(&call.receiver),
            Expr::Binary(binary) => {
                self.expression_is_tensor(&binary.left) || self.expression_is_tensor(&binary.right)
            }
            Expr::Reference(reference) => self.expression_is_tensor(&reference.expr),
            Expr::Unary(unary) => self.expression_is_tensor(&unary.expr),
            Expr::Call(call) if concat_call(call).is_some() => true,
            Expr::Index(index) => matches!(self.constant_ty(&index.expr), Ty::Tensors { .. }),
            Expr::Call(call) => match strip_parens(&call.func) {
                Expr::Path(path) => {
                    rules::tensor_gate_rank(&path.to_token_stream()).is_some()
                        && call.args.iter().any(|a| self.expression_is_tensor(a))
                }
                _ => false,
            },
            _ => false,
        }
    }

    pub(super) fn constant_ty(&self, expr: &Expr) -> Ty {
        // `Array2::zeros(h0.raw_dim())`, `Array1::ones(n)`.
        if let Some(ty) = self.tensor_filled(expr, None, &["zeros", "ones"]) {
            return ty;
        }
        match strip_parens(expr) {
            Expr::Reference(reference) => self.constant_ty(&reference.expr),
            Expr::Lit(lit) => match &lit.lit {
                Lit::Float(f) => match f.suffix() {
                    "f32" => Ty::Float(FloatTy::F32),
                    "f64" => Ty::Float(FloatTy::F64),
                    _ => Ty::FloatLit,
                },
                _ => Ty::Other,
            },
            Expr::Path(path) => match self.lookup_path(path) {
                Some(b) => self.vars[b.var].ty.clone(),
                None => {
                    let segments: Vec<String> = path
                        .path
                        .segments
                        .iter()
                        .map(|s| s.ident.to_string())
                        .collect();
                    if segments.len() > 1 && segments.iter().any(|s| s == "f64") {
                        Ty::Float(FloatTy::F64)
                    } else if segments.len() > 1 && segments.iter().any(|s| s == "f32") {
                        Ty::Float(FloatTy::F32)
                    } else if let [name] = segments.as_slice()
                        && let Some(float) = self.const_types.get(name)
                    {
                        Ty::Float(*float)
                    } else {
                        Ty::Other
                    }
                }
            },
            Expr::Cast(cast) => float_type(&cast.ty).map(Ty::Float).unwrap_or(Ty::Other),
            // `w[0]` of a float array is a float.
            Expr::Index(index) => match self.constant_ty(&index.expr) {
                Ty::Array { elem, .. } => Ty::Float(elem),
                // `xs[t]` of a slice of arrays.
                Ty::Tensors { elem, rank } => Ty::Tensor {
                    elem,
                    rank,
                    by_ref: false,
                },
                _ => Ty::Other,
            },
            // `f64::sin(y)` is an f64; a runtime gate has its argument's type; any other
            // function's result type is not visible to the macro: one taking a float is taken
            // to return one (a gate or `#[backprop]` function), as for a differentiated call.
            Expr::Call(call) => match strip_parens(&call.func) {
                Expr::Path(path) => match float_method_path(&path.path) {
                    Some((float, _)) => Ty::Float(float),
                    // `concatenate(axis, &[a.view(), b.view()])` has its parts' rank, `stack`
                    // one more.
                    _ if path
                        .path
                        .segments
                        .last()
                        .is_some_and(|s| s.ident == "concatenate" || s.ident == "stack") =>
                    {
                        let stack = path
                            .path
                            .segments
                            .last()
                            .is_some_and(|s| s.ident == "stack");
                        let first =
                            call.args
                                .iter()
                                .nth(1)
                                .and_then(|parts| match strip_parens(parts) {
                                    Expr::Reference(r) => match strip_parens(&r.expr) {
                                        Expr::Array(a) => {
                                            a.elems.first().map(|e| self.constant_ty(e))
                                        }
                                        _ => None,
                                    },
                                    _ => None,
                                });
                        match first {
                            Some(Ty::Tensor { elem, rank, .. }) => Ty::Tensor {
                                elem,
                                rank: rank.map(|r| r + usize::from(stack)),
                                by_ref: false,
                            },
                            _ => Ty::Other,
                        }
                    }
                    // A runtime gate's result: its argument's rank, changed as the gate does.
                    _ if let Some(to_rank) = rules::tensor_gate_rank(&path.to_token_stream()) => {
                        match call.args.first().map(|a| self.constant_ty(a)) {
                            Some(Ty::Tensor { elem, rank, .. }) => Ty::Tensor {
                                elem,
                                rank: rank.map(to_rank),
                                by_ref: false,
                            },
                            Some(ty) => ty,
                            None => Ty::Other,
                        }
                    }
                    _ => call
                        .args
                        .iter()
                        .find_map(|a| match self.constant_ty(a) {
                            Ty::FloatLit => Some(Ty::FloatLit),
                            ty => ty.float().map(Ty::Float),
                        })
                        .unwrap_or(Ty::Other),
                },
                _ => Ty::Other,
            },
            // Arithmetic on arrays makes a new array (owned, even of borrowed operands), of the
            // larger rank when ndarray broadcasts.
            Expr::Unary(unary) if matches!(unary.op, UnOp::Neg(_)) => {
                match self.constant_ty(&unary.expr) {
                    Ty::Tensor { elem, rank, .. } => Ty::Tensor {
                        elem,
                        rank,
                        by_ref: false,
                    },
                    ty => ty,
                }
            }
            Expr::Binary(binary) if is_arithmetic(&binary.op) => {
                let (l, r) = (
                    self.constant_ty(&binary.left),
                    self.constant_ty(&binary.right),
                );
                if let (Ty::Tensor { elem, .. }, _) | (_, Ty::Tensor { elem, .. }) = (&l, &r) {
                    let rank = match (l.rank(), r.rank(), l.is_tensor() && r.is_tensor()) {
                        (Some(a), Some(b), true) => Some(a.max(b)),
                        (_, _, true) => None,
                        (a, b, false) => a.or(b),
                    };
                    return Ty::Tensor {
                        elem: *elem,
                        rank,
                        by_ref: false,
                    };
                }
                if l.float().is_some() {
                    l
                } else if r.float().is_some() {
                    r
                } else if matches!(l, Ty::FloatLit) {
                    l
                } else {
                    r
                }
            }
            // `vec![1.0; n]` of floats: a `Vec<F>` (a constant buffer passed to a call has a
            // gradient there, as the callee's float parameters do).
            Expr::Macro(mac) => match super::buffers::vec_repeat(&mac.mac) {
                Some((value, _)) => match self.constant_ty(&value) {
                    Ty::FloatLit => Ty::Array {
                        elem: self.default_float,
                        len: None,
                    },
                    Ty::Float(elem) => Ty::Array { elem, len: None },
                    _ => Ty::Other,
                },
                None => Ty::Other,
            },
            // `.product::<f64>()`, `.sum::<f32>()`: the float the turbofish names.
            Expr::MethodCall(call)
                if let Some(float) =
                    call.turbofish.as_ref().and_then(|t| match t.args.first() {
                        Some(syn::GenericArgument::Type(ty)) if t.args.len() == 1 => float_type(ty),
                        _ => None,
                    }) =>
            {
                Ty::Float(float)
            }
            // A length or a shape, of an array of any kind (`w.len()` of a slice).
            Expr::MethodCall(call)
                if super::tensors::SHAPE_METHODS.contains(&call.method.to_string().as_str()) =>
            {
                Ty::Other
            }
            Expr::MethodCall(call) => {
                let receiver = self.constant_ty(&call.receiver);
                // A copy of an array of floats is one; a reduction of an iterator over one
                // (`w.iter().fold(0.0, |t, &v| t + v)`, `.sum()`) is a float; the iterator is
                // neither.
                if let Ty::Array { .. } = receiver {
                    return match call.method.to_string().as_str() {
                        "clone" | "to_vec" | "to_owned" => receiver,
                        _ => Ty::Other,
                    };
                }
                // `.fold(0.0, |total, i| ..)`: its initial value's type.
                if call.method == "fold"
                    && let Some(init) = call.args.first()
                {
                    match self.constant_ty(init) {
                        Ty::Float(float) => return Ty::Float(float),
                        Ty::FloatLit => return Ty::Float(self.default_float),
                        _ => {}
                    }
                }
                if matches!(receiver, Ty::Other)
                    && ["sum", "product", "fold"].contains(&call.method.to_string().as_str())
                    && let Some(elem) = iterated_floats(self, &call.receiver)
                {
                    return Ty::Float(elem);
                }
                let Ty::Tensor { elem, rank, .. } = receiver else {
                    return receiver;
                };
                let tensor = |rank: Option<usize>| Ty::Tensor {
                    elem,
                    rank,
                    by_ref: false,
                };
                match call.method.to_string().as_str() {
                    "sum" | "mean" => Ty::Float(elem),
                    "unwrap" | "expect" | "t" | "mapv" | "view" | "to_owned" | "clone" => {
                        tensor(rank)
                    }
                    "row" | "column" | "index_axis" | "var_axis" | "std_axis" => {
                        tensor(rank.map(|r| r.saturating_sub(1)))
                    }
                    "select" | "slice_axis" => tensor(rank),
                    // `s![.., 0..h]`: one axis per range, none per index.
                    "slice" => tensor(call.args.first().and_then(slice_rank)),
                    // `to_shape((r, c))`: the shape's length.
                    "to_shape" | "into_shape_with_order" => {
                        tensor(match call.args.first().map(strip_parens) {
                            Some(Expr::Tuple(t)) => Some(t.elems.len()),
                            Some(Expr::Array(a)) => Some(a.elems.len()),
                            Some(Expr::Lit(_)) => Some(1),
                            _ => None,
                        })
                    }
                    "sum_axis" | "mean_axis" => tensor(rank.map(|r| r.saturating_sub(1))),
                    "insert_axis" => tensor(rank.map(|r| r + 1)),
                    "dot" => match (
                        rank,
                        call.args.first().and_then(|a| self.constant_ty(a).rank()),
                    ) {
                        (Some(1), Some(1)) => Ty::Float(elem),
                        (Some(2), Some(2)) => tensor(Some(2)),
                        _ => tensor(Some(1)),
                    },
                    name if rules::method_rule(name).is_some() => tensor(rank),
                    _ => Ty::Other,
                }
            }
            _ => Ty::Other,
        }
    }
}

/// The float type of the elements an iterator chain runs over (`w.iter().map(..)` of a `Vec<F>`
/// or a slice), if it starts at an array of floats.
fn iterated_floats(lowerer: &Lowerer, expr: &Expr) -> Option<FloatTy> {
    match strip_parens(expr) {
        Expr::MethodCall(call) => match lowerer.constant_ty(&call.receiver) {
            Ty::Array { elem, .. } | Ty::Tensor { elem, .. } => Some(elem),
            _ => iterated_floats(lowerer, &call.receiver),
        },
        _ => None,
    }
}
