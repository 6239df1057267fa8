//! The second-order companions `f_hvp` and `f_grad_backward`: `f_jvp`'s lines made a function
//! `[f, ∇f·t]` (`f_hvp_tangent`) that the macro differentiates again, reverse over forward, and
//! the wrappers that seed its `_backward`.

use proc_macro2::{Ident, Span, TokenStream};
use quote::quote;

use crate::errors::Errors;
use crate::ir::{Block, FloatTy, Node, Program, Ty};
use crate::naming::Namer;
use crate::rules::{self, Prim};

use super::jvp::{output_tuple_tangent, owned_tangent, references};
use super::tangent::{Tangents, block_lines};

/// `f_hvp(p.., v..) -> (R, G, G)` and `f_grad_backward(p.., d_out: (R, G)) -> ((R, G), G)`, by
/// reverse mode over forward mode: `f_jvp`'s lines, which are code of the forward language,
/// become a function `h(p, t) = [f(p), ∇f(p)·t]` that the macro differentiates like any
/// other. Its gradient with respect to `p` for the upstream `[a, 1]` is `a ∇f + H·t`, and
/// with respect to `t` it is `∇f`: one forward pass with tangents and one reverse pass give
/// the value, the gradient and the Hessian–vector product (the lecture's "backprop through"
/// the differentiated program; no rule beyond each primitive's adjoint and tangent).
pub fn hvp(
    function: &syn::ItemFn,
    signature: &crate::signature::SignatureInfo,
    program: &Program,
    with_jvp: bool,
    prefix: &TokenStream,
    namer: &mut Namer,
    errors: &mut Errors,
) -> TokenStream {
    let name = &function.sig.ident;
    let reported = errors.len();
    // An array output has no Hessian of its own, but callers with `hvp` differentiate their
    // calls through its tangent function: that function and its `_backward` are written.
    let array_output = matches!(
        signature.output,
        Ty::Tensor { .. } | Ty::Array { .. } | Ty::Tuple
    );
    let float = match signature.output {
        Ty::Float(float) => float,
        Ty::Tensor { elem, .. } | Ty::Array { elem, .. } => elem,
        Ty::Tuple => FloatTy::F64,
        _ => {
            errors.push(syn::Error::new(
                signature
                    .output_tokens
                    .clone()
                    .into_iter()
                    .next()
                    .map_or_else(Span::call_site, |t| t.span()),
                "`hvp` needs a float output (`-> f64`), the Hessian of a scalar function, or an array output (`-> Array2<f64>`), whose tangent function callers with `hvp` differentiate",
            ));
            return TokenStream::new();
        }
    };
    unsupported_under_hvp(program, &program.body, errors);
    // A struct parameter: the tangent function takes its fields (`net_w1`, `t_net_w1`), and
    // `f_hvp` binds them from the struct and its direction (`v_net`). So does one held fixed (a
    // method's `self` outside `wrt(..)`): its fields, typed as parameters, are what callers
    // pass and what the reverse pass over the tangent function sees as a callee's arguments.
    let groups = &signature.groups;
    let takes_fields = !groups.is_empty();
    if errors.len() > reported {
        return TokenStream::new();
    }
    let mut t = Tangents::new(program, namer);
    t.for_hvp = true;
    t.references = references(signature);
    let lines = block_lines(&t, &program.body, errors);
    // The program's items and those the tangent lines added, once every line is written.
    let all_items = |t: &Tangents| -> Vec<TokenStream> {
        let added = t.items.borrow();
        program.items.iter().chain(added.iter()).cloned().collect()
    };
    // Every differentiated parameter has a tangent parameter, also one no line reads (a
    // struct's field that only a caller's struct has): callers pass one per field.
    let differentiable: Vec<(&crate::signature::ParamInfo, Ident)> = signature
        .params
        .iter()
        .zip(&program.params)
        .filter(|(_, param)| param.differentiable)
        .map(|(p, param)| {
            let ident = t
                .var(param.var)
                .cloned()
                .unwrap_or_else(|| namer.fresh(&format!("t_{}", p.ident)));
            (p, ident)
        })
        .collect();
    let k = differentiable.len();
    // A struct parameter held constant (a method's `self` outside `wrt(..)`) is taken whole,
    // its fields bound in the body (`program.items`).
    let public: Vec<&crate::signature::ParamInfo> = signature
        .params
        .iter()
        .filter(|p| !crate::structs::is_field_param(&signature.groups, &p.ident))
        .collect();
    let params: Vec<TokenStream> = public
        .iter()
        .map(|p| {
            let (ident, ty) = (&p.ident, &p.ty_tokens);
            quote!(#ident: #ty)
        })
        .collect();
    // The tangent function's parameters: the struct parameters' fields in place of the
    // structs when one is differentiated, and the fields' bindings left out of its body.
    let leaves: Vec<String> = groups
        .iter()
        .flat_map(|g| g.leaves())
        .map(|leaf| leaf.to_string())
        .collect();
    // (The struct itself too, by reference: the body reads its skipped fields through it,
    // `p.n`.)
    let inner_params: Vec<TokenStream> = if takes_fields {
        signature
            .params
            .iter()
            .map(|p| {
                let (ident, ty) = (&p.ident, &p.ty_tokens);
                match crate::structs::group_of(groups, &p.ident) {
                    Some(group) if !group.by_ref => quote!(#ident: &#ty),
                    _ => quote!(#ident: #ty),
                }
            })
            .collect()
    } else {
        params.clone()
    };
    let binds_a_leaf = |item: &TokenStream| {
        let mut trees = item.clone().into_iter();
        matches!(
            (trees.next(), trees.next()),
            (Some(proc_macro2::TokenTree::Ident(l)), Some(proc_macro2::TokenTree::Ident(leaf)))
                if l == "let" && leaves.contains(&leaf.to_string())
        )
    };
    let all_items = |t: &Tangents| -> Vec<TokenStream> {
        all_items(t)
            .into_iter()
            .filter(|item| !takes_fields || !binds_a_leaf(item))
            .collect()
    };
    let tangent_params = differentiable.iter().map(|(p, ident)| {
        let ty = &p.ty_tokens;
        quote!(#ident: #ty)
    });
    let value = super::output_value(program);
    let f = float.ident();
    let inner = quote::format_ident!("{}_hvp_tangent", name);
    let source = if array_output {
        let output = &signature.output_tokens;
        let tangent = match program.tuple_output() {
            // `(h, c)`: the tuple of the parts' tangents.
            Some(_) => output_tuple_tangent(&t, program, errors),
            None => owned_tangent(&t, program, signature),
        };
        // A value without a gradient: its zero tangent is made like it.
        let (bind, value, tangent) = if t.operand(program.body.value()).is_none() {
            (
                quote!(let value = #value; let tangent = #tangent;),
                quote!(value),
                quote!(tangent),
            )
        } else {
            (TokenStream::new(), value, tangent)
        };
        let items = all_items(&t);
        quote! {
            fn #inner(#(#inner_params,)* #(#tangent_params),*) -> (#output, #output) {
                #(#items)*
                #(#lines)*
                #bind
                (#value, #tangent)
            }
        }
    } else {
        let tangent = match t.operand(program.body.value()) {
            Some(tangent) => rules::render_bare(&t.program, &tangent),
            None => quote!(0.0),
        };
        let items = all_items(&t);
        quote! {
            fn #inner(#(#inner_params,)* #(#tangent_params),*) -> [#f; 2] {
                #(#items)*
                #(#lines)*
                [#value, #tangent]
            }
        }
    };
    let Ok(mut inner_fn) = syn::parse2::<syn::ItemFn>(source) else {
        errors.push(syn::Error::new(
            name.span(),
            "`hvp`: the tangent code did not parse (a bug of `#[backprop]`)",
        ));
        return TokenStream::new();
    };
    // A method's `self` is the parameter `self` of its type, as for the method itself.
    crate::methods::typed_self(&mut inner_fn);
    let wrt: Vec<Ident> = signature
        .params
        .iter()
        .zip(&program.params)
        .filter(|(_, param)| param.differentiable)
        .map(|(p, _)| p.ident.clone())
        .chain(differentiable.iter().map(|(_, ident)| ident.clone()))
        .collect();
    let args = crate::args::Args {
        wrt: Some(wrt.clone()),
        ..Default::default()
    };
    let Some(backward) = crate::expand::backward_of(&inner_fn, args, errors) else {
        return TokenStream::new();
    };
    let vis = &function.vis;
    let output = &signature.output_tokens;
    let gradient_type = super::Companions::new(function, signature).gradient;
    let composed = super::compose::TangentFunction {
        function,
        inner: &inner_fn,
        backward: &backward,
        float_output: !array_output,
        k,
        float_params: differentiable
            .iter()
            .map(|(p, _)| matches!(p.ty, Ty::Float(_)))
            .collect(),
        calls_nothing: calls_nothing(&program.body),
        output,
        gradient: &gradient_type,
        prefix,
    };
    // `g_grad_jvp` for a float `g` (its gradient exists), and with `jvp` the companions of
    // `g_jvp`.
    // (They forward the function's own parameters to the tangent function: not with a
    // differentiated struct, whose fields it takes.)
    let grad_jvp = if array_output || takes_fields {
        TokenStream::new()
    } else {
        super::compose::grad_jvp(&composed)
    };
    let jvp_companions = if with_jvp && !takes_fields {
        super::compose::of_jvp(&composed, &wrt)
    } else {
        TokenStream::new()
    };
    if array_output {
        let tangent_doc = format!(
            " `({name}(..), J·t)`: the tangent function of [`{name}`], which a caller with \
             `#[backprop(hvp)]` calls, and differentiates through its `_backward`."
        );
        return quote! {
            #[doc = #tangent_doc]
            #[allow(dead_code, clippy::all, clippy::pedantic, unused_parens, unused_variables, unused_mut, unused_assignments)]
            #vis #inner_fn

            #[doc(hidden)]
            #[allow(dead_code, non_snake_case, clippy::all, clippy::pedantic, unused_parens, unused_variables, unused_mut, unused_assignments)]
            #vis #backward

            #jvp_companions
        };
    }
    let backward_name = &backward.sig.ident;
    let wrapper = Wrapper::new(signature, program, &public, &differentiable, takes_fields);
    let Wrapper {
        bind_fields,
        call_params,
        v_params,
        bind_v,
        v_names,
        bind_d,
        d_gradient,
        ..
    } = &wrapper;
    let (hv, gradient) = (wrapper.gradient(0), wrapper.gradient(k));
    let hvp = quote::format_ident!("{}_hvp", name, span = name.span());
    let grad_backward = quote::format_ident!("{}_grad_backward", name, span = name.span());
    let hvp_doc = format!(
        " Value, gradient and Hessian–vector product `H·v` of [`{name}`], written by \
         `#[backprop(hvp)]`: one forward pass with tangents `v` and one reverse pass over it."
    );
    let grad_backward_doc = format!(
        " The composition rule applied to `{name}_grad`: for the upstream `(d_value, d_gradient)` \
         of `{name}_grad`'s `(value, gradient)`, returns `({name}_grad(..), d_value · ∇{name} + H · \
         d_gradient)`, so that a `#[backprop]` function may use `{name}_grad`'s gradient in its \
         value and be differentiated."
    );
    let tangent_doc = format!(
        " `[{name}(..), J·t]`: the tangent function of [`{name}`], which `#[backprop(hvp)]` \
         differentiates (a caller with `hvp` calls it, and its `_backward`, for `{name}`)."
    );
    // With a differentiated struct, `g_grad_jvp` binds the fields as `f_hvp` does: the
    // direction is a struct like the parameter (`t_net` of a caller with `jvp`).
    let grad_jvp = if takes_fields {
        let grad = quote::format_ident!("{}_grad", name);
        // `g_grad` runs after the tangent pass: a struct taken by value is moved into it last
        // (the tangent pass borrowed it), another parameter not taken by reference is copied
        // first (the tangent pass takes it).
        let mut copies = Vec::new();
        let kept: Vec<TokenStream> = public
            .iter()
            .map(|p| {
                let ident = &p.ident;
                let by_value_struct = crate::structs::group_of(groups, ident).is_some();
                if by_value_struct
                    || p.ty_tokens.to_string().starts_with('&')
                    || matches!(p.ty, Ty::Float(_))
                {
                    quote!(#ident)
                } else {
                    let copy = quote::format_ident!("{}_kept", ident);
                    copies.push(quote!(let #copy = ::core::clone::Clone::clone(&#ident);));
                    quote!(#copy)
                }
            })
            .collect();
        let grad_jvp_name = quote::format_ident!("{}_grad_jvp", name, span = name.span());
        let doc = super::compose::grad_jvp_doc(name);
        quote! {
            #[doc = #doc]
            #[allow(dead_code, clippy::type_complexity, clippy::too_many_arguments)]
            #vis fn #grad_jvp_name(#(#params,)* #(#v_params),*) -> ((#output, #gradient_type), (#output, #gradient_type)) {
                #(#copies)*
                #(#bind_fields)*
                #(#bind_v)*
                let (value, gradients) = #prefix #backward_name(#(#call_params,)* #(#v_names,)* [0.0, 1.0]);
                // (Built before the struct moves: a skipped field's place in it reads the
                // struct.)
                let tangents = (value[1], #hv);
                let value_and_gradient = #prefix #grad(#(#kept),*);
                (value_and_gradient, tangents)
            }
        }
    } else {
        grad_jvp
    };
    quote! {
        #[doc = #tangent_doc]
        #[allow(dead_code, clippy::all, clippy::pedantic, unused_parens, unused_variables, unused_mut, unused_assignments)]
        #vis #inner_fn

        #[doc(hidden)]
        #[allow(dead_code, non_snake_case, clippy::all, clippy::pedantic, unused_parens, unused_variables, unused_mut, unused_assignments)]
        #vis #backward

        #[doc = #hvp_doc]
        // A direction per parameter doubles the user's parameter list.
        #[allow(dead_code, clippy::type_complexity, clippy::too_many_arguments)]
        #vis fn #hvp(#(#params,)* #(#v_params),*) -> (#output, #gradient_type, #gradient_type) {
            #(#bind_fields)*
            #(#bind_v)*
            let (value, gradients) = #prefix #backward_name(#(#call_params,)* #(#v_names,)* [0.0, 1.0]);
            (value[0], #gradient, #hv)
        }

        #[doc = #grad_backward_doc]
        #[allow(dead_code, clippy::type_complexity, clippy::too_many_arguments)]
        #vis fn #grad_backward(#(#params,)* d_out: (#output, #gradient_type)) -> ((#output, #gradient_type), #gradient_type) {
            let (d_value, d_gradient) = d_out;
            #(#bind_fields)*
            #(#bind_d)*
            let (value, gradients) = #prefix #backward_name(#(#call_params,)* #(#d_gradient,)* [d_value, 1.0]);
            ((value[0], #gradient), #hv)
        }

        #grad_jvp
        #jvp_companions
    }
}

/// What `hvp` does not differentiate yet: calls of the runtime gates and of functions that
/// return arrays, and ndarray code (whose tangent lines call runtime functions). A call of a
/// float function `g` is differentiated through `g_hvp_tangent` and its `_backward`, which
/// `#[backprop(hvp)]` on `g` writes.
fn unsupported_under_hvp(program: &Program, block: &Block, errors: &mut Errors) {
    for node in &block.nodes {
        match node {
            Node::Assign(a) => {
                let what = match &a.prim {
                    // Taken apart by its pattern, typed by the user's annotation.
                    Prim::Call { parts: Some(_), .. } => None,
                    // A runtime gate on an array: its tangent rule is an expression of the
                    // forward language (`rules/gates.rs`), differentiated again as such.
                    Prim::Call { path, .. }
                        if crate::rules::gates::gate_gradient(path).is_some()
                            && program.vars[a.target].ty.is_tensor() =>
                    {
                        None
                    }
                    // `max_axis` goes through the runtime's `max_axis_hvp_tangent` and its
                    // `_backward`, as a call of a user's array function does.
                    Prim::Call { path, .. }
                        if crate::rules::gates::runtime_gate_name(path)
                            .is_some_and(|name| name != "max_axis")
                            && program.vars[a.target].ty.is_tensor() =>
                    {
                        Some("this runtime gate on an array")
                    }
                    // A call that returns an array (ndarray, `[F; N]`, `Vec<F>`) goes through
                    // `g_hvp_tangent`, which returns `(value, tangent)`.
                    Prim::Call { .. }
                        if !matches!(
                            program.vars[a.target].ty,
                            Ty::Float(_) | Ty::Tensor { .. } | Ty::Array { .. }
                        ) =>
                    {
                        Some("a call that returns this type")
                    }
                    _ => None,
                };
                if let Some(what) = what
                    && program.vars[a.target].active
                {
                    errors.push(syn::Error::new(
                        a.span,
                        format!("`hvp` does not differentiate {what} yet; remove `hvp`, or compute the Hessian–vector product by differencing `_grad`"),
                    ));
                    return;
                }
            }
            Node::Branch(b) => {
                unsupported_under_hvp(program, &b.then, errors);
                unsupported_under_hvp(program, &b.otherwise, errors);
            }
            Node::Loop(l) => unsupported_under_hvp(program, &l.body, errors),
            Node::Store(_) => {}
        }
    }
}

/// Whether `block` calls no function and maps none over an array.
fn calls_nothing(block: &Block) -> bool {
    block.nodes.iter().all(|node| match node {
        Node::Assign(a) => !matches!(
            a.prim,
            Prim::Call { .. } | Prim::Tensor(crate::rules::TensorOp::Map { .. })
        ),
        Node::Branch(b) => calls_nothing(&b.then) && calls_nothing(&b.otherwise),
        Node::Loop(l) => calls_nothing(&l.body),
        Node::Store(_) => true,
    })
}

/// How `f_hvp` and `f_grad_backward` call the tangent function's `_backward` and put its
/// gradients together: with a differentiated struct parameter, they bind its fields and those of
/// its direction (`let v_net_w1 = &v_net.w1;`) and make the gradients structs again.
struct Wrapper<'a> {
    program: &'a Program,
    groups: &'a [crate::structs::Group],
    /// The public parameters that have a gradient, each with the flat components it takes.
    public: Vec<(&'a crate::signature::ParamInfo, Vec<usize>)>,
    /// The flat differentiated parameters, in the tangent function's order.
    flat: Vec<Ident>,
    bind_fields: Vec<TokenStream>,
    call_params: Vec<TokenStream>,
    v_params: Vec<TokenStream>,
    bind_v: Vec<TokenStream>,
    v_names: Vec<TokenStream>,
    bind_d: Vec<TokenStream>,
    d_gradient: Vec<TokenStream>,
}

impl<'a> Wrapper<'a> {
    fn new(
        signature: &'a crate::signature::SignatureInfo,
        program: &'a Program,
        public: &[&'a crate::signature::ParamInfo],
        differentiable: &[(&'a crate::signature::ParamInfo, Ident)],
        takes_fields: bool,
    ) -> Self {
        let groups = &signature.groups;
        let flat: Vec<Ident> = differentiable
            .iter()
            .map(|(p, _)| p.ident.clone())
            .collect();
        let position = |ident: &Ident| flat.iter().position(|f| f == ident);
        // Each public parameter with a gradient, and the flat components that make it.
        let with_gradient: Vec<(&crate::signature::ParamInfo, Vec<usize>)> = public
            .iter()
            .filter_map(|p| match crate::structs::group_of(groups, &p.ident) {
                Some(group) if takes_fields && group.differentiable => {
                    Some((*p, group.leaves().iter().filter_map(&position).collect()))
                }
                Some(_) => None,
                None => position(&p.ident).map(|i| (*p, vec![i])),
            })
            .collect();
        let single = with_gradient.len() == 1;
        let mut out = Wrapper {
            program,
            groups,
            public: with_gradient.clone(),
            flat: flat.clone(),
            bind_fields: Vec::new(),
            call_params: Vec::new(),
            v_params: Vec::new(),
            bind_v: Vec::new(),
            v_names: Vec::new(),
            bind_d: Vec::new(),
            d_gradient: Vec::new(),
        };
        if takes_fields {
            // A struct taken by value is passed on by reference, after its fields are bound
            // as copies of its own.
            out.bind_fields = groups
                .iter()
                .flat_map(|group| {
                    let param = &group.param;
                    group.all_bindings().into_iter().map(move |b| {
                        if group.by_ref {
                            b.line(&b.leaf, &quote!(#param))
                        } else {
                            let (leaf, rest) = (&b.leaf, &b.rest);
                            quote!(let #leaf = ::core::clone::Clone::clone(&#param #rest);)
                        }
                    })
                })
                .collect();
            out.call_params = signature
                .params
                .iter()
                .map(|p| {
                    let ident = &p.ident;
                    match crate::structs::group_of(groups, ident) {
                        Some(group) if !group.by_ref => quote!(&#ident),
                        _ => quote!(#ident),
                    }
                })
                .collect();
        } else {
            out.call_params = public
                .iter()
                .map(|p| {
                    let ident = &p.ident;
                    quote!(#ident)
                })
                .collect();
        }
        // A component of `d_out`'s gradient, passed as its parameter's tangent is.
        let as_tangent = |ty: &TokenStream, g: TokenStream| {
            let ty = ty.to_string();
            if ty.starts_with('&') {
                quote!(&#g)
            } else if ty.contains("ArrayView") {
                quote!(#g.view())
            } else {
                g
            }
        };
        let mut v_of: std::collections::HashMap<Ident, TokenStream> = Default::default();
        let mut d_of: std::collections::HashMap<Ident, TokenStream> = Default::default();
        for (j, (p, _)) in with_gradient.iter().enumerate() {
            let (ident, ty) = (&p.ident, &p.ty_tokens);
            let v = quote::format_ident!("v_{}", ident);
            out.v_params.push(quote!(#v: #ty));
            let g = if single {
                quote!(d_gradient)
            } else {
                let j = syn::Index::from(j);
                quote!(d_gradient.#j)
            };
            match crate::structs::group_of(groups, ident) {
                Some(group) => {
                    // The direction's fields, and those of `d_gradient`'s struct, bound as the
                    // struct's are (`&v_net.w1`).
                    let d_struct = quote::format_ident!("d_{}", ident);
                    // Taken by value, its fields are too (moved out of `d_gradient`).
                    out.bind_d.push(if group.by_ref {
                        quote!(let #d_struct = &#g;)
                    } else {
                        quote!(let #d_struct = #g;)
                    });
                    for binding in group.all_bindings() {
                        let v_leaf = quote::format_ident!("v_{}", binding.leaf);
                        let d_leaf = quote::format_ident!("d_{}", binding.leaf);
                        out.bind_v.push(binding.line(&v_leaf, &quote!(#v)));
                        out.bind_d.push(binding.line(&d_leaf, &quote!(#d_struct)));
                        v_of.insert(binding.leaf.clone(), quote!(#v_leaf));
                        d_of.insert(binding.leaf.clone(), quote!(#d_leaf));
                    }
                }
                None => {
                    v_of.insert(ident.clone(), quote!(#v));
                    d_of.insert(ident.clone(), as_tangent(ty, g));
                }
            }
        }
        out.v_names = flat.iter().map(|f| v_of[f].clone()).collect();
        out.d_gradient = flat.iter().map(|f| d_of[f].clone()).collect();
        out
    }

    /// The gradients from the flat components `offset..offset + k` of `gradients`: one per
    /// public parameter with a gradient, a struct of its fields' for a struct.
    fn gradient(&self, offset: usize) -> TokenStream {
        let component = |i: usize| {
            let i = syn::Index::from(offset + i);
            quote!(gradients.#i)
        };
        let parts: Vec<TokenStream> = self
            .public
            .iter()
            .map(
                |(p, components)| match crate::structs::group_of(self.groups, &p.ident) {
                    Some(group) => crate::structs::gradient(group, &mut |leaf| {
                        self.flat
                            .iter()
                            .position(|f| f == leaf)
                            .map(component)
                            // A field no line reads has no tangent: its gradients are zero.
                            .unwrap_or_else(|| {
                                self.program
                                    .params
                                    .iter()
                                    .find(|q| self.program.vars[q.var].ident == *leaf)
                                    .map(|q| super::backward::zero(self.program, q.var))
                                    .unwrap_or_else(|| quote!(0.0))
                            })
                    }),
                    None => component(components[0]),
                },
            )
            .collect();
        match parts.as_slice() {
            [one] => one.clone(),
            many => quote!((#(#many),*)),
        }
    }
}
