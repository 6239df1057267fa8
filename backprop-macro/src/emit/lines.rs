//! The lines of `f_backward`: the forward lines, then the backward statements, with a loop or
//! branch fused with its reverse where that reverse can run inside it; `drop(a);` after the
//! last line that reads a forward array (or `a` handed over by value); and the tapes declared
//! before the first line that pushes on them.

use std::collections::HashSet;

use proc_macro2::{Ident, TokenStream};
use quote::quote;

use crate::ir::{Block, LoopKind, Node, Operand, Program, Ty};
use crate::reverse::{BackStmt, Reversed, recorded_names, shape_name, stmt_idents};
use crate::rules::{self, Prim};

use super::backward::back_stmt;
use super::forward::{bind_branch, forward_loop, forward_node};

/// The forward lines `nodes`, then their reverse `stmts`; or, where the reverse of one loop
/// (or, with `branches`, one `if`) can run with its forward lines, that node fused with its
/// reverse: the reverse of a loop whose iterations only accumulate (`loss += ..`) runs at the
/// end of each forward iteration, reading that iteration's values (no tape, no recomputation),
/// and the reverse of an `if` runs inside the forward arm that ran. Valid when the reverse
/// statements before the node's (the reverse of the lines after it) read no value computed by
/// the node or after it: they are moved before it.
pub(super) fn fused_block(
    program: &Program,
    reversed: &Reversed,
    nodes: &[Node],
    stmts: &[BackStmt],
    branches: bool,
    end_of_forward: Option<TokenStream>,
) -> Vec<TokenStream> {
    let tapes = Some(reversed);
    for (k, node) in nodes.iter().enumerate() {
        let origin = match node {
            Node::Loop(l) => match (&l.kind, &l.exit) {
                (LoopKind::For { index, .. }, None) => Some(*index),
                _ => None,
            },
            Node::Branch(b) if branches => b.targets.first().copied(),
            _ => None,
        };
        let Some(origin) = origin else { continue };
        // A taped buffer's writes are undone by the reverse pass, not inside the forward node.
        let mut own = Vec::new();
        node.stores(&mut own);
        if own.iter().any(|b| program.vars[*b].taped) {
            continue;
        }
        let Some(p) = stmts.iter().position(|s| match s {
            BackStmt::For {
                origin: o,
                fused: Some(_),
                ..
            }
            | BackStmt::If { origin: o, .. } => *o == Some(origin),
            _ => false,
        }) else {
            continue;
        };
        // What the node and the lines after it compute: their values, and the buffers they
        // write into.
        let mut written = Vec::new();
        nodes[k..].iter().for_each(|n| n.stores(&mut written));
        let mut visible: HashSet<String> = nodes[k..]
            .iter()
            .flat_map(Node::targets)
            .chain(written)
            .map(|t| program.vars[t].ident.to_string())
            .collect();
        // And what their loops record for the reverse pass (tapes, trip counts, `broke`).
        nodes[k..]
            .iter()
            .for_each(|n| recorded_names(n, reversed, &mut visible));
        let mut read = HashSet::new();
        stmts[..p]
            .iter()
            .for_each(|s| stmt_idents(program, s, &mut read));
        if visible
            .iter()
            .any(|v| read.contains(v) || read.contains(&shape_name(v)))
        {
            continue;
        }
        let mut lines: Vec<TokenStream> = nodes[..k]
            .iter()
            .map(|n| forward_node(program, n, tapes))
            .collect();
        lines.extend(stmts[..p].iter().map(|s| back_stmt(program, reversed, s)));
        lines.push(fused_node(program, reversed, node, &stmts[p]));
        lines.extend(
            nodes[k + 1..]
                .iter()
                .map(|n| forward_node(program, n, tapes)),
        );
        lines.extend(end_of_forward);
        lines.extend(
            stmts[p + 1..]
                .iter()
                .map(|s| back_stmt(program, reversed, s)),
        );
        return lines;
    }
    nodes
        .iter()
        .map(|n| forward_node(program, n, tapes))
        .chain(end_of_forward)
        .chain(stmts.iter().map(|s| back_stmt(program, reversed, s)))
        .collect()
}

/// `drop(a);` after the last line that reads a forward array `a`: its memory goes back to the
/// allocator while the backward pass still allocates gradients, instead of every array living
/// until the function returns (a larger peak, and fresh pages on every call). When that line
/// hands `a` to a runtime function that computes in its argument's buffer
/// ([`rules::REUSE_BUFFER`]: `log_softmax(&scores, ..)`), `a` is handed over by value instead.
pub(super) fn drop_after_last_use(
    program: &Program,
    mut lines: Vec<TokenStream>,
) -> Vec<TokenStream> {
    // An array that a view borrows (`a.t()`, `a.view().insert_axis(..)`) lives as long as
    // the view; the view has no buffer to hand over.
    let mut viewed = HashSet::new();
    let mut borrowed_by_constants = HashSet::new();
    for node in &program.body.nodes {
        let Node::Assign(a) = node else { continue };
        if let Prim::Tensor(
            rules::TensorOp::T | rules::TensorOp::InsertAxis | rules::TensorOp::Part { .. },
        ) = a.prim
            && let Some(Operand::Var(v)) = a.args.first()
        {
            viewed.insert(*v);
            viewed.insert(a.target);
        }
        // A line of constants may hold a view of an array (`let v = a.view();`): the arrays it
        // names stay.
        if let [Operand::Const { tokens, ty, .. }] = a.args.as_slice()
            && ty.is_tensor()
        {
            crate::ir::idents_in(tokens.clone(), &mut borrowed_by_constants);
            // Such a view has no buffer to hand over either (`hidden.to_owned()` stays a copy).
            if matches!(syn::parse2::<syn::Expr>(tokens.clone()), Ok(syn::Expr::MethodCall(m))
                if crate::lower::VIEW_METHODS.contains(&m.method.to_string().as_str()))
            {
                viewed.insert(a.target);
            }
        }
    }
    let arrays: Vec<String> = program
        .body
        .nodes
        .iter()
        .flat_map(crate::ir::Node::targets)
        .filter(|v| !viewed.contains(v))
        // An array output lives until it is returned (so do the parts of a tuple one).
        .filter(|&v| !matches!(program.body.value(), Operand::Var(out) if *out == v))
        .filter(|&v| {
            !program.tuple_output().is_some_and(|(_, args)| {
                args.iter().any(|a| matches!(a, Operand::Var(p) if *p == v))
            })
        })
        .filter(|&v| matches!(program.vars[v].ty, Ty::Tensor { by_ref: false, .. }))
        .map(|v| program.vars[v].ident.to_string())
        .filter(|name| !borrowed_by_constants.contains(name))
        .collect();
    let mentions: Vec<HashSet<String>> = lines
        .iter()
        .map(|line| {
            let mut names = HashSet::new();
            crate::ir::idents_in(line.clone(), &mut names);
            names
        })
        .collect();
    let mut drops: Vec<Vec<TokenStream>> = vec![Vec::new(); lines.len()];
    for name in arrays {
        let Some(last) = mentions.iter().rposition(|m| m.contains(&name)) else {
            continue;
        };
        if let Some(line) = hand_over(&lines[last], &name) {
            lines[last] = line;
        } else if last + 1 < lines.len() {
            let ident = proc_macro2::Ident::new(&name, proc_macro2::Span::call_site());
            drops[last].push(quote!(drop(#ident);));
        }
    }
    lines
        .into_iter()
        .zip(drops)
        .flat_map(|(line, drops)| std::iter::once(line).chain(drops))
        .collect()
}

/// `line` with `&name` passed by value, when `line` mentions `name` once, as the argument of a
/// top-level call `::backprop::f(..)` that [`rules::REUSE_BUFFER`] lists at that position.
fn hand_over(line: &TokenStream, name: &str) -> Option<TokenStream> {
    use proc_macro2::{Group, TokenTree};
    let mut count = 0;
    let mut stack = vec![line.clone()];
    while let Some(tokens) = stack.pop() {
        for tree in tokens {
            match tree {
                TokenTree::Ident(i) if i == name => count += 1,
                TokenTree::Group(g) => stack.push(g.stream()),
                _ => {}
            }
        }
    }
    if count != 1 {
        return None;
    }
    // `go(z.to_owned())` (an array the user passed by value, `go(z)`) at its last reader: `z`
    // itself.
    if let Some(moved) = copy_as_move(line.clone(), name) {
        return Some(moved);
    }
    let mut trees: Vec<TokenTree> = line.clone().into_iter().collect();
    let call = (3..trees.len().saturating_sub(1)).find_map(|k| {
        let (TokenTree::Ident(path), TokenTree::Ident(f), TokenTree::Group(args)) =
            (&trees[k - 3], &trees[k], &trees[k + 1])
        else {
            return None;
        };
        let position = rules::REUSE_BUFFER
            .iter()
            .find(|(reuses, _)| f == reuses)
            .map(|&(_, position)| position)?;
        (path == "backprop" && args.delimiter() == proc_macro2::Delimiter::Parenthesis)
            .then_some((k + 1, position))
    })?;
    let (at, position) = call;
    let TokenTree::Group(args) = &trees[at] else {
        return None;
    };
    let mut split: Vec<Vec<TokenTree>> = vec![Vec::new()];
    for tree in args.stream() {
        match &tree {
            TokenTree::Punct(p) if p.as_char() == ',' => split.push(Vec::new()),
            _ => split.last_mut()?.push(tree),
        }
    }
    match split.get(position)?.as_slice() {
        [TokenTree::Punct(amp), TokenTree::Ident(arg)] if amp.as_char() == '&' && arg == name => {
            split[position].remove(0);
        }
        _ => return None,
    }
    let stream = split
        .into_iter()
        .map(|arg| arg.into_iter().collect::<TokenStream>())
        .collect::<Vec<_>>();
    let mut group = Group::new(args.delimiter(), quote!(#(#stream),*));
    group.set_span(args.span());
    trees[at] = TokenTree::Group(group);
    Some(trees.into_iter().collect())
}

/// `tokens` with `name.to_owned()` or `name.clone()` (outside blocks) as `name`, if it has one.
fn copy_as_move(tokens: TokenStream, name: &str) -> Option<TokenStream> {
    use proc_macro2::{Group, TokenTree};
    let mut trees: Vec<TokenTree> = tokens.into_iter().collect();
    for k in 0..trees.len() {
        if let [
            TokenTree::Ident(x),
            TokenTree::Punct(dot),
            TokenTree::Ident(method),
            TokenTree::Group(args),
            ..,
        ] = &trees[k..]
            && x == name
            && dot.as_char() == '.'
            && (method == "to_owned" || method == "clone")
            && args.delimiter() == proc_macro2::Delimiter::Parenthesis
            && args.stream().is_empty()
        {
            trees.drain(k + 1..k + 4);
            return Some(trees.into_iter().collect());
        }
        // Not into a block: a loop's body runs more than once.
        if let TokenTree::Group(group) = &trees[k]
            && group.delimiter() != proc_macro2::Delimiter::Brace
            && let Some(inner) = copy_as_move(group.stream(), name)
        {
            let mut moved = Group::new(group.delimiter(), inner);
            moved.set_span(group.span());
            trees[k] = TokenTree::Group(moved);
            return Some(trees.into_iter().collect());
        }
    }
    None
}

/// `let mut t = Tape::new();` before the first line that pushes on `t`. (A tape that nothing
/// pushes on, that of a loop whose reverse runs inside it, is not declared.) A tape of plain
/// values (floats, counters, shapes) is a `ScalarTape`, whose storage is reused from call to
/// call.
pub(super) fn declare_tapes(
    program: &Program,
    reversed: &Reversed,
    lines: Vec<TokenStream>,
) -> Vec<TokenStream> {
    // Floats, and the integers, flags and other plain values a loop carries.
    let float = |v: &usize| matches!(program.vars[*v].ty, Ty::Float(_) | Ty::FloatLit | Ty::Other);
    let mut scalar: HashSet<String> = reversed
        .counts
        .values()
        .chain(reversed.restores.values())
        .chain(reversed.shapes.values())
        .map(ToString::to_string)
        .collect();
    for tapes in [&reversed.tapes, &reversed.records] {
        scalar.extend(
            tapes
                .iter()
                .filter(|(v, _)| float(v))
                .map(|(_, t)| t.to_string()),
        );
    }
    let tapes: HashSet<String> = reversed
        .tapes
        .values()
        .chain(reversed.records.values())
        .map(ToString::to_string)
        .chain(scalar.iter().cloned())
        .collect();
    let mut declared = HashSet::new();
    let mut out = Vec::new();
    for line in lines {
        let mut pushed = Vec::new();
        pushed_on(line.clone(), &mut pushed);
        for tape in pushed {
            let name = tape.to_string();
            if tapes.contains(&name) && declared.insert(name.clone()) {
                if scalar.contains(&name) {
                    out.push(quote!(let mut #tape = ::backprop::ScalarTape::new();));
                } else if let Some(range) = loop_range_pushing(&line, &tape) {
                    // Arrays and closures are not pooled: sized once for the loop instead.
                    out.push(quote!(let mut #tape = ::backprop::Tape::for_trips(#range);));
                } else {
                    out.push(quote!(let mut #tape = ::backprop::Tape::new();));
                }
            }
        }
        out.push(line);
    }
    out
}

/// The range of the `for` loop at the top level of `line` whose body pushes on `tape`.
fn loop_range_pushing(line: &TokenStream, tape: &Ident) -> Option<TokenStream> {
    use proc_macro2::{Delimiter, TokenTree};
    let trees: Vec<TokenTree> = line.clone().into_iter().collect();
    let start = trees
        .iter()
        .position(|t| matches!(t, TokenTree::Ident(i) if i == "for"))?;
    let at_in = start
        + trees[start..]
            .iter()
            .position(|t| matches!(t, TokenTree::Ident(i) if i == "in"))?;
    let body = at_in
        + trees[at_in..]
            .iter()
            .position(|t| matches!(t, TokenTree::Group(g) if g.delimiter() == Delimiter::Brace))?;
    let TokenTree::Group(group) = &trees[body] else {
        return None;
    };
    let mut pushed = Vec::new();
    pushed_on(group.stream(), &mut pushed);
    pushed
        .contains(tape)
        .then(|| trees[at_in + 1..body].iter().cloned().collect())
}

/// The receivers of `.push(..)` calls in `tokens`, in order.
fn pushed_on(tokens: TokenStream, out: &mut Vec<Ident>) {
    let trees: Vec<proc_macro2::TokenTree> = tokens.into_iter().collect();
    for (k, tree) in trees.iter().enumerate() {
        match tree {
            proc_macro2::TokenTree::Ident(ident) => {
                if let (
                    Some(proc_macro2::TokenTree::Punct(dot)),
                    Some(proc_macro2::TokenTree::Ident(method)),
                ) = (trees.get(k + 1), trees.get(k + 2))
                    && dot.as_char() == '.'
                    && (method == "push" || method == "push_slice")
                    && !out.contains(ident)
                {
                    out.push(ident.clone());
                }
            }
            proc_macro2::TokenTree::Group(g) => pushed_on(g.stream(), out),
            _ => {}
        }
    }
}

/// A loop or branch with its reverse `stmt` inside.
fn fused_node(program: &Program, reversed: &Reversed, node: &Node, stmt: &BackStmt) -> TokenStream {
    match (node, stmt) {
        (
            Node::Loop(l),
            BackStmt::For {
                fused: Some(iteration),
                ..
            },
        ) => {
            let body = fused_block(program, reversed, &l.body.nodes, iteration, true, None);
            forward_loop(program, l, None, Some(body))
        }
        (
            Node::Branch(branch),
            BackStmt::If {
                then, otherwise, ..
            },
        ) => {
            // The arms' values are in scope: what the reverse arms recomputed or popped is
            // dropped.
            let arm = |block: &Block, stmts: &[BackStmt]| {
                let first = stmts
                    .iter()
                    .position(|s| !matches!(s, BackStmt::Forward(_) | BackStmt::Pop { .. }))
                    .unwrap_or(stmts.len());
                let lines =
                    fused_block(program, reversed, &block.nodes, &stmts[first..], true, None);
                let results: Vec<TokenStream> = block
                    .results
                    .iter()
                    .map(|r| rules::render_bare(program, r))
                    .collect();
                match results.as_slice() {
                    [one] => quote!({ #(#lines)* #one }),
                    many => quote!({ #(#lines)* (#(#many),*) }),
                }
            };
            let (cond, then, otherwise) = (
                &branch.cond,
                arm(&branch.then, then),
                arm(&branch.otherwise, otherwise),
            );
            bind_branch(program, branch, quote!(if #cond #then else #otherwise))
        }
        _ => forward_node(program, node, Some(reversed)),
    }
}

/// The plain copies no line reads, taken out: `let power_3 = power_1;`, the value a loop
/// leaves in a carried variable that nothing after the loop reads (the forward loop writes one
/// for each carried variable). `tail` is what the function returns. Taking one out may leave
/// the copy it read unread: repeated until none is left.
pub(super) fn without_dead_copies(
    mut lines: Vec<TokenStream>,
    tail: &TokenStream,
) -> Vec<TokenStream> {
    loop {
        let mut counts = std::collections::HashMap::new();
        for tokens in lines.iter().chain(std::iter::once(tail)) {
            count_idents(tokens.clone(), &mut counts);
        }
        let mut removed = false;
        lines = lines
            .into_iter()
            .filter_map(|line| {
                if dead_copy(&line.clone().into_iter().collect::<Vec<_>>(), 0, &counts) {
                    removed = true;
                    return None;
                }
                Some(strip_dead(line, &counts, &mut removed))
            })
            .collect();
        if !removed {
            return lines;
        }
    }
}

fn count_idents(tokens: TokenStream, counts: &mut std::collections::HashMap<String, usize>) {
    for tree in tokens {
        match tree {
            proc_macro2::TokenTree::Ident(ident) => {
                *counts.entry(ident.to_string()).or_default() += 1;
            }
            proc_macro2::TokenTree::Group(g) => count_idents(g.stream(), counts),
            _ => {}
        }
    }
}

/// Whether `trees[at..]` starts with `let x = y;` for an `x` read nowhere else.
fn dead_copy(
    trees: &[proc_macro2::TokenTree],
    at: usize,
    counts: &std::collections::HashMap<String, usize>,
) -> bool {
    use proc_macro2::TokenTree::{Ident as I, Punct as P};
    match &trees[at..] {
        [I(l), I(x), P(eq), I(_), P(semi), ..] => {
            l == "let"
                && x != "mut"
                && eq.as_char() == '='
                && semi.as_char() == ';'
                && counts.get(&x.to_string()) == Some(&1)
        }
        _ => false,
    }
}

/// `tokens` with the dead copies at statement starts inside its blocks taken out.
fn strip_dead(
    tokens: TokenStream,
    counts: &std::collections::HashMap<String, usize>,
    removed: &mut bool,
) -> TokenStream {
    let trees: Vec<proc_macro2::TokenTree> = tokens.into_iter().collect();
    let mut out = Vec::new();
    let mut k = 0;
    while k < trees.len() {
        let at_start = k == 0
            || matches!(&trees[k - 1], proc_macro2::TokenTree::Punct(p) if p.as_char() == ';')
            || matches!(&trees[k - 1], proc_macro2::TokenTree::Group(g)
                if g.delimiter() == proc_macro2::Delimiter::Brace);
        if at_start && dead_copy(&trees, k, counts) {
            *removed = true;
            k += 5;
            continue;
        }
        match &trees[k] {
            proc_macro2::TokenTree::Group(g) => {
                let mut inner =
                    proc_macro2::Group::new(g.delimiter(), strip_dead(g.stream(), counts, removed));
                inner.set_span(g.span());
                out.push(proc_macro2::TokenTree::Group(inner));
            }
            other => out.push(other.clone()),
        }
        k += 1;
    }
    out.into_iter().collect()
}
