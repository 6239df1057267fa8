//! Emission: the companions `f_backward`, `f_grad` and `f_backward_source` as Rust tokens.
//!
//! Forward lines are spanned at the user's expressions, so rustc's own errors point into the
//! user's function. The backward source is pretty-printed once, here, and shown both in the
//! rustdoc of `f_backward` and by `f_backward_source()`.

use std::collections::HashSet;

use proc_macro2::{Ident, TokenStream};
use quote::{ToTokens, format_ident, quote, quote_spanned};

use crate::ir::{Block, LoopKind, Node, Operand, Program, StoreOp, Ty};
use crate::reverse::{BackStmt, Popped, Reversed, recorded_names, shape_name, stmt_idents};
use crate::rules::{self, Prim, Syntax};
use crate::signature::SignatureInfo;

/// The names and signature pieces shared by the real companions and the fallback stubs.
pub struct Companions {
    pub backward: Ident,
    pub grad: Ident,
    pub source: Ident,
    /// `x: f64, w: &[f64; 3], n: usize` (without `mut`).
    pub params: Vec<TokenStream>,
    /// The parameter names, to forward a call.
    pub param_names: Vec<Ident>,
    pub output: TokenStream,
    /// The gradient type `G`.
    pub gradient: TokenStream,
}

impl Companions {
    pub fn new(function: &syn::ItemFn, signature: &SignatureInfo) -> Self {
        let name = &function.sig.ident;
        let differentiable: Vec<_> = signature
            .params
            .iter()
            .filter(|p| p.differentiable)
            .collect();
        let gradient_types: Vec<TokenStream> = differentiable
            .iter()
            .map(|p| match &p.ty {
                Ty::Array {
                    elem,
                    len: Some(len),
                } => {
                    let elem = elem.ident();
                    quote!([#elem; #len])
                }
                Ty::Array { elem, len: None } => {
                    let elem = elem.ident();
                    quote!(::std::vec::Vec<#elem>)
                }
                Ty::Tensor { elem, rank, .. } => {
                    let elem = elem.ident();
                    match rank {
                        Some(1) => quote!(::backprop::ndarray::Array1<#elem>),
                        _ => quote!(::backprop::ndarray::Array2<#elem>),
                    }
                }
                _ => p.ty_tokens.clone(),
            })
            .collect();
        let gradient = match gradient_types.as_slice() {
            [one] => one.clone(),
            many => quote!((#(#many),*)),
        };
        Companions {
            backward: format_ident!("{}_backward", name, span = name.span()),
            grad: format_ident!("{}_grad", name, span = name.span()),
            source: format_ident!("{}_backward_source", name, span = name.span()),
            params: signature
                .params
                .iter()
                .map(|p| {
                    let (ident, ty) = (&p.ident, &p.ty_tokens);
                    quote!(#ident: #ty)
                })
                .collect(),
            param_names: signature.params.iter().map(|p| p.ident.clone()).collect(),
            output: signature.output_tokens.clone(),
            gradient,
        }
    }
}

pub fn emit(
    function: &syn::ItemFn,
    companions: &Companions,
    program: &Program,
    reversed: &Reversed,
) -> TokenStream {
    let Companions {
        backward,
        grad,
        source,
        params,
        param_names,
        output,
        gradient,
    } = companions;
    let vis = &function.vis;
    let name = &function.sig.ident;
    let seed = &reversed.seed;

    let items = &program.items;
    let lines = fused_block(program, reversed, &reversed.forward, &reversed.stmts, false);
    let lines = drop_after_last_use(program, lines);
    let lines = declare_tapes(program, reversed, lines);
    let value = rules::render_bare(program, program.body.value());
    let gradients: Vec<TokenStream> = program
        .params
        .iter()
        .filter(|p| p.differentiable)
        .map(|p| match reversed.grads.get(&p.var) {
            Some(d) => d.to_token_stream(),
            None => zero(program, p.var),
        })
        .collect();
    let gradients = match gradients.as_slice() {
        [one] => one.clone(),
        many => quote!((#(#many),*)),
    };

    let backward_fn = quote! {
        #vis fn #backward(#(#params,)* #seed: #output) -> (#output, #gradient) {
            #(#items)*
            #(#lines)*
            (#value, #gradients)
        }
    };
    let printed = pretty(&backward_fn);
    let doc = format!(
        " Value and vector–Jacobian product of [`{name}`], written by `#[backprop]`.\n\n \
         Runs `{name}` forward, then walks its lines in reverse, seeded with the upstream gradient \
         `{seed}`, and returns `({name}(..), gradients)` with one gradient per differentiable \
         parameter, in signature order.\n\n The generated code:\n\n ```rust,ignore\n{}\n ```",
        printed
            .lines()
            .map(|l| format!(" {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let grad_doc = format!(
        " Value and gradient of [`{name}`]: `{backward}(.., 1.0)`, written by `#[backprop]`."
    );
    let source_doc = format!(" The source of [`{backward}`], as `#[backprop]` generated it.");
    // `f_grad` has `f`'s parameters: what the user allowed on `f` (too many arguments, say)
    // holds for it too.
    let user_allows = function.attrs.iter().filter(|a| a.path().is_ident("allow"));
    quote! {
        #[doc = #doc]
        #[allow(clippy::all, clippy::pedantic, unused_parens, unused_variables, unused_mut, unused_assignments)]
        #backward_fn

        #[doc = #grad_doc]
        #[allow(dead_code)]
        #(#user_allows)*
        #vis fn #grad(#(#params),*) -> (#output, #gradient) {
            // The companions compute `f` themselves; this marks it used, so that a program
            // calling only `f_grad` gets no dead-code warning for the function it annotated
            // (nor a deprecation warning, if it is deprecated).
            #[allow(deprecated)]
            let _ = #name;
            #backward(#(#param_names,)* 1.0)
        }

        #[doc = #source_doc]
        #[allow(dead_code)]
        #vis fn #source() -> &'static str {
            #printed
        }
    }
}

/// The forward lines `nodes`, then their reverse `stmts`; or, where the reverse of one loop
/// (or, with `branches`, one `if`) can run with its forward lines, that node fused with its
/// reverse: the reverse of a loop whose iterations only accumulate (`loss += ..`) runs at the
/// end of each forward iteration, reading that iteration's values (no tape, no recomputation),
/// and the reverse of an `if` runs inside the forward arm that ran. Valid when the reverse
/// statements before the node's (the reverse of the lines after it) read no value computed by
/// the node or after it: they are moved before it.
fn fused_block(
    program: &Program,
    reversed: &Reversed,
    nodes: &[Node],
    stmts: &[BackStmt],
    branches: bool,
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
        .chain(stmts.iter().map(|s| back_stmt(program, reversed, s)))
        .collect()
}

/// `drop(a);` after the last line that reads a forward array `a`: its memory goes back to the
/// allocator while the backward pass still allocates gradients, instead of every array living
/// until the function returns (a larger peak, and fresh pages on every call). When that line
/// hands `a` to a runtime function that computes in its argument's buffer
/// ([`rules::REUSE_BUFFER`]: `log_softmax(&scores, ..)`), `a` is handed over by value instead.
fn drop_after_last_use(program: &Program, mut lines: Vec<TokenStream>) -> Vec<TokenStream> {
    // An array that a view borrows (`a.t()`, `a.view().insert_axis(..)`) lives as long as
    // the view; the view has no buffer to hand over.
    let mut viewed = HashSet::new();
    let mut borrowed_by_constants = HashSet::new();
    for node in &program.body.nodes {
        let Node::Assign(a) = node else { continue };
        if let Prim::Tensor(rules::TensorOp::T | rules::TensorOp::InsertAxis) = a.prim
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
        }
    }
    let arrays: Vec<String> = program
        .body
        .nodes
        .iter()
        .flat_map(crate::ir::Node::targets)
        .filter(|v| !viewed.contains(v))
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

/// `let mut t = Tape::new();` before the first line that pushes on `t`. (A tape that nothing
/// pushes on, that of a loop whose reverse runs inside it, is not declared.) A tape of plain
/// values (floats, counters, shapes) is a `ScalarTape`, whose storage is reused from call to
/// call.
fn declare_tapes(
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
                } else {
                    out.push(quote!(let mut #tape = ::backprop::Tape::new();));
                }
            }
        }
        out.push(line);
    }
    out
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
                    && method == "push"
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
            let body = fused_block(program, reversed, &l.body.nodes, iteration, true);
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
                let lines = fused_block(program, reversed, &block.nodes, &stmts[first..], true);
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

/// Pretty-printed source of one item, for people to read.
pub fn pretty(item: &TokenStream) -> String {
    match syn::parse2::<syn::File>(item.clone()) {
        Ok(file) => prettyplease::unparse(&file),
        Err(_) => item.to_string(),
    }
}

/// A zero gradient for `var`.
fn zero(program: &Program, var: usize) -> TokenStream {
    match &program.vars[var].ty {
        Ty::Array { len: Some(len), .. } => quote!([0.0; #len]),
        Ty::Array { len: None, .. } => {
            let ident = &program.vars[var].ident;
            quote!(::std::vec![0.0; #ident.len()])
        }
        Ty::Tensor { .. } => {
            let ident = &program.vars[var].ident;
            quote!(::backprop::ndarray::Array::zeros(#ident.raw_dim()))
        }
        _ => quote!(0.0),
    }
}

/// An array operand as an owned value: an owned variable itself (`copy`: a copy of it, which
/// leaves it usable), anything else `.to_owned()`.
fn owned_value(program: &Program, operand: &Operand, copy: bool) -> TokenStream {
    match operand {
        Operand::Var(v) if matches!(program.vars[*v].ty, Ty::Tensor { by_ref: false, .. }) => {
            let ident = &program.vars[*v].ident;
            if copy {
                quote!(#ident.clone())
            } else {
                quote!(#ident)
            }
        }
        Operand::Var(v) => {
            let ident = &program.vars[*v].ident;
            quote!(#ident.to_owned())
        }
        other => {
            let value = rules::render_bare(program, other);
            quote!((#value).to_owned())
        }
    }
}

/// `&d_y` as an owned array (`d_y.clone()`); any other expression is already owned.
fn owned(expr: &TokenStream) -> TokenStream {
    match borrowed_name(expr) {
        Some(name) => quote!(#name.clone()),
        None => expr.clone(),
    }
}

/// An expression as a reference: `&d_y` stays, anything else is borrowed.
fn borrowed(expr: &TokenStream) -> TokenStream {
    match borrowed_name(expr) {
        Some(_) => expr.clone(),
        None => quote!(&(#expr)),
    }
}

/// `name` when `expr` is exactly `&name`.
fn borrowed_name(expr: &TokenStream) -> Option<proc_macro2::Ident> {
    let tokens: Vec<proc_macro2::TokenTree> = expr.clone().into_iter().collect();
    match tokens.as_slice() {
        [
            proc_macro2::TokenTree::Punct(p),
            proc_macro2::TokenTree::Ident(name),
        ] if p.as_char() == '&' => Some(name.clone()),
        _ => None,
    }
}

/// One forward line: `let v = expr;` (or a branch, or a loop). `tapes`: push on the tapes what
/// the reverse pass gets back from them (the forward pass; not a line recomputed by the reverse).
pub fn forward_node(program: &Program, node: &Node, tapes: Option<&Reversed>) -> TokenStream {
    match node {
        Node::Assign(assign) => {
            let var = &program.vars[assign.target];
            let ident = &var.ident;
            let float = var.ty.float().unwrap_or(crate::ir::FloatTy::F64);
            let expr = match (&assign.args[..], &var.ty) {
                // A buffer that starts as a copy of an array.
                ([Operand::Var(source)], Ty::Array { len, .. }) if var.buffer => {
                    let source = &program.vars[*source].ident;
                    match len {
                        Some(_) => quote!(#source.clone()),
                        None => quote!(#source.to_vec()),
                    }
                }
                ([Operand::Var(source)], Ty::Tensor { .. }) if var.buffer => {
                    let source = &program.vars[*source].ident;
                    quote!(#source.to_owned())
                }
                _ => rules::forward(&assign.prim, program, &assign.args, float),
            };
            // `let s = 0.0;` later combined with f64 values: say so, or `s.exp()` would not
            // compile on the ambiguous `{float}`.
            let annotation = match (&assign.annotation, &assign.prim, &assign.args[..], &var.ty) {
                (Some(a), ..) => Some(a.clone()),
                (
                    None,
                    Prim::Table { rule, .. },
                    [
                        Operand::Const {
                            ty: Ty::FloatLit, ..
                        },
                    ],
                    Ty::Float(f),
                ) if matches!(rule.syntax, Syntax::Copy) => Some(f.ident().to_token_stream()),
                _ => None,
            };
            // A buffer is declared with its type, which its writes alone may not settle.
            if var.buffer && var.ty.is_tensor() {
                return quote_spanned!(assign.span=> let mut #ident = #expr;);
            }
            if var.buffer {
                let ty = annotation.unwrap_or_else(|| match &var.ty {
                    Ty::Array {
                        elem,
                        len: Some(len),
                    } => {
                        let elem = elem.ident();
                        quote!([#elem; #len])
                    }
                    _ => {
                        let elem = float.ident();
                        quote!(::std::vec::Vec<#elem>)
                    }
                });
                return quote_spanned!(assign.span=> let mut #ident: #ty = #expr;);
            }
            let annotation = annotation.map(|a| quote!(: #a));
            quote_spanned!(assign.span=> let #ident #annotation = #expr;)
        }
        Node::Store(store) => {
            let buffer = &program.vars[store.buffer].ident;
            let (index, value) = (&store.index, rules::render_bare(program, &store.value));
            // A taped buffer keeps the value it overwrites, for the reverse pass.
            let keep = tapes
                .and_then(|t| t.restores.get(&store.buffer))
                .filter(|_| store.saved)
                .map(|tape| quote!(#tape.push(#buffer[#index]);));
            let write = match store.op {
                StoreOp::Set => quote_spanned!(store.span=> #buffer[#index] = #value;),
                StoreOp::Add => quote_spanned!(store.span=> #buffer[#index] += #value;),
                StoreOp::Sub => quote_spanned!(store.span=> #buffer[#index] -= #value;),
            };
            quote!(#keep #write)
        }
        Node::Branch(branch) => {
            let value = branch_expr(
                program,
                &branch.cond,
                &branch.then,
                &branch.otherwise,
                tapes,
            );
            bind_branch(program, branch, value)
        }
        Node::Loop(l) => forward_loop(program, l, tapes, None),
    }
}

/// A forward loop; `fused`: an iteration's reverse, run at the end of each iteration (while
/// the carried variables still hold the values the iteration started with).
fn forward_loop(
    program: &Program,
    l: &crate::ir::Loop,
    tapes: Option<&Reversed>,
    fused: Option<Vec<TokenStream>>,
) -> TokenStream {
    {
        {
            let mut before = Vec::new();
            let mut at_start = Vec::new();
            let mut at_end = Vec::new();
            let mut after = Vec::new();
            for (c, exit) in l.carried.iter().zip(&l.body.results) {
                let inner = &program.vars[c.inner].ident;
                let updated = !matches!(exit, Operand::Var(v) if *v == c.inner);
                // An array is owned by the loop that carries it.
                let array = program.vars[c.inner].ty.is_tensor();
                let (entry, exit) = if array {
                    (
                        owned_value(program, &c.entry, true),
                        owned_value(program, exit, false),
                    )
                } else {
                    (
                        rules::render_bare(program, &c.entry),
                        rules::render_bare(program, exit),
                    )
                };
                let tape = tapes.and_then(|t| t.tapes.get(&c.inner));
                if updated {
                    before.push(quote!(let mut #inner = #entry;));
                } else {
                    before.push(quote!(let #inner = #entry;));
                }
                match tape {
                    // The array an iteration started from goes to the tape as the next one
                    // replaces it: no copy.
                    Some(tape) if array && updated && l.exit.is_none() => {
                        at_end.push(quote!(#tape.push(::std::mem::replace(&mut #inner, #exit));));
                    }
                    Some(tape) => {
                        let value = if array {
                            quote!(#inner.clone())
                        } else {
                            quote!(#inner)
                        };
                        at_start.push(quote!(#tape.push(#value);));
                        if updated {
                            at_end.push(quote!(#inner = #exit;));
                        }
                    }
                    None if updated => at_end.push(quote!(#inner = #exit;)),
                    None => {}
                }
                let after_ident = &program.vars[c.after].ident;
                after.push(quote!(let #after_ident = #inner;));
            }
            let mut body: Vec<TokenStream> = match fused {
                Some(fused) => fused,
                None => l
                    .body
                    .nodes
                    .iter()
                    .map(|n| forward_node(program, n, tapes))
                    .chain(pushes(program, tapes, &l.body.nodes, &l.body.results))
                    .collect(),
            };
            if let Some(exit) = &l.exit {
                // The breaking iteration leaves the carried variables where its first lines
                // left them, and tells the reverse pass that it ran.
                let leave: Vec<TokenStream> = l
                    .carried
                    .iter()
                    .zip(&exit.pre_results)
                    .filter(|(c, r)| !matches!(r, Operand::Var(v) if *v == c.inner))
                    .map(|(c, r)| {
                        let (inner, value) =
                            (&program.vars[c.inner].ident, rules::render_bare(program, r));
                        quote!(#inner = #value;)
                    })
                    .collect();
                let (cond, broke, trips) = (&exit.cond, &exit.broke, &exit.trips);
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
                let kept = pushes(
                    program,
                    tapes,
                    &l.body.nodes[..exit.pre_len],
                    &exit.pre_results,
                );
                body.insert(
                    exit.pre_len,
                    quote!(if #cond { #(#kept)* #(#leave)* #mark break; }),
                );
            }
            match &l.kind {
                LoopKind::For { index, range, rev } => {
                    let index = &program.vars[*index].ident;
                    let range = if *rev {
                        quote!((#range).rev())
                    } else {
                        quote!(#range)
                    };
                    quote_spanned! {l.span=>
                        #(#before)*
                        for #index in #range {
                            #(#at_start)*
                            #(#body)*
                            #(#at_end)*
                        }
                        #(#after)*
                    }
                }
                LoopKind::While { cond, trips } => {
                    // `loop { .. }` is lowered as `while true`, and printed as it was written.
                    let head = if cond.to_string() == "true" {
                        quote!(loop)
                    } else {
                        quote!(while #cond)
                    };
                    quote_spanned! {l.span=>
                    #(#before)*
                    let mut #trips = 0usize;
                    #head {
                        #(#at_start)*
                        #(#body)*
                        #(#at_end)*
                        #trips += 1;
                    }
                    #(#after)*
                    }
                }
            }
        }
    }
}

/// The pushes at the end of a forward block (a loop body, an arm) of what the reverse of the
/// block gets back from tapes: the values the lines `nodes` made, and the trip counts and
/// break records of their loops. A buffer or an array is handed to its tape, unless the
/// block's `results` still read it.
fn pushes(
    program: &Program,
    tapes: Option<&Reversed>,
    nodes: &[Node],
    results: &[Operand],
) -> Vec<TokenStream> {
    let Some(tapes) = tapes else {
        return Vec::new();
    };
    let mut read = HashSet::new();
    results
        .iter()
        .for_each(|r| crate::ir::idents_in(rules::render(program, r), &mut read));
    let mut out = Vec::new();
    for node in nodes {
        for t in node.targets() {
            if let Some(tape) = tapes.shapes.get(&t) {
                let ident = &program.vars[t].ident;
                out.push(quote!(#tape.push(#ident.raw_dim());));
            }
            if let Some(tape) = tapes.records.get(&t) {
                let var = &program.vars[t];
                let ident = &var.ident;
                let copied = matches!(var.ty, Ty::Float(_) | Ty::FloatLit | Ty::Other)
                    || matches!(var.ty, Ty::Array { len: Some(_), .. });
                if copied || !read.contains(&ident.to_string()) {
                    out.push(quote!(#tape.push(#ident);));
                } else {
                    out.push(quote!(#tape.push(#ident.clone());));
                }
            }
        }
        if let Node::Loop(l) = node {
            for c in crate::record::counters(l) {
                if let Some(tape) = tapes.counts.get(&c) {
                    let ident = proc_macro2::Ident::new(&c, proc_macro2::Span::call_site());
                    out.push(quote!(#tape.push(#ident);));
                }
            }
        }
    }
    out
}

/// `let target = value;` (or a tuple of targets) for a branch's `if` expression.
fn bind_branch(program: &Program, branch: &crate::ir::Branch, value: TokenStream) -> TokenStream {
    let idents: Vec<&proc_macro2::Ident> = branch
        .targets
        .iter()
        .map(|t| &program.vars[*t].ident)
        .collect();
    match idents.as_slice() {
        // An `if` that only writes into buffers.
        [] => quote_spanned!(branch.span=> #value),
        [one] => quote_spanned!(branch.span=> let #one = #value;),
        many => quote_spanned!(branch.span=> let (#(#many),*) = #value;),
    }
}

fn branch_expr(
    program: &Program,
    cond: &TokenStream,
    then: &Block,
    otherwise: &Block,
    tapes: Option<&Reversed>,
) -> TokenStream {
    let then = block_expr(program, then, tapes);
    // `else { let v = if .. ; v }` reads better as `else if ..`.
    let results_are = |targets: &[usize]| {
        otherwise.results.len() == targets.len()
            && otherwise
                .results
                .iter()
                .zip(targets)
                .all(|(r, t)| matches!(r, Operand::Var(v) if v == t))
    };
    let otherwise = match &otherwise.nodes[..] {
        [Node::Branch(inner)]
            if results_are(&inner.targets)
                && tapes.is_none_or(|t| {
                    pushes(program, Some(t), &otherwise.nodes, &otherwise.results).is_empty()
                }) =>
        {
            branch_expr(program, &inner.cond, &inner.then, &inner.otherwise, tapes)
        }
        _ => block_expr(program, otherwise, tapes),
    };
    quote!(if #cond #then else #otherwise)
}

fn block_expr(program: &Program, block: &Block, tapes: Option<&Reversed>) -> TokenStream {
    let kept = pushes(program, tapes, &block.nodes, &block.results);
    // `{ let r_mul = a * b; r_mul }` reads better as `{ a * b }`.
    if let (Some((Node::Assign(last), rest)), [Operand::Var(result)], true) = (
        block.nodes.split_last(),
        &block.results[..],
        kept.is_empty(),
    ) && last.target == *result
    {
        let nodes = rest.iter().map(|n| forward_node(program, n, tapes));
        let float = program.vars[*result]
            .ty
            .float()
            .unwrap_or(crate::ir::FloatTy::F64);
        let value = rules::forward(&last.prim, program, &last.args, float);
        return quote!({ #(#nodes)* #value });
    }
    let nodes = block
        .nodes
        .iter()
        .map(|n| forward_node(program, n, tapes))
        .chain(kept);
    let results: Vec<TokenStream> = block
        .results
        .iter()
        .map(|r| rules::render_bare(program, r))
        .collect();
    match results.as_slice() {
        [] => quote!({ #(#nodes)* }),
        [one] => quote!({ #(#nodes)* #one }),
        many => quote!({ #(#nodes)* (#(#many),*) }),
    }
}

fn back_stmt(program: &Program, reversed: &Reversed, stmt: &BackStmt) -> TokenStream {
    let lines = |stmts: &[BackStmt]| -> Vec<TokenStream> {
        stmts
            .iter()
            .map(|s| back_stmt(program, reversed, s))
            .collect()
    };
    let grad = |var: &usize| {
        reversed
            .grads
            .get(var)
            .cloned()
            .unwrap_or_else(|| program.vars[*var].ident.clone())
    };
    match stmt {
        BackStmt::Forward(node) => forward_node(program, node, None),
        BackStmt::Pop { name, tape, popped } => match popped {
            Popped::Value => quote!(let #name = #tape.pop();),
            Popped::Buffer => quote!(let mut #name = #tape.pop();),
            Popped::Shape => quote!(let #name = ::backprop::Shape(#tape.pop());),
        },
        BackStmt::Setup(tokens) => tokens.clone(),
        BackStmt::Init {
            var, expr, sum_to, ..
        } => {
            let d = grad(var);
            let value = match (&program.vars[*var].ty, sum_to) {
                // A borrowed gradient is reduced in place, not copied first.
                (Ty::Tensor { .. }, true) => {
                    let like = rules::render(program, &Operand::Var(*var));
                    match borrowed_name(expr) {
                        Some(_) => quote!(::backprop::sum_to_ref(#expr, #like)),
                        None => quote!(::backprop::sum_to(#expr, #like)),
                    }
                }
                (Ty::Tensor { .. }, false) => owned(expr),
                _ => expr.clone(),
            };
            if reversed.storage.contains(var) {
                quote!(#d = #value;)
            } else if reversed.mutable.contains(var) {
                quote!(let mut #d = #value;)
            } else {
                quote!(let #d = #value;)
            }
        }
        BackStmt::Accumulate {
            var,
            element: None,
            expr,
            sum_to,
            product,
            ..
        } => {
            let d = grad(var);
            match (&program.vars[*var].ty, sum_to) {
                (Ty::Tensor { .. }, false) if product.is_some() => {
                    let (a, b) = product.clone().unwrap_or_default();
                    quote!(::backprop::ndarray::linalg::general_mat_mul(1.0, &#a, &#b, 1.0, &mut #d);)
                }
                (Ty::Array { .. }, _) => quote!(::backprop::accumulate(&mut #d, #expr);),
                (Ty::Tensor { .. }, true) => {
                    let expr = borrowed(expr);
                    quote!(::backprop::add_to(&mut #d, #expr);)
                }
                (Ty::Tensor { .. }, false) => {
                    let expr = borrowed(expr);
                    quote!(#d += #expr;)
                }
                _ => quote!(#d += #expr;),
            }
        }
        BackStmt::Accumulate {
            var,
            element: Some(index),
            expr,
            ..
        } => {
            let d = grad(var);
            if crate::ir::is_range(index) {
                quote!(::backprop::accumulate_slice(&mut #d[#index], #expr);)
            } else {
                quote!(#d[#index] += #expr;)
            }
        }
        BackStmt::SetElement { var, index, expr } => {
            let d = grad(var);
            quote!(#d[#index] = #expr;)
        }
        BackStmt::Zero { var } => {
            let d = grad(var);
            let zero = zero(program, *var);
            if reversed.storage.contains(var) {
                quote!(#d = #zero;)
            } else {
                quote!(let mut #d = #zero;)
            }
        }
        BackStmt::Raw(tokens) => tokens.clone(),
        BackStmt::Guarded { head, body } => {
            let body = lines(body);
            quote!(#head { #(#body)* })
        }
        BackStmt::For {
            index,
            range,
            rev,
            body,
            ..
        } => {
            let body = lines(body);
            let range = if *rev {
                quote!((#range).rev())
            } else {
                quote!(#range)
            };
            quote!(for #index in #range { #(#body)* })
        }
        BackStmt::If {
            cond,
            then,
            otherwise,
            ..
        } => {
            let then = lines(then);
            let otherwise = lines(otherwise);
            if otherwise.is_empty() {
                quote!(if #cond { #(#then)* })
            } else if then.is_empty() {
                quote!(if !(#cond) { #(#otherwise)* })
            } else {
                quote!(if #cond { #(#then)* } else { #(#otherwise)* })
            }
        }
    }
}
