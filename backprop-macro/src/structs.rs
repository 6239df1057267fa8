//! Struct parameters (`net: &TwoLayerNet`): how `#[backprop]` learns a struct's fields, and
//! how a function that reads them is differentiated.
//!
//! An attribute macro sees only the function it annotates, not the struct its parameter names.
//! `#[derive(Differentiable)]` therefore writes a macro named like the struct (in the macro
//! namespace: importing the struct imports it too) that hands its fields on. `#[backprop]` on a
//! function with a struct parameter keeps the function and expands to `Net! { @args (..) @item
//! { fn .. } }`; the derive's macro continues with `::backprop::__backprop_struct! { .. Net { w:
//! Array2<f64>, #[skip] name: String } }`, which asks for the next struct the same way or
//! differentiates the function.
//!
//! Differentiation reads each differentiable field as a parameter of its own: `net.w1` in the
//! body is `net_w1`, bound at the top of every companion (`let net_w1 = &net.w1;`), and the
//! gradients of `net`'s fields are returned as a `TwoLayerNet` (a skipped field holds a copy of
//! `net`'s). The rest of the pipeline sees ordinary parameters. A struct passed whole to a
//! call is `whole`'s concern.

use std::collections::HashMap;

use proc_macro2::{Ident, TokenStream, TokenTree};
use quote::{ToTokens, quote};
use syn::visit_mut::VisitMut;
use syn::{Expr, FnArg, Pat, Type};

use crate::args::Args;

mod protocol;
mod whole;

use protocol::struct_name;
pub use protocol::{FieldDecl, Input, Structs, ask_for_fields, state};

use whole::passes_whole;
pub use whole::{struct_argument, unbind_unread};

/// A struct parameter of the function (or a struct field of one), read through its fields.
#[derive(Clone, Debug)]
pub struct Group {
    /// The parameter (`net`).
    pub param: Ident,
    /// The struct's place: `net`, or `net.l1` for a field that is a struct.
    pub access: TokenStream,
    /// The struct (`TwoLayerNet`, as written in the type), which the gradient is.
    pub path: TokenStream,
    pub fields: Vec<(Ident, FieldOf)>,
    /// Whether the parameter is differentiated (a method's `self` outside `wrt(..)` is read
    /// through its fields all the same).
    pub differentiable: bool,
    /// How each of this struct's own fields that has a parameter is bound from the parameter.
    pub bindings: Vec<Binding>,
    /// The parameter is a reference (`net: &Net`, `&self`).
    pub by_ref: bool,
}

/// A field's parameter bound at the top of a companion: `let net_l1_w = &net.l1.w;`.
#[derive(Clone, Debug)]
pub struct Binding {
    pub leaf: Ident,
    /// The fields after the parameter: `.l1.w`.
    pub rest: TokenStream,
    pub how: How,
}

/// How a field is bound from a struct taken by reference (`&net.w`, `net.lr` of a float,
/// `net.v.as_slice()` of a `Vec`) or by value (`net.w`).
#[derive(Clone, Copy, Debug)]
pub enum How {
    Ref,
    Value,
    Slice,
    /// A field of a struct taken by value that is also passed whole (`loss(&net, x)`): a
    /// copy, the struct left whole.
    Clone,
}

impl Binding {
    /// `let leaf = <root><rest>;`, as bound from the parameter `root` (or from its tangent).
    pub fn line(&self, leaf: &Ident, root: &TokenStream) -> TokenStream {
        let rest = &self.rest;
        let value = match self.how {
            How::Ref => quote!(&#root #rest),
            How::Value => quote!(#root #rest),
            How::Slice => quote!(#root #rest.as_slice()),
            How::Clone => quote!(::core::clone::Clone::clone(&#root #rest)),
        };
        quote!(let #leaf = #value;)
    }
}

impl Group {
    /// Every binding of the struct's fields, nested structs' included, in declaration order.
    pub fn all_bindings(&self) -> Vec<Binding> {
        let mut out = self.bindings.clone();
        for (_, field) in &self.fields {
            if let FieldOf::Nested(nested) = field {
                out.extend(nested.all_bindings());
            }
        }
        out
    }
}

/// What stands for a field of a struct parameter.
#[derive(Clone, Debug)]
pub enum FieldOf {
    /// A parameter of its own (`net_w1`).
    Leaf(Ident),
    /// `#[backprop(skip)]`: read through the struct, copied into the gradient.
    Skipped,
    /// A struct, its fields in turn.
    Nested(Group),
}

impl Group {
    /// The parameters standing for the fields, nested ones included.
    pub fn leaves(&self) -> Vec<Ident> {
        self.fields
            .iter()
            .flat_map(|(_, field)| match field {
                FieldOf::Leaf(leaf) => vec![leaf.clone()],
                FieldOf::Skipped => Vec::new(),
                FieldOf::Nested(group) => group.leaves(),
            })
            .collect()
    }
}

/// A parameter whose type is a struct `#[backprop]` has to learn the fields of.
pub struct Candidate {
    pub param: Ident,
    /// The struct's path as written (`TwoLayerNet`, `model::TwoLayerNet`).
    pub path: syn::Path,
    pub by_ref: bool,
}

/// Types that are not structs of the user's: the standard library's, ndarray's.
const NOT_STRUCTS: &[&str] = &[
    "String",
    "Vec",
    "Option",
    "Box",
    "Rc",
    "Arc",
    "HashMap",
    "HashSet",
    "BTreeMap",
    "BTreeSet",
    "Range",
    "RangeInclusive",
    "Cow",
    "Axis",
    "Dim",
    "Array",
    "Array0",
    "Array1",
    "Array2",
    "Array3",
    "Array4",
    "Array5",
    "Array6",
    "ArrayD",
    "ArrayBase",
    "ArrayView",
    "ArrayView1",
    "ArrayView2",
    "ArrayView3",
    "ArrayView4",
    "ArrayViewD",
    "Ix0",
    "Ix1",
    "Ix2",
    "Ix3",
    "IxDyn",
    "Self",
];

/// The parameters of `function` that are structs of the user's, differentiated (by default,
/// or named in `wrt`), whose fields the body reads (`net.w1`).
pub fn candidates(function: &syn::ItemFn, args: &Args) -> Vec<Candidate> {
    let mut found = Vec::new();
    for input in &function.sig.inputs {
        let FnArg::Typed(pat_type) = input else {
            continue;
        };
        let Pat::Ident(pat) = &*pat_type.pat else {
            continue;
        };
        let (ty, by_ref) = match &*pat_type.ty {
            Type::Reference(r) if r.mutability.is_none() => (&*r.elem, true),
            ty => (ty, false),
        };
        let Some(path) = user_struct(ty) else {
            continue;
        };
        let wanted = args.wrt.as_ref().is_none_or(|wrt| wrt.contains(&pat.ident));
        // A method's `self` is read through its fields whether differentiated or not. Another
        // struct left out of `wrt(..)` is a constant: passed to a call, it is one the callee
        // leaves out too (`pose(theta, model)`), since the macro cannot see whether the callee
        // differentiates it (README, "Structs and methods").
        let (fields, whole) = reads(&function.block, &pat.ident);
        if (wanted || pat.ident == "self") && (fields || whole) {
            found.push(Candidate {
                param: pat.ident.clone(),
                path,
                by_ref,
            });
        }
    }
    found
}

/// The path of a struct of the user's (`Net`, `model::Net`, `Layer<f64>`): not a float, an
/// array or a type of the standard library or ndarray.
fn user_struct(ty: &Type) -> Option<syn::Path> {
    let Type::Path(path) = ty else { return None };
    let last = path.path.segments.last()?;
    let name = last.ident.to_string();
    (path.qself.is_none()
        && !matches!(last.arguments, syn::PathArguments::Parenthesized(_))
        && name.starts_with(|c: char| c.is_ascii_uppercase())
        && !NOT_STRUCTS.contains(&name.as_str()))
    .then(|| path.path.clone())
}

/// Whether `block` reads fields of `param` (`param.w`), and whether it passes the whole
/// struct to a call (`dense(&param, x)`, `dense(param.clone(), x)`).
fn reads(block: &syn::Block, param: &Ident) -> (bool, bool) {
    struct Find<'a>(&'a Ident, bool, bool);
    impl<'ast> syn::visit::Visit<'ast> for Find<'_> {
        fn visit_expr_field(&mut self, field: &'ast syn::ExprField) {
            if matches!(&*field.base, Expr::Path(p) if p.path.is_ident(self.0)) {
                self.1 = true;
            }
            syn::visit::visit_expr_field(self, field);
        }
        fn visit_expr_call(&mut self, call: &'ast syn::ExprCall) {
            for arg in &call.args {
                let mut expr = arg;
                while let Expr::Reference(syn::ExprReference { expr: inner, .. })
                | Expr::Paren(syn::ExprParen { expr: inner, .. }) = expr
                {
                    expr = inner;
                }
                if let Expr::MethodCall(m) = expr
                    && m.method == "clone"
                    && m.args.is_empty()
                {
                    expr = &m.receiver;
                }
                if matches!(expr, Expr::Path(p) if p.path.is_ident(self.0)) {
                    self.2 = true;
                }
            }
            syn::visit::visit_expr_call(self, call);
        }
        // `self.forward(x)`: a method of the struct.
        fn visit_expr_method_call(&mut self, call: &'ast syn::ExprMethodCall) {
            if call.method != "clone"
                && matches!(&*call.receiver, Expr::Path(p) if p.path.is_ident(self.0))
            {
                self.2 = true;
            }
            syn::visit::visit_expr_method_call(self, call);
        }
        // `vec![p.a * x, ..]`: its elements are expressions too.
        fn visit_macro(&mut self, mac: &'ast syn::Macro) {
            if let Some(elements) = vec_elements(mac) {
                elements.iter().for_each(|e| self.visit_expr(e));
            }
        }
    }
    let mut find = Find(param, false, false);
    syn::visit::Visit::visit_block(&mut find, block);
    (find.1, find.2)
}

/// A struct the candidates need (their own, or one a differentiable field of theirs is) that
/// is not described yet, if any.
pub fn missing(candidates: &[Candidate], structs: &Structs) -> Option<syn::Path> {
    let mut wanted: Vec<syn::Path> = candidates.iter().map(|c| c.path.clone()).collect();
    let mut seen = std::collections::HashSet::new();
    while let Some(path) = wanted.pop() {
        let name = struct_name(&path);
        if !seen.insert(name.clone()) {
            continue;
        }
        if !structs.describes(&path) {
            return Some(path);
        }
        match structs.fields_of(&path) {
            None => {}
            Some(fields) => wanted.extend(
                fields
                    .iter()
                    .filter(|f| !f.skip)
                    .filter_map(|f| user_struct(&f.ty)),
            ),
        }
    }
    None
}

/// The function as the pipeline reads it: each differentiable field of a struct parameter a
/// parameter of its own, right after the struct's (`net: &TwoLayerNet, net_w1: &Array2<f64>,
/// ..`), read where the body read the field; `wrt(net)` names them all. Returns the function,
/// the arguments, the groups and the lines that bind the fields at the top of a companion.
pub fn flatten(
    function: &syn::ItemFn,
    args: &Args,
    candidates: &[Candidate],
    structs: &Structs,
    namer: &mut crate::naming::Namer,
) -> (syn::ItemFn, Args, Vec<Group>, Vec<TokenStream>) {
    let mut flat = function.clone();
    let mut args = args.clone();
    let mut groups = Vec::new();
    let mut inputs = syn::punctuated::Punctuated::<FnArg, syn::Token![,]>::new();
    let mut renames: HashMap<Vec<String>, Ident> = HashMap::new();
    for input in &function.sig.inputs {
        inputs.push(input.clone());
        let FnArg::Typed(pat_type) = input else {
            continue;
        };
        let Pat::Ident(pat) = &*pat_type.pat else {
            continue;
        };
        let Some(candidate) = candidates.iter().find(|c| c.param == pat.ident) else {
            continue;
        };
        let Some(own_fields) = structs.fields_of(&candidate.path) else {
            continue;
        };
        let mut fields = Fields {
            structs,
            namer,
            inputs: &mut inputs,
            renames: &mut renames,
            by_ref: candidate.by_ref,
            // A struct taken by value and also passed whole (`loss(&net, x)`, `dense(net.l1,
            // x)`) is left whole: its fields are copies.
            whole: !candidate.by_ref
                && passes_whole(&function.block, &candidate.param, &candidate.path, structs),
            param: &candidate.param,
            differentiable: args
                .wrt
                .as_ref()
                .is_none_or(|wrt| wrt.contains(&candidate.param)),
        };
        let param = &candidate.param;
        let group = fields.group(
            quote!(#param),
            TokenStream::new(),
            vec![param.to_string()],
            &candidate.path,
            &own_fields,
        );
        groups.push(group);
    }
    flat.sig.inputs = inputs;
    ReadFields(&renames).visit_block_mut(&mut flat.block);
    // `wrt(net)` names its fields; without `wrt`, they are floats, differentiated by default,
    // and the struct itself is a constant (its skipped fields are read through it).
    if let Some(wrt) = &args.wrt {
        let named = wrt
            .iter()
            .flat_map(|w| match groups.iter().find(|g| g.param == *w) {
                Some(group) => group.leaves(),
                None => vec![w.clone()],
            })
            .collect();
        args.wrt = Some(named);
    }
    let prologue = prologue(&groups);
    (flat, args, groups, prologue)
}

/// Each field's parameter bound from the struct at the top of every companion.
pub fn prologue(groups: &[Group]) -> Vec<TokenStream> {
    groups
        .iter()
        .flat_map(|group| {
            let param = &group.param;
            group
                .all_bindings()
                .into_iter()
                .map(move |b| b.line(&b.leaf, &quote!(#param)))
        })
        .collect()
}

/// What flattening a struct parameter writes to.
struct Fields<'a> {
    structs: &'a Structs,
    namer: &'a mut crate::naming::Namer,
    inputs: &'a mut syn::punctuated::Punctuated<FnArg, syn::Token![,]>,
    renames: &'a mut HashMap<Vec<String>, Ident>,
    by_ref: bool,
    whole: bool,
    param: &'a Ident,
    differentiable: bool,
}

impl Fields<'_> {
    /// The group of the struct at `access` (`net`, `net.l1`), reached by the field names
    /// `chain`: a parameter for each differentiable field (`net_l1_w: &Array2<f64>`), bound
    /// from the struct (`let net_l1_w = &net.l1.w;`).
    fn group(
        &mut self,
        access: TokenStream,
        rest: TokenStream,
        chain: Vec<String>,
        path: &syn::Path,
        fields: &[FieldDecl],
    ) -> Group {
        let mut group_fields = Vec::new();
        let mut bindings = Vec::new();
        for field in fields {
            let name = &field.name;
            let ty = &field.ty;
            let mut field_chain = chain.clone();
            field_chain.push(name.to_string());
            if field.skip {
                group_fields.push((name.clone(), FieldOf::Skipped));
                continue;
            }
            if let Some(nested) = user_struct(ty)
                && let Some(nested_fields) = self.structs.fields_of(&nested)
            {
                let group = self.group(
                    quote!(#access.#name),
                    quote!(#rest.#name),
                    field_chain,
                    &nested,
                    &nested_fields,
                );
                group_fields.push((name.clone(), FieldOf::Nested(group)));
                continue;
            }
            let flat_name = self.namer.fresh(&field_chain.join("_"));
            let copy = crate::signature::float_type(ty).is_some()
                || matches!(ty, Type::Array(a) if crate::signature::float_type(&a.elem).is_some());
            let (flat_ty, how) = match (self.by_ref, float_vec(ty)) {
                (false, _) if self.whole && !copy => (quote!(#ty), How::Clone),
                (false, _) => (quote!(#ty), How::Value),
                (true, Some(elem)) => (quote!(&[#elem]), How::Slice),
                // A float, or an `[F; N]` (copied: a callee may take it by value, `g(p.w)`).
                (true, None)
                    if crate::signature::float_type(ty).is_some()
                        || matches!(ty, Type::Array(a) if crate::signature::float_type(&a.elem).is_some()) =>
                {
                    (quote!(#ty), How::Value)
                }
                (true, None) => (quote!(&#ty), How::Ref),
            };
            let binding = Binding {
                leaf: flat_name.clone(),
                rest: quote!(#rest.#name),
                how,
            };
            self.inputs.push(syn::parse_quote!(#flat_name: #flat_ty));
            bindings.push(binding);
            self.renames.insert(field_chain, flat_name.clone());
            group_fields.push((name.clone(), FieldOf::Leaf(flat_name)));
        }
        Group {
            param: self.param.clone(),
            access,
            path: {
                // In expression position (the gradient's struct literal), generic arguments
                // take the turbofish: `Layer::<f64> { .. }`.
                let mut path = path.clone();
                if let Some(syn::PathArguments::AngleBracketed(angle)) =
                    path.segments.last_mut().map(|s| &mut s.arguments)
                {
                    angle.colon2_token = Some(Default::default());
                }
                path.to_token_stream()
            },
            fields: group_fields,
            differentiable: self.differentiable,
            bindings,
            by_ref: self.by_ref,
        }
    }
}

/// `F` of `Vec<F>` (a float).
fn float_vec(ty: &Type) -> Option<TokenStream> {
    let Type::Path(path) = ty else { return None };
    let last = path.path.segments.last()?;
    if last.ident != "Vec" {
        return None;
    }
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.first()? {
        syn::GenericArgument::Type(elem) if crate::signature::float_type(elem).is_some() => {
            Some(elem.to_token_stream())
        }
        _ => None,
    }
}

/// `net.w1` → `net_w1` (and `net.l1.w` → `net_l1_w`) for every field that has a parameter of
/// its own.
struct ReadFields<'a>(&'a HashMap<Vec<String>, Ident>);

/// `["net", "l1", "w"]` of `net.l1.w`, and the last field's span.
fn field_chain(expr: &Expr) -> Option<(Vec<String>, proc_macro2::Span)> {
    match expr {
        Expr::Field(field) => {
            let syn::Member::Named(member) = &field.member else {
                return None;
            };
            let (mut chain, _) = field_chain(&field.base)?;
            chain.push(member.to_string());
            Some((chain, member.span()))
        }
        Expr::Path(path) => {
            let ident = path.path.get_ident()?;
            Some((vec![ident.to_string()], ident.span()))
        }
        _ => None,
    }
}

/// The elements of `vec![a, b]` (or the value and length of `vec![v; n]`), as expressions.
fn vec_elements(mac: &syn::Macro) -> Option<Vec<Expr>> {
    if mac.path.segments.last().is_none_or(|s| s.ident != "vec") {
        return None;
    }
    if let Some((value, len)) = crate::lower::vec_repeat(mac) {
        return Some(vec![value, len]);
    }
    let parser = syn::punctuated::Punctuated::<Expr, syn::Token![,]>::parse_terminated;
    syn::parse::Parser::parse2(parser, mac.tokens.clone())
        .ok()
        .map(|elements| elements.into_iter().collect())
}

impl VisitMut for ReadFields<'_> {
    fn visit_macro_mut(&mut self, mac: &mut syn::Macro) {
        let repeat = crate::lower::vec_repeat(mac).is_some();
        if let Some(mut elements) = vec_elements(mac) {
            elements.iter_mut().for_each(|e| self.visit_expr_mut(e));
            mac.tokens = match (repeat, elements.as_slice()) {
                (true, [value, len]) => quote!(#value; #len),
                _ => quote!(#(#elements),*),
            };
        }
    }

    fn visit_expr_mut(&mut self, expr: &mut Expr) {
        if let Expr::Field(_) = expr
            && let Some((chain, span)) = field_chain(expr)
            && let Some(flat) = self.0.get(&chain)
        {
            let mut flat = flat.clone();
            flat.set_span(span);
            *expr = syn::parse_quote!(#flat);
            return;
        }
        syn::visit_mut::visit_expr_mut(self, expr);
    }
}

/// The gradient of a struct parameter: the struct of its fields' gradients, a skipped field
/// copied from the parameter.
pub fn gradient(
    group: &Group,
    field_gradient: &mut impl FnMut(&Ident) -> TokenStream,
) -> TokenStream {
    let (path, access) = (&group.path, &group.access);
    let fields: Vec<TokenStream> = group
        .fields
        .iter()
        .map(|(name, field)| match field {
            FieldOf::Leaf(leaf) => {
                let g = field_gradient(leaf);
                quote!(#name: #g)
            }
            FieldOf::Skipped => quote!(#name: ::core::clone::Clone::clone(&#access.#name)),
            FieldOf::Nested(nested) => {
                let g = gradient(nested, field_gradient);
                quote!(#name: #g)
            }
        })
        .collect();
    quote!(#path { #(#fields),* })
}

/// Whether `ident` is the parameter standing for a field of a struct parameter.
pub fn is_field_param(groups: &[Group], ident: &Ident) -> bool {
    groups.iter().any(|g| g.leaves().contains(ident))
}

/// The group whose struct parameter is `ident`.
pub fn group_of<'a>(groups: &'a [Group], ident: &Ident) -> Option<&'a Group> {
    groups.iter().find(|g| g.param == *ident)
}

/// `tokens` with every name resolved as if written at `at` (their locations kept).
pub fn resolved_at(tokens: TokenStream, at: proc_macro2::Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|tree| match tree {
            TokenTree::Ident(mut ident) => {
                ident.set_span(ident.span().resolved_at(at));
                TokenTree::Ident(ident)
            }
            TokenTree::Group(group) => {
                let mut respanned =
                    proc_macro2::Group::new(group.delimiter(), resolved_at(group.stream(), at));
                respanned.set_span(group.span().resolved_at(at));
                TokenTree::Group(respanned)
            }
            other => other,
        })
        .collect()
}
