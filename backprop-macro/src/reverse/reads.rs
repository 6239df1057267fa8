//! What code reads: the names a backward statement or a forward node reads, the token
//! streams of a block, how often each name is read; the forward lines that stay live, what
//! they record for the reverse pass, the writes they keep; and the gradients that are added
//! to after their declaration.

use std::collections::{HashMap, HashSet};

use proc_macro2::{TokenStream, TokenTree};
use quote::ToTokens;

use crate::ir::{Block, LoopKind, Node, Operand, Program, VarId, defined_in_node, idents_in};
use crate::record;
use crate::rules;

use super::{BackStmt, Reversed, shape_name};

/// How many times each name is read in the forward code.
pub(super) fn count_uses(
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
fn node_reads(program: &Program, node: &Node, out: &mut Vec<TokenStream>) {
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
pub(super) fn elementwise_lines(nodes: &[Node], out: &mut HashSet<VarId>) {
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

/// The nodes of `nodes` whose values are read, directly or through later nodes, by code
/// that reads the identifiers in `needed`, in their original order. Everything else would
/// be an unused variable in the generated function.
pub(super) fn live_nodes(
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
pub(super) fn saves(node: &Node, buffer: VarId) -> bool {
    match node {
        Node::Store(s) => s.saved && s.buffer == buffer,
        Node::Assign(_) => false,
        Node::Branch(b) => b
            .then
            .nodes
            .iter()
            .chain(&b.otherwise.nodes)
            .any(|n| saves(n, buffer)),
        Node::Loop(l) => loop_saves(l, buffer),
    }
}

/// Whether loop `l` saves values of `buffer` that it overwrites, whole or element by element.
pub(super) fn loop_saves(l: &crate::ir::Loop, buffer: VarId) -> bool {
    l.saved_whole.contains(&buffer) || l.body.nodes.iter().any(|n| saves(n, buffer))
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

/// The gradients added to or overwritten after their first contribution (declared `let mut`).
pub fn collect_mutable(stmts: &[BackStmt], out: &mut HashSet<VarId>) {
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
