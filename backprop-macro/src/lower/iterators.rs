//! Iterators, read as the index loops they stand for. A loop over elements (`for v in &r`,
//! `r.iter().enumerate()`, `x.iter().zip(&y)`, `&x[1..]`, `h.iter_mut()`, `for x in xs` of a
//! slice of ndarray arrays) becomes `for k in a..b { let v = r[k]; .. }`; a reduction of an
//! iterator (`r.iter().map(|v| v * v).sum::<f64>()`, `.product()`, `.fold(init, f64::max)`,
//! `(0..n).map(|i| x[i] * y[i]).sum()`) becomes an accumulator and such a loop. Both are then
//! lowered as if the user had written them, so that they need no rule of their own.

use proc_macro2::{Ident, TokenStream};
use quote::{ToTokens, quote};
use syn::spanned::Spanned;
use syn::visit_mut::VisitMut;
use syn::{Expr, Pat, Stmt};

use crate::ir::Ty;

use super::Lowerer;
use super::expressions::strip_parens;

/// What an element loop runs over: arrays read in step (`zip`), counted (`enumerate`).
enum Source {
    Lane(Box<Lane>),
    Zip(Box<Source>, Box<Source>),
    Enumerate(Box<Source>),
}

/// One array an element loop reads: `x`, a part `x[a..b]`, written through `iter_mut`.
#[derive(Clone)]
struct Lane {
    array: syn::ExprPath,
    start: Option<Expr>,
    end: Option<Expr>,
    mutable: bool,
    /// A slice of ndarray arrays (`xs: &[Array2<f64>]`): its element is read where it is used,
    /// `xs[k].dot(wx)`, with no copy.
    tensors: bool,
}

/// How a lane's element is bound in the loop's body.
enum Element {
    /// `let v = x[k];`
    Let(Ident, Expr),
    /// `xs[k]` (or `h[k]` written through `iter_mut`) in place of `v` where it is used.
    Substitute(Ident, Expr),
}

impl Lowerer<'_> {
    /// `for v in &r { .. }` and the other loops over elements (see the module): the same loop
    /// over the indices. `None` when `for_loop` runs over no such iterator.
    pub(super) fn loop_over_elements(
        &mut self,
        for_loop: &syn::ExprForLoop,
    ) -> Option<syn::ExprForLoop> {
        let (expr, rev) = match strip_parens(&for_loop.expr) {
            Expr::MethodCall(call) if call.method == "rev" && call.args.is_empty() => {
                (strip_parens(&call.receiver), true)
            }
            expr => (expr, false),
        };
        let source = self.source(expr)?;
        let mut lanes = Vec::new();
        let mut counters = Vec::new();
        bind(&source, &for_loop.pat, &mut lanes, &mut counters)?;
        let span = for_loop.span();
        // A single array runs over its own indices (`for k in 1..x.len()` of `&x[1..]`); arrays
        // in step over the shortest one's, each read at its own offset.
        let single = lanes.len() == 1;
        let index = match (&counters[..], single && lanes[0].0.start.is_some()) {
            ([i], false) => i.clone(),
            _ => self.namer.fresh("k"),
        };
        let range = if single {
            let lane = &lanes[0].0;
            let array = &lane.array;
            let start = lane.start.clone().unwrap_or_else(|| syn::parse_quote!(0));
            let end = lane
                .end
                .clone()
                .unwrap_or_else(|| syn::parse_quote!(#array.len()));
            if rev {
                quote!((#start..#end).rev())
            } else {
                quote!(#start..#end)
            }
        } else {
            let lengths: Vec<TokenStream> = lanes.iter().map(|(l, _)| l.len()).collect();
            let (first, rest) = lengths.split_first()?;
            // (A reversed `zip` of slices starts at the shorter one's end, as this does.)
            if rev {
                quote!((0..#first #(.min(#rest))*).rev())
            } else {
                quote!(0..#first #(.min(#rest))*)
            }
        };
        let mut elements = Vec::new();
        for (lane, pat) in &lanes {
            let array = &lane.array;
            let at = match (&lane.start, single) {
                (Some(start), false) => quote!(#start + #index),
                _ => index.to_token_stream(),
            };
            let value: Expr = syn::parse_quote!(#array[#at]);
            let Some(ident) = element_ident(pat)? else {
                continue;
            };
            // The element read where it is used (`sq += x[k] * x[k]`, as the index loop
            // reads it: no copy for the reverse pass to keep), unless a binding of the body
            // shadows its name or the pattern makes it mutable.
            let mutable_pattern = matches!(pat, Pat::Ident(p) if p.mutability.is_some());
            elements.push(
                if lane.tensors
                    || lane.mutable
                    || !(mutable_pattern || binds(&for_loop.body, &ident))
                {
                    Element::Substitute(ident, value)
                } else {
                    Element::Let(ident, value)
                },
            );
        }
        let mut body = for_loop.body.clone();
        let mut lets: Vec<Stmt> = Vec::new();
        for counter in &counters {
            if *counter == index {
                continue;
            }
            let start = lanes
                .iter()
                .find_map(|(l, _)| l.start.clone())
                .filter(|_| single);
            lets.push(match start {
                Some(start) => syn::parse_quote!(let #counter = #index - (#start);),
                None => syn::parse_quote!(let #counter = #index;),
            });
        }
        for element in elements {
            match element {
                Element::Let(ident, value) => lets.push(syn::parse_quote!(let #ident = #value;)),
                Element::Substitute(ident, value) => {
                    Substitute(&ident, &value).visit_block_mut(&mut body);
                }
            }
        }
        let stmts = &body.stmts;
        let range: Expr = syn::parse2(range).ok()?;
        Some(syn::parse_quote_spanned! {span=>
            for #index in #range {
                #(#lets)*
                #(#stmts)*
            }
        })
    }

    /// The source of an element loop, or `None` when `expr` is not one.
    fn source(&self, expr: &Expr) -> Option<Source> {
        let expr = strip_parens(expr);
        if let Expr::MethodCall(call) = expr {
            let method = call.method.to_string();
            match (method.as_str(), call.args.len()) {
                ("enumerate", 0) => {
                    return Some(Source::Enumerate(Box::new(self.source(&call.receiver)?)));
                }
                ("zip", 1) => {
                    return Some(Source::Zip(
                        Box::new(self.source(&call.receiver)?),
                        Box::new(Source::Lane(Box::new(self.lane(&call.args[0])?))),
                    ));
                }
                ("copied" | "cloned", 0) => return self.source(&call.receiver),
                _ => {}
            }
        }
        self.lane(expr).map(|lane| Source::Lane(Box::new(lane)))
    }

    /// `x`, `&x`, `&mut x`, `x.iter()`, `x.iter_mut()`, `x.into_iter()`, each also of a part
    /// `x[a..b]`, of an array the function knows.
    fn lane(&self, expr: &Expr) -> Option<Lane> {
        let (expr, mutable) = match strip_parens(expr) {
            Expr::Reference(r) => (strip_parens(&r.expr), r.mutability.is_some()),
            Expr::MethodCall(call) if call.args.is_empty() => {
                match call.method.to_string().as_str() {
                    "iter" | "into_iter" => (strip_parens(&call.receiver), false),
                    "iter_mut" => (strip_parens(&call.receiver), true),
                    _ => return None,
                }
            }
            expr => (expr, false),
        };
        let (array, start, end) = match expr {
            Expr::Index(index) => {
                let Expr::Range(range) = strip_parens(&index.index) else {
                    return None;
                };
                if matches!(range.limits, syn::RangeLimits::Closed(_)) {
                    return None;
                }
                let (start, end) = (range.start.as_deref(), range.end.as_deref());
                (strip_parens(&index.expr), start.cloned(), end.cloned())
            }
            expr => (expr, None, None),
        };
        let Expr::Path(array) = array else {
            return None;
        };
        let binding = self.lookup_path(array)?;
        let tensors = match &self.vars[binding.var].ty {
            Ty::Array { .. } | Ty::Other => false,
            Ty::Tensor { rank: Some(1), .. } => false,
            Ty::Tensors { .. } => true,
            _ => return None,
        };
        // The parts of a slice of arrays are read whole (`for x in xs`).
        if tensors && (start.is_some() || end.is_some() || mutable) {
            return None;
        }
        Some(Lane {
            array: array.clone(),
            start,
            end,
            mutable,
            tensors,
        })
    }

    /// `r.iter().map(|v| v * v).sum::<f64>()` and the other reductions of the module's doc:
    /// `let mut acc = init; for .. { acc = acc ⊕ e; }`, lowered, and the accumulator's name.
    /// `None` when `call` is no such reduction (or its iterator no element loop).
    pub(super) fn reduction(&mut self, call: &syn::ExprMethodCall, hint: &str) -> Option<Ident> {
        let span = call.span();
        let method = call.method.to_string();
        // The combining step, as a function of the accumulator and the element's value.
        enum Step {
            Add,
            Mul,
            Method(Ident),
            /// `|acc, v| body`: the accumulator's name, the element's pattern, the body.
            Fold(Ident, Pat, Box<Expr>),
        }
        let (init, step, base): (Expr, Step, String) = match (method.as_str(), call.args.len()) {
            ("sum", 0) => (syn::parse_quote!(0.0), Step::Add, format!("{hint}_sum")),
            ("product", 0) => (syn::parse_quote!(1.0), Step::Mul, format!("{hint}_product")),
            ("fold", 2) => {
                let init = call.args[0].clone();
                match strip_parens(&call.args[1]) {
                    // `f64::max`, `f64::min`.
                    Expr::Path(path)
                        if path.path.segments.len() == 2
                            && ["max", "min"]
                                .contains(&path.path.segments[1].ident.to_string().as_str()) =>
                    {
                        let m = path.path.segments[1].ident.clone();
                        let base = format!("{hint}_{m}");
                        (init, Step::Method(m), base)
                    }
                    Expr::Closure(closure) if closure.inputs.len() == 2 => {
                        let Pat::Ident(acc) = &closure.inputs[0] else {
                            return None;
                        };
                        let name = acc.ident.to_string();
                        let element = closure.inputs[1].clone();
                        (
                            init,
                            Step::Fold(acc.ident.clone(), element, closure.body.clone()),
                            name,
                        )
                    }
                    _ => return None,
                }
            }
            _ => return None,
        };
        let acc = self.namer.fresh(&base);
        // The element: the closure of a last `map`, or the iterator's own.
        let mut iter = strip_parens(&call.receiver);
        let mut map = None;
        if let Expr::MethodCall(m) = iter
            && m.method == "map"
            && let [Expr::Closure(closure)] = m.args.iter().collect::<Vec<_>>().as_slice()
            && closure.inputs.len() == 1
        {
            map = Some((closure.inputs[0].clone(), (*closure.body).clone()));
            iter = strip_parens(&m.receiver);
        }
        let (pat, value): (Pat, Option<Expr>) = match (map, &step) {
            (Some((pat, body)), _) => (pat, Some(body)),
            // The fold's own element pattern.
            (None, Step::Fold(_, element, _)) => (element.clone(), None),
            (None, _) => {
                let v = Ident::new("v", span);
                (syn::parse_quote!(#v), Some(syn::parse_quote!(#v)))
            }
        };
        let combine: Vec<Stmt> = match (step, value) {
            (Step::Add, Some(value)) => vec![syn::parse_quote_spanned!(span=> #acc += #value;)],
            (Step::Mul, Some(value)) => vec![syn::parse_quote_spanned!(span=> #acc *= #value;)],
            (Step::Method(m), Some(value)) => {
                vec![syn::parse_quote_spanned!(span=> #acc = #acc.#m(#value);)]
            }
            (Step::Fold(name, element, body), value) => {
                let mut body = *body;
                Rename(&name, &acc).visit_expr_mut(&mut body);
                let mut stmts = Vec::new();
                if let Some(value) = value {
                    stmts.push(syn::parse_quote_spanned!(span=> let #element = #value;));
                }
                stmts.push(syn::parse_quote_spanned!(span=> #acc = #body;));
                stmts
            }
            _ => return None,
        };
        let stmts: Vec<Stmt> = vec![
            syn::parse_quote_spanned!(span=> let mut #acc = #init;),
            Stmt::Expr(
                syn::parse_quote_spanned!(span=> for #pat in #iter { #(#combine)* }),
                None,
            ),
        ];
        // The loop must be one that `lower_for` reads: over a range (or `(a..b).rev()`) or
        // over elements.
        let Stmt::Expr(Expr::ForLoop(for_loop), _) = &stmts[1] else {
            return None;
        };
        let range = match strip_parens(&for_loop.expr) {
            Expr::MethodCall(m) if m.method == "rev" && m.args.is_empty() => {
                strip_parens(&m.receiver)
            }
            expr => expr,
        };
        if !matches!(range, Expr::Range(_)) && self.loop_over_elements(for_loop).is_none() {
            return None;
        }
        // (The function's own statements are validated as they are lowered.)
        if self.scopes.len() != 1 {
            for stmt in &stmts {
                crate::validate::validate_stmt(stmt, self.errors);
            }
        }
        self.lower_body_value(&stmts, span, hint, false);
        Some(acc)
    }
}

impl Lane {
    /// The number of elements the lane reads. The bounds are parenthesised: `x[j + 1..]` has
    /// `x.len() - (j + 1)` elements, not `x.len() - j + 1`.
    fn len(&self) -> TokenStream {
        let array = &self.array;
        match (&self.start, &self.end) {
            (None, None) => quote!(#array.len()),
            (Some(a), None) => quote!((#array.len() - (#a))),
            (None, Some(b)) => quote!((#b)),
            (Some(a), Some(b)) => quote!(((#b) - (#a))),
        }
    }
}

/// Matches the loop's pattern against its source: each lane with its element's pattern, and
/// the counters of `enumerate`. `None` when the shapes differ.
fn bind(
    source: &Source,
    pat: &Pat,
    lanes: &mut Vec<(Lane, Pat)>,
    counters: &mut Vec<Ident>,
) -> Option<()> {
    let pat = match pat {
        Pat::Paren(p) => &*p.pat,
        pat => pat,
    };
    match source {
        Source::Lane(lane) => lanes.push(((**lane).clone(), pat.clone())),
        Source::Zip(a, b) => {
            let Pat::Tuple(t) = pat else { return None };
            let [pa, pb] = t.elems.iter().collect::<Vec<_>>()[..] else {
                return None;
            };
            bind(a, pa, lanes, counters)?;
            bind(b, pb, lanes, counters)?;
        }
        Source::Enumerate(inner) => {
            let Pat::Tuple(t) = pat else { return None };
            let [Pat::Ident(i), element] = t.elems.iter().collect::<Vec<_>>()[..] else {
                return None;
            };
            counters.push(i.ident.clone());
            bind(inner, element, lanes, counters)?;
        }
    }
    Some(())
}

/// The name an element's pattern binds (`v`, `&v`), `Some(None)` for `_`; `None` for another
/// pattern.
fn element_ident(pat: &Pat) -> Option<Option<Ident>> {
    match pat {
        Pat::Reference(r) => element_ident(&r.pat),
        Pat::Ident(p) if p.subpat.is_none() && p.by_ref.is_none() => Some(Some(p.ident.clone())),
        Pat::Wild(_) => Some(None),
        _ => None,
    }
}

/// Whether a pattern in `body` (a `let`, a closure's parameter, an inner loop's) binds `ident`.
fn binds(body: &syn::Block, ident: &Ident) -> bool {
    struct Binds<'a>(&'a Ident, bool);
    impl<'ast> syn::visit::Visit<'ast> for Binds<'_> {
        fn visit_pat_ident(&mut self, p: &'ast syn::PatIdent) {
            self.1 |= p.ident == *self.0;
        }
    }
    let mut binds = Binds(ident, false);
    syn::visit::Visit::visit_block(&mut binds, body);
    binds.1
}

/// Replaces the reads of an element (`v`, and `*v` of `iter_mut`) by the array's element.
struct Substitute<'a>(&'a Ident, &'a Expr);

impl VisitMut for Substitute<'_> {
    fn visit_expr_mut(&mut self, expr: &mut Expr) {
        let is_element =
            |e: &Expr| matches!(strip_parens(e), Expr::Path(p) if p.path.is_ident(self.0));
        let read = match &*expr {
            Expr::Unary(unary) if matches!(unary.op, syn::UnOp::Deref(_)) => {
                is_element(&unary.expr)
            }
            e => is_element(e),
        };
        if read {
            *expr = self.1.clone();
        } else {
            syn::visit_mut::visit_expr_mut(self, expr);
        }
    }
}

/// Renames a variable (a `fold` closure's accumulator) in an expression.
struct Rename<'a>(&'a Ident, &'a Ident);

impl VisitMut for Rename<'_> {
    fn visit_expr_path_mut(&mut self, path: &mut syn::ExprPath) {
        if path.path.is_ident(self.0) {
            path.path = self.1.clone().into();
        }
    }
}
