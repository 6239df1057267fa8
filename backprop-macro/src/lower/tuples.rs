//! Tuple results of calls, taken apart by a `let` pattern: `let (h, c) = lstm_step(..);`,
//! `let (_, (_, gx)) = critic_grad(w, x);`. The call's target is the tuple (never named in the
//! generated code: the call keeps the user's pattern), each name a part of it
//! ([`Prim::Field`]); the reverse pass hands the call the tuple of its parts' gradients.

use proc_macro2::Ident;
use quote::ToTokens;
use syn::Pat;

use crate::ir::{Assign, Node, Operand, Parts, Ty};
use crate::rules::Prim;
use crate::signature::classify;

use super::{Lowerer, Value};

/// A `let` pattern of names and `_`, nested.
enum Shape {
    Leaf(Option<Ident>),
    Tuple(Vec<Shape>),
}

impl Lowerer<'_> {
    /// `let PAT = g(..);` with a tuple pattern: the call, then one part per name. The parts'
    /// types come from the `let`'s annotation (`let (h, c): (Array2<f64>, Array2<f64>) =
    /// ..`); for a call of a gradient (`critic_grad`), from the arguments it takes; else they
    /// are floats, as the result of any call without one.
    pub(super) fn lower_tuple_call(
        &mut self,
        pat: &Pat,
        annotation: Option<&syn::Type>,
        call: &syn::ExprCall,
    ) {
        let Some(shape) = shape_of(pat) else {
            self.errors.spanned(
                pat,
                "take a call's tuple result apart by names and `_` (`let (h, c) = g(..);`, `let (_, (_, gx)) = f_grad(..);`)",
            );
            return;
        };
        let hint = match &shape {
            Shape::Tuple(elems) => elems
                .iter()
                .find_map(|e| match e {
                    Shape::Leaf(Some(ident)) => Some(ident.to_string()),
                    _ => None,
                })
                .unwrap_or_else(|| "part".into()),
            Shape::Leaf(_) => "part".into(),
        };
        let before = self.errors.len();
        let Value::Assign {
            prim:
                Prim::Call {
                    path,
                    backward,
                    pass,
                    reverse,
                    structs,
                    held,
                    ..
                },
            args,
            span,
        } = self.call(call, &hint)
        else {
            // A float method's path (`f64::max(a, b)`) returns no tuple.
            if self.errors.len() == before {
                self.errors
                    .spanned(call, "this call returns no tuple to take apart");
            }
            return;
        };
        if self.errors.len() > before {
            return;
        }
        let name = crate::rules::function_name(&path);
        let types = match annotation {
            Some(ty) => leaf_types(&shape, ty),
            None => self.gradient_types(&name, &shape, &args[..pass.len()], &structs),
        };
        let types = match types {
            Ok(types) => types,
            Err(message) => {
                match annotation {
                    Some(ty) => self.errors.spanned(ty, message),
                    None => self.errors.spanned(pat, message),
                }
                return;
            }
        };
        // A struct's gradient has no field reads in the forward language yet: only its
        // upstream (a zero) is written.
        let mut named_struct = false;
        for (leaf, ty) in shape.leaves().into_iter().zip(&types) {
            if let (Some(ident), Ty::Struct) = (leaf, ty) {
                self.errors.spanned(
                    ident,
                    format!(
                        "`{ident}` is the gradient of a struct argument of `{name}`, which a differentiated function cannot read yet; bind it to `_` (`let (value, (_, gx)) = {name}(..);`)"
                    ),
                );
                named_struct = true;
            }
        }
        if named_struct {
            return;
        }
        let prim = Prim::Call {
            path,
            backward,
            pass,
            reverse,
            parts: None,
            structs,
            held,
        };
        let active = crate::contributions::differentiable_positions(&prim, &args)
            .iter()
            .any(|&i| self.is_active(&args[i]));
        let mut types = types.into_iter();
        let parts = self.declare_parts(&shape, &mut types, &name, active);
        let tuple_ident = self.namer.fresh(&format!("{name}_result"));
        let tuple = self.new_var(tuple_ident, Ty::Tuple, active);
        let Prim::Call {
            path,
            backward,
            pass,
            reverse,
            structs,
            held,
            ..
        } = prim
        else {
            return;
        };
        let leaves = parts.leaves();
        self.push_node(Node::Assign(Assign {
            target: tuple,
            prim: Prim::Call {
                path,
                backward,
                pass,
                reverse,
                parts: Some(parts),
                structs,
                held,
            },
            args,
            annotation: annotation.map(ToTokens::to_token_stream),
            span,
        }));
        for (at, var) in leaves {
            self.push_node(Node::Assign(Assign {
                target: var,
                prim: Prim::Field(at),
                args: vec![Operand::Var(tuple)],
                annotation: None,
                span,
            }));
        }
    }

    /// `(h, c)` as the function's value: one line whose operands are the parts.
    pub(super) fn tuple_output(&mut self, expr: &syn::Expr) -> Operand {
        let mut args = Vec::new();
        let parts = self.tuple_parts(expr, &mut args);
        let active = args.iter().any(|a| self.is_active(a));
        let ident = self.namer.fresh("out");
        let var = self.new_var(ident, Ty::Tuple, active);
        self.push_node(Node::Assign(Assign {
            target: var,
            prim: Prim::Tuple(parts),
            args,
            annotation: None,
            span: syn::spanned::Spanned::span(expr),
        }));
        // Its gradient is the upstream gradient itself.
        self.output_temp = Some(var);
        Operand::Var(var)
    }

    /// A tuple expression's parts, each an operand in `args`.
    fn tuple_parts(&mut self, expr: &syn::Expr, args: &mut Vec<Operand>) -> Parts {
        match super::expressions::strip_parens(expr) {
            syn::Expr::Tuple(tuple) => Parts::Tuple(
                tuple
                    .elems
                    .iter()
                    .map(|e| self.tuple_parts(e, args))
                    .collect(),
            ),
            e => {
                args.push(self.operand(e, "out"));
                Parts::Leaf(args.len() - 1)
            }
        }
    }

    /// The variables of a pattern's names (a `_` gets one of its own).
    fn declare_parts(
        &mut self,
        shape: &Shape,
        types: &mut impl Iterator<Item = Ty>,
        name: &str,
        active: bool,
    ) -> Parts {
        match shape {
            Shape::Leaf(ident) => {
                let ty = types.next().unwrap_or(Ty::Other);
                Parts::Leaf(match ident {
                    Some(ident) => self.declare(ident, ty, active, false),
                    None => {
                        let ident = self.namer.fresh(&format!("{name}_part"));
                        self.new_var(ident, ty, active)
                    }
                })
            }
            Shape::Tuple(elems) => Parts::Tuple(
                elems
                    .iter()
                    .map(|e| self.declare_parts(e, types, name, active))
                    .collect(),
            ),
        }
    }

    /// The parts' types of `f_grad(..)`'s `(value, gradients)`: a float, and the gradient of
    /// each float argument, typed as the contract says (`&[F]` gives `Vec<F>`, an array an
    /// owned array).
    fn gradient_types(
        &self,
        name: &str,
        shape: &Shape,
        args: &[Operand],
        structs: &[crate::rules::StructArg],
    ) -> Result<Vec<Ty>, String> {
        let unknown = || {
            format!(
                "the types of `{name}`'s tuple result are not known here: annotate them (`let (h, c): (Array2<f64>, Array2<f64>) = {name}(..);`)"
            )
        };
        // As the result of any call without an annotation (`let h = g(..);`): floats.
        if !name.ends_with("_grad") {
            return Ok(shape.every_leaf(Ty::Float(self.default_float)));
        }
        let Shape::Tuple(elems) = shape else {
            return Err(unknown());
        };
        let [Shape::Leaf(_), gradients] = &elems[..] else {
            return Err(unknown());
        };
        let float = Ty::Float(self.default_float);
        // A struct passed whole (`&net`, `&net.l1`): its gradient is a value of the struct.
        let positions: Vec<Ty> = args
            .iter()
            .enumerate()
            .map(|(at, a)| match structs.iter().any(|s| s.position == at) {
                true => Ty::Struct,
                false => self.operand_ty(a),
            })
            .filter_map(|ty| match ty {
                Ty::Struct => Some(Ty::Struct),
                Ty::Float(f) => Some(Ty::Float(f)),
                Ty::FloatLit => Some(float.clone()),
                Ty::Array { elem, len } => Some(Ty::Array { elem, len }),
                Ty::Tensor { elem, rank, .. } => Some(Ty::Tensor {
                    elem,
                    rank,
                    by_ref: false,
                }),
                _ => None,
            })
            .collect();
        let mut types = vec![float];
        // One gradient per float argument, as the callee differentiates every one (a callee
        // with `wrt(..)` is an error at the call): say how many, and the pattern that fits.
        let count = |written: usize| {
            let pattern = vec!["_"; positions.len()].join(", ");
            format!(
                "`{name}` returns one gradient for each of the {} float arguments passed here, not {written}: take them apart as `let (value, ({pattern})) = {name}(..);`, naming the ones you use (a function called from a `#[backprop]` function differentiates all of its float arguments)",
                positions.len()
            )
        };
        match (gradients, &positions[..]) {
            (Shape::Leaf(_), [one]) => types.push(one.clone()),
            (Shape::Leaf(_), [_, _, ..]) => return Err(count(1)),
            (Shape::Tuple(g), _)
                if g.len() == positions.len() && g.iter().all(|g| matches!(g, Shape::Leaf(_))) =>
            {
                types.extend(positions);
            }
            (Shape::Tuple(g), [_, ..]) if g.len() != positions.len() => {
                return Err(count(g.len()));
            }
            _ => return Err(unknown()),
        }
        Ok(types)
    }
}

impl Shape {
    /// The leaves' names, in order (`None` for `_`).
    fn leaves(&self) -> Vec<&Option<Ident>> {
        match self {
            Shape::Leaf(ident) => vec![ident],
            Shape::Tuple(elems) => elems.iter().flat_map(Shape::leaves).collect(),
        }
    }

    /// `ty` for every leaf.
    fn every_leaf(&self, ty: Ty) -> Vec<Ty> {
        match self {
            Shape::Leaf(_) => vec![ty],
            Shape::Tuple(elems) => elems
                .iter()
                .flat_map(|e| e.every_leaf(ty.clone()))
                .collect(),
        }
    }
}

/// The names and `_` of a tuple pattern, nested.
fn shape_of(pat: &Pat) -> Option<Shape> {
    match pat {
        Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() && p.mutability.is_none() => {
            Some(Shape::Leaf(Some(p.ident.clone())))
        }
        Pat::Wild(_) => Some(Shape::Leaf(None)),
        Pat::Paren(p) => shape_of(&p.pat),
        Pat::Tuple(t) => t
            .elems
            .iter()
            .map(shape_of)
            .collect::<Option<_>>()
            .map(Shape::Tuple),
        _ => None,
    }
}

/// The leaves' types of an annotation shaped like the pattern.
fn leaf_types(shape: &Shape, ty: &syn::Type) -> Result<Vec<Ty>, String> {
    let mut out = Vec::new();
    walk(shape, ty, &mut out)?;
    return Ok(out);

    fn walk(shape: &Shape, ty: &syn::Type, out: &mut Vec<Ty>) -> Result<(), String> {
        match (shape, ty) {
            (_, syn::Type::Paren(p)) => walk(shape, &p.elem, out),
            (Shape::Tuple(elems), syn::Type::Tuple(t)) if elems.len() == t.elems.len() => elems
                .iter()
                .zip(&t.elems)
                .try_for_each(|(s, t)| walk(s, t, out)),
            (Shape::Leaf(_), ty) => match classify(ty) {
                Ok(ty @ (Ty::Float(_) | Ty::Array { .. } | Ty::Tensor { .. })) => {
                    out.push(ty);
                    Ok(())
                }
                _ => Err(format!(
                    "a part of a differentiated call's result is a float or an array (`f64`, `Vec<f64>`, `[f64; N]`, `Array2<f64>`), not `{}`: compute other values with a call of their own",
                    ty.to_token_stream()
                )),
            },
            _ => Err("the annotation's tuple does not have the pattern's shape".into()),
        }
    }
}
