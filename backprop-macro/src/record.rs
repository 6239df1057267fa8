//! What the reverse of a loop iteration or a branch arm reads of that block's forward values,
//! and how it gets each one back: from a tape the forward pass pushed it on, or by computing it
//! again.
//!
//! The forward pass of a loop leaves only its last iteration's values in scope (and a branch
//! arm none of its own), so a reversed iteration must get back the values its local gradients
//! read. The cost model is the one a hand-written backward follows: it keeps its activations
//! (`tanh`, `exp`, a callee's value, an array) and recomputes what costs less than reading it
//! back (a sum, a product, a copy). So a value is recomputed when its line is cheap arithmetic
//! on values the reverse block already has, and recorded otherwise: pushed on a tape at the end
//! of the forward block that made it, popped at the start of its reverse. Nested loops are
//! never run again; what the reverse of the block reads of them (their results, trip counts and
//! break records) is recorded too. Local buffers whose reverse reads them are recorded whole:
//! the forward block hands its buffer to the tape, the reverse gets the same buffer back.
//!
//! Outside loops, a branch arm runs once, so recomputing its lines costs what storing them
//! would: every line of such an arm that can be computed again is (its reverse has no tape).

use std::collections::HashSet;

use proc_macro2::TokenStream;

use crate::ir::{LoopKind, Node, Operand, Program, StoreOp, Ty, VarId, defined_in_node};
use crate::reverse::{node_idents, shape_name, without_outer_stores};
use crate::rules::Prim;

/// How the reverse of one block gets back the forward values it reads.
pub struct Plan {
    /// The block's lines computed again at the start of its reverse, in forward order.
    pub recompute: Vec<Node>,
    /// The block's values pushed on a tape by the forward pass.
    pub values: Vec<VarId>,
    /// The trip counts and break records of loops directly in the block, pushed on a tape.
    pub counts: Vec<String>,
    /// The block's arrays whose reverse needs only their shape (a gradient summed back to it):
    /// their `raw_dim()` pushed on a tape.
    pub shapes: Vec<VarId>,
}

/// The plan for the lines `nodes` of one block whose reverse reads the names in `needed`
/// (which grows by what the recomputed lines read). `once`: the block runs at most once per
/// call (an arm outside loops).
pub fn plan(program: &Program, nodes: &[Node], needed: &mut HashSet<String>, once: bool) -> Plan {
    let mut plan = Plan {
        recompute: Vec::new(),
        values: Vec::new(),
        counts: Vec::new(),
        shapes: Vec::new(),
    };
    let wanted = |needed: &HashSet<String>, n: String| {
        needed.contains(&n) || needed.contains(&shape_name(&n))
    };
    let name = |v: VarId| program.vars[v].ident.to_string();
    for node in nodes.iter().rev() {
        match node {
            // A call in split mode never runs again: its value and the closure of its reverse
            // are kept.
            Node::Assign(a) if let Some(reverse) = a.prim.reverse() => {
                for v in [reverse, a.target] {
                    if needed.contains(&name(v)) {
                        plan.values.push(v);
                    }
                }
            }
            Node::Assign(a) => {
                if !needed.contains(&name(a.target)) {
                    if needed.contains(&shape_name(&name(a.target))) {
                        plan.shapes.push(a.target);
                    }
                    continue;
                }
                if !program.vars[a.target].buffer
                    && (once || cheap(program, a))
                    && !touches_taped(program, node)
                {
                    node_idents(program, node, needed);
                    plan.recompute.push(node.clone());
                } else if let Some(read) = stored_once(program, nodes, a) {
                    node_idents(program, &read, needed);
                    plan.recompute.push(read);
                } else {
                    plan.values.push(a.target);
                }
            }
            Node::Branch(b) => {
                if !b.targets.iter().any(|t| wanted(needed, name(*t))) {
                    continue;
                }
                if once && !has_loop(node) && !touches_taped(program, node) {
                    let mut local = HashSet::new();
                    defined_in_node(node, &mut local);
                    local.retain(|v| program.vars[*v].buffer);
                    let node = without_outer_stores(node, &local);
                    node_idents(program, &node, needed);
                    plan.recompute.push(node);
                } else {
                    plan.values
                        .extend(b.targets.iter().filter(|t| wanted(needed, name(**t))));
                }
            }
            Node::Loop(l) => {
                plan.values.extend(
                    l.carried
                        .iter()
                        .map(|c| c.after)
                        .filter(|a| wanted(needed, name(*a))),
                );
                plan.counts
                    .extend(counters(l).into_iter().filter(|c| needed.contains(c)));
            }
            Node::Store(_) => {}
        }
    }
    plan.recompute.reverse();
    plan
}

/// `v = h[i]` for a value `v` that its block writes into a buffer `h` declared outside it,
/// `h[i] = v`, as the only write that reaches that element: the buffer still holds it when the
/// reverse pass runs (the recurrence `hs[t] = (..).tanh()` reads `hs[t]` back, as a
/// hand-written backward does).
fn stored_once(program: &Program, nodes: &[Node], a: &crate::ir::Assign) -> Option<Node> {
    let mut local = HashSet::new();
    nodes.iter().for_each(|n| defined_in_node(n, &mut local));
    nodes.iter().find_map(|node| match node {
        Node::Store(s)
            if s.op == StoreOp::Set
                && !s.reset
                && matches!(s.value, Operand::Var(v) if v == a.target)
                && !program.vars[s.buffer].taped
                && !local.contains(&s.buffer) =>
        {
            let mut read = a.clone();
            read.prim = Prim::Table {
                rule: crate::rules::operator("copy"),
                name: proc_macro2::Ident::new("copy", proc_macro2::Span::call_site()),
            };
            read.args = vec![Operand::Element {
                var: s.buffer,
                index: s.index.clone(),
            }];
            read.annotation = None;
            Some(Node::Assign(read))
        }
        _ => None,
    })
}

/// `i -= step;` for an integer variable carried by `l` (its `k`-th) that every iteration steps
/// by the same amount (`i += step`, `i -= step`, `step` not changing in the loop): the reverse
/// pass counts it back down from its value after the loop, instead of keeping one value per
/// iteration on a tape.
pub fn induction(program: &Program, l: &crate::ir::Loop, k: usize) -> Option<TokenStream> {
    let c = &l.carried[k];
    if !matches!(program.vars[c.inner].ty, Ty::Other) {
        return None;
    }
    let Operand::Var(exit) = l.body.results.get(k)? else {
        return None;
    };
    let step = l.body.nodes.iter().find_map(|node| match node {
        Node::Assign(a) if a.target == *exit => Some(a),
        _ => None,
    })?;
    let Prim::Table { rule, .. } = &step.prim else {
        return None;
    };
    let (Operand::Var(from), Operand::Const { tokens, .. }) =
        (step.args.first()?, step.args.get(1)?)
    else {
        return None;
    };
    let mut local = HashSet::new();
    crate::ir::defined_in(&l.body, &mut local);
    let mut read = HashSet::new();
    crate::ir::idents_in(tokens.clone(), &mut read);
    if *from != c.inner
        || local
            .iter()
            .any(|v| read.contains(&program.vars[*v].ident.to_string()))
    {
        return None;
    }
    let inner = &program.vars[c.inner].ident;
    match rule.name {
        "add" => Some(quote::quote!(#inner -= #tokens;)),
        "sub" => Some(quote::quote!(#inner += #tokens;)),
        _ => None,
    }
}

/// The names a loop's forward pass keeps for its reverse: the number of complete iterations
/// of a `while` loop, and where a loop broke.
pub fn counters(l: &crate::ir::Loop) -> Vec<String> {
    let mut names = Vec::new();
    if let LoopKind::While { trips, .. } = &l.kind {
        names.push(trips.to_string());
    }
    if let Some(exit) = &l.exit {
        names.push(exit.broke.to_string());
        names.push(exit.trips.to_string());
    }
    names
}

/// Whether a line costs less to compute again than to push and pop: scalar arithmetic, a copy,
/// a cast, a comparison-like method (`max`, `abs`).
fn cheap(program: &Program, a: &crate::ir::Assign) -> bool {
    if program.vars[a.target].ty.is_tensor() {
        return view_of_constant(a);
    }
    match &a.prim {
        Prim::Cast(_) => true,
        Prim::Table { rule, .. } => matches!(
            rule.name,
            "add"
                | "sub"
                | "mul"
                | "neg"
                | "copy"
                | "abs"
                | "max"
                | "min"
                | "clamp"
                | "mul_add"
                | "to_degrees"
                | "to_radians"
                | "floor"
                | "ceil"
                | "round"
                | "round_ties_even"
                | "trunc"
                | "signum"
                | "fract"
        ),
        // A part of a tuple result has no line to run again (the call's pattern binds it).
        Prim::Tensor(_) | Prim::Call { .. } | Prim::Field(_) | Prim::Tuple(_) => false,
    }
}

/// Whether `node` reads or writes a taped buffer: computed again at the start of its block's
/// reverse, it would read the buffer as the block left it, not as the line did.
fn touches_taped(program: &Program, node: &Node) -> bool {
    let mut names = HashSet::new();
    node_idents(program, node, &mut names);
    program
        .vars
        .iter()
        .any(|v| v.taped && names.contains(&v.ident.to_string()))
}

/// A view of a constant array (`xs.row(t)`, `xs.column(t).insert_axis(Axis(1))`): no copy of
/// the data.
fn view_of_constant(a: &crate::ir::Assign) -> bool {
    fn view(expr: &syn::Expr) -> bool {
        match expr {
            syn::Expr::Path(_) => true,
            syn::Expr::MethodCall(call) => {
                [
                    "row",
                    "column",
                    "view",
                    "t",
                    "index_axis",
                    "reversed_axes",
                    "slice",
                    "insert_axis",
                ]
                .contains(&call.method.to_string().as_str())
                    && view(&call.receiver)
            }
            _ => false,
        }
    }
    let [Operand::Const { tokens, .. }] = a.args.as_slice() else {
        return false;
    };
    matches!(&a.prim, Prim::Table { rule, .. } if rule.name == "copy")
        && matches!(
            syn::parse2::<syn::Expr>(tokens.clone()),
            Ok(expr @ syn::Expr::MethodCall(_)) if view(&expr)
        )
}

fn has_loop(node: &Node) -> bool {
    match node {
        Node::Loop(_) => true,
        Node::Branch(b) => b.then.nodes.iter().chain(&b.otherwise.nodes).any(has_loop),
        Node::Assign(_) | Node::Store(_) => false,
    }
}
