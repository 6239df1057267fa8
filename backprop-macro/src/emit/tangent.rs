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
use crate::rules::{self, Local, Pass, Prim, TensorOp};

use super::forward::forward_node;

/// The program with a tangent variable beside each active one.
pub(super) struct Tangents {
    pub(super) program: Program,
    of: HashMap<VarId, VarId>,
    /// Lines for `hvp`'s tangent function, which the macro differentiates again: a call is a
    /// call of the callee's own tangent function, returning `[value, tangent]`.
    for_hvp: bool,
    /// The parameters that are references (`w: &[f64]`): a zero tangent passed for one is a
    /// reference too.
    references: std::collections::HashSet<String>,
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
        }
    }

    /// The tangent variable of `v`, if it has one.
    pub(super) fn var(&self, v: VarId) -> Option<&Ident> {
        self.of.get(&v).map(|t| &self.program.vars[*t].ident)
    }

    /// An operand's tangent, `None` where it is zero (a constant).
    fn operand(&self, operand: &Operand) -> Option<Operand> {
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
            Some(Operand::Var(t)) if ty.is_tensor() => {
                let ident = &self.program.vars[t].ident;
                match self.program.vars[t].ty {
                    Ty::Tensor { by_ref: false, .. } => quote!(#ident.clone()),
                    _ => quote!(#ident.to_owned()),
                }
            }
            _ => self.value_or_zero(operand, ty),
        }
    }
}

fn float_of(ty: &Ty) -> FloatTy {
    ty.float().unwrap_or(FloatTy::F64)
}

/// A zero tangent like the value `value` of type `ty`.
fn zero_like(value: &TokenStream, ty: &Ty) -> TokenStream {
    match ty {
        Ty::Tensor { .. } => quote!(::backprop::ndarray::Array::zeros(#value.raw_dim())),
        Ty::Array { len: Some(len), .. } => quote!([0.0; #len]),
        Ty::Array { len: None, .. } => quote!(vec![0.0; #value.len()]),
        _ => quote!(0.0),
    }
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
        Node::Assign(assign) => {
            let tensor_gate =
                program.vars[assign.target].ty.is_tensor() && is_tensor_gate(&assign.prim);
            if let Prim::Call { .. } = assign.prim
                && t.var(assign.target).is_some()
                && !tensor_gate
            {
                return vec![call_line(t, assign)];
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
            Operand::Var(v) if ty.is_tensor() => {
                let ident = &program.vars[*v].ident;
                match program.vars[*v].ty {
                    Ty::Tensor { by_ref: false, .. }
                        if !program.params.iter().any(|p| p.var == *v) =>
                    {
                        quote!(#ident.clone())
                    }
                    _ => quote!(#ident.to_owned()),
                }
            }
            Operand::Const { tokens, .. } if ty.is_tensor() => quote!((#tokens).to_owned()),
            other => rules::render_bare(program, other),
        }
    };
    for (k, (c, exit)) in l.carried.iter().zip(&l.body.results).enumerate() {
        let inner = &program.vars[c.inner].ident;
        let ty = &program.vars[c.inner].ty;
        let updated = !matches!(exit, Operand::Var(v) if *v == c.inner);
        let (entry, exit_value) = (owned(&c.entry, ty), owned(exit, ty));
        let after_ident = &program.vars[c.after].ident;
        before.push(quote!(let mut #inner = #entry;));
        if updated {
            at_end.push(quote!(#inner = #exit_value;));
        }
        after.push(quote!(let #after_ident = #inner;));
        if let Some(t_inner) = t.var(c.inner) {
            let t_entry = t.owned_or_zero(&c.entry, ty);
            before.push(quote!(let mut #t_inner = #t_entry;));
            if updated {
                let t_exit = t.owned_or_zero(exit, ty);
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
        let (broke, trips) = (&exit.broke, &exit.trips);
        let mark = match &l.kind {
            LoopKind::For { index, .. } => {
                let index = &program.vars[*index].ident;
                before.push(quote!(let mut #broke = None;));
                before.push(quote!(let mut #trips = 0usize;));
                at_end.push(quote!(#trips += 1;));
                quote!(#broke = Some(#index);)
            }
            LoopKind::While { .. } => {
                before.push(quote!(let mut #broke = false;));
                quote!(#broke = true;)
            }
        };
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

/// `let (y, t_y) = g_jvp(args.., tangents..);`: a tangent for every float argument (the
/// callee's differentiable parameters), zero for a constant one, passed as its value is.
fn call_line(t: &Tangents, assign: &crate::ir::Assign) -> TokenStream {
    let program = &t.program;
    let Prim::Call { path, pass, .. } = &assign.prim else {
        return TokenStream::new();
    };
    let float = program.vars[assign.target]
        .ty
        .float()
        .unwrap_or(FloatTy::F64);
    let receivers: Vec<TokenStream> = assign
        .args
        .iter()
        .map(|a| rules::render_receiver(program, a, float))
        .collect();
    let bare: Vec<TokenStream> = assign
        .args
        .iter()
        .map(|a| rules::render_bare(program, a))
        .collect();
    let args = rules::render::with_references(bare, &receivers, pass);
    let positions = crate::contributions::differentiable_positions(&assign.prim, &assign.args);
    let tangents: Vec<TokenStream> = positions
        .iter()
        .map(|&i| {
            let arg = &assign.args[i];
            let ty = crate::ir::operand_ty(&program.vars, arg);
            match t.operand(arg) {
                Some(tangent) => {
                    let bare = rules::render_bare(program, &tangent);
                    let receiver = rules::render_receiver(program, &tangent, float);
                    rules::render::with_references(vec![bare], &[receiver], &pass[i..=i]).remove(0)
                }
                None => {
                    let zero = zero_like(&receivers[i], &ty);
                    let reference = t.references.contains(&receivers[i].to_string());
                    match &pass[i] {
                        Pass::Ref => quote!(&#zero),
                        Pass::Plain if ty.is_tensor() || reference => quote!(&#zero),
                        Pass::View => quote!(#zero.view()),
                        _ => zero,
                    }
                }
            }
        })
        .collect();
    let y = &program.vars[assign.target].ident;
    let t_y = t.var(assign.target);
    let span = assign.span;
    if t.for_hvp {
        // `let y_and_tangent: [f64; 2] = g_hvp_tangent(..);`, differentiated by its
        // `_backward` like any call that returns an array.
        let tangent_fn = suffixed(path, "hvp_tangent");
        let pair = quote::format_ident!("{}_and_tangent", y);
        let f = float.ident();
        return quote_spanned! {span=>
            let #pair: [#f; 2] = #tangent_fn(#(#args,)* #(#tangents),*);
            let #y = #pair[0];
            let #t_y = #pair[1];
        };
    }
    let jvp = jvp_path(path);
    let annotation = assign.annotation.as_ref().map(|a| quote!(: (#a, #a)));
    quote_spanned!(span=> let (#y, #t_y) #annotation = #jvp(#(#args,)* #(#tangents),*);)
}

/// `g_jvp` of a call of `g` (`::backprop::sigmoid_jvp` of `::backprop::sigmoid`).
fn jvp_path(path: &TokenStream) -> TokenStream {
    suffixed(path, "jvp")
}

/// `path` with `_suffix` on its last name.
fn suffixed(path: &TokenStream, suffix: &str) -> TokenStream {
    let mut trees: Vec<proc_macro2::TokenTree> = path.clone().into_iter().collect();
    if let Some(proc_macro2::TokenTree::Ident(last)) = trees.last_mut() {
        *last = quote::format_ident!("{}_{}", last, suffix, span = last.span());
    }
    trees.into_iter().collect()
}

/// The tangent of one line, or what has no forward-mode rule.
fn tangent_expr(t: &Tangents, assign: &crate::ir::Assign) -> Result<TokenStream, String> {
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
            TensorOp::VarAxis => return Err("`var_axis`".into()),
            TensorOp::StdAxis => return Err("`std_axis`".into()),
            TensorOp::Map { .. } => return Err("a `mapv` closure with a branch".into()),
        },
        Prim::Call { path, .. } => {
            // A runtime tensor gate: its tangent rule (`rules/gates.rs`).
            let name = rules::function_name(path);
            let tangent_rule = crate::rules::gates::gate_gradient(path)
                .and_then(|rule| rule.tangent)
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

/// `f_jvp(p.., t..) -> (R, R)`: the value and the tangent of the output, for the tangents `t`
/// of the differentiable parameters (typed like them).
pub fn jvp(
    function: &syn::ItemFn,
    signature: &crate::signature::SignatureInfo,
    program: &Program,
    namer: &mut Namer,
    errors: &mut Errors,
) -> TokenStream {
    let mut t = Tangents::new(program, namer);
    t.references = references(signature);
    let lines = block_lines(&t, &program.body, errors);
    let name = &function.sig.ident;
    let jvp = quote::format_ident!("{}_jvp", name, span = name.span());
    let params = signature.params.iter().map(|p| {
        let (ident, ty) = (&p.ident, &p.ty_tokens);
        quote!(#ident: #ty)
    });
    let tangent_params: Vec<TokenStream> = signature
        .params
        .iter()
        .zip(&program.params)
        .filter(|(_, param)| param.differentiable)
        .filter_map(|(p, param)| {
            let ty = &p.ty_tokens;
            t.var(param.var).map(|ident| quote!(#ident: #ty))
        })
        .collect();
    let output = &signature.output_tokens;
    let value = super::output_value(program);
    let out = program.body.value();
    let out_ty = crate::ir::operand_ty(&program.vars, out);
    let tangent = match t.operand(out) {
        Some(Operand::Var(tv)) if out_ty.is_tensor() => {
            let ident = &t.program.vars[tv].ident;
            if value.to_string().ends_with(". to_owned ()")
                || !matches!(t.program.vars[tv].ty, Ty::Tensor { by_ref: false, .. })
            {
                quote!(#ident.to_owned())
            } else {
                ident.to_token_stream()
            }
        }
        Some(tangent) => rules::render_bare(&t.program, &tangent),
        // A value with no gradient: a zero of the output's type, like the value.
        None => zero_like(&quote!(value), &signature.output),
    };
    let (bind, value, tangent) = if t.operand(out).is_none() {
        (
            Some(quote!(let value = #value; let tangent = #tangent;)),
            quote!(value),
            quote!(tangent),
        )
    } else {
        (None, value, tangent)
    };
    let items = &program.items;
    let vis = &function.vis;
    let user_allows = function.attrs.iter().filter(|a| a.path().is_ident("allow"));
    let body = quote! {
        #vis fn #jvp(#(#params,)* #(#tangent_params),*) -> (#output, #output) {
            #(#items)*
            #(#lines)*
            #bind
            (#value, #tangent)
        }
    };
    let printed = super::pretty(&body);
    let doc = format!(
        " Value and Jacobian–vector product of [`{name}`], written by `#[backprop(jvp)]`.\n\n \
         Runs `{name}` forward once with a tangent beside every differentiated value, and returns \
         `({name}(..), J·t)`: the derivative of the output in the direction of the tangents `t_..` \
         (one per differentiable parameter, typed like it).\n\n The generated code:\n\n ```rust,ignore\n{}\n ```",
        printed
            .lines()
            .map(|l| format!(" {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    quote! {
        #[doc = #doc]
        #[allow(dead_code, clippy::all, clippy::pedantic, unused_parens, unused_variables, unused_mut, unused_assignments)]
        #(#user_allows)*
        #body
    }
}

/// `f_hvp(p.., v..) -> (R, G, G)` and `f_grad_backward(p.., d_out: (R, G)) -> ((R, G), G)`, by
/// reverse mode over forward mode: `f_jvp`'s lines, which are code of the forward language,
/// become a function `h(p, t) = [f(p), ∇f(p)·t]` that the macro differentiates like any
/// other. Its gradient with respect to `p` for the upstream `[a, 1]` is `a ∇f + H·t`, and
/// with respect to `t` it is `∇f`: one forward pass with tangents and one reverse pass give
/// the value, the gradient and the Hessian–vector product (the lecture's "backprop through"
/// the differentiated program; no rule beyond each primitive's adjoint and tangent).
pub fn hvp(
    function: &syn::ItemFn,
    signature: &crate::signature::SignatureInfo,
    program: &Program,
    namer: &mut Namer,
    errors: &mut Errors,
) -> TokenStream {
    let name = &function.sig.ident;
    let reported = errors.len();
    let Ty::Float(float) = signature.output else {
        errors.push(syn::Error::new(
            signature
                .output_tokens
                .clone()
                .into_iter()
                .next()
                .map_or_else(Span::call_site, |t| t.span()),
            "`hvp` needs a float output (`-> f64`): the Hessian of a scalar function",
        ));
        return TokenStream::new();
    };
    unsupported_under_hvp(program, &program.body, errors);
    if errors.len() > reported {
        return TokenStream::new();
    }
    let mut t = Tangents::new(program, namer);
    t.for_hvp = true;
    t.references = references(signature);
    let lines = block_lines(&t, &program.body, errors);
    let differentiable: Vec<(&crate::signature::ParamInfo, &Ident)> = signature
        .params
        .iter()
        .zip(&program.params)
        .filter(|(_, param)| param.differentiable)
        .filter_map(|(p, param)| t.var(param.var).map(|ident| (p, ident)))
        .collect();
    let k = differentiable.len();
    let params: Vec<TokenStream> = signature
        .params
        .iter()
        .map(|p| {
            let (ident, ty) = (&p.ident, &p.ty_tokens);
            quote!(#ident: #ty)
        })
        .collect();
    let tangent_params = differentiable.iter().map(|(p, ident)| {
        let ty = &p.ty_tokens;
        quote!(#ident: #ty)
    });
    let value = super::output_value(program);
    let tangent = match t.operand(program.body.value()) {
        Some(tangent) => rules::render_bare(&t.program, &tangent),
        None => quote!(0.0),
    };
    let f = float.ident();
    let items = &program.items;
    let inner = quote::format_ident!("{}_hvp_tangent", name);
    let source = quote! {
        fn #inner(#(#params,)* #(#tangent_params),*) -> [#f; 2] {
            #(#items)*
            #(#lines)*
            [#value, #tangent]
        }
    };
    let Ok(inner_fn) = syn::parse2::<syn::ItemFn>(source) else {
        errors.push(syn::Error::new(
            name.span(),
            "`hvp`: the tangent code did not parse (a bug of `#[backprop]`)",
        ));
        return TokenStream::new();
    };
    let wrt = signature
        .params
        .iter()
        .zip(&program.params)
        .filter(|(_, param)| param.differentiable)
        .map(|(p, _)| p.ident.clone())
        .chain(differentiable.iter().map(|(_, ident)| (*ident).clone()))
        .collect();
    let args = crate::args::Args {
        wrt: Some(wrt),
        ..Default::default()
    };
    let Some(backward) = crate::expand::backward_of(&inner_fn, args, errors) else {
        return TokenStream::new();
    };
    let backward_name = &backward.sig.ident;
    let param_names: Vec<&Ident> = signature.params.iter().map(|p| &p.ident).collect();
    let pick = |range: std::ops::Range<usize>| -> TokenStream {
        let fields: Vec<TokenStream> = range
            .map(|i| {
                let i = syn::Index::from(i);
                quote!(gradients.#i)
            })
            .collect();
        match fields.as_slice() {
            [one] => one.clone(),
            many => quote!((#(#many),*)),
        }
    };
    let (hv, gradient) = (pick(0..k), pick(k..2 * k));
    let output = &signature.output_tokens;
    let gradient_type = super::Companions::new(function, signature).gradient;
    let hvp = quote::format_ident!("{}_hvp", name, span = name.span());
    let grad_backward = quote::format_ident!("{}_grad_backward", name, span = name.span());
    let vis = &function.vis;
    let v_names: Vec<Ident> = differentiable
        .iter()
        .map(|(p, _)| quote::format_ident!("v_{}", p.ident))
        .collect();
    let v_params = differentiable.iter().zip(&v_names).map(|((p, _), v)| {
        let ty = &p.ty_tokens;
        quote!(#v: #ty)
    });
    // A component of `d_out`'s gradient, passed as its parameter's tangent is.
    let d_gradient: Vec<TokenStream> = differentiable
        .iter()
        .enumerate()
        .map(|(i, (p, _))| {
            let g = if k == 1 {
                quote!(d_gradient)
            } else {
                let i = syn::Index::from(i);
                quote!(d_gradient.#i)
            };
            let ty = p.ty_tokens.to_string();
            if ty.starts_with('&') {
                quote!(&#g)
            } else if ty.contains("ArrayView") {
                quote!(#g.view())
            } else {
                g
            }
        })
        .collect();
    let hvp_doc = format!(
        " Value, gradient and Hessian–vector product `H·v` of [`{name}`], written by \
         `#[backprop(hvp)]`: one forward pass with tangents `v` and one reverse pass over it."
    );
    let grad_backward_doc = format!(
        " The composition rule applied to `{name}_grad`: for the upstream `(d_value, d_gradient)` \
         of `{name}_grad`'s `(value, gradient)`, returns `({name}_grad(..), d_value · ∇{name} + H · \
         d_gradient)`, so that a `#[backprop]` function may use `{name}_grad`'s gradient in its \
         value and be differentiated."
    );
    let tangent_doc = format!(
        " `[{name}(..), J·t]`: the tangent function of [`{name}`], which `#[backprop(hvp)]` \
         differentiates (a caller with `hvp` calls it, and its `_backward`, for `{name}`)."
    );
    quote! {
        #[doc = #tangent_doc]
        #[allow(dead_code, clippy::all, clippy::pedantic, unused_parens, unused_variables, unused_mut, unused_assignments)]
        #vis #inner_fn

        #[doc(hidden)]
        #[allow(dead_code, non_snake_case, clippy::all, clippy::pedantic, unused_parens, unused_variables, unused_mut, unused_assignments)]
        #vis #backward

        #[doc = #hvp_doc]
        #[allow(dead_code, clippy::type_complexity)]
        #vis fn #hvp(#(#params,)* #(#v_params),*) -> (#output, #gradient_type, #gradient_type) {
            let (value, gradients) = #backward_name(#(#param_names,)* #(#v_names,)* [0.0, 1.0]);
            (value[0], #gradient, #hv)
        }

        #[doc = #grad_backward_doc]
        #[allow(dead_code, clippy::type_complexity)]
        #vis fn #grad_backward(#(#params,)* d_out: (#output, #gradient_type)) -> ((#output, #gradient_type), #gradient_type) {
            let (d_value, d_gradient) = d_out;
            let (value, gradients) = #backward_name(#(#param_names,)* #(#d_gradient,)* [d_value, 1.0]);
            ((value[0], #gradient), #hv)
        }
    }
}

/// What `hvp` does not differentiate yet: calls of the runtime gates and of functions that
/// return arrays, and ndarray code (whose tangent lines call runtime functions). A call of a
/// float function `g` is differentiated through `g_hvp_tangent` and its `_backward`, which
/// `#[backprop(hvp)]` on `g` writes.
fn unsupported_under_hvp(program: &Program, block: &Block, errors: &mut Errors) {
    for node in &block.nodes {
        match node {
            Node::Assign(a) => {
                let what = match &a.prim {
                    Prim::Call { path, .. }
                        if crate::rules::gates::runtime_gate_name(path).is_some()
                            && program.vars[a.target].ty.is_tensor() =>
                    {
                        Some("a runtime gate on an array")
                    }
                    Prim::Call { .. } if !matches!(program.vars[a.target].ty, Ty::Float(_)) => {
                        Some("a call that returns an array")
                    }
                    _ if program.vars[a.target].ty.is_tensor() => Some("ndarray code"),
                    _ => None,
                };
                if let Some(what) = what
                    && program.vars[a.target].active
                {
                    errors.push(syn::Error::new(
                        a.span,
                        format!("`hvp` does not differentiate {what} yet; remove `hvp`, or compute the Hessian–vector product by differencing `_grad`"),
                    ));
                    return;
                }
            }
            Node::Branch(b) => {
                unsupported_under_hvp(program, &b.then, errors);
                unsupported_under_hvp(program, &b.otherwise, errors);
            }
            Node::Loop(l) => unsupported_under_hvp(program, &l.body, errors),
            Node::Store(_) => {}
        }
    }
}

/// The names of the parameters that are references.
fn references(signature: &crate::signature::SignatureInfo) -> std::collections::HashSet<String> {
    signature
        .params
        .iter()
        .filter(|p| p.ty_tokens.to_string().starts_with('&'))
        .map(|p| p.ident.to_string())
        .collect()
}
