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

use crate::ir::{Block, FloatTy, Node, Operand, Program, VarId};
use crate::naming::Namer;
use crate::rules::{self, Local, Prim};

/// One statement of the backward pass.
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
    },
    /// A later contribution: `d_v += expr;` (or `d_v[i] += expr;`).
    Accumulate {
        var: VarId,
        element: Option<TokenStream>,
        expr: TokenStream,
        sum_to: bool,
    },
    /// `d_w[i] = expr;`: the first contribution to an element at a literal index (the element
    /// is still zero, and `0.0 + v` would cost an addition the optimiser may not remove).
    SetElement {
        var: VarId,
        index: TokenStream,
        expr: TokenStream,
    },
    /// `let mut d_v = 0.0;`: a gradient that only a branch arm or single elements add to.
    Zero { var: VarId },
    /// The reverse of a branch: the same condition, each arm reversed.
    If {
        cond: TokenStream,
        then: Vec<BackStmt>,
        otherwise: Vec<BackStmt>,
    },
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
}

pub fn reverse(program: &Program, namer: &mut Namer) -> Reversed {
    let seed = namer.fresh("d_out");
    let mut sweep = Sweep {
        program,
        namer,
        grads: HashMap::new(),
        declared: HashSet::new(),
        frames: Vec::new(),
        touched: HashSet::new(),
        sum_to: false,
    };
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
    let mut mutable = HashSet::new();
    collect_mutable(&stmts, &mut mutable);
    let mut needed = HashSet::new();
    token_idents(rules::render(program, program.body.value()), &mut needed);
    stmts.iter().for_each(|s| stmt_idents(s, &mut needed));
    let forward = live_nodes(program, &program.body.nodes, needed);
    Reversed {
        forward,
        stmts,
        seed,
        grads: sweep.grads,
        mutable,
    }
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
    /// Whether the contribution being added must be summed to its operand's shape.
    sum_to: bool,
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
        match operand {
            Operand::Var(v) => self.contribute(*v, None, expr, out),
            Operand::Element { var, index } => {
                self.contribute(*var, Some(index.clone()), expr, out)
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
                    sum_to: self.sum_to,
                });
                return;
            }
        }
        if let Some(index) = &element
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
            sum_to: self.sum_to,
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
                    let target = &self.program.vars[assign.target];
                    let float = target.ty.float().unwrap_or(FloatTy::F64);
                    let d = self.grad(assign.target);
                    let local = Local::new(self.program, &assign.args, target, d, float);
                    let scratch = match assign.prim {
                        Prim::Call { .. } => {
                            self.namer.fresh(&format!("d_{}_inputs", target.ident))
                        }
                        _ => target.ident.clone(),
                    };
                    let backward = rules::backward(
                        &assign.prim,
                        &local,
                        self.program,
                        &assign.args,
                        &target.ty,
                        &wanted,
                        &scratch,
                    );
                    out.extend(backward.setup.into_iter().map(BackStmt::Setup));
                    for c in backward.contributions {
                        self.sum_to = c.sum_to;
                        self.contribute_to(&assign.args[c.operand], c.expr, out);
                        self.sum_to = false;
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
                    if seeds.is_empty() {
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
                    let frame = self.frames.pop().unwrap_or(Frame {
                        locals: HashSet::new(),
                        hoisted: Vec::new(),
                    });
                    for var in frame.hoisted {
                        match self.frames.last_mut() {
                            Some(outer) if !outer.locals.contains(&var) => outer.hoisted.push(var),
                            _ => out.push(BackStmt::Zero { var }),
                        }
                    }
                    if !then.is_empty() || !otherwise.is_empty() {
                        out.push(BackStmt::If {
                            cond: branch.cond.clone(),
                            then,
                            otherwise,
                        });
                    }
                }
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
            stmt_idents(stmt, &mut needed);
        }
        let mut recomputed: Vec<BackStmt> = live_nodes(self.program, &arm.nodes, needed)
            .into_iter()
            .map(BackStmt::Forward)
            .collect();
        recomputed.extend(reversed);
        recomputed
    }
}

/// The nodes of `nodes` whose values are read, directly or through later nodes, by code
/// that reads the identifiers in `needed`, in their original order. Everything else would
/// be an unused variable in the generated function.
fn live_nodes(program: &Program, nodes: &[Node], mut needed: HashSet<String>) -> Vec<Node> {
    let mut live = Vec::new();
    for node in nodes.iter().rev() {
        let targets = match node {
            Node::Assign(a) => vec![a.target],
            Node::Branch(b) => b.targets.clone(),
        };
        if targets
            .iter()
            .any(|t| needed.contains(&program.vars[*t].ident.to_string()))
        {
            node_idents(program, node, &mut needed);
            live.push(node.clone());
        }
    }
    live.reverse();
    live
}

/// Every variable assigned in `block`, nested branches included.
fn defined_in(block: &Block, out: &mut HashSet<VarId>) {
    for node in &block.nodes {
        match node {
            Node::Assign(a) => {
                out.insert(a.target);
            }
            Node::Branch(b) => {
                out.extend(b.targets.iter().copied());
                defined_in(&b.then, out);
                defined_in(&b.otherwise, out);
            }
        }
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
            _ => {}
        }
    }
}

fn token_idents(tokens: TokenStream, out: &mut HashSet<String>) {
    for tree in tokens {
        match tree {
            TokenTree::Ident(i) => {
                out.insert(i.to_string());
            }
            TokenTree::Group(g) => token_idents(g.stream(), out),
            _ => {}
        }
    }
}

fn stmt_idents(stmt: &BackStmt, out: &mut HashSet<String>) {
    match stmt {
        BackStmt::Setup(tokens) => token_idents(tokens.clone(), out),
        BackStmt::Init { expr, .. } => token_idents(expr.clone(), out),
        BackStmt::Accumulate { element, expr, .. } => {
            token_idents(expr.clone(), out);
            token_idents(element.to_token_stream(), out);
        }
        BackStmt::If {
            cond,
            then,
            otherwise,
        } => {
            token_idents(cond.clone(), out);
            then.iter()
                .chain(otherwise)
                .for_each(|s| stmt_idents(s, out));
        }
        BackStmt::SetElement { index, expr, .. } => {
            token_idents(expr.clone(), out);
            token_idents(index.clone(), out);
        }
        BackStmt::Zero { .. } => {}
        BackStmt::Forward(_) => {}
    }
}

/// Identifiers a forward node reads.
fn node_idents(program: &Program, node: &Node, out: &mut HashSet<String>) {
    match node {
        Node::Assign(a) => {
            for arg in &a.args {
                token_idents(rules::render(program, arg), out);
            }
        }
        Node::Branch(b) => {
            token_idents(b.cond.clone(), out);
            for arm in [&b.then, &b.otherwise] {
                for result in &arm.results {
                    token_idents(rules::render(program, result), out);
                }
                for node in &arm.nodes {
                    node_idents(program, node, out);
                }
            }
        }
    }
}
