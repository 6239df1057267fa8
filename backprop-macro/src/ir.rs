//! The staged IR: the user's function as a list of single-operation assignments.
//!
//! Lowering turns nested expressions into named temporaries and every re-binding of a name
//! (shadowing, reassignment, `+=`) into a new variable, so each variable is assigned exactly
//! once and its value is still there when the reverse sweep needs it.

use std::collections::HashSet;

use proc_macro2::{Ident, Span, TokenStream, TokenTree};

use crate::rules::Prim;

/// Index of a variable in [`Program::vars`].
pub type VarId = usize;

/// Width of a float.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FloatTy {
    F32,
    F64,
}

impl FloatTy {
    pub fn name(self) -> &'static str {
        match self {
            FloatTy::F32 => "f32",
            FloatTy::F64 => "f64",
        }
    }

    pub fn ident(self) -> Ident {
        Ident::new(self.name(), Span::call_site())
    }
}

/// The variables a tuple result is taken apart into (`let (h, (_, gx)) = g(..);`): a leaf is a
/// variable (a `_` gets one of its own, so that a zero of its shape can be made). In a
/// function's tuple value ([`crate::rules::Prim::Tuple`]), a leaf is an operand position.
#[derive(Clone, Debug)]
pub enum Parts {
    Leaf(VarId),
    Tuple(Vec<Parts>),
}

impl Parts {
    /// The leaves, in order, with their positions in the tuple (`[1, 0]` for `.1.0`).
    pub fn leaves(&self) -> Vec<(Vec<usize>, VarId)> {
        fn walk(parts: &Parts, at: &mut Vec<usize>, out: &mut Vec<(Vec<usize>, VarId)>) {
            match parts {
                Parts::Leaf(v) => out.push((at.clone(), *v)),
                Parts::Tuple(elems) => {
                    for (k, e) in elems.iter().enumerate() {
                        at.push(k);
                        walk(e, at, out);
                        at.pop();
                    }
                }
            }
        }
        let mut out = Vec::new();
        walk(self, &mut Vec::new(), &mut out);
        out
    }

    /// The pattern (or tuple expression) with each leaf written by `leaf`.
    pub fn render(&self, leaf: &mut impl FnMut(VarId) -> TokenStream) -> TokenStream {
        match self {
            Parts::Leaf(v) => leaf(*v),
            Parts::Tuple(elems) => {
                let elems: Vec<TokenStream> = elems.iter().map(|e| e.render(leaf)).collect();
                quote::quote!((#(#elems),*))
            }
        }
    }
}

/// What the macro knows of a value's type.
#[derive(Clone, Debug)]
pub enum Ty {
    /// `f32` or `f64`.
    Float(FloatTy),
    /// An unsuffixed float literal (or constant expression of them): takes the width of
    /// whatever it meets.
    FloatLit,
    /// `[F; N]` (or a reference to one), `len` being the user's length expression; or, with
    /// `len: None`, a slice `&[F]` or a `Vec<F>`, whose gradient is a `Vec<F>`.
    Array {
        elem: FloatTy,
        len: Option<TokenStream>,
    },
    /// An ndarray array or view of floats, `rank` 1 or 2 when known. `by_ref` marks a
    /// variable that already holds a reference (`x: &Array2<f64>`), used as `x`, not `&x`.
    Tensor {
        elem: FloatTy,
        rank: Option<usize>,
        by_ref: bool,
    },
    /// Integers, `bool`, and anything else: never differentiated.
    Other,
    /// `&[Array2<F>]` or `Vec<Array2<F>>`: arrays of one rank, one per time step, read as
    /// `xs[t]`; a constant (its elements are read as constant arrays).
    Tensors { elem: FloatTy, rank: Option<usize> },
    /// A call's tuple result (`let (h, c) = g(..);`), taken apart into its [`Parts`].
    Tuple,
    /// The gradient of a struct argument in a call's tuple result (`_` of `let (v, (_, gx)) =
    /// critic_grad(&net, x);`): its upstream is a zero of its own shape.
    Struct,
    /// The reverse of a call in split mode (`let (y, y_reverse) = g_forward(..);`): a closure
    /// that takes the call's upstream gradient and returns its gradients, called once.
    Reverse,
}

impl Ty {
    /// A zero of this type and of `value`'s shape (a float's is `0.0`).
    pub fn zero_like(&self, value: &TokenStream) -> TokenStream {
        match self {
            Ty::Tensor { .. } => quote::quote!(::backprop::ndarray::Array::zeros(#value.raw_dim())),
            Ty::Array { len: Some(len), .. } => quote::quote!([0.0; #len]),
            Ty::Array { len: None, .. } => quote::quote!(vec![0.0; #value.len()]),
            Ty::Struct => quote::quote!(::backprop::Differentiable::zeros_like(&#value)),
            _ => quote::quote!(0.0),
        }
    }

    pub fn float(&self) -> Option<FloatTy> {
        match self {
            Ty::Float(f) => Some(*f),
            Ty::Array { elem, .. } | Ty::Tensor { elem, .. } => Some(*elem),
            _ => None,
        }
    }

    pub fn is_tensor(&self) -> bool {
        matches!(self, Ty::Tensor { .. })
    }

    /// The rank of a tensor, 0 for a scalar.
    pub fn rank(&self) -> Option<usize> {
        match self {
            Ty::Tensor { rank, .. } => *rank,
            Ty::Float(_) | Ty::FloatLit => Some(0),
            _ => None,
        }
    }
}

/// One variable of the staged program (a parameter, a user `let`, a temporary or a version
/// of a reassigned `let mut`).
#[derive(Clone, Debug)]
pub struct Var {
    /// The name in generated code; unique in the whole function.
    pub ident: Ident,
    pub ty: Ty,
    /// Whether the variable depends differentiably on a differentiable parameter. Only active
    /// variables get a gradient.
    pub active: bool,
    /// A local buffer (`let mut h = vec![0.0; n];`): one array written in place by [`Store`]s,
    /// never re-bound.
    pub buffer: bool,
    /// A buffer some of whose reads see a value that a later write overwrites: each write
    /// pushes the element's old value on the buffer's tape, and the reverse pass restores it
    /// where it reverses that write (decided in [`crate::buffers`]).
    pub taped: bool,
}

/// An operand of an operation.
#[derive(Clone, Debug)]
pub enum Operand {
    Var(VarId),
    /// `w[i]`: one element of an array variable, at an index that is not differentiated.
    /// Its gradient lands in `d_w[i]`. With a range for an index (`&q[a..b]`, passed to a
    /// call), a sub-slice, whose gradient lands in `d_q[a..b]` (see [`is_range`]).
    Element {
        var: VarId,
        index: TokenStream,
    },
    /// A value that is not differentiated: a literal, a constant, or an expression of
    /// constants and inactive values, already renamed. `atomic` is false for a compound
    /// expression, which is parenthesised where it meets an operator.
    Const {
        tokens: TokenStream,
        ty: Ty,
        atomic: bool,
    },
}

/// `target = prim(args)`.
#[derive(Clone, Debug)]
pub struct Assign {
    pub target: VarId,
    pub prim: Prim,
    pub args: Vec<Operand>,
    /// The user's type annotation of a `let`, kept on the forward line.
    pub annotation: Option<TokenStream>,
    /// The user's expression this line came from: forward code is spanned here so that
    /// rustc's own errors point into the user's function.
    pub span: Span,
}

/// `(targets..) = if cond { then } else { otherwise }`: the branch's value (if it is used as
/// one) and the new versions of the outer variables its arms assign, in the order of the arms'
/// `results`.
#[derive(Clone, Debug)]
pub struct Branch {
    pub targets: Vec<VarId>,
    /// The condition, rendered; it reads only values that are never overwritten, so the
    /// reverse sweep evaluates it again instead of storing it.
    pub cond: TokenStream,
    pub then: Block,
    pub otherwise: Block,
    pub span: Span,
}

/// `for index in start..end { body }`, the body in SSA form over the loop-carried variables.
#[derive(Clone, Debug)]
pub struct Loop {
    pub kind: LoopKind,
    /// An `if cond { break; }` guard in the body, if there is one.
    pub exit: Option<LoopExit>,
    /// The outer `let mut` variables the body assigns; the body's results are their values at
    /// the end of an iteration, in this order.
    pub carried: Vec<Carried>,
    pub body: Block,
    /// Taped buffers the loop sets every element of, once each, without reading them: the
    /// forward pass keeps the whole old contents before the loop (one `push_slice`), the reverse
    /// pass puts them back after the reversed loop, instead of a push and a pop per write
    /// (decided in [`crate::buffers`]).
    pub saved_whole: Vec<VarId>,
    pub span: Span,
}

/// What drives a loop.
#[derive(Clone, Debug)]
pub enum LoopKind {
    /// `for index in range` (or `range.rev()`); `range` rendered: `0..n`, `1..=n`.
    For {
        index: VarId,
        range: TokenStream,
        rev: bool,
    },
    /// `while cond`, the condition rendered over the values an iteration starts with; the
    /// forward pass counts the iterations in `trips` for the reverse pass.
    While { cond: TokenStream, trips: Ident },
}

/// `if cond { break; }` after the body's first `pre_len` lines: the iteration that breaks ran
/// those lines only, leaving the carried variables at `pre_results`.
#[derive(Clone, Debug)]
pub struct LoopExit {
    pub cond: TokenStream,
    pub pre_len: usize,
    pub pre_results: Vec<Operand>,
    /// Set by the forward pass when the loop broke: the breaking iteration's index (`for`), or
    /// `true` (`while`).
    pub broke: Ident,
    /// The number of complete iterations (a `for` loop's own; a `while` loop uses its kind's).
    pub trips: Ident,
}

/// A variable carried from one iteration to the next.
#[derive(Clone, Debug)]
pub struct Carried {
    /// Its value before the loop.
    pub entry: Operand,
    /// Its value at the start of an iteration: the mutable variable of the forward loop.
    pub inner: VarId,
    /// Its value after the loop.
    pub after: VarId,
}

/// `buffer[index] = value` (or `+=`, `-=`): a write into a local buffer.
#[derive(Clone, Debug)]
pub struct Store {
    pub buffer: VarId,
    pub index: TokenStream,
    pub op: StoreOp,
    pub value: Operand,
    /// Whether the reverse of this write resets the element's gradient to zero (`d_h[i] = 0.0`):
    /// an overwritten value has no gradient, unless no other write can reach the element
    /// (decided in [`crate::buffers`]).
    pub reset: bool,
    /// Whether the write pushes the value it overwrites on its buffer's tape, and its reverse
    /// puts it back: a write into a taped buffer that a read before it (in the reverse pass's
    /// order) may need (decided in [`crate::buffers`]).
    pub saved: bool,
    pub span: Span,
}

/// How a [`Store`] writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreOp {
    Set,
    Add,
    Sub,
}

#[derive(Clone, Debug)]
pub enum Node {
    Assign(Assign),
    Branch(Branch),
    Loop(Loop),
    Store(Store),
}

impl Node {
    /// The variables this node defines (outside its own body).
    pub fn targets(&self) -> Vec<VarId> {
        match self {
            Node::Assign(a) => std::iter::once(a.target).chain(a.prim.reverse()).collect(),
            Node::Branch(b) => b.targets.clone(),
            Node::Loop(l) => l.carried.iter().map(|c| c.after).collect(),
            Node::Store(_) => Vec::new(),
        }
    }

    /// The buffers this node writes into, nested blocks included.
    pub fn stores(&self, out: &mut Vec<VarId>) {
        match self {
            Node::Assign(_) => {}
            Node::Store(s) => out.push(s.buffer),
            Node::Branch(b) => {
                for node in b.then.nodes.iter().chain(&b.otherwise.nodes) {
                    node.stores(out);
                }
            }
            Node::Loop(l) => l.body.nodes.iter().for_each(|n| n.stores(out)),
        }
    }
}

/// A straight-line list of nodes and the operands holding its values (the function body
/// has one; a branch arm one per target of its branch).
#[derive(Clone, Debug)]
pub struct Block {
    pub nodes: Vec<Node>,
    pub results: Vec<Operand>,
}

impl Block {
    /// The first value: the function's output, or an `if` expression's value.
    pub fn value(&self) -> &Operand {
        &self.results[0]
    }
}

/// A parameter of the user's function.
#[derive(Clone, Debug)]
pub struct Param {
    pub var: VarId,
    /// Whether the gradient is returned for it (float type, and named by `wrt` if given).
    pub differentiable: bool,
}

/// The whole lowered function.
#[derive(Clone, Debug)]
pub struct Program {
    pub vars: Vec<Var>,
    pub params: Vec<Param>,
    /// Items declared in the body (`const K: f64 = 2.0;`), repeated in the companions.
    pub items: Vec<TokenStream>,
    pub body: Block,
    /// The return variable, when it is a temporary made for a compound tail expression: its
    /// gradient is the seed parameter itself.
    pub output_temp: Option<VarId>,
    /// The struct parameters read through their fields, whose gradients are structs.
    pub groups: Vec<crate::structs::Group>,
}

impl Program {
    /// The function's tuple value (`(h, c)`): its parts and operands.
    pub fn tuple_output(&self) -> Option<(&Parts, &[Operand])> {
        let Operand::Var(out) = self.body.value() else {
            return None;
        };
        self.body.nodes.iter().find_map(|node| match node {
            Node::Assign(a) if a.target == *out => match &a.prim {
                crate::rules::Prim::Tuple(parts) => Some((parts, a.args.as_slice())),
                _ => None,
            },
            _ => None,
        })
    }

    /// What the macro knows of an operand's type.
    pub fn ty_of(&self, operand: &Operand) -> Ty {
        operand_ty(&self.vars, operand)
    }

    /// The float type of an operand's value, when it has one.
    pub fn float_of(&self, operand: &Operand) -> Option<FloatTy> {
        match operand {
            Operand::Var(v) | Operand::Element { var: v, .. } => self.vars[*v].ty.float(),
            Operand::Const { ty, .. } => ty.float(),
        }
    }

    pub fn is_active(&self, operand: &Operand) -> bool {
        operand_active(&self.vars, operand)
    }
}

/// What the macro knows of an operand's type, given the variables (also while lowering).
pub fn operand_ty(vars: &[Var], operand: &Operand) -> Ty {
    match operand {
        Operand::Var(v) => vars[*v].ty.clone(),
        Operand::Element { var, index } => match &vars[*var].ty {
            Ty::Array { elem, .. } if is_range(index) => Ty::Array {
                elem: *elem,
                len: None,
            },
            Ty::Array { elem, .. } => Ty::Float(*elem),
            // `x[[n, c, i, j]]`: one element of an ndarray array.
            Ty::Tensor { elem, .. } => Ty::Float(*elem),
            other => other.clone(),
        },
        Operand::Const { ty, .. } => ty.clone(),
    }
}

/// Whether an operand has a gradient, given the variables.
pub fn operand_active(vars: &[Var], operand: &Operand) -> bool {
    match operand {
        Operand::Var(v) | Operand::Element { var: v, .. } => vars[*v].active,
        Operand::Const { .. } => false,
    }
}

/// Whether an index is a range (`a..b`, `a..`, `..b`): the element it selects is a sub-slice.
pub fn is_range(index: &TokenStream) -> bool {
    matches!(
        syn::parse2::<syn::Expr>(index.clone()),
        Ok(syn::Expr::Range(_))
    )
}

/// Every variable assigned in `block`, nested blocks included.
pub fn defined_in(block: &Block, out: &mut HashSet<VarId>) {
    for node in &block.nodes {
        defined_in_node(node, out);
    }
}

/// Every variable `node` assigns, nested blocks included.
pub fn defined_in_node(node: &Node, out: &mut HashSet<VarId>) {
    match node {
        Node::Assign(a) => {
            out.insert(a.target);
            out.extend(a.prim.reverse());
        }
        Node::Branch(b) => {
            out.extend(b.targets.iter().copied());
            defined_in(&b.then, out);
            defined_in(&b.otherwise, out);
        }
        Node::Loop(l) => {
            if let LoopKind::For { index, .. } = &l.kind {
                out.insert(*index);
            }
            for c in &l.carried {
                out.insert(c.inner);
                out.insert(c.after);
            }
            defined_in(&l.body, out);
        }
        Node::Store(_) => {}
    }
}

/// Every identifier in `tokens` (as written, `r#` kept), nested groups included: what a line
/// of generated code reads.
/// Whether `stmt` mentions `ident`.
pub fn idents_in_stmt(stmt: &syn::Stmt, ident: &Ident) -> bool {
    let mut names = HashSet::new();
    idents_in(quote::ToTokens::to_token_stream(stmt), &mut names);
    names.contains(&ident.to_string())
}

pub fn idents_in(tokens: TokenStream, out: &mut HashSet<String>) {
    for tree in tokens {
        match tree {
            TokenTree::Ident(i) => {
                out.insert(i.to_string());
            }
            TokenTree::Group(g) => idents_in(g.stream(), out),
            _ => {}
        }
    }
}
