//! Forward mode (`#[backprop(jvp)]`): `f_jvp(p.., t..) -> (R, R)`, the value and the
//! Jacobian–vector product `J·t` in one pass, no tape.
//!
//! Every forward line is followed by its tangent line (`let t_y = ..;`), written from the rule
//! table. A primitive's adjoint is a local partial times the upstream (`x.cos() * d_y`), and its
//! tangent is the sum over its operands of the same partial times the operand's tangent
//! (`x.cos() * t_x`): the table's one template serves both modes (the sweep here has no calculus
//! of its own). A linear ndarray operation applies itself to the tangent (`t_a.t()`,
//! `t_a.sum_axis(Axis(0))`), a product is bilinear (`t_a.dot(&b) + a.dot(&t_b)`). A call of
//! `g` is a call of `g_jvp` with the arguments' tangents (the naming rule of `g_backward`).
//! Loops carry each tangent beside its variable, branches return them with their values, a
//! buffer has a tangent buffer written where it is.

use std::collections::HashMap;

use proc_macro2::{Ident, Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};

use crate::errors::Errors;
use crate::ir::{Block, FloatTy, LoopKind, Node, Operand, Program, StoreOp, Ty, Var, VarId};
use crate::naming::Namer;
use crate::rules::{self, Local, Prim, TensorOp};

use super::forward::forward_node;

/// The program with a tangent variable beside each active one.
pub(super) struct Tangents {
    pub(super) program: Program,
    of: HashMap<VarId, VarId>,
    /// Lines for `hvp`'s tangent function, which the macro differentiates again: a call is a
    /// call of the callee's own tangent function, returning `[value, tangent]`.
    pub(super) for_hvp: bool,
    /// The parameters that are references (`w: &[f64]`): a zero tangent passed for one is a
    /// reference too.
    pub(super) references: std::collections::HashSet<String>,
    /// Items the tangent lines call that the program does not hold: `hvp`'s slope functions
    /// of a `mapv` closure (`tangent_maps`).
    pub(super) items: std::cell::RefCell<Vec<TokenStream>>,
}

impl Tangents {
    pub(super) fn new(program: &Program, namer: &mut Namer) -> Self {
        let mut extended = program.clone();
        let mut of = HashMap::new();
        for (v, var) in program.vars.iter().enumerate() {
            if var.active {
                let ident = namer.fresh(&format!("t_{}", var.ident));
                extended.vars.push(Var {
                    ident,
                    ty: var.ty.clone(),
                    active: false,
                    buffer: var.buffer,
                    taped: false,
                });
                of.insert(v, extended.vars.len() - 1);
            }
        }
        Tangents {
            program: extended,
            of,
            for_hvp: false,
            references: Default::default(),
            items: Default::default(),
        }
    }

    /// The tangent variable of `v`, if it has one.
    pub(super) fn var(&self, v: VarId) -> Option<&Ident> {
        self.of.get(&v).map(|t| &self.program.vars[*t].ident)
    }

    /// An operand's tangent, `None` where it is zero (a constant).
    pub(super) fn operand(&self, operand: &Operand) -> Option<Operand> {
        match operand {
            Operand::Var(v) => self.of.get(v).map(|t| Operand::Var(*t)),
            Operand::Element { var, index } => self.of.get(var).map(|t| Operand::Element {
                var: *t,
                index: index.clone(),
            }),
            Operand::Const { .. } => None,
        }
    }

    /// An operand's tangent rendered as a value, or a zero like it.
    fn value_or_zero(&self, operand: &Operand, ty: &Ty) -> TokenStream {
        match self.operand(operand) {
            Some(t) => rules::render_bare(&self.program, &t),
            None => zero_like(
                &rules::render_receiver(&self.program, operand, float_of(ty)),
                ty,
            ),
        }
    }

    /// An operand's tangent as an owned value (an array a loop carries, a branch returns).
    fn owned_or_zero(&self, operand: &Operand, ty: &Ty) -> TokenStream {
        match self.operand(operand) {
            Some(Operand::Var(t)) if ty.is_tensor() => self.owned_copy(t),
            _ => self.value_or_zero(operand, ty),
        }
    }

    /// An owned copy of the array variable `v` (a value or a tangent): `.clone()` of an array
    /// the function owns, `.to_owned()` of a reference or of a parameter, which may be a view
    /// taken by value (`ArrayView2<f64>`), as may its tangent.
    pub(super) fn owned_copy(&self, v: VarId) -> TokenStream {
        let program = &self.program;
        let ident = &program.vars[v].ident;
        let parameter = program
            .params
            .iter()
            .any(|p| p.var == v || self.of.get(&p.var) == Some(&v));
        match program.vars[v].ty {
            Ty::Tensor { by_ref: false, .. } if !parameter => quote!(#ident.clone()),
            _ => quote!(#ident.to_owned()),
        }
    }
}

fn float_of(ty: &Ty) -> FloatTy {
    ty.float().unwrap_or(FloatTy::F64)
}

/// A zero tangent like the value `value` of type `ty`.
pub(super) fn zero_like(value: &TokenStream, ty: &Ty) -> TokenStream {
    // The shape of a copy is the shape of what it copies: no copy is made for it.
    if ty.is_tensor()
        && let Some(original) = rules::render::copied(value)
    {
        return ty.zero_like(&original.to_token_stream());
    }
    ty.zero_like(value)
}

/// `a + b` of terms, `a - b` where `b` is written negated.
fn sum(terms: Vec<TokenStream>) -> Option<TokenStream> {
    let mut out: Option<TokenStream> = None;
    for term in terms {
        let mut trees = term.clone().into_iter();
        let negated =
            matches!(trees.next(), Some(proc_macro2::TokenTree::Punct(p)) if p.as_char() == '-');
        out = Some(match (out, negated) {
            (None, _) => term,
            (Some(acc), true) => {
                let rest: TokenStream = trees.collect();
                quote!(#acc - #rest)
            }
            (Some(acc), false) => quote!(#acc + #term),
        });
    }
    out
}

/// The lines of `block` with their tangents.
pub(super) fn block_lines(t: &Tangents, block: &Block, errors: &mut Errors) -> Vec<TokenStream> {
    block
        .nodes
        .iter()
        .flat_map(|node| node_lines(t, node, errors))
        .collect()
}

fn node_lines(t: &Tangents, node: &Node, errors: &mut Errors) -> Vec<TokenStream> {
    let program = &t.program;
    match node {
        // A part of a tuple result: bound by its call's pattern, its tangent too.
        Node::Assign(assign) if matches!(assign.prim, Prim::Field(_)) => Vec::new(),
        // `hvp`'s tangent function returns the tuple of values and the tuple of their
        // tangents, built at its return as the value is.
        Node::Assign(assign) if t.for_hvp && matches!(assign.prim, Prim::Tuple(_)) => Vec::new(),
        Node::Assign(assign) => {
            let tensor_gate =
                program.vars[assign.target].ty.is_tensor() && is_tensor_gate(&assign.prim);
            if let Prim::Call { .. } = assign.prim
                && t.var(assign.target).is_some()
                && !tensor_gate
            {
                return vec![super::tangent_calls::call_line(t, assign)];
            }
            let mut lines = vec![forward_node(program, node, None)];
            if let Some(t_y) = t.var(assign.target) {
                let span = assign.span;
                match tangent_expr(t, assign) {
                    // A buffer's tangent is a buffer written beside it.
                    Ok(expr) if program.vars[assign.target].buffer => {
                        lines.push(quote_spanned!(span=> let mut #t_y = #expr;));
                    }
                    Ok(expr) => lines.push(quote_spanned!(span=> let #t_y = #expr;)),
                    Err(what) => errors.push(syn::Error::new(
                        span,
                        format!("{what} has no forward-mode rule yet: `jvp` cannot differentiate it; compute this value without it, or drop `jvp`"),
                    )),
                }
            }
            lines
        }
        Node::Store(store) => {
            let mut lines = vec![forward_node(program, node, None)];
            if let Some(t_buffer) = t.var(store.buffer) {
                let index = &store.index;
                let value = t
                    .operand(&store.value)
                    .map(|v| rules::render_bare(program, &v));
                let span = store.span;
                match (store.op, value) {
                    (StoreOp::Set, Some(v)) => {
                        lines.push(quote_spanned!(span=> #t_buffer[#index] = #v;))
                    }
                    (StoreOp::Set, None) => {
                        lines.push(quote_spanned!(span=> #t_buffer[#index] = 0.0;))
                    }
                    (StoreOp::Add, Some(v)) => {
                        lines.push(quote_spanned!(span=> #t_buffer[#index] += #v;))
                    }
                    (StoreOp::Sub, Some(v)) => {
                        lines.push(quote_spanned!(span=> #t_buffer[#index] -= #v;))
                    }
                    (_, None) => {}
                }
            }
            lines
        }
        Node::Branch(branch) => {
            let tangents: Vec<&Ident> = branch.targets.iter().filter_map(|&v| t.var(v)).collect();
            if tangents.is_empty() {
                // Constants only (the tangent lines of buffers it writes run in its arms).
                let then = arm(t, &branch.then, &branch.targets, errors);
                let otherwise = arm(t, &branch.otherwise, &branch.targets, errors);
                let cond = &branch.cond;
                let value = quote!(if #cond #then else #otherwise);
                return vec![super::forward::bind_branch(program, branch, value)];
            }
            let then = arm(t, &branch.then, &branch.targets, errors);
            let otherwise = arm(t, &branch.otherwise, &branch.targets, errors);
            let cond = &branch.cond;
            let idents = branch
                .targets
                .iter()
                .map(|&v| &program.vars[v].ident)
                .chain(tangents);
            let span = branch.span;
            vec![quote_spanned!(span=> let (#(#idents),*) = if #cond #then else #otherwise;)]
        }
        Node::Loop(l) => vec![loop_lines(t, l, errors)],
    }
}

/// A branch arm as a block: its lines, then its values and the tangents of the active ones.
fn arm(t: &Tangents, block: &Block, targets: &[VarId], errors: &mut Errors) -> TokenStream {
    let program = &t.program;
    let lines = block_lines(t, block, errors);
    let values: Vec<TokenStream> = block
        .results
        .iter()
        .map(|r| match r {
            Operand::Var(v) if program.vars[*v].ty.is_tensor() => {
                program.vars[*v].ident.to_token_stream()
            }
            r => rules::render_bare(program, r),
        })
        .collect();
    let tangents = block
        .results
        .iter()
        .zip(targets)
        .filter(|(_, target)| t.var(**target).is_some())
        .map(|(r, target)| t.owned_or_zero(r, &program.vars[*target].ty));
    let all: Vec<TokenStream> = values.into_iter().chain(tangents).collect();
    match all.as_slice() {
        [] => quote!({ #(#lines)* }),
        [one] => quote!({ #(#lines)* #one }),
        many => quote!({ #(#lines)* (#(#many),*) }),
    }
}

/// A loop carrying each active variable's tangent beside it.
fn loop_lines(t: &Tangents, l: &crate::ir::Loop, errors: &mut Errors) -> TokenStream {
    let program = &t.program;
    let mut before = Vec::new();
    let mut at_end = Vec::new();
    let mut after = Vec::new();
    let mut leave = Vec::new();
    let owned = |operand: &Operand, ty: &Ty| -> TokenStream {
        match operand {
            Operand::Var(v) if ty.is_tensor() => t.owned_copy(*v),
            Operand::Const { tokens, .. } if ty.is_tensor() => quote!((#tokens).to_owned()),
            other => rules::render_bare(program, other),
        }
    };
    // An array made in the body that only one carried variable takes at the end of the
    // iteration is moved into it (`h = h_next;`), with its tangent; a shared one is copied.
    let mut made_in_body = std::collections::HashSet::new();
    crate::ir::defined_in(&l.body, &mut made_in_body);
    let moved = |exit: &Operand| match exit {
        Operand::Var(v) => {
            made_in_body.contains(v)
                && l.body
                    .results
                    .iter()
                    .filter(|r| matches!(r, Operand::Var(w) if w == v))
                    .count()
                    == 1
        }
        _ => false,
    };
    for (k, (c, exit)) in l.carried.iter().zip(&l.body.results).enumerate() {
        let inner = &program.vars[c.inner].ident;
        let ty = &program.vars[c.inner].ty;
        let updated = !matches!(exit, Operand::Var(v) if *v == c.inner);
        let entry = owned(&c.entry, ty);
        // Not when the tangent is a zero made like it after the move.
        let zero_tangent = t.var(c.inner).is_some() && t.operand(exit).is_none();
        let exit_value = if let (Operand::Var(v), true) = (exit, moved(exit) && !zero_tangent) {
            program.vars[*v].ident.to_token_stream()
        } else {
            owned(exit, ty)
        };
        let after_ident = &program.vars[c.after].ident;
        before.push(quote!(let mut #inner = #entry;));
        if updated {
            at_end.push(quote!(#inner = #exit_value;));
        }
        after.push(quote!(let #after_ident = #inner;));
        if let Some(t_inner) = t.var(c.inner) {
            let t_entry = match (t.operand(&c.entry), ty) {
                // A constant start: a zero typed by its element, as nothing in the loop may
                // fix the element type of a tangent that starts as `Array::zeros(..)`.
                (None, Ty::Tensor { elem, .. }) => {
                    let (f, start) = (
                        elem.ident(),
                        rules::render_receiver(program, &c.entry, *elem),
                    );
                    quote!(::backprop::ndarray::Array::<#f, _>::zeros(#start.raw_dim()))
                }
                _ => t.owned_or_zero(&c.entry, ty),
            };
            before.push(quote!(let mut #t_inner = #t_entry;));
            if updated {
                let t_exit = match t.operand(exit) {
                    Some(Operand::Var(tangent)) if moved(exit) => {
                        program.vars[tangent].ident.to_token_stream()
                    }
                    _ => t.owned_or_zero(exit, ty),
                };
                at_end.push(quote!(#t_inner = #t_exit;));
            }
            if let Some(t_after) = t.var(c.after) {
                after.push(quote!(let #t_after = #t_inner;));
            }
        }
        if let Some(exit) = &l.exit {
            let r = &exit.pre_results[k];
            if !matches!(r, Operand::Var(v) if *v == c.inner) {
                let value = owned(r, ty);
                leave.push(quote!(#inner = #value;));
                if let Some(t_inner) = t.var(c.inner) {
                    let t_value = t.owned_or_zero(r, ty);
                    leave.push(quote!(#t_inner = #t_value;));
                }
            }
        }
    }
    let mut body = block_lines(t, &l.body, errors);
    if let Some(exit) = &l.exit {
        let cond = &exit.cond;
        let lines_before: usize = l.body.nodes[..exit.pre_len]
            .iter()
            .map(|n| node_lines(t, n, &mut Errors::default()).len())
            .sum();
        // The record of the break that the lines after the loop may read (a `return` guard
        // in the loop keeps its value and breaks).
        let mark = super::forward::break_record(program, l, exit, &mut before, &mut at_end);
        body.insert(lines_before, quote!(if #cond { #(#leave)* #mark break; }));
    }
    if let LoopKind::While { trips, .. } = &l.kind {
        before.push(quote!(let mut #trips = 0usize;));
        at_end.push(quote!(#trips += 1;));
    }
    let span = l.span;
    match &l.kind {
        LoopKind::For { index, range, rev } => {
            let index = &program.vars[*index].ident;
            let range = if *rev {
                quote!((#range).rev())
            } else {
                quote!(#range)
            };
            quote_spanned! {span=>
                #(#before)*
                for #index in #range {
                    #(#body)*
                    #(#at_end)*
                }
                #(#after)*
            }
        }
        LoopKind::While { cond, .. } => {
            let head = if cond.to_string() == "true" {
                quote!(loop)
            } else {
                quote!(while #cond)
            };
            quote_spanned! {span=>
                #(#before)*
                #head {
                    #(#body)*
                    #(#at_end)*
                }
                #(#after)*
            }
        }
    }
}

/// Whether a call is a runtime tensor gate with a gradient-only rule.
fn is_tensor_gate(prim: &Prim) -> bool {
    matches!(prim, Prim::Call { path, .. } if crate::rules::gates::gate_gradient(path).is_some())
}

/// The tangent of one line, or what has no forward-mode rule.
pub(super) fn tangent_expr(
    t: &Tangents,
    assign: &crate::ir::Assign,
) -> Result<TokenStream, String> {
    let program = &t.program;
    let target = &program.vars[assign.target];
    let float = target.ty.float().unwrap_or(FloatTy::F64);
    let args = &assign.args;
    let tangent_of = |i: usize| t.operand(&args[i]);
    // `op` with operand `i` replaced by its tangent.
    let with_tangent = |op: &Prim, i: usize, tangent: Operand| {
        let mut replaced = args.clone();
        replaced[i] = tangent;
        rules::forward(op, program, &replaced, float)
    };
    let expr = match &assign.prim {
        // A buffer that starts as a copy of an array: its tangent starts as a copy of the
        // array's.
        Prim::Table { rule, .. } if rule.name == "copy" && target.buffer => match tangent_of(0) {
            Some(tangent) => {
                let x = rules::render_receiver(program, &tangent, float);
                match target.ty {
                    Ty::Array { len: None, .. } => quote!(#x.to_vec()),
                    Ty::Array { .. } => quote!(#x.clone()),
                    _ => quote!(#x.to_owned()),
                }
            }
            None => zero_like(&target.ident.to_token_stream(), &target.ty),
        },
        // A comparison on every element with scalar bounds (`z.mapv(|v| v.max(s))`): the
        // rule's scalar tangent, applied to each element and its tangent.
        Prim::Table { rule, .. }
            if target.ty.is_tensor() && rules::ELEMENTWISE_SCALAR_METHODS.contains(&rule.name) =>
        {
            let tangent = rule.tangent.ok_or("an elementwise comparison")?;
            let array = rules::render_receiver(program, &args[0], float);
            let bounds: Vec<TokenStream> = (1..args.len())
                .map(|k| rules::render(program, &args[k]))
                .chain(
                    (1..args.len())
                        .filter_map(|k| tangent_of(k).map(|t| rules::render(program, &t))),
                )
                .collect();
            let e = rules::render::element_name(&bounds);
            let t_e =
                crate::contributions::fresh_among(&bounds, &["t_e", "t_element", "t_elem_"], &[&e]);
            let (e, t_e) = (quote!(#e), quote!(#t_e));
            let element_args: Vec<TokenStream> = std::iter::once(e.clone())
                .chain((1..args.len()).map(|k| rules::render(program, &args[k])))
                .collect();
            let element = Local::element(element_args, TokenStream::new(), float);
            let t_array = tangent_of(0).map(|t0| rules::render_receiver(program, &t0, float));
            let tangents: Vec<Option<TokenStream>> =
                std::iter::once(t_array.as_ref().map(|_| t_e.clone()))
                    .chain(
                        (1..args.len()).map(|k| tangent_of(k).map(|t| rules::render(program, &t))),
                    )
                    .collect();
            if t.for_hvp {
                // In the forward language, which `hvp` differentiates again: each tangent times
                // its slope, an array of the rule's scalar tangent with that tangent 1 and the
                // others 0 (`&z.mapv(|e| if e >= 0.0 { 1.0 } else { 0.0 }) * &t_z`): a step
                // of the element, constant where it is differentiable.
                let slope = |unit: usize| {
                    let units: Vec<Option<TokenStream>> = (0..tangents.len())
                        .map(|k| {
                            tangents[k]
                                .as_ref()
                                .map(|_| if k == unit { quote!(1.0) } else { quote!(0.0) })
                        })
                        .collect();
                    let each = tangent(&element, &units);
                    quote!(#array.mapv(|#e| #each))
                };
                let terms: Vec<TokenStream> = tangents
                    .iter()
                    .enumerate()
                    .filter_map(|(k, tk)| {
                        let tk = tk.as_ref()?;
                        let slope = slope(k);
                        Some(if k == 0 {
                            let t_array = rules::render(program, &tangent_of(0)?);
                            quote!(&#slope * #t_array)
                        } else {
                            quote!(&#slope * #tk)
                        })
                    })
                    .collect();
                return Ok(match terms.as_slice() {
                    [] => zero_like(&target.ident.to_token_stream(), &target.ty),
                    [one] => one.clone(),
                    many => quote!(#(#many)+*),
                });
            }
            let each = tangent(&element, &tangents);
            match t_array {
                Some(t_array) => {
                    quote!(::backprop::ndarray::Zip::from(#array.view()).and(#t_array.view()).map_collect(|&#e, &#t_e| #each))
                }
                None => quote!(#array.mapv(|#e| #each)),
            }
        }
        Prim::Table { rule, .. } if rule.tangent.is_some() => {
            let tangents: Vec<Option<TokenStream>> = (0..args.len())
                .map(|k| tangent_of(k).map(|t| rules::render(program, &t)))
                .collect();
            let local = Local::new(
                program,
                args,
                target,
                Ident::new("t", Span::call_site()),
                float,
            );
            rule.tangent
                .map(|tangent| tangent(&local, &tangents))
                .unwrap_or_default()
        }
        Prim::Table { rule, .. } => {
            let mut all_active = true;
            let terms: Vec<TokenStream> = rule
                .differentiable
                .iter()
                .filter_map(|&i| {
                    let tangent = tangent_of(i);
                    if tangent.is_none() && i < args.len() {
                        all_active = false;
                    }
                    let tangent = tangent?;
                    let d = rules::render(program, &tangent);
                    let local = Local::new(
                        program,
                        args,
                        target,
                        Ident::new("t", Span::call_site()),
                        float,
                    )
                    .with_upstream(d);
                    let term = (rule.grad)(&local, i);
                    (!term.is_empty()).then_some(term)
                })
                .collect();
            let expr = sum(terms)
                .unwrap_or_else(|| zero_like(&target.ident.to_token_stream(), &target.ty));
            if target.ty.is_tensor() {
                let y = &target.ident;
                // `y = &z + s` of a constant `z`: the tangent of `s` spread over `y`'s shape.
                if ["add", "sub", "copy"].contains(&rule.name) && !all_active || rule.name == "copy"
                {
                    quote!(::backprop::tangent_like(#expr, &#y))
                } else {
                    expr
                }
            } else {
                expr
            }
        }
        Prim::Cast(to) => {
            let tangent = tangent_of(0).ok_or("a cast")?;
            let x = rules::render(program, &tangent);
            let to = to.ident();
            quote!(#x as #to)
        }
        Prim::Tensor(op) => match op {
            // Linear in their one array operand: the operation itself, on the tangent.
            TensorOp::T
            | TensorOp::Sum
            | TensorOp::Mean { .. }
            | TensorOp::SumAxis
            | TensorOp::MeanAxis { .. }
            | TensorOp::InsertAxis
            | TensorOp::Select
            | TensorOp::Reshape { .. }
            | TensorOp::Part { .. } => {
                let tangent = tangent_of(0).ok_or("an array operation of a constant")?;
                with_tangent(&assign.prim, 0, tangent)
            }
            // Bilinear: one term per differentiated factor.
            TensorOp::Dot => sum((0..2)
                .filter_map(|i| tangent_of(i).map(|tangent| with_tangent(&assign.prim, i, tangent)))
                .collect())
            .ok_or("a product of constants")?,
            // Linear in all its parts together: a constant part's tangent is zero.
            TensorOp::Concat { .. } => {
                let replaced: Vec<Operand> = args
                    .iter()
                    .map(|a| {
                        t.operand(a).unwrap_or_else(|| {
                            let value = rules::render_receiver(program, a, float);
                            let f = float.ident();
                            Operand::Const {
                                tokens: quote!(::backprop::ndarray::Array::<#f, _>::zeros(#value.raw_dim())),
                                ty: Ty::Tensor { elem: float, rank: None, by_ref: false },
                                atomic: true,
                            }
                        })
                    })
                    .collect();
                rules::forward(&assign.prim, program, &replaced, float)
            }
            // var = Σ (a − m)² / (n − ddof) along the axis: its tangent Σ 2 (a − m) t / (n −
            // ddof) (the mean's own tangent meets Σ (a − m) = 0); std's is var's over 2 std.
            TensorOp::VarAxis | TensorOp::StdAxis => {
                let tangent = tangent_of(0).ok_or("`var_axis` of a constant")?;
                let t_a = rules::render(program, &tangent);
                let a = rules::render_receiver(program, &args[0], float);
                let (axis, ddof) = (
                    rules::render_bare(program, &args[1]),
                    rules::render_bare(program, &args[2]),
                );
                let f = float.ident();
                // `&z - ..`, `&p - ..`: an owned array or a view is borrowed, not moved.
                let minuend = rules::render(program, &args[0]);
                let centred = quote!((&(#minuend - &#a.mean_axis(#axis).unwrap().insert_axis(#axis)) * #t_a).sum_axis(#axis));
                let y = &target.ident;
                match op {
                    TensorOp::VarAxis => {
                        quote!(#centred * (2.0 / (#a.len_of(#axis) as #f - #ddof)))
                    }
                    _ => quote!(#centred / &((#a.len_of(#axis) as #f - #ddof) * &#y)),
                }
            }
            // The closure's scalar backward is linear in its upstream: with the element's
            // tangent as the upstream it gives g'(e)·t, and each differentiated capture's
            // partial times that capture's tangent adds to it.
            TensorOp::Map { function, wrt, .. } if t.for_hvp => {
                return super::tangent_maps::map_tangent(t, assign, function, wrt, float);
            }
            TensorOp::Map { backward, wrt, .. } => {
                let captures: Vec<TokenStream> = (1..args.len())
                    .map(|k| rules::render_bare(program, &args[k]))
                    .collect();
                let a = rules::render_receiver(program, &args[0], float);
                let e = quote::format_ident!("e");
                let te = quote::format_ident!("t_e");
                let differentiated = 1 + wrt.iter().filter(|w| **w).count();
                let part = |k: usize| {
                    (differentiated > 1).then(|| {
                        let k = syn::Index::from(k);
                        quote!(.#k)
                    })
                };
                let mut terms = Vec::new();
                let element = tangent_of(0);
                if element.is_some() {
                    let at = part(0);
                    terms.push(quote!(#backward(#e, #(#captures,)* #te).1 #at));
                }
                let mut position = 0;
                for (k, w) in wrt.iter().enumerate() {
                    if !w {
                        continue;
                    }
                    position += 1;
                    if let Some(tangent) = tangent_of(k + 1) {
                        let t_c = rules::render_bare(program, &tangent);
                        let at = part(position);
                        terms.push(quote!(#backward(#e, #(#captures,)* #t_c).1 #at));
                    }
                }
                let terms = sum(terms).ok_or("a `mapv` of constants")?;
                match element {
                    Some(tangent) => {
                        let t_a = rules::render_receiver(program, &tangent, float);
                        // `Zip` takes views: a reference parameter is one already.
                        let view = |operand: &Operand, rendered: &TokenStream| match program
                            .ty_of(operand)
                        {
                            Ty::Tensor { by_ref: true, .. } => rendered.clone(),
                            _ => quote!(&#rendered),
                        };
                        let (a, t_a) = (view(&args[0], &a), view(&tangent, &t_a));
                        quote!(::backprop::ndarray::Zip::from(#a).and(#t_a).map_collect(|&#e, &#te| #terms))
                    }
                    None => quote!(#a.mapv(|#e| #terms)),
                }
            }
        },
        Prim::Field(_) => return Err("a part of a tuple".into()),
        // A function's tuple value: the tuple of its parts' tangents.
        // A part that borrows (`out.t()`, a parameter) is copied out of the value, and so is
        // its tangent, a view of the tangent it borrows.
        Prim::Tuple(parts) => parts.render(&mut |i| match tangent_of(i) {
            Some(Operand::Var(v)) => {
                let ident = &program.vars[v].ident;
                match program.vars[v].ty {
                    Ty::Tensor { by_ref: true, .. } => quote!(#ident.to_owned()),
                    _ if super::borrows(program, &args[i]) => quote!(#ident.to_owned()),
                    _ => ident.to_token_stream(),
                }
            }
            Some(tangent) => rules::render_bare(program, &tangent),
            None => zero_like(
                &rules::render_receiver(program, &args[i], float),
                &program.ty_of(&args[i]),
            ),
        }),
        Prim::Call { path, .. } => {
            // A runtime tensor gate: its tangent rule (`rules/gates.rs`).
            let name = rules::function_name(path);
            let tangent_rule = crate::rules::gates::gate_gradient(path)
                .and_then(|rule| match t.for_hvp {
                    true => rule.plain_tangent.or(rule.tangent),
                    false => rule.tangent,
                })
                .ok_or_else(|| format!("`backprop::{name}` on an array"))?;
            let tangent = tangent_of(0).ok_or("a gate of a constant")?;
            let rendered: Vec<TokenStream> = args
                .iter()
                .map(|a| rules::render_bare(program, a))
                .collect();
            let y = &target.ident;
            let d = rules::render(program, &tangent);
            tangent_rule(&quote!(&#y), &rendered, &d)
        }
    };
    Ok(expr)
}
