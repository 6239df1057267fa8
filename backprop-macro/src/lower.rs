//! Lowering: the user's body → the staged IR.
//!
//! Nested expressions become named temporaries (`loss_add`, `loss_exp`), every binding of a
//! name becomes its own variable (shadowing and reassignment give `x_1`, `x_2`), and every
//! expression that does not depend on a differentiable value is kept whole, renamed, as a
//! constant operand. Constructs outside the supported language are reported here with the
//! span of the user's tokens.

use std::collections::{HashMap, HashSet};

use proc_macro2::{Ident, Span, TokenStream};
use quote::{ToTokens, quote};
use syn::spanned::Spanned;
use syn::visit::Visit;
use syn::visit_mut::VisitMut;
use syn::{BinOp, Expr, Lit, Pat, Stmt, UnOp};

use crate::errors::Errors;
use crate::ir::{
    Assign, Block, Branch, Carried, FloatTy, Loop, LoopExit, LoopKind, Node, Operand, Param,
    Program, Store, StoreOp, Ty, Var, VarId,
};
use crate::naming::Namer;
use crate::rules::{self, Prim, TensorOp};
use crate::signature::{SignatureInfo, classify, float_type};
use crate::validate;

/// The ndarray methods with rules of their own (`rules::TensorOp`), and their arities.
const ARRAY_METHODS: &[(&str, usize)] = &[
    ("t", 0),
    ("sum", 0),
    ("mean", 0),
    ("dot", 1),
    ("sum_axis", 1),
    ("mean_axis", 1),
    ("insert_axis", 1),
    ("mapv", 1),
];

/// Methods that read an array's length or shape, never its values: constants.
const SHAPE_METHODS: &[&str] = &[
    "len", "nrows", "ncols", "len_of", "shape", "dim", "raw_dim", "is_empty",
];

/// Where an early `return` can be differentiated, for the error at one that cannot.
const RETURN_NOT_A_GUARD: &str = "this `return` is not supported: an early return is a guard `if cond { ..; return v; }` among the function's own statements, or directly in the body of a loop among them or of a loop directly in such a body (a loop without a `break` guard, before any `continue` guard; not in a branch arm or another block)";

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
    /// Whether the block being lowered is the rest of the function after an early-return
    /// guard (or the guard's own block): a `return` may end it.
    returns_here: bool,
    /// While lowering a loop with a `return` guard in it: the variable that keeps the value.
    returned: Option<Ident>,
    /// Names whose `let` was reported as an error (their assignments are not reported again).
    unlowered: HashSet<String>,
}

pub fn lower(
    function: &syn::ItemFn,
    signature: &SignatureInfo,
    namer: &mut Namer,
    errors: &mut Errors,
) -> Program {
    // A buffer becomes active at the first write of a differentiated value into it; reads
    // lowered before that write (earlier lines, or the same loop body) took it as a constant,
    // so the body is lowered again with that buffer active from its declaration. Each pass
    // adds at least one buffer, so this ends.
    let mut active_buffers = HashSet::new();
    loop {
        let mut pass_namer = namer.clone();
        let mut pass_errors = errors.clone();
        let (program, written_active) = lower_pass(
            function,
            signature,
            &mut pass_namer,
            &mut pass_errors,
            &active_buffers,
        );
        if written_active.is_subset(&active_buffers) || !pass_errors.is_empty() {
            *namer = pass_namer;
            *errors = pass_errors;
            return program;
        }
        active_buffers.extend(written_active);
    }
}

fn lower_pass(
    function: &syn::ItemFn,
    signature: &SignatureInfo,
    namer: &mut Namer,
    errors: &mut Errors,
    active_buffers: &HashSet<usize>,
) -> (Program, HashSet<usize>) {
    let mut lowerer = Lowerer {
        namer,
        errors,
        vars: Vec::new(),
        scopes: vec![HashMap::new()],
        arm_starts: Vec::new(),
        arm_assigned: Vec::new(),
        loop_depth: 0,
        loop_guards: Vec::new(),
        default_float: match &function.sig.output {
            syn::ReturnType::Type(_, ty) => float_type(ty).unwrap_or(FloatTy::F64),
            syn::ReturnType::Default => FloatTy::F64,
        },
        scalar_output: matches!(&function.sig.output, syn::ReturnType::Type(_, ty) if float_type(ty).is_some()),
        const_types: HashMap::new(),
        bound: HashSet::new(),
        nodes: vec![Vec::new()],
        items: Vec::new(),
        output_temp: None,
        active_buffers,
        buffer_numbers: HashMap::new(),
        written_active: HashSet::new(),
        returns_here: false,
        returned: None,
        unlowered: HashSet::new(),
    };
    let mut params = Vec::new();
    for p in &signature.params {
        let var = lowerer.declare(&p.ident, p.ty.clone(), p.differentiable, p.mutable);
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
    };
    (program, lowerer.written_active)
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
        // A float, or an array (`let h: Array1<f64> = g(..);`: what the user's own gate returns).
        let annotated = annotation
            .and_then(|ty| classify(ty).ok())
            .filter(|ty| matches!(ty, Ty::Float(_) | Ty::Tensor { .. }));
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
                let active = rules::differentiable_positions(&prim, &args)
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

    /// Lowers `expr` to an operand, binding a compound value to a temporary named after
    /// `hint` and the operation.
    fn operand(&mut self, expr: &Expr, hint: &str) -> Operand {
        match self.value(expr, hint) {
            Value::Operand(operand) => operand,
            value => {
                let base = format!("{hint}_{}", value_name(&value));
                let ident = self.namer.fresh(&base);
                Operand::Var(self.bind(value, ident, None))
            }
        }
    }

    // ----- types and activity ---------------------------------------------------------------

    fn is_active(&self, operand: &Operand) -> bool {
        crate::ir::operand_active(&self.vars, operand)
    }

    fn operand_ty(&self, operand: &Operand) -> Ty {
        crate::ir::operand_ty(&self.vars, operand)
    }

    /// The float type of a line: that of its first typed operand, else `f64` (what an
    /// unsuffixed literal defaults to).
    fn line_float(&self, args: &[Operand]) -> FloatTy {
        args.iter()
            .find_map(|a| self.operand_ty(a).float())
            .unwrap_or(self.default_float)
    }

    fn result_ty(&self, prim: &Prim, args: &[Operand]) -> Ty {
        let elem = self.line_float(args);
        // Rank 0 stays an array (ndarray's `Array0`, from an axis reduction of a vector).
        let tensor = |rank: Option<usize>| Ty::Tensor {
            elem,
            rank,
            by_ref: false,
        };
        let rank_of = |i: usize| args.get(i).and_then(|a| self.operand_ty(a).rank());
        match prim {
            Prim::Cast(to) => Ty::Float(*to),
            Prim::Tensor(op) => match op {
                TensorOp::Dot => match (rank_of(0), rank_of(1)) {
                    (Some(2), Some(2)) => tensor(Some(2)),
                    (Some(1), Some(1)) => Ty::Float(elem),
                    _ => tensor(Some(1)),
                },
                TensorOp::T => tensor(rank_of(0)),
                TensorOp::Sum | TensorOp::Mean { .. } => Ty::Float(elem),
                TensorOp::SumAxis | TensorOp::MeanAxis { .. } => {
                    tensor(rank_of(0).map(|r| r.saturating_sub(1)))
                }
                TensorOp::InsertAxis => tensor(rank_of(0).map(|r| r + 1)),
            },
            Prim::Call { path, .. } => {
                let first_tensor = args.iter().map(|a| self.operand_ty(a)).find(Ty::is_tensor);
                match (rules::tensor_gate_rank(path), first_tensor) {
                    (Some(change), Some(t)) => tensor(t.rank().map(change)),
                    _ => Ty::Float(elem),
                }
            }
            Prim::Table { .. } => match args
                .iter()
                .map(|a| self.operand_ty(a))
                .filter(Ty::is_tensor)
                .map(|t| t.rank())
                .max()
            {
                Some(rank) => tensor(rank),
                None => Ty::Float(elem),
            },
        }
    }

    /// A `let mut s = 0.0;` variable takes the type of the typed values it is combined with,
    /// so that its forward line can be annotated (rustc cannot call `s.exp()` on `{float}`).
    fn settle_literal_types(&mut self, args: &[Operand], ty: &Ty) {
        let Some(float) = ty.float() else { return };
        for arg in args {
            if let Operand::Var(v) = arg
                && matches!(self.vars[*v].ty, Ty::FloatLit)
            {
                self.vars[*v].ty = Ty::Float(float);
            }
        }
    }

    /// Whether `expr` reads a variable that has a gradient.
    fn mentions_active(&self, expr: &Expr) -> bool {
        struct Finder<'l, 'a> {
            lowerer: &'l Lowerer<'a>,
            found: bool,
        }
        impl<'ast> Visit<'ast> for Finder<'_, '_> {
            fn visit_expr_path(&mut self, path: &'ast syn::ExprPath) {
                if let Some(b) = self.lowerer.lookup_path(path) {
                    self.found |= self.lowerer.vars[b.var].active;
                }
            }
            fn visit_macro(&mut self, mac: &'ast syn::Macro) {
                if let Some((value, len)) = vec_repeat(mac) {
                    self.visit_expr(&value);
                    self.visit_expr(&len);
                }
            }
            // An array's length or shape does not depend on its values (`x[x.len() - 1]`).
            fn visit_expr_method_call(&mut self, call: &'ast syn::ExprMethodCall) {
                if SHAPE_METHODS.iter().any(|m| call.method == m) {
                    return;
                }
                syn::visit::visit_expr_method_call(self, call);
            }
        }
        let mut finder = Finder {
            lowerer: self,
            found: false,
        };
        finder.visit_expr(expr);
        finder.found
    }

    /// `expr` with every local name replaced by the name of its current variable.
    fn rename(&self, expr: &Expr) -> Expr {
        struct Renamer<'l, 'a> {
            lowerer: &'l Lowerer<'a>,
        }
        impl VisitMut for Renamer<'_, '_> {
            fn visit_expr_path_mut(&mut self, path: &mut syn::ExprPath) {
                if let Some(b) = self.lowerer.lookup_path(path)
                    && let Some(segment) = path.path.segments.first_mut()
                {
                    let span = segment.ident.span();
                    segment.ident = self.lowerer.vars[b.var].ident.clone();
                    segment.ident.set_span(span);
                }
            }
            fn visit_macro_mut(&mut self, mac: &mut syn::Macro) {
                if let Some((mut value, mut len)) = vec_repeat(mac) {
                    self.visit_expr_mut(&mut value);
                    self.visit_expr_mut(&mut len);
                    mac.tokens = quote!(#value; #len);
                }
            }
        }
        let mut renamed = expr.clone();
        Renamer { lowerer: self }.visit_expr_mut(&mut renamed);
        renamed
    }

    /// An inactive expression as a constant operand.
    fn constant(&self, expr: &Expr) -> Operand {
        let expr = strip_parens(expr);
        // `&x` of an array: arrays are borrowed where they are used anyway.
        if let Expr::Reference(reference) = expr
            && reference.mutability.is_none()
            && self.constant_ty(&reference.expr).is_tensor()
        {
            return self.constant(&reference.expr);
        }
        let renamed = self.rename(expr);
        let atomic = is_atomic(expr);
        Operand::Const {
            tokens: renamed.to_token_stream(),
            ty: self.constant_ty(expr),
            atomic,
        }
    }

    /// An expression that reads differentiated values but is itself not differentiable (a
    /// comparison, `x as i32`), as a constant of type `ty`.
    fn constant_of_type(&self, expr: &Expr, ty: Ty) -> Operand {
        Operand::Const {
            tokens: self.rename(expr).to_token_stream(),
            ty,
            atomic: is_atomic(expr),
        }
    }

    /// The binding of `expr` when it names an array, slice or `Vec` of floats.
    fn array_binding(&self, expr: &Expr) -> Option<Binding> {
        match strip_parens(expr) {
            Expr::Path(p) => self
                .lookup_path(p)
                .filter(|b| matches!(self.vars[b.var].ty, Ty::Array { .. })),
            _ => None,
        }
    }

    /// Whether `expr` is an ndarray value, as far as its leading variable tells.
    fn expression_is_tensor(&self, expr: &Expr) -> bool {
        match strip_parens(expr) {
            Expr::Path(path) => self
                .lookup_path(path)
                .is_some_and(|b| self.vars[b.var].ty.is_tensor()),
            Expr::MethodCall(call) => self.expression_is_tensor(&call.receiver),
            Expr::Binary(binary) => {
                self.expression_is_tensor(&binary.left) || self.expression_is_tensor(&binary.right)
            }
            Expr::Reference(reference) => self.expression_is_tensor(&reference.expr),
            Expr::Unary(unary) => self.expression_is_tensor(&unary.expr),
            Expr::Call(call) => match strip_parens(&call.func) {
                Expr::Path(path) => {
                    rules::tensor_gate_rank(&path.to_token_stream()).is_some()
                        && call.args.iter().any(|a| self.expression_is_tensor(a))
                }
                _ => false,
            },
            _ => false,
        }
    }

    fn constant_ty(&self, expr: &Expr) -> Ty {
        match strip_parens(expr) {
            Expr::Reference(reference) => self.constant_ty(&reference.expr),
            Expr::Lit(lit) => match &lit.lit {
                Lit::Float(f) => match f.suffix() {
                    "f32" => Ty::Float(FloatTy::F32),
                    "f64" => Ty::Float(FloatTy::F64),
                    _ => Ty::FloatLit,
                },
                _ => Ty::Other,
            },
            Expr::Path(path) => match self.lookup_path(path) {
                Some(b) => self.vars[b.var].ty.clone(),
                None => {
                    let segments: Vec<String> = path
                        .path
                        .segments
                        .iter()
                        .map(|s| s.ident.to_string())
                        .collect();
                    if segments.len() > 1 && segments.iter().any(|s| s == "f64") {
                        Ty::Float(FloatTy::F64)
                    } else if segments.len() > 1 && segments.iter().any(|s| s == "f32") {
                        Ty::Float(FloatTy::F32)
                    } else if let [name] = segments.as_slice()
                        && let Some(float) = self.const_types.get(name)
                    {
                        Ty::Float(*float)
                    } else {
                        Ty::Other
                    }
                }
            },
            Expr::Cast(cast) => float_type(&cast.ty).map(Ty::Float).unwrap_or(Ty::Other),
            // `w[0]` of a float array is a float.
            Expr::Index(index) => match self.constant_ty(&index.expr) {
                Ty::Array { elem, .. } => Ty::Float(elem),
                _ => Ty::Other,
            },
            // `f64::sin(y)` is an f64; a runtime gate has its argument's type; any other
            // function's result type is not visible to the macro: one taking a float is taken
            // to return one (a gate or `#[backprop]` function), as for a differentiated call.
            Expr::Call(call) => match strip_parens(&call.func) {
                Expr::Path(path) => match float_method_path(&path.path) {
                    Some((float, _)) => Ty::Float(float),
                    // A runtime gate's result: its argument's rank, changed as the gate does.
                    _ if let Some(to_rank) = rules::tensor_gate_rank(&path.to_token_stream()) => {
                        match call.args.first().map(|a| self.constant_ty(a)) {
                            Some(Ty::Tensor { elem, rank, .. }) => Ty::Tensor {
                                elem,
                                rank: rank.map(to_rank),
                                by_ref: false,
                            },
                            Some(ty) => ty,
                            None => Ty::Other,
                        }
                    }
                    _ => call
                        .args
                        .iter()
                        .find_map(|a| match self.constant_ty(a) {
                            Ty::FloatLit => Some(Ty::FloatLit),
                            ty => ty.float().map(Ty::Float),
                        })
                        .unwrap_or(Ty::Other),
                },
                _ => Ty::Other,
            },
            Expr::Unary(unary) if matches!(unary.op, UnOp::Neg(_)) => self.constant_ty(&unary.expr),
            Expr::Binary(binary) if is_arithmetic(&binary.op) => {
                let (l, r) = (
                    self.constant_ty(&binary.left),
                    self.constant_ty(&binary.right),
                );
                if l.float().is_some() {
                    l
                } else if r.float().is_some() {
                    r
                } else if matches!(l, Ty::FloatLit) {
                    l
                } else {
                    r
                }
            }
            Expr::MethodCall(call) => {
                let receiver = self.constant_ty(&call.receiver);
                let Ty::Tensor { elem, rank, .. } = receiver else {
                    return receiver;
                };
                let tensor = |rank: Option<usize>| Ty::Tensor {
                    elem,
                    rank,
                    by_ref: false,
                };
                match call.method.to_string().as_str() {
                    "sum" | "mean" => Ty::Float(elem),
                    "unwrap" | "expect" | "t" | "mapv" | "view" | "to_owned" | "clone" => {
                        tensor(rank)
                    }
                    "row" | "column" => tensor(rank.map(|r| r.saturating_sub(1))),
                    "sum_axis" | "mean_axis" => tensor(rank.map(|r| r.saturating_sub(1))),
                    "insert_axis" => tensor(rank.map(|r| r + 1)),
                    "dot" => match (
                        rank,
                        call.args.first().and_then(|a| self.constant_ty(a).rank()),
                    ) {
                        (Some(1), Some(1)) => Ty::Float(elem),
                        (Some(2), Some(2)) => tensor(Some(2)),
                        _ => tensor(Some(1)),
                    },
                    name if rules::method_rule(name).is_some() => tensor(rank),
                    _ => Ty::Other,
                }
            }
            _ => Ty::Other,
        }
    }

    // ----- statements -----------------------------------------------------------------------

    /// Lowers a function body or block: its statements, then its value.
    /// `hint` names the temporaries of the block's value.
    fn lower_body(&mut self, stmts: &[Stmt], span: Span, hint: &str) -> Operand {
        self.lower_body_value(stmts, span, hint, true)
    }

    /// Lowers statements; with `needs_value`, the block must end with its value.
    fn lower_body_value(
        &mut self,
        stmts: &[Stmt],
        span: Span,
        hint: &str,
        needs_value: bool,
    ) -> Operand {
        let mut result = None;
        for (index, stmt) in stmts.iter().enumerate() {
            let last = index + 1 == stmts.len();
            if self.scopes.len() == 1 {
                // Statement by statement, so that all errors come out in source order.
                validate::validate_stmt(stmt, self.errors);
            }
            // In a loop that returns: the `return` guard, or a loop on the way to it.
            if self.return_from_loop(stmt, hint) {
                continue;
            }
            match stmt {
                Stmt::Local(local) => self.lower_let(local),
                Stmt::Item(item) => {
                    if let syn::Item::Const(constant) = item
                        && let Some(float) = float_type(&constant.ty)
                    {
                        self.const_types.insert(constant.ident.to_string(), float);
                    }
                    self.items.push(item.to_token_stream())
                }
                // Reported by validation.
                Stmt::Macro(_) => {}
                Stmt::Expr(Expr::Return(ret), _) if last && (self.returns_here || (self.nodes.len() == 1 && self.scopes.len() == 1)) => {
                    match &ret.expr {
                        Some(expr) if self.returns_here => result = Some(self.operand(expr, hint)),
                        Some(expr) => result = Some(self.lower_output(expr)),
                        None => self.errors.spanned(ret, "`return` needs the function's value: `return loss;`"),
                    }
                }
                // `if cond { ..; return v; }` in the function's own statements: the rest of the
                // function is the `else` arm, and the function's value is the branch's.
                Stmt::Expr(Expr::If(if_expr), _)
                    if (self.returns_here || (self.nodes.len() == 1 && self.scopes.len() == 1))
                        && is_return_guard(if_expr) =>
                {
                    let cond = self.rename(&if_expr.cond).to_token_stream();
                    let guard = &if_expr.then_branch.stmts;
                    result = Some(self.guarded_rest(
                        cond,
                        if_expr.span(),
                        |this| this.lower_body_value(guard, if_expr.then_branch.span(), hint, true),
                        (&stmts[index + 1..], span),
                        hint,
                    ));
                    break;
                }
                // A loop among the function's own statements with `if cond { ..; return v; }`
                // directly in its body: the guard keeps `v` and breaks, and the rest of the
                // function is the `else` arm of "the loop broke".
                Stmt::Expr(looped, _)
                    if (self.returns_here || (self.nodes.len() == 1 && self.scopes.len() == 1))
                        && self.scalar_output
                        && returns_from_loop(looped) =>
                {
                    result = Some(self.loop_with_return(looped, (&stmts[index + 1..], span), hint));
                    break;
                }
                Stmt::Expr(Expr::Return(ret), _) => self.errors.spanned(
                    ret.return_token,
                    RETURN_NOT_A_GUARD,
                ),
                Stmt::Expr(Expr::Assign(assign), _) => self.lower_assign(&assign.left, None, &assign.right, assign),
                Stmt::Expr(Expr::Binary(binary), _) if compound_op(&binary.op).is_some() => {
                    self.lower_assign(&binary.left, compound_op(&binary.op), &binary.right, binary)
                }
                Stmt::Expr(Expr::ForLoop(for_loop), _) => self.lower_for(for_loop, hint),
                Stmt::Expr(Expr::While(while_loop), _) => self.lower_while(while_loop, hint),
                Stmt::Expr(Expr::Loop(loop_expr), _) => self.lower_loop_expr(loop_expr, hint),
                // `if cond { continue; }`: the rest of the body is the `else` arm.
                Stmt::Expr(Expr::If(if_expr), _) if self.loop_depth > 0 && is_continue_guard(if_expr) => {
                    let cond = self.rename(&if_expr.cond).to_token_stream();
                    let rest = &stmts[index + 1..];
                    let value = self.make_branch(cond, if_expr.span(), false, |_| placeholder(), |this| {
                        this.lower_body_value(rest, span, hint, false)
                    });
                    if has_effect(&value) {
                        self.bind_branch(value, None, None);
                    }
                    break;
                }
                Stmt::Expr(Expr::Continue(token), _) => self.errors.spanned(
                    token,
                    "`continue` is supported as a guard at the top of a loop body's statements: `if cond { continue; }`",
                ),
                // `if cond { ..; break; }` directly in a loop body: the loop's exit. The lines
                // before the `break` run in the breaking iteration only: an `if` statement
                // (whose condition reads the values from before it, as the exit's does).
                Stmt::Expr(Expr::If(if_expr), _)
                    if break_guard_body(if_expr).is_some()
                        && self.loop_guards.last().is_some_and(|(scope, _, exit)| *scope + 1 == self.scopes.len() && exit.is_none()) =>
                {
                    let cond = self.rename(&if_expr.cond).to_token_stream();
                    if let Some(before) = break_guard_body(if_expr).filter(|b| !b.is_empty()) {
                        let mut arm = if_expr.clone();
                        arm.then_branch.stmts = before.to_vec();
                        self.lower_if_statement(&arm, hint);
                    }
                    self.set_loop_exit(cond);
                }
                Stmt::Expr(Expr::Break(token), _) => self.errors.spanned(
                    token,
                    "`break` is supported as one guard directly in a loop body: `if cond { ..; break; }`",
                ),
                Stmt::Expr(Expr::If(if_expr), _) if break_guard_body(if_expr).is_some() => self.errors.spanned(
                    if_expr.if_token,
                    "`break` is supported as one guard directly in a loop body: `if cond { ..; break; }`",
                ),
                // An `if` statement: its arms assign outer variables.
                Stmt::Expr(Expr::If(if_expr), semi) if !(last && needs_value && semi.is_none()) => {
                    self.lower_if_statement(if_expr, hint)
                }
                Stmt::Expr(expr, None) if last => {
                    result = Some(if self.nodes.len() == 1 && self.scopes.len() == 1 {
                        self.lower_output(expr)
                    } else {
                        self.operand(expr, hint)
                    });
                }
                Stmt::Expr(expr, _) if is_reported_by_validation(expr) => {}
                Stmt::Expr(expr, _) => self.errors.spanned(
                    expr,
                    "this statement has no effect on the result; a `#[backprop]` body is made of `let` bindings, assignments and a final value",
                ),
            }
        }
        result.unwrap_or_else(|| {
            if needs_value && self.errors.is_empty() {
                self.errors.push(syn::Error::new(span, "the body must end with the value to differentiate, e.g. `loss` or `return loss;`"));
            }
            placeholder()
        })
    }

    /// `for i in a..b { .. }` (or `(a..b).rev()`): a loop node whose body is SSA over the outer
    /// `let mut` variables it assigns (carried from one iteration to the next).
    fn lower_for(&mut self, for_loop: &syn::ExprForLoop, hint: &str) {
        if self.rejects_label(&for_loop.label) {
            return;
        }
        let (range_expr, rev) = match strip_parens(&for_loop.expr) {
            Expr::MethodCall(call) if call.method == "rev" && call.args.is_empty() => {
                (strip_parens(&call.receiver), true)
            }
            other => (other, false),
        };
        let Expr::Range(range) = range_expr else {
            self.errors.spanned(
                &for_loop.expr,
                "a `#[backprop]` loop runs over a range: `for i in 0..n` or `for i in (0..n).rev()`; iterator adaptors are not supported",
            );
            return;
        };
        if range.start.is_none() || range.end.is_none() {
            self.errors
                .spanned(range, "the loop's range needs both ends: `0..n`");
            return;
        }
        // The bounds are integers: even one computed from a differentiated value (`x as usize`)
        // is piecewise constant in it, so the range is taken as it is.
        let range_tokens = self.rename(range_expr).to_token_stream();
        let index_ident = match &*for_loop.pat {
            Pat::Ident(pat) if pat.by_ref.is_none() && pat.subpat.is_none() => pat.ident.clone(),
            Pat::Wild(_) => Ident::new("_index", Span::call_site()),
            other => {
                self.errors.spanned(
                    other,
                    "the loop variable must be a plain name: `for i in 0..n`",
                );
                return;
            }
        };
        self.lower_loop(&for_loop.body, for_loop.span(), hint, |this, scope| {
            // Loop variables of different loops never meet: each keeps the user's name.
            let index = this.new_var(index_ident.clone(), Ty::Other, false);
            if let Some(scope) = this.scopes.get_mut(scope) {
                scope.insert(
                    index_ident.to_string(),
                    Binding {
                        var: index,
                        mutable: false,
                    },
                );
            }
            LoopKind::For {
                index,
                range: range_tokens,
                rev,
            }
        });
    }

    /// `while cond { .. }`: the number of iterations depends on the data, so the forward pass
    /// counts them.
    fn lower_while(&mut self, while_loop: &syn::ExprWhile, hint: &str) {
        if self.rejects_label(&while_loop.label) {
            return;
        }
        if matches!(&*while_loop.cond, Expr::Let(_)) {
            self.errors.spanned(
                &while_loop.cond,
                "`while let` is not supported; compare values: `while x > 1.0 { .. }`",
            );
            return;
        }
        self.lower_loop(&while_loop.body, while_loop.span(), hint, |this, _| {
            // Renamed inside the loop: it reads the values an iteration starts with.
            let cond = this.rename(&while_loop.cond).to_token_stream();
            LoopKind::While {
                cond,
                trips: this.namer.fresh("trips"),
            }
        });
    }

    /// Reports a loop label (`'outer: for ..`), which only labeled `break`s would use.
    fn rejects_label(&mut self, label: &Option<syn::Label>) -> bool {
        if let Some(label) = label {
            self.errors.spanned(
                label,
                "labeled loops are not supported in a `#[backprop]` function",
            );
        }
        label.is_some()
    }

    /// `loop { .. if cond { break; } .. }`: a `while true` loop that ends at its `break` guard.
    fn lower_loop_expr(&mut self, loop_expr: &syn::ExprLoop, hint: &str) {
        if self.rejects_label(&loop_expr.label) {
            return;
        }
        let before = self.nodes.last().map_or(0, Vec::len);
        self.lower_loop(&loop_expr.body, loop_expr.span(), hint, |this, _| {
            LoopKind::While {
                cond: quote!(true),
                trips: this.namer.fresh("trips"),
            }
        });
        let has_exit = matches!(
            self.nodes.last().and_then(|nodes| nodes.get(before)),
            Some(Node::Loop(l)) if l.exit.is_some()
        );
        if !has_exit {
            self.errors.spanned(
                loop_expr.loop_token,
                "a `loop` needs its exit as a guard directly in its body: `if cond { ..; break; }`",
            );
        }
    }

    /// A loop node whose body is SSA over the outer `let mut` variables it assigns (carried
    /// from one iteration to the next). `header` makes the loop's kind inside the loop's scope
    /// (the index `scope` in `scopes`), once the carried variables are bound there.
    fn lower_loop(
        &mut self,
        body: &syn::Block,
        span: Span,
        hint: &str,
        header: impl FnOnce(&mut Self, usize) -> LoopKind,
    ) {
        let deferred = self.defer_break(body);
        let body = deferred.as_ref().unwrap_or(body);
        // The outer `let mut` variables the body assigns, in the order they were declared.
        let mut carried_names: Vec<(String, Ident, VarId)> = Vec::new();
        let mut assigned = assigned_names(body);
        // A loop on the way to a `return` assigns the returned value (see `return_from_loop`).
        if let Some(returned) = &self.returned
            && returns_from_body(body)
        {
            assigned.push(returned.clone());
        }
        for ident in assigned {
            let name = ident.to_string();
            if let Some((_, binding)) = self.lookup(&name)
                && binding.mutable
                && !carried_names.iter().any(|(n, _, _)| *n == name)
            {
                carried_names.push((name, ident, binding.var));
            }
        }
        carried_names.sort_by_key(|(_, _, var)| *var);
        let body_expr = Expr::Block(syn::ExprBlock {
            attrs: Vec::new(),
            label: None,
            block: body.clone(),
        });
        let body_is_active = self.mentions_active(&body_expr);

        self.scopes.push(HashMap::new());
        let start = self.scopes.len() - 1;
        self.arm_starts.push(start);
        self.arm_assigned.push(Vec::new());
        self.nodes.push(Vec::new());
        self.loop_depth += 1;
        let mut inners = Vec::new();
        for (name, ident, entry) in &carried_names {
            let ty = self.vars[*entry].ty.clone();
            if matches!(ty, Ty::Array { .. } | Ty::Tensor { .. }) {
                self.errors.spanned(ident, format!("`{name}` is an array assigned in a loop; loop-carried arrays are not supported yet"));
            }
            let active = self.vars[*entry].active
                || (body_is_active && matches!(ty, Ty::Float(_) | Ty::FloatLit));
            let version = self.namer.user_binding(ident, false);
            let inner = self.new_var(version, ty, active);
            if let Some(scope) = self.scopes.get_mut(start) {
                scope.insert(
                    name.clone(),
                    Binding {
                        var: inner,
                        mutable: true,
                    },
                );
            }
            inners.push(inner);
        }
        let kind = header(self, start);
        self.loop_guards.push((
            start,
            carried_names.iter().map(|(n, _, _)| n.clone()).collect(),
            None,
        ));
        // A `return` inside a loop body is not a guard of the function.
        let returns = std::mem::replace(&mut self.returns_here, false);
        self.lower_body_value(&body.stmts, body.span(), hint, false);
        self.returns_here = returns;
        let guard = self.loop_guards.pop().and_then(|(_, _, exit)| exit);
        let exits: Vec<Operand> = carried_names
            .iter()
            .zip(&inners)
            .map(|((name, _, _), inner)| {
                Operand::Var(
                    self.scopes
                        .get(start)
                        .and_then(|s| s.get(name))
                        .map(|b| b.var)
                        .unwrap_or(*inner),
                )
            })
            .collect();
        let nodes = self.nodes.pop().unwrap_or_default();
        self.loop_depth -= 1;
        self.arm_assigned.pop();
        self.arm_starts.pop();
        self.scopes.pop();

        let mut carried = Vec::new();
        for ((name, ident, entry), inner) in carried_names.iter().zip(&inners) {
            let version = self.namer.user_binding(ident, false);
            let after = self.new_var(
                version,
                self.vars[*inner].ty.clone(),
                self.vars[*inner].active,
            );
            carried.push(Carried {
                entry: Operand::Var(*entry),
                inner: *inner,
                after,
            });
            if let Some((depth, _)) = self.lookup(name) {
                self.rebind(name.clone(), ident, after, depth);
            }
        }
        let exit = guard.map(|(cond, pre_len, pre_results)| LoopExit {
            cond,
            pre_len,
            pre_results,
            broke: self.namer.fresh("broke"),
            trips: match &kind {
                LoopKind::While { trips, .. } => trips.clone(),
                LoopKind::For { .. } => self.namer.fresh("trips"),
            },
        });
        self.push_node(Node::Loop(Loop {
            kind,
            exit,
            carried,
            body: Block {
                nodes,
                results: exits,
            },
            span,
        }));
    }

    /// The function's value after an early-return guard: `if cond { then } else { rest }`.
    fn guarded_rest(
        &mut self,
        cond: TokenStream,
        cond_span: Span,
        then: impl FnOnce(&mut Self) -> Operand,
        (rest, span): (&[Stmt], Span),
        hint: &str,
    ) -> Operand {
        let outer = std::mem::replace(&mut self.returns_here, true);
        let value = self.make_branch(cond, cond_span, true, then, |this| {
            this.lower_body_value(rest, span, hint, true)
        });
        self.returns_here = outer;
        if self.returns_here {
            let ident = self.namer.fresh(&format!("{hint}_value"));
            Operand::Var(self.bind(value, ident, None))
        } else {
            let ident = self.namer.fresh("out");
            let var = self.bind(value, ident, None);
            self.output_temp = Some(var);
            Operand::Var(var)
        }
    }

    /// A `let` the lowering writes itself (`let mut returned = 0.0;`), at the user's span.
    fn lower_declaration(&mut self, declaration: Stmt) {
        if let Stmt::Local(local) = &declaration {
            self.lower_let(local);
        }
    }

    /// A loop with a `return` guard in it (see [`returns_from_loop`]), then the rest of the
    /// function: `let mut returned = 0.0;`, the loop, whose guard becomes
    /// `if cond { ..; returned = v; break; }` (see [`Self::return_from_loop`]), and the function's
    /// value `if broke.is_some() { returned } else { rest }` (`broke`: where the loop broke,
    /// which the loop records for its reverse pass anyway).
    fn loop_with_return(&mut self, looped: &Expr, rest: (&[Stmt], Span), hint: &str) -> Operand {
        let at = looped.span();
        let name = self.namer.fresh("returned");
        let float = self.default_float.ident();
        self.lower_declaration(syn::parse_quote_spanned!(at=> let mut #name: #float = 0.0;));
        let outer = self.returned.replace(name.clone());
        let broke = self.loop_recording_exit(looped, hint);
        self.returned = outer;
        // No exit: the loop reported an error.
        let Some(broke) = broke else {
            return placeholder();
        };
        let returned: Expr = syn::parse_quote_spanned!(at=> #name);
        let returned = [Stmt::Expr(returned, None)];
        // A `loop` ends only by returning.
        if let Expr::Loop(_) = looped {
            return self.lower_body_value(&returned, at, hint, true);
        }
        self.guarded_rest(
            broke,
            at,
            |this| this.lower_body_value(&returned, at, hint, true),
            rest,
            hint,
        )
    }

    /// Lowers a loop and returns the condition "it ended at its `break` guard", from what it
    /// records: where it broke (`for`), or whether (`while`, `loop`); `None` if it has no guard.
    fn loop_recording_exit(&mut self, looped: &Expr, hint: &str) -> Option<TokenStream> {
        let before = self.nodes.last().map_or(0, Vec::len);
        match looped {
            Expr::ForLoop(for_loop) => self.lower_for(for_loop, hint),
            Expr::While(while_loop) => self.lower_while(while_loop, hint),
            Expr::Loop(loop_expr) => self.lower_loop_expr(loop_expr, hint),
            _ => {}
        }
        match self.nodes.last().and_then(|nodes| nodes.get(before)) {
            Some(Node::Loop(l)) => l.exit.as_ref().map(|exit| {
                let broke = &exit.broke;
                match l.kind {
                    LoopKind::For { .. } => quote!(#broke.is_some()),
                    LoopKind::While { .. } => quote!(#broke),
                }
            }),
            _ => None,
        }
    }

    /// A loop body with a `break` guard after a `continue` guard (which makes the rest of the
    /// body a branch arm, where no exit can be): the guard records `stopped = true` instead,
    /// the lines after it run `if !stopped`, and the next iteration breaks first thing,
    /// `if stopped { break; }`. Lowers `let mut stopped = false;` before the loop.
    fn defer_break(&mut self, body: &syn::Block) -> Option<syn::Block> {
        let position = |found: &dyn Fn(&syn::ExprIf) -> bool| {
            body.stmts
                .iter()
                .position(|s| matches!(s, Stmt::Expr(Expr::If(e), _) if found(e)))
        };
        let continued = position(&is_continue_guard)?;
        let at = position(&|e| break_guard_body(e).is_some()).filter(|&at| at > continued)?;
        let Stmt::Expr(Expr::If(guard), _) = &body.stmts[at] else {
            return None;
        };
        let span = guard.span();
        let stopped = self.namer.fresh("stopped");
        self.lower_declaration(syn::parse_quote_spanned!(span=> let mut #stopped = false;));
        let mut stop = guard.clone();
        stop.then_branch.stmts.pop();
        stop.then_branch
            .stmts
            .push(syn::parse_quote_spanned!(span=> #stopped = true;));
        let after = &body.stmts[at + 1..];
        let mut stmts: Vec<Stmt> = vec![syn::parse_quote_spanned!(span=> if #stopped { break; })];
        stmts.extend_from_slice(&body.stmts[..at]);
        stmts.push(Stmt::Expr(Expr::If(stop), None));
        if !after.is_empty() {
            stmts.push(syn::parse_quote_spanned!(span=> if !#stopped { #(#after)* }));
        }
        Some(syn::Block {
            brace_token: body.brace_token,
            stmts,
        })
    }

    /// The innermost open loop ends here when `cond` holds: its exit, after the lines lowered
    /// so far, with the carried values as they are now.
    fn set_loop_exit(&mut self, cond: TokenStream) {
        let pre_len = self.nodes.last().map_or(0, Vec::len);
        let (scope, names, _) = self.loop_guards.last().cloned().unwrap_or_default();
        let pre_results = names
            .iter()
            .filter_map(|n| self.scopes.get(scope)?.get(n).map(|b| Operand::Var(b.var)))
            .collect();
        if let Some(guard) = self.loop_guards.last_mut() {
            guard.2 = Some((cond, pre_len, pre_results));
        }
    }

    /// Inside a loop that [`Self::loop_with_return`] lowers, a statement of a loop body on the
    /// way to the `return`: the guard `if cond { ..; return v; }` becomes the loop's exit
    /// `if cond { ..; returned = v; break; }`, and a loop holding it, lowered, makes its own
    /// record the exit of the loop around it. `false` for any other statement.
    fn return_from_loop(&mut self, stmt: &Stmt, hint: &str) -> bool {
        let Some(returned) = self.returned.clone() else {
            return false;
        };
        let in_loop_body = self
            .loop_guards
            .last()
            .is_some_and(|(scope, _, exit)| *scope + 1 == self.scopes.len() && exit.is_none());
        match stmt {
            Stmt::Expr(Expr::If(guard), _) if in_loop_body && is_return_guard(guard) => {
                let Some(Stmt::Expr(Expr::Return(ret), _)) = guard.then_branch.stmts.last() else {
                    return false;
                };
                let (value, at) = (&ret.expr, ret.span());
                let mut exit = guard.clone();
                exit.then_branch.stmts.pop();
                exit.then_branch
                    .stmts
                    .push(syn::parse_quote_spanned!(at=> #returned = #value;));
                exit.then_branch
                    .stmts
                    .push(syn::parse_quote_spanned!(at=> break;));
                self.lower_body_value(&[Stmt::Expr(Expr::If(exit), None)], at, hint, false);
                true
            }
            Stmt::Expr(looped, _) if in_loop_body && returns_from_loop(looped) => {
                if let Some(cond) = self.loop_recording_exit(looped, hint) {
                    self.set_loop_exit(cond);
                }
                true
            }
            _ => false,
        }
    }

    /// `if cond { .. } [else { .. }]` as a statement: new versions of what its arms assign.
    fn lower_if_statement(&mut self, if_expr: &syn::ExprIf, hint: &str) {
        if if_expr.else_branch.is_none()
            && let Some(ret) = find_return(&if_expr.then_branch)
        {
            self.errors.spanned(ret.return_token, RETURN_NOT_A_GUARD);
            return;
        }
        let value = self.if_branch(if_expr, hint, false);
        if has_effect(&value) {
            self.bind_branch(value, None, None);
        }
    }

    fn lower_output(&mut self, expr: &Expr) -> Operand {
        match self.value(expr, "out") {
            Value::Operand(operand) => operand,
            value => {
                let ident = self.namer.fresh("out");
                let var = self.bind(value, ident, None);
                self.output_temp = Some(var);
                Operand::Var(var)
            }
        }
    }

    fn lower_let(&mut self, local: &syn::Local) {
        let (pat, annotation) = match &local.pat {
            Pat::Type(pat_type) => (&*pat_type.pat, Some(&*pat_type.ty)),
            pat => (pat, None),
        };
        // `let _ = v;` only silences a warning: the body is pure, so there is nothing to run.
        if matches!(pat, Pat::Wild(_)) {
            return;
        }
        // `let (h, c) = (a, b);`: one `let` per name, when no value reads a name it binds.
        if let (Pat::Tuple(names), None, Some(init)) = (pat, annotation, &local.init)
            && let Expr::Tuple(values) = strip_parens(&init.expr)
            && init.diverge.is_none()
            && names.elems.len() == values.elems.len()
            && !values.elems.iter().any(|v| reads_any(v, &names.elems))
        {
            for (name, value) in names.elems.iter().zip(&values.elems) {
                let mut single = local.clone();
                single.pat = name.clone();
                if let Some(init) = &mut single.init {
                    *init.expr = value.clone();
                }
                self.lower_let(&single);
            }
            return;
        }
        let Pat::Ident(pat_ident) = pat else {
            self.errors.spanned(
                pat,
                "destructuring `let` is not supported; bind one name per `let` (or a tuple of values: `let (a, b) = (x, y);`)",
            );
            return;
        };
        if pat_ident.by_ref.is_some() || pat_ident.subpat.is_some() {
            self.errors.spanned(
                pat_ident,
                "`ref` and `@` patterns are not supported; bind the value by name",
            );
            return;
        }
        let Some(init) = &local.init else {
            // `let l;` then `l = ..` in each arm of an `if`: a float variable that starts from
            // zero, which rustc checks every path overwrites before it is read.
            if annotation.is_none_or(|ty| float_type(ty).is_some()) {
                let ident = &pat_ident.ident;
                let ty = annotation.map(|ty| quote!(: #ty));
                self.lower_declaration(
                    syn::parse_quote_spanned!(local.span()=> let mut #ident #ty = 0.0;),
                );
                return;
            }
            self.errors.spanned(
                local,
                "a `let` without a value is supported for a float assigned later; give the value at the `let`",
            );
            self.unlowered.insert(pat_ident.ident.to_string());
            return;
        };
        if let Some((else_token, _)) = &init.diverge {
            self.errors.spanned(
                else_token,
                "`let ... else` is not supported in a `#[backprop]` function",
            );
            return;
        }
        if pat_ident.mutability.is_some()
            && let Some((value, len, is_vec)) = buffer_init(&init.expr)
        {
            self.lower_buffer(&pat_ident.ident, annotation, &value, &len, is_vec);
            return;
        }
        // An array annotation says what a call of the user's own gate returns (see `bind`).
        if let Some(ty) = annotation
            && float_type(ty).is_none()
            && !classify(ty).is_ok_and(|ty| ty.is_tensor())
            && self.mentions_active(&init.expr)
        {
            self.errors.spanned(ty, "a differentiated value must be `f32`, `f64` or an ndarray array of floats; remove the annotation or use one of these types");
        }
        let name = pat_ident.ident.to_string();
        let value = self.value(&init.expr, &name);
        let first = self.bound.insert(name.clone());
        let var = match value {
            // `let v = h;` (or `h.view()`, `h.clone()`) of an array: another name for `h`, whose
            // lines read it through references anyway; a copy line would borrow or move it.
            Value::Operand(Operand::Var(v)) if self.vars[v].ty.is_tensor() => v,
            value => {
                let ident = self.namer.user_binding(&pat_ident.ident, first);
                self.bind(value, ident, annotation)
            }
        };
        if let Some(scope) = self.scopes.last_mut() {
            scope.insert(
                name,
                Binding {
                    var,
                    mutable: pat_ident.mutability.is_some(),
                },
            );
        }
    }

    /// `let mut h = vec![0.0; n];` or `[0.0; N]`: a local buffer, written by index later.
    fn lower_buffer(
        &mut self,
        ident: &Ident,
        annotation: Option<&syn::Type>,
        value: &Expr,
        len: &Expr,
        is_vec: bool,
    ) {
        if self.mentions_active(value) {
            self.errors.spanned(
                value,
                "a buffer starts from a constant (`vec![0.0; n]`); write the differentiated values into it by index",
            );
        }
        let elem = match annotation.map(classify) {
            Some(Ok(Ty::Array { elem, .. })) => elem,
            _ => self
                .constant_ty(value)
                .float()
                .unwrap_or(self.default_float),
        };
        let value = self.rename(value);
        let len = self.rename(len);
        let (ty, init) = if is_vec {
            (
                Ty::Array { elem, len: None },
                quote!(::std::vec![#value; #len]),
            )
        } else {
            (
                Ty::Array {
                    elem,
                    len: Some(len.to_token_stream()),
                },
                quote!([#value; #len]),
            )
        };
        let number = self.buffer_numbers.len();
        let active = self.active_buffers.contains(&number);
        let var = self.declare(ident, ty.clone(), active, true);
        self.vars[var].buffer = true;
        self.buffer_numbers.insert(var, number);
        let rule = rules::operator("copy");
        self.push_node(Node::Assign(Assign {
            target: var,
            prim: Prim::Table {
                rule,
                name: Ident::new("copy", Span::call_site()),
            },
            args: vec![Operand::Const {
                tokens: init,
                ty,
                atomic: true,
            }],
            annotation: annotation.map(ToTokens::to_token_stream),
            span: ident.span(),
        }));
    }

    /// `h[i] = value` or `h[i] op= value` into a local buffer: a write in place.
    fn lower_store(
        &mut self,
        target: &syn::ExprIndex,
        op: Option<&'static str>,
        right: &Expr,
        whole: &dyn ToTokens,
    ) {
        let Some(binding) = self.array_binding(&target.expr) else {
            self.errors.spanned(
                &target.expr,
                "only a local buffer can be written by index: `let mut h = vec![0.0; n];` then `h[i] = ..`",
            );
            return;
        };
        let buffer = binding.var;
        if !self.vars[buffer].buffer {
            self.errors.spanned(
                &target.expr,
                "a `#[backprop]` function does not write into its parameters; write into a local buffer (`let mut h = vec![0.0; n];`)",
            );
            return;
        }
        if self.mentions_active(&target.index) {
            self.errors.spanned(
                &target.index,
                "an index must not depend on differentiated values; use an integer expression",
            );
            return;
        }
        let index = self.rename(strip_parens(&target.index)).to_token_stream();
        let hint = self.vars[buffer].ident.to_string();
        let (op, value) = match op {
            None => (StoreOp::Set, self.operand(right, &hint)),
            Some("add") => (StoreOp::Add, self.operand(right, &hint)),
            Some("sub") => (StoreOp::Sub, self.operand(right, &hint)),
            // `h[i] *= v` is `h[i] = h[i] * v`.
            Some(op) => {
                let rhs = self.operand(right, &hint);
                let current = Operand::Element {
                    var: buffer,
                    index: index.clone(),
                };
                let value = table(op, vec![current, rhs], right.span());
                let ident = self.namer.fresh(&format!("{hint}_{op}"));
                (StoreOp::Set, Operand::Var(self.bind(value, ident, None)))
            }
        };
        if self.is_active(&value) && !self.vars[buffer].active {
            self.vars[buffer].active = true;
            if let Some(number) = self.buffer_numbers.get(&buffer) {
                self.written_active.insert(*number);
            }
        }
        self.push_node(Node::Store(Store {
            buffer,
            index,
            op,
            value,
            reset: true,
            span: whole.to_token_stream().span(),
        }));
    }

    /// `x = value` or `x op= value`: a new version of `x`.
    fn lower_assign(
        &mut self,
        left: &Expr,
        op: Option<&'static str>,
        right: &Expr,
        whole: &dyn ToTokens,
    ) {
        let Expr::Path(path) = strip_parens(left) else {
            match strip_parens(left) {
                Expr::Index(target) => self.lower_store(target, op, right, whole),
                _ => self.errors.spanned(
                    left,
                    "only local variables can be assigned to in a `#[backprop]` function",
                ),
            }
            return;
        };
        let Some(ident) = path.path.get_ident().cloned() else {
            self.errors.spanned(
                left,
                "only local variables can be assigned to in a `#[backprop]` function",
            );
            return;
        };
        let name = ident.to_string();
        let Some((depth, binding)) = self.lookup(&name) else {
            // A `let` reported already: one error, not one per assignment.
            if !self.unlowered.contains(&name) {
                self.errors.spanned(
                    left,
                    format!("cannot find a local variable `{name}` to assign to"),
                );
            }
            return;
        };
        if self.vars[binding.var].buffer {
            self.errors.spanned(
                whole,
                format!("`{name}` is a buffer: write its elements (`{name}[i] = ..`); replacing it whole is not supported"),
            );
            return;
        }
        if !binding.mutable {
            self.errors.spanned(
                whole,
                format!("cannot assign to `{name}`: it is not declared mutable; write `let mut {name}` (or `mut {name}` for a parameter), or bind a new `let {name} = ...`"),
            );
            return;
        }
        let value = match op {
            None => self.value(right, &name),
            Some(op) => {
                let rhs = self.operand(right, &name);
                Value::Assign {
                    prim: Prim::Table {
                        rule: rules::operator(op),
                        name: Ident::new(op, Span::call_site()),
                    },
                    args: vec![Operand::Var(binding.var), rhs],
                    span: right.span(),
                }
            }
        };
        let version = self.namer.user_binding(&ident, false);
        let var = self.bind(value, version, None);
        self.rebind(name, &ident, var, depth);
    }

    // ----- expressions ----------------------------------------------------------------------

    fn value(&mut self, expr: &Expr, hint: &str) -> Value {
        if !self.mentions_active(expr) && !contains_control_flow(expr) {
            return Value::Operand(self.constant(expr));
        }
        let span = expr.span();
        match expr {
            Expr::Paren(inner) => self.value(&inner.expr, hint),
            Expr::Group(inner) => self.value(&inner.expr, hint),
            Expr::Path(path) => match self.lookup_path(path) {
                Some(b) => Value::Operand(Operand::Var(b.var)),
                None => Value::Operand(self.constant(expr)),
            },
            Expr::Unary(unary) => match unary.op {
                UnOp::Neg(_) => {
                    let a = self.operand(&unary.expr, hint);
                    table("neg", vec![a], span)
                }
                _ => {
                    self.errors.spanned(unary, "only unary `-` can be differentiated; `!` and `*` are not supported on differentiated values");
                    Value::Operand(placeholder())
                }
            },
            Expr::Binary(binary) => self.binary(binary, hint),
            Expr::MethodCall(call) => self.method_call(call, hint),
            Expr::Call(call) => self.call(call, hint),
            Expr::Cast(cast) => match float_type(&cast.ty) {
                Some(to) => {
                    let a = self.operand(&cast.expr, hint);
                    Value::Assign {
                        prim: Prim::Cast(to),
                        args: vec![a],
                        span,
                    }
                }
                // `x as i32` of a differentiated `x` is piecewise constant: a constant.
                None => Value::Operand(self.constant_of_type(expr, Ty::Other)),
            },
            Expr::Index(index) => self.index(index),
            Expr::If(if_expr) => self.if_branch(if_expr, hint, true),
            Expr::Block(block) if block.label.is_none() => {
                self.scopes.push(HashMap::new());
                let returns = std::mem::replace(&mut self.returns_here, false);
                let result = self.lower_body(&block.block.stmts, block.span(), hint);
                self.returns_here = returns;
                self.scopes.pop();
                Value::Operand(result)
            }
            Expr::Lit(_) => Value::Operand(self.constant(expr)),
            // `&b` of an array, as in `x.dot(&w) + &b`: the array itself.
            Expr::Reference(reference)
                if reference.mutability.is_none() && self.expression_is_tensor(&reference.expr) =>
            {
                self.value(&reference.expr, hint)
            }
            Expr::Reference(reference) => {
                self.errors.spanned(
                    reference,
                    "references to differentiated values are not supported here; use the value itself (arrays may be passed as `&w` to a function call)",
                );
                Value::Operand(placeholder())
            }
            expr if buffer_init(expr).is_some() => {
                self.errors.spanned(
                    expr,
                    "an array of differentiated values is built as a buffer: `let mut h = vec![0.0; n];`, then `h[i] = ..`",
                );
                Value::Operand(placeholder())
            }
            expr if is_reported_by_validation(expr) => Value::Operand(placeholder()),
            Expr::Return(ret) => {
                self.errors.spanned(ret.return_token, "an early `return` is not supported yet; return once, as the last statement of the function");
                Value::Operand(placeholder())
            }
            other => {
                self.errors.spanned(
                    other,
                    format!(
                        "{} cannot be differentiated by `#[backprop]`; use `let` bindings, arithmetic, float methods, `if`/`else` and function calls",
                        describe(other)
                    ),
                );
                Value::Operand(placeholder())
            }
        }
    }

    fn binary(&mut self, binary: &syn::ExprBinary, hint: &str) -> Value {
        let span = binary.span();
        let name = match binary.op {
            BinOp::Add(_) => "add",
            BinOp::Sub(_) => "sub",
            BinOp::Mul(_) => "mul",
            BinOp::Div(_) => "div",
            BinOp::Rem(_) => "rem",
            BinOp::Eq(_)
            | BinOp::Ne(_)
            | BinOp::Lt(_)
            | BinOp::Le(_)
            | BinOp::Gt(_)
            | BinOp::Ge(_)
            | BinOp::And(_)
            | BinOp::Or(_) => {
                // A comparison is a constant (a `bool`) even when it reads differentiated values.
                return Value::Operand(
                    self.constant_of_type(&Expr::Binary(binary.clone()), Ty::Other),
                );
            }
            _ => {
                let message = if compound_op(&binary.op).is_some() {
                    "a compound assignment is a statement here: write `x += v;` on its own line"
                } else {
                    "bitwise and shift operators cannot be differentiated"
                };
                self.errors.spanned(binary.op, message);
                return Value::Operand(placeholder());
            }
        };
        if name == "div"
            && let Some(x) = sigmoid_idiom(binary)
        {
            let a = self.operand(x, hint);
            return table("sigmoid", vec![a], span);
        }
        let a = self.operand(&binary.left, hint);
        let b = self.operand(&binary.right, hint);
        table(name, vec![a, b], span)
    }

    fn method_call(&mut self, call: &syn::ExprMethodCall, hint: &str) -> Value {
        let span = call.span();
        if let Some(turbofish) = &call.turbofish {
            self.errors.spanned(
                turbofish,
                "turbofish arguments are not supported on differentiated values",
            );
            return Value::Operand(placeholder());
        }
        // `a.mean().unwrap()`: ndarray's mean is an `Option`, unwrapped as the user wrote it.
        if (call.method == "unwrap" || call.method == "expect")
            && let Expr::MethodCall(inner) = strip_parens(&call.receiver)
            && (inner.method == "mean" || inner.method == "mean_axis")
            && self.expression_is_tensor(&inner.receiver)
        {
            let (method, args) = (&call.method, &call.args);
            let unwrap = quote!(.#method(#args));
            let receiver = self.operand(&inner.receiver, hint);
            return self.tensor_method(receiver, inner, hint, Some(unwrap));
        }
        if self.expression_is_tensor(&call.receiver) {
            let before = self.errors.len();
            let receiver = self.operand(&call.receiver, hint);
            // The receiver was reported: no second error for what is called on it.
            if self.errors.len() > before {
                return Value::Operand(placeholder());
            }
            if self.operand_ty(&receiver).is_tensor() {
                return self.tensor_method(receiver, call, hint, None);
            }
        }
        let receiver_is_array = self.array_binding(&call.receiver).is_some();
        if receiver_is_array && call.method == "len" && call.args.is_empty() {
            return Value::Operand(
                self.constant_of_type(&Expr::MethodCall(call.clone()), Ty::Other),
            );
        }
        let name = call.method.to_string();
        let Some(rule) = rules::method_rule(&name) else {
            let message = if ARRAY_METHODS.iter().any(|(method, _)| *method == name) {
                format!(
                    "`{name}` is an array method, but its receiver is taken to be a float; if it is an array returned by your own function, say so at its `let`: `let h: Array1<f64> = g(..);`"
                )
            } else {
                format!(
                    "`{name}` is not a differentiable float method; supported methods are {}; for your own function, call it as `{name}(x)` and write a `{name}_backward` next to it",
                    rules::method_names()
                )
            };
            self.errors.spanned(&call.method, message);
            return Value::Operand(placeholder());
        };
        if call.args.len() + 1 != rule.arity {
            self.errors.spanned(
                call,
                format!("`{name}` takes {} argument(s)", rule.arity - 1),
            );
            return Value::Operand(placeholder());
        }
        let mut args = vec![self.operand(&call.receiver, hint)];
        for arg in &call.args {
            args.push(self.operand(arg, hint));
        }
        Value::Assign {
            prim: Prim::Table {
                rule,
                name: call.method.clone(),
            },
            args,
            span,
        }
    }

    /// `a.mapv(|v| expr)`: the closure's body is one expression of arithmetic and float
    /// methods, which hold elementwise, so it is lowered with `v` standing for the whole array
    /// (`a.mapv(|v| v * v + 1.0)` is `&a * &a + 1.0`), every line with its own rule.
    fn mapv_closure(&mut self, receiver: Operand, closure: &syn::ExprClosure, hint: &str) -> Value {
        let param = match closure.inputs.iter().collect::<Vec<_>>().as_slice() {
            [Pat::Ident(p)] if p.by_ref.is_none() && p.subpat.is_none() => p.ident.clone(),
            [Pat::Type(t)] if matches!(&*t.pat, Pat::Ident(_)) => match &*t.pat {
                Pat::Ident(p) => p.ident.clone(),
                _ => return Value::Operand(placeholder()),
            },
            _ => {
                self.errors.spanned(
                    &closure.inputs,
                    "a `mapv` closure takes one value: `|v| ..`",
                );
                return Value::Operand(placeholder());
            }
        };
        if let Some(offender) = not_elementwise(&closure.body) {
            self.errors.spanned(
                offender,
                "a `mapv` closure is differentiated as array operations on the whole array: its body is one expression of arithmetic, float methods and gates (no `if`, blocks or comparisons); for a branch, write a gate `g` with its `g_backward`",
            );
            return Value::Operand(placeholder());
        }
        let var = match receiver {
            Operand::Var(v) => v,
            other => {
                let ident = self.namer.fresh(&format!("{hint}_array"));
                self.bind(Value::Operand(other), ident, None)
            }
        };
        self.scopes.push(HashMap::new());
        if let Some(scope) = self.scopes.last_mut() {
            scope.insert(
                param.to_string(),
                Binding {
                    var,
                    mutable: false,
                },
            );
        }
        let value = self.value(&closure.body, hint);
        self.scopes.pop();
        value
    }

    /// A method of an ndarray array: the tensor operations, elementwise math, `mapv`.
    fn tensor_method(
        &mut self,
        receiver: Operand,
        call: &syn::ExprMethodCall,
        hint: &str,
        unwrap: Option<TokenStream>,
    ) -> Value {
        let span = call.span();
        let name = call.method.to_string();
        let tensor = |op: TensorOp, args: Vec<Operand>| Value::Assign {
            prim: Prim::Tensor(op),
            args,
            span,
        };
        let arity = ARRAY_METHODS
            .iter()
            .find(|(method, _)| *method == name)
            .map_or(usize::MAX, |&(_, arity)| arity);
        if arity != usize::MAX && call.args.len() != arity {
            self.errors
                .spanned(call, format!("`{name}` takes {arity} argument(s)"));
            return Value::Operand(placeholder());
        }
        let needs_unwrap = |this: &mut Self| -> Option<TokenStream> {
            if unwrap.is_none() {
                this.errors.spanned(
                    &call.method,
                    format!("ndarray's `{name}` returns an `Option` (`None` only for an empty array); unwrap it where you call it: `.{name}(..).expect(\"not empty\")`"),
                );
            }
            unwrap.clone()
        };
        match name.as_str() {
            "dot" => {
                let other = self.operand(&call.args[0], hint);
                let ranks = (
                    self.operand_ty(&receiver).rank(),
                    self.operand_ty(&other).rank(),
                );
                match ranks {
                    (Some(1 | 2), Some(1 | 2)) => tensor(TensorOp::Dot, vec![receiver, other]),
                    _ => {
                        self.errors.spanned(
                            call,
                            "`dot` is differentiated for arrays of rank 1 and 2 whose rank the macro can see; bind the operands to `Array1`/`Array2` parameters or `let`s",
                        );
                        Value::Operand(placeholder())
                    }
                }
            }
            "t" => tensor(TensorOp::T, vec![receiver]),
            // The same values: `u.view().insert_axis(Axis(1))` of a borrowed `u`.
            "view" | "clone" | "to_owned" if call.args.is_empty() => Value::Operand(receiver),
            "sum" => tensor(TensorOp::Sum, vec![receiver]),
            "mean" => match needs_unwrap(self) {
                Some(unwrap) => tensor(TensorOp::Mean { unwrap }, vec![receiver]),
                None => Value::Operand(placeholder()),
            },
            "sum_axis" | "insert_axis" | "mean_axis" => {
                if self.mentions_active(&call.args[0]) {
                    self.errors.spanned(
                        &call.args[0],
                        "an axis must not depend on differentiated values",
                    );
                    return Value::Operand(placeholder());
                }
                let axis = self.constant(&call.args[0]);
                match name.as_str() {
                    "sum_axis" => tensor(TensorOp::SumAxis, vec![receiver, axis]),
                    "insert_axis" => tensor(TensorOp::InsertAxis, vec![receiver, axis]),
                    _ => match needs_unwrap(self) {
                        Some(unwrap) => tensor(TensorOp::MeanAxis { unwrap }, vec![receiver, axis]),
                        None => Value::Operand(placeholder()),
                    },
                }
            }
            // `a.mapv(f64::exp)` is `a.exp()`; `a.mapv(backprop::sigmoid)` is the gate on `a`.
            "mapv" => {
                let Expr::Path(function) = strip_parens(&call.args[0]) else {
                    if let Expr::Closure(closure) = strip_parens(&call.args[0]) {
                        return self.mapv_closure(receiver, closure, hint);
                    }
                    self.errors.spanned(
                        &call.args[0],
                        "`mapv` is differentiated for a float method (`f64::exp`) or a gate (`backprop::sigmoid`); write the elementwise expression with array operations instead of a closure",
                    );
                    return Value::Operand(placeholder());
                };
                match float_method_path(&function.path) {
                    Some((float, method)) => {
                        match rules::method_rule(&method.to_string()) {
                            Some(rule)
                                if rule.arity == 1
                                    && !rules::SCALAR_ONLY_METHODS.contains(&rule.name) =>
                            {
                                let name = method.clone();
                                Value::Assign {
                                    prim: Prim::Table { rule, name },
                                    args: vec![receiver],
                                    span,
                                }
                            }
                            _ => {
                                self.errors.spanned(function, format!("`{}::{method}` cannot be mapped over an array differentiably", float.name()));
                                Value::Operand(placeholder())
                            }
                        }
                    }
                    _ => {
                        let (path, backward) = backward_path(&function.path);
                        Value::Assign {
                            prim: Prim::Call {
                                path,
                                backward,
                                by_ref: vec![false],
                            },
                            args: vec![receiver],
                            span,
                        }
                    }
                }
            }
            method if SHAPE_METHODS.contains(&method) => {
                Value::Operand(self.constant_of_type(&Expr::MethodCall(call.clone()), Ty::Other))
            }
            method => match rules::method_rule(method) {
                Some(rule)
                    if !rules::SCALAR_ONLY_METHODS.contains(&method)
                        && call.args.len() + 1 == rule.arity =>
                {
                    let mut args = vec![receiver];
                    for arg in &call.args {
                        args.push(self.operand(arg, hint));
                    }
                    if args[1..].iter().any(|a| self.operand_ty(a).is_tensor()) {
                        self.errors.spanned(
                            call,
                            format!("`{method}` on arrays takes a scalar argument"),
                        );
                        return Value::Operand(placeholder());
                    }
                    Value::Assign {
                        prim: Prim::Table {
                            rule,
                            name: call.method.clone(),
                        },
                        args,
                        span,
                    }
                }
                _ => {
                    self.errors.spanned(
                        &call.method,
                        format!(
                            "`{method}` is not differentiated on arrays; supported: `dot`, `t`, `view`, `clone`, `sum`, `mean`, `sum_axis`, `mean_axis`, `insert_axis`, `mapv`, elementwise float methods, and the gates `backprop::{{relu, sigmoid, softplus, softmax, log_softmax, max_axis, pick}}`"
                        ),
                    );
                    Value::Operand(placeholder())
                }
            },
        }
    }

    fn call(&mut self, call: &syn::ExprCall, hint: &str) -> Value {
        let span = call.span();
        let Expr::Path(func) = strip_parens(&call.func) else {
            self.errors.spanned(
                &call.func,
                "only calls of named functions can be differentiated",
            );
            return Value::Operand(placeholder());
        };
        if func.qself.is_some() || func.path.segments.iter().any(|s| !s.arguments.is_none()) {
            self.errors.spanned(
                func,
                "generic or qualified calls are not supported; call the function by its plain path",
            );
            return Value::Operand(placeholder());
        }
        // `f64::exp(x)` is `x.exp()`.
        if let Some((float, method)) = float_method_path(&func.path) {
            let name = method.to_string();
            let Some(rule) = rules::method_rule(&name) else {
                self.errors.spanned(
                    method,
                    format!(
                        "`{name}` is not a differentiable float method; supported methods are {}",
                        rules::method_names()
                    ),
                );
                return Value::Operand(placeholder());
            };
            if call.args.len() != rule.arity {
                self.errors.spanned(
                    call,
                    format!(
                        "`{}::{name}` takes {} argument(s)",
                        float.name(),
                        rule.arity
                    ),
                );
                return Value::Operand(placeholder());
            }
            let args = call.args.iter().map(|a| self.operand(a, hint)).collect();
            return Value::Assign {
                prim: Prim::Table {
                    rule,
                    name: method.clone(),
                },
                args,
                span,
            };
        }
        let mut args = Vec::new();
        let mut by_ref = Vec::new();
        for arg in &call.args {
            if let Expr::Reference(reference) = strip_parens(arg)
                && reference.mutability.is_none()
                && self.expression_is_tensor(&reference.expr)
            {
                // Arrays are passed by reference anyway: `softmax(&scores, Axis(1))`.
                args.push(self.operand(arg, hint));
                by_ref.push(false);
            } else if let Expr::Reference(reference) = strip_parens(arg) {
                let is_array = self.array_binding(&reference.expr).is_some();
                if reference.mutability.is_some() || !is_array {
                    if self.mentions_active(arg) {
                        self.errors.spanned(reference, "only array parameters can be passed by reference (`&w`) to a differentiated call");
                    }
                    args.push(self.constant(arg));
                    by_ref.push(false);
                } else {
                    args.push(self.operand(&reference.expr, hint));
                    by_ref.push(true);
                }
            } else {
                args.push(self.operand(arg, hint));
                by_ref.push(false);
            }
        }
        let (path, backward) = backward_path(&func.path);
        Value::Assign {
            prim: Prim::Call {
                path,
                backward,
                by_ref,
            },
            args,
            span,
        }
    }

    fn index(&mut self, index: &syn::ExprIndex) -> Value {
        let base = self.array_binding(&index.expr);
        let Some(base) = base else {
            let message = match &*index.expr {
                Expr::Path(path)
                    if self
                        .lookup_path(path)
                        .is_some_and(|b| self.vars[b.var].ty.is_tensor()) =>
                {
                    "an ndarray array is not differentiated element by element; write whole-array operations (`a.sum()`, `a.dot(&b)`, `backprop::pick(&a, labels)`), or take the values as a slice `&[f64]`"
                }
                _ => {
                    "only slices, arrays (`[F; N]`, `&[F]`, `Vec<F>`) and local buffers can be indexed in a `#[backprop]` function"
                }
            };
            self.errors.spanned(&index.expr, message);
            return Value::Operand(placeholder());
        };
        if self.mentions_active(&index.index) {
            self.errors.spanned(
                &index.index,
                "an index must not depend on differentiated values; use an integer expression",
            );
            return Value::Operand(placeholder());
        }
        let index = self.rename(strip_parens(&index.index)).to_token_stream();
        Value::Operand(Operand::Element {
            var: base.var,
            index,
        })
    }

    /// An `if` used as a value (`has_value`, which needs an `else`) or as a statement that
    /// assigns outer variables.
    fn if_branch(&mut self, if_expr: &syn::ExprIf, hint: &str, has_value: bool) -> Value {
        let returns = std::mem::replace(&mut self.returns_here, false);
        let value = self.if_branch_arms(if_expr, hint, has_value);
        self.returns_here = returns;
        value
    }

    fn if_branch_arms(&mut self, if_expr: &syn::ExprIf, hint: &str, has_value: bool) -> Value {
        if matches!(&*if_expr.cond, Expr::Let(_)) {
            self.errors.spanned(
                &if_expr.cond,
                "`if let` is not supported; compare values: `if x > 0.0 { .. } else { .. }`",
            );
            return Value::Operand(placeholder());
        }
        if has_value && if_expr.else_branch.is_none() {
            self.errors.spanned(
                if_expr.if_token,
                "an `if` used as a value needs an `else` branch: `if cond { a } else { b }`",
            );
            return Value::Operand(placeholder());
        }
        let cond = {
            let renamed = self.rename(&if_expr.cond);
            quote!(#renamed)
        };
        let then = |this: &mut Self| {
            this.lower_body_value(
                &if_expr.then_branch.stmts,
                if_expr.then_branch.span(),
                hint,
                has_value,
            )
        };
        let otherwise = |this: &mut Self| match if_expr.else_branch.as_ref().map(|(_, e)| &**e) {
            Some(Expr::Block(block)) => {
                this.lower_body_value(&block.block.stmts, block.span(), hint, has_value)
            }
            Some(Expr::If(nested)) => {
                let value = this.if_branch(nested, hint, has_value);
                match value {
                    Value::Branch { .. } => {
                        let ident = if has_value {
                            Some(this.namer.fresh(&format!("{hint}_if")))
                        } else {
                            None
                        };
                        let value_var = this.bind_branch(value, ident, None);
                        value_var.map(Operand::Var).unwrap_or_else(placeholder)
                    }
                    Value::Operand(operand) => operand,
                    other => {
                        let ident = this.namer.fresh(&format!("{hint}_if"));
                        Operand::Var(this.bind(other, ident, None))
                    }
                }
            }
            Some(other) => this.operand(other, hint),
            None => placeholder(),
        };
        self.make_branch(cond, if_expr.span(), has_value, then, otherwise)
    }

    /// A branch from its two arms, each lowered in its own scope.
    fn make_branch(
        &mut self,
        cond: TokenStream,
        span: Span,
        has_value: bool,
        then: impl FnOnce(&mut Self) -> Operand,
        otherwise: impl FnOnce(&mut Self) -> Operand,
    ) -> Value {
        let then = self.arm(then);
        let otherwise = self.arm(otherwise);
        // Every outer variable either arm assigns is a result of both arms: the arm that does
        // not assign it passes on the value from before the branch.
        let (then_nodes, then_value, then_assigned) = then;
        let (else_nodes, else_value, else_assigned) = otherwise;
        let mut assigned: Vec<(String, Ident)> = Vec::new();
        for (name, ident, _) in then_assigned.iter().chain(&else_assigned) {
            if !assigned.iter().any(|(n, _)| n == name) {
                assigned.push((name.clone(), ident.clone()));
            }
        }
        // In the order the variables were declared, so that an `else if` chain's nested
        // branch lines up with its parent (and prints as `else if`).
        assigned.sort_by_key(|(name, _)| self.lookup(name).map(|(_, b)| b.var));
        let results = |this: &Self, value: Operand, arm_assigned: &[(String, Ident, VarId)]| {
            let mut results = Vec::new();
            if has_value {
                results.push(value);
            }
            for (name, _) in &assigned {
                let var = match arm_assigned.iter().find(|(n, _, _)| n == name) {
                    Some((_, _, var)) => *var,
                    None => this.lookup(name).map(|(_, b)| b.var).unwrap_or(0),
                };
                results.push(Operand::Var(var));
            }
            results
        };
        let then = Block {
            nodes: then_nodes,
            results: results(self, then_value, &then_assigned),
        };
        let otherwise = Block {
            nodes: else_nodes,
            results: results(self, else_value, &else_assigned),
        };
        Value::Branch {
            cond,
            then,
            otherwise,
            span,
            has_value,
            assigned,
        }
    }

    /// Lowers one branch arm in its own scope and node list: its nodes, its value, and the
    /// outer variables it assigns with their final versions.
    fn arm(
        &mut self,
        lower: impl FnOnce(&mut Self) -> Operand,
    ) -> (Vec<Node>, Operand, Vec<(String, Ident, VarId)>) {
        self.scopes.push(HashMap::new());
        let start = self.scopes.len() - 1;
        self.arm_starts.push(start);
        self.arm_assigned.push(Vec::new());
        self.nodes.push(Vec::new());
        let value = lower(self);
        let nodes = self.nodes.pop().unwrap_or_default();
        let assigned = self.arm_assigned.pop().unwrap_or_default();
        let finals = assigned
            .into_iter()
            .filter_map(|(name, ident)| {
                let var = self.scopes.get(start)?.get(&name)?.var;
                Some((name, ident, var))
            })
            .collect();
        self.arm_starts.pop();
        self.scopes.pop();
        (nodes, value, finals)
    }
}

fn table(name: &'static str, args: Vec<Operand>, span: Span) -> Value {
    Value::Assign {
        prim: Prim::Table {
            rule: rules::operator(name),
            name: Ident::new(name, Span::call_site()),
        },
        args,
        span,
    }
}

/// What a temporary holding `value` is named after.
fn value_name(value: &Value) -> String {
    match value {
        Value::Operand(_) => "value".into(),
        Value::Assign { prim, .. } => match prim {
            Prim::Table { rule, .. } => rule.name.into(),
            Prim::Cast(to) => format!("as_{}", to.name()),
            Prim::Tensor(op) => match op {
                TensorOp::Dot => "dot",
                TensorOp::T => "t",
                TensorOp::Sum => "sum",
                TensorOp::Mean { .. } => "mean",
                TensorOp::SumAxis => "sum_axis",
                TensorOp::MeanAxis { .. } => "mean_axis",
                TensorOp::InsertAxis => "insert_axis",
            }
            .into(),
            Prim::Call { path, .. } => rules::function_name(path),
        },
        Value::Branch { .. } => "if".into(),
    }
}

/// `g` → (`g`, `g_backward`); a path into the runtime crate is made absolute.
fn backward_path(path: &syn::Path) -> (TokenStream, TokenStream) {
    let mut forward = path.clone();
    if forward.leading_colon.is_none()
        && forward.segments.len() > 1
        && forward.segments[0].ident == "backprop"
    {
        forward.leading_colon = Some(Default::default());
    }
    let mut backward = forward.clone();
    if let Some(last) = backward.segments.last_mut() {
        // `format_ident!` drops the `r#` of a raw name: `r#type` → `type_backward`.
        last.ident = quote::format_ident!("{}_backward", last.ident, span = last.ident.span());
    }
    (forward.to_token_stream(), backward.to_token_stream())
}

/// `1.0 / (1.0 + (-x).exp())` (or with `f64::exp(-x)`): the lecture's sigmoid, returns `x`.
fn sigmoid_idiom(div: &syn::ExprBinary) -> Option<&Expr> {
    if !is_one(&div.left) {
        return None;
    }
    let Expr::Binary(sum) = strip_parens(&div.right) else {
        return None;
    };
    if !matches!(sum.op, BinOp::Add(_)) || !is_one(&sum.left) {
        return None;
    }
    let negated = match strip_parens(&sum.right) {
        Expr::MethodCall(call) if call.method == "exp" && call.args.is_empty() => &*call.receiver,
        Expr::Call(call) if call.args.len() == 1 => match strip_parens(&call.func) {
            Expr::Path(p) if float_method_path(&p.path).is_some_and(|(_, m)| m == "exp") => {
                &call.args[0]
            }
            _ => return None,
        },
        _ => return None,
    };
    match strip_parens(negated) {
        Expr::Unary(unary) if matches!(unary.op, UnOp::Neg(_)) => Some(&unary.expr),
        _ => None,
    }
}

fn is_one(expr: &Expr) -> bool {
    match strip_parens(expr) {
        Expr::Lit(lit) => match &lit.lit {
            Lit::Float(f) => f.base10_parse::<f64>().is_ok_and(|v| v == 1.0),
            Lit::Int(i) => i.base10_digits() == "1",
            _ => false,
        },
        _ => false,
    }
}

/// Whether `expr` needs no parentheses next to an operator.
fn is_atomic(expr: &Expr) -> bool {
    matches!(
        strip_parens(expr),
        Expr::Path(_)
            | Expr::Lit(_)
            | Expr::MethodCall(_)
            | Expr::Call(_)
            | Expr::Index(_)
            | Expr::Field(_)
    ) && !matches!(strip_parens(expr), Expr::Lit(syn::ExprLit { lit: Lit::Int(_) | Lit::Float(_), .. }) if expr.to_token_stream().to_string().starts_with('-'))
}

fn strip_parens(expr: &Expr) -> &Expr {
    match expr {
        Expr::Paren(inner) => strip_parens(&inner.expr),
        Expr::Group(inner) => strip_parens(&inner.expr),
        other => other,
    }
}

fn is_arithmetic(op: &BinOp) -> bool {
    matches!(
        op,
        BinOp::Add(_) | BinOp::Sub(_) | BinOp::Mul(_) | BinOp::Div(_) | BinOp::Rem(_)
    )
}

fn compound_op(op: &BinOp) -> Option<&'static str> {
    match op {
        BinOp::AddAssign(_) => Some("add"),
        BinOp::SubAssign(_) => Some("sub"),
        BinOp::MulAssign(_) => Some("mul"),
        BinOp::DivAssign(_) => Some("div"),
        BinOp::RemAssign(_) => Some("rem"),
        _ => None,
    }
}

/// `f64::name` or `f32::name`: the float type and the method's name.
fn float_method_path(path: &syn::Path) -> Option<(FloatTy, &Ident)> {
    if path.leading_colon.is_some() || path.segments.len() != 2 {
        return None;
    }
    let float = match path.segments[0].ident.to_string().as_str() {
        "f64" => FloatTy::F64,
        "f32" => FloatTy::F32,
        _ => return None,
    };
    Some((float, &path.segments[1].ident))
}

/// A loop whose body has, among its own statements, a `return` guard
/// `if cond { ..; return v; }` or a loop of which this holds, and no `break` guard: that is its
/// one exit (not after a `continue` guard, which makes the rest of the body a branch arm).
fn returns_from_loop(looped: &Expr) -> bool {
    match looped {
        Expr::ForLoop(l) => returns_from_body(&l.body),
        Expr::While(l) => returns_from_body(&l.body),
        Expr::Loop(l) => returns_from_body(&l.body),
        _ => false,
    }
}

/// [`returns_from_loop`] of a loop with this body.
fn returns_from_body(body: &syn::Block) -> bool {
    let mut exits = body.stmts.iter().enumerate().filter(|(_, s)| match s {
        Stmt::Expr(Expr::If(e), _) => is_return_guard(e) || break_guard_body(e).is_some(),
        Stmt::Expr(inner, _) => returns_from_loop(inner),
        _ => false,
    });
    let (Some((at, exit)), None) = (exits.next(), exits.next()) else {
        return false;
    };
    let continued = body.stmts[..at]
        .iter()
        .any(|s| matches!(s, Stmt::Expr(Expr::If(e), _) if is_continue_guard(e)));
    let breaks = matches!(exit, Stmt::Expr(Expr::If(e), _) if break_guard_body(e).is_some());
    !continued && !breaks
}

/// The statements before the `break` of `if cond { ..; break; }` (no other `break`,
/// `continue` or `return` among them).
fn break_guard_body(if_expr: &syn::ExprIf) -> Option<&[Stmt]> {
    if if_expr.else_branch.is_some() || matches!(&*if_expr.cond, Expr::Let(_)) {
        return None;
    }
    let (Stmt::Expr(Expr::Break(b), _), before) = if_expr.then_branch.stmts.split_last()? else {
        return None;
    };
    let jumps = before.iter().any(|s| {
        let block = syn::Block {
            brace_token: Default::default(),
            stmts: vec![s.clone()],
        };
        find_return(&block).is_some() || find_loop_jump(&block)
    });
    (b.label.is_none() && b.expr.is_none() && !jumps).then_some(before)
}

/// `if cond { ..; return v; }`: a block ending with a `return`, with no other `return` in it.
fn is_return_guard(if_expr: &syn::ExprIf) -> bool {
    let stmts = &if_expr.then_branch.stmts;
    if if_expr.else_branch.is_some() || matches!(&*if_expr.cond, Expr::Let(_)) {
        return false;
    }
    let Some((Stmt::Expr(Expr::Return(ret), _), before)) = stmts.split_last() else {
        return false;
    };
    ret.expr.is_some()
        && !before.iter().any(|s| {
            find_return(&syn::Block {
                brace_token: Default::default(),
                stmts: vec![s.clone()],
            })
            .is_some()
        })
}

/// `if cond { continue; }`.
fn is_continue_guard(if_expr: &syn::ExprIf) -> bool {
    if_expr.else_branch.is_none()
        && matches!(if_expr.then_branch.stmts.as_slice(), [Stmt::Expr(Expr::Continue(c), _)] if c.label.is_none())
}

/// The names assigned (`x = ..`, `x += ..`) anywhere in `block`.
fn assigned_names(block: &syn::Block) -> Vec<Ident> {
    struct Finder {
        names: Vec<Ident>,
    }
    impl<'ast> Visit<'ast> for Finder {
        fn visit_expr_assign(&mut self, assign: &'ast syn::ExprAssign) {
            if let Expr::Path(path) = strip_parens(&assign.left)
                && let Some(ident) = path.path.get_ident()
            {
                self.names.push(ident.clone());
            }
            syn::visit::visit_expr_assign(self, assign);
        }
        fn visit_expr_binary(&mut self, binary: &'ast syn::ExprBinary) {
            if compound_op(&binary.op).is_some()
                && let Expr::Path(path) = strip_parens(&binary.left)
                && let Some(ident) = path.path.get_ident()
            {
                self.names.push(ident.clone());
            }
            syn::visit::visit_expr_binary(self, binary);
        }
        fn visit_expr_closure(&mut self, _: &'ast syn::ExprClosure) {}
        fn visit_item(&mut self, _: &'ast syn::Item) {}
    }
    let mut finder = Finder { names: Vec::new() };
    finder.visit_block(block);
    finder.names
}

/// The first `return` inside `block`, not looking into nested functions.
/// Whether `block` has a `break` or `continue` of the enclosing loop (not of a loop inside it).
fn find_loop_jump(block: &syn::Block) -> bool {
    struct Finder {
        found: bool,
    }
    impl<'ast> Visit<'ast> for Finder {
        fn visit_expr_break(&mut self, _: &'ast syn::ExprBreak) {
            self.found = true;
        }
        fn visit_expr_continue(&mut self, _: &'ast syn::ExprContinue) {
            self.found = true;
        }
        fn visit_expr_for_loop(&mut self, _: &'ast syn::ExprForLoop) {}
        fn visit_expr_while(&mut self, _: &'ast syn::ExprWhile) {}
        fn visit_expr_loop(&mut self, _: &'ast syn::ExprLoop) {}
        fn visit_item(&mut self, _: &'ast syn::Item) {}
        fn visit_expr_closure(&mut self, _: &'ast syn::ExprClosure) {}
    }
    let mut finder = Finder { found: false };
    finder.visit_block(block);
    finder.found
}

fn find_return(block: &syn::Block) -> Option<&syn::ExprReturn> {
    struct Finder<'ast> {
        found: Option<&'ast syn::ExprReturn>,
    }
    impl<'ast> Visit<'ast> for Finder<'ast> {
        fn visit_expr_return(&mut self, ret: &'ast syn::ExprReturn) {
            self.found.get_or_insert(ret);
        }
        fn visit_item(&mut self, _: &'ast syn::Item) {}
        fn visit_expr_closure(&mut self, _: &'ast syn::ExprClosure) {}
    }
    let mut finder = Finder { found: None };
    finder.visit_block(block);
    finder.found
}

/// Whether `expr` reads a name that one of `patterns` binds.
fn reads_any(expr: &Expr, patterns: &syn::punctuated::Punctuated<Pat, syn::Token![,]>) -> bool {
    // By names (a method named like a binding only makes this more careful).
    let (mut bound, mut read) = (HashSet::new(), HashSet::new());
    patterns
        .iter()
        .for_each(|p| crate::ir::idents_in(p.to_token_stream(), &mut bound));
    crate::ir::idents_in(expr.to_token_stream(), &mut read);
    !bound.is_disjoint(&read)
}

/// The first part of a `mapv` closure's body that is not elementwise array code: anything
/// but arithmetic, negation, literals, names, parentheses, method calls and function calls.
fn not_elementwise(expr: &Expr) -> Option<&Expr> {
    match strip_parens(expr) {
        Expr::Binary(b) if is_arithmetic(&b.op) => {
            not_elementwise(&b.left).or_else(|| not_elementwise(&b.right))
        }
        Expr::Unary(u) if matches!(u.op, UnOp::Neg(_)) => not_elementwise(&u.expr),
        Expr::Lit(_) | Expr::Path(_) => None,
        Expr::MethodCall(m) => {
            not_elementwise(&m.receiver).or_else(|| m.args.iter().find_map(not_elementwise))
        }
        Expr::Call(c) => c.args.iter().find_map(not_elementwise),
        other => Some(other),
    }
}

/// `vec![value; len]` or `[value; N]`: the start of a local buffer, its value and length, and
/// whether it is a `Vec`.
pub fn buffer_init(expr: &Expr) -> Option<(Expr, Expr, bool)> {
    match strip_parens(expr) {
        Expr::Repeat(repeat) => Some(((*repeat.expr).clone(), (*repeat.len).clone(), false)),
        Expr::Macro(mac) => vec_repeat(&mac.mac).map(|(value, len)| (value, len, true)),
        _ => None,
    }
}

/// `vec![value; len]`: its value and length.
pub fn vec_repeat(mac: &syn::Macro) -> Option<(Expr, Expr)> {
    if !mac.path.is_ident("vec") {
        return None;
    }
    let parser = |input: syn::parse::ParseStream| {
        let value: Expr = input.parse()?;
        input.parse::<syn::Token![;]>()?;
        let len: Expr = input.parse()?;
        Ok((value, len))
    };
    syn::parse::Parser::parse2(parser, mac.tokens.clone()).ok()
}

/// Branches and blocks are lowered even when constant, so their statements are checked.
fn contains_control_flow(expr: &Expr) -> bool {
    matches!(strip_parens(expr), Expr::If(_) | Expr::Block(_))
}

/// Constructs that `validate` reports once, wherever they are.
fn is_reported_by_validation(expr: &Expr) -> bool {
    matches!(
        expr,
        Expr::Closure(_)
            | Expr::Macro(_)
            | Expr::Unsafe(_)
            | Expr::Async(_)
            | Expr::Await(_)
            | Expr::Try(_)
            | Expr::TryBlock(_)
            | Expr::Yield(_)
    )
}

fn describe(expr: &Expr) -> &'static str {
    match expr {
        Expr::Array(_) => "an array literal",
        Expr::Assign(_) => "an assignment inside an expression",
        Expr::Break(_) => "`break`",
        Expr::Continue(_) => "`continue`",
        Expr::Field(_) => "a field access",
        Expr::Match(_) => "a `match`",
        Expr::Range(_) => "a range",
        Expr::Repeat(_) => "an array repeat expression",
        Expr::Struct(_) => "a struct literal",
        Expr::Tuple(_) => "a tuple",
        Expr::Let(_) => "a `let` expression",
        Expr::Block(_) => "a labeled block",
        _ => "this expression",
    }
}

/// Whether an `if` statement does anything: assign outer variables or write into buffers.
fn has_effect(value: &Value) -> bool {
    let Value::Branch {
        assigned,
        then,
        otherwise,
        ..
    } = value
    else {
        return false;
    };
    let mut written = Vec::new();
    for node in then.nodes.iter().chain(&otherwise.nodes) {
        node.stores(&mut written);
    }
    !assigned.is_empty() || !written.is_empty()
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
