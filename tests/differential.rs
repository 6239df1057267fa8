//! Differential testing: more than a thousand random staged programs.
//!
//! A generator (a fixed-seed SplitMix64, written out below: no dependency) draws random
//! `#[backprop]` functions from the whole forward language of the README and writes them, each
//! followed by its exact reference — the same expression tree printed on num-dual's dual
//! numbers, with literals wrapped `c(..)`, scalars on the right and small helpers (`pw64`,
//! `pw32` below) for the piecewise operations — to `tests/generated/differential_programs.rs`.
//! The file is checked in, so every program can be read, and a failing one pinned as a
//! regression test. The test evaluates every program at three random points and compares
//! `f_grad` and `f_backward` (seeded with a random `d_out`) with the reference, to a relative
//! error of 1e-10 in f64 and 2e-4 in f32, and with central differences as a second opinion.
//!
//! The programs use: 1–4 float parameters (`f64`, some programs `f32`; scalars, `[F; N]`,
//! `&[F; N]`, `&[F]`, `Vec<F>`; `mut` parameters), `usize`/`i32`/`bool` constants, `wrt(..)`;
//! `let` chains with shadowing and type annotations, `let mut` with `+= -= *= /= %=` and
//! reassignment, `const` items and `std` constants, `let _ = v;`, `return`; every operator and
//! float method of the rule table in both call syntaxes, the sigmoid idiom, `f32 -> f64 -> f32`
//! casts; `if`/`else if`/`else` as values and as statements (arms with `let` lines, nesting,
//! assignments to outer variables); `for` loops over ranges (reversed, nested, `continue`
//! guards, loop-carried variables, indices by the loop variable); calls of earlier programs,
//! of the hand-written gates below and of the runtime gates. The test
//! `every_rule_and_construct_is_generated` reads the rule table
//! (`backprop-macro/src/rules.rs`) and fails when a rule, or a construct of `CONSTRUCTS`, is
//! not generated: see CONTRIBUTING.md.
//!
//! After changing the generator, re-create the file with `BLESS=1 cargo test --test differential`.
//! (If the old file no longer compiles, replace it first with the three empty tables
//! `static CASES_F64: &[Case<f64>] = &[];`, `static CASES_F32: &[Case<f32>] = &[];` and
//! `static COVERAGE: &[(&str, usize)] = &[];`.)
//!
//! # Where central differences are meaningful
//!
//! Random programs are full of kinks and jumps (`abs`, `max`, `clamp`, `floor`, `%`, branches,
//! `relu`, ...), and a random point can land within a step `h` of one. The dual reference is
//! exact whatever the point, so it is the primary check. For the numeric check, the reference
//! logs every piecewise decision it takes (which arm of an `if`, which operand of `max`, the
//! value of `floor`, the quotient of `%`, ...). A gradient component is compared with central
//! differences only when the reference takes the same decisions at `x - h`, `x` and `x + h` (the
//! points `backprop::check_gradient` evaluates), so that no kink or jump lies in between, and
//! when the central difference's own error — truncation, estimated from the reference's
//! derivatives at those three points, plus rounding of the values — is well under the check's
//! tolerance. Every other component is counted as skipped, and the counts are printed
//! (`--nocapture`).

// The programs are random: they write what a user might, including `a *= a * b`.
#![allow(clippy::misrefactored_assign_op)]

mod common;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt::Write as _;

use backprop::prelude::*;
use backprop::{Real, backprop};
use common::{c, dual_gradient};
use num_dual::{Dual, Dual32, Dual64, DualNum};

// ---------------------------------------------------------------------------------------------
// Hand-written gates the programs call (a plain `g` and its `g_backward`, generic over the
// float type like the runtime's gates).

/// `n + 1` in the float type.
fn count<F: Real>(n: usize) -> F {
    (0..n).fold(F::one(), |s, _| s + F::one())
}

/// softsign(x) = x / (1 + |x|).
fn softsign<F: Real>(x: F) -> F {
    x / (F::one() + x.abs())
}

fn softsign_backward<F: Real>(x: F, d_out: F) -> (F, F) {
    let den = F::one() + x.abs();
    (x / den, d_out / (den * den))
}

/// The smooth maximum ln(e^a + e^b), computed stably: two differentiable inputs.
fn smooth_max<F: Real>(a: F, b: F) -> F {
    let m = a.max(b);
    m + ((a - m).exp() + (b - m).exp()).ln()
}

fn smooth_max_backward<F: Real>(a: F, b: F, d_out: F) -> (F, (F, F)) {
    let v = smooth_max(a, b);
    (v, ((a - v).exp() * d_out, (b - v).exp() * d_out))
}

/// A leaky ReLU whose slope is an input too: x for x > 0, else slope * x.
fn leaky<F: Real>(x: F, slope: F) -> F {
    if x > F::zero() { x } else { slope * x }
}

fn leaky_backward<F: Real>(x: F, slope: F, d_out: F) -> (F, (F, F)) {
    if x > F::zero() {
        (x, (d_out, F::zero()))
    } else {
        (slope * x, (slope * d_out, x * d_out))
    }
}

/// tanh(x) * (n + 1): a gate with an integer (constant) parameter.
fn scaled<F: Real>(x: F, n: usize) -> F {
    x.tanh() * count::<F>(n)
}

fn scaled_backward<F: Real>(x: F, n: usize, d_out: F) -> (F, F) {
    let t = x.tanh();
    let s = count::<F>(n);
    (t * s, (F::one() - t * t) * s * d_out)
}

// ---------------------------------------------------------------------------------------------
// The references' helpers: the piecewise operations on dual numbers (num-dual has no max, abs,
// floor, ...), the gates on dual numbers, and the log of piecewise decisions.

thread_local! {
    static DECISIONS: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

/// Logs one piecewise decision of a reference.
fn note(decision: u64) {
    DECISIONS.with(|d| d.borrow_mut().push(decision));
}

/// The decisions logged since the last call.
fn take_decisions() -> Vec<u64> {
    DECISIONS.with(|d| std::mem::take(&mut *d.borrow_mut()))
}

/// `x as f64` on a dual number.
fn widen(x: Dual32) -> Dual64 {
    Dual64::new(f64::from(x.re), f64::from(x.eps))
}

/// `x as f32` on a dual number.
fn narrow(x: Dual64) -> Dual32 {
    Dual32::new(x.re as f32, x.eps as f32)
}

macro_rules! piecewise {
    ($module:ident, $F:ty, $D:ty) => {
        /// Piecewise operations and gates on dual numbers; the real part decides, and every
        /// decision is logged. Where num-dual or the textbook formula would round the value
        /// differently from std (tan, tanh, powi, powf, hypot, mul_add, the gates), the value
        /// is std's and only the derivative num-dual's: a condition that compares two nearly
        /// equal values must take the same branch as the forward code.
        #[allow(dead_code)]
        mod $module {
            use super::note;
            use num_dual::DualNum;

            type F = $F;
            type D = $D;

            fn k(x: F) -> D {
                D::from_re(x)
            }

            /// std's `value`, with the derivative of `d`.
            fn exact(value: F, d: D) -> D {
                D::new(value, d.eps)
            }

            fn note_value(x: F) {
                note(f64::from(x).to_bits());
            }

            pub fn decide(b: bool) -> bool {
                note(u64::from(b));
                b
            }

            /// Signed zeros as std's `abs` (and the rule's `signum`) see them.
            pub fn abs(x: D) -> D {
                if decide(x.re.is_sign_negative()) {
                    -x
                } else {
                    x
                }
            }

            pub fn signum(x: D) -> D {
                note_value(x.re.signum());
                k(x.re.signum())
            }

            pub fn floor(x: D) -> D {
                note_value(x.re.floor());
                k(x.re.floor())
            }

            pub fn ceil(x: D) -> D {
                note_value(x.re.ceil());
                k(x.re.ceil())
            }

            pub fn round(x: D) -> D {
                note_value(x.re.round());
                k(x.re.round())
            }

            pub fn round_ties_even(x: D) -> D {
                note_value(x.re.round_ties_even());
                k(x.re.round_ties_even())
            }

            pub fn trunc(x: D) -> D {
                note_value(x.re.trunc());
                k(x.re.trunc())
            }

            pub fn fract(x: D) -> D {
                note_value(x.re.trunc());
                x - x.re.trunc()
            }

            /// a % b = a - b trunc(a / b), with the exact remainder as the value.
            pub fn rem(a: D, b: D) -> D {
                let q = (a.re / b.re).trunc();
                note_value(q);
                D::new(a.re % b.re, (a - b * q).eps)
            }

            pub fn max(a: D, b: D) -> D {
                if decide(a.re >= b.re) { a } else { b }
            }

            pub fn min(a: D, b: D) -> D {
                if decide(a.re <= b.re) { a } else { b }
            }

            pub fn clamp(x: D, lo: D, hi: D) -> D {
                if decide(x.re < lo.re) {
                    lo
                } else if decide(x.re > hi.re) {
                    hi
                } else {
                    x
                }
            }

            pub fn hypot(a: D, b: D) -> D {
                exact(a.re.hypot(b.re), (a * a + b * b).sqrt())
            }

            /// atan2 jumps across the negative `b` axis: the signs are its decisions. The
            /// derivative is num-dual's, of atan(a / b) or of -atan(b / a), whichever quotient
            /// is finite (num-dual's own atan2 divides by `b`).
            pub fn atan2(a: D, b: D) -> D {
                note(u64::from(a.re < 0.0) * 2 + u64::from(b.re < 0.0));
                let slope = if a.re.abs() > b.re.abs() {
                    -(b / a).atan()
                } else {
                    (a / b).atan()
                };
                D::new(a.re.atan2(b.re), slope.eps)
            }

            pub fn mul_add(a: D, b: D, c: D) -> D {
                exact(a.re.mul_add(b.re, c.re), a * b + c)
            }

            pub fn powf(a: D, b: D) -> D {
                exact(a.re.powf(b.re), a.powd(b))
            }

            pub fn powi(a: D, n: i32) -> D {
                exact(a.re.powi(n), a.powi(n))
            }

            pub fn tan(x: D) -> D {
                exact(x.re.tan(), x.tan())
            }

            pub fn log(a: D, b: D) -> D {
                a.ln() / b.ln()
            }

            pub fn to_degrees(x: D) -> D {
                x * F::to_degrees(1.0)
            }

            pub fn to_radians(x: D) -> D {
                x * F::to_radians(1.0)
            }

            /// σ(x), its derivative computed stably (`1 / (1 + e^-x)` on dual numbers
            /// overflows for large negative `x`).
            fn stable_sigmoid(x: D) -> D {
                if x.re >= 0.0 {
                    (k(1.0) + (-x).exp()).recip()
                } else {
                    let e = x.exp();
                    e / (e + 1.0)
                }
            }

            /// The runtime gate `backprop::sigmoid`.
            pub fn sigmoid(x: D) -> D {
                exact(::backprop::sigmoid(x.re), stable_sigmoid(x))
            }

            /// The idiom `1.0 / (1.0 + (-x).exp())`, valued as written.
            pub fn sigmoid_idiom(x: D) -> D {
                exact(1.0 / (1.0 + (-x.re).exp()), stable_sigmoid(x))
            }

            /// num-dual's tanh is sinh / cosh, which is NaN once those overflow.
            pub fn tanh(x: D) -> D {
                let sign = if x.re.is_sign_negative() { -1.0 } else { 1.0 };
                let e = (x * (-2.0 * sign)).exp();
                exact(x.re.tanh(), (k(1.0) - e) / (e + 1.0) * sign)
            }

            pub fn relu(x: D) -> D {
                if decide(x.re > 0.0) { x } else { k(0.0) }
            }

            pub fn softplus(x: D) -> D {
                let stable = if x.re > 0.0 {
                    x + (-x).exp().ln_1p()
                } else {
                    x.exp().ln_1p()
                };
                exact(::backprop::softplus(x.re), stable)
            }

            pub fn softsign(x: D) -> D {
                x / (abs(x) + 1.0)
            }

            /// ln(e^a + e^b) = m + ln(e^(a-m) + e^(b-m)) for either choice of m.
            pub fn smooth_max(a: D, b: D) -> D {
                let m = if a.re >= b.re { a } else { b };
                m + ((a - m).exp() + (b - m).exp()).ln()
            }

            pub fn leaky(x: D, slope: D) -> D {
                if decide(x.re > 0.0) { x } else { x * slope }
            }

            pub fn scaled(x: D, n: usize) -> D {
                exact(super::scaled(x.re, n), tanh(x) * (n as F + 1.0))
            }
        }
    };
}

piecewise!(pw64, f64, num_dual::Dual64);
piecewise!(pw32, f32, num_dual::Dual32);

// ---------------------------------------------------------------------------------------------
// The table of generated programs.

/// A constant (non-float) parameter, drawn per point: `usize` in 0..=3, `i32` in -2..=2, `bool`.
#[derive(Clone, Copy)]
enum Const {
    Usize,
    I32,
    Bool,
}

/// What `f_grad` and `f_backward` returned, gradients flattened.
struct Run<F> {
    value: F,
    grad: Vec<F>,
    backward_value: F,
    backward_grad: Vec<F>,
}

/// One generated program, called through flat inputs: `p` holds every float input (arrays
/// flattened, in signature order), `k` every constant parameter.
struct Case<F: 'static> {
    name: &'static str,
    source: &'static str,
    floats: usize,
    /// The indices in `p` of the differentiable inputs, in gradient order.
    active: &'static [usize],
    consts: &'static [Const],
    value: fn(&[F], &[i64]) -> F,
    run: fn(&[F], &[i64], F) -> Run<F>,
    reference: fn(&[Dual<F>], &[i64]) -> Dual<F>,
    backward_source: fn() -> &'static str,
}

macro_rules! case {
    ($F:ty, $name:ident, $grad:ident, $backward:ident, $backward_source:ident, $reference:ident,
     floats: $floats:literal, active: [$($active:literal),*], consts: [$($c:ident),*],
     |$p:ident, $k:ident| ($($arg:expr),+), $source:literal $(,)?) => {
        Case {
            name: stringify!($name),
            source: $source,
            floats: $floats,
            active: &[$($active),*],
            consts: &[$(Const::$c),*],
            value: {
                fn value($p: &[$F], $k: &[i64]) -> $F {
                    let _ = $k;
                    $name($($arg),+)
                }
                value
            },
            run: {
                fn run($p: &[$F], $k: &[i64], d_out: $F) -> Run<$F> {
                    let _ = $k;
                    let (value, grad) = $grad($($arg),+);
                    let (backward_value, backward_grad) = $backward($($arg,)+ d_out);
                    Run {
                        value,
                        grad: Gradient::<$F>::flatten(&grad),
                        backward_value,
                        backward_grad: Gradient::<$F>::flatten(&backward_grad),
                    }
                }
                run
            },
            reference: {
                fn reference($p: &[Dual<$F>], $k: &[i64]) -> Dual<$F> {
                    let _ = $k;
                    $reference($($arg),+)
                }
                reference
            },
            backward_source: $backward_source,
        }
    };
}

include!("generated/differential_programs.rs");

// ---------------------------------------------------------------------------------------------
// The generator.

const SEED: u64 = 0x00D1_FFE2_E471_A1B0;
/// How many programs the file holds.
const PROGRAMS: usize = 1100;
/// The share of programs written in `f32`.
const F32_SHARE: f64 = 0.15;
/// Values larger than this (by the generator's bound) are squashed before they are bound.
const LIMIT: f64 = 20.0;
const LITERALS: [f64; 16] = [
    0.1, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.75, 0.8, 0.9, 1.2, 1.25, 1.5, 1.75, 2.0, 2.5,
];
/// Local names, some of them equal to names the macro generates.
const LOCAL_NAMES: [&str; 20] = [
    "a", "b", "h", "m", "r", "s", "g", "e1", "z1", "acc", "tmp", "hidden", "act", "out", "d_x",
    "d_out", "grad", "x_1", "d_a", "sum",
];
const UNARY: [&str; 32] = [
    "exp",
    "exp2",
    "exp_m1",
    "ln",
    "ln_1p",
    "log2",
    "log10",
    "sqrt",
    "cbrt",
    "recip",
    "sin",
    "cos",
    "tan",
    "asin",
    "acos",
    "atan",
    "sinh",
    "cosh",
    "tanh",
    "asinh",
    "acosh",
    "atanh",
    "abs",
    "signum",
    "floor",
    "ceil",
    "round",
    "round_ties_even",
    "trunc",
    "fract",
    "to_degrees",
    "to_radians",
];
const BINARY: [&str; 8] = [
    "atan2", "hypot", "max", "min", "clamp", "mul_add", "powf", "log",
];

/// SplitMix64: a small, fixed, portable pseudo-random generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Fl {
    F64,
    F32,
}

impl Fl {
    fn ty(self) -> &'static str {
        match self {
            Fl::F64 => "f64",
            Fl::F32 => "f32",
        }
    }

    fn dual(self) -> &'static str {
        match self {
            Fl::F64 => "Dual64",
            Fl::F32 => "Dual32",
        }
    }

    fn pw(self) -> &'static str {
        match self {
            Fl::F64 => "pw64",
            Fl::F32 => "pw32",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Scalar,
    Array(usize),
    ArrayRef(usize),
    /// `&[f64]`, called with this many elements.
    Slice(usize),
    /// `Vec<f64>`, called with this many elements.
    Vec(usize),
    Usize,
    I32,
    Bool,
    /// A loop variable, in `0..count`.
    Index(usize),
}

impl Kind {
    /// The number of elements of an array, slice or `Vec` parameter.
    fn elements(self) -> Option<usize> {
        match self {
            Kind::Array(n) | Kind::ArrayRef(n) | Kind::Slice(n) | Kind::Vec(n) => Some(n),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

impl Op {
    fn sym(self) -> &'static str {
        match self {
            Op::Add => "+",
            Op::Sub => "-",
            Op::Mul => "*",
            Op::Div => "/",
            Op::Rem => "%",
        }
    }

    fn rule(self) -> &'static str {
        match self {
            Op::Add => "add",
            Op::Sub => "sub",
            Op::Mul => "mul",
            Op::Div => "div",
            Op::Rem => "rem",
        }
    }

    fn prec(self) -> u8 {
        match self {
            Op::Add | Op::Sub => P_ADD,
            _ => P_MUL,
        }
    }
}

// Precedence levels of the printers.
const P_ADD: u8 = 4;
const P_MUL: u8 = 5;
const P_CAST: u8 = 6;
const P_UNARY: u8 = 7;
const P_POSTFIX: u8 = 8;

#[derive(Clone, PartialEq)]
enum Index {
    Lit(usize),
    /// `w[n % N]` with a `usize` parameter `n`.
    Mod(usize, usize),
    /// `w[i]` with a loop variable `i` (in range), else `w[(i + shift) % N]`.
    Loop(usize, usize, usize),
}

#[derive(Clone, PartialEq)]
enum Expo {
    Lit(i32),
    Var(usize),
}

#[derive(Clone, PartialEq)]
enum Callee {
    /// An earlier generated program.
    Program(usize),
    /// A hand-written gate of this file.
    Gate(&'static str),
    /// A runtime gate, by path (`backprop::relu`) or imported (`relu`).
    Runtime(&'static str, bool),
}

#[derive(Clone, PartialEq)]
enum Arg {
    Float(E),
    /// An array variable, passed as `&w` when the flag is set.
    Array(usize, bool),
    /// A constant argument, as written.
    Const(String),
}

/// An expression tree; variables are indices into the function's `vars`.
#[derive(Clone, PartialEq)]
enum E {
    Lit(f64),
    /// A scalar constant: a `const` item or a `std::f64::consts` path.
    Named(String),
    Var(usize),
    Elem(usize, Index),
    /// `n as f64` of an integer parameter.
    IntF(usize),
    /// `w.len() as f64` of a slice or `Vec` parameter.
    Len(usize),
    Neg(Box<E>),
    Bin(Op, Box<E>, Box<E>),
    /// A float method: name, path syntax (`f64::exp(x)`), operands (the receiver first).
    Method(&'static str, bool, Vec<E>),
    Powi(Box<E>, Expo, bool),
    /// The sigmoid idiom `1.0 / (1.0 + (-x).exp())`; the flag selects `f64::exp(-x)`.
    Sigmoid(Box<E>, bool),
    Call(Callee, Vec<Arg>),
    /// `(x as f64).m() as f32` in an f32 program.
    Island(Box<E>, &'static str),
}

#[derive(Clone, PartialEq)]
enum Cond {
    Cmp(E, &'static str, E),
    Flag(usize, bool),
    Int(usize, &'static str, i64),
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
}

#[derive(Clone, PartialEq)]
enum Rhs {
    Expr(E),
    If(Box<IfChain>),
}

/// An `if` chain: a value (every block ends in an expression, `else` required) or a
/// statement (blocks assign outer `mut` variables, `else` optional).
#[derive(Clone, PartialEq)]
struct IfChain {
    arms: Vec<(Cond, Block)>,
    otherwise: Option<Block>,
}

#[derive(Clone, PartialEq)]
struct Block {
    stmts: Vec<ArmStmt>,
    tail: Option<E>,
}

#[derive(Clone, PartialEq)]
enum ArmStmt {
    Let(usize, Rhs),
    /// An assignment to an outer `mut` variable (in place: no new version).
    Assign(usize, Option<Op>, E),
    If(IfChain),
    For(Loop),
    /// `if cond { continue; }` in a loop body.
    Continue(Cond),
}

/// `for i in 0..count { body }`, or over `(0..count).rev()`.
#[derive(Clone, PartialEq)]
struct Loop {
    var: usize,
    count: Count,
    rev: bool,
    body: Vec<ArmStmt>,
}

#[derive(Clone, PartialEq)]
enum Count {
    Lit(usize),
    /// `w.len()`.
    Len(usize),
    /// A `usize` parameter.
    Param(usize),
}

enum Stmt {
    Const(String, f64),
    Let {
        var: usize,
        mutable: bool,
        annotated: bool,
        rhs: Rhs,
    },
    /// `v op= rhs` or `v = rhs`; `var` is the new version.
    Assign {
        var: usize,
        op: Option<Op>,
        rhs: E,
    },
    Discard(usize),
    If(IfChain),
    For(Loop),
}

enum Tail {
    Expr(E),
    Return(E),
    If(IfChain),
}

struct Var {
    name: String,
    kind: Kind,
    /// An upper bound of |value| for inputs in [-1.5, 1.5].
    bound: f64,
    uses: usize,
    mutable: bool,
    /// The first version of a mutable variable (itself otherwise).
    root: usize,
    assigned: bool,
}

struct Function {
    name: String,
    has_loop: bool,
    fl: Fl,
    params: Vec<usize>,
    wrt: Option<Vec<usize>>,
    vars: Vec<Var>,
    body: Vec<Stmt>,
    tail: Tail,
}

/// What a caller needs to know of an earlier program.
struct Sig {
    name: String,
    fl: Fl,
    kinds: Vec<Kind>,
    wrt: bool,
    bound: f64,
}

struct Gen {
    rng: Rng,
    sigs: Vec<Sig>,
    coverage: BTreeMap<String, usize>,
    // The function being generated.
    fl: Fl,
    vars: Vec<Var>,
    scopes: Vec<Vec<usize>>,
    named: Vec<(String, f64)>,
    /// The function's `const` item, and whether it is read.
    const_item: Option<(String, bool)>,
    focus: Option<usize>,
    /// A `let mut s = 0.0;` before its first assignment: rustc cannot call methods on it yet.
    hidden: Option<usize>,
    /// While generating the `if` that is the function's value.
    no_assignments: bool,
    /// Variables assigned in the arms of the current top-level statement.
    arm_assigned: Vec<usize>,
    /// The product of the iteration counts of the loops being generated.
    iterations: usize,
    budget: i32,
    arm_depth: usize,
}

fn boxed(e: E) -> Box<E> {
    Box::new(e)
}

fn bin(op: Op, a: E, b: E) -> E {
    E::Bin(op, boxed(a), boxed(b))
}

fn is_leaf(e: &E) -> bool {
    matches!(e, E::Var(_) | E::Elem(..))
}

impl Gen {
    fn new(seed: u64) -> Self {
        Gen {
            rng: Rng(seed),
            sigs: Vec::new(),
            coverage: BTreeMap::new(),
            fl: Fl::F64,
            vars: Vec::new(),
            scopes: Vec::new(),
            named: Vec::new(),
            const_item: None,
            focus: None,
            hidden: None,
            no_assignments: false,
            arm_assigned: Vec::new(),
            iterations: 1,
            budget: 0,
            arm_depth: 0,
        }
    }

    fn cov(&mut self, key: &str) {
        *self.coverage.entry(key.to_string()).or_default() += 1;
    }

    fn lit(&mut self) -> f64 {
        self.rng.pick(&LITERALS)
    }

    // ----- variables ------------------------------------------------------------------------

    fn declare(&mut self, name: &str, kind: Kind, bound: f64, mutable: bool) -> usize {
        let id = self.vars.len();
        self.vars.push(Var {
            name: name.to_string(),
            kind,
            bound,
            uses: 0,
            mutable,
            root: id,
            assigned: false,
        });
        self.scopes.last_mut().expect("a scope").push(id);
        id
    }

    /// The variables in scope (the latest binding of each name), innermost first.
    fn visible(&self) -> Vec<usize> {
        let mut seen: Vec<&str> = Vec::new();
        let mut out = Vec::new();
        for scope in self.scopes.iter().rev() {
            for &id in scope.iter().rev() {
                let name = self.vars[id].name.as_str();
                if !seen.contains(&name) {
                    seen.push(name);
                    if self.hidden != Some(id) {
                        out.push(id);
                    }
                }
            }
        }
        out
    }

    fn visible_where(&self, pred: impl Fn(&Var) -> bool) -> Vec<usize> {
        self.visible()
            .into_iter()
            .filter(|&id| pred(&self.vars[id]))
            .collect()
    }

    fn use_var(&mut self, id: usize) -> E {
        self.vars[id].uses += 1;
        E::Var(id)
    }

    fn fresh_name(&mut self) -> String {
        let taken: Vec<String> = self
            .visible()
            .iter()
            .map(|&v| self.vars[v].name.clone())
            .collect();
        for _ in 0..8 {
            let name = self.rng.pick(&LOCAL_NAMES);
            if !taken.iter().any(|t| t == name) {
                return name.to_string();
            }
        }
        format!("v{}", self.vars.len())
    }

    // ----- expressions ----------------------------------------------------------------------

    /// A float variable or array element (the focus, if any, most of the time).
    fn leaf(&mut self) -> (E, f64) {
        let scalars = self.visible_where(|v| v.kind == Kind::Scalar);
        let arrays = self.visible_where(|v| v.kind.elements().is_some());
        if let Some(f) = self.focus
            && scalars.contains(&f)
            && self.rng.chance(0.6)
        {
            let bound = self.vars[f].bound;
            return (self.use_var(f), bound);
        }
        if !arrays.is_empty() && (scalars.is_empty() || self.rng.chance(0.25)) {
            let a = self.rng.pick(&arrays);
            let n = self.vars[a].kind.elements().unwrap_or(1);
            let usizes = self.visible_where(|v| v.kind == Kind::Usize);
            let loops = self.visible_where(|v| matches!(v.kind, Kind::Index(_)));
            let index = if !loops.is_empty() && self.rng.chance(0.7) {
                let i = self.rng.pick(&loops);
                self.vars[i].uses += 1;
                self.cov("index by a loop variable");
                let Kind::Index(count) = self.vars[i].kind else {
                    unreachable!()
                };
                let shift = if count <= n && self.rng.chance(0.7) {
                    0
                } else {
                    self.rng.below(n)
                };
                Index::Loop(i, shift, n)
            } else if !usizes.is_empty() && self.rng.chance(0.2) {
                let u = self.rng.pick(&usizes);
                self.vars[u].uses += 1;
                self.cov("index by a usize parameter");
                Index::Mod(u, n)
            } else {
                Index::Lit(self.rng.below(n))
            };
            self.vars[a].uses += 1;
            self.cov("array element");
            return (E::Elem(a, index), 1.5);
        }
        // Prefer the less used of two.
        let (a, b) = (self.rng.pick(&scalars), self.rng.pick(&scalars));
        let v = if self.vars[a].uses <= self.vars[b].uses {
            a
        } else {
            b
        };
        let bound = self.vars[v].bound;
        (self.use_var(v), bound)
    }

    /// A literal, an integer parameter as a float, or a named constant.
    fn scalar(&mut self) -> (E, f64) {
        let ints =
            self.visible_where(|v| matches!(v.kind, Kind::Usize | Kind::I32 | Kind::Index(_)));
        let r = self.rng.below(100);
        if r < 12 && !ints.is_empty() {
            let v = self.rng.pick(&ints);
            self.vars[v].uses += 1;
            self.cov("integer parameter as a float");
            return (E::IntF(v), 3.0);
        }
        let slices = self.visible_where(|v| matches!(v.kind, Kind::Slice(_) | Kind::Vec(_)));
        if r >= 95 && !slices.is_empty() {
            let v = self.rng.pick(&slices);
            self.vars[v].uses += 1;
            self.cov("slice length");
            return (E::Len(v), 4.0);
        }
        if r < 22 && !self.named.is_empty() {
            let (name, value) = self.named[self.rng.below(self.named.len())].clone();
            self.read_named(&name);
            self.cov("named constant");
            return (E::Named(name), value.abs());
        }
        let l = self.lit();
        (E::Lit(l), l)
    }

    fn read_named(&mut self, name: &str) {
        if let Some((item, read)) = &mut self.const_item
            && item == name
        {
            *read = true;
        }
    }

    fn m(&mut self, name: &'static str, args: Vec<E>) -> E {
        let path = self.rng.chance(0.2);
        self.cov(name);
        if path {
            self.cov(&format!("path:{name}"));
        }
        if matches!(args[0], E::Lit(_)) && !path {
            self.cov("literal receiver");
        }
        E::Method(name, path, args)
    }

    fn powi(&mut self, base: E, expo: Expo) -> E {
        let path = self.rng.chance(0.2);
        self.cov("powi");
        if path {
            self.cov("path:powi");
        }
        E::Powi(boxed(base), expo, path)
    }

    fn sigmoid_idiom(&mut self, e: E) -> E {
        let path = self.rng.chance(0.3);
        self.cov("sigmoid");
        if path {
            self.cov("sigmoid idiom with f64::exp");
        }
        E::Sigmoid(boxed(e), path)
    }

    fn runtime(&mut self, name: &'static str, e: E) -> E {
        let path = self.rng.chance(0.5);
        if path {
            self.cov(&format!("backprop::{name}"));
        } else {
            self.cov(&format!("{name} (imported)"));
        }
        E::Call(Callee::Runtime(name, path), vec![Arg::Float(e)])
    }

    fn expr(&mut self, depth: u32) -> (E, f64) {
        self.budget -= 1;
        if depth == 0 || self.budget <= 0 || self.rng.chance(0.15) {
            return self.leaf();
        }
        let d = depth - 1;
        let (e, b) = match self.rng.below(100) {
            0..=21 => self.arith(d),
            22..=29 => self.with_scalar(d),
            30..=35 => self.div(d),
            36..=37 => self.rem(d),
            38..=40 => self.neg(d),
            41..=66 => self.unary(d),
            67..=78 => self.binary_method(d),
            79..=81 => self.power(d),
            82..=84 => {
                let (e, _) = self.expr(d);
                (self.sigmoid_idiom(e), 1.0)
            }
            85..=93 => self.call(d),
            94..=97 if self.fl == Fl::F32 => self.island(d),
            _ => self.leaf(),
        };
        if b > 50.0 || b.is_nan() {
            self.squash(e)
        } else {
            (e, b)
        }
    }

    /// Maps any value into [-1.6, 1.6].
    fn squash(&mut self, e: E) -> (E, f64) {
        match self.rng.below(6) {
            0 => (self.m("tanh", vec![e]), 1.0),
            1 => (self.m("sin", vec![e]), 1.0),
            2 => (self.m("atan", vec![e]), 1.6),
            3 => (self.sigmoid_idiom(e), 1.0),
            4 => (self.runtime("sigmoid", e), 1.0),
            _ => {
                self.cov("gate softsign");
                (E::Call(Callee::Gate("softsign"), vec![Arg::Float(e)]), 1.0)
            }
        }
    }

    /// An expression bounded by `lim` (>= 1.5).
    fn bounded(&mut self, depth: u32, lim: f64) -> (E, f64) {
        let (e, b) = self.expr(depth);
        if b <= lim {
            return (e, b);
        }
        let (s, sb) = self.squash(e);
        if sb <= lim {
            (s, sb)
        } else {
            (self.m("tanh", vec![s]), 1.0)
        }
    }

    fn limit(&mut self, e: E, b: f64) -> (E, f64) {
        if b > LIMIT || b.is_nan() {
            self.squash(e)
        } else {
            (e, b)
        }
    }

    /// `e` itself unless it is a bare variable (a tail must not just return the previous line).
    fn compound(&mut self, e: E) -> E {
        if is_leaf(&e) {
            let l = self.lit();
            self.cov("mul");
            bin(Op::Mul, e, E::Lit(l))
        } else {
            e
        }
    }

    /// `a op b`, avoiding `a - -b` and `a - a`.
    fn bin(&mut self, op: Op, a: E, ba: f64, b: E, bb: f64) -> (E, f64) {
        let (mut op, mut b) = (op, b);
        if let E::Neg(inner) = &b
            && matches!(op, Op::Add | Op::Sub)
        {
            b = (**inner).clone();
            op = if op == Op::Add { Op::Sub } else { Op::Add };
        }
        if op == Op::Sub && a == b {
            op = Op::Add;
        }
        self.cov(op.rule());
        let bound = match op {
            Op::Add | Op::Sub => ba + bb,
            _ => ba * bb,
        };
        (bin(op, a, b), bound)
    }

    fn arith(&mut self, d: u32) -> (E, f64) {
        let op = self.rng.pick(&[Op::Add, Op::Sub, Op::Mul, Op::Mul]);
        let (a, ba) = self.expr(d);
        let (b, bb) = self.expr(d);
        self.bin(op, a, ba, b, bb)
    }

    fn with_scalar(&mut self, d: u32) -> (E, f64) {
        let op = self
            .rng
            .pick(&[Op::Add, Op::Sub, Op::Mul, Op::Mul, Op::Div]);
        let (a, ba) = self.expr(d);
        if op == Op::Div {
            let l = self.lit();
            self.cov("div");
            return (bin(Op::Div, a, E::Lit(l)), ba / l);
        }
        let (s, bs) = self.scalar();
        if self.rng.chance(0.4) {
            self.cov("scalar on the left");
            self.bin(op, s, bs, a, ba)
        } else {
            self.bin(op, a, ba, s, bs)
        }
    }

    fn div(&mut self, d: u32) -> (E, f64) {
        let (num, bn) = if self.rng.chance(0.2) {
            self.scalar()
        } else {
            self.expr(d)
        };
        let (den, _, min) = self.den(d);
        self.cov("div");
        (bin(Op::Div, num, den), bn / min)
    }

    fn rem(&mut self, d: u32) -> (E, f64) {
        let (a, ba) = self.expr(d);
        let (b, bmax) = if self.rng.chance(0.3) {
            let l = self.lit();
            (E::Lit(l), l)
        } else {
            let (e, max, _) = self.den(d);
            (e, max)
        };
        self.cov("rem");
        (bin(Op::Rem, a, b), ba.min(bmax))
    }

    fn neg(&mut self, d: u32) -> (E, f64) {
        let (a, b) = self.expr(d);
        if let E::Neg(inner) = a {
            return (*inner, b);
        }
        self.cov("neg");
        (E::Neg(boxed(a)), b)
    }

    /// A positive expression: (it, max, min > 0).
    fn pos(&mut self, d: u32) -> (E, f64, f64) {
        match self.rng.below(7) {
            0 | 1 => {
                let (e, b) = self.bounded(d, 3.0);
                let c = self.rng.pick(&[0.2, 0.25, 0.3, 0.5, 0.75, 1.2]);
                let square = self.square(e);
                self.cov("add");
                (bin(Op::Add, square, E::Lit(c)), b * b + c, c)
            }
            2 => {
                let (e, b) = self.bounded(d, 2.0);
                (self.m("exp", vec![e]), b.exp(), (-b).exp())
            }
            3 => {
                let (e, b) = self.bounded(d, 2.0);
                (self.m("cosh", vec![e]), b.cosh(), 1.0)
            }
            4 => {
                let (e, _) = self.expr(d);
                let c = self.rng.pick(&[1.2, 1.5, 2.0]);
                let t = self.m("tanh", vec![e]);
                self.cov("add");
                (bin(Op::Add, t, E::Lit(c)), 1.0 + c, c - 1.0)
            }
            5 => {
                let (e, b) = self.expr(d);
                let c = self.rng.pick(&[0.2, 0.5, 0.75]);
                let a = self.m("abs", vec![e]);
                self.cov("add");
                (bin(Op::Add, a, E::Lit(c)), b + c, c)
            }
            _ => {
                let (e, b) = self.expr(d);
                let c = self.rng.pick(&[0.5, 0.8]);
                let h = if self.rng.chance(0.5) {
                    self.m("hypot", vec![e, E::Lit(c)])
                } else {
                    self.m("hypot", vec![E::Lit(c), e])
                };
                (h, b + c, c)
            }
        }
    }

    fn square(&mut self, e: E) -> E {
        if is_leaf(&e) {
            self.cov("mul");
            bin(Op::Mul, e.clone(), e)
        } else {
            self.powi(e, Expo::Lit(2))
        }
    }

    /// A denominator: (it, max |.|, min |.| > 0).
    fn den(&mut self, d: u32) -> (E, f64, f64) {
        match self.rng.below(10) {
            0..=6 => self.pos(d),
            7 | 8 => {
                let (e, max, min) = self.pos(d);
                self.cov("neg");
                (E::Neg(boxed(e)), max, min)
            }
            _ => {
                let (e, _) = self.expr(d);
                let t = self.m("tanh", vec![e]);
                self.cov("sub");
                (bin(Op::Sub, t, E::Lit(1.5)), 2.5, 0.5)
            }
        }
    }

    /// A value in (-0.9, 0.9): (it, max |.|).
    fn unit(&mut self, d: u32) -> (E, f64) {
        let (e, _) = self.expr(d);
        self.cov("mul");
        match self.rng.below(5) {
            0 => (bin(Op::Mul, self.m("tanh", vec![e]), E::Lit(0.9)), 0.9),
            1 => (bin(Op::Mul, self.m("sin", vec![e]), E::Lit(0.9)), 0.9),
            2 => (bin(Op::Mul, self.m("cos", vec![e]), E::Lit(0.8)), 0.8),
            3 => (bin(Op::Mul, self.m("atan", vec![e]), E::Lit(0.5)), 0.79),
            _ => (bin(Op::Sub, self.sigmoid_idiom(e), E::Lit(0.5)), 0.5),
        }
    }

    fn unary(&mut self, d: u32) -> (E, f64) {
        let name = self.rng.pick(&UNARY);
        match name {
            "exp" | "exp_m1" => {
                let (a, b) = self.bounded(d, 2.5);
                (self.m(name, vec![a]), b.exp())
            }
            "exp2" => {
                let (a, b) = self.bounded(d, 3.0);
                (self.m(name, vec![a]), b.exp2())
            }
            "sinh" | "cosh" => {
                let (a, b) = self.bounded(d, 2.5);
                (self.m(name, vec![a]), b.cosh())
            }
            "ln" | "log2" | "log10" => {
                let (a, max, min) = self.pos(d);
                let bound = max.ln().abs().max(min.ln().abs()) * 1.5;
                (self.m(name, vec![a]), bound)
            }
            "sqrt" => {
                let (a, max, _) = self.pos(d);
                (self.m(name, vec![a]), max.sqrt())
            }
            "cbrt" => {
                let (a, max, _) = self.pos(d);
                let a = if self.rng.chance(0.3) {
                    self.cov("neg");
                    E::Neg(boxed(a))
                } else {
                    a
                };
                (self.m(name, vec![a]), max.cbrt())
            }
            "ln_1p" => {
                let (a, b) = match self.rng.below(3) {
                    0 => {
                        let (e, b) = self.bounded(d, 3.0);
                        (self.square(e), b * b)
                    }
                    1 => self.unit(d),
                    _ => {
                        let (e, b) = self.bounded(d, 2.0);
                        (self.m("exp", vec![e]), b.exp())
                    }
                };
                (self.m(name, vec![a]), (1.0 + b).ln().max(2.31))
            }
            "asin" | "acos" | "atanh" => {
                let (a, _) = self.unit(d);
                (self.m(name, vec![a]), 3.2)
            }
            "acosh" => {
                let (a, max) = match self.rng.below(3) {
                    0 => {
                        let (e, b) = self.bounded(d, 3.0);
                        let s = self.square(e);
                        (bin(Op::Add, s, E::Lit(1.2)), b * b + 1.2)
                    }
                    1 => {
                        let (e, b) = self.bounded(d, 2.0);
                        let c = self.m("cosh", vec![e]);
                        (bin(Op::Add, c, E::Lit(0.2)), b.cosh() + 0.2)
                    }
                    _ => {
                        let (e, b) = self.expr(d);
                        let a = self.m("abs", vec![e]);
                        (bin(Op::Add, a, E::Lit(1.1)), b + 1.1)
                    }
                };
                self.cov("add");
                (self.m(name, vec![a]), max.acosh())
            }
            "tan" => {
                let (e, _) = self.expr(d);
                let inner = match self.rng.below(3) {
                    0 => bin(Op::Mul, self.m("tanh", vec![e]), E::Lit(1.2)),
                    1 => bin(Op::Mul, self.m("sin", vec![e]), E::Lit(1.2)),
                    _ => bin(Op::Mul, self.m("atan", vec![e]), E::Lit(0.75)),
                };
                self.cov("mul");
                (self.m(name, vec![inner]), 2.6)
            }
            "recip" => {
                let (a, _, min) = self.den(d);
                (self.m(name, vec![a]), 1.0 / min)
            }
            "sin" | "cos" | "tanh" => {
                let (a, _) = self.expr(d);
                (self.m(name, vec![a]), 1.0)
            }
            "atan" => {
                let (a, _) = self.expr(d);
                (self.m(name, vec![a]), 1.6)
            }
            "asinh" | "abs" => {
                let (a, b) = self.expr(d);
                (self.m(name, vec![a]), b)
            }
            "signum" | "fract" => {
                let (a, _) = self.expr(d);
                (self.m(name, vec![a]), 1.0)
            }
            "floor" | "ceil" | "round" | "round_ties_even" | "trunc" => {
                let (a, b) = self.expr(d);
                let (a, b) = if self.rng.chance(0.5) {
                    let l = self.lit();
                    self.cov("mul");
                    (bin(Op::Mul, a, E::Lit(l)), b * l)
                } else {
                    (a, b)
                };
                (self.m(name, vec![a]), b + 1.0)
            }
            "to_degrees" => {
                let (a, b) = self.bounded(d, 1.6);
                self.cov("mul");
                (bin(Op::Mul, self.m(name, vec![a]), E::Lit(0.01)), b * 0.58)
            }
            _ => {
                let (a, b) = self.expr(d);
                (self.m("to_radians", vec![a]), b * 0.0175)
            }
        }
    }

    fn binary_method(&mut self, d: u32) -> (E, f64) {
        let name = self.rng.pick(&BINARY);
        match name {
            "atan2" => {
                let args = match self.rng.below(5) {
                    0 => {
                        let (a, _) = self.expr(d);
                        vec![a, E::Lit(self.lit())]
                    }
                    1 => {
                        let (b, _) = self.expr(d);
                        vec![E::Lit(self.lit()), b]
                    }
                    // One side is never zero: at (0, 0) atan2 has no derivative, and the
                    // reversed pass would multiply its infinite local gradient by zero.
                    2 => {
                        let (a, _, _) = self.den(d);
                        let (b, _) = self.expr(d);
                        vec![a, b]
                    }
                    _ => {
                        let (a, _) = self.expr(d);
                        let (b, _, _) = self.pos(d);
                        vec![a, b]
                    }
                };
                (self.m(name, args), 3.15)
            }
            "hypot" => {
                let (a, ba) = self.expr(d);
                let (args, bb) = match self.rng.below(3) {
                    0 => {
                        let l = self.lit();
                        (vec![a, E::Lit(l)], l)
                    }
                    1 => {
                        let l = self.lit();
                        (vec![E::Lit(l), a], l)
                    }
                    _ => {
                        let (b, max, _) = self.pos(d);
                        (vec![a, b], max)
                    }
                };
                (self.m(name, args), ba + bb)
            }
            "max" | "min" => {
                let (a, ba) = self.expr(d);
                let (b, bb) = if self.rng.chance(0.3) {
                    let l = self.lit();
                    (E::Lit(l), l)
                } else {
                    self.expr(d)
                };
                // `x.max(lo).min(hi)` with constant bounds is clippy's manual_clamp.
                let chained =
                    matches!(&a, E::Method("max" | "min", _, args) if matches!(args[1], E::Lit(_)));
                let (b, bb) = if chained && matches!(b, E::Lit(_)) {
                    self.expr(d)
                } else {
                    (b, bb)
                };
                let args = if matches!(b, E::Lit(_)) && self.rng.chance(0.3) {
                    vec![b, a]
                } else {
                    vec![a, b]
                };
                (self.m(name, args), ba.max(bb))
            }
            "clamp" => {
                let (x, _) = self.expr(d);
                if self.rng.chance(0.5) {
                    let lo = -self.rng.pick(&[0.2, 0.5, 0.8, 1.0]);
                    let hi = self.rng.pick(&[0.3, 0.5, 0.9, 1.2]);
                    (self.m(name, vec![x, E::Lit(lo), E::Lit(hi)]), 1.2)
                } else {
                    let (e, _) = self.expr(d);
                    let t = self.m("tanh", vec![e]);
                    self.cov("sub");
                    let lo = bin(Op::Sub, t, E::Lit(1.5));
                    let (hi, max, _) = self.pos(d);
                    (self.m(name, vec![x, lo, hi]), max.max(2.5))
                }
            }
            "mul_add" => {
                let (a, ba) = self.expr(d);
                let (b, bb) = if self.rng.chance(0.3) {
                    let l = self.lit();
                    (E::Lit(l), l)
                } else {
                    self.expr(d)
                };
                let (c, bc) = if self.rng.chance(0.2) {
                    let l = self.lit();
                    (E::Lit(l), l)
                } else {
                    self.expr(d)
                };
                (self.m(name, vec![a, b, c]), ba * bb + bc)
            }
            "powf" => match self.rng.below(3) {
                0 => {
                    let (a, max, min) = self.pos(d);
                    let p: f64 = self.rng.pick(&[0.5, 1.5, 2.5, -0.5, 0.3]);
                    let bound = max.powf(p).max(min.powf(p));
                    (self.m(name, vec![a, E::Lit(p)]), bound)
                }
                1 => {
                    let (a, max, min) = self.pos(d);
                    let (p, bp) = self.bounded(d, 1.5);
                    let bound = max.powf(bp).max(min.powf(-bp)).max(1.0 / max.powf(bp));
                    (self.m(name, vec![a, p]), bound)
                }
                _ => {
                    let base: f64 = self.rng.pick(&[2.0, 0.5, 1.5, 3.0]);
                    let (p, bp) = self.bounded(d, 2.0);
                    let bound = base.powf(bp).max(base.powf(-bp));
                    (self.m(name, vec![E::Lit(base), p]), bound)
                }
            },
            _ => {
                let (a, max, min) = self.pos(d);
                let base = if self.rng.chance(0.5) {
                    E::Lit(self.rng.pick(&[2.0, 10.0, 0.5, 3.0]))
                } else if self.rng.chance(0.5) {
                    let (e, _) = self.expr(d);
                    let t = self.m("tanh", vec![e]);
                    self.cov("mul");
                    self.cov("add");
                    bin(Op::Add, bin(Op::Mul, t, E::Lit(0.5)), E::Lit(2.0))
                } else {
                    let (e, _) = self.bounded(d, 2.0);
                    let x = self.m("exp", vec![e]);
                    self.cov("add");
                    bin(Op::Add, x, E::Lit(1.5))
                };
                let bound = max.ln().abs().max(min.ln().abs()) / 0.4;
                (self.m("log", vec![a, base]), bound)
            }
        }
    }

    fn power(&mut self, d: u32) -> (E, f64) {
        let ks = self.visible_where(|v| v.kind == Kind::I32);
        if !ks.is_empty() && self.rng.chance(0.4) {
            let k = self.rng.pick(&ks);
            self.vars[k].uses += 1;
            self.cov("powi by an i32 parameter");
            let (e, _) = self.expr(d);
            let t = self.m("tanh", vec![e]);
            let c = self.rng.pick(&[1.5, 1.75]);
            self.cov("add");
            let base = bin(Op::Add, t, E::Lit(c));
            let (max, min) = (1.0 + c, c - 1.0);
            return (
                self.powi(base, Expo::Var(k)),
                (max * max).max(1.0 / (min * min)),
            );
        }
        let n = self.rng.pick(&[-2, -1, 0, 1, 2, 2, 3, 3, 4]);
        if n < 0 {
            let (base, _, min) = self.den(d);
            (self.powi(base, Expo::Lit(n)), min.powi(n))
        } else {
            let (base, b) = self.bounded(d, 2.0);
            (self.powi(base, Expo::Lit(n)), b.powi(n).max(1.0))
        }
    }

    fn call(&mut self, d: u32) -> (E, f64) {
        match self.rng.below(10) {
            0..=4 => match self.call_program(d) {
                Some(call) => call,
                None => self.call_runtime(d),
            },
            5..=7 => self.call_runtime(d),
            _ => self.call_gate(d),
        }
    }

    fn call_runtime(&mut self, d: u32) -> (E, f64) {
        let name = self.rng.pick(&["sigmoid", "relu", "softplus"]);
        let (e, b) = self.expr(d);
        let bound = match name {
            "sigmoid" => 1.0,
            "relu" => b,
            _ => b + 0.7,
        };
        (self.runtime(name, e), bound)
    }

    fn call_gate(&mut self, d: u32) -> (E, f64) {
        match self.rng.below(4) {
            0 => {
                let (e, _) = self.expr(d);
                self.cov("gate softsign");
                (E::Call(Callee::Gate("softsign"), vec![Arg::Float(e)]), 1.0)
            }
            1 => {
                let (a, ba) = self.bounded(d, 20.0);
                let (b, bb) = self.bounded(d, 20.0);
                self.cov("gate smooth_max");
                (
                    E::Call(
                        Callee::Gate("smooth_max"),
                        vec![Arg::Float(a), Arg::Float(b)],
                    ),
                    ba.max(bb) + 0.7,
                )
            }
            2 => {
                let (x, bx) = self.expr(d);
                let slope = if self.rng.chance(0.5) {
                    E::Lit(self.rng.pick(&[0.1, 0.2, 0.3]))
                } else {
                    self.unit(d).0
                };
                self.cov("gate leaky");
                (
                    E::Call(
                        Callee::Gate("leaky"),
                        vec![Arg::Float(x), Arg::Float(slope)],
                    ),
                    bx,
                )
            }
            _ => {
                let (x, _) = self.expr(d);
                let n = self.const_arg(Kind::Usize, &["0", "1", "2", "3"]);
                self.cov("gate scaled");
                (E::Call(Callee::Gate("scaled"), vec![Arg::Float(x), n]), 4.0)
            }
        }
    }

    fn const_arg(&mut self, kind: Kind, literals: &[&str]) -> Arg {
        let vars = self.visible_where(|v| v.kind == kind);
        if !vars.is_empty() && self.rng.chance(0.6) {
            let v = self.rng.pick(&vars);
            self.vars[v].uses += 1;
            Arg::Const(self.vars[v].name.clone())
        } else {
            Arg::Const(self.rng.pick(literals).to_string())
        }
    }

    /// A call of an earlier program of the same float type (without `wrt`, whose array
    /// parameters this function can pass).
    fn call_program(&mut self, d: u32) -> Option<(E, f64)> {
        let arrays = self.visible_where(|v| v.kind.elements().is_some());
        // What can be passed for a parameter of kind `k`: an array of the same length (by
        // value, or as `&w`), an array reference, or for a slice, a slice or `&v` of a `Vec`
        // at least as long (the callee reads the elements it was generated with).
        let fits = |k: Kind, a: Kind| match (k, a) {
            (Kind::Array(n), Kind::Array(m)) => n == m,
            (Kind::ArrayRef(n), Kind::Array(m) | Kind::ArrayRef(m)) => n == m,
            (Kind::Slice(n), Kind::Slice(m) | Kind::Vec(m)) => m >= n,
            _ => false,
        };
        let has = |k: Kind| arrays.iter().any(|&a| fits(k, self.vars[a].kind));
        let candidates: Vec<usize> = (0..self.sigs.len())
            .rev()
            .filter(|&i| {
                let sig = &self.sigs[i];
                sig.fl == self.fl
                    && !sig.wrt
                    && sig.kinds.iter().all(|&k| k.elements().is_none() || has(k))
            })
            .take(300)
            .collect();
        if candidates.is_empty() {
            return None;
        }
        let callee = self.rng.pick(&candidates);
        let kinds = self.sigs[callee].kinds.clone();
        let mut args = Vec::new();
        for kind in kinds {
            let arg = match kind {
                Kind::Scalar => {
                    let small: Vec<(String, f64)> = self
                        .named
                        .iter()
                        .filter(|(_, v)| v.abs() <= 1.5)
                        .cloned()
                        .collect();
                    if self.rng.chance(0.12) {
                        self.cov("float literal passed to a call");
                        Arg::Float(E::Lit(self.rng.pick(&[0.25, 0.5, 0.75, 1.2])))
                    } else if !small.is_empty() && self.rng.chance(0.15) {
                        self.cov("named constant passed to a call");
                        let name = small[self.rng.below(small.len())].0.clone();
                        self.read_named(&name);
                        Arg::Float(E::Named(name))
                    } else {
                        Arg::Float(self.bounded(d, 1.5).0)
                    }
                }
                Kind::Array(_) | Kind::ArrayRef(_) | Kind::Slice(_) | Kind::Vec(_) => {
                    let options: Vec<usize> = arrays
                        .iter()
                        .copied()
                        .filter(|&a| fits(kind, self.vars[a].kind))
                        .collect();
                    let a = self.rng.pick(&options);
                    self.vars[a].uses += 1;
                    let by_ref = matches!(
                        (kind, self.vars[a].kind),
                        (Kind::ArrayRef(_), Kind::Array(_)) | (Kind::Slice(_), Kind::Vec(_))
                    );
                    self.cov(match (kind, self.vars[a].kind) {
                        (Kind::Array(_), _) => "array passed to a call",
                        (Kind::ArrayRef(_), Kind::Array(_)) => "array passed as &w to a call",
                        (Kind::ArrayRef(_), _) => "array reference passed to a call",
                        (_, Kind::Vec(_)) => "Vec passed as &v to a call",
                        _ => "slice passed to a call",
                    });
                    Arg::Array(a, by_ref)
                }
                Kind::Usize => self.const_arg(Kind::Usize, &["0", "1", "2", "3"]),
                Kind::I32 => self.const_arg(Kind::I32, &["-2", "-1", "0", "1", "2"]),
                Kind::Bool => self.const_arg(Kind::Bool, &["true", "false"]),
                Kind::Index(_) => unreachable!("loop variables are not parameters"),
            };
            args.push(arg);
        }
        self.cov("call of a #[backprop] function");
        Some((
            E::Call(Callee::Program(callee), args),
            self.sigs[callee].bound,
        ))
    }

    /// `(x as f64).m() as f32`: a stretch of f64 inside an f32 program.
    fn island(&mut self, d: u32) -> (E, f64) {
        let name = self.rng.pick(&["sin", "tanh", "atan", "exp"]);
        self.cov("cast f32 -> f64 -> f32");
        if name == "exp" {
            let (e, b) = self.bounded(d, 2.0);
            (E::Island(boxed(e), name), b.exp())
        } else {
            let (e, _) = self.expr(d);
            (E::Island(boxed(e), name), 1.6)
        }
    }

    // ----- conditions and branches ----------------------------------------------------------

    fn int_cond(&mut self, v: usize) -> Cond {
        self.vars[v].uses += 1;
        self.cov("integer condition");
        let op = self.rng.pick(&[">", "<", "==", "!=", ">=", "<="]);
        let value = match self.vars[v].kind {
            Kind::Usize => 1 + self.rng.below(2) as i64,
            Kind::Index(count) => 1 + self.rng.below(count.max(2) - 1) as i64,
            _ => self.rng.below(3) as i64 - 1,
        };
        Cond::Int(v, op, value)
    }

    fn cmp(&mut self) -> Cond {
        self.budget = 4;
        let (a, _) = self.expr(2);
        let op = self.rng.pick(&[">", "<", ">=", "<="]);
        let b = if self.rng.chance(0.6) {
            E::Lit(self.rng.pick(&[-0.5, -0.2, 0.0, 0.2, 0.5, 1.0]))
        } else {
            self.budget = 3;
            self.expr(2).0
        };
        let b = if a == b { E::Lit(0.5) } else { b };
        self.cov("data-dependent condition");
        Cond::Cmp(a, op, b)
    }

    fn flag(&mut self, v: usize) -> Cond {
        self.vars[v].uses += 1;
        self.cov("bool condition");
        Cond::Flag(v, self.rng.chance(0.3))
    }

    fn cond(&mut self) -> Cond {
        let flags = self.visible_where(|v| v.kind == Kind::Bool);
        let ints =
            self.visible_where(|v| matches!(v.kind, Kind::Usize | Kind::I32 | Kind::Index(_)));
        let r = self.rng.below(100);
        if r < 12 && !flags.is_empty() {
            let f = self.rng.pick(&flags);
            return self.flag(f);
        }
        if r < 20 && !ints.is_empty() {
            let v = self.rng.pick(&ints);
            return self.int_cond(v);
        }
        if r < 35 && !flags.is_empty() {
            let f = self.rng.pick(&flags);
            let flag = self.flag(f);
            let cmp = self.cmp();
            self.cov("&& in a condition");
            return Cond::And(Box::new(flag), Box::new(cmp));
        }
        if r < 42 && !ints.is_empty() {
            let cmp = self.cmp();
            let v = self.rng.pick(&ints);
            let int = self.int_cond(v);
            self.cov("|| in a condition");
            return Cond::Or(Box::new(cmp), Box::new(int));
        }
        self.cmp()
    }

    fn if_chain(&mut self, value: bool) -> (IfChain, f64) {
        let arms = 1 + usize::from(self.rng.chance(0.35)) + usize::from(self.rng.chance(0.1));
        self.cov(if value { "if" } else { "if statement" });
        if arms > 1 {
            self.cov("else if");
        }
        let mut chain = IfChain {
            arms: Vec::new(),
            otherwise: None,
        };
        let mut bound: f64 = 0.0;
        for _ in 0..arms {
            let mut cond = self.cond();
            // Each condition once (clippy's ifs_same_cond).
            while chain.arms.iter().any(|(c, _)| *c == cond) {
                cond = self.cmp();
            }
            let (block, b) = self.block(value);
            bound = bound.max(b);
            chain.arms.push((cond, block));
        }
        if value || self.rng.chance(0.5) {
            let (mut otherwise, b) = self.block(value);
            bound = bound.max(b);
            // clippy's if_same_then_else
            let same = chain.arms.iter().any(|(_, arm)| *arm == otherwise);
            if let (true, Some(tail)) = (same, otherwise.tail.as_mut()) {
                *tail = bin(Op::Add, tail.clone(), E::Lit(0.5));
            }
            if value || !same {
                if !value {
                    self.cov("if statement with else");
                }
                chain.otherwise = Some(otherwise);
            }
        }
        if self.arm_depth == 0 {
            self.after_branches();
        }
        (chain, bound + 0.5)
    }

    /// An arm: `let` lines, assignments to outer `mut` variables, nested `if` statements, and
    /// for a value, the final expression.
    /// After a top-level statement with branches: a value assigned in an arm must be read
    /// again afterwards, whatever arm ran (rustc's unused_assignments).
    fn after_branches(&mut self) {
        for v in std::mem::take(&mut self.arm_assigned) {
            self.vars[v].uses = 0;
        }
    }

    fn block(&mut self, value: bool) -> (Block, f64) {
        self.scopes.push(Vec::new());
        self.arm_depth += 1;
        let mut stmts = Vec::new();
        let count = if value {
            self.rng.below(3)
        } else {
            1 + self.rng.below(3)
        };
        for i in 0..count {
            let mutables = if self.no_assignments {
                Vec::new()
            } else {
                self.visible_where(|v| v.mutable && v.kind == Kind::Scalar)
            };
            let r = self.rng.below(100);
            if !mutables.is_empty() && (r < 15 || (!value && r < 60)) {
                stmts.push(self.arm_assign());
            } else if !mutables.is_empty() && r >= 90 && i > 0 && self.arm_depth < 3 {
                // Never an arm's only statement: clippy's collapsible_if.
                self.cov("nested if statement");
                let (chain, _) = self.if_chain(false);
                stmts.push(ArmStmt::If(chain));
            } else if !mutables.is_empty() && (84..90).contains(&r) && self.iterations < 5 {
                match self.for_loop() {
                    Some(l) => stmts.push(ArmStmt::For(l)),
                    None => stmts.push(self.arm_let()),
                }
            } else {
                stmts.push(self.arm_let());
            }
        }
        let own: Vec<usize> = self.scopes.last().cloned().unwrap_or_default();
        let (mut tail, mut bound) = if !value {
            (None, 0.0)
        } else if self.rng.chance(0.1) {
            self.cov("constant arm");
            let l = self.rng.pick(&[0.0, 0.5]);
            (Some(E::Lit(l)), l)
        } else {
            self.budget = 6;
            let (e, b) = self.expr(3);
            let (e, b) = self.limit(e, b);
            (Some(self.compound(e)), b * 2.5)
        };
        // Every `let` of the arm is read.
        for id in own {
            if self.vars[id].uses == 0 {
                let l = self.lit();
                let term = bin(Op::Mul, self.use_var(id), E::Lit(l));
                bound += self.vars[id].bound * l;
                tail = match tail {
                    Some(E::Lit(_)) => Some(term),
                    Some(t) => Some(bin(Op::Add, t, term)),
                    None => {
                        let mutables = self.visible_where(|v| v.mutable && v.kind == Kind::Scalar);
                        let target = self.rng.pick(&mutables);
                        self.vars[target].uses += 1;
                        self.arm_assigned.push(target);
                        self.cov("assignment in an arm");
                        stmts.push(ArmStmt::Assign(target, Some(Op::Add), term));
                        None
                    }
                };
            }
        }
        if !value && !stmts.iter().any(|s| matches!(s, ArmStmt::Assign(..))) {
            stmts.push(self.arm_assign());
        }
        self.scopes.pop();
        self.arm_depth -= 1;
        (Block { stmts, tail }, bound)
    }

    /// A `for` loop over a range whose body assigns `mut` variables in scope (loop-carried).
    fn for_loop(&mut self) -> Option<Loop> {
        let mutables = self.visible_where(|v| v.mutable && v.kind == Kind::Scalar);
        if mutables.is_empty() || self.no_assignments {
            return None;
        }
        let arrays = self.visible_where(|v| v.kind.elements().is_some());
        let usizes = self.visible_where(|v| v.kind == Kind::Usize);
        let (count, iterations) = match self.rng.below(4) {
            0 | 1 if !arrays.is_empty() => {
                let a = self.rng.pick(&arrays);
                self.vars[a].uses += 1;
                self.cov("loop over w.len()");
                (Count::Len(a), self.vars[a].kind.elements().unwrap_or(1))
            }
            2 if !usizes.is_empty() => {
                let n = self.rng.pick(&usizes);
                self.vars[n].uses += 1;
                self.cov("loop over a usize parameter");
                (Count::Param(n), 3)
            }
            _ => {
                let c = 2 + self.rng.below(3);
                (Count::Lit(c), c)
            }
        };
        let rev = self.rng.chance(0.3);
        self.cov("for loop");
        if rev {
            self.cov("reversed range");
        }
        if self.iterations > 1 {
            self.cov("nested loop");
        }
        let taken: Vec<String> = self
            .visible()
            .iter()
            .map(|&v| self.vars[v].name.clone())
            .collect();
        let name = ["i", "j", "l"]
            .into_iter()
            .find(|n| !taken.iter().any(|t| t == n))?;
        self.scopes.push(Vec::new());
        self.arm_depth += 1;
        let outer_iterations = self.iterations;
        self.iterations *= iterations.max(1);
        let var = self.declare(
            name,
            Kind::Index(iterations.max(1)),
            iterations as f64,
            false,
        );
        let mut body = Vec::new();
        for i in 0..1 + self.rng.below(3) {
            let r = self.rng.below(100);
            if r < 15 {
                self.cov("continue guard");
                body.push(ArmStmt::Continue(self.cond()));
            } else if r < 65 {
                body.push(self.arm_assign());
            } else if r >= 92 && i > 0 {
                self.cov("nested if statement");
                let (chain, _) = self.if_chain(false);
                body.push(ArmStmt::If(chain));
            } else if r >= 86 && self.iterations < 5 {
                match self.for_loop() {
                    Some(l) => body.push(ArmStmt::For(l)),
                    None => body.push(self.arm_assign()),
                }
            } else {
                body.push(self.arm_let());
            }
        }
        // Every `let` and the loop variable are read, and something is assigned.
        let own: Vec<usize> = self.scopes.last().cloned().unwrap_or_default();
        for id in own {
            if self.vars[id].uses == 0 {
                let l = self.lit();
                let term = if id == var {
                    bin(Op::Mul, E::IntF(id), E::Lit(l))
                } else {
                    bin(Op::Mul, E::Var(id), E::Lit(l))
                };
                self.vars[id].uses += 1;
                let target = self.rng.pick(&mutables);
                self.vars[target].uses += 1;
                self.arm_assigned.push(target);
                self.cov("assignment in an arm");
                body.push(ArmStmt::Assign(target, Some(Op::Add), term));
            }
        }
        if !body.iter().any(|s| matches!(s, ArmStmt::Assign(..))) {
            body.push(self.arm_assign());
        }
        self.iterations = outer_iterations;
        self.scopes.pop();
        self.arm_depth -= 1;
        if self.arm_depth == 0 {
            self.after_branches();
        }
        Some(Loop {
            var,
            count,
            rev,
            body,
        })
    }

    fn arm_let(&mut self) -> ArmStmt {
        // An outer name (shadowing one of this arm's own would leave it unread).
        let own = self.scopes.last().cloned().unwrap_or_default();
        let shadowable: Vec<usize> = self
            .visible_where(|v| v.kind == Kind::Scalar && !v.mutable)
            .into_iter()
            .filter(|id| !own.contains(id))
            .collect();
        let shadowing = !shadowable.is_empty() && self.rng.chance(0.1);
        let name = if shadowing {
            self.cov("shadowing inside an arm");
            self.vars[self.rng.pick(&shadowable)].name.clone()
        } else {
            self.fresh_name()
        };
        let (rhs, b) = if self.arm_depth < 2 && self.rng.chance(0.12) {
            self.cov("nested if");
            let (chain, b) = self.if_chain(true);
            (Rhs::If(Box::new(chain)), b)
        } else {
            self.budget = 6;
            let (e, b) = self.expr(3);
            let (e, b) = self.limit(e, b);
            let e = if shadowing { self.compound(e) } else { e };
            (Rhs::Expr(e), b)
        };
        self.cov("let in an arm");
        let id = self.declare(&name, Kind::Scalar, b, false);
        ArmStmt::Let(id, rhs)
    }

    /// An assignment to an outer `mut` variable inside an arm.
    fn arm_assign(&mut self) -> ArmStmt {
        let mutables = self.visible_where(|v| v.mutable && v.kind == Kind::Scalar);
        let v = self.rng.pick(&mutables);
        let (op, rhs, bound) = self.assignment(v, None);
        self.vars[v].uses += 1;
        // In a loop, the assignment runs once per iteration.
        self.vars[v].bound = self.vars[v].bound.max(bound) * self.iterations as f64;
        let root = self.vars[v].root;
        self.vars[root].assigned = true;
        self.arm_assigned.push(v);
        self.cov("assignment in an arm");
        self.cov_assignment(op);
        ArmStmt::Assign(v, op, rhs)
    }

    // ----- statements -----------------------------------------------------------------------

    fn let_plain(&mut self, body: &mut Vec<Stmt>) {
        self.budget = 3 + self.rng.below(9) as i32;
        let (e, b) = self.expr(4);
        let (e, b) = self.limit(e, b);
        let annotated = self.rng.chance(0.1);
        if annotated {
            self.cov("type annotation");
        }
        let name = self.fresh_name();
        let var = self.declare(&name, Kind::Scalar, b, false);
        self.cov("let");
        body.push(Stmt::Let {
            var,
            mutable: false,
            annotated,
            rhs: Rhs::Expr(e),
        });
    }

    fn let_shadow(&mut self, body: &mut Vec<Stmt>) {
        let candidates = self.visible_where(|v| v.kind == Kind::Scalar && !v.mutable);
        if candidates.is_empty() {
            return self.let_plain(body);
        }
        let old = self.rng.pick(&candidates);
        let uses = self.vars[old].uses;
        self.focus = Some(old);
        self.budget = 3 + self.rng.below(6) as i32;
        let (e, mut b) = self.expr(3);
        self.focus = None;
        // Not `let x = x;` (clippy's redundant_locals) nor `let x = a;` after `let a = x;`.
        let mut e = self.compound(e);
        if self.vars[old].uses == uses {
            let l = self.lit();
            b += self.vars[old].bound * l;
            e = bin(Op::Add, e, bin(Op::Mul, self.use_var(old), E::Lit(l)));
        }
        let (e, b) = self.limit(e, b);
        let name = self.vars[old].name.clone();
        let var = self.declare(&name, Kind::Scalar, b, false);
        self.cov("shadowing");
        body.push(Stmt::Let {
            var,
            mutable: false,
            annotated: false,
            rhs: Rhs::Expr(e),
        });
    }

    fn let_mut(&mut self, body: &mut Vec<Stmt>) {
        let (init, b) = if self.rng.chance(0.3) {
            self.cov("let mut from a literal");
            let l = self.rng.pick(&[0.0, 0.5, 1.0]);
            (E::Lit(l), l)
        } else {
            self.budget = 3 + self.rng.below(6) as i32;
            let (e, b) = self.expr(3);
            self.limit(e, b)
        };
        let literal = matches!(init, E::Lit(_));
        let name = self.fresh_name();
        let var = self.declare(&name, Kind::Scalar, b, true);
        self.cov("let mut");
        body.push(Stmt::Let {
            var,
            mutable: true,
            annotated: false,
            rhs: Rhs::Expr(init),
        });
        if literal {
            self.hidden = Some(var);
            self.assign(body, Some(var), Some(Some(Op::Add)));
            self.hidden = None;
        }
        if self.rng.chance(0.6) {
            for _ in 0..1 + self.rng.below(2) {
                let latest = self.visible_where(|v| v.mutable && v.root == var);
                self.assign(body, latest.first().copied(), None);
            }
        }
    }

    /// `v op= rhs;` or `v = rhs;` on a mutable variable (`target`, or one in scope).
    fn assign(&mut self, body: &mut Vec<Stmt>, target: Option<usize>, op: Option<Option<Op>>) {
        let old = match target {
            Some(t) => t,
            None => {
                let mutables = self.visible_where(|v| v.mutable && v.kind == Kind::Scalar);
                if mutables.is_empty() {
                    return self.let_plain(body);
                }
                self.rng.pick(&mutables)
            }
        };
        let (op, rhs, bound) = self.assignment(old, op);
        self.vars[old].uses += 1;
        let root = self.vars[old].root;
        self.vars[root].assigned = true;
        let name = self.vars[old].name.clone();
        let var = self.declare(&name, Kind::Scalar, bound, true);
        self.vars[var].root = root;
        self.cov_assignment(op);
        body.push(Stmt::Assign { var, op, rhs });
    }

    fn cov_assignment(&mut self, op: Option<Op>) {
        self.cov(match op {
            Some(Op::Add) => "+=",
            Some(Op::Sub) => "-=",
            Some(Op::Mul) => "*=",
            Some(Op::Div) => "/=",
            Some(Op::Rem) => "%=",
            None => "reassignment",
        });
        if let Some(op) = op {
            self.cov(op.rule());
        }
    }

    /// The operator, right-hand side and new bound of an assignment to `old`.
    fn assignment(&mut self, old: usize, op: Option<Option<Op>>) -> (Option<Op>, E, f64) {
        let in_loop = self.iterations > 1;
        let op = op.unwrap_or_else(|| match self.rng.below(100) {
            // In a loop, a division would compound: squashed reassignments instead.
            70..=79 if in_loop => None,
            0..=29 => Some(Op::Add),
            30..=49 => Some(Op::Sub),
            50..=69 => Some(Op::Mul),
            70..=79 => Some(Op::Div),
            80..=84 => Some(Op::Rem),
            _ => None,
        });
        let ob = self.vars[old].bound;
        self.budget = 3 + self.rng.below(5) as i32;
        let (mut op, mut rhs, mut bound) = match op {
            // In a loop, what is added or multiplied is squashed: the right-hand side may
            // read the variable itself, and the loop would compound it.
            Some(Op::Add | Op::Sub) if in_loop => {
                let (e, _) = self.expr(3);
                let (e, b) = self.squash(e);
                (op, e, ob + b)
            }
            Some(Op::Add | Op::Sub) => {
                let (e, b) = self.expr(3);
                (op, e, ob + b)
            }
            Some(Op::Mul) if in_loop => {
                let (e, _) = self.expr(3);
                let t = self.m("tanh", vec![e]);
                (op, t, ob)
            }
            Some(Op::Mul) => {
                let (e, b) = self.bounded(3, 1.5);
                (op, e, ob * b)
            }
            Some(Op::Div) => {
                let (e, _, min) = self.den(2);
                (op, e, ob / min)
            }
            Some(_) => {
                let (e, max, _) = self.den(2);
                (op, e, ob.min(max))
            }
            None => {
                let uses = self.vars[old].uses;
                self.focus = Some(old);
                let (e, mut b) = self.expr(3);
                self.focus = None;
                let mut e = self.compound(e);
                if self.vars[old].uses == uses {
                    let l = self.lit();
                    b += ob * l;
                    e = bin(Op::Add, e, bin(Op::Mul, self.use_var(old), E::Lit(l)));
                }
                (None, e, b)
            }
        };
        // Not `s += s + e` (clippy's misrefactored_assign_op), nor `s -= s`.
        if let Some(op) = op {
            let l = self.lit();
            rhs = match rhs {
                E::Bin(o, a, b) if o == op && (*a == E::Var(old) || *b == E::Var(old)) => {
                    let scale = |e: Box<E>| {
                        if *e == E::Var(old) {
                            boxed(bin(Op::Mul, *e, E::Lit(l)))
                        } else {
                            e
                        }
                    };
                    E::Bin(o, scale(a), scale(b))
                }
                E::Var(v) if v == old => E::Lit(l),
                rhs => rhs,
            };
        }
        // `s = s * e` is `s *= e` (clippy's assign_op_pattern).
        if op.is_none() {
            let rewritten = match &rhs {
                E::Bin(o, a, b) if **a == E::Var(old) => Some((*o, (**b).clone())),
                E::Bin(o @ (Op::Add | Op::Mul), a, b) if **b == E::Var(old) => {
                    Some((*o, (**a).clone()))
                }
                _ => None,
            };
            if let Some((o, r)) = rewritten {
                op = Some(o);
                rhs = r;
            }
        }
        if bound > LIMIT || bound.is_nan() || (in_loop && op.is_none()) {
            // Squash instead: `s = (s * 0.5 + e).tanh();`.
            let l = self.lit();
            let inner = bin(Op::Add, bin(Op::Mul, E::Var(old), E::Lit(l)), rhs);
            let (e, b) = self.squash(inner);
            op = None;
            rhs = e;
            bound = b;
        }
        (op, rhs, bound)
    }

    /// An `if` statement whose arms assign `mut` variables in scope.
    fn if_statement(&mut self, body: &mut Vec<Stmt>) {
        if self
            .visible_where(|v| v.mutable && v.kind == Kind::Scalar)
            .is_empty()
        {
            return self.let_mut(body);
        }
        let (chain, _) = self.if_chain(false);
        body.push(Stmt::If(chain));
    }

    fn let_if(&mut self, body: &mut Vec<Stmt>) {
        let (chain, b) = self.if_chain(true);
        let name = self.fresh_name();
        let var = self.declare(&name, Kind::Scalar, b, false);
        self.cov("let");
        body.push(Stmt::Let {
            var,
            mutable: false,
            annotated: false,
            rhs: Rhs::If(Box::new(chain)),
        });
    }

    fn let_fan_out(&mut self, body: &mut Vec<Stmt>) {
        let scalars = self.visible_where(|v| v.kind == Kind::Scalar);
        if scalars.is_empty() {
            return self.let_plain(body);
        }
        self.focus = Some(self.rng.pick(&scalars));
        self.budget = 10 + self.rng.below(8) as i32;
        let (e, b) = self.expr(5);
        self.focus = None;
        let (e, b) = self.limit(e, b);
        let name = self.fresh_name();
        let var = self.declare(&name, Kind::Scalar, b, false);
        self.cov("fan-out");
        body.push(Stmt::Let {
            var,
            mutable: false,
            annotated: false,
            rhs: Rhs::Expr(e),
        });
    }

    fn let_copy(&mut self, body: &mut Vec<Stmt>) {
        let (e, b) = self.leaf();
        let name = self.fresh_name();
        let var = self.declare(&name, Kind::Scalar, b, false);
        self.cov("copy");
        body.push(Stmt::Let {
            var,
            mutable: false,
            annotated: false,
            rhs: Rhs::Expr(e),
        });
    }

    fn let_discarded(&mut self, body: &mut Vec<Stmt>) {
        self.budget = 4;
        let (e, b) = self.expr(3);
        let name = self.fresh_name();
        let var = self.declare(&name, Kind::Scalar, b, false);
        body.push(Stmt::Let {
            var,
            mutable: false,
            annotated: false,
            rhs: Rhs::Expr(e),
        });
        self.vars[var].uses += 1;
        self.cov("let _");
        body.push(Stmt::Discard(var));
    }

    // ----- functions ------------------------------------------------------------------------

    fn function(&mut self, name: String) -> Function {
        self.fl = if self.rng.chance(F32_SHARE) {
            Fl::F32
        } else {
            Fl::F64
        };
        self.vars = Vec::new();
        self.scopes = vec![Vec::new()];
        self.named = Vec::new();
        self.const_item = None;
        self.focus = None;
        self.arm_depth = 0;
        self.arm_assigned.clear();
        self.iterations = 1;
        let loops_before = self.coverage.get("for loop").copied().unwrap_or(0);
        if self.fl == Fl::F32 {
            self.cov("f32 function");
        }

        // Parameters: 1-4 float ones, sometimes constants among them.
        let floats = self.rng.pick(&[1, 2, 2, 2, 3, 3, 3, 4]);
        let mut kinds: Vec<Kind> = (0..floats)
            .map(|_| match self.rng.below(100) {
                0..=71 => Kind::Scalar,
                72..=81 => Kind::Array(2 + self.rng.below(3)),
                82..=89 => Kind::ArrayRef(2 + self.rng.below(3)),
                90..=94 => Kind::Slice(2 + self.rng.below(3)),
                _ => Kind::Vec(2 + self.rng.below(3)),
            })
            .collect();
        for (kind, chance) in [(Kind::Usize, 0.25), (Kind::I32, 0.2), (Kind::Bool, 0.2)] {
            if self.rng.chance(chance) {
                let at = self.rng.below(kinds.len() + 1);
                kinds.insert(at, kind);
            }
        }
        let (mut scalars, mut arrays) = (0, 0);
        let mut params = Vec::new();
        for kind in &kinds {
            let (name, bound, mutable) = match kind {
                Kind::Scalar => {
                    scalars += 1;
                    let mutable = self.rng.chance(0.08);
                    if mutable {
                        self.cov("mut parameter");
                    }
                    (["x", "y", "z", "t"][scalars - 1], 1.5, mutable)
                }
                Kind::Array(_) | Kind::ArrayRef(_) | Kind::Slice(_) | Kind::Vec(_) => {
                    arrays += 1;
                    self.cov(match kind {
                        Kind::Array(_) => "array parameter",
                        Kind::ArrayRef(_) => "array reference parameter",
                        Kind::Slice(_) => "slice parameter",
                        _ => "Vec parameter",
                    });
                    (["w", "q", "u", "v"][arrays - 1], 1.5, false)
                }
                Kind::Usize => {
                    self.cov("usize parameter");
                    ("n", 3.0, false)
                }
                Kind::I32 => {
                    self.cov("i32 parameter");
                    ("k", 2.0, false)
                }
                Kind::Bool => {
                    self.cov("bool parameter");
                    ("flag", 0.0, false)
                }
                Kind::Index(_) => unreachable!("loop variables are not parameters"),
            };
            params.push(self.declare(name, *kind, bound, mutable));
        }
        let float_params: Vec<usize> = params
            .iter()
            .copied()
            .filter(|&p| {
                self.vars[p].kind == Kind::Scalar || self.vars[p].kind.elements().is_some()
            })
            .collect();
        let wrt = if float_params.len() >= 2 && self.rng.chance(0.12) {
            let mut chosen: Vec<usize> = float_params
                .iter()
                .copied()
                .filter(|_| self.rng.chance(0.5))
                .collect();
            if chosen.is_empty() {
                chosen.push(float_params[0]);
            }
            if chosen.len() == float_params.len() {
                chosen.pop();
            }
            // The attribute lists them in any order; gradients come in signature order.
            if chosen.len() > 1 && self.rng.chance(0.5) {
                chosen.reverse();
                self.cov("wrt out of signature order");
            }
            self.cov("wrt");
            Some(chosen)
        } else {
            None
        };

        let mut body = Vec::new();
        if self.rng.chance(0.08) {
            let (name, value) = (
                self.rng.pick(&["SCALE", "BIAS", "GAIN"]).to_string(),
                self.lit(),
            );
            self.cov("const item");
            body.push(Stmt::Const(name.clone(), value));
            self.named.push((name.clone(), value));
            self.const_item = Some((name, false));
        }
        if self.rng.chance(0.1) {
            let (name, value) = self.rng.pick(&[
                ("FRAC_PI_4", std::f64::consts::FRAC_PI_4),
                ("LN_2", std::f64::consts::LN_2),
                ("FRAC_1_SQRT_2", std::f64::consts::FRAC_1_SQRT_2),
                ("E", std::f64::consts::E),
            ]);
            self.cov("std constant");
            self.named
                .push((format!("std::{}::consts::{name}", self.fl.ty()), value));
        }

        for _ in 0..2 + self.rng.below(6) {
            match self.rng.below(100) {
                0..=32 => self.let_plain(&mut body),
                33..=44 => self.let_mut(&mut body),
                45..=55 => self.assign(&mut body, None, None),
                56..=60 => self.if_statement(&mut body),
                61..=64 => match self.for_loop() {
                    Some(l) => body.push(Stmt::For(l)),
                    None => self.let_mut(&mut body),
                },
                65..=75 => self.let_if(&mut body),
                76..=85 => self.let_fan_out(&mut body),
                86..=89 => self.let_copy(&mut body),
                90..=92 => self.let_discarded(&mut body),
                _ => self.let_shadow(&mut body),
            }
        }
        // Every `mut` is used.
        for v in self.visible_where(|v| v.mutable) {
            if !self.vars[self.vars[v].root].assigned {
                self.assign(&mut body, Some(v), None);
            }
        }
        // Every flag is read.
        for f in self.visible_where(|v| v.kind == Kind::Bool && v.uses == 0) {
            let cond = self.flag(f);
            let (arm, b1) = self.block(true);
            let (otherwise, b2) = self.block(true);
            self.after_branches();
            let name = self.fresh_name();
            let var = self.declare(&name, Kind::Scalar, b1.max(b2), false);
            body.push(Stmt::Let {
                var,
                mutable: false,
                annotated: false,
                rhs: Rhs::If(Box::new(IfChain {
                    arms: vec![(cond, arm)],
                    otherwise: Some(otherwise),
                })),
            });
        }

        let (mut tail, mut bound) = if self.rng.chance(0.1) {
            self.cov("if as the function's value");
            // Its arms assign nothing: the function returns right after.
            self.no_assignments = true;
            let (chain, b) = self.if_chain(true);
            self.no_assignments = false;
            (Tail::If(chain), b)
        } else {
            self.budget = 4 + self.rng.below(8) as i32;
            let (e, b) = self.expr(4);
            let (e, b) = self.limit(e, b);
            let e = self.compound(e);
            if self.rng.chance(0.06) {
                self.cov("return");
                (Tail::Return(e), b * 2.5)
            } else {
                (Tail::Expr(e), b * 2.5)
            }
        };
        // Every variable is read: fold the unread ones into the value.
        let unread = self.visible_where(|v| v.uses == 0);
        let mut folded: Option<E> = None;
        if let Some((name, false)) = self.const_item.clone() {
            let l = self.lit();
            let value = self.named[0].1;
            bound += value * l;
            folded = Some(bin(Op::Mul, E::Named(name), E::Lit(l)));
        }
        for v in unread {
            let l = self.lit();
            let term = match self.vars[v].kind {
                Kind::Scalar => bin(Op::Mul, self.use_var(v), E::Lit(l)),
                Kind::Array(_) | Kind::ArrayRef(_) | Kind::Slice(_) | Kind::Vec(_) => {
                    self.vars[v].uses += 1;
                    bin(Op::Mul, E::Elem(v, Index::Lit(0)), E::Lit(l))
                }
                Kind::Usize | Kind::I32 => {
                    self.vars[v].uses += 1;
                    bin(Op::Mul, E::IntF(v), E::Lit(l))
                }
                Kind::Bool => unreachable!("flags are read above"),
                Kind::Index(_) => unreachable!("loop variables are read in their loop"),
            };
            bound += self.vars[v].bound.max(1.5) * l;
            folded = Some(match folded {
                None => term,
                Some(f) => bin(Op::Add, f, term),
            });
        }
        if let Some(folded) = folded {
            tail = match tail {
                Tail::Expr(e) => Tail::Expr(bin(Op::Add, e, folded)),
                Tail::Return(e) => Tail::Return(bin(Op::Add, e, folded)),
                Tail::If(mut chain) => {
                    // Into the last arm, unless it shadows one of the folded names: then the
                    // branch becomes a `let` and the value a sum.
                    let otherwise = chain.otherwise.as_mut().expect("a value has an else");
                    let shadowed = otherwise.stmts.iter().any(|s| {
                        matches!(s, ArmStmt::Let(id, _)
                            if mentions_name(&folded, &self.vars, &self.vars[*id].name))
                    });
                    if shadowed {
                        let name = self.fresh_name();
                        let var = self.declare(&name, Kind::Scalar, bound, false);
                        body.push(Stmt::Let {
                            var,
                            mutable: false,
                            annotated: false,
                            rhs: Rhs::If(Box::new(chain)),
                        });
                        self.vars[var].uses += 1;
                        Tail::Expr(bin(Op::Add, bin(Op::Mul, E::Var(var), E::Lit(0.5)), folded))
                    } else {
                        otherwise.tail = match otherwise.tail.take() {
                            Some(E::Lit(_)) | None => Some(folded),
                            Some(t) => Some(bin(Op::Add, t, folded)),
                        };
                        Tail::If(chain)
                    }
                }
            };
        }
        let has_loop = self.coverage.get("for loop").copied().unwrap_or(0) > loops_before;
        Function {
            name,
            has_loop,
            fl: self.fl,
            params,
            wrt,
            vars: std::mem::take(&mut self.vars),
            body,
            tail,
        }
        .with_bound(bound, &mut self.sigs)
    }
}

/// Whether `e` reads a variable named `name`.
fn mentions_name(e: &E, vars: &[Var], name: &str) -> bool {
    let any = |es: &[E]| es.iter().any(|e| mentions_name(e, vars, name));
    match e {
        E::Var(v) | E::Elem(v, _) | E::IntF(v) | E::Len(v) => vars[*v].name == name,
        E::Lit(_) | E::Named(_) => false,
        E::Neg(a) | E::Powi(a, _, _) | E::Sigmoid(a, _) | E::Island(a, _) => {
            mentions_name(a, vars, name)
        }
        E::Bin(_, a, b) => mentions_name(a, vars, name) || mentions_name(b, vars, name),
        E::Method(_, _, args) => any(args),
        E::Call(_, args) => args.iter().any(|a| match a {
            Arg::Float(e) => mentions_name(e, vars, name),
            Arg::Array(v, _) => vars[*v].name == name,
            Arg::Const(s) => s == name,
        }),
    }
}

impl Function {
    /// Records this function's signature for later callers.
    fn with_bound(self, bound: f64, sigs: &mut Vec<Sig>) -> Function {
        sigs.push(Sig {
            name: self.name.clone(),
            fl: self.fl,
            kinds: self.params.iter().map(|&p| self.vars[p].kind).collect(),
            wrt: self.wrt.is_some(),
            bound: bound.min(1e6),
        });
        self
    }
}

// ---------------------------------------------------------------------------------------------
// Printing: the forward function (Rust with as few parentheses as precedence allows, so that
// rustc's unused_parens has nothing to say) and the same tree on dual numbers.

fn lit(v: f64) -> String {
    format!("{v:?}")
}

fn is_scalar(e: &E) -> bool {
    matches!(e, E::Lit(_) | E::Named(_) | E::IntF(_) | E::Len(_))
}

fn is_cast(e: &E) -> bool {
    matches!(e, E::IntF(_) | E::Len(_) | E::Island(..))
}

struct Printer<'a> {
    f: &'a Function,
    sigs: &'a [Sig],
}

impl Printer<'_> {
    fn ty(&self) -> &'static str {
        self.f.fl.ty()
    }

    fn name(&self, v: usize) -> &str {
        &self.f.vars[v].name
    }

    fn index(&self, index: &Index) -> String {
        match index {
            Index::Lit(i) => i.to_string(),
            Index::Mod(n, len) => format!("{} % {len}", self.name(*n)),
            Index::Loop(i, 0, len) => match self.f.vars[*i].kind {
                Kind::Index(count) if count <= *len => self.name(*i).to_string(),
                _ => format!("{} % {len}", self.name(*i)),
            },
            Index::Loop(i, shift, len) => format!("({} + {shift}) % {len}", self.name(*i)),
        }
    }

    fn expo(&self, expo: &Expo) -> String {
        match expo {
            Expo::Lit(n) => n.to_string(),
            Expo::Var(k) => self.name(*k).to_string(),
        }
    }

    fn callee(&self, callee: &Callee) -> String {
        match callee {
            Callee::Program(i) => self.sigs[*i].name.clone(),
            Callee::Gate(g) => g.to_string(),
            Callee::Runtime(g, true) => format!("backprop::{g}"),
            Callee::Runtime(g, false) => g.to_string(),
        }
    }

    // ----- forward --------------------------------------------------------------------------

    fn fwd(&self, e: &E, min: u8) -> String {
        let (s, p) = self.fwd_raw(e);
        if p < min { format!("({s})") } else { s }
    }

    /// An operand of a binary operator or comparison: casts are parenthesised for the reader
    /// (and because `x as f64 < y` does not parse).
    fn fwd_operand(&self, e: &E, min: u8) -> String {
        if is_cast(e) {
            self.fwd(e, P_POSTFIX)
        } else {
            self.fwd(e, min)
        }
    }

    /// The operand of a unary minus: `-(2.0f64.powf(x))`, not `-2.0f64.powf(x)`, and no `--`.
    fn fwd_negated(&self, e: &E) -> String {
        let literal_receiver =
            matches!(e, E::Method(_, false, args) if matches!(args[0], E::Lit(_)));
        if literal_receiver || matches!(e, E::Neg(_)) {
            format!("({})", self.fwd(e, 0))
        } else {
            self.fwd(e, P_UNARY)
        }
    }

    fn receiver(&self, e: &E) -> String {
        match e {
            E::Lit(v) if *v >= 0.0 => format!("{}{}", lit(*v), self.ty()),
            E::Lit(v) => format!("({}{})", lit(*v), self.ty()),
            _ => self.fwd(e, P_POSTFIX),
        }
    }

    fn fwd_raw(&self, e: &E) -> (String, u8) {
        let ty = self.ty();
        match e {
            E::Lit(v) => (lit(*v), if *v < 0.0 { P_UNARY } else { P_POSTFIX }),
            E::Named(s) => (s.clone(), P_POSTFIX),
            E::Var(v) => (self.name(*v).to_string(), P_POSTFIX),
            E::Elem(v, index) => (
                format!("{}[{}]", self.name(*v), self.index(index)),
                P_POSTFIX,
            ),
            E::IntF(v) => (format!("{} as {ty}", self.name(*v)), P_CAST),
            E::Len(v) => (format!("{}.len() as {ty}", self.name(*v)), P_CAST),
            E::Neg(a) => (format!("-{}", self.fwd_negated(a)), P_UNARY),
            E::Bin(op, a, b) => {
                let p = op.prec();
                (
                    format!(
                        "{} {} {}",
                        self.fwd_operand(a, p),
                        op.sym(),
                        self.fwd_operand(b, p + 1)
                    ),
                    p,
                )
            }
            E::Method(name, false, args) => {
                let rest: Vec<String> = args[1..].iter().map(|a| self.fwd(a, 0)).collect();
                (
                    format!("{}.{name}({})", self.receiver(&args[0]), rest.join(", ")),
                    P_POSTFIX,
                )
            }
            E::Method(name, true, args) => {
                let all: Vec<String> = args.iter().map(|a| self.fwd(a, 0)).collect();
                (format!("{ty}::{name}({})", all.join(", ")), P_POSTFIX)
            }
            E::Powi(a, x, false) => (
                format!("{}.powi({})", self.receiver(a), self.expo(x)),
                P_POSTFIX,
            ),
            E::Powi(a, x, true) => (
                format!("{ty}::powi({}, {})", self.fwd(a, 0), self.expo(x)),
                P_POSTFIX,
            ),
            E::Sigmoid(a, path) => {
                let negated = format!("-{}", self.fwd_negated(a));
                let exp = if *path {
                    format!("{ty}::exp({negated})")
                } else {
                    format!("({negated}).exp()")
                };
                (format!("1.0 / (1.0 + {exp})"), P_MUL)
            }
            E::Call(callee, args) => {
                let args: Vec<String> = args
                    .iter()
                    .map(|a| match a {
                        Arg::Float(e) => self.fwd(e, 0),
                        Arg::Array(v, by_ref) => {
                            format!("{}{}", if *by_ref { "&" } else { "" }, self.name(*v))
                        }
                        Arg::Const(s) => s.clone(),
                    })
                    .collect();
                (
                    format!("{}({})", self.callee(callee), args.join(", ")),
                    P_POSTFIX,
                )
            }
            E::Island(a, m) => (
                format!("({} as f64).{m}() as f32", self.fwd(a, P_UNARY)),
                P_CAST,
            ),
        }
    }

    fn cond_fwd(&self, c: &Cond) -> String {
        match c {
            Cond::Cmp(a, op, b) => format!(
                "{} {op} {}",
                self.fwd_operand(a, P_ADD),
                self.fwd_operand(b, P_ADD)
            ),
            Cond::Flag(v, negated) => {
                format!("{}{}", if *negated { "!" } else { "" }, self.name(*v))
            }
            Cond::Int(v, op, n) => format!("{} {op} {n}", self.name(*v)),
            Cond::And(a, b) => format!("{} && {}", self.cond_fwd(a), self.cond_fwd(b)),
            Cond::Or(a, b) => format!("{} || {}", self.cond_fwd(a), self.cond_fwd(b)),
        }
    }

    // ----- dual -----------------------------------------------------------------------------

    /// A scalar operand on the right of a dual operator (`x * 0.5`, `x * (n as f64)`).
    fn scalar_text(&self, e: &E) -> String {
        match e {
            E::Lit(v) => lit(*v),
            E::Named(s) => s.clone(),
            E::IntF(v) => format!("({} as {})", self.name(*v), self.ty()),
            E::Len(v) => format!("({}.len() as {})", self.name(*v), self.ty()),
            _ => unreachable!("not a scalar"),
        }
    }

    /// A scalar as a dual constant.
    fn konst(&self, e: &E) -> String {
        match e {
            E::Lit(v) => format!("c({}{})", lit(*v), self.ty()),
            E::Named(s) => format!("c({s})"),
            E::IntF(v) => format!("c({} as {})", self.name(*v), self.ty()),
            E::Len(v) => format!("c({}.len() as {})", self.name(*v), self.ty()),
            _ => unreachable!("not a scalar"),
        }
    }

    /// Any operand as a dual value.
    fn darg(&self, e: &E) -> String {
        if is_scalar(e) {
            self.konst(e)
        } else {
            self.dual(e, 0)
        }
    }

    fn dual(&self, e: &E, min: u8) -> String {
        let (s, p) = self.dual_raw(e);
        if p < min { format!("({s})") } else { s }
    }

    fn dual_negated(&self, e: &E) -> String {
        if matches!(e, E::Neg(_)) {
            format!("({})", self.dual(e, 0))
        } else {
            self.dual(e, P_UNARY)
        }
    }

    fn dual_raw(&self, e: &E) -> (String, u8) {
        let pw = self.f.fl.pw();
        match e {
            E::Lit(_) | E::Named(_) | E::IntF(_) | E::Len(_) => (self.konst(e), P_POSTFIX),
            E::Var(_) | E::Elem(..) => self.fwd_raw(e),
            E::Neg(a) => (format!("-{}", self.dual_negated(a)), P_UNARY),
            E::Bin(Op::Rem, a, b) => (
                format!("{pw}::rem({}, {})", self.darg(a), self.darg(b)),
                P_POSTFIX,
            ),
            E::Bin(op, a, b) => {
                let p = op.prec();
                let s = match (is_scalar(a), is_scalar(b)) {
                    (false, true) => {
                        format!("{} {} {}", self.dual(a, p), op.sym(), self.scalar_text(b))
                    }
                    (true, false) if matches!(op, Op::Add | Op::Mul) => {
                        format!("{} {} {}", self.dual(b, p), op.sym(), self.scalar_text(a))
                    }
                    _ => format!(
                        "{} {} {}",
                        self.darg_at(a, p),
                        op.sym(),
                        self.darg_at(b, p + 1)
                    ),
                };
                (s, p)
            }
            E::Method(name, _, args) => (self.dual_method(name, args), P_POSTFIX),
            E::Powi(a, x, _) => (
                format!("{pw}::powi({}, {})", self.dual(a, 0), self.expo(x)),
                P_POSTFIX,
            ),
            E::Sigmoid(a, _) => (
                format!("{pw}::sigmoid_idiom({})", self.dual(a, 0)),
                P_POSTFIX,
            ),
            E::Call(callee, args) => {
                let args: Vec<String> = args
                    .iter()
                    .map(|a| match a {
                        Arg::Float(e) => self.darg(e),
                        Arg::Array(v, by_ref) => {
                            format!("{}{}", if *by_ref { "&" } else { "" }, self.name(*v))
                        }
                        Arg::Const(s) => s.clone(),
                    })
                    .collect();
                let path = match callee {
                    Callee::Program(i) => format!("{}_reference", self.sigs[*i].name),
                    Callee::Gate(g) | Callee::Runtime(g, _) => format!("{pw}::{g}"),
                };
                (format!("{path}({})", args.join(", ")), P_POSTFIX)
            }
            E::Island(a, "tanh") => (
                format!("narrow(pw64::tanh(widen({})))", self.dual(a, 0)),
                P_POSTFIX,
            ),
            E::Island(a, m) => (
                format!("narrow(widen({}).{m}())", self.dual(a, 0)),
                P_POSTFIX,
            ),
        }
    }

    fn darg_at(&self, e: &E, min: u8) -> String {
        if is_scalar(e) {
            self.konst(e)
        } else {
            self.dual(e, min)
        }
    }

    fn dual_method(&self, name: &str, args: &[E]) -> String {
        let pw = self.f.fl.pw();
        let helper = |name: &str| {
            let all: Vec<String> = args.iter().map(|a| self.darg(a)).collect();
            format!("{pw}::{name}({})", all.join(", "))
        };
        match name {
            "log" if !is_scalar(&args[0]) && is_scalar(&args[1]) => format!(
                "{}.{name}({})",
                self.dual(&args[0], P_POSTFIX),
                self.scalar_text(&args[1])
                    .trim_matches(|c| c == '(' || c == ')')
            ),
            "powf" | "log" | "atan2" | "hypot" | "max" | "min" | "clamp" | "mul_add" | "abs"
            | "signum" | "floor" | "ceil" | "round" | "round_ties_even" | "trunc" | "fract"
            | "to_degrees" | "to_radians" | "tanh" | "tan" => helper(name),
            _ => {
                let receiver = if is_scalar(&args[0]) {
                    self.konst(&args[0])
                } else {
                    self.dual(&args[0], P_POSTFIX)
                };
                format!("{receiver}.{name}()")
            }
        }
    }

    fn side_dual(&self, e: &E) -> String {
        if is_scalar(e) {
            self.scalar_text(e)
        } else {
            format!("{}.re", self.dual(e, P_POSTFIX))
        }
    }

    fn cond_dual(&self, c: &Cond) -> String {
        match c {
            Cond::Cmp(a, op, b) => format!("{} {op} {}", self.side_dual(a), self.side_dual(b)),
            Cond::And(a, b) => format!("{} && {}", self.cond_dual(a), self.cond_dual(b)),
            Cond::Or(a, b) => format!("{} || {}", self.cond_dual(a), self.cond_dual(b)),
            other => self.cond_fwd(other),
        }
    }

    // ----- statements and functions ---------------------------------------------------------

    fn value(&self, e: &E, dual: bool) -> String {
        if dual { self.darg(e) } else { self.fwd(e, 0) }
    }

    fn rhs(&self, rhs: &Rhs, dual: bool, indent: &str) -> String {
        match rhs {
            Rhs::Expr(e) => self.value(e, dual),
            Rhs::If(chain) => self.if_text(chain, dual, indent),
        }
    }

    fn if_text(&self, chain: &IfChain, dual: bool, indent: &str) -> String {
        let inner = format!("{indent}    ");
        let mut s = String::new();
        for (i, (cond, block)) in chain.arms.iter().enumerate() {
            let cond = if dual {
                format!("{}::decide({})", self.f.fl.pw(), self.cond_dual(cond))
            } else {
                self.cond_fwd(cond)
            };
            if i == 0 {
                let _ = writeln!(s, "if {cond} {{");
            } else {
                let _ = writeln!(s, "{indent}}} else if {cond} {{");
            }
            s.push_str(&self.block_text(block, dual, &inner));
        }
        if let Some(otherwise) = &chain.otherwise {
            let _ = writeln!(s, "{indent}}} else {{");
            s.push_str(&self.block_text(otherwise, dual, &inner));
        }
        let _ = write!(s, "{indent}}}");
        s
    }

    fn block_text(&self, block: &Block, dual: bool, indent: &str) -> String {
        let mut s = String::new();
        for stmt in &block.stmts {
            let _ = match stmt {
                ArmStmt::Let(var, rhs) => writeln!(
                    s,
                    "{indent}let {} = {};",
                    self.name(*var),
                    self.rhs(rhs, dual, indent)
                ),
                ArmStmt::Assign(var, op, rhs) => {
                    writeln!(s, "{indent}{};", self.assignment(*var, *op, rhs, dual))
                }
                ArmStmt::If(chain) => writeln!(s, "{indent}{}", self.if_text(chain, dual, indent)),
                ArmStmt::For(l) => writeln!(s, "{indent}{}", self.loop_text(l, dual, indent)),
                ArmStmt::Continue(cond) => {
                    let cond = if dual {
                        format!("{}::decide({})", self.f.fl.pw(), self.cond_dual(cond))
                    } else {
                        self.cond_fwd(cond)
                    };
                    writeln!(s, "{indent}if {cond} {{\n{indent}    continue;\n{indent}}}")
                }
            };
        }
        if let Some(tail) = &block.tail {
            let _ = writeln!(s, "{indent}{}", self.value(tail, dual));
        }
        s
    }

    fn loop_text(&self, l: &Loop, dual: bool, indent: &str) -> String {
        let count = match &l.count {
            Count::Lit(c) => c.to_string(),
            Count::Len(w) => format!("{}.len()", self.name(*w)),
            Count::Param(n) => self.name(*n).to_string(),
        };
        let range = if l.rev {
            format!("(0..{count}).rev()")
        } else {
            format!("0..{count}")
        };
        let body = Block {
            stmts: l.body.clone(),
            tail: None,
        };
        format!(
            "for {} in {range} {{\n{}{indent}}}",
            self.name(l.var),
            self.block_text(&body, dual, &format!("{indent}    "))
        )
    }

    /// `v op= rhs` or `v = rhs` (on dual numbers, `v = pw64::rem(v, rhs)` for `%=`).
    fn assignment(&self, var: usize, op: Option<Op>, rhs: &E, dual: bool) -> String {
        let (name, pw) = (self.name(var), self.f.fl.pw());
        match (op, dual) {
            (Some(Op::Rem), true) => format!("{name} = {pw}::rem({name}, {})", self.darg(rhs)),
            (Some(op), true) if is_scalar(rhs) => {
                format!("{name} {}= {}", op.sym(), self.konst(rhs))
            }
            (Some(op), _) => format!("{name} {}= {}", op.sym(), self.value(rhs, dual)),
            (None, _) => format!("{name} = {}", self.value(rhs, dual)),
        }
    }

    fn body(&self, dual: bool) -> String {
        let ty = self.ty();
        let mut s = String::new();
        for stmt in &self.f.body {
            match stmt {
                Stmt::Const(name, v) => {
                    let _ = writeln!(s, "    const {name}: {ty} = {};", lit(*v));
                }
                Stmt::Let {
                    var,
                    mutable,
                    annotated,
                    rhs,
                } => {
                    let annotation = match (annotated, dual) {
                        (false, _) => String::new(),
                        (true, false) => format!(": {ty}"),
                        (true, true) => format!(": {}", self.f.fl.dual()),
                    };
                    let _ = writeln!(
                        s,
                        "    let {}{}{annotation} = {};",
                        if *mutable { "mut " } else { "" },
                        self.name(*var),
                        self.rhs(rhs, dual, "    ")
                    );
                }
                Stmt::Assign { var, op, rhs } => {
                    let _ = writeln!(s, "    {};", self.assignment(*var, *op, rhs, dual));
                }
                Stmt::Discard(var) => {
                    let _ = writeln!(s, "    let _ = {};", self.name(*var));
                }
                Stmt::If(chain) => {
                    let _ = writeln!(s, "    {}", self.if_text(chain, dual, "    "));
                }
                Stmt::For(l) => {
                    let _ = writeln!(s, "    {}", self.loop_text(l, dual, "    "));
                }
            }
        }
        match &self.f.tail {
            Tail::Expr(e) => {
                let _ = writeln!(s, "    {}", self.value(e, dual));
            }
            Tail::Return(e) => {
                let _ = writeln!(s, "    return {};", self.value(e, dual));
            }
            Tail::If(chain) => {
                let _ = writeln!(s, "    {}", self.if_text(chain, dual, "    "));
            }
        }
        s
    }

    fn params(&self, dual: bool) -> String {
        let scalar = if dual { self.f.fl.dual() } else { self.ty() };
        let params: Vec<String> = self
            .f
            .params
            .iter()
            .map(|&p| {
                let v = &self.f.vars[p];
                let ty = match v.kind {
                    Kind::Scalar => scalar.to_string(),
                    Kind::Array(n) => format!("[{scalar}; {n}]"),
                    Kind::ArrayRef(n) => format!("&[{scalar}; {n}]"),
                    Kind::Slice(_) => format!("&[{scalar}]"),
                    Kind::Vec(_) => format!("Vec<{scalar}>"),
                    Kind::Usize => "usize".to_string(),
                    Kind::I32 => "i32".to_string(),
                    Kind::Bool => "bool".to_string(),
                    Kind::Index(_) => unreachable!("loop variables are not parameters"),
                };
                format!("{}{}: {ty}", if v.mutable { "mut " } else { "" }, v.name)
            })
            .collect();
        params.join(", ")
    }

    /// Lints about the style the generator writes on purpose.
    fn allow_return(&self) -> String {
        let mut allow = String::new();
        if matches!(self.f.tail, Tail::Return(_)) {
            allow.push_str(
                "#[allow(clippy::needless_return)] // the `return` form is generated on purpose\n",
            );
        }
        if self.f.has_loop {
            allow.push_str(
                "#[allow(clippy::needless_range_loop)] // index loops are the supported form\n",
            );
        }
        allow
    }

    fn forward(&self) -> String {
        let attribute = match &self.f.wrt {
            None => "#[backprop]".to_string(),
            Some(wrt) => {
                let names: Vec<&str> = wrt.iter().map(|&v| self.name(v)).collect();
                format!("#[backprop(wrt({}))]", names.join(", "))
            }
        };
        format!(
            "{attribute}\n{}fn {}({}) -> {} {{\n{}}}\n",
            self.allow_return(),
            self.f.name,
            self.params(false),
            self.ty(),
            self.body(false)
        )
    }

    fn reference(&self) -> String {
        format!(
            "/// `{}` on dual numbers.\n{}fn {}_reference({}) -> {} {{\n{}}}\n",
            self.f.name,
            self.allow_return(),
            self.f.name,
            self.params(true),
            self.f.fl.dual(),
            self.body(true)
        )
    }

    /// The program's row of the table.
    fn case(&self, source: &str) -> String {
        let mut flat = 0;
        let (mut active, mut args, mut consts) = (Vec::new(), Vec::new(), Vec::new());
        for &p in &self.f.params {
            let v = &self.f.vars[p];
            let differentiable = self.f.wrt.as_ref().is_none_or(|wrt| wrt.contains(&p));
            let width = match v.kind {
                Kind::Scalar => 1,
                Kind::Array(n) | Kind::ArrayRef(n) | Kind::Slice(n) | Kind::Vec(n) => n,
                _ => 0,
            };
            if differentiable {
                active.extend((flat..flat + width).map(|i| i.to_string()));
            }
            let elements: Vec<String> = (flat..flat + width).map(|i| format!("p[{i}]")).collect();
            let k = consts.len();
            args.push(match v.kind {
                Kind::Scalar => elements[0].clone(),
                Kind::Array(_) => format!("[{}]", elements.join(", ")),
                Kind::ArrayRef(_) | Kind::Slice(_) => format!("&[{}]", elements.join(", ")),
                Kind::Vec(_) => format!("vec![{}]", elements.join(", ")),
                Kind::Usize => format!("k[{k}] as usize"),
                Kind::I32 => format!("k[{k}] as i32"),
                Kind::Bool => format!("k[{k}] != 0"),
                Kind::Index(_) => unreachable!("loop variables are not parameters"),
            });
            match v.kind {
                Kind::Usize => consts.push("Usize"),
                Kind::I32 => consts.push("I32"),
                Kind::Bool => consts.push("Bool"),
                _ => {}
            }
            flat += width;
        }
        let name = &self.f.name;
        format!(
            "    case!({ty}, {name}, {name}_grad, {name}_backward, {name}_backward_source, {name}_reference,\n        \
             floats: {flat}, active: [{}], consts: [{}],\n        |p, k| ({}),\n        r#\"{source}\"#),\n",
            active.join(", "),
            consts.join(", "),
            args.join(", "),
            ty = self.ty(),
        )
    }
}

/// The whole generated file.
fn generated_source() -> String {
    let mut generator = Gen::new(SEED);
    let (mut items, mut f64_cases, mut f32_cases) = (String::new(), String::new(), String::new());
    for i in 0..PROGRAMS {
        let f = generator.function(format!("p{i:04}"));
        let printer = Printer {
            f: &f,
            sigs: &generator.sigs,
        };
        let forward = printer.forward();
        items.push_str(&forward);
        items.push('\n');
        items.push_str(&printer.reference());
        items.push('\n');
        let case = printer.case(&forward);
        match f.fl {
            Fl::F64 => f64_cases.push_str(&case),
            Fl::F32 => f32_cases.push_str(&case),
        }
    }
    let coverage: String = generator
        .coverage
        .iter()
        .map(|(k, n)| format!("    ({k:?}, {n}),\n"))
        .collect();
    format!(
        "// Generated by `generated_source` in tests/differential.rs (seed {SEED:#x}); re-create with\n\
         // `BLESS=1 cargo test --test differential`. {PROGRAMS} random programs, each followed by\n\
         // its reference on dual numbers; the tables at the end list them with their sources.\n\n\
         {items}\
         static CASES_F64: &[Case<f64>] = &[\n{f64_cases}];\n\n\
         static CASES_F32: &[Case<f32>] = &[\n{f32_cases}];\n\n\
         /// How often the generator produced each construct and primitive.\n\
         static COVERAGE: &[(&str, usize)] = &[\n{coverage}];\n"
    )
}

// ---------------------------------------------------------------------------------------------
// The tests.

#[test]
fn generated_file_is_up_to_date() {
    let path = format!(
        "{}/tests/generated/differential_programs.rs",
        env!("CARGO_MANIFEST_DIR")
    );
    let source = generated_source();
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(&path, &source).unwrap();
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == source,
        "{path} is stale; re-create it with BLESS=1 cargo test --test differential"
    );
}

fn coverage(key: &str) -> usize {
    COVERAGE
        .iter()
        .find(|(k, _)| *k == key)
        .map_or(0, |(_, n)| *n)
}

/// Constructs of the forward language the generator must keep producing.
const CONSTRUCTS: &[&str] = &[
    "let",
    "shadowing",
    "shadowing inside an arm",
    "type annotation",
    "let mut",
    "let mut from a literal",
    "+=",
    "-=",
    "*=",
    "/=",
    "%=",
    "reassignment",
    "mut parameter",
    "let _",
    "const item",
    "std constant",
    "named constant",
    "return",
    "fan-out",
    "if",
    "else if",
    "if statement",
    "if statement with else",
    "for loop",
    "reversed range",
    "nested loop",
    "continue guard",
    "loop over w.len()",
    "loop over a usize parameter",
    "index by a loop variable",
    "nested if statement",
    "assignment in an arm",
    "let in an arm",
    "nested if",
    "constant arm",
    "if as the function's value",
    "data-dependent condition",
    "bool condition",
    "integer condition",
    "&& in a condition",
    "|| in a condition",
    "wrt",
    "wrt out of signature order",
    "f32 function",
    "cast f32 -> f64 -> f32",
    "array parameter",
    "array reference parameter",
    "slice parameter",
    "Vec parameter",
    "slice length",
    "slice passed to a call",
    "Vec passed as &v to a call",
    "array element",
    "index by a usize parameter",
    "usize parameter",
    "i32 parameter",
    "bool parameter",
    "integer parameter as a float",
    "powi by an i32 parameter",
    "scalar on the left",
    "literal receiver",
    "sigmoid idiom with f64::exp",
    "call of a #[backprop] function",
    "float literal passed to a call",
    "named constant passed to a call",
    "array passed to a call",
    "array passed as &w to a call",
    "array reference passed to a call",
    "gate softsign",
    "gate smooth_max",
    "gate leaky",
    "gate scaled",
    "backprop::sigmoid",
    "backprop::relu",
    "backprop::softplus",
    "sigmoid (imported)",
    "relu (imported)",
    "softplus (imported)",
];

#[test]
fn every_rule_and_construct_is_generated() {
    let rules = std::fs::read_to_string(format!(
        "{}/backprop-macro/src/rules.rs",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let methods_start = rules.find("pub static METHODS").expect("the METHODS table");
    let mut missing = Vec::new();
    let mut rules_seen = 0;
    for (at, _) in rules.match_indices("rule!(\"") {
        let name = rules[at + 7..].split('"').next().unwrap_or_default();
        rules_seen += 1;
        if coverage(name) < 3 {
            missing.push(format!("rule `{name}` ({} times)", coverage(name)));
        }
        if at > methods_start && coverage(&format!("path:{name}")) == 0 {
            missing.push(format!("rule `{name}` in the `f64::{name}(..)` syntax"));
        }
    }
    assert!(rules_seen > 40, "could not read the rule table");
    for construct in CONSTRUCTS {
        if coverage(construct) == 0 {
            missing.push(format!("construct `{construct}`"));
        }
    }
    assert!(
        missing.is_empty(),
        "the random-program generator of tests/differential.rs does not produce:\n  {}",
        missing.join("\n  ")
    );
}

#[derive(Default)]
struct Report {
    programs: usize,
    points: usize,
    components: usize,
    numeric_checked: usize,
    skipped_kink: usize,
    skipped_curvature: usize,
    failures: Vec<Failure>,
}

/// One mismatch, with what is needed to show the program.
struct Failure {
    name: &'static str,
    source: &'static str,
    backward_source: fn() -> &'static str,
    what: String,
}

/// Points per program.
const POINTS: usize = 3;

macro_rules! checker {
    ($check:ident, $F:ty, $exact:expr) => {
        /// Checks one program at `POINTS` random points.
        fn $check(case: &Case<$F>, index: usize, report: &mut Report) {
            let exact: f64 = $exact;
            let close = |a: $F, b: $F| {
                let (a, b) = (f64::from(a), f64::from(b));
                (a - b).abs() <= exact * a.abs().max(b.abs()).max(1.0)
            };
            let mut rng = Rng(0x9011_7000 + index as u64 * 7919 + case.floats as u64);
            report.programs += 1;
            let mut failures = Vec::new();
            for _ in 0..POINTS {
                let p: Vec<$F> = (0..case.floats)
                    .map(|_| rng.range(-1.5, 1.5) as $F)
                    .collect();
                let k: Vec<i64> = case
                    .consts
                    .iter()
                    .map(|c| match c {
                        Const::Usize => rng.below(4) as i64,
                        Const::I32 => rng.below(5) as i64 - 2,
                        Const::Bool => rng.below(2) as i64,
                    })
                    .collect();
                let sign = if rng.chance(0.5) { -1.0 } else { 1.0 };
                let d_out = (sign * rng.range(0.5, 2.0)) as $F;
                report.points += 1;
                let context = format!("{} at p = {p:?}, k = {k:?}, d_out = {d_out:?}", case.name);
                let mut fail = |what: String| {
                    failures.push(format!("{context}: {what}"));
                };

                take_decisions();
                let (expected_value, all) =
                    dual_gradient(|v: &[Dual<$F>]| (case.reference)(v, &k), &p);
                let expected: Vec<$F> = case.active.iter().map(|&i| all[i]).collect();
                if !expected_value.is_finite() || expected.iter().any(|g| !g.is_finite()) {
                    fail(format!(
                        "the reference is not finite ({expected_value:?}, {expected:?}): the generator left the domain"
                    ));
                    continue;
                }
                let plain = (case.value)(&p, &k);
                let run = (case.run)(&p, &k, d_out);
                for (what, got) in [
                    ("the function's value", plain),
                    ("f_grad's value", run.value),
                    ("f_backward's value", run.backward_value),
                ] {
                    if !close(got, expected_value) {
                        fail(format!("{what} is {got:?} but the reference says {expected_value:?}"));
                    }
                }
                if run.grad.len() != expected.len() || run.backward_grad.len() != expected.len() {
                    fail(format!(
                        "{} / {} gradient components but {} differentiable inputs",
                        run.grad.len(),
                        run.backward_grad.len(),
                        expected.len()
                    ));
                    continue;
                }
                for (j, &e) in expected.iter().enumerate() {
                    report.components += 1;
                    if !close(run.grad[j], e) {
                        fail(format!(
                            "f_grad component {j} is {:?} but the reference says {e:?}",
                            run.grad[j]
                        ));
                    }
                    if !close(run.backward_grad[j], e * d_out) {
                        fail(format!(
                            "f_backward component {j} is {:?} but the reference says {:?}",
                            run.backward_grad[j],
                            e * d_out
                        ));
                    }
                }

                // Central differences, where they are meaningful (see the module docs).
                let at: Vec<$F> = case.active.iter().map(|&i| p[i]).collect();
                let full = |q: &[$F]| {
                    let mut full = p.clone();
                    for (j, &i) in case.active.iter().enumerate() {
                        full[i] = q[j];
                    }
                    full
                };
                let numeric = check_gradient(|q: &[$F]| (case.value)(&full(q), &k), &at, &run.grad);
                for (j, &i) in case.active.iter().enumerate() {
                    let h = <$F>::EPSILON.cbrt() * p[i].abs().max(1.0);
                    let probe = |x: $F| {
                        let mut q: Vec<Dual<$F>> = p.iter().map(|&v| Dual::from_re(v)).collect();
                        q[i] = Dual::from_re(x).derivative();
                        take_decisions();
                        let out = (case.reference)(&q, &k);
                        (f64::from(out.eps), take_decisions())
                    };
                    let (g0, at0) = probe(p[i]);
                    let (up, at_up) = probe(p[i] + h);
                    let (down, at_down) = probe(p[i] - h);
                    if at0 != at_up || at0 != at_down {
                        report.skipped_kink += 1;
                        continue;
                    }
                    // The central difference's own errors: truncation, estimated from the
                    // reference's derivatives at the three points, and rounding of the values.
                    let truncation = ((up - 2.0 * g0 + down) / 6.0).abs();
                    let rounding = 4.0 * f64::from(<$F>::EPSILON)
                        * f64::from(expected_value).abs().max(1.0)
                        / f64::from(h);
                    let tolerance = f64::from(<$F as Real>::DEFAULT_ABSOLUTE)
                        + f64::from(<$F as Real>::DEFAULT_MAX_RELATIVE) * g0.abs();
                    if truncation.is_nan() || truncation + rounding > 0.25 * tolerance {
                        report.skipped_curvature += 1;
                        continue;
                    }
                    report.numeric_checked += 1;
                    let component = &numeric.components[j];
                    if !component.ok {
                        fail(format!(
                            "component {j} is {:?} but central differences say {:?} (relative error {:e})",
                            component.analytic, component.numeric, component.relative_error
                        ));
                    }
                }
            }
            for what in failures {
                report.failures.push(Failure {
                    name: case.name,
                    source: case.source,
                    backward_source: case.backward_source,
                    what,
                });
            }
        }
    };
}

checker!(check_f64, f64, 1e-10);
checker!(check_f32, f32, 2e-4);

#[test]
fn random_programs_match_dual_numbers_and_central_differences() {
    let mut report = Report::default();
    for (i, case) in CASES_F64.iter().enumerate() {
        check_f64(case, i, &mut report);
    }
    for (i, case) in CASES_F32.iter().enumerate() {
        check_f32(case, CASES_F64.len() + i, &mut report);
    }
    println!(
        "differential: {} programs ({} f64, {} f32), {} points, {} gradient components checked \
         against dual numbers; central differences on {} of them ({} skipped near a kink or \
         jump, {} where the step's truncation or rounding error is too large)",
        report.programs,
        CASES_F64.len(),
        CASES_F32.len(),
        report.points,
        report.components,
        report.numeric_checked,
        report.skipped_kink,
        report.skipped_curvature,
    );
    if !report.failures.is_empty() {
        let mut shown = Vec::new();
        for failure in &report.failures {
            println!("MISMATCH {}", failure.what);
            if !shown.contains(&failure.name) && shown.len() < 10 {
                shown.push(failure.name);
                println!("--- {}, as generated:\n{}", failure.name, failure.source);
                println!(
                    "--- its generated backward:\n{}\n",
                    (failure.backward_source)()
                );
            }
        }
        panic!(
            "{} mismatches in {} programs (listed above with their sources; pin a failing \
             program in a regression test)",
            report.failures.len(),
            {
                let mut names: Vec<_> = report.failures.iter().map(|f| f.name).collect();
                names.dedup();
                names.len()
            }
        );
    }
    assert!(report.programs >= 1000, "only {} programs", report.programs);
}
