//! Operands and forward lines as generated code.

use proc_macro2::{Ident, TokenStream};
use quote::{ToTokens, quote};

use super::{Pass, Prim, Syntax, TensorOp};
use crate::ir::{FloatTy, Operand, Program, Ty};

/// An operand as a value in generated code, parenthesised if it is a compound constant.
pub fn render(program: &Program, operand: &Operand) -> TokenStream {
    match operand {
        Operand::Var(v) => {
            let var = &program.vars[*v];
            let ident = &var.ident;
            match var.ty {
                // Arrays are read through references: `&a + &b` leaves both usable.
                Ty::Tensor { by_ref: false, .. } => quote!(&#ident),
                _ => quote!(#ident),
            }
        }
        Operand::Element { var, index } => {
            let ident = &program.vars[*var].ident;
            quote!(#ident[#index])
        }
        Operand::Const {
            tokens,
            ty: Ty::Tensor { by_ref: false, .. },
            atomic,
        } => {
            if *atomic {
                quote!(&#tokens)
            } else {
                quote!(&(#tokens))
            }
        }
        Operand::Const {
            tokens,
            atomic: true,
            ..
        } => tokens.clone(),
        Operand::Const {
            tokens,
            atomic: false,
            ..
        } => quote!((#tokens)),
    }
}

/// An operand where no operator meets it (a whole right-hand side, a call argument).
pub fn render_bare(program: &Program, operand: &Operand) -> TokenStream {
    match operand {
        Operand::Const {
            ty: Ty::Tensor { by_ref: false, .. },
            ..
        } => render(program, operand),
        Operand::Const { tokens, .. } => tokens.clone(),
        var => render(program, var),
    }
}

/// An operand as a method receiver: an unsuffixed float constant gets the line's type, since
/// `2.0.ln()` does not compile (the literal's type would be ambiguous).
pub fn render_receiver(program: &Program, operand: &Operand, float: FloatTy) -> TokenStream {
    match operand {
        Operand::Const {
            tokens,
            ty: Ty::FloatLit,
            ..
        } => {
            let f = float.ident();
            match syn::parse2::<syn::LitFloat>(tokens.clone()) {
                Ok(lit) if lit.suffix().is_empty() => {
                    let typed =
                        syn::LitFloat::new(&format!("{}{}", lit.base10_digits(), f), lit.span());
                    typed.to_token_stream()
                }
                _ => quote!((#tokens as #f)),
            }
        }
        // `x.exp()` borrows by itself.
        Operand::Var(v) if program.vars[*v].ty.is_tensor() => {
            program.vars[*v].ident.to_token_stream()
        }
        Operand::Const {
            tokens,
            ty: Ty::Tensor { .. },
            atomic,
        } => {
            if *atomic {
                tokens.clone()
            } else {
                quote!((#tokens))
            }
        }
        _ => render(program, operand),
    }
}

/// Forward code of one line.
pub fn forward(prim: &Prim, program: &Program, args: &[Operand], float: FloatTy) -> TokenStream {
    let x: Vec<TokenStream> = args.iter().map(|a| render(program, a)).collect();
    let (rule, name) = match prim {
        Prim::Table { rule, name } => (rule, name),
        Prim::Cast(to) => {
            let (a, to) = (&x[0], to.ident());
            return quote!(#a as #to);
        }
        Prim::Tensor(op) => {
            let a = render_receiver(program, &args[0], float);
            let axis = args.get(1).map(|a| render_bare(program, a));
            return match op {
                TensorOp::Dot => {
                    let b = &x[1];
                    quote!(#a.dot(#b))
                }
                TensorOp::T => quote!(#a.t()),
                TensorOp::Sum => quote!(#a.sum()),
                TensorOp::Mean { unwrap } => quote!(#a.mean()#unwrap),
                TensorOp::SumAxis => quote!(#a.sum_axis(#axis)),
                TensorOp::MeanAxis { unwrap } => quote!(#a.mean_axis(#axis)#unwrap),
                TensorOp::InsertAxis => quote!(#a.view().insert_axis(#axis)),
                TensorOp::Map { closure, .. } => quote!(#a.mapv(#closure)),
                TensorOp::Part { method, args, .. } => quote!(#a.#method(#args)),
                TensorOp::Select => {
                    let indices = render_bare(program, &args[2]);
                    quote!(#a.select(#axis, #indices))
                }
                TensorOp::VarAxis | TensorOp::StdAxis => {
                    let ddof = render_bare(program, &args[2]);
                    let method = if matches!(op, TensorOp::VarAxis) {
                        quote!(var_axis)
                    } else {
                        quote!(std_axis)
                    };
                    quote!(#a.#method(#axis, #ddof))
                }
                TensorOp::Reshape { unwrap, .. } => {
                    let shape = render_bare(program, &args[1]);
                    quote!(#a.to_shape(#shape)#unwrap.into_owned())
                }
                TensorOp::Concat {
                    path, axis, unwrap, ..
                } => {
                    let parts = args.iter().map(|p| render_receiver(program, p, float));
                    quote!(#path(#axis, &[#(#parts.view()),*])#unwrap)
                }
            };
        }
        Prim::Call { path, pass, .. } => {
            let receivers: Vec<_> = args
                .iter()
                .map(|a| render_receiver(program, a, float))
                .collect();
            let x = with_references(
                args.iter().map(|a| render_bare(program, a)).collect(),
                &receivers,
                pass,
            );
            return quote!(#path(#(#x),*));
        }
        Prim::Tuple(parts) => return parts.render(&mut |i| x[i].clone()),
        Prim::Field(at) => {
            let (tuple, at) = (&x[0], at.iter().map(|&k| syn::Index::from(k)));
            return quote!(#tuple #(.#at)*);
        }
    };
    match rule.syntax {
        Syntax::Infix(op) => {
            let op: TokenStream = op.parse().unwrap_or_default();
            let (a, b) = (&x[0], &x[1]);
            quote!(#a #op #b)
        }
        Syntax::Negate => {
            let a = &x[0];
            quote!(-#a)
        }
        // An array expression of constants is computed into the new variable, not borrowed.
        Syntax::Copy => match &args[0] {
            Operand::Const {
                tokens,
                ty: Ty::Tensor { .. },
                ..
            } => tokens.clone(),
            arg => render_bare(program, arg),
        },
        // `z.mapv(|e| e.max(c))`: ndarray has no elementwise `max` with a scalar.
        Syntax::Method
            if super::ELEMENTWISE_SCALAR_METHODS.contains(&rule.name)
                && program.ty_of(&args[0]).is_tensor() =>
        {
            let receiver = render_receiver(program, &args[0], float);
            let rest = &x[1..];
            let e = element_name(rest);
            quote!(#receiver.mapv(|#e| #e.#name(#(#rest),*)))
        }
        Syntax::Method => {
            let receiver = render_receiver(program, &args[0], float);
            let rest = &x[1..];
            quote!(#receiver.#name(#(#rest),*))
        }
        Syntax::SigmoidIdiom => {
            let a = &x[0];
            quote!(1.0 / (1.0 + (-#a).exp()))
        }
    }
}

/// A closure parameter for one element that none of `others` mentions.
pub(crate) fn element_name(others: &[TokenStream]) -> Ident {
    let mut names = std::collections::HashSet::new();
    others
        .iter()
        .for_each(|t| crate::ir::idents_in(t.clone(), &mut names));
    ["e", "v", "x", "elem"]
        .iter()
        .find(|n| !names.contains(**n))
        .map_or_else(
            || Ident::new("element_", proc_macro2::Span::call_site()),
            |n| Ident::new(n, proc_macro2::Span::call_site()),
        )
}

/// Arguments of a call, arrays passed by reference where the user's call did.
pub(crate) fn with_references(
    args: Vec<TokenStream>,
    receivers: &[TokenStream],
    pass: &[Pass],
) -> Vec<TokenStream> {
    args.into_iter()
        .zip(receivers)
        .zip(pass)
        .map(|((a, receiver), pass)| match pass {
            Pass::Plain => a,
            Pass::Ref => quote!(&#a),
            Pass::View => receiver.clone(),
            Pass::Method(method) => quote!(#receiver.#method()),
            // A constant renders as the whole copy already (`m.t().to_owned()` of an `m`
            // without a gradient).
            Pass::RefOwned if is_copy(receiver) => quote!(&#receiver),
            Pass::RefOwned => quote!(&#receiver.to_owned()),
        })
        .collect()
}

/// What `tokens` copy, when they are a copy of an array: `x` of `x.to_owned()`, `x.clone()`,
/// `x.into_owned()`.
pub(crate) fn copied(tokens: &TokenStream) -> Option<syn::Expr> {
    match syn::parse2::<syn::Expr>(tokens.clone()) {
        Ok(syn::Expr::MethodCall(m))
            if m.args.is_empty()
                && ["to_owned", "into_owned", "clone"].contains(&m.method.to_string().as_str()) =>
        {
            Some(*m.receiver)
        }
        _ => None,
    }
}

/// Whether `tokens` are a copy of an array (see [`copied`]).
pub(crate) fn is_copy(tokens: &TokenStream) -> bool {
    copied(tokens).is_some()
}
