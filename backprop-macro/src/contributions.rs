//! A line's contributions to its operands' gradients, assembled from its rule in the table:
//! the shapes they meet (a broadcast operand's gradient summed back to its shape, a scalar's
//! summed over the array, a matrix product added in place), the gradient-only functions of the
//! runtime's tensor gates, and the composition contract (a call of `g_backward`, or of the
//! closure `g_forward` returned, in split mode). The ownership alternatives (the upstream
//! handed over by value, a gradient left unwritten) are offered here and chosen by the sweep
//! (`reverse/ownership.rs`). No local gradient is written here: those are the table's.

use proc_macro2::{Ident, TokenStream};
use quote::{ToTokens, quote};

use crate::ir::{Operand, Program, Ty};
use crate::rules::gates::gate_gradient;
use crate::rules::render::{element_name, with_references};
use crate::rules::tensors::{matrix_factors, tensor_grad};
use crate::rules::{self, Local, Prim, TensorOp};

/// The first of `candidates` that none of `others` mentions and that is not `taken` (the last
/// one otherwise): a closure parameter that shadows nothing the closure reads.
pub(crate) fn fresh_among(others: &[TokenStream], candidates: &[&str], taken: &[&Ident]) -> Ident {
    let mut names = std::collections::HashSet::new();
    others
        .iter()
        .for_each(|t| crate::ir::idents_in(t.clone(), &mut names));
    let last = candidates.last().copied().unwrap_or("elem_");
    candidates
        .iter()
        .map(|n| Ident::new(n, proc_macro2::Span::call_site()))
        .find(|n| !names.contains(&n.to_string()) && !taken.contains(&n))
        .unwrap_or_else(|| Ident::new(last, proc_macro2::Span::call_site()))
}

/// Operand positions of `prim` whose gradient can be non-zero.
pub fn differentiable_positions(prim: &Prim, args: &[Operand]) -> Vec<usize> {
    match prim {
        Prim::Table { rule, .. } => rule.differentiable.to_vec(),
        Prim::Cast(_) => vec![0],
        Prim::Tensor(TensorOp::Dot) => vec![0, 1],
        Prim::Tensor(TensorOp::Concat { .. }) => (0..args.len()).collect(),
        Prim::Tensor(TensorOp::Map { wrt, .. }) => std::iter::once(0)
            .chain((0..wrt.len()).filter(|&k| wrt[k]).map(|k| k + 1))
            .collect(),
        Prim::Tensor(_) => vec![0],
        // The written float arguments, and the fields of the structs passed whole.
        Prim::Call { structs, .. } => (0..written_arguments(prim, args))
            .filter(|&i| is_float_argument(&args[i], args))
            .chain(
                structs
                    .iter()
                    .flat_map(|s| s.fields.iter().map(|(i, _)| *i)),
            )
            .collect(),
        // The call gathers its parts' gradients (see `Prim::Field`).
        Prim::Field(_) => Vec::new(),
        Prim::Tuple(_) => (0..args.len()).collect(),
    }
}

/// How many of a call's operands are its written arguments (the rest are the fields of the
/// structs it passes whole).
pub fn written_arguments(prim: &Prim, args: &[Operand]) -> usize {
    match prim {
        Prim::Call { structs, .. } => {
            args.len() - structs.iter().map(|s| s.fields.len()).sum::<usize>()
        }
        _ => args.len(),
    }
}

/// Where a call's `_backward` returns operand `i`'s gradient: `.k` of its component (one per
/// float argument and per struct argument, in order; none when there is one), then for a
/// struct's field its place in that component's struct (`.w`).
fn call_gradient(prim: &Prim, args: &[Operand], i: usize) -> TokenStream {
    let Prim::Call { structs, .. } = prim else {
        return TokenStream::new();
    };
    let written = written_arguments(prim, args);
    let (position, place) = structs
        .iter()
        .find_map(|s| {
            s.fields
                .iter()
                .find(|(j, _)| *j == i)
                .map(|(_, place)| (s.position, place.clone()))
        })
        .unwrap_or((i, TokenStream::new()));
    let components: Vec<usize> = (0..written)
        .filter(|&p| is_float_argument(&args[p], args) || structs.iter().any(|s| s.position == p))
        .collect();
    if components.len() == 1 {
        return place;
    }
    let k = syn::Index::from(components.iter().position(|&p| p == position).unwrap_or(0));
    quote!(.#k #place)
}

/// A call's float arguments are the callee's differentiable parameters (its default, without
/// `wrt`), so they are the components of the gradient its `_backward` returns.
fn is_float_argument(arg: &Operand, _all: &[Operand]) -> bool {
    match arg {
        Operand::Var(_) | Operand::Element { .. } => true,
        Operand::Const { ty, .. } => matches!(
            ty,
            Ty::Float(_) | Ty::FloatLit | Ty::Array { .. } | Ty::Tensor { .. }
        ),
    }
}

/// A contribution `d_operand += expr`.
pub struct Contribution {
    pub operand: usize,
    /// The contribution has the shape of the line's output, which ndarray may have broadcast
    /// from the operand's: it is summed back to the operand's shape (`sum_to`).
    pub sum_to: bool,
    pub expr: TokenStream,
    /// `expr` is the matrix product `a.dot(&b)` of these factors: a later contribution adds it
    /// in place (`general_mat_mul`), without a temporary.
    pub product: Option<(TokenStream, TokenStream)>,
    /// `expr` with the upstream gradient handed over by value instead of borrowed (a
    /// gradient-only gate computes in its buffer), for when nothing reads it afterwards.
    pub moved: Option<TokenStream>,
    /// The gradient not written out (see [`GateRule::unwritten`]).
    pub unwritten: Option<TokenStream>,
    /// `expr` is the gradient of a part of the operand (`row_mut(i)`, `slice_mut(s![..])`):
    /// added into that part of its gradient.
    pub region: Option<TokenStream>,
}

/// What the reverse sweep emits for one line.
pub struct Backward {
    /// Statements that must run before the contributions (a call to `g_backward`).
    pub setup: Vec<TokenStream>,
    pub contributions: Vec<Contribution>,
}

/// The local gradients of one line, for the operand positions in `wanted`.
///
/// `scratch` is a fresh name a rule may bind (the gradients returned by `g_backward`).
pub fn backward(
    prim: &Prim,
    local: &Local,
    program: &Program,
    args: &[Operand],
    out: &Ty,
    wanted: &[usize],
    scratch: &Ident,
) -> Backward {
    let d = &local.d;
    let contribution = |operand, expr| Contribution {
        operand,
        sum_to: false,
        expr,
        product: None,
        moved: None,
        unwritten: None,
        region: None,
    };
    match prim {
        Prim::Field(_) => Backward {
            setup: Vec::new(),
            contributions: Vec::new(),
        },
        // (h, c): d_h = d_out.0, d_c = d_out.1.
        Prim::Tuple(parts) => {
            let d = &local.d_name;
            Backward {
                setup: Vec::new(),
                contributions: parts
                    .leaves()
                    .into_iter()
                    .filter(|(_, i)| wanted.contains(i))
                    .map(|(at, i)| {
                        let at = at.into_iter().map(syn::Index::from);
                        contribution(i, quote!(#d #(.#at)*))
                    })
                    .collect(),
            }
        }
        // y = x * x: one contribution 2 x d instead of x d twice (for an array, one pass and
        // one allocation instead of three).
        Prim::Table { rule, .. }
            if rule.name == "mul" && wanted == [0, 1] && same_operand(&args[0], &args[1]) =>
        {
            let x = local.x(0);
            Backward {
                setup: Vec::new(),
                contributions: vec![contribution(0, quote!(2.0 * #x * #d))],
            }
        }
        // A comparison on every element of an array with scalar bounds (`v.max(c)` in
        // `z.mapv(|v| ..)`): the rule's scalar template, applied to each element with its
        // upstream gradient; a bound's gradient is the sum over the elements.
        Prim::Table { rule, .. }
            if out.is_tensor() && rules::ELEMENTWISE_SCALAR_METHODS.contains(&rule.name) =>
        {
            let array = local.r(0);
            let others: Vec<TokenStream> = (0..args.len())
                .map(|k| local.x(k).clone())
                .chain(std::iter::once(d.clone()))
                .collect();
            let e = element_name(&others);
            let d_e = fresh_among(&others, &["d_e", "d_element", "d_elem_"], &[&e]);
            let element_args: Vec<TokenStream> = std::iter::once(quote!(#e))
                .chain((1..args.len()).map(|k| local.x(k).clone()))
                .collect();
            // The upstream is an array, or one value for every element (before a `.sum()`).
            let zipped = local.upstream_by_value().is_some();
            let d_element = if zipped { quote!(#d_e) } else { d.clone() };
            let element = Local::element(element_args, d_element, local.float);
            Backward {
                setup: Vec::new(),
                contributions: wanted
                    .iter()
                    .map(|&i| {
                        let template = (rule.grad)(&element, i);
                        let each = if zipped {
                            quote!(::backprop::ndarray::Zip::from(#array.view()).and(#d).map_collect(|&#e, &#d_e| #template))
                        } else {
                            quote!(#array.mapv(|#e| #template))
                        };
                        let expr = if i == 0 { each } else { quote!((#each).sum()) };
                        // The array's gradient in the upstream's buffer when nothing else
                        // reads the upstream (a ReLU's mask applied in place).
                        let moved = (i == 0 && zipped).then(|| {
                            let d_name = &local.d_name;
                            quote!(::backprop::map_upstream(#d_name, &#array.view(), |#e, #d_e| #template))
                        });
                        Contribution {
                            moved,
                            ..contribution(i, expr)
                        }
                    })
                    .collect(),
            }
        }
        Prim::Table { rule, .. } => Backward {
            setup: Vec::new(),
            contributions: by_rank(program, args, wanted)
                .into_iter()
                .map(|i| {
                    let expr = (rule.grad)(local, i);
                    match (out.is_tensor(), program.ty_of(&args[i])) {
                        // A scalar operand of an array line met every element: add them up.
                        (true, ty) if !ty.is_tensor() => contribution(i, quote!((#expr).sum())),
                        // ndarray may have broadcast the operand against another array (a bias
                        // row added to every row); not against a scalar or against itself.
                        (true, _)
                            if rule.arity == 2
                                && may_broadcast(program, &args[i], &args[1 - i]) =>
                        {
                            Contribution {
                                operand: i,
                                sum_to: true,
                                expr,
                                product: None,
                                moved: None,
                                unwritten: None,
                                region: None,
                            }
                        }
                        _ => contribution(i, expr),
                    }
                })
                .collect(),
        },
        // y = x as T: the gradient flows back converted to x's type.
        Prim::Cast(to) => {
            let expr = match program.float_of(&args[0]) {
                Some(from) if from != *to => {
                    let from = from.ident();
                    quote!(#d as #from)
                }
                _ => quote!(#d),
            };
            Backward {
                setup: Vec::new(),
                contributions: vec![contribution(0, expr)],
            }
        }
        // `a.mapv(closure)` of a scalar function `g(v, captures..)`: its backward applied to
        // every element with its upstream gradient; a capture's gradient is summed.
        Prim::Tensor(TensorOp::Map { backward, wrt, .. }) => {
            let array = local.r(0);
            let captures: Vec<TokenStream> =
                (1..args.len()).map(|k| local.bare[k].clone()).collect();
            let others: Vec<TokenStream> = captures
                .iter()
                .cloned()
                .chain([array.clone(), d.clone(), backward.to_token_stream()])
                .collect();
            let e = element_name(&others);
            let d_e = fresh_among(&others, &["d_e", "d_element", "d_elem_"], &[&e]);
            let zipped = local.upstream_by_value().is_some();
            let d_element = if zipped { quote!(#d_e) } else { d.clone() };
            let call = quote!(#backward(#e, #(#captures,)* #d_element).1);
            let summed: Vec<usize> = (0..wrt.len()).filter(|&k| wrt[k]).collect();
            if summed.is_empty() {
                let each = if zipped {
                    quote!(::backprop::ndarray::Zip::from(#array.view()).and(#d).map_collect(|&#e, &#d_e| #call))
                } else {
                    quote!(#array.mapv(|#e| #call))
                };
                let d_name = &local.d_name;
                let moved = zipped.then(
                    || quote!(::backprop::map_upstream(#d_name, &#array.view(), |#e, #d_e| #call)),
                );
                return Backward {
                    setup: Vec::new(),
                    contributions: vec![Contribution {
                        moved,
                        ..contribution(0, each)
                    }],
                };
            }
            // `scratch` holds the elements' gradients and the sums: (d_v, d_c1, ..).
            let g = fresh_among(&others, &["g", "d_g", "grad_"], &[&e, &d_e]);
            let grads = fresh_among(
                &others,
                &["grads", "element_grads", "grads_"],
                &[&e, &d_e, &g],
            );
            let zeros = summed.iter().map(|_| quote!(0.0));
            let upstream = if zipped {
                d.clone()
            } else {
                quote!(&::backprop::ndarray::Array::from_elem(#array.raw_dim(), #d))
            };
            let sums = (1..=summed.len()).map(|k| {
                let k = syn::Index::from(k);
                quote!(#scratch.#k += #grads.#k;)
            });
            let setup = vec![
                quote!(let mut #scratch = (::backprop::ndarray::Array::zeros(#array.raw_dim()), #(#zeros),*);),
                quote!(::backprop::ndarray::Zip::from(&mut #scratch.0).and(#array.view()).and(#upstream).for_each(|#g, &#e, &#d_e| {
                    let #grads = #call;
                    *#g = #grads.0;
                    #(#sums)*
                });),
            ];
            Backward {
                setup,
                contributions: wanted
                    .iter()
                    .map(|&i| {
                        let k = if i == 0 {
                            0
                        } else {
                            1 + summed.iter().position(|&c| c + 1 == i).unwrap_or(0)
                        };
                        let k = syn::Index::from(k);
                        contribution(i, quote!(#scratch.#k))
                    })
                    .collect(),
            }
        }
        // A part of an array: its gradient goes into the same part of the array's.
        Prim::Tensor(TensorOp::Part {
            method, args: part, ..
        }) => {
            let method_mut = quote::format_ident!("{}_mut", method);
            Backward {
                setup: Vec::new(),
                contributions: vec![Contribution {
                    region: Some(quote!(#method_mut(#part))),
                    ..contribution(0, d.clone())
                }],
            }
        }
        Prim::Tensor(op) => Backward {
            setup: Vec::new(),
            contributions: wanted
                .iter()
                .map(|&i| Contribution {
                    product: matrix_factors(op, local, program, args, i),
                    ..contribution(i, tensor_grad(op, local, program, args, i))
                })
                .collect(),
        },
        // A runtime gate on an array: its gradient alone, from the value the forward pass has.
        Prim::Call { path, pass, .. } if out.is_tensor() && gate_gradient(path).is_some() => {
            let rendered = with_references(local.bare.clone(), &local.receivers, pass);
            let Some(rule) = gate_gradient(path) else {
                return Backward {
                    setup: Vec::new(),
                    contributions: Vec::new(),
                };
            };
            let expr = (rule.grad)(&local.y, &rendered, d);
            let moved = local
                .upstream_by_value()
                .map(|d| (rule.grad)(&local.y, &rendered, &d));
            let unwritten = rule.unwritten.map(|grad| grad(&local.y, &rendered, d));
            Backward {
                setup: Vec::new(),
                contributions: wanted
                    .iter()
                    .map(|&i| Contribution {
                        moved: moved.clone(),
                        unwritten: unwritten.clone(),
                        ..contribution(i, expr.clone())
                    })
                    .collect(),
            }
        }
        // y = g(args): (y, grads) = g_backward(args, d); in split mode grads = y_reverse(d),
        // the closure `g_forward` returned.
        Prim::Call {
            backward,
            pass,
            reverse,
            structs,
            held,
            ..
        } => {
            let float_args = differentiable_positions(prim, args);
            // An array-valued callee takes its upstream gradient by value (the contract's
            // `d_out: R`): a copy here, handed over instead when the call is its last reader
            // (`reverse/ownership.rs`).
            let owned;
            let d = if out.is_tensor() {
                owned = match local.upstream_by_value() {
                    Some(d) => quote!(#d.clone()),
                    None => quote!((#d).to_owned()),
                };
                &owned
            } else if let Ty::Array { .. } = out {
                owned = quote!(#d.clone());
                &owned
            } else {
                d
            };
            // At the user's call, where rustc reports gradients that do not fit.
            let span = backward
                .clone()
                .into_iter()
                .last()
                .map_or_else(proc_macro2::Span::call_site, |t| t.span());
            // The call, how one gradient is taken out of it, and the check that it returns
            // one gradient per float argument.
            let (one, checked) = match reverse {
                Some(reverse) => {
                    let mut reverse = program.vars[*reverse].ident.clone();
                    reverse.set_span(span);
                    let call = quote::quote_spanned!(span=> #reverse(#d));
                    let checked = quote::quote_spanned!(span=> ::backprop::split_args(#call));
                    (call, quote!(let #scratch = #checked;))
                }
                None => {
                    let rendered = with_references(local.bare.clone(), &local.receivers, pass);
                    let call = quote::quote_spanned!(span=> #backward(#(#rendered,)* #d));
                    // With a struct held constant among the arguments, the callee may return
                    // a gradient for it too: the count is checked (one gradient, or a tuple
                    // of as many as the float arguments), with a message that says why.
                    let count = float_args.len() + structs.len();
                    let (one, checked) = match held {
                        true => (
                            quote::quote_spanned!(span=> ::backprop::one_arg(#call).1),
                            quote::quote_spanned!(span=> ::backprop::args_of::<#count, _, _>(#call)),
                        ),
                        false => (
                            quote!(#call.1),
                            quote::quote_spanned!(span=> ::backprop::args(#call)),
                        ),
                    };
                    (one, quote!(let (_, #scratch) = #checked;))
                }
            };
            if float_args.len() == 1 && structs.is_empty() {
                return Backward {
                    setup: Vec::new(),
                    contributions: wanted
                        .iter()
                        .map(|&i| contribution(i, one.clone()))
                        .collect(),
                };
            }
            let contributions = wanted
                .iter()
                .map(|&i| {
                    let place = call_gradient(prim, args, i);
                    contribution(i, quote!(#scratch #place))
                })
                .collect();
            Backward {
                setup: vec![checked],
                contributions,
            }
        }
    }
}

/// The operand positions in `wanted`, lower-rank arrays first: the upstream gradient is then
/// summed down for a broadcast operand while it is still borrowed, and handed over whole to
/// the full-shape operand last (moved, when nothing reads it after).
fn by_rank(program: &Program, args: &[Operand], wanted: &[usize]) -> Vec<usize> {
    let mut order = wanted.to_vec();
    order.sort_by_key(|&i| program.ty_of(&args[i]).rank().unwrap_or(0));
    order
}

/// Whether an elementwise operation may have broadcast `operand` against `other`: only an
/// array against a different array.
fn may_broadcast(program: &Program, operand: &Operand, other: &Operand) -> bool {
    program.ty_of(other).is_tensor() && !same_operand(operand, other)
}

/// Whether two operands are the same value.
fn same_operand(a: &Operand, b: &Operand) -> bool {
    match (a, b) {
        (Operand::Var(a), Operand::Var(b)) => a == b,
        (Operand::Element { var: a, index: i }, Operand::Element { var: b, index: j }) => {
            a == b && i.to_string() == j.to_string()
        }
        (Operand::Const { tokens: a, .. }, Operand::Const { tokens: b, .. }) => {
            a.to_string() == b.to_string()
        }
        _ => false,
    }
}
