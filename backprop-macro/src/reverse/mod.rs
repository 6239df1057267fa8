//! The reverse sweep: walks the staged program backwards and lists, for every line whose
//! output has a gradient, the contributions of its local gradients to its operands.
//!
//! There is no calculus here: local gradients come from [`rules`]. The sweep decides order
//! and bookkeeping only: a gradient is introduced by its first contribution and accumulated
//! with `+=` afterwards; a line whose output has no gradient is skipped; a gradient first
//! reached inside a branch arm is declared as zero before the branch, since only one arm runs.
//!
//! This module holds the sweep's output (`BackStmt`, `Reversed`), its state and its core
//! (contributions, lines, branch arms, the tapes it names); the rest is split by concern:
//! `loops` (loops reversed, and whether a loop's iterations only accumulate), `reads` (what
//! backward statements and forward nodes read, the forward lines that stay live, what they
//! record) and `ownership` (gradients moved instead of copied or left unwritten, and whether
//! a uniform gradient keeps an array's shape).

mod loops;
mod ownership;
mod promote;
mod reads;
mod sink;

use std::collections::{HashMap, HashSet};

use proc_macro2::{Ident, TokenStream};
use quote::ToTokens;

use crate::copies;
use crate::ir::{Block, FloatTy, Node, Operand, Program, StoreOp, VarId, defined_in, idents_in};
use crate::naming::Namer;
use crate::record;
use crate::rules::{self, Local, Prim, TensorOp};

pub use reads::{
    block_reads, collect_mutable, node_idents, recorded_names, stmt_idents, without_outer_stores,
};

use ownership::{keeps_shapes, leave_unwritten, move_last_uses};
use reads::{count_uses, elementwise_lines, live_nodes, saves};

/// One statement of the backward pass.
#[derive(Clone)]
pub enum BackStmt {
    /// A forward line recomputed inside a reversed branch arm (the arm's values are local to
    /// the forward `if`, so the reverse arm computes the ones it needs again).
    Forward(Node),
    /// A statement a rule needs before its contributions (`let (_, g) = g_backward(..);`).
    Setup(TokenStream),
    /// The first contribution: `let d_v = expr;`. `sum_to`: the expression has the shape of a
    /// broadcast result and is summed back to `v`'s shape.
    Init {
        var: VarId,
        expr: TokenStream,
        sum_to: bool,
        /// The upstream gradient `expr` borrows, and `expr` taking it by value instead.
        moved: Option<(Ident, TokenStream)>,
        /// `expr` not written out, for when the only reader is a gate's upstream.
        unwritten: Option<TokenStream>,
    },
    /// A later contribution: `d_v += expr;` (or `d_v[i] += expr;`).
    Accumulate {
        var: VarId,
        element: Option<TokenStream>,
        expr: TokenStream,
        sum_to: bool,
        /// The factors when `expr` is a matrix product (added in place).
        product: Option<(TokenStream, TokenStream)>,
        /// As for `Init`.
        moved: Option<(Ident, TokenStream)>,
    },
    /// `d_w[i] = expr;`: the first contribution to an element at a literal index (the element
    /// is still zero, and `0.0 + v` would cost an addition the optimiser may not remove).
    SetElement {
        var: VarId,
        index: TokenStream,
        expr: TokenStream,
    },
    /// `if let Some(i) = broke { .. }`: the reverse of the iteration a `break` ended.
    Guarded {
        head: TokenStream,
        body: Vec<BackStmt>,
    },
    /// `let mut d_v = 0.0;`: a gradient that only a branch arm or single elements add to.
    Zero { var: VarId },
    /// The reverse of a branch: the same condition, each arm reversed. `origin` is the
    /// branch's first target (what fusing it with its forward branch looks for).
    If {
        cond: TokenStream,
        then: Vec<BackStmt>,
        otherwise: Vec<BackStmt>,
        origin: Option<VarId>,
    },
    /// The reverse of a loop: the same range the other way round, each iteration restoring
    /// what it needs from the tape, recomputing its lines and reversing them. `origin` is the
    /// loop's index variable; `fused`, for a loop whose iterations can be reversed in any
    /// order (see [`accumulates`](loops::accumulates)), one iteration's reverse without
    /// restoring or recomputing, to run inside the forward loop instead.
    For {
        index: Ident,
        range: TokenStream,
        rev: bool,
        body: Vec<BackStmt>,
        origin: Option<VarId>,
        fused: Option<Vec<BackStmt>>,
    },
    /// A statement of the loop bookkeeping (`let mut d_s = d_s_2;`).
    Raw(TokenStream),
    /// `let v = v_tape.pop();`: a forward value the reverse of a loop iteration or an arm gets
    /// back from the tape its forward block pushed it on (see [`crate::record`]).
    Pop {
        name: Ident,
        tape: Ident,
        popped: Popped,
    },
}

/// What a [`BackStmt::Pop`] gets back.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Popped {
    Value,
    /// A taped buffer, which the reverse pass writes into (restoring overwritten values).
    Buffer,
    /// Only the shape of an array (`backprop::Shape`), for a gradient summed back to it.
    Shape,
}

/// The name standing for the shape of `name` among the names a statement reads (see
/// [`stmt_idents`]): a gradient summed back to an array's shape needs the shape only.
pub fn shape_name(name: &str) -> String {
    format!("{name}#shape")
}

/// The backward pass of a program.
pub struct Reversed {
    /// The forward lines the function's value or the backward pass reads, in order.
    pub forward: Vec<Node>,
    pub stmts: Vec<BackStmt>,
    /// The upstream gradient parameter (`d_out`).
    pub seed: Ident,
    /// Gradient names of every variable that has a gradient.
    pub grads: HashMap<VarId, Ident>,
    /// Gradients that are added to after their declaration (`let mut`).
    pub mutable: HashSet<VarId>,
    /// Loop-carried variables whose gradient lives in one variable across the reverse loop:
    /// their first contribution in an iteration is an assignment, not a `let`.
    pub storage: HashSet<VarId>,
    /// The tapes of the loop-carried variables that the reverse pass restores: pushed at the
    /// start of each forward iteration.
    pub tapes: HashMap<VarId, Ident>,
    /// The tapes of the values of loop bodies and arms that their reverse reads: pushed at the
    /// end of the forward block that made them (see [`crate::record`]).
    pub records: HashMap<VarId, Ident>,
    /// The tapes of the trip counts and break records of loops nested in loops or arms, by
    /// name: pushed at the end of the enclosing forward block.
    pub counts: HashMap<String, Ident>,
    /// The tapes of the taped buffers: every write pushes the element's old value, and the
    /// reverse of that write puts it back.
    pub restores: HashMap<VarId, Ident>,
    /// The tapes of the shapes of arrays whose reverse needs only their shape.
    pub shapes: HashMap<VarId, Ident>,
    /// The copy of a returned buffer taken at the end of the forward pass, when the reverse
    /// pass restores the buffer's overwritten values (`out_value`).
    pub output_copy: Option<Ident>,
    /// The names that a forward line, a reverse statement or the returned value reads: a part
    /// of a tuple result outside it is bound as `_`.
    pub needed: HashSet<String>,
}

pub fn reverse(program: &Program, namer: &mut Namer) -> Reversed {
    let seed = namer.fresh("d_out");
    let restores = program
        .vars
        .iter()
        .enumerate()
        .filter(|(_, v)| v.taped)
        .map(|(k, v)| (k, namer.fresh(&format!("{}_tape", v.ident))))
        .collect();
    let mut sweep = Sweep {
        program,
        namer,
        grads: HashMap::new(),
        declared: HashSet::new(),
        frames: Vec::new(),
        touched: HashSet::new(),
        loop_depth: 0,
        storage: HashSet::new(),
        tapes: HashMap::new(),
        records: HashMap::new(),
        counts: HashMap::new(),
        restores,
        shapes: HashMap::new(),
        uses: HashMap::new(),
        elementwise: HashSet::new(),
        uniform: HashMap::new(),
        counted_back: HashMap::new(),
    };
    count_uses(
        program,
        &program.body.nodes,
        &program.body.results,
        &mut sweep.uses,
    );
    elementwise_lines(&program.body.nodes, &mut sweep.elementwise);
    let mut stmts = Vec::new();
    match *program.body.value() {
        // The function's own output variable, or the buffer it returns (`[f64; M]`, `Vec<f64>`):
        // its gradient is the upstream gradient itself.
        Operand::Var(out) if program.output_temp == Some(out) || program.vars[out].buffer => {
            sweep.grads.insert(out, seed.clone());
            sweep.declared.insert(out);
            // A returned buffer's gradient holds the upstream: no element of it is known to be
            // zero (a first contribution adds, never assigns).
            sweep.touched.insert((out, "*".to_string()));
        }
        ref result if program.is_active(result) => {
            sweep.contribute_to(result, seed.to_token_stream(), &mut stmts);
        }
        _ => {}
    }
    sweep.block(&program.body, &mut stmts);
    let handed = move_last_uses(program, &sweep.grads, &mut stmts);
    leave_unwritten(program, &sweep.grads, &handed, &mut stmts);
    copies::propagate(program, &sweep.grads, &sweep.storage, &mut stmts);
    sink::sink(program, &sweep.grads, &sweep.storage, &mut stmts);
    promote::promote(program, &sweep.grads, sweep.namer, &mut stmts);
    let mut mutable = HashSet::new();
    collect_mutable(&stmts, &mut mutable);
    let mut needed = HashSet::new();
    idents_in(rules::render(program, program.body.value()), &mut needed);
    stmts
        .iter()
        .for_each(|s| stmt_idents(program, s, &mut needed));
    let mut reversed = Reversed {
        forward: Vec::new(),
        stmts,
        seed,
        grads: sweep.grads,
        mutable,
        storage: sweep.storage,
        tapes: sweep.tapes,
        records: sweep.records,
        counts: sweep.counts,
        restores: sweep.restores,
        shapes: sweep.shapes,
        output_copy: match *program.body.value() {
            Operand::Var(out) if program.vars[out].buffer && program.vars[out].taped => {
                Some(namer.fresh(&format!("{}_value", program.vars[out].ident)))
            }
            _ => None,
        },
        needed: HashSet::new(),
    };
    reversed.forward = live_nodes(program, &program.body.nodes, &mut needed, &reversed);
    reversed.needed = needed;
    reversed
}

/// How a rule's contribution meets its operand.
#[derive(Default)]
struct Shaping {
    /// It has the shape of a broadcast result: summed to the operand's shape.
    sum_to: bool,
    /// It is the matrix product of these factors: added in place to an existing gradient.
    product: Option<(TokenStream, TokenStream)>,
    /// The upstream gradient it borrows, and the contribution taking it by value instead.
    moved: Option<(Ident, TokenStream)>,
    /// The contribution not written out (a gate's upstream only).
    unwritten: Option<TokenStream>,
}

/// The variables defined inside one branch (both arms).
struct Frame {
    locals: HashSet<VarId>,
    /// Gradients of outer variables first reached inside the branch: declared zero before it.
    hoisted: Vec<VarId>,
}

struct Sweep<'a> {
    program: &'a Program,
    namer: &'a mut Namer,
    grads: HashMap<VarId, Ident>,
    declared: HashSet<VarId>,
    frames: Vec<Frame>,
    /// Elements at literal indices that already have a contribution on some path.
    touched: HashSet<(VarId, String)>,
    /// How many loops enclose the line being reversed (an element's first contribution is an
    /// assignment only outside loops: inside, the line runs again).
    loop_depth: usize,
    storage: HashSet<VarId>,
    tapes: HashMap<VarId, Ident>,
    records: HashMap<VarId, Ident>,
    counts: HashMap<String, Ident>,
    restores: HashMap<VarId, Ident>,
    shapes: HashMap<VarId, Ident>,
    /// How many times each name is read in the forward code.
    uses: HashMap<String, usize>,
    /// Variables made by elementwise lines.
    elementwise: HashSet<VarId>,
    /// Arrays whose gradient is one value everywhere, that value (see `uniform_sum`).
    uniform: HashMap<VarId, TokenStream>,
    /// Integer counters a reversed loop counts back to their value before the loop: the value
    /// after the forward loop, and the variable holding the value before it once the reversed
    /// loop has run (see `reverse_loop`).
    counted_back: HashMap<VarId, VarId>,
}

impl Sweep<'_> {
    fn grad(&mut self, var: VarId) -> Ident {
        if let Some(name) = self.grads.get(&var) {
            return name.clone();
        }
        let name = self
            .namer
            .fresh(&format!("d_{}", self.program.vars[var].ident));
        self.grads.insert(var, name.clone());
        name
    }

    /// Adds `expr` to the gradient of an operand (nothing for a constant).
    fn contribute_to(&mut self, operand: &Operand, expr: TokenStream, out: &mut Vec<BackStmt>) {
        self.contribute_shaped(operand, expr, Shaping::default(), out);
    }

    /// The same, for a contribution a rule marked (summed to the operand's shape, or a matrix
    /// product).
    fn contribute_shaped(
        &mut self,
        operand: &Operand,
        expr: TokenStream,
        shaping: Shaping,
        out: &mut Vec<BackStmt>,
    ) {
        if !self.program.is_active(operand) {
            return;
        }
        match operand {
            Operand::Var(v) => self.contribute(*v, None, expr, shaping, out),
            Operand::Element { var, index } => {
                self.contribute(*var, Some(index.clone()), expr, shaping, out)
            }
            Operand::Const { .. } => {}
        }
    }

    /// Adds `expr` to the gradient of `var` (of one element of it, for an array).
    fn contribute(
        &mut self,
        var: VarId,
        element: Option<TokenStream>,
        expr: TokenStream,
        shaping: Shaping,
        out: &mut Vec<BackStmt>,
    ) {
        self.grad(var);
        // A whole-array contribution (from a call) fills every element: none is zero after it.
        if element.is_none() {
            self.touched.insert((var, "*".to_string()));
        }
        if !self.declared.contains(&var) {
            self.declared.insert(var);
            let local_here = self.frames.last().is_none_or(|f| f.locals.contains(&var));
            if !local_here {
                if let Some(frame) = self.frames.last_mut() {
                    frame.hoisted.push(var);
                }
            } else if element.is_some() {
                out.push(BackStmt::Zero { var });
            } else {
                out.push(BackStmt::Init {
                    var,
                    expr,
                    sum_to: shaping.sum_to,
                    moved: shaping.moved,
                    unwritten: shaping.unwritten,
                });
                return;
            }
        }
        // A contribution at an index that may alias others (computed, or repeated by a loop)
        // leaves no element known to be zero.
        if let Some(index) = &element
            && (self.loop_depth > 0 || syn::parse2::<syn::LitInt>(index.clone()).is_err())
        {
            self.touched.insert((var, "*".to_string()));
        }
        if let Some(index) = &element
            && self.loop_depth == 0
            && syn::parse2::<syn::LitInt>(index.clone()).is_ok()
            && !self.touched.contains(&(var, "*".to_string()))
            && self.touched.insert((var, index.to_string()))
        {
            out.push(BackStmt::SetElement {
                var,
                index: index.clone(),
                expr,
            });
            return;
        }
        out.push(BackStmt::Accumulate {
            var,
            element,
            expr,
            sum_to: shaping.sum_to,
            product: shaping.product,
            moved: shaping.moved,
        });
    }

    fn block(&mut self, block: &Block, out: &mut Vec<BackStmt>) {
        for node in block.nodes.iter().rev() {
            match node {
                // A part of a tuple result: its gradient goes into its call's upstream tuple
                // (`tuple_upstream`), and gives the call one.
                Node::Assign(assign) if matches!(assign.prim, Prim::Field(_)) => {
                    if self.declared.contains(&assign.target)
                        && let [Operand::Var(tuple)] = assign.args[..]
                    {
                        self.materialise_uniform(assign.target, out);
                        self.declared.insert(tuple);
                    }
                }
                Node::Assign(assign) => {
                    if !self.declared.contains(&assign.target) {
                        continue;
                    }
                    let wanted: Vec<usize> =
                        crate::contributions::differentiable_positions(&assign.prim, &assign.args)
                            .into_iter()
                            .filter(|&i| self.program.is_active(&assign.args[i]))
                            .collect();
                    if wanted.is_empty() {
                        continue;
                    }
                    if self.uniform_sum(assign) {
                        continue;
                    }
                    let program = self.program;
                    let target = &program.vars[assign.target];
                    let float = target.ty.float().unwrap_or(FloatTy::F64);
                    let d = self.grad(assign.target);
                    let scratch = match assign.prim {
                        Prim::Call { .. } | Prim::Tensor(crate::rules::TensorOp::Map { .. }) => {
                            self.namer.fresh(&format!("d_{}_inputs", target.ident))
                        }
                        _ => target.ident.clone(),
                    };
                    let tuple = match &assign.prim {
                        Prim::Call {
                            parts: Some(parts), ..
                        } => Some(self.tuple_upstream(parts)),
                        _ => None,
                    };
                    let rule = |upstream: Option<&TokenStream>| {
                        let mut local = Local::new(program, &assign.args, target, d.clone(), float);
                        if let Some(tuple) = &tuple {
                            local.d = tuple.clone();
                        }
                        if let Some(value) = upstream {
                            local = local.with_upstream(value.clone());
                        }
                        crate::contributions::backward(
                            &assign.prim,
                            &local,
                            program,
                            &assign.args,
                            &target.ty,
                            &wanted,
                            &scratch,
                        )
                    };
                    // An array whose gradient is one value everywhere (it was summed): the
                    // rule's lines take that value where they keep an array's shape; else the
                    // gradient is materialised.
                    let uniform = self.uniform.remove(&assign.target);
                    let mut backward = rule(uniform.as_ref());
                    if let Some(value) = &uniform
                        && !keeps_shapes(program, assign, &backward, value)
                    {
                        let ident = &target.ident;
                        out.push(BackStmt::Init {
                            var: assign.target,
                            expr: quote::quote!(::backprop::ndarray::Array::from_elem(#ident.raw_dim(), #value)),
                            sum_to: false,
                            moved: None,
                            unwritten: None,
                        });
                        backward = rule(None);
                    }
                    out.extend(backward.setup.into_iter().map(BackStmt::Setup));
                    for c in backward.contributions {
                        let shaping = Shaping {
                            sum_to: c.sum_to,
                            product: c.product,
                            moved: c.moved.map(|m| (d.clone(), m)),
                            unwritten: c.unwritten,
                        };
                        match (&assign.args[c.operand], c.region) {
                            // The gradient of a part of an array: into that part of its own.
                            (Operand::Var(v), Some(region))
                                if self.program.is_active(&assign.args[c.operand]) =>
                            {
                                self.contribute(*v, Some(region), c.expr, shaping, out)
                            }
                            (operand, _) => self.contribute_shaped(operand, c.expr, shaping, out),
                        }
                    }
                }
                Node::Branch(branch) => {
                    // The gradients of the branch's targets that exist, by arm result position.
                    let mut seeds: Vec<(usize, Ident)> = Vec::new();
                    for (k, &t) in branch.targets.iter().enumerate() {
                        if self.declared.contains(&t) {
                            seeds.push((k, self.grad(t)));
                        }
                    }
                    let mut written = Vec::new();
                    node.stores(&mut written);
                    if seeds.is_empty()
                        && !written
                            .iter()
                            .any(|b| self.declared.contains(b) || saves(node, *b))
                    {
                        continue;
                    }
                    let mut locals = HashSet::new();
                    defined_in(&branch.then, &mut locals);
                    defined_in(&branch.otherwise, &mut locals);
                    self.frames.push(Frame {
                        locals,
                        hoisted: Vec::new(),
                    });
                    // Only one arm runs: each sees the elements touched before the branch.
                    let touched_before = self.touched.clone();
                    let then = self.arm(&branch.then, &seeds);
                    let touched_then = std::mem::replace(&mut self.touched, touched_before);
                    let otherwise = self.arm(&branch.otherwise, &seeds);
                    self.touched.extend(touched_then);
                    self.close_frame(out);
                    if !then.is_empty() || !otherwise.is_empty() {
                        out.push(BackStmt::If {
                            cond: branch.cond.clone(),
                            then,
                            otherwise,
                            origin: branch.targets.first().copied(),
                        });
                    }
                }
                Node::Loop(l) => self.reverse_loop(l, out),
                // The element's gradient flows into the value written; an overwritten value
                // has no gradient, so the element's is reset for the writes before this one.
                Node::Store(store) => {
                    // A taped buffer gets its element's old value back, for the reverse of the
                    // lines before this write.
                    let restore = self
                        .restores
                        .get(&store.buffer)
                        .filter(|_| store.saved)
                        .map(|tape| {
                            let (buffer, index) =
                                (&self.program.vars[store.buffer].ident, &store.index);
                            BackStmt::Raw(quote::quote!(#buffer[#index] = #tape.pop();))
                        });
                    if !self.declared.contains(&store.buffer) {
                        out.extend(restore);
                        continue;
                    }
                    let d = self.grad(store.buffer);
                    let index = &store.index;
                    let upstream = match store.op {
                        StoreOp::Sub => quote::quote!(-#d[#index]),
                        StoreOp::Set | StoreOp::Add => quote::quote!(#d[#index]),
                    };
                    self.contribute_to(&store.value, upstream, out);
                    if store.reset && store.op == StoreOp::Set {
                        out.push(BackStmt::SetElement {
                            var: store.buffer,
                            index: index.clone(),
                            expr: quote::quote!(0.0),
                        });
                    }
                    out.extend(restore);
                }
            }
        }
    }

    /// `s = a.sum()` (or `.mean()`) of an array `a` that nothing else reads, made by an
    /// elementwise line (in the same loop body or arm): `a`'s gradient is `d_s` (or `d_s / n`) everywhere, kept as that one
    /// value for `a`'s own line instead of an array of copies.
    fn uniform_sum(&mut self, assign: &crate::ir::Assign) -> bool {
        let program = self.program;
        let (Prim::Tensor(op @ (TensorOp::Sum | TensorOp::Mean { .. })), [Operand::Var(a)]) =
            (&assign.prim, assign.args.as_slice())
        else {
            return false;
        };
        let var = &program.vars[*a];
        // Inside a loop body or an arm, `a` must be made there too: an array from outside,
        // summed in every iteration, gathers a gradient from each.
        if !var.active
            || var.buffer
            || self.frames.last().is_some_and(|f| !f.locals.contains(a))
            || self.uses.get(&var.ident.to_string()) != Some(&1)
            || !self.elementwise.contains(a)
        {
            return false;
        }
        let d = self.grad(assign.target);
        let value = match op {
            TensorOp::Mean { .. } => {
                let (ident, f) = (&var.ident, var.ty.float().unwrap_or(FloatTy::F64).ident());
                quote::quote!((#d / #ident.len() as #f))
            }
            _ => d.to_token_stream(),
        };
        self.uniform.insert(*a, value);
        self.declared.insert(*a);
        true
    }

    /// The upstream gradient of a call whose tuple result was taken apart: its parts'
    /// gradients, moved (nothing reads them after the call), and a zero of a part's shape
    /// where it has none (`(d_h, vec![0.0; c.len()])`).
    fn tuple_upstream(&mut self, parts: &crate::ir::Parts) -> TokenStream {
        let program = self.program;
        parts.render(&mut |v| {
            if self.declared.contains(&v) {
                return self.grad(v).to_token_stream();
            }
            let ident = program.vars[v].ident.to_token_stream();
            program.vars[v].ty.zero_like(&ident)
        })
    }

    /// A gradient kept as one value everywhere (see `uniform_sum`), written out as an array:
    /// for a line that reads it whole.
    fn materialise_uniform(&mut self, var: VarId, out: &mut Vec<BackStmt>) {
        if let Some(value) = self.uniform.remove(&var) {
            let ident = &self.program.vars[var].ident;
            out.push(BackStmt::Init {
                var,
                expr: quote::quote!(::backprop::ndarray::Array::from_elem(#ident.raw_dim(), #value)),
                sum_to: false,
                moved: None,
                unwritten: None,
            });
        }
    }

    /// Declares a zero gradient for `var` before any contribution (hoisted out of the frames
    /// it is not local to).
    fn declare_zero(&mut self, var: VarId, out: &mut Vec<BackStmt>) {
        if self.declared.contains(&var) {
            return;
        }
        self.grad(var);
        self.declared.insert(var);
        self.touched.insert((var, "*".to_string()));
        match self.frames.last_mut() {
            Some(frame) if !frame.locals.contains(&var) => frame.hoisted.push(var),
            _ => out.push(BackStmt::Zero { var }),
        }
    }

    /// Ends a branch's or loop's frame: the gradients of outer variables first reached inside
    /// it are declared zero before it (in `out`), or, if they are outer to the enclosing frame
    /// too, before that one.
    fn close_frame(&mut self, out: &mut Vec<BackStmt>) {
        let Some(frame) = self.frames.pop() else {
            return;
        };
        for var in frame.hoisted {
            match self.frames.last_mut() {
                Some(outer) if !outer.locals.contains(&var) => outer.hoisted.push(var),
                _ => out.push(BackStmt::Zero { var }),
            }
        }
    }

    /// One arm reversed: the branch's gradient flows into the arm's value, then through its
    /// lines; the forward lines whose values that reads are recomputed first.
    fn arm(&mut self, arm: &Block, seeds: &[(usize, Ident)]) -> Vec<BackStmt> {
        let mut reversed = Vec::new();
        for (k, d) in seeds {
            if self.program.is_active(&arm.results[*k]) {
                self.contribute_to(&arm.results[*k], d.to_token_stream(), &mut reversed);
            }
        }
        self.block(arm, &mut reversed);
        if reversed.is_empty() {
            return reversed;
        }
        let mut needed = HashSet::new();
        for stmt in &reversed {
            stmt_idents(self.program, stmt, &mut needed);
        }
        let plan = record::plan(self.program, &arm.nodes, &mut needed, self.loop_depth == 0);
        self.register(&plan);
        let mut recomputed = self.pops(&arm.nodes);
        recomputed.extend(plan.recompute.into_iter().map(BackStmt::Forward));
        recomputed.extend(reversed);
        recomputed
    }

    /// Names the tapes of what a plan records.
    fn register(&mut self, plan: &record::Plan) {
        for &v in &plan.values {
            if !self.records.contains_key(&v) {
                let tape = self
                    .namer
                    .fresh(&format!("{}_tape", self.program.vars[v].ident));
                self.records.insert(v, tape);
            }
        }
        for &v in &plan.shapes {
            if !self.shapes.contains_key(&v) {
                let tape = self
                    .namer
                    .fresh(&format!("{}_shape_tape", self.program.vars[v].ident));
                self.shapes.insert(v, tape);
            }
        }
        for c in &plan.counts {
            if !self.counts.contains_key(c) {
                let tape = self.namer.fresh(&format!("{c}_tape"));
                self.counts.insert(c.clone(), tape);
            }
        }
    }

    /// The pops of everything recorded of the lines `nodes` (directly, not in nested blocks):
    /// the reverse of a block pops all that its forward block pushed.
    fn pops(&self, nodes: &[Node]) -> Vec<BackStmt> {
        let program = self.program;
        let mut pops = Vec::new();
        for node in nodes {
            for t in node.targets() {
                if let Some(tape) = self.records.get(&t) {
                    pops.push(BackStmt::Pop {
                        name: program.vars[t].ident.clone(),
                        tape: tape.clone(),
                        popped: if program.vars[t].taped {
                            Popped::Buffer
                        } else {
                            Popped::Value
                        },
                    });
                }
                if let Some(tape) = self.shapes.get(&t) {
                    pops.push(BackStmt::Pop {
                        name: program.vars[t].ident.clone(),
                        tape: tape.clone(),
                        popped: Popped::Shape,
                    });
                }
            }
            if let Node::Loop(l) = node {
                for c in record::counters(l) {
                    if let Some(tape) = self.counts.get(&c) {
                        pops.push(BackStmt::Pop {
                            name: Ident::new(&c, proc_macro2::Span::call_site()),
                            tape: tape.clone(),
                            popped: Popped::Value,
                        });
                    }
                }
            }
        }
        pops
    }
}
