//! Which writes into a taped buffer keep the value they overwrite: the to-be-recorded analysis.
//!
//! A write's old value is needed when a read of the buffer may come after the element's
//! previous write and before this one, in the reverse pass's order: a read earlier in program
//! order, or in the same loop (a later iteration's write overwrites what an earlier one read).
//! A loop that sets every element of the buffer in between (`for i in 0..n { h[i] = .. }`)
//! means the read saw an older value than the one this write overwrites.

use std::collections::{HashMap, HashSet};

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::Expr;

use crate::ir::{Block, Loop, LoopKind, Node, Program, VarId, idents_in};
use crate::rules;

/// What happens to a taped buffer at one point of the forward code, in program order, with
/// the loops around it (outermost first).
pub(super) struct Event {
    buffer: VarId,
    kind: EventKind,
    loops: Vec<usize>,
}

enum EventKind {
    Declared,
    Read,
    /// The `n`-th write of the program, in program order.
    Written(usize),
    /// The end of a `for` loop that sets every element (`for i in 0..n { h[i] = .. }` of an
    /// `n`-element buffer): what was read before it is not what a later write overwrites.
    Filled,
}

/// The declarations, reads and writes of taped buffers in `block`, in program order. A read is
/// any mention outside a write's value (which the write's reverse does not read).
pub(super) fn walk_events(
    program: &Program,
    block: &Block,
    stack: &mut Vec<usize>,
    loops: &mut usize,
    in_arm: bool,
    out: &mut Vec<Event>,
) {
    let taped: Vec<(VarId, String)> = program
        .vars
        .iter()
        .enumerate()
        .filter(|(_, v)| v.taped)
        .map(|(k, v)| (k, v.ident.to_string()))
        .collect();
    let reads = |tokens: TokenStream, stack: &Vec<usize>, out: &mut Vec<Event>| {
        let mut names = HashSet::new();
        idents_in(tokens, &mut names);
        for (buffer, name) in &taped {
            if names.contains(name) {
                out.push(Event {
                    buffer: *buffer,
                    kind: EventKind::Read,
                    loops: stack.clone(),
                });
            }
        }
    };
    for node in &block.nodes {
        match node {
            Node::Assign(a) => {
                a.args
                    .iter()
                    .for_each(|arg| reads(rules::render(program, arg), stack, out));
                if program.vars[a.target].taped {
                    out.push(Event {
                        buffer: a.target,
                        kind: EventKind::Declared,
                        loops: stack.clone(),
                    });
                }
            }
            Node::Store(s) => {
                // Every write counts, so that the numbering matches `mark_saved`'s.
                let n = out
                    .iter()
                    .filter(|e| matches!(e.kind, EventKind::Written(_)))
                    .count();
                out.push(Event {
                    buffer: s.buffer,
                    kind: EventKind::Written(n),
                    loops: stack.clone(),
                });
            }
            Node::Branch(b) => {
                reads(b.cond.clone(), stack, out);
                for arm in [&b.then, &b.otherwise] {
                    walk_events(program, arm, stack, loops, true, out);
                    arm.results
                        .iter()
                        .for_each(|r| reads(rules::render(program, r), stack, out));
                }
            }
            Node::Loop(l) => {
                match &l.kind {
                    LoopKind::For { range, .. } => reads(range.clone(), stack, out),
                    LoopKind::While { cond, .. } => reads(cond.clone(), stack, out),
                }
                l.carried
                    .iter()
                    .for_each(|c| reads(rules::render(program, &c.entry), stack, out));
                *loops += 1;
                stack.push(*loops);
                walk_events(program, &l.body, stack, loops, in_arm, out);
                l.body
                    .results
                    .iter()
                    .for_each(|r| reads(rules::render(program, r), stack, out));
                if let Some(exit) = &l.exit {
                    reads(exit.cond.clone(), stack, out);
                }
                stack.pop();
                if !in_arm && let Some(buffer) = fills(program, l) {
                    out.push(Event {
                        buffer,
                        kind: EventKind::Filled,
                        loops: stack.clone(),
                    });
                }
            }
        }
    }
}

/// The numbers of the writes into taped buffers whose overwritten value a read may need: a
/// read of the buffer comes before the write, or in the same loop (a later iteration's write
/// overwrites what an earlier one read), counting only loops inside the buffer's declaration
/// (an iteration of a loop around it has a buffer of its own).
pub(super) fn saved_writes(events: &[Event]) -> HashSet<usize> {
    let mut saved = HashSet::new();
    let mut depth: HashMap<VarId, usize> = HashMap::new();
    for (k, event) in events.iter().enumerate() {
        match event.kind {
            EventKind::Declared => {
                depth.insert(event.buffer, event.loops.len());
            }
            EventKind::Written(n) => {
                let Some(&d) = depth.get(&event.buffer) else {
                    continue;
                };
                let outer = event.loops.get(d);
                // A fill between the read and the write, in the loops around both.
                let filled_between = |j: usize, read: &Event| {
                    let common = read
                        .loops
                        .iter()
                        .zip(&event.loops)
                        .take_while(|(a, b)| a == b)
                        .count();
                    events.iter().enumerate().any(|(f, e)| {
                        e.buffer == event.buffer
                            && matches!(e.kind, EventKind::Filled)
                            && e.loops.len() >= common
                            && e.loops[..common] == event.loops[..common]
                            && if j < k {
                                j < f && f < k
                            } else {
                                f > j || f < k
                            }
                    })
                };
                let needed = events.iter().enumerate().any(|(j, e)| {
                    e.buffer == event.buffer
                        && matches!(e.kind, EventKind::Read)
                        && (j < k || (outer.is_some() && e.loops.get(d) == outer))
                        && !filled_between(j, e)
                });
                if needed {
                    saved.insert(n);
                }
            }
            EventKind::Read | EventKind::Filled => {}
        }
    }
    saved
}

/// The buffer a `for` loop sets every element of: `for i in 0..n { .. h[i] = ..; .. }` with
/// the write directly in the body, `n` the buffer's length (`h.len()`, or the length it was
/// declared with), no `break`.
fn fills(program: &Program, l: &Loop) -> Option<VarId> {
    let LoopKind::For { index, range, .. } = &l.kind else {
        return None;
    };
    if l.exit.is_some() {
        return None;
    }
    let index = program.vars[*index].ident.to_string();
    let syn::Expr::Range(range) = syn::parse2::<syn::Expr>(range.clone()).ok()? else {
        return None;
    };
    let starts_at_zero = matches!(range.start.as_deref(), Some(syn::Expr::Lit(syn::ExprLit {
        lit: syn::Lit::Int(n),
        ..
    })) if n.base10_digits() == "0");
    if !starts_at_zero || !matches!(range.limits, syn::RangeLimits::HalfOpen(_)) {
        return None;
    }
    let end = range.end.as_ref()?.to_token_stream().to_string();
    l.body.nodes.iter().find_map(|node| match node {
        Node::Store(s)
            if s.op == crate::ir::StoreOp::Set
                && s.index.to_string() == index
                && (end == format!("{} . len ()", program.vars[s.buffer].ident)
                    || declared_len(program, s.buffer).as_deref() == Some(end.as_str())) =>
        {
            Some(s.buffer)
        }
        _ => None,
    })
}

/// The length a buffer was declared with (`n` of `vec![0.0; n]` or `[0.0; n]`), as tokens.
fn declared_len(program: &Program, buffer: VarId) -> Option<String> {
    match &program.vars[buffer].ty {
        crate::ir::Ty::Array { len: Some(len), .. } => Some(len.to_string()),
        _ => {
            let mut found = None;
            find_declaration(&program.body, buffer, &mut found);
            found
        }
    }
}

fn find_declaration(block: &Block, buffer: VarId, found: &mut Option<String>) {
    for node in &block.nodes {
        match node {
            Node::Assign(a) if a.target == buffer => {
                // `::std::vec![value; len]`, as lowering wrote it.
                if let [crate::ir::Operand::Const { tokens, .. }] = a.args.as_slice()
                    && let Ok(Expr::Macro(mac)) = syn::parse2::<Expr>(tokens.clone())
                    && let Some((_, len)) = crate::lower::vec_repeat(&mac.mac)
                {
                    *found = Some(len.to_token_stream().to_string());
                }
            }
            Node::Assign(_) | Node::Store(_) => {}
            Node::Branch(b) => {
                find_declaration(&b.then, buffer, found);
                find_declaration(&b.otherwise, buffer, found);
            }
            Node::Loop(l) => find_declaration(&l.body, buffer, found),
        }
    }
}

/// Sets `saved` on the writes `saved_writes` chose, numbered in program order.
pub(super) fn mark_saved(block: &mut Block, saved: &HashSet<usize>, count: &mut usize) {
    for node in &mut block.nodes {
        match node {
            Node::Store(s) => {
                s.saved = saved.contains(count);
                *count += 1;
            }
            Node::Assign(_) => {}
            Node::Branch(b) => {
                mark_saved(&mut b.then, saved, count);
                mark_saved(&mut b.otherwise, saved, count);
            }
            Node::Loop(l) => mark_saved(&mut l.body, saved, count),
        }
    }
}

/// Moves the saves of a loop that sets every element of a taped buffer (`for i in 0..n {
/// h[i] = ..; }`, its one write into `h`, saved) to the loop: one `push_slice` of the whole
/// buffer before it instead of a push per element, and one `pop_slice` after its reverse.
/// Only where the body does not read the buffer: its reverse then needs none of the old values
/// that the element-wise restores would have put back along the way.
pub(super) fn save_whole(program: &mut Program) {
    let mut whole = Vec::new();
    wholly_saved(program, &program.body.nodes, &mut whole);
    let mut body = std::mem::take(&mut program.body.nodes);
    let mut count = 0;
    move_saves(&mut body, &whole, &mut count);
    program.body.nodes = body;
}

/// For every loop in `nodes`, in program order (outer loops first), the buffer whose saves
/// move to it.
fn wholly_saved(program: &Program, nodes: &[Node], out: &mut Vec<Option<VarId>>) {
    for node in nodes {
        match node {
            Node::Assign(_) | Node::Store(_) => {}
            Node::Branch(b) => {
                wholly_saved(program, &b.then.nodes, out);
                wholly_saved(program, &b.otherwise.nodes, out);
            }
            Node::Loop(l) => {
                out.push(fills(program, l).filter(|b| moves_saves(program, l, *b)));
                wholly_saved(program, &l.body.nodes, out);
            }
        }
    }
}

/// Whether the saves of `buffer`, which loop `l` fills, can move to the loop: the fill is the
/// body's one write into the buffer, it is saved, and nothing in the body reads the buffer.
fn moves_saves(program: &Program, l: &Loop, buffer: VarId) -> bool {
    if !program.vars[buffer].taped {
        return false;
    }
    let mut written = Vec::new();
    l.body.nodes.iter().for_each(|n| n.stores(&mut written));
    let mut reads = Vec::new();
    crate::reverse::block_reads(program, &l.body.nodes, &l.body.results, &mut reads);
    let mut names = HashSet::new();
    reads.into_iter().for_each(|r| idents_in(r, &mut names));
    written.iter().filter(|b| **b == buffer).count() == 1
        && l.body
            .nodes
            .iter()
            .any(|n| matches!(n, Node::Store(s) if s.buffer == buffer && s.saved))
        && !names.contains(&program.vars[buffer].ident.to_string())
}

fn move_saves(nodes: &mut [Node], whole: &[Option<VarId>], count: &mut usize) {
    for node in nodes {
        match node {
            Node::Assign(_) | Node::Store(_) => {}
            Node::Branch(b) => {
                move_saves(&mut b.then.nodes, whole, count);
                move_saves(&mut b.otherwise.nodes, whole, count);
            }
            Node::Loop(l) => {
                if let Some(buffer) = whole[*count] {
                    for n in &mut l.body.nodes {
                        if let Node::Store(s) = n
                            && s.buffer == buffer
                        {
                            s.saved = false;
                        }
                    }
                    l.saved_whole.push(buffer);
                }
                *count += 1;
                move_saves(&mut l.body.nodes, whole, count);
            }
        }
    }
}
