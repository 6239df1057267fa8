//! The reverse sweep: walks the staged program backwards and lists, for every line whose
//! output has a gradient, the contributions of its local gradients to its operands.
//!
//! There is no calculus here: local gradients come from [`rules`]. The sweep decides order
//! and bookkeeping only: a gradient is introduced by its first contribution and accumulated
//! with `+=` afterwards; a line whose output has no gradient is skipped; a gradient first
//! reached inside a branch arm is declared as zero before the branch, since only one arm runs.

use std::collections::{HashMap, HashSet};

use proc_macro2::{Ident, TokenStream, TokenTree};
use quote::ToTokens;

use crate::copies;
use crate::ir::{
    Block, FloatTy, LoopKind, Node, Operand, Program, StoreOp, VarId, defined_in, defined_in_node,
    idents_in,
};
use crate::naming::Namer;
use crate::record;
use crate::rules::{self, Local, Prim, TensorOp};

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
    /// order (see [`accumulates`]), one iteration's reverse without restoring or recomputing,
    /// to run inside the forward loop instead.
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
        Operand::Var(out) if program.output_temp == Some(out) => {
            sweep.grads.insert(out, seed.clone());
            sweep.declared.insert(out);
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
    };
    reversed.forward = live_nodes(program, &program.body.nodes, &mut needed, &reversed);
    reversed
}

/// An array gradient handed on whole (`let d_a = d_y.clone();`, `sum_to(d_y.clone(), ..)`, the
/// upstream of `relu_grad(&x, &d_y)`) by the last statement that reads it is moved instead:
/// top-level statements only (a loop body runs again), and never a returned gradient.
///
/// Returns the statements that now hand a gradient to a gate's gradient-only function as its
/// upstream, with the gradient's name.
fn move_last_uses(
    program: &Program,
    grads: &HashMap<VarId, Ident>,
    stmts: &mut [BackStmt],
) -> Vec<(usize, String)> {
    let mut handed = Vec::new();
    let returned: HashSet<String> = program
        .params
        .iter()
        .filter_map(|p| grads.get(&p.var))
        .map(ToString::to_string)
        .collect();
    for i in 0..stmts.len() {
        let (head, tail) = stmts.split_at_mut(i + 1);
        let (BackStmt::Init { expr, moved, .. } | BackStmt::Accumulate { expr, moved, .. }) =
            &mut head[i]
        else {
            continue;
        };
        // What a rule offered to take by value, or a gradient handed on whole (`&d_y`).
        let offered = moved.take();
        let to_gate = offered.is_some();
        let Some((name, moved)) = offered
            .map(|(name, moved)| (name.to_string(), moved))
            .or_else(|| borrowed_whole(expr))
        else {
            continue;
        };
        let mut later = HashSet::new();
        tail.iter()
            .for_each(|s| stmt_idents(program, s, &mut later));
        if !returned.contains(&name) && !later.contains(&name) {
            *expr = moved;
            if to_gate {
                handed.push((i, name));
            }
        }
    }
    handed
}

/// A gradient that its rule can leave unwritten (`one_hot` for `pick`) and that is read once,
/// by a gate's gradient-only function taking it as its upstream by value, is left unwritten:
/// that function folds it into its own buffer (see `handed` of [`move_last_uses`]).
fn leave_unwritten(
    program: &Program,
    grads: &HashMap<VarId, Ident>,
    handed: &[(usize, String)],
    stmts: &mut [BackStmt],
) {
    for i in 0..stmts.len() {
        let (head, tail) = stmts.split_at_mut(i + 1);
        let BackStmt::Init {
            var,
            expr,
            unwritten,
            ..
        } = &mut head[i]
        else {
            continue;
        };
        let (Some(unwritten), Some(name)) = (unwritten.take(), grads.get(var)) else {
            continue;
        };
        let name = name.to_string();
        let mut added_to = HashSet::new();
        collect_mutable(tail, &mut added_to);
        let readers: Vec<usize> = tail
            .iter()
            .enumerate()
            .filter(|(_, s)| {
                let mut names = HashSet::new();
                stmt_idents(program, s, &mut names);
                names.contains(&name)
            })
            .map(|(k, _)| i + 1 + k)
            .collect();
        if let [reader] = readers[..]
            && !added_to.contains(var)
            && handed.contains(&(reader, name))
        {
            *expr = unwritten;
        }
    }
}

/// Whether every contribution to an array operand has that operand's shape (or is summed to
/// it) with a scalar upstream gradient `upstream`: it mentions the operand itself or the line's
/// value (other than through `upstream`). `b * d` for `a` in `a * b` does not: `b` may be
/// smaller than `a` and only the full upstream array broadcast it.
fn keeps_shapes(
    program: &Program,
    assign: &crate::ir::Assign,
    backward: &rules::Backward,
    upstream: &TokenStream,
) -> bool {
    let mut in_upstream = HashSet::new();
    idents_in(upstream.clone(), &mut in_upstream);
    let output = program.vars[assign.target].ident.to_string();
    backward.setup.is_empty()
        && backward.contributions.iter().all(|c| {
            let operand = &assign.args[c.operand];
            let mut names = HashSet::new();
            idents_in(c.expr.clone(), &mut names);
            if !program.ty_of(operand).is_tensor() {
                // A scalar operand's contribution is summed over the line's elements: it needs
                // an array in it (`(a * d).sum()`), not the scalar upstream alone (`d` of
                // `a + s`, whose sum is `d` times the number of elements).
                return assign
                    .args
                    .iter()
                    .chain([&Operand::Var(assign.target)])
                    .any(|a| {
                        matches!(a, Operand::Var(v) if program.vars[*v].ty.is_tensor()
                        && names.contains(&program.vars[*v].ident.to_string())
                        && !in_upstream.contains(&program.vars[*v].ident.to_string()))
                    });
            }
            let own = match operand {
                Operand::Var(v) => program.vars[*v].ident.to_string(),
                _ => return false,
            };
            [own, output.clone()]
                .iter()
                .any(|name| names.contains(name) && !in_upstream.contains(name))
        })
}

/// How many times each name is read in the forward code.
fn count_uses(
    program: &Program,
    nodes: &[Node],
    results: &[Operand],
    out: &mut HashMap<String, usize>,
) {
    let mut count = |tokens: TokenStream| {
        let mut stack = vec![tokens];
        while let Some(tokens) = stack.pop() {
            for tree in tokens {
                match tree {
                    TokenTree::Ident(i) => *out.entry(i.to_string()).or_default() += 1,
                    TokenTree::Group(g) => stack.push(g.stream()),
                    _ => {}
                }
            }
        }
    };
    let mut streams = Vec::new();
    block_reads(program, nodes, results, &mut streams);
    streams.into_iter().for_each(&mut count);
}

/// The token streams `nodes` and `results` read: operands, conditions, ranges, the values
/// of nested blocks (not the buffers a store writes into).
pub fn block_reads(
    program: &Program,
    nodes: &[Node],
    results: &[Operand],
    out: &mut Vec<TokenStream>,
) {
    out.extend(results.iter().map(|r| rules::render(program, r)));
    nodes.iter().for_each(|n| node_reads(program, n, out));
}

/// The token streams one forward node reads, nested blocks included.
pub fn node_reads(program: &Program, node: &Node, out: &mut Vec<TokenStream>) {
    match node {
        Node::Assign(a) => out.extend(a.args.iter().map(|r| rules::render(program, r))),
        Node::Store(s) => {
            out.push(s.index.clone());
            out.push(rules::render(program, &s.value));
        }
        Node::Branch(b) => {
            out.push(b.cond.clone());
            block_reads(program, &b.then.nodes, &b.then.results, out);
            block_reads(program, &b.otherwise.nodes, &b.otherwise.results, out);
        }
        Node::Loop(l) => {
            match &l.kind {
                LoopKind::For { range, .. } => out.push(range.clone()),
                LoopKind::While { cond, .. } => out.push(cond.clone()),
            }
            if let Some(exit) = &l.exit {
                out.push(exit.cond.clone());
            }
            out.extend(l.carried.iter().map(|c| rules::render(program, &c.entry)));
            block_reads(program, &l.body.nodes, &l.body.results, out);
        }
    }
}

/// The variables made by a line whose rule can take a scalar for a uniform upstream gradient
/// (elementwise table rules, `pick`).
fn elementwise_lines(nodes: &[Node], out: &mut HashSet<VarId>) {
    for node in nodes {
        match node {
            Node::Assign(a) if rules::takes_uniform_upstream(&a.prim) => {
                out.insert(a.target);
            }
            Node::Branch(b) => {
                elementwise_lines(&b.then.nodes, out);
                elementwise_lines(&b.otherwise.nodes, out);
            }
            Node::Loop(l) => elementwise_lines(&l.body.nodes, out),
            _ => {}
        }
    }
}

/// The gradient an expression borrows whole (`&name`), and the expression moving it instead.
fn borrowed_whole(expr: &TokenStream) -> Option<(String, TokenStream)> {
    let tokens: Vec<TokenTree> = expr.clone().into_iter().collect();
    match tokens.as_slice() {
        [TokenTree::Punct(amp), TokenTree::Ident(name)] if amp.as_char() == '&' => {
            Some((name.to_string(), name.to_token_stream()))
        }
        _ => None,
    }
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
                Node::Assign(assign) => {
                    if !self.declared.contains(&assign.target) {
                        continue;
                    }
                    let wanted: Vec<usize> =
                        rules::differentiable_positions(&assign.prim, &assign.args)
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
                        Prim::Call { .. } => {
                            self.namer.fresh(&format!("d_{}_inputs", target.ident))
                        }
                        _ => target.ident.clone(),
                    };
                    let rule = |upstream: Option<&TokenStream>| {
                        let mut local = Local::new(program, &assign.args, target, d.clone(), float);
                        if let Some(value) = upstream {
                            local = local.with_upstream(value.clone());
                        }
                        rules::backward(
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
                        self.contribute_shaped(&assign.args[c.operand], c.expr, shaping, out);
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
    /// elementwise line: `a`'s gradient is `d_s` (or `d_s / n`) everywhere, kept as that one
    /// value for `a`'s own line instead of an array of copies.
    fn uniform_sum(&mut self, assign: &crate::ir::Assign) -> bool {
        let program = self.program;
        let (Prim::Tensor(op @ (TensorOp::Sum | TensorOp::Mean { .. })), [Operand::Var(a)]) =
            (&assign.prim, assign.args.as_slice())
        else {
            return false;
        };
        let var = &program.vars[*a];
        if !var.active
            || var.buffer
            || !self.frames.is_empty()
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

    /// A loop reversed. Each carried variable's gradient lives in one variable across the
    /// reverse loop (`d_s_1`): at the start of an iteration it is the gradient of the value the
    /// iteration ended with, and after the reversed body, of the value it started with.
    fn reverse_loop(&mut self, l: &crate::ir::Loop, out: &mut Vec<BackStmt>) {
        let program = self.program;
        let active: Vec<usize> = (0..l.carried.len())
            .filter(|&k| program.vars[l.carried[k].inner].active)
            .collect();
        // The loop matters to the gradient through its carried values and the buffers it
        // writes into.
        let mut written = Vec::new();
        l.body.nodes.iter().for_each(|n| n.stores(&mut written));
        if !active
            .iter()
            .any(|&k| self.declared.contains(&l.carried[k].after))
            && !written
                .iter()
                .any(|b| self.declared.contains(b) || l.body.nodes.iter().any(|n| saves(n, *b)))
        {
            return;
        }
        for &k in &active {
            let c = &l.carried[k];
            let d = self.grad(c.inner);
            self.storage.insert(c.inner);
            let start = if self.declared.contains(&c.after) {
                let d_after = self.grad(c.after);
                if program.vars[c.after].ty.is_tensor() {
                    quote::quote!(#d_after.clone())
                } else {
                    d_after.to_token_stream()
                }
            } else if program.vars[c.after].ty.is_tensor() {
                let after = &program.vars[c.after].ident;
                quote::quote!(::backprop::ndarray::Array::zeros(#after.raw_dim()))
            } else {
                quote::quote!(0.0)
            };
            out.push(BackStmt::Raw(quote::quote!(let mut #d = #start;)));
        }
        // A buffer the body writes and reads: later iterations' reads reach earlier iterations'
        // writes, so its gradient exists before the reversed body (written once for all).
        let mut locals = HashSet::new();
        defined_in(&l.body, &mut locals);
        if let LoopKind::For { index, .. } = &l.kind {
            locals.insert(*index);
        }
        let mut body_reads = HashSet::new();
        l.body
            .nodes
            .iter()
            .for_each(|n| node_idents(program, n, &mut body_reads));
        for buffer in written {
            if program.vars[buffer].active
                && !locals.contains(&buffer)
                && body_reads.contains(&program.vars[buffer].ident.to_string())
            {
                self.declare_zero(buffer, out);
            }
        }
        locals.extend(l.carried.iter().map(|c| c.inner));
        self.frames.push(Frame {
            locals,
            hoisted: Vec::new(),
        });
        self.loop_depth += 1;

        let full = self.reverse_iteration(l, &l.body, &active);
        let fused = (l.exit.is_none() && accumulates(program, l)).then(|| full.clone());
        // The iteration that broke ran only the lines before its `break` guard.
        let partial = l.exit.as_ref().map(|exit| {
            let pre = Block {
                nodes: l.body.nodes[..exit.pre_len].to_vec(),
                results: exit.pre_results.clone(),
            };
            let body = self.reverse_iteration(l, &pre, &active);
            (pre, body)
        });
        self.loop_depth -= 1;
        self.close_frame(out);

        // What a reversed iteration reads: the values the iteration started with, from the
        // tapes of the carried variables, and the iteration's own values, recorded or recomputed
        // (see `record`). Every iteration pushed the same tapes, so every reversed iteration pops
        // them all; the iteration that broke pushed only those of the lines before the break.
        let mut parts = vec![(l.body.clone(), full)];
        parts.extend(partial);
        let mut recomputes = Vec::new();
        let mut needed_any = HashSet::new();
        // A carried variable's value at the end of an iteration is its value at the start of
        // the next one: the reverse pass keeps the one it popped last instead of a second tape
        // (`h_2 = h_1;` at the end of a reversed iteration, starting from the loop's result).
        let mut next_values = Vec::new();
        for (part, (block, body)) in parts.iter().enumerate() {
            let mut needed = HashSet::new();
            body.iter()
                .for_each(|s| stmt_idents(program, s, &mut needed));
            let mut plan = record::plan(program, &block.nodes, &mut needed, false);
            if part == 0 && l.exit.is_none() {
                for (c, result) in l.carried.iter().zip(&l.body.results) {
                    if let Operand::Var(v) = result
                        && let Some(at) = plan.values.iter().position(|x| x == v)
                        && !self.records.contains_key(v)
                    {
                        plan.values.remove(at);
                        needed.insert(program.vars[c.inner].ident.to_string());
                        next_values.push((*v, c.inner, c.after));
                    }
                }
            }
            self.register(&plan);
            recomputes.push(plan.recompute);
            needed_any.extend(needed);
        }
        for &(value, _, after) in &next_values {
            let copy = if program.vars[after].ty.is_tensor() {
                quote::quote!(.clone())
            } else {
                TokenStream::new()
            };
            let (value, after) = (&program.vars[value].ident, &program.vars[after].ident);
            out.push(BackStmt::Raw(quote::quote!(let mut #value = #after #copy;)));
        }
        let mut restore = Vec::new();
        for (k, c) in l.carried.iter().enumerate() {
            let inner = &program.vars[c.inner].ident;
            // An integer counter (`idx += 1`) is counted back down instead of taped.
            if needed_any.contains(&inner.to_string())
                && l.exit.is_none()
                && let Some(undo) = record::induction(program, l, k)
            {
                let after = &program.vars[c.after].ident;
                out.push(BackStmt::Raw(quote::quote!(let mut #inner = #after;)));
                restore.push(BackStmt::Raw(undo));
                continue;
            }
            if needed_any.contains(&inner.to_string()) {
                // A loop reversed twice (in a breaking iteration and in the complete ones)
                // keeps one tape name.
                let tape = match self.tapes.get(&c.inner) {
                    Some(tape) => tape.clone(),
                    None => self.namer.fresh(&format!("{inner}_tape")),
                };
                restore.push(BackStmt::Pop {
                    name: inner.clone(),
                    tape: tape.clone(),
                    popped: Popped::Value,
                });
                self.tapes.insert(c.inner, tape);
            }
        }
        let mut bodies: Vec<Vec<BackStmt>> = parts
            .into_iter()
            .zip(recomputes)
            .map(|((block, body), recompute)| {
                let mut stmts = restore.clone();
                stmts.extend(self.pops(&block.nodes));
                stmts.extend(recompute.into_iter().map(BackStmt::Forward));
                stmts.extend(body);
                stmts
            })
            .collect();
        let mut full_body = bodies.remove(0);
        for &(value, inner, _) in &next_values {
            let (value, inner) = (&program.vars[value].ident, &program.vars[inner].ident);
            full_body.push(BackStmt::Raw(quote::quote!(#value = #inner;)));
        }
        if let (Some(exit), Some(partial_body)) = (&l.exit, bodies.pop()) {
            let broke = &exit.broke;
            let head = match &l.kind {
                LoopKind::For { index, .. } => {
                    let index = &program.vars[*index].ident;
                    quote::quote!(if let Some(#index) = #broke)
                }
                LoopKind::While { .. } => quote::quote!(if #broke),
            };
            out.push(BackStmt::Guarded {
                head,
                body: partial_body,
            });
        }
        out.push(match (&l.kind, &l.exit) {
            (LoopKind::For { index, range, rev }, None) => BackStmt::For {
                index: program.vars[*index].ident.clone(),
                range: range.clone(),
                rev: !rev,
                body: full_body,
                origin: Some(*index),
                fused,
            },
            // Only the first `trips` values of the range ran completely.
            (LoopKind::For { index, range, rev }, Some(exit)) => {
                let trips = &exit.trips;
                let ran = if *rev {
                    quote::quote!((#range).rev().take(#trips))
                } else {
                    quote::quote!((#range).take(#trips))
                };
                BackStmt::For {
                    index: program.vars[*index].ident.clone(),
                    range: ran,
                    rev: true,
                    body: full_body,
                    origin: None,
                    fused: None,
                }
            }
            // The tapes give back the iterations in reverse order; only their number matters.
            (LoopKind::While { trips, .. }, _) => BackStmt::For {
                index: Ident::new("_", proc_macro2::Span::call_site()),
                range: quote::quote!(0..#trips),
                rev: false,
                body: full_body,
                origin: None,
                fused: None,
            },
        });
        for &k in &active {
            let d = self.grad(l.carried[k].inner);
            self.contribute_to(&l.carried[k].entry.clone(), d.to_token_stream(), out);
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

    /// One iteration reversed: the gradients of the values `block` ends with are seeded from
    /// the carried gradient variables, the lines are reversed, and the carried gradient
    /// variables end as the gradients of the values the iteration started with.
    fn reverse_iteration(
        &mut self,
        l: &crate::ir::Loop,
        block: &Block,
        active: &[usize],
    ) -> Vec<BackStmt> {
        // A value that is itself carried is copied first, since its own gradient variable
        // changes during the iteration.
        let mut body = Vec::new();
        // The body's own gradients are new in every reversed iteration.
        let mut locals = HashSet::new();
        defined_in(&l.body, &mut locals);
        self.declared.retain(|v| !locals.contains(v));
        for &k in active {
            self.declared.remove(&l.carried[k].inner);
        }
        let mut copied = Vec::new();
        for &k in active {
            let d = self.grad(l.carried[k].inner);
            match &block.results[k] {
                Operand::Var(v) if l.carried.iter().any(|c| c.inner == *v) => {
                    let seed = self.namer.fresh(&format!("{d}_end"));
                    body.push(BackStmt::Raw(quote::quote!(let #seed = #d;)));
                    copied.push((block.results[k].clone(), seed));
                }
                exit => self.contribute_to(&exit.clone(), d.to_token_stream(), &mut body),
            }
        }
        for (exit, seed) in copied {
            self.contribute_to(&exit, seed.to_token_stream(), &mut body);
        }
        self.block(block, &mut body);
        for &k in active {
            if !self.declared.contains(&l.carried[k].inner) {
                body.push(BackStmt::Zero {
                    var: l.carried[k].inner,
                });
            }
            self.declared.insert(l.carried[k].inner);
        }
        body
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

/// The nodes of `nodes` whose values are read, directly or through later nodes, by code
/// that reads the identifiers in `needed`, in their original order. Everything else would
/// be an unused variable in the generated function.
fn live_nodes(
    program: &Program,
    nodes: &[Node],
    needed: &mut HashSet<String>,
    reversed: &Reversed,
) -> Vec<Node> {
    // Buffers declared among `nodes`: their writes are part of computing them. Writes into
    // buffers declared outside are not repeated (those buffers already hold their values).
    let mut local = HashSet::new();
    nodes.iter().for_each(|n| defined_in_node(n, &mut local));
    local.retain(|v| program.vars[*v].buffer);
    let mut live = Vec::new();
    for node in nodes.iter().rev() {
        let mut names: Vec<String> = node
            .targets()
            .iter()
            .map(|t| program.vars[*t].ident.to_string())
            .collect();
        let mut written = Vec::new();
        node.stores(&mut written);
        names.extend(
            written
                .into_iter()
                .filter(|b| local.contains(b))
                .map(|b| program.vars[b].ident.to_string()),
        );
        // A loop or branch also fills the tapes its reverse pass reads, and counts trips.
        let mut recorded = HashSet::new();
        recorded_names(node, reversed, &mut recorded);
        names.extend(recorded);
        if names
            .iter()
            .any(|n| needed.contains(n) || needed.contains(&shape_name(n)))
        {
            let node = without_outer_stores(node, &local);
            node_idents(program, &node, needed);
            live.push(node);
        }
    }
    live.reverse();
    live
}

/// Whether `node` has a write into `buffer` that saves the value it overwrites.
fn saves(node: &Node, buffer: VarId) -> bool {
    match node {
        Node::Store(s) => s.saved && s.buffer == buffer,
        Node::Assign(_) => false,
        Node::Branch(b) => b
            .then
            .nodes
            .iter()
            .chain(&b.otherwise.nodes)
            .any(|n| saves(n, buffer)),
        Node::Loop(l) => l.body.nodes.iter().any(|n| saves(n, buffer)),
    }
}

/// The names of what the forward code of `node` records for the reverse pass: tapes, trip
/// counts and break records.
pub fn recorded_names(node: &Node, reversed: &Reversed, out: &mut HashSet<String>) {
    let mut defined = HashSet::new();
    defined_in_node(node, &mut defined);
    for v in defined {
        for tapes in [&reversed.tapes, &reversed.records, &reversed.shapes] {
            if let Some(tape) = tapes.get(&v) {
                out.insert(tape.to_string());
            }
        }
    }
    let mut written = Vec::new();
    node.stores(&mut written);
    out.extend(
        written
            .iter()
            .filter_map(|b| reversed.restores.get(b))
            .map(ToString::to_string),
    );
    loops_in(node, &mut |l| {
        for c in record::counters(l) {
            if let Some(tape) = reversed.counts.get(&c) {
                out.insert(tape.to_string());
            }
            out.insert(c);
        }
    });
}

/// Calls `f` with every loop in `node`, itself included.
fn loops_in(node: &Node, f: &mut dyn FnMut(&crate::ir::Loop)) {
    match node {
        Node::Loop(l) => {
            f(l);
            l.body.nodes.iter().for_each(|n| loops_in(n, f));
        }
        Node::Branch(b) => b
            .then
            .nodes
            .iter()
            .chain(&b.otherwise.nodes)
            .for_each(|n| loops_in(n, f)),
        Node::Assign(_) | Node::Store(_) => {}
    }
}

/// `node` without its writes into buffers other than `local` ones.
pub fn without_outer_stores(node: &Node, local: &HashSet<VarId>) -> Node {
    let keep = |block: &Block| Block {
        nodes: block
            .nodes
            .iter()
            .filter(|n| !matches!(n, Node::Store(s) if !local.contains(&s.buffer)))
            .map(|n| without_outer_stores(n, local))
            .collect(),
        results: block.results.clone(),
    };
    match node {
        Node::Branch(b) => {
            let mut b = b.clone();
            b.then = keep(&b.then);
            b.otherwise = keep(&b.otherwise);
            Node::Branch(b)
        }
        Node::Loop(l) => {
            let mut l = l.clone();
            l.body = keep(&l.body);
            Node::Loop(l)
        }
        other => other.clone(),
    }
}

fn collect_mutable(stmts: &[BackStmt], out: &mut HashSet<VarId>) {
    for stmt in stmts {
        match stmt {
            BackStmt::Accumulate { var, .. }
            | BackStmt::SetElement { var, .. }
            | BackStmt::Zero { var } => {
                out.insert(*var);
            }
            BackStmt::If {
                then, otherwise, ..
            } => {
                collect_mutable(then, out);
                collect_mutable(otherwise, out);
            }
            BackStmt::For {
                body,
                fused: Some(fused),
                ..
            } => {
                collect_mutable(body, out);
                collect_mutable(fused, out);
            }
            BackStmt::For { body, .. } | BackStmt::Guarded { body, .. } => {
                collect_mutable(body, out)
            }
            _ => {}
        }
    }
}

pub fn stmt_idents(program: &Program, stmt: &BackStmt, out: &mut HashSet<String>) {
    match stmt {
        BackStmt::Setup(tokens) => idents_in(tokens.clone(), out),
        BackStmt::Init {
            var, expr, sum_to, ..
        } => {
            idents_in(expr.clone(), out);
            // Summed back to the shape of `var`.
            if *sum_to {
                out.insert(shape_name(&program.vars[*var].ident.to_string()));
            }
        }
        BackStmt::Accumulate { element, expr, .. } => {
            idents_in(expr.clone(), out);
            idents_in(element.to_token_stream(), out);
        }
        BackStmt::If {
            cond,
            then,
            otherwise,
            ..
        } => {
            idents_in(cond.clone(), out);
            then.iter()
                .chain(otherwise)
                .for_each(|s| stmt_idents(program, s, out));
        }
        BackStmt::SetElement { index, expr, .. } => {
            idents_in(expr.clone(), out);
            idents_in(index.clone(), out);
        }
        BackStmt::For { range, body, .. } => {
            idents_in(range.clone(), out);
            body.iter().for_each(|s| stmt_idents(program, s, out));
        }
        BackStmt::Raw(tokens) => idents_in(tokens.clone(), out),
        BackStmt::Pop { name, tape, .. } => {
            out.insert(name.to_string());
            out.insert(tape.to_string());
        }
        BackStmt::Guarded { head, body } => {
            idents_in(head.clone(), out);
            body.iter().for_each(|s| stmt_idents(program, s, out));
        }
        // A zero gradient of a `Vec` or an array takes its variable's length or shape.
        BackStmt::Zero { var } => {
            if matches!(
                program.vars[*var].ty,
                crate::ir::Ty::Array { len: None, .. } | crate::ir::Ty::Tensor { .. }
            ) {
                out.insert(program.vars[*var].ident.to_string());
            }
        }
        // A recomputed line reads values the enclosing code must have recomputed first.
        BackStmt::Forward(node) => node_idents(program, node, out),
    }
}

/// Identifiers a forward node reads, and the buffers it writes into (which must exist).
pub fn node_idents(program: &Program, node: &Node, out: &mut HashSet<String>) {
    let mut streams = Vec::new();
    node_reads(program, node, &mut streams);
    streams
        .into_iter()
        .for_each(|tokens| idents_in(tokens, out));
    let mut written = Vec::new();
    node.stores(&mut written);
    out.extend(written.iter().map(|b| program.vars[*b].ident.to_string()));
}

/// Whether every differentiated variable a loop carries only accumulates: each iteration adds
/// to it (`s += e`, `s -= e`, possibly in a branch arm, possibly in a nested loop) and nothing
/// else reads it, and no iteration reads a buffer element another one writes. Then each
/// reversed iteration passes the carried gradients through unchanged, and reads only values of
/// its own iteration, so the iterations can be reversed in any order: right after their
/// forward lines, in the forward loop.
pub fn accumulates(program: &Program, l: &crate::ir::Loop) -> bool {
    let active: Vec<_> = l
        .carried
        .iter()
        .enumerate()
        .filter(|(_, c)| program.vars[c.inner].active)
        .collect();
    // A taped buffer's writes are undone by the reverse pass: never inside the forward loop.
    let mut written = Vec::new();
    l.body.nodes.iter().for_each(|n| n.stores(&mut written));
    if active.is_empty()
        || recurrence_through_buffer(program, l)
        || written.iter().any(|b| program.vars[*b].taped)
    {
        return false;
    }
    active.iter().all(|(k, c)| {
        let mut versions = HashSet::from([c.inner]);
        scan_accumulation(program, &l.body, &mut versions)
            && matches!(&l.body.results[*k], Operand::Var(v) if versions.contains(v))
            && l.body
                .results
                .iter()
                .enumerate()
                .all(|(j, r)| j == *k || !reads_version(program, r, &versions))
    })
}

/// Whether an iteration of `l` may read an element of a differentiated buffer that another
/// iteration wrote (`h[i] = f(h[i - 1])`, a buffer declared before the loop): the gradient
/// then flows from one iteration to another, and the iterations' reverses must run in reverse
/// order.
fn recurrence_through_buffer(program: &Program, l: &crate::ir::Loop) -> bool {
    let mut written = Vec::new();
    l.body.nodes.iter().for_each(|n| n.stores(&mut written));
    let mut own = HashSet::new();
    defined_in(&l.body, &mut own);
    let mut read = HashSet::new();
    element_reads(&l.body, &mut read);
    written
        .iter()
        .any(|b| !own.contains(b) && program.vars[*b].active && read.contains(b))
}

/// The buffers and arrays whose elements `block` reads as operands, nested blocks included.
fn element_reads(block: &Block, out: &mut HashSet<VarId>) {
    let operand = |o: &Operand, out: &mut HashSet<VarId>| {
        if let Operand::Element { var, .. } = o {
            out.insert(*var);
        }
    };
    block.results.iter().for_each(|r| operand(r, out));
    for node in &block.nodes {
        match node {
            Node::Assign(a) => a.args.iter().for_each(|o| operand(o, out)),
            Node::Store(s) => operand(&s.value, out),
            Node::Branch(b) => {
                element_reads(&b.then, out);
                element_reads(&b.otherwise, out);
            }
            Node::Loop(inner) => {
                inner.carried.iter().for_each(|c| operand(&c.entry, out));
                element_reads(&inner.body, out);
            }
        }
    }
}

fn reads_version(program: &Program, operand: &Operand, versions: &HashSet<VarId>) -> bool {
    match operand {
        Operand::Var(v) => versions.contains(v),
        Operand::Element { .. } => false,
        Operand::Const { tokens, .. } => {
            let mut names = HashSet::new();
            idents_in(tokens.clone(), &mut names);
            versions
                .iter()
                .any(|v| names.contains(&program.vars[*v].ident.to_string()))
        }
    }
}

/// Follows the versions of an accumulator through `block`, adding the new ones to `versions`;
/// false when a version is read other than by the next accumulation step.
fn scan_accumulation(program: &Program, block: &Block, versions: &mut HashSet<VarId>) -> bool {
    let tokens_read = |tokens: &TokenStream, versions: &HashSet<VarId>| {
        let mut names = HashSet::new();
        idents_in(tokens.clone(), &mut names);
        versions
            .iter()
            .any(|v| names.contains(&program.vars[*v].ident.to_string()))
    };
    for node in &block.nodes {
        match node {
            Node::Assign(a) => {
                let step = matches!(&a.prim, Prim::Table { rule, .. } if ["add", "sub", "copy"].contains(&rule.name));
                match a.args.as_slice() {
                    [Operand::Var(v), rest @ ..]
                        if step
                            && versions.contains(v)
                            && !rest.iter().any(|r| reads_version(program, r, versions)) =>
                    {
                        versions.insert(a.target);
                    }
                    args if args.iter().any(|r| reads_version(program, r, versions)) => {
                        return false;
                    }
                    _ => {}
                }
            }
            Node::Store(store) => {
                if reads_version(program, &store.value, versions)
                    || tokens_read(&store.index, versions)
                {
                    return false;
                }
            }
            Node::Branch(b) => {
                if tokens_read(&b.cond, versions) {
                    return false;
                }
                let mut arms = Vec::new();
                for arm in [&b.then, &b.otherwise] {
                    let mut arm_versions = versions.clone();
                    if !scan_accumulation(program, arm, &mut arm_versions) {
                        return false;
                    }
                    arms.push(arm_versions);
                }
                for (k, &target) in b.targets.iter().enumerate() {
                    let from: Vec<bool> = [&b.then, &b.otherwise]
                        .iter()
                        .zip(&arms)
                        .map(|(arm, vs)| reads_version(program, &arm.results[k], vs))
                        .collect();
                    let direct = [&b.then, &b.otherwise].iter().zip(&arms).all(
                        |(arm, vs)| matches!(&arm.results[k], Operand::Var(v) if vs.contains(v)),
                    );
                    if direct {
                        versions.insert(target);
                    } else if from.iter().any(|&f| f) {
                        return false;
                    }
                }
            }
            Node::Loop(inner) => {
                match &inner.kind {
                    LoopKind::For { range, .. } if tokens_read(range, versions) => return false,
                    LoopKind::While { cond, .. } if tokens_read(cond, versions) => return false,
                    _ => {}
                }
                if inner
                    .exit
                    .as_ref()
                    .is_some_and(|e| tokens_read(&e.cond, versions))
                {
                    return false;
                }
                let mut inner_versions = versions.clone();
                for c in &inner.carried {
                    if reads_version(program, &c.entry, versions) {
                        if !matches!(c.entry, Operand::Var(_)) {
                            return false;
                        }
                        inner_versions.insert(c.inner);
                    }
                }
                if !scan_accumulation(program, &inner.body, &mut inner_versions) {
                    return false;
                }
                for (c, result) in inner.carried.iter().zip(&inner.body.results) {
                    let carries = reads_version(program, &c.entry, versions);
                    let accumulated =
                        matches!(result, Operand::Var(v) if inner_versions.contains(v));
                    if carries && accumulated {
                        versions.insert(c.after);
                    } else if carries || reads_version(program, result, &inner_versions) {
                        return false;
                    }
                }
            }
        }
    }
    true
}
