//! Local buffers (`let mut h = vec![0.0; n];`, written by index): which ones the reverse pass
//! can read without a tape, and which writes reset their element's gradient.
//!
//! The reverse pass reads a buffer as the forward pass left it. That is right when every read
//! of an element sees the element's final value. So, after the buffer's declaration, in the
//! block that declares it:
//!
//! * every write comes before every read of the same element (with literal indices, `h[1] =
//!   h[0]` is fine; with computed ones, any earlier read counts);
//! * except in one `for` loop that writes element `base + i` in iteration `i`, and reads that
//!   element after writing it, or the elements of earlier iterations (`h[i - 1]`): a
//!   recurrence kept in a buffer.
//!
//! Any other buffer is *taped* ([`crate::ir::Var::taped`]): each write pushes the element's old
//! value, and the reverse pass puts it back where it reverses that write, so that every read
//! the reverse pass makes sees the value the forward pass read at that point (Tapenade's
//! push/pop of overwritten values). A condition that reads a taped buffer that its own branch
//! writes is computed before the branch (`let cond = h[i] > 0.0;`), since the reverse pass
//! evaluates it after the branch's writes. A buffer written at exactly one place, once per
//! element, needs no gradient reset.

use std::collections::HashSet;

use proc_macro2::{Delimiter, Span, TokenStream, TokenTree};
use quote::ToTokens;
use syn::Expr;

use crate::ir::{Block, Loop, LoopKind, Node, Program, Store, VarId, defined_in, idents_in};
use crate::naming::Namer;
use crate::reverse::block_reads;
use crate::rules;

mod saves;

use saves::{mark_saved, save_whole, saved_writes, walk_events};

/// Tapes the buffers whose reads could see overwritten values, and clears the `reset` of
/// writes that reach each element once.
pub fn check(program: &mut Program, namer: &mut Namer) {
    let mut once = HashSet::new();
    let mut taped = Vec::new();
    blocks(&program.body, &mut |nodes| {
        for (position, node) in nodes.iter().enumerate() {
            let Node::Assign(declaration) = node else {
                continue;
            };
            let buffer = declaration.target;
            if !program.vars[buffer].buffer {
                continue;
            }
            let rest = &nodes[position + 1..];
            let mut walk = Walk {
                program,
                buffer,
                name: program.vars[buffer].ident.to_string(),
                overwritten: false,
                owner: None,
                read_literals: HashSet::new(),
                read_other: false,
                read_same: false,
            };
            rest.iter().for_each(|n| walk.node(n));
            if walk.overwritten {
                taped.push(buffer);
            }
            // A write that reaches its element once needs no gradient reset only when what it
            // overwrites is a constant: a buffer copied from a differentiated array
            // (`x.to_vec()`, an ndarray expression) passes the overwritten value's gradient on.
            if matches!(
                declaration.args.as_slice(),
                [crate::ir::Operand::Const { .. }]
            ) {
                once.extend(written_once(program, buffer, rest));
            }
        }
    });
    for buffer in taped {
        program.vars[buffer].taped = true;
    }
    clear_resets(&mut program.body, &once);
    let mut events = Vec::new();
    let mut stack = Vec::new();
    let mut loops = 0;
    walk_events(
        program,
        &program.body,
        &mut stack,
        &mut loops,
        false,
        &mut events,
    );
    let saved = saved_writes(&events);
    let mut count = 0;
    mark_saved(&mut program.body, &saved, &mut count);
    save_whole(program);
    let mut body = std::mem::replace(
        &mut program.body,
        Block {
            nodes: Vec::new(),
            results: Vec::new(),
        },
    );
    let _ = capture_conditions(program, &mut body, namer);
    keep_output(program, &mut body, namer);
    program.body = body;
}

/// `let out = h[0];` as the last forward line when the function's value reads a taped buffer:
/// the value is returned after the reverse pass, which puts the buffer's old values back.
fn keep_output(program: &mut Program, body: &mut Block, namer: &mut Namer) {
    let Some(value) = body.results.first().cloned() else {
        return;
    };
    let mut names = HashSet::new();
    idents_in(rules::render(program, &value), &mut names);
    let reads_taped = program
        .vars
        .iter()
        .any(|v| v.taped && names.contains(&v.ident.to_string()));
    if matches!(value, crate::ir::Operand::Var(_)) || !reads_taped {
        return;
    }
    let var = program.vars.len();
    program.vars.push(crate::ir::Var {
        ident: namer.fresh("out"),
        ty: crate::ir::operand_ty(&program.vars, &value),
        active: program.is_active(&value),
        buffer: false,
        taped: false,
    });
    body.nodes.push(Node::Assign(crate::ir::Assign {
        target: var,
        prim: rules::Prim::Table {
            rule: rules::operator("copy"),
            name: proc_macro2::Ident::new("copy", Span::call_site()),
        },
        args: vec![value],
        annotation: None,
        span: Span::call_site(),
    }));
    body.results[0] = crate::ir::Operand::Var(var);
}

/// `let cond = ..;` before a branch whose condition reads a taped buffer that the branch
/// writes, and `if cond`: the value the forward pass decided on, for the reverse pass. Returns
/// where lines were inserted (positions in the block as it was), so that a loop's `break`
/// guard, which counts the lines before it, still follows the same ones.
fn capture_conditions(program: &mut Program, block: &mut Block, namer: &mut Namer) -> Vec<usize> {
    let mut inserted = Vec::new();
    let mut k = 0;
    while k < block.nodes.len() {
        match &mut block.nodes[k] {
            Node::Branch(b) => {
                capture_conditions(program, &mut b.then, namer);
                capture_conditions(program, &mut b.otherwise, namer);
                let mut written = Vec::new();
                block.nodes[k].stores(&mut written);
                let Node::Branch(b) = &mut block.nodes[k] else {
                    continue;
                };
                let mut read = HashSet::new();
                idents_in(b.cond.clone(), &mut read);
                if written.iter().any(|w| {
                    program.vars[*w].taped && read.contains(&program.vars[*w].ident.to_string())
                }) {
                    let ident = namer.fresh("cond");
                    let var = program.vars.len();
                    program.vars.push(crate::ir::Var {
                        ident: ident.clone(),
                        ty: crate::ir::Ty::Other,
                        active: false,
                        buffer: false,
                        taped: false,
                    });
                    let cond = std::mem::replace(&mut b.cond, ident.to_token_stream());
                    let span = b.span;
                    block.nodes.insert(
                        k,
                        Node::Assign(crate::ir::Assign {
                            target: var,
                            prim: rules::Prim::Table {
                                rule: rules::operator("copy"),
                                name: proc_macro2::Ident::new("copy", Span::call_site()),
                            },
                            args: vec![crate::ir::Operand::Const {
                                tokens: cond,
                                ty: crate::ir::Ty::Other,
                                atomic: false,
                            }],
                            annotation: None,
                            span,
                        }),
                    );
                    inserted.push(k - inserted.len());
                    k += 1;
                }
            }
            Node::Loop(l) => {
                let before = capture_conditions(program, &mut l.body, namer);
                if let Some(exit) = &mut l.exit {
                    exit.pre_len += before.iter().filter(|&&p| p < exit.pre_len).count();
                }
            }
            Node::Assign(_) | Node::Store(_) => {}
        }
        k += 1;
    }
    inserted
}

/// Calls `f` with the nodes of every block, nested ones included.
fn blocks(block: &Block, f: &mut dyn FnMut(&[Node])) {
    f(&block.nodes);
    for node in &block.nodes {
        match node {
            Node::Branch(b) => {
                blocks(&b.then, f);
                blocks(&b.otherwise, f);
            }
            Node::Loop(l) => blocks(&l.body, f),
            Node::Assign(_) | Node::Store(_) => {}
        }
    }
}

/// The loop that owns a buffer's elements: iteration `index` writes element `base + index +
/// offset`.
struct Owner {
    index: String,
    rev: bool,
    form: (String, i64),
    /// Names defined in the loop's body (they may change between iterations).
    locals: HashSet<String>,
}

/// The reads and writes of one buffer, in program order.
struct Walk<'a> {
    program: &'a Program,
    buffer: VarId,
    name: String,
    /// Whether a read may see a value that a later write overwrites.
    overwritten: bool,
    owner: Option<Owner>,
    /// Elements read so far at literal indices.
    read_literals: HashSet<String>,
    /// Whether an element was read at a computed index (or the whole buffer).
    read_other: bool,
    /// In an owning loop: whether this iteration's own element was read.
    read_same: bool,
}

impl Walk<'_> {
    fn node(&mut self, node: &Node) {
        let program = self.program;
        match node {
            Node::Assign(a) => a
                .args
                .iter()
                .for_each(|arg| self.reads(rules::render(program, arg))),
            Node::Store(store) => {
                self.reads(store.index.clone());
                self.reads(rules::render(program, &store.value));
                if store.buffer == self.buffer {
                    self.write(store);
                }
            }
            Node::Branch(b) => {
                self.reads(b.cond.clone());
                // Only one arm runs: each starts from what was read before the branch.
                let (literals, other, same) =
                    (self.read_literals.clone(), self.read_other, self.read_same);
                self.block(&b.then);
                let then_literals = std::mem::replace(&mut self.read_literals, literals);
                let (then_other, then_same) = (self.read_other, self.read_same);
                (self.read_other, self.read_same) = (other, same);
                self.block(&b.otherwise);
                self.read_literals.extend(then_literals);
                self.read_other |= then_other;
                self.read_same |= then_same;
            }
            Node::Loop(l) => self.loop_node(l),
        }
    }

    fn block(&mut self, block: &Block) {
        block.nodes.iter().for_each(|n| self.node(n));
        let program = self.program;
        block
            .results
            .iter()
            .for_each(|r| self.reads(rules::render(program, r)));
    }

    fn loop_node(&mut self, l: &Loop) {
        let program = self.program;
        match &l.kind {
            LoopKind::For { range, .. } => self.reads(range.clone()),
            LoopKind::While { cond, .. } => self.reads(cond.clone()),
        }
        for c in &l.carried {
            self.reads(rules::render(program, &c.entry));
        }
        let mut writes = Vec::new();
        stores_of(&l.body.nodes, self.buffer, &mut writes);
        let mut mentioned = HashSet::new();
        let mut probe = Vec::new();
        block_reads(program, &l.body.nodes, &[], &mut probe);
        if let Some(exit) = &l.exit {
            probe.push(exit.cond.clone());
        }
        probe
            .into_iter()
            .for_each(|tokens| idents_in(tokens, &mut mentioned));
        let reads_here = mentioned.contains(&self.name);
        let LoopKind::For { index, rev, .. } = &l.kind else {
            if !writes.is_empty() && reads_here {
                self.overwritten = true;
                return;
            }
            self.body(l);
            return;
        };
        if writes.is_empty() || !reads_here || self.owner.is_some() {
            // Writes only, or reads only: in order, as any other lines. (In an owning loop,
            // a nested loop that reads and writes is checked against the owner.)
            self.body(l);
            return;
        }
        // This loop owns the buffer's elements, one per iteration, if every write has the same
        // injective form in its index.
        let index = program.vars[*index].ident.to_string();
        let mut locals = HashSet::new();
        let mut defined = HashSet::new();
        defined_in(&l.body, &mut defined);
        locals.extend(defined.iter().map(|v| program.vars[*v].ident.to_string()));
        let forms: Vec<Option<(String, i64)>> = writes
            .iter()
            .map(|w| index_form(&w.index, &index, &locals))
            .collect();
        let form = match forms.first() {
            Some(Some(form)) if forms.iter().all(|f| f.as_ref() == Some(form)) => form.clone(),
            // Every iteration writes the same elements again: scratch space per iteration.
            _ if writes.iter().all(|w| {
                let mut names = HashSet::new();
                crate::ir::idents_in(w.index.clone(), &mut names);
                !names.contains(&index)
            }) =>
            {
                self.overwritten = true;
                return;
            }
            _ => {
                self.overwritten = true;
                return;
            }
        };
        // Element by element, nothing written before the loop is read after it in this
        // iteration; what earlier code read stays read.
        if !writes.is_empty() && (self.read_other || !self.read_literals.is_empty()) {
            self.overwritten = true;
            return;
        }
        let saved = self.owner.replace(Owner {
            index,
            rev: *rev,
            form,
            locals,
        });
        let read_same = std::mem::replace(&mut self.read_same, false);
        self.body(l);
        self.owner = saved;
        self.read_same = read_same;
        self.read_other = true;
    }

    fn body(&mut self, l: &Loop) {
        self.block(&l.body);
        if let Some(exit) = &l.exit {
            self.reads(exit.cond.clone());
        }
    }

    /// Records the reads of the buffer in `tokens`.
    fn reads(&mut self, tokens: TokenStream) {
        let mut found = Vec::new();
        element_reads(tokens, &self.name, &mut found);
        for index in found {
            match (&self.owner, index) {
                (Some(owner), Some(index)) => {
                    match index_form(&index, &owner.index, &owner.locals) {
                        Some((base, offset)) if base == owner.form.0 => {
                            let earlier = if owner.rev {
                                offset > owner.form.1
                            } else {
                                offset < owner.form.1
                            };
                            if offset == owner.form.1 {
                                self.read_same = true;
                            } else if !earlier {
                                self.owner_error(&index);
                            }
                        }
                        _ => self.owner_error(&index),
                    }
                }
                (Some(_), None) => self.owner_error(&TokenStream::new()),
                (None, Some(index)) if syn::parse2::<syn::LitInt>(index.clone()).is_ok() => {
                    self.read_literals.insert(index.to_string());
                }
                (None, _) => self.read_other = true,
            }
        }
    }

    /// A read in an owning loop of an element that a later iteration may still overwrite.
    fn owner_error(&mut self, _index: &TokenStream) {
        if self.owner.is_some() {
            self.overwritten = true;
        }
    }

    fn write(&mut self, store: &Store) {
        let overwrites_read = match &self.owner {
            Some(_) => self.read_same,
            None if syn::parse2::<syn::LitInt>(store.index.clone()).is_ok() => {
                self.read_other || self.read_literals.contains(&store.index.to_string())
            }
            None => self.read_other || !self.read_literals.is_empty(),
        };
        if overwrites_read {
            self.overwritten = true;
        }
    }
}

/// The writes into `buffer` in `block`, nested blocks included.
fn stores_of<'p>(nodes: &'p [Node], buffer: VarId, out: &mut Vec<&'p Store>) {
    for node in nodes {
        match node {
            Node::Store(s) if s.buffer == buffer => out.push(s),
            Node::Store(_) | Node::Assign(_) => {}
            Node::Branch(b) => {
                stores_of(&b.then.nodes, buffer, out);
                stores_of(&b.otherwise.nodes, buffer, out);
            }
            Node::Loop(l) => stores_of(&l.body.nodes, buffer, out),
        }
    }
}

/// The writes `(buffer, index)` into `buffer` that reach each of their elements once, as the
/// only write that can: `=`, outside loops or in one `for` loop at an index injective in the
/// loop's index, and every other write at a different literal index (or none).
fn written_once(program: &Program, buffer: VarId, rest: &[Node]) -> Vec<(VarId, String)> {
    let mut writes = Vec::new();
    stores_of(rest, buffer, &mut writes);
    let literal = |s: &Store| syn::parse2::<syn::LitInt>(s.index.clone()).is_ok();
    let mut once = Vec::new();
    for (k, store) in writes.iter().enumerate() {
        let alone = writes.iter().enumerate().all(|(j, other)| {
            j == k
                || (literal(store)
                    && literal(other)
                    && store.index.to_string() != other.index.to_string())
        });
        if alone && store.op == crate::ir::StoreOp::Set && outside_repeats(program, rest, store) {
            once.push((buffer, store.index.to_string()));
        }
    }
    once
}

/// Whether `store` runs at most once per element each time `block` runs.
fn outside_repeats(program: &Program, nodes: &[Node], store: &Store) -> bool {
    let mut loops = Vec::new();
    enclosing_loops(nodes, store, &mut Vec::new(), &mut loops);
    match loops.as_slice() {
        [] => true,
        [l] => match &l.kind {
            LoopKind::For { index, .. } => {
                let mut defined = HashSet::new();
                defined_in(&l.body, &mut defined);
                let locals = defined
                    .iter()
                    .map(|v| program.vars[*v].ident.to_string())
                    .collect();
                let index = program.vars[*index].ident.to_string();
                index_form(&store.index, &index, &locals).is_some()
            }
            LoopKind::While { .. } => false,
        },
        _ => false,
    }
}

/// The loops around `store`, outermost first.
fn enclosing_loops<'p>(
    nodes: &'p [Node],
    store: &Store,
    stack: &mut Vec<&'p Loop>,
    found: &mut Vec<&'p Loop>,
) -> bool {
    for node in nodes {
        let hit = match node {
            Node::Store(s) => std::ptr::eq(s, store),
            Node::Assign(_) => false,
            Node::Branch(b) => {
                enclosing_loops(&b.then.nodes, store, stack, found)
                    || enclosing_loops(&b.otherwise.nodes, store, stack, found)
            }
            Node::Loop(l) => {
                stack.push(l);
                let hit = enclosing_loops(&l.body.nodes, store, stack, found);
                stack.pop();
                hit
            }
        };
        if hit {
            if found.is_empty() {
                found.extend(stack.iter().copied());
            }
            return true;
        }
    }
    false
}

fn clear_resets(block: &mut Block, once: &HashSet<(VarId, String)>) {
    for node in &mut block.nodes {
        match node {
            Node::Store(s) if once.contains(&(s.buffer, s.index.to_string())) => s.reset = false,
            Node::Store(_) | Node::Assign(_) => {}
            Node::Branch(b) => {
                clear_resets(&mut b.then, once);
                clear_resets(&mut b.otherwise, once);
            }
            Node::Loop(l) => clear_resets(&mut l.body, once),
        }
    }
}

/// `index` as `base + i + offset`, when it is one: `i` once with a `+`, integer literals
/// summed into `offset`, and other terms (the `base`, rendered in a canonical order) that
/// mention neither `i` nor a name in `locals`.
fn index_form(index: &TokenStream, i: &str, locals: &HashSet<String>) -> Option<(String, i64)> {
    fn terms(expr: &Expr, positive: bool, out: &mut Vec<(bool, Expr)>) {
        match expr {
            Expr::Paren(inner) => terms(&inner.expr, positive, out),
            Expr::Group(inner) => terms(&inner.expr, positive, out),
            Expr::Binary(b) if matches!(b.op, syn::BinOp::Add(_)) => {
                terms(&b.left, positive, out);
                terms(&b.right, positive, out);
            }
            Expr::Binary(b) if matches!(b.op, syn::BinOp::Sub(_)) => {
                terms(&b.left, positive, out);
                terms(&b.right, !positive, out);
            }
            other => out.push((positive, other.clone())),
        }
    }
    let expr: Expr = syn::parse2(index.clone()).ok()?;
    let mut parts = Vec::new();
    terms(&expr, true, &mut parts);
    let (mut offset, mut seen_index, mut base) = (0i64, false, Vec::new());
    for (positive, term) in parts {
        let sign = if positive { 1 } else { -1 };
        match &term {
            Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Int(n),
                ..
            }) => offset += sign * n.base10_parse::<i64>().ok()?,
            Expr::Path(p) if p.path.is_ident(i) => {
                if seen_index || !positive {
                    return None;
                }
                seen_index = true;
            }
            _ => {
                let mut names = HashSet::new();
                idents_in(term.to_token_stream(), &mut names);
                if names.contains(i) || names.iter().any(|n| locals.contains(n)) {
                    return None;
                }
                let sign = if positive { "+" } else { "-" };
                base.push(format!("{sign}{}", term.to_token_stream()));
            }
        }
    }
    base.sort();
    seen_index.then(|| (base.join(" "), offset))
}

/// The reads of `name` in `tokens`: `name[index]` gives `Some(index)`, `name` alone (passed
/// whole) `None`; `name.len()` is no read of the values.
fn element_reads(tokens: TokenStream, name: &str, out: &mut Vec<Option<TokenStream>>) {
    let trees: Vec<TokenTree> = tokens.into_iter().collect();
    for (k, tree) in trees.iter().enumerate() {
        match tree {
            TokenTree::Ident(ident) if ident == name => {
                match (trees.get(k + 1), trees.get(k + 2)) {
                    (Some(TokenTree::Group(g)), _) if g.delimiter() == Delimiter::Bracket => {
                        out.push(Some(g.stream()));
                    }
                    (Some(TokenTree::Punct(p)), Some(TokenTree::Ident(m)))
                        if p.as_char() == '.' && m == "len" => {}
                    _ => out.push(None),
                }
            }
            TokenTree::Group(g) => element_reads(g.stream(), name, out),
            _ => {}
        }
    }
}
