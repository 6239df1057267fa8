//! The table of primitives: how each one is written in forward code and its local gradients.
//!
//! This is the only file with calculus in it. Each primitive is one [`Rule`]: its forward
//! syntax, the operand positions through which it is differentiable, and for each such
//! position the contribution `local gradient * upstream` as a small template over the
//! operands (`x`), the line's own output (`y`) and the upstream gradient (`d`). Every call
//! syntax of a primitive (`x.exp()`, `f64::exp(x)`) is mapped to the same entry by
//! [`method_rule`] before lowering, so a rule is written once. Adding `tanh` is one entry.

use proc_macro2::{Ident, TokenStream};
use quote::{ToTokens, quote};

use crate::ir::{FloatTy, Operand, Program, Ty};

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
    /// A call to a function `g` that is not a primitive: differentiated by `g_backward`.
    Call {
        path: TokenStream,
        backward: TokenStream,
        by_ref: Vec<bool>,
    },
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
    Mean { unwrap: TokenStream },
    /// `a.sum_axis(axis)`.
    SumAxis,
    /// `a.mean_axis(axis)`, with the user's `.unwrap()` / `.expect(..)`.
    MeanAxis { unwrap: TokenStream },
    /// `a.insert_axis(axis)` (on a view, so that `a` stays usable).
    InsertAxis,
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

/// A gate's gradient from its value `y`, its arguments as written and the upstream `d`.
type GateGradient = fn(&TokenStream, &[TokenStream], &TokenStream) -> TokenStream;

/// A runtime tensor gate whose gradient generated code takes from a gradient-only function:
/// its `_backward` (the composition contract) would compute again the value the forward pass
/// already holds.
struct GateRule {
    name: &'static str,
    grad: GateGradient,
    /// The gradient not written out (`one_hot`), for when its only reader is another gate's
    /// gradient-only function, which takes it as its upstream.
    unwritten: Option<GateGradient>,
}

/// The gates of [`GateRule`]. Only for calls written `backprop::name(..)` on arrays: a user's own
/// `relu` keeps its own `relu_backward`.
const GATE_GRADIENTS: &[GateRule] = &[
    // relu's value is positive (or NaN) exactly where its argument is: its argument need not
    // be kept, and the forward pass can compute relu in the argument's buffer.
    GateRule {
        name: "relu",
        grad: |y, _, d| quote!(::backprop::relu_grad(#y, #d)),
        unwritten: None,
    },
    GateRule {
        name: "sigmoid",
        grad: |y, _, d| quote!(::backprop::sigmoid_grad(#y, #d)),
        unwritten: None,
    },
    GateRule {
        name: "softmax",
        grad: |y, args, d| {
            let axis = &args[1];
            quote!(::backprop::softmax_grad(#y, #axis, #d))
        },
        unwritten: None,
    },
    GateRule {
        name: "log_softmax",
        grad: |y, args, d| {
            let axis = &args[1];
            quote!(::backprop::log_softmax_grad(#y, #axis, #d))
        },
        unwritten: None,
    },
    GateRule {
        name: "pick",
        grad: |_, args, d| {
            let (a, labels) = (&args[0], &args[1]);
            quote!(::backprop::pick_grad(#a, #labels, #d))
        },
        unwritten: Some(|_, args, d| {
            let (a, labels) = (&args[0], &args[1]);
            quote!(::backprop::one_hot(#a, #labels, #d))
        }),
    },
];

/// Runtime functions that take an array argument (at this position) by value as well as by
/// reference and then compute in its buffer: generated code hands over a forward array at its
/// last use instead of dropping it after.
pub const REUSE_BUFFER: &[(&str, usize)] = &[
    ("relu", 0),
    ("sigmoid", 0),
    ("softplus", 0),
    ("softmax", 0),
    ("log_softmax", 0),
    ("log_softmax_grad", 0),
];

/// The gradient-only rule of a call `backprop::name(..)`, if it has one.
fn gate_gradient(path: &TokenStream) -> Option<&'static GateRule> {
    let name = runtime_gate_name(path)?;
    GATE_GRADIENTS.iter().find(|rule| rule.name == name)
}

/// `name` of a call written `backprop::name` (or `::backprop::name`).
fn runtime_gate_name(path: &TokenStream) -> Option<String> {
    let text = path.to_string().replace(' ', "");
    text.strip_prefix("::backprop::")
        .or_else(|| text.strip_prefix("backprop::"))
        .map(str::to_string)
}

/// Whether a call's gradient-only rule takes a single scalar for an upstream gradient that is
/// the same for every entry (`pick_grad`, after `.mean()` of the picked entries).
pub fn takes_uniform_upstream(prim: &Prim) -> bool {
    match prim {
        Prim::Call { path, .. } => runtime_gate_name(path).as_deref() == Some("pick"),
        Prim::Table { .. } => true,
        _ => false,
    }
}

/// Float methods whose rules are not elementwise array code (a branch on the operands, or no
/// ndarray counterpart): on arrays they are an error.
pub const SCALAR_ONLY_METHODS: &[&str] =
    &["max", "min", "clamp", "atan2", "mul_add", "round_ties_even"];

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
}

/// What a gradient template can refer to.
pub struct Local {
    /// Operands, rendered for use as a value (`x`, `2.0`, `(n as f64)`).
    args: Vec<TokenStream>,
    /// Operands where no operator meets them (call arguments, indices).
    bare: Vec<TokenStream>,
    /// Operands, rendered for use as a method receiver (`2.0f64`, not `2.0`).
    receivers: Vec<TokenStream>,
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

    /// The same, with the upstream gradient given as a scalar value for an array line whose
    /// gradient is that value everywhere.
    pub fn with_upstream(mut self, d: TokenStream) -> Self {
        self.d = d;
        self
    }

    /// The upstream gradient by value, when it is a borrowed array (`&d_y` → `d_y`); not a
    /// scalar given for a uniform gradient.
    fn upstream_by_value(&self) -> Option<TokenStream> {
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
            };
        }
        Prim::Call { path, by_ref, .. } => {
            let x = with_references(
                args.iter().map(|a| render_bare(program, a)).collect(),
                by_ref,
            );
            return quote!(#path(#(#x),*));
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
        }
    };
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
    }),
    rule!("min", 2, Syntax::Method, [0, 1], |c, i| {
        let (a, b, d) = (c.x(0), c.x(1), &c.d);
        if i == 0 {
            quote!(if #a <= #b { #d } else { 0.0 })
        } else {
            quote!(if #a <= #b { 0.0 } else { #d })
        }
    }),
    // clamp(x, lo, hi) routes `d` to whichever of the three it returned.
    rule!("clamp", 3, Syntax::Method, [0, 1, 2], |c, i| {
        let (x, lo, hi, d) = (c.x(0), c.x(1), c.x(2), &c.d);
        match i {
            0 => quote!(if #x >= #lo && #x <= #hi { #d } else { 0.0 }),
            1 => quote!(if #x < #lo { #d } else { 0.0 }),
            _ => quote!(if #x > #hi { #d } else { 0.0 }),
        }
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

/// Operand positions of `prim` whose gradient can be non-zero.
pub fn differentiable_positions(prim: &Prim, args: &[Operand]) -> Vec<usize> {
    match prim {
        Prim::Table { rule, .. } => rule.differentiable.to_vec(),
        Prim::Cast(_) => vec![0],
        Prim::Tensor(TensorOp::Dot) => vec![0, 1],
        Prim::Tensor(_) => vec![0],
        Prim::Call { .. } => (0..args.len())
            .filter(|&i| is_float_argument(&args[i], args))
            .collect(),
    }
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
    };
    match prim {
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
        Prim::Call { path, by_ref, .. } if out.is_tensor() && gate_gradient(path).is_some() => {
            let rendered = with_references(local.bare.clone(), by_ref);
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
        // y = g(args): (y, grads) = g_backward(args, d).
        Prim::Call {
            backward, by_ref, ..
        } => {
            let float_args = differentiable_positions(prim, args);
            let rendered = with_references(local.bare.clone(), by_ref);
            // At the user's call, where rustc reports a `g_backward` that does not fit.
            let span = backward
                .clone()
                .into_iter()
                .last()
                .map_or_else(proc_macro2::Span::call_site, |t| t.span());
            let call = quote::quote_spanned!(span=> #backward(#(#rendered,)* #d));
            if float_args.len() == 1 {
                let expr = quote!(#call.1);
                return Backward {
                    setup: Vec::new(),
                    contributions: wanted
                        .iter()
                        .map(|&i| contribution(i, expr.clone()))
                        .collect(),
                };
            }
            // Checked to be a tuple of gradients.
            let checked = quote::quote_spanned!(span=> ::backprop::args(#call));
            let setup = vec![quote!(let (_, #scratch) = #checked;)];
            let contributions = wanted
                .iter()
                .map(|&i| {
                    let k = float_args.iter().position(|&p| p == i).unwrap_or(0);
                    let k = syn::Index::from(k);
                    contribution(i, quote!(#scratch.#k))
                })
                .collect();
            Backward {
                setup,
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

/// The factors of a matrix product's gradient `dA = dY·Bᵀ`, `dB = Aᵀ·dY` (both operands of
/// rank 2), as [`tensor_grad`] writes them.
fn matrix_factors(
    op: &TensorOp,
    c: &Local,
    program: &Program,
    args: &[Operand],
    i: usize,
) -> Option<(TokenStream, TokenStream)> {
    let (TensorOp::Dot, [a, b]) = (op, args) else {
        return None;
    };
    let (Some(2), Some(2)) = (program.ty_of(a).rank(), program.ty_of(b).rank()) else {
        return None;
    };
    let (d, a, b) = (&c.d_name, c.r(0), c.r(1));
    Some(match i {
        0 => (quote!(#d), quote!(#b.t())),
        _ => (quote!(#a.t()), quote!(#d)),
    })
}

/// Local gradients of the ndarray operations: whole-array code that follows the shapes, never
/// a Jacobian.
fn tensor_grad(
    op: &TensorOp,
    c: &Local,
    program: &Program,
    args: &[Operand],
    i: usize,
) -> TokenStream {
    let (d, d_name, f) = (&c.d, &c.d_name, c.float.ident());
    let a = c.r(0);
    let axis_of = |k: usize| quote!(::backprop::ndarray::Axis(#k));
    match op {
        TensorOp::Dot => {
            let (xa, xb, rb) = (c.x(0), c.x(1), c.r(1));
            let ranks = (
                program.ty_of(&args[0]).rank(),
                program.ty_of(&args[1]).rank(),
            );
            let (rows, cols) = (axis_of(1), axis_of(0));
            match (ranks, i) {
                // Y = A B: dA = dY Bᵀ, dB = Aᵀ dY.
                ((Some(2), Some(2)), 0) => quote!(#d_name.dot(&#rb.t())),
                ((Some(2), Some(2)), _) => quote!(#a.t().dot(#d)),
                // y = A x: dA = dy xᵀ (an outer product), dx = Aᵀ dy.
                ((Some(2), Some(1)), 0) => {
                    quote!(#d_name.view().insert_axis(#rows).dot(&#rb.view().insert_axis(#cols)))
                }
                ((Some(2), Some(1)), _) => quote!(#a.t().dot(#d)),
                // y = x A: dx = A dy, dA = x dyᵀ.
                ((Some(1), Some(2)), 0) => quote!(#rb.dot(#d)),
                ((Some(1), Some(2)), _) => {
                    quote!(#a.view().insert_axis(#rows).dot(&#d_name.view().insert_axis(#cols)))
                }
                // s = a · b: da = b ds, db = a ds.
                (_, 0) => quote!(#xb * #d),
                _ => quote!(#xa * #d),
            }
        }
        TensorOp::T => quote!(#d_name.t().to_owned()),
        // s = Σ a: every element gets ds.
        TensorOp::Sum => quote!(::backprop::ndarray::Array::from_elem(#a.raw_dim(), #d)),
        TensorOp::Mean { .. } => {
            quote!(::backprop::ndarray::Array::from_elem(#a.raw_dim(), #d / #a.len() as #f))
        }
        // y = Σ_axis a: dy spread back along the summed axis.
        TensorOp::SumAxis => {
            let (axis, xa) = (c.bare[1].clone(), c.x(0));
            quote!(::backprop::expand_axis(#d, #axis, #xa))
        }
        TensorOp::MeanAxis { .. } => {
            let (axis, xa) = (c.bare[1].clone(), c.x(0));
            quote!(::backprop::expand_axis(#d, #axis, #xa) / #a.len_of(#axis) as #f)
        }
        TensorOp::InsertAxis => {
            let axis = c.bare[1].clone();
            quote!(#d_name.index_axis(#axis, 0).to_owned())
        }
    }
}

/// Arguments of a call, arrays passed by reference where the user's call did.
fn with_references(args: Vec<TokenStream>, by_ref: &[bool]) -> Vec<TokenStream> {
    args.into_iter()
        .zip(by_ref)
        .map(|(a, &r)| if r { quote!(&#a) } else { a })
        .collect()
}
