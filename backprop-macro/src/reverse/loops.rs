//! Loops reversed: each carried variable's gradient lives in one variable across the reverse
//! loop, each reversed iteration restores what it reads from the tapes or recomputes it; and
//! whether a loop's iterations only accumulate, so that their reverses can run in the forward
//! loop.

use std::collections::HashSet;

use proc_macro2::{Ident, TokenStream};
use quote::ToTokens;

use crate::ir::{Block, LoopKind, Node, Operand, Program, VarId, defined_in, idents_in};
use crate::record;
use crate::rules::Prim;

use super::reads::{loop_saves, node_idents, stmt_idents};
use super::{BackStmt, Frame, Popped, Sweep};

impl Sweep<'_> {
    /// A loop reversed. Each carried variable's gradient lives in one variable across the
    /// reverse loop (`d_s_1`): at the start of an iteration it is the gradient of the value the
    /// iteration ended with, and after the reversed body, of the value it started with.
    pub(super) fn reverse_loop(&mut self, l: &crate::ir::Loop, out: &mut Vec<BackStmt>) {
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
                .any(|b| self.declared.contains(b) || loop_saves(l, *b))
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

        if let (Some(_), LoopKind::For { index, range, rev }) = (&fused, &l.kind)
            && let Some((starts, body)) = self.replay(l, &full)
        {
            out.extend(starts);
            out.push(BackStmt::For {
                index: program.vars[*index].ident.clone(),
                range: range.clone(),
                rev: *rev,
                body,
                origin: Some(*index),
                fused,
            });
            for &k in &active {
                let d = self.grad(l.carried[k].inner);
                self.contribute_to(&l.carried[k].entry.clone(), d.to_token_stream(), out);
            }
            return;
        }

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
                let read = needed.clone();
                for (c, result) in l.carried.iter().zip(&l.body.results) {
                    if let Operand::Var(v) = result
                        && let Some(at) = plan.values.iter().position(|x| x == v)
                        && !self.records.contains_key(v)
                    {
                        plan.values.remove(at);
                        // A counter that only a nested loop steps (`idx` of `for i { for j {
                        // .. idx += 1; } }`) is back at the iteration's start value when the
                        // nested reversed loop has counted it down: no tape.
                        let start = match self.counted_back_by_nested(l, c.inner, *v) {
                            Some(start)
                                if !read.contains(&program.vars[c.inner].ident.to_string()) =>
                            {
                                start
                            }
                            _ => {
                                needed.insert(program.vars[c.inner].ident.to_string());
                                c.inner
                            }
                        };
                        next_values.push((*v, start, c.after));
                    }
                }
            }
            self.register(&plan);
            recomputes.push(plan.recompute);
            needed_any.extend(needed);
        }
        for &(value, _, after) in &next_values {
            if fused.is_none() {
                self.counted_back.insert(after, value);
            }
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
                // (A loop reversed inside its forward loop counts nothing back.)
                if fused.is_none() {
                    self.counted_back.insert(c.after, c.inner);
                }
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
        // The buffers the loop set every element of get their old contents back.
        for buffer in &l.saved_whole {
            if let Some(tape) = self.restores.get(buffer) {
                let buffer = &program.vars[*buffer].ident;
                out.push(BackStmt::Raw(quote::quote!(#tape.pop_slice(&mut #buffer);)));
            }
        }
        for &k in &active {
            let d = self.grad(l.carried[k].inner);
            self.contribute_to(&l.carried[k].entry.clone(), d.to_token_stream(), out);
        }
    }

    /// The reverse of a loop whose iterations only accumulate (see [`accumulates`]) but which
    /// cannot run inside its forward loop (the carried gradients come from the loop's result:
    /// `r -= x[j] * p` in `(s - Σ x[j] tʲ)²`), run in forward order: each reversed iteration
    /// computes again what it reads, the carried values included (`p = p * t`), instead of
    /// popping them from tapes the forward loop pushed. What a hand-written backward does
    /// (a second forward loop); the same sums in another order of the iterations, each of
    /// which adds to its own elements or to gradients passed through unchanged. Only when the
    /// iterations read a carried value, every value they read is cheap to compute again (see
    /// [`record`]), the body writes no buffer and its reverse pops no tape (of a nested loop or
    /// arm): the lines before the loop's reverse, and the iteration's reverse with its
    /// recomputed lines, are returned.
    fn replay(
        &self,
        l: &crate::ir::Loop,
        iteration: &[BackStmt],
    ) -> Option<(Vec<BackStmt>, Vec<BackStmt>)> {
        let program = self.program;
        let mut written = Vec::new();
        l.body.nodes.iter().for_each(|n| n.stores(&mut written));
        if !written.is_empty() || iteration.iter().any(pops) {
            return None;
        }
        let name = |v: VarId| program.vars[v].ident.to_string();
        let mut needed = HashSet::new();
        iteration
            .iter()
            .for_each(|s| stmt_idents(program, s, &mut needed));
        // The carried values an iteration reads, and what computes their next values, to a
        // fixed point.
        let mut replayed: Vec<usize> = Vec::new();
        let plan = loop {
            let mut reads = needed.clone();
            let plan = record::plan(program, &l.body.nodes, &mut reads, false);
            if !(plan.values.is_empty() && plan.counts.is_empty() && plan.shapes.is_empty()) {
                return None;
            }
            let new: Vec<usize> = (0..l.carried.len())
                .filter(|k| !replayed.contains(k) && reads.contains(&name(l.carried[*k].inner)))
                .collect();
            if new.is_empty() {
                break plan;
            }
            needed = reads;
            for k in new {
                let c = &l.carried[k];
                if program.vars[c.inner].active
                    || program.vars[c.inner].buffer
                    || program.vars[c.inner].ty.is_tensor()
                {
                    return None;
                }
                match &l.body.results[k] {
                    Operand::Var(v) => {
                        needed.insert(name(*v));
                    }
                    Operand::Const { tokens, .. } => idents_in(tokens.clone(), &mut needed),
                    Operand::Element { .. } => return None,
                }
                replayed.push(k);
            }
        };
        // Without a carried value to step, the reverse loop as usual needs no tape either; its
        // order is the reverse sweep's (in the layers' loops, LLVM compiles the loops counting
        // down with less overhead).
        if replayed.is_empty() {
            return None;
        }
        let mut starts = Vec::new();
        let mut body: Vec<BackStmt> = plan.recompute.into_iter().map(BackStmt::Forward).collect();
        body.extend(iteration.iter().cloned());
        for &k in &replayed {
            let c = &l.carried[k];
            let inner = &program.vars[c.inner].ident;
            let entry = crate::rules::render_bare(program, &c.entry);
            if matches!(&l.body.results[k], Operand::Var(v) if *v == c.inner) {
                starts.push(BackStmt::Raw(quote::quote!(let #inner = #entry;)));
            } else {
                starts.push(BackStmt::Raw(quote::quote!(let mut #inner = #entry;)));
                let next = crate::rules::render_bare(program, &l.body.results[k]);
                body.push(BackStmt::Raw(quote::quote!(#inner = #next;)));
            }
        }
        Some((starts, body))
    }

    /// The variable that holds `inner`'s value again once the reverse of a loop nested
    /// directly in `l`'s body has run: that loop starts a counter from `inner`, ends it at
    /// `value` (the body's result) and counts it back down in its reverse.
    fn counted_back_by_nested(
        &self,
        l: &crate::ir::Loop,
        inner: VarId,
        value: VarId,
    ) -> Option<VarId> {
        l.body.nodes.iter().find_map(|n| match n {
            Node::Loop(m) if m.exit.is_none() => m
                .carried
                .iter()
                .find(|c| matches!(c.entry, Operand::Var(e) if e == inner) && c.after == value)
                .and_then(|c| self.counted_back.get(&c.after).copied()),
            _ => None,
        })
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
}

/// Whether `stmt` gets a value back from a tape: the order of the reversed iterations then
/// matters.
fn pops(stmt: &BackStmt) -> bool {
    match stmt {
        BackStmt::Pop { .. } => true,
        BackStmt::Raw(tokens) | BackStmt::Setup(tokens) => calls_pop(tokens.clone()),
        BackStmt::For { body, .. } => body.iter().any(pops),
        BackStmt::If {
            then, otherwise, ..
        } => then.iter().chain(otherwise).any(pops),
        BackStmt::Guarded { .. } => true,
        _ => false,
    }
}

/// Whether `tokens` call a tape's `.pop()` or `.pop_slice(..)`: matched as the method's
/// name after a `.`, so that a gradient named `d_population` is not taken for one.
fn calls_pop(tokens: proc_macro2::TokenStream) -> bool {
    use proc_macro2::TokenTree;
    let trees: Vec<TokenTree> = tokens.into_iter().collect();
    trees.iter().enumerate().any(|(i, tree)| match tree {
        TokenTree::Group(g) => calls_pop(g.stream()),
        TokenTree::Ident(name) => {
            (name == "pop" || name == "pop_slice")
                && i > 0
                && matches!(&trees[i - 1], TokenTree::Punct(p) if p.as_char() == '.')
        }
        _ => false,
    })
}

/// Whether every differentiated variable a loop carries only accumulates: each iteration adds
/// to it (`s += e`, `s -= e`, possibly in a branch arm, possibly in a nested loop) and nothing
/// else reads it, and no iteration reads a buffer element another one writes. Then each
/// reversed iteration passes the carried gradients through unchanged, and reads only values of
/// its own iteration, so the iterations can be reversed in any order: right after their
/// forward lines, in the forward loop.
pub(super) fn accumulates(program: &Program, l: &crate::ir::Loop) -> bool {
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
