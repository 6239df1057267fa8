//! The table of primitives: how each one is written in forward code and its local gradients.
//!
//! This is the only file with calculus in it. Each primitive is one [`Rule`]: its forward
//! syntax, the operand positions through which it is differentiable, and for each such
//! position the contribution `local gradient * upstream` as a small template over the
//! operands (`x`), the line's own output (`y`) and the upstream gradient (`d`). Every call
//! syntax of a primitive (`x.exp()`, `f64::exp(x)`) is mapped to the same entry by
//! [`method_rule`] before lowering, so a rule is written once. Adding `tanh` is one entry.
//!
//! `tensors.rs` holds the ndarray operations' local gradients, `gates.rs` the runtime gates
//! that have rules of their own; `render.rs` writes operands and forward lines. How a line's
//! contributions are assembled from its rule (broadcast sums, calls) is the stage
//! [`crate::contributions`].

use proc_macro2::{Ident, TokenStream};
use quote::{ToTokens, quote};

use crate::ir::{FloatTy, Operand, Program};

pub(crate) mod gates;
pub(crate) mod render;
pub(crate) mod tensors;

pub use gates::{REUSE_BUFFER, takes_uniform_upstream};
pub use render::{forward, render, render_bare, render_receiver};

/// A primitive operation of the staged IR.
#[derive(Clone, Debug)]
pub enum Prim {
    /// A fixed-arity primitive from [`OPERATORS`] or [`METHODS`]; `name` keeps the user's
    /// method name (and span) for the forward line.
    Table { rule: &'static Rule, name: Ident },
    /// `x as f32` / `x as f64`.
    Cast(FloatTy),
    /// An ndarray operation; the axis, when there is one, is operand 1 (a constant).
    Tensor(TensorOp),
    /// A call to a function `g` that is not a primitive: differentiated by `g_backward`; or,
    /// in split mode (`#[backprop(split(g))]`), computed by `g_forward`, which also gives the
    /// closure `reverse` of its reverse pass (see [`crate::split`]).
    Call {
        path: TokenStream,
        backward: TokenStream,
        /// How each argument is passed, as the user wrote it.
        pass: Vec<Pass>,
        reverse: Option<crate::ir::VarId>,
        /// A tuple result taken apart (`let (h, c) = g(..);`): the call's target is the tuple,
        /// never named in the generated code, and these are its parts.
        parts: Option<crate::ir::Parts>,
        /// The arguments that are structs passed whole (`dense(&net.l1, x)`).
        structs: Vec<StructArg>,
        /// Whether a struct held constant is passed (`dense(net, x)` with `net` outside
        /// `wrt(..)`): the callee may differentiate it, and return a gradient for it that the
        /// call does not count; the call's gradients are then checked to count one per float
        /// argument (`::backprop::one_arg`, `::backprop::args_of`), which says so if not.
        held: bool,
    },
    /// A part of a call's tuple result (`c` of `let (h, c) = g(..);`, at `.1`): bound by the
    /// call's own pattern, so no line of its own, and no gradient line either (the call
    /// gathers its parts' gradients into its upstream tuple).
    Field(Vec<usize>),
    /// A function's tuple value (`(h, c)` of `-> (Array2<f64>, Array2<f64>)`): the parts'
    /// leaves are operand positions. It is built where it is returned (its parts stay for the
    /// reverse pass), and its upstream gradient `d_out` is taken apart: `d_out.0` is `h`'s.
    Tuple(crate::ir::Parts),
}

/// A struct argument of a call, passed whole (`dense(&net.l1, x)`, `forward(net, x)`): its
/// fields' parameters (`net_l1_w`, ..) are operands of the call after the written arguments
/// (so that activity and the reverse pass see them read), never written in the call; the
/// callee's gradient for the argument is a struct, whose fields are theirs.
#[derive(Clone, Debug)]
pub struct StructArg {
    /// The argument's position among the written arguments.
    pub position: usize,
    /// Each field parameter's operand index, and its place in the struct (`.w`, `.l1.w`).
    pub fields: Vec<(usize, TokenStream)>,
    /// The struct parameter it is (a field of), `net`, and whether it is differentiated: in
    /// forward mode the argument's tangent is the same place in `t_net`.
    pub root: Ident,
    pub differentiable: bool,
    /// The written argument is a reference (`&net.l1`, or `layer` of `layer: &Layer`).
    pub reference: bool,
}

/// How a call passes one argument: the callee's parameter type is not known here, so the
/// generated calls keep the user's way of passing it.
#[derive(Clone, Debug, PartialEq)]
pub enum Pass {
    /// As the operand renders: a float, an `[F; N]` by value, an ndarray array by reference.
    Plain,
    /// `&q` or `&q[a..b]` of a `[F]` array.
    Ref,
    /// An ndarray view by value, itself (`gv(m)` of a view `m`; views are `Copy`).
    View,
    /// An ndarray array by value, made by a method of no arguments: `z.to_owned()` (the
    /// callee's own copy, also of `go(z)`, which the generated code reads again later),
    /// `a.view()`, `z.clone()`.
    Method(Ident),
    /// A reference to a copy of a view, where the callee takes `&Array2<F>`:
    /// `gr(&m.to_owned())`.
    RefOwned,
}

impl Prim {
    /// The closure of a split-mode call's reverse.
    pub fn reverse(&self) -> Option<crate::ir::VarId> {
        match self {
            Prim::Call { reverse, .. } => *reverse,
            _ => None,
        }
    }
}

/// The ndarray operations with rules of their own (elementwise math reuses the float
/// methods' rules, which are written so that they hold elementwise).
#[derive(Clone, Debug)]
pub enum TensorOp {
    /// `a.dot(&b)` for every combination of ranks 1 and 2.
    Dot,
    /// `a.t()`.
    T,
    /// `a.sum()`.
    Sum,
    /// `a.mean()`, with the user's `.unwrap()` / `.expect(..)`.
    Mean {
        unwrap: TokenStream,
    },
    /// `a.sum_axis(axis)`.
    SumAxis,
    /// `a.mean_axis(axis)`, with the user's `.unwrap()` / `.expect(..)`.
    MeanAxis {
        unwrap: TokenStream,
    },
    /// `a.insert_axis(axis)` (on a view, so that `a` stays usable).
    InsertAxis,
    /// `a.select(axis, indices)` (an embedding lookup); operands: the array, the axis, the
    /// indices.
    Select,
    /// `a.var_axis(axis, ddof)` / `a.std_axis(axis, ddof)`; operands: the array, the axis,
    /// `ddof`.
    VarAxis,
    StdAxis,
    /// `a.to_shape(shape)` / `a.into_shape_with_order(shape)` with the user's `.unwrap()`,
    /// computed into an owned array of rank `rank`; operands: the array, the shape.
    Reshape {
        unwrap: TokenStream,
        rank: Option<usize>,
    },
    /// `concatenate(axis, &[a.view(), b.view()])` or `stack(..)` (`path`, as written), with
    /// the user's `.unwrap()`: every operand is a part; its gradient is its part of the
    /// upstream.
    Concat {
        path: TokenStream,
        axis: TokenStream,
        stack: bool,
        unwrap: TokenStream,
    },
    /// A part of an array, as a view: `a.slice(s![.., 0..h])`, `a.row(i)`, `a.column(j)`,
    /// `a.index_axis(Axis(k), i)`, `a.slice_axis(Axis(k), ..)`; `args` are the method's
    /// (renamed) arguments, `rank` the part's. Its gradient is added into the same part of
    /// the array's (`method_mut(args)`: `d_a.slice_mut(s![.., 0..h])`).
    Part {
        method: Ident,
        args: TokenStream,
        rank: Option<usize>,
    },
    /// `a.mapv(closure)` of a closure that is not elementwise array code (a branch, a
    /// comparison: `|v| if v > 0.0 { v } else { alpha * v }`), reading the float values
    /// `args[1..]`: the closure is a scalar function `g(v, captures..)` whose backward
    /// `backward` (written by `#[backprop]` itself) is applied to every element. `wrt[k]`:
    /// capture `k` is differentiated (its gradient is summed over the elements).
    Map {
        closure: TokenStream,
        /// The scalar function `g` (its source is one of the program's items).
        function: Ident,
        backward: Ident,
        wrt: Vec<bool>,
    },
}

/// The last segment of a function's path: `sigmoid` for `::backprop::sigmoid`.
pub fn function_name(path: &TokenStream) -> String {
    let text = path.to_string();
    text.rsplit(':')
        .next()
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// How a runtime tensor gate changes the rank of its array argument, by the gate's name
/// (`None`: not a tensor gate, so the call returns a scalar like any `#[backprop]` function).
pub fn tensor_gate_rank(path: &TokenStream) -> Option<fn(usize) -> usize> {
    match function_name(path).as_str() {
        "sigmoid" | "relu" | "softplus" | "softmax" | "log_softmax" => Some(|r| r),
        "max_axis" => Some(|r| r.saturating_sub(1)),
        "pick" => Some(|_| 1),
        _ => None,
    }
}

/// Float methods whose rules are not elementwise array code (a branch on the operands, or no
/// ndarray counterpart): on arrays they are an error.
pub const SCALAR_ONLY_METHODS: &[&str] =
    &["max", "min", "clamp", "atan2", "mul_add", "round_ties_even"];

/// The comparison methods applied to every element of an array with scalar bounds
/// (`z.mapv(|v| v.max(0.0))`, `v.clamp(lo, hi)`): the forward line is the `mapv`, and the
/// rule's scalar template is applied to every element (see `crate::contributions`).
pub const ELEMENTWISE_SCALAR_METHODS: &[&str] = &["max", "min", "clamp"];

/// How a table primitive is written in forward code.
#[derive(Clone, Copy, Debug)]
pub enum Syntax {
    /// `a + b` and friends.
    Infix(&'static str),
    /// `-a`.
    Negate,
    /// `a` (a plain copy: `let b = a;`).
    Copy,
    /// `x.name(args)`.
    Method,
    /// The lecture's sigmoid idiom `1.0 / (1.0 + (-x).exp())`, kept as written.
    SigmoidIdiom,
}

/// One primitive: syntax, differentiable operand positions, local gradients.
#[derive(Debug)]
pub struct Rule {
    pub name: &'static str,
    /// Number of operands, the receiver included.
    pub arity: usize,
    pub syntax: Syntax,
    /// Operand positions whose gradient is not identically zero.
    pub differentiable: &'static [usize],
    /// The contribution `local gradient * d` to operand `position`.
    pub grad: fn(&Local, usize) -> TokenStream,
    /// The tangent of the output, from the operands' tangents (`None`: zero), where it reads
    /// better than the default: the sum over operands of the same local gradient times the
    /// operand's tangent (`grad` with `d` the tangent), which every rule's adjoint implies.
    pub tangent: Option<TangentRule>,
}

/// A tangent template: the output's tangent from the operands' tangents (`None`: zero).
pub type TangentRule = fn(&Local, &[Option<TokenStream>]) -> TokenStream;

/// What a gradient template can refer to.
pub struct Local {
    /// Operands, rendered for use as a value (`x`, `2.0`, `(n as f64)`).
    args: Vec<TokenStream>,
    /// Operands where no operator meets them (call arguments, indices).
    pub(crate) bare: Vec<TokenStream>,
    /// Operands, rendered for use as a method receiver (`2.0f64`, not `2.0`).
    pub(crate) receivers: Vec<TokenStream>,
    /// The line's own output (a reference `&y` for a tensor).
    pub y: TokenStream,
    /// The upstream gradient (a reference `&d_y` for a tensor).
    pub d: TokenStream,
    /// The upstream gradient's name, as a method receiver (`d_y.dot(..)`).
    pub d_name: Ident,
    /// The float type of the line.
    pub float: FloatTy,
}

impl Local {
    pub fn new(
        program: &Program,
        args: &[Operand],
        target: &crate::ir::Var,
        d: Ident,
        float: FloatTy,
    ) -> Self {
        let (y, d_name) = (target.ident.clone(), d.clone());
        let (y, d) = if target.ty.is_tensor() {
            (quote!(&#y), quote!(&#d))
        } else {
            (quote!(#y), quote!(#d))
        };
        let args_tokens = args.iter().map(|a| render(program, a)).collect();
        let receivers = args
            .iter()
            .map(|a| render_receiver(program, a, float))
            .collect();
        let bare = args.iter().map(|a| render_bare(program, a)).collect();
        Local {
            args: args_tokens,
            bare,
            receivers,
            y,
            d,
            d_name,
            float,
        }
    }

    /// The operands and upstream gradient of one element of an array line: a rule's scalar
    /// template applied elementwise reads them.
    pub fn element(args: Vec<TokenStream>, d: TokenStream, float: FloatTy) -> Self {
        Local {
            args: args.clone(),
            bare: args.clone(),
            receivers: args,
            y: TokenStream::new(),
            d,
            d_name: Ident::new("d_element", proc_macro2::Span::call_site()),
            float,
        }
    }

    /// The same, with the upstream gradient given as a scalar value for an array line whose
    /// gradient is that value everywhere.
    pub fn with_upstream(mut self, d: TokenStream) -> Self {
        self.d = d;
        self
    }

    /// The upstream gradient by value, when it is a borrowed array (`&d_y` → `d_y`); not a
    /// scalar given for a uniform gradient.
    pub(crate) fn upstream_by_value(&self) -> Option<TokenStream> {
        let d_name = &self.d_name;
        (self.d.to_string() == quote!(&#d_name).to_string()).then(|| d_name.to_token_stream())
    }

    /// Operand `i` as a value.
    pub fn x(&self, i: usize) -> &TokenStream {
        &self.args[i]
    }

    /// Operand `i` as a method receiver.
    pub fn r(&self, i: usize) -> &TokenStream {
        &self.receivers[i]
    }

    /// A constant of `core::{f32,f64}::consts` in the line's float type.
    fn consts(&self, name: &str) -> TokenStream {
        let f = self.float.ident();
        let c = Ident::new(name, proc_macro2::Span::call_site());
        quote!(::core::#f::consts::#c)
    }
}

macro_rules! rule {
    ($name:literal, $arity:literal, $syntax:expr, [$($pos:literal),*], |$c:ident, $i:ident| $grad:expr) => {
        Rule {
            name: $name,
            arity: $arity,
            syntax: $syntax,
            differentiable: &[$($pos),*],
            grad: {
                #[allow(unused_variables)]
                fn grad($c: &Local, $i: usize) -> TokenStream {
                    $grad
                }
                grad
            },
            tangent: None,
        }
    };
    ($name:literal, $arity:literal, $syntax:expr, [$($pos:literal),*], |$c:ident, $i:ident| $grad:expr,
     tangent: |$tc:ident, $t:ident| $tangent:expr) => {
        Rule {
            tangent: Some({
                #[allow(unused_variables)]
                fn tangent($tc: &Local, $t: &[Option<TokenStream>]) -> TokenStream {
                    $tangent
                }
                tangent
            }),
            ..rule!($name, $arity, $syntax, [$($pos),*], |$c, $i| $grad)
        }
    };
}

/// Operand `i`'s tangent, or a zero.
fn tangent_or_zero(t: &[Option<TokenStream>], i: usize) -> TokenStream {
    t.get(i).cloned().flatten().unwrap_or_else(|| quote!(0.0))
}

/// Operators and the two syntactic primitives (copy, the sigmoid idiom).
pub static OPERATORS: &[Rule] = &[
    // y = a + b: the add gate hands `d` to both operands.
    rule!("add", 2, Syntax::Infix("+"), [0, 1], |c, i| c
        .d
        .to_token_stream()),
    rule!("sub", 2, Syntax::Infix("-"), [0, 1], |c, i| {
        let d = &c.d;
        if i == 0 { quote!(#d) } else { quote!(-#d) }
    }),
    // y = a * b: the multiply gate swaps its inputs.
    rule!("mul", 2, Syntax::Infix("*"), [0, 1], |c, i| {
        let (other, d) = (c.x(1 - i), &c.d);
        quote!(#other * #d)
    }),
    // y = a / b: dy/da = 1/b, dy/db = -a/b² = -y/b.
    rule!("div", 2, Syntax::Infix("/"), [0, 1], |c, i| {
        let (b, y, d) = (c.x(1), &c.y, &c.d);
        if i == 0 {
            quote!(#d / #b)
        } else {
            quote!(-#y / #b * #d)
        }
    }),
    // y = a % b = a - trunc(a/b) * b.
    rule!("rem", 2, Syntax::Infix("%"), [0, 1], |c, i| {
        let (a, b, d) = (c.x(0), c.x(1), &c.d);
        if i == 0 {
            quote!(#d)
        } else {
            quote!(-(#a / #b).trunc() * #d)
        }
    }),
    rule!("neg", 1, Syntax::Negate, [0], |c, i| {
        let d = &c.d;
        quote!(-#d)
    }),
    rule!("copy", 1, Syntax::Copy, [0], |c, i| c.d.to_token_stream()),
    // y = σ(x) written out: σ' = (1 - y) y.
    rule!("sigmoid", 1, Syntax::SigmoidIdiom, [0], |c, i| {
        let (y, d) = (&c.y, &c.d);
        quote!((1.0 - #y) * #y * #d)
    }),
];

/// The differentiable methods of `f32` / `f64`, callable as `x.name(..)` or `f64::name(x, ..)`.
pub static METHODS: &[Rule] = &[
    rule!("exp", 1, Syntax::Method, [0], |c, i| {
        let (y, d) = (&c.y, &c.d);
        quote!(#y * #d)
    }),
    rule!("exp2", 1, Syntax::Method, [0], |c, i| {
        let (y, d, ln2) = (&c.y, &c.d, c.consts("LN_2"));
        quote!(#y * #ln2 * #d)
    }),
    rule!("exp_m1", 1, Syntax::Method, [0], |c, i| {
        let (y, d) = (&c.y, &c.d);
        quote!((#y + 1.0) * #d)
    }),
    rule!("ln", 1, Syntax::Method, [0], |c, i| {
        let (x, d) = (c.x(0), &c.d);
        quote!(#d / #x)
    }),
    rule!("ln_1p", 1, Syntax::Method, [0], |c, i| {
        let (x, d) = (c.x(0), &c.d);
        quote!(#d / (1.0 + #x))
    }),
    // y = log_b(x) = ln x / ln b.
    rule!("log", 2, Syntax::Method, [0, 1], |c, i| {
        let (x, b, rb, y, d) = (c.x(0), c.x(1), c.r(1), &c.y, &c.d);
        if i == 0 {
            quote!(#d / (#x * #rb.ln()))
        } else {
            quote!(-#y / (#b * #rb.ln()) * #d)
        }
    }),
    rule!("log2", 1, Syntax::Method, [0], |c, i| {
        let (x, d, ln2) = (c.x(0), &c.d, c.consts("LN_2"));
        quote!(#d / (#x * #ln2))
    }),
    rule!("log10", 1, Syntax::Method, [0], |c, i| {
        let (x, d, ln10) = (c.x(0), &c.d, c.consts("LN_10"));
        quote!(#d / (#x * #ln10))
    }),
    rule!("sqrt", 1, Syntax::Method, [0], |c, i| {
        let (y, d) = (&c.y, &c.d);
        quote!(#d / (2.0 * #y))
    }),
    rule!("cbrt", 1, Syntax::Method, [0], |c, i| {
        let (y, d) = (&c.y, &c.d);
        quote!(#d / (3.0 * #y * #y))
    }),
    // y = x^n: n x^(n-1); the integer exponent is not differentiated.
    rule!("powi", 2, Syntax::Method, [0], |c, i| {
        let (x, rx, n, d, f) = (c.x(0), c.r(0), c.x(1), &c.d, c.float.ident());
        match syn::parse2::<syn::LitInt>(n.clone())
            .ok()
            .and_then(|n| n.base10_parse::<i64>().ok())
        {
            Some(0) => quote!(0.0 * #d),
            Some(1) => quote!(#d),
            Some(2) => quote!(2.0 * #x * #d),
            Some(k) => {
                let coefficient =
                    syn::LitFloat::new(&format!("{k}.0"), proc_macro2::Span::call_site());
                let power = proc_macro2::Literal::i64_unsuffixed(k - 1);
                quote!(#coefficient * #rx.powi(#power) * #d)
            }
            None => quote!(#n as #f * #rx.powi(#n - 1) * #d),
        }
    }),
    // y = x^p: dy/dx = p x^(p-1), dy/dp = y ln x.
    rule!("powf", 2, Syntax::Method, [0, 1], |c, i| {
        let (rx, p, y, d) = (c.r(0), c.x(1), &c.y, &c.d);
        if i == 0 {
            quote!(#p * #rx.powf(#p - 1.0) * #d)
        } else {
            quote!(#y * #rx.ln() * #d)
        }
    }),
    rule!("recip", 1, Syntax::Method, [0], |c, i| {
        let (y, d) = (&c.y, &c.d);
        quote!(-#y * #y * #d)
    }),
    rule!("sin", 1, Syntax::Method, [0], |c, i| {
        let (rx, d) = (c.r(0), &c.d);
        quote!(#rx.cos() * #d)
    }),
    rule!("cos", 1, Syntax::Method, [0], |c, i| {
        let (rx, d) = (c.r(0), &c.d);
        quote!(-#rx.sin() * #d)
    }),
    rule!("tan", 1, Syntax::Method, [0], |c, i| {
        let (y, d) = (&c.y, &c.d);
        quote!((1.0 + #y * #y) * #d)
    }),
    rule!("asin", 1, Syntax::Method, [0], |c, i| {
        let (x, d) = (c.x(0), &c.d);
        quote!(#d / (1.0 - #x * #x).sqrt())
    }),
    rule!("acos", 1, Syntax::Method, [0], |c, i| {
        let (x, d) = (c.x(0), &c.d);
        quote!(-#d / (1.0 - #x * #x).sqrt())
    }),
    rule!("atan", 1, Syntax::Method, [0], |c, i| {
        let (x, d) = (c.x(0), &c.d);
        quote!(#d / (1.0 + #x * #x))
    }),
    // y = atan2(a, b): dy/da = b / (a² + b²), dy/db = -a / (a² + b²).
    rule!("atan2", 2, Syntax::Method, [0, 1], |c, i| {
        let (a, b, d) = (c.x(0), c.x(1), &c.d);
        if i == 0 {
            quote!(#b / (#a * #a + #b * #b) * #d)
        } else {
            quote!(-#a / (#a * #a + #b * #b) * #d)
        }
    }),
    rule!("sinh", 1, Syntax::Method, [0], |c, i| {
        let (rx, d) = (c.r(0), &c.d);
        quote!(#rx.cosh() * #d)
    }),
    rule!("cosh", 1, Syntax::Method, [0], |c, i| {
        let (rx, d) = (c.r(0), &c.d);
        quote!(#rx.sinh() * #d)
    }),
    rule!("tanh", 1, Syntax::Method, [0], |c, i| {
        let (y, d) = (&c.y, &c.d);
        quote!((1.0 - #y * #y) * #d)
    }),
    rule!("asinh", 1, Syntax::Method, [0], |c, i| {
        let (x, d) = (c.x(0), &c.d);
        quote!(#d / (#x * #x + 1.0).sqrt())
    }),
    rule!("acosh", 1, Syntax::Method, [0], |c, i| {
        let (x, d) = (c.x(0), &c.d);
        quote!(#d / (#x * #x - 1.0).sqrt())
    }),
    rule!("atanh", 1, Syntax::Method, [0], |c, i| {
        let (x, d) = (c.x(0), &c.d);
        quote!(#d / (1.0 - #x * #x))
    }),
    // |x|' = sign(x); at 0 the subgradient sign(+0.0) = 1 is used.
    rule!("abs", 1, Syntax::Method, [0], |c, i| {
        let (rx, d) = (c.r(0), &c.d);
        quote!(#rx.signum() * #d)
    }),
    rule!("hypot", 2, Syntax::Method, [0, 1], |c, i| {
        let (x, y, d) = (c.x(i), &c.y, &c.d);
        quote!(#x / #y * #d)
    }),
    // The max gate routes `d` to the larger operand (ties to the receiver).
    rule!("max", 2, Syntax::Method, [0, 1], |c, i| {
        let (a, b, d) = (c.x(0), c.x(1), &c.d);
        if i == 0 {
            quote!(if #a >= #b { #d } else { 0.0 })
        } else {
            quote!(if #a >= #b { 0.0 } else { #d })
        }
    }, tangent: |c, t| {
        let (a, b, ta, tb) = (c.x(0), c.x(1), tangent_or_zero(t, 0), tangent_or_zero(t, 1));
        quote!(if #a >= #b { #ta } else { #tb })
    }),
    rule!("min", 2, Syntax::Method, [0, 1], |c, i| {
        let (a, b, d) = (c.x(0), c.x(1), &c.d);
        if i == 0 {
            quote!(if #a <= #b { #d } else { 0.0 })
        } else {
            quote!(if #a <= #b { 0.0 } else { #d })
        }
    }, tangent: |c, t| {
        let (a, b, ta, tb) = (c.x(0), c.x(1), tangent_or_zero(t, 0), tangent_or_zero(t, 1));
        quote!(if #a <= #b { #ta } else { #tb })
    }),
    // clamp(x, lo, hi) routes `d` to whichever of the three it returned.
    rule!("clamp", 3, Syntax::Method, [0, 1, 2], |c, i| {
        let (x, lo, hi, d) = (c.x(0), c.x(1), c.x(2), &c.d);
        match i {
            0 => quote!(if #x >= #lo && #x <= #hi { #d } else { 0.0 }),
            1 => quote!(if #x < #lo { #d } else { 0.0 }),
            _ => quote!(if #x > #hi { #d } else { 0.0 }),
        }
    }, tangent: |c, t| {
        let (x, lo, hi) = (c.x(0), c.x(1), c.x(2));
        let (tx, tlo, thi) = (tangent_or_zero(t, 0), tangent_or_zero(t, 1), tangent_or_zero(t, 2));
        quote!(if #x < #lo { #tlo } else if #x > #hi { #thi } else { #tx })
    }),
    // mul_add(a, b, c) = a * b + c.
    rule!("mul_add", 3, Syntax::Method, [0, 1, 2], |c, i| {
        let d = &c.d;
        match i {
            0 => {
                let b = c.x(1);
                quote!(#b * #d)
            }
            1 => {
                let a = c.x(0);
                quote!(#a * #d)
            }
            _ => quote!(#d),
        }
    }),
    rule!("to_degrees", 1, Syntax::Method, [0], |c, i| {
        let (d, pi) = (&c.d, c.consts("PI"));
        quote!(180.0 / #pi * #d)
    }),
    rule!("to_radians", 1, Syntax::Method, [0], |c, i| {
        let (d, pi) = (&c.d, c.consts("PI"));
        quote!(#pi / 180.0 * #d)
    }),
    // fract(x) = x - trunc(x): slope 1 between the jumps.
    rule!("fract", 1, Syntax::Method, [0], |c, i| c
        .d
        .to_token_stream()),
    // Piecewise constant: zero gradient almost everywhere, so no contribution at all.
    rule!("floor", 1, Syntax::Method, [], |c, i| TokenStream::new()),
    rule!("ceil", 1, Syntax::Method, [], |c, i| TokenStream::new()),
    rule!("round", 1, Syntax::Method, [], |c, i| TokenStream::new()),
    rule!("round_ties_even", 1, Syntax::Method, [], |c, i| {
        TokenStream::new()
    }),
    rule!("trunc", 1, Syntax::Method, [], |c, i| TokenStream::new()),
    rule!("signum", 1, Syntax::Method, [], |c, i| TokenStream::new()),
];

/// The table entry of an operator or syntactic primitive by name.
pub fn operator(name: &str) -> &'static Rule {
    OPERATORS
        .iter()
        .find(|r| r.name == name)
        .unwrap_or(&OPERATORS[0])
}

/// The table entry of a float method, whichever syntax called it.
pub fn method_rule(name: &str) -> Option<&'static Rule> {
    METHODS.iter().find(|r| r.name == name)
}

/// The names of all supported float methods, for error messages.
pub fn method_names() -> String {
    METHODS
        .iter()
        .map(|r| format!("`{}`", r.name))
        .collect::<Vec<_>>()
        .join(", ")
}
