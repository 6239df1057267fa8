//! Lowering: the user's body → the staged IR.
//!
//! Nested expressions become named temporaries (`loss_add`, `loss_exp`), every binding of a
//! name becomes its own variable (shadowing and reassignment give `x_1`, `x_2`), and every
//! expression that does not depend on a differentiable value is kept whole, renamed, as a
//! constant operand. Constructs outside the supported language are reported here with the
//! span of the user's tokens.
//!
//! This module holds the lowerer's state, its scopes and bindings; the lowering itself is split
//! by concern: `statements` (a body's statements, `let`s, buffers, assignments), `control`
//! (loops, `break` guards, early returns), `branches` (`if` as a value or a statement),
//! `expressions` (operands, operators, method calls, indexing, constants), `calls` (function
//! calls and how their arguments are passed), `types` (types and activity) and `tensors`
//! (ndarray arrays and their methods).

mod branches;
mod buffers;
pub(crate) mod calls;
mod control;
mod exits;
mod expressions;
mod iterators;
mod statements;
mod tensors;
mod tuples;
mod types;

use std::collections::{HashMap, HashSet};

use proc_macro2::{Ident, Span, TokenStream};
use quote::{ToTokens, quote};
use syn::spanned::Spanned;

use crate::errors::Errors;
use crate::ir::{Assign, Block, Branch, FloatTy, Node, Operand, Param, Program, Ty, Var, VarId};
use crate::naming::Namer;
use crate::rules::{self, Prim};
use crate::signature::{SignatureInfo, classify, float_type};

pub use buffers::{array_literal, vec_repeat};
pub use expressions::VIEW_METHODS;

/// An open loop, for its `break` guard: the loop's scope, its carried names, and the guard
/// once seen (its condition, the number of lines before it, the carried values at it).
type LoopGuard = (
    usize,
    Vec<String>,
    Option<(TokenStream, usize, Vec<Operand>)>,
);

/// A name in scope.
#[derive(Clone, Copy)]
struct Binding {
    var: VarId,
    mutable: bool,
}

/// An expression's value before it is bound to a name.
enum Value {
    Operand(Operand),
    Assign {
        prim: Prim,
        args: Vec<Operand>,
        span: Span,
    },
    /// An `if`: its arms' results are the branch's value (when `has_value`), then the final
    /// values of the outer variables either arm assigns (`assigned`, with the user's names).
    Branch {
        cond: TokenStream,
        then: Block,
        otherwise: Block,
        span: Span,
        has_value: bool,
        assigned: Vec<(String, Ident)>,
    },
}

pub struct Lowerer<'a> {
    namer: &'a mut Namer,
    errors: &'a mut Errors,
    vars: Vec<Var>,
    scopes: Vec<HashMap<String, Binding>>,
    /// Index in `scopes` where the innermost branch arm starts.
    arm_starts: Vec<usize>,
    /// The outer variables each open arm assigns (their user names), in order.
    arm_assigned: Vec<Vec<(String, Ident)>>,
    /// How many loops enclose the statement being lowered.
    loop_depth: usize,
    /// For each open loop: its scope, its carried names, and its `break` guard once seen.
    loop_guards: Vec<LoopGuard>,
    /// The function's float type (its return type): what an unsuffixed literal means here.
    default_float: FloatTy,
    /// Whether the function returns a float scalar (a `return` in a loop keeps its value in
    /// one).
    scalar_output: bool,
    /// The float `const` items declared in the body, by name.
    const_types: HashMap<String, FloatTy>,
    /// Names bound at least once (a later binding of the same name gets a version suffix).
    bound: HashSet<String>,
    /// Nodes of the block being lowered (a stack: branch arms push their own).
    nodes: Vec<Vec<Node>>,
    items: Vec<TokenStream>,
    output_temp: Option<VarId>,
    /// Local buffers (numbered in declaration order) that start out active.
    active_buffers: &'a HashSet<usize>,
    /// The number of each local buffer's variable.
    buffer_numbers: HashMap<VarId, usize>,
    /// Buffers found to receive a differentiated value while lowered as inactive.
    written_active: HashSet<usize>,
    /// The loop-carried variables (numbered in the order their loops are lowered) that this
    /// pass lowers as differentiated from the start of their loop.
    active_carried: &'a HashSet<usize>,
    /// How many loop-carried variables this pass has numbered so far.
    carried_count: usize,
    /// The loop-carried variables taken as constants whose value at the end of an iteration
    /// turned out differentiated: the next pass lowers them as differentiated.
    carried_active: HashSet<usize>,
    /// Whether the block being lowered is the rest of the function after an early-return
    /// guard (or the guard's own block): a `return` may end it.
    returns_here: bool,
    /// While lowering a loop with a `return` guard in it: the variable that keeps the value.
    returned: Option<Ident>,
    /// Names whose `let` was reported as an error (their assignments are not reported again).
    unlowered: HashSet<String>,
    /// Names the body writes by index (`m[[i, j]] = ..`): a `let mut` of an ndarray array
    /// by such a name is an array of its own, written in place.
    indexed: HashSet<String>,
    /// Names bound to ndarray views (`m: ArrayView2<f64>`, `let v = a.t();`): passed by value
    /// to a call as themselves, where an owned array is passed as a copy (see `Pass`).
    views: HashSet<String>,
    /// The struct parameters read through their fields (a struct passed whole to a call is
    /// recognised by its place, `net.l1`).
    groups: &'a [crate::structs::Group],
    /// Parameters held constant whose type looks like a struct (`net: &Net` outside
    /// `wrt(..)`): a callee they are passed to may differentiate them (see `Prim::Call`'s
    /// `held`). With the struct's path without generic arguments (`Net`), and whether the
    /// parameter is a reference, for calls of its methods.
    held: HashMap<String, (syn::Path, bool)>,
}

/// A parameter's type when it looks like a struct: a path type named with a capital that is
/// none of the types the macro knows (`&Net`, `Model`; not `usize`, `&[usize]`, `String`).
/// Its path without generic arguments (`Critic` of `&Critic<f64>`, inferred at a call), and
/// whether the parameter is a reference.
fn struct_like(ty: &TokenStream) -> Option<(syn::Path, bool)> {
    let mut ty = syn::parse2::<syn::Type>(ty.clone()).ok()?;
    let mut by_ref = false;
    while let syn::Type::Reference(r) = ty {
        by_ref = true;
        ty = *r.elem;
    }
    let syn::Type::Path(mut path) = ty else {
        return None;
    };
    let name = path.path.segments.last()?.ident.to_string();
    let known = ["String", "Vec", "Option", "Box", "HashMap", "Self"].contains(&name.as_str())
        || name.starts_with("Array");
    if known || !name.starts_with(|c: char| c.is_ascii_uppercase()) {
        return None;
    }
    path.path
        .segments
        .iter_mut()
        .for_each(|s| s.arguments = syn::PathArguments::None);
    Some((path.path, by_ref))
}

pub fn lower(
    function: &syn::ItemFn,
    signature: &SignatureInfo,
    namer: &mut Namer,
    errors: &mut Errors,
) -> Program {
    // A buffer becomes active at the first write of a differentiated value into it; reads
    // lowered before that write (earlier lines, or the same loop body) took it as a constant,
    // so the body is lowered again with that buffer active from its declaration. A variable a
    // loop carries is taken as a constant unless it enters the loop differentiated, and lowered
    // again as differentiated when an iteration makes it so (`s += w[i]`), so that one the
    // iterations only ever compute from constants (`power *= t`) gets no gradient. Each pass
    // adds at least one buffer or carried variable, so this ends.
    let mut active_buffers = HashSet::new();
    let mut active_carried = HashSet::new();
    loop {
        let mut pass_namer = namer.clone();
        let mut pass_errors = errors.clone();
        let (program, written_active, carried_active) = lower_pass(
            function,
            signature,
            &mut pass_namer,
            &mut pass_errors,
            &active_buffers,
            &active_carried,
        );
        if (written_active.is_subset(&active_buffers) && carried_active.is_subset(&active_carried))
            || !pass_errors.is_empty()
        {
            *namer = pass_namer;
            *errors = pass_errors;
            return program;
        }
        active_buffers.extend(written_active);
        active_carried.extend(carried_active);
    }
}

fn lower_pass(
    function: &syn::ItemFn,
    signature: &SignatureInfo,
    namer: &mut Namer,
    errors: &mut Errors,
    active_buffers: &HashSet<usize>,
    active_carried: &HashSet<usize>,
) -> (Program, HashSet<usize>, HashSet<usize>) {
    let mut lowerer = Lowerer {
        namer,
        errors,
        vars: Vec::new(),
        scopes: vec![HashMap::new()],
        arm_starts: Vec::new(),
        arm_assigned: Vec::new(),
        loop_depth: 0,
        loop_guards: Vec::new(),
        default_float: signature.output.float().unwrap_or(FloatTy::F64),
        scalar_output: matches!(signature.output, Ty::Float(_)),
        const_types: HashMap::new(),
        bound: HashSet::new(),
        nodes: vec![Vec::new()],
        items: Vec::new(),
        output_temp: None,
        active_buffers,
        buffer_numbers: HashMap::new(),
        written_active: HashSet::new(),
        active_carried,
        carried_count: 0,
        carried_active: HashSet::new(),
        returns_here: false,
        returned: None,
        unlowered: HashSet::new(),
        indexed: buffers::indexed_names(&function.block),
        views: HashSet::new(),
        groups: &signature.groups,
        held: signature
            .params
            .iter()
            .filter(|p| {
                matches!(p.ty, Ty::Other) && !signature.groups.iter().any(|g| g.param == p.ident)
            })
            .filter_map(|p| Some((p.ident.to_string(), struct_like(&p.ty_tokens)?)))
            .collect(),
    };
    let mut params = Vec::new();
    for p in &signature.params {
        let var = lowerer.declare(&p.ident, p.ty.clone(), p.differentiable, p.mutable);
        if p.ty.is_tensor() && p.ty_tokens.to_string().contains("ArrayView") {
            lowerer.views.insert(p.ident.to_string());
        }
        params.push(Param {
            var,
            differentiable: p.differentiable,
        });
    }
    let result = lowerer.lower_body(&function.block.stmts, function.block.span(), "out");
    let nodes = lowerer.nodes.pop().unwrap_or_default();
    let program = Program {
        vars: lowerer.vars,
        params,
        items: lowerer.items,
        body: Block {
            nodes,
            results: vec![result],
        },
        output_temp: lowerer.output_temp,
        groups: Vec::new(),
    };
    (program, lowerer.written_active, lowerer.carried_active)
}

impl Lowerer<'_> {
    // ----- bindings -------------------------------------------------------------------------

    /// Binds a user's name to a new variable.
    fn declare(&mut self, ident: &Ident, ty: Ty, active: bool, mutable: bool) -> VarId {
        let name = ident.to_string();
        let first = self.bound.insert(name.clone());
        let ident = self.namer.user_binding(ident, first);
        let var = self.new_var(ident, ty, active);
        if let Some(scope) = self.scopes.last_mut() {
            scope.insert(name, Binding { var, mutable });
        }
        var
    }

    fn new_var(&mut self, ident: Ident, ty: Ty, active: bool) -> VarId {
        self.vars.push(Var {
            ident,
            ty,
            active,
            buffer: false,
            taped: false,
        });
        self.vars.len() - 1
    }

    fn lookup(&self, name: &str) -> Option<(usize, Binding)> {
        self.scopes
            .iter()
            .enumerate()
            .rev()
            .find_map(|(depth, scope)| scope.get(name).map(|b| (depth, *b)))
    }

    fn lookup_path(&self, path: &syn::ExprPath) -> Option<Binding> {
        if path.qself.is_some() {
            return None;
        }
        let ident = path.path.get_ident()?;
        self.lookup(&ident.to_string()).map(|(_, b)| b)
    }

    fn push_node(&mut self, node: Node) {
        if let Some(nodes) = self.nodes.last_mut() {
            nodes.push(node);
        }
    }

    /// Binds a value to a new variable named `ident` (a temporary when `user` is false).
    fn bind(&mut self, value: Value, ident: Ident, annotation: Option<&syn::Type>) -> VarId {
        // A float, or an array (`let h: Array1<f64> = g(..);`, `let r: [f64; 2] = g(..);`:
        // what the user's own function returns).
        let annotated = annotation
            .and_then(|ty| classify(ty).ok())
            .filter(|ty| matches!(ty, Ty::Float(_) | Ty::Tensor { .. } | Ty::Array { .. }));
        match value {
            Value::Operand(operand) => {
                // `let mut s = 0.0;` is a float of the function's type unless it says otherwise.
                let ty = match annotated
                    .clone()
                    .unwrap_or_else(|| self.operand_ty(&operand))
                {
                    Ty::FloatLit => Ty::Float(self.default_float),
                    ty => ty,
                };
                let active = self.is_active(&operand);
                let var = self.new_var(ident, ty, active);
                let rule = rules::operator("copy");
                let name = Ident::new("copy", Span::call_site());
                self.push_node(Node::Assign(Assign {
                    target: var,
                    prim: Prim::Table { rule, name },
                    args: vec![operand],
                    annotation: annotation.map(ToTokens::to_token_stream),
                    span: Span::call_site(),
                }));
                var
            }
            Value::Assign { prim, args, span } => {
                let active = crate::contributions::differentiable_positions(&prim, &args)
                    .iter()
                    .any(|&i| self.is_active(&args[i]));
                let ty = annotated.unwrap_or_else(|| self.result_ty(&prim, &args));
                self.settle_literal_types(&args, &ty);
                let var = self.new_var(ident, ty, active);
                self.push_node(Node::Assign(Assign {
                    target: var,
                    prim,
                    args,
                    annotation: annotation.map(ToTokens::to_token_stream),
                    span,
                }));
                var
            }
            Value::Branch { .. } => self
                .bind_branch(value, Some(ident), annotation)
                .unwrap_or(0),
        }
    }

    /// Binds an `if`: a new variable for its value (`ident`, when it has one) and a new
    /// version of every outer variable its arms assign. Returns the value's variable.
    fn bind_branch(
        &mut self,
        value: Value,
        ident: Option<Ident>,
        annotation: Option<&syn::Type>,
    ) -> Option<VarId> {
        let Value::Branch {
            cond,
            then,
            otherwise,
            span,
            has_value,
            assigned,
        } = value
        else {
            return None;
        };
        let mut targets = Vec::new();
        let mut value_var = None;
        let offset = usize::from(has_value);
        if has_value {
            let active = self.is_active(then.value()) || self.is_active(otherwise.value());
            let ty = annotation
                .and_then(float_type)
                .map(Ty::Float)
                .or_else(|| self.operand_ty(then.value()).float().map(Ty::Float))
                .unwrap_or_else(|| self.operand_ty(otherwise.value()));
            let ident = match ident {
                Some(ident) => ident,
                None => self.namer.fresh("value"),
            };
            let var = self.new_var(ident, ty, active);
            targets.push(var);
            value_var = Some(var);
        }
        let mut rebinds = Vec::new();
        for (k, (name, user_ident)) in assigned.iter().enumerate() {
            let (then_value, else_value) =
                (&then.results[offset + k], &otherwise.results[offset + k]);
            let active = self.is_active(then_value) || self.is_active(else_value);
            let ty = match self.operand_ty(then_value) {
                Ty::FloatLit => self.operand_ty(else_value),
                ty => ty,
            };
            let version = self.namer.user_binding(user_ident, false);
            let var = self.new_var(version, ty, active);
            targets.push(var);
            rebinds.push((name.clone(), user_ident.clone(), var));
        }
        self.push_node(Node::Branch(Branch {
            targets,
            cond,
            then,
            otherwise,
            span,
        }));
        for (name, user_ident, var) in rebinds {
            if let Some((depth, _)) = self.lookup(&name) {
                self.rebind(name, &user_ident, var, depth);
            }
        }
        value_var
    }

    /// Makes `name` (bound at scope `depth`) refer to `var` from here on. Inside a branch arm,
    /// an outer variable is re-bound in the arm only, and recorded as assigned by the arm.
    fn rebind(&mut self, name: String, user_ident: &Ident, var: VarId, depth: usize) {
        let binding = Binding { var, mutable: true };
        match self.arm_starts.last() {
            Some(&start) if depth < start => {
                if let Some(assigned) = self.arm_assigned.last_mut()
                    && !assigned.iter().any(|(n, _)| *n == name)
                {
                    assigned.push((name.clone(), user_ident.clone()));
                }
                if let Some(scope) = self.scopes.get_mut(start) {
                    scope.insert(name, binding);
                }
            }
            _ => {
                if let Some(scope) = self.scopes.get_mut(depth) {
                    scope.insert(name, binding);
                }
            }
        }
    }
}

/// Stands in for a value whose expression was reported as an error, so lowering goes on and
/// every error of the function is reported at once.
fn placeholder() -> Operand {
    Operand::Const {
        tokens: quote!(0.0),
        ty: Ty::FloatLit,
        atomic: true,
    }
}
