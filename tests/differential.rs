//! Differential testing: more than a thousand random staged programs.
//!
//! A generator (a fixed-seed SplitMix64, written out below: no dependency) draws random
//! `#[backprop]` functions from the whole forward language of the README and writes them, each
//! followed by its exact reference — the same expression tree printed on num-dual's dual
//! numbers, with literals wrapped `c(..)`, scalars on the right and small helpers (`pw64`,
//! `pw32` below) for the piecewise operations — to `tests/generated/differential_programs.rs`.
//! The file is checked in, so every program can be read, and a failing one pinned as a
//! regression test. The test evaluates every program at three random points and compares
//! `f_grad` and `f_backward` (seeded with a random `d_out`; and `f_forward` and its closure for
//! the programs with `split(..)`) with the reference, to a relative error of 1e-10 in f64 and
//! 2e-4 in f32 (1e-6 for the f64 programs that compute in f32 on the way, listed in
//! `NARROWED`), and with central differences as a second opinion.
//!
//! The programs use: 1–4 float parameters (`f64`, some programs `f32`; scalars, `[F; N]`,
//! `&[F; N]`, `&[F]`, `Vec<F>`; `mut` parameters), `usize`/`i32`/`bool` constants, `wrt(..)`;
//! `let` chains with shadowing and type annotations, `let mut` with `+= -= *= /= %=` and
//! reassignment, `const` items and `std` constants, `let _ = v;`, `return`; every operator and
//! float method of the rule table in both call syntaxes, the sigmoid idiom, `f32 -> f64 -> f32`
//! casts; `if`/`else if`/`else` as values and as statements (arms with `let` lines, nesting,
//! assignments to outer variables); `for` loops over ranges (reversed, nested, `continue`
//! guards, loop-carried variables, indices by the loop variable); calls of earlier programs,
//! of the hand-written gates below and of the runtime gates.
//!
//! The programs from `EXTENDED_FROM` on also use: local buffers (`let mut b = vec![0.0; n];`,
//! `[0.0; N]`, of a literal length or `w.len()`), written by a plan that keeps the rule the
//! macro had before it learned mutation (every write of an element before every read of it, but
//! in the loop that owns the elements):
//! fill loops (reversed, with a write in each arm of an `if`, `+=`/`-=` after the write, reading
//! loop-carried variables, other buffers and the element just written), recurrences
//! `b[i] = f(b[i - 1])`, `b[i] = f(b[i + 1])` over a reversed range and `b[i + 1] = f(b[i])`,
//! accumulation `b[k] += e` in nested loops, straight-line writes at literal indices (reading
//! the elements written before, an element overwritten before it is read), per-iteration
//! buffers in loop bodies; then reads of the elements anywhere later, and buffers passed to
//! calls. `while` loops bounded by a counter, with a data-dependent condition and `break`
//! guards; `break` guards in `for` loops; the counter and loop variables as floats;
//! `f64 -> f32 -> f64` casts (`NARROWED`) and casts to the same type. The constants
//! `BREAK_AFTER_CONTINUE` to `ANNOTATED_LEN_BUFFERS` keep out what the macro does not compile
//! yet (each has its minimized case, `#[ignore]`d, in `tests/regressions.rs`).
//!
//! The programs from `MUTATION_FROM` on also write buffers after their elements were read
//! (`Gen::mutation`; the macro tapes the overwritten values): in-place updates `b[j] += -= *=
//! /= e` of elements read before (`/=` by a denominator kept away from zero), at literal and
//! computed indices or of every element in a loop; overwrites after reads (`b[0] =
//! b[0].sin() * x`, `b[(j + 1) % n] = ..`); loops whose iterations read an element that a
//! later iteration overwrites (`b[i] = f(b[i + 1])`); a buffer declared before a `for` loop and
//! rewritten, then read, in each iteration; recurrences through a buffer indexed by two loop
//! variables (`hs[t * H + j]` from `hs[(t - 1) * H + k]` in an innermost loop, through a local
//! `let mut` accumulator or in place); `while` loops that rewrite a buffer, their condition
//! perhaps reading it; and branches whose condition reads the element they rewrite
//! (`if b[j] > 0.5 { b[j] = 0.5; }`). Their buffer plans also update elements in place
//! (`b[i] *= e`, `/=`) and overwrite elements read before. They also step integer counters by
//! hand and read them as indices, the way C++ ports write ADBench's GMM (`Qtimesx`;
//! `Gen::counter_walk`), among the function's statements or in a loop body (reset in each
//! iteration): an integer counter stepped in a loop, used as an index (`let mut idx = 0; for i
//! in 0..n { acc += w[idx] * f(i); idx += 1; }`, starting at 0, a literal or a `usize`
//! parameter, stepped by 1, 2 or a `usize` parameter, perhaps before the read, reading
//! `w[idx]` and `w[idx + 1]`); and a counter stepped only by a nested loop, the triangular walk
//! (`for i in 0..d { for j in i + 1..d { b[j] += w[idx] * x[i]; idx += 1; } }`, the inner range
//! `i + 1..d`, `i..d`, `0..i` or `0..i + 1`, the body writing a buffer element `b[j] += ..` or
//! accumulating into a `let mut`, the outer loop perhaps reading the counter). The counter
//! indexes float parameters, buffers in scope or filled first, or writes a new buffer
//! (`b[idx] = ..`); a `continue` guard may skip its step; it may be read after the loop, as an
//! index (`w[idx - 1]`) or as a float. The plan knows how far it gets, so every index stays in
//! range.
//!
//! The programs from `SPLIT_FROM` on also list some of the earlier programs they call in
//! `split(..)` (`Gen::split`): those calls are differentiated in split mode, by `g_forward` and
//! the closure it returns (on a tape in a loop), instead of `g_backward` (joint mode). The
//! choice is drawn from a stream of its own after the program is drawn, so the programs are
//! the ones drawn before split mode entered the generator but for their attribute. Split calls
//! sit at top level, in `for` and `while` loops, in nested loops, in `if` arms (in loops too),
//! in another call's arguments, and call callees with loops and local buffers; `split(..)`
//! names one or more callees, in any order, before or after `wrt(..)`, and some programs keep
//! another callee in joint mode (the programs before `SPLIT_FROM` are all in joint mode). The
//! reference does not change: split mode computes the same gradient. These programs also run
//! through their own `f_forward`, whose closure holds their split calls' closures, and the
//! test `split_calls_go_through_the_callees_forward` checks that their backward calls
//! `g_forward` and never `g_backward`. `split(..)` names only callees that a call
//! differentiates (`Calls` follows the macro's activity: not only in conditions, not only
//! with constant arguments; `SPLIT_UNDIFFERENTIATED_CALLEES`) and that never get a reference
//! to an array the caller owns (`SPLIT_OWNED_ARRAY_ARGUMENTS`); both shapes, which the macro
//! does not compile yet, have their minimized cases, `#[ignore]`d, in `tests/regressions.rs`.
//!
//! The programs from `OUTPUTS_FROM` on (`Gen::output`, `Gen::result_let`) also return arrays:
//! about half of them are `-> [F; M]` or `-> Vec<F>` (f32 ones among them), their value a local
//! buffer filled in a loop (`let mut r = [0.0; 3]; for i in 0..3 { r[i] = ..; } r`, or `vec![0.0;
//! w.len()]`), an array literal `[a, b]` / `vec![a, b, c]` of differentiated values, or `let r
//! = [a, b]; r`. The others, and some of these, bind what earlier such programs return, `let r:
//! [F; M] = g(..);` or `let r: Vec<F> = g(..);`, among their statements or in a loop body, and
//! read `r[k]` at literal, loop and computed indices, or pass `r` / `&r` to other calls; in
//! split mode too (`split(g)` of a `g` that returns an array, in a program that returns one).
//! A program that returns an array has no `f_grad`: the test checks its value, and what
//! `f_backward(p.., d_out)` and `f_forward`'s closure give for a random upstream `d_out`,
//! against the reference of `<d_out, f(p)>` on dual numbers and central differences of it
//! (`VEC_CASES_F64`, `VEC_CASES_F32`). These programs are drawn after all the others (and
//! with fewer statements, to keep the compile time in bounds), so the earlier programs are
//! unchanged. A returned buffer may also be one the body wrote and read before, or be
//! rewritten in place after its elements were read (`Gen::rewrite`), before the values not
//! read yet are added to an element (`OUTPUT_REWRITTEN`, `VEC_OUTPUT_REWRITTEN`: the wrong
//! gradients and the `f_forward` that did not compile, which the generator found, are fixed;
//! their minimized cases run in `tests/regressions.rs`).
//!
//! Every program also has `jvp` in its attribute (`Gen::jvp`), alone or beside `wrt(..)` and
//! `split(..)`, last or first, and is checked through its `f_jvp(p.., t..)` too. Nothing is
//! drawn for it (every `JVP_EVERY`-th program, and which comes first by its index), so the
//! programs are the ones drawn before forward mode entered the generator, but for their
//! attribute. A program's `f_jvp` calls `g_jvp` for each call `g(..)`: a program gets `jvp`
//! only when every program it calls has it, the hand-written gates below have their `g_jvp`
//! written by hand (the tangent from their derivative), and the runtime's gates have
//! `sigmoid_jvp` and the others. At each point, the test draws a random direction `t` (a
//! component in [-1, 1] for each differentiable input, zero for the others; from a stream of
//! its own, `TANGENT_SEED`, so that the other checks' points are unchanged) and checks that
//! `f_jvp`'s value is the function's (exactly: the same lines compute it), that its tangent
//! is `J·t` of the reference on dual numbers seeded with `t` (`Dual::new(p, t)`,
//! `dual_directional`), to the tolerances of the gradient checks, and that it agrees with
//! the central difference in the direction `t` (a second opinion, where it is meaningful,
//! judged as for the gradient below: the reference's decisions and derivatives in the
//! direction at `p - h t`, `p` and `p + h t`). For a program that returns an array, each
//! component of the output's tangent is checked. (`<t, grad> = J·t` then holds too.) The
//! constants `JVP_RETURN_IN_LOOPS` to `JVP_CONSTANT_ARRAY_OUTPUT` kept out of `jvp` what the
//! macro did not compile in forward mode, and the programs that call them (each has its
//! minimized case in `tests/regressions.rs`); all three are fixed, and on.
//!
//! The programs from `ITERATORS_FROM` on (drawn after all the others, which are unchanged)
//! also write loops as iterators (README, "Iterator reductions"): reductions among their
//! statements (`Gen::reduction`), `let s = w.iter().map(|&w_i| ..).sum::<f64>();`, `let s: f64
//! = ...sum();`, `.product::<f64>()` (of factors `1.0 + 0.5 * squashed`), `.fold(0.0, |total,
//! &w_i| total * 0.5 + ..)` (over `w.iter().rev()` too), `.copied().fold(f64::NEG_INFINITY,
//! f64::max)` and `.map(..).fold(f64::NEG_INFINITY, f64::max)`, over an array's elements or a
//! range `(0..n)` (`n` a literal, `w.len()` or a `usize` parameter, 0 included: an empty
//! sum); and loops `for i in 0..w.len()` that read `w[i]` written, in turn, as element loops
//! (`Printer::element_loop`): `for &w_i in &w` (or `in w` of a reference), `for &w_i in
//! w.iter()`, `.rev()`, `for (i, &w_i) in w.iter().enumerate()` when the body reads `i`
//! otherwise, and `for (&w_i, &q_i) in w.iter().zip(&q)` when it reads `q[i]` too. The dual
//! reference keeps the loop it stands for (the same computation, the other spelling), and
//! the checks are the other programs'. `RANGE_REV_FOLDS` and `ENUMERATE_REV_LOOPS` keep out
//! the two forms the macro does not compile (minimized in `tests/regressions.rs`).
//!
//! Some programs also have `hvp` in their attribute (`Gen::hvp`: every `HVP_EVERY`-th
//! program, and the programs that call others, where the macro writes `f_hvp`: f64, a scalar
//! output, no `split(..)`, no `f32` on the way, no array a call returns, and calls only of
//! programs with `hvp`, of `backprop::sigmoid`/`relu`/`softplus` and of `softsign`, whose
//! `softsign_hvp_tangent` and its `_backward` are written by hand below). Nothing is drawn for
//! it. Each is followed by its reference on hyper-dual numbers (`pNNNN_hyper`: the dual
//! reference printed with `HyperDual64`, the helpers of `pwh` and `ch(..)`), and the test
//! `check_hvp` runs `f_hvp(p.., v..)` at `POINTS` points of its own (`HVP_SEED`) with a random
//! `v`, and compares the value and the gradient with the dual reference (1e-10) and `H·v`
//! with one hyper-dual pass per differentiable input (`eps1` seeded with a unit vector,
//! `eps2` with `v`, `eps1eps2`), to `HVP_EXACT`. `HVP_IMPORTED_GATES` and `HVP_VEC_BUFFERS`
//! keep out what the macro (or the prelude) does not compile yet (minimized in
//! `tests/regressions.rs`).
//!
//! Some programs take float parameters in a generated struct (`Gen::wrap`, `STRUCT_PARAMS`):
//! every `STRUCT_EVERY`-th of the programs that no program calls, once all are drawn (nothing
//! is drawn from the programs' stream, so they are the ones drawn before, but for their
//! signature and attribute). Such a program wraps some of its float parameters (scalars that
//! are not `mut`, `[F; N]`, `Vec<F>`; with `wrt(..)`, only ones it lists, and `wrt(p)` names
//! the struct) in a struct `S0042` with `#[derive(backprop::Differentiable)]`, sometimes with
//! its `usize` parameter as a `#[backprop(skip)]` field, taken as `p: &S0042` or `p: S0042`
//! in place of the first of them; its body reads `p.x`, `p.w[i]`, `&p.w`, `p.n` where it read
//! `x`, `w[i]`, `&w`, `n`. Its dual reference takes the parameters as they are (the case's
//! `reference: |p, k| (..)`), and the struct's gradient, flattened as `to_flat` does (the
//! fields in order, the skipped one left out), is compared with the reference's gradient of
//! the wrapped components, where the struct stands in the signature. It gets `jvp` and `hvp`
//! by the rule of the others (`STRUCT_JVP`, `STRUCT_HVP`; `hvp` never with an array output):
//! its `f_jvp(.., p, .., t_p, ..)` and `f_hvp(.., p, .., v_p, ..)` take the struct's tangent
//! and direction as a struct (by reference or by value, as `p`), built from the flat `t` as
//! the struct is from `p` (the skipped field as in `p`), and the gradient and `H·v` structs
//! `f_hvp` returns are flattened as the gradient is; the checks are the others' (the
//! hyper-dual reference, too, takes the parameters as they are), structs with a skipped field
//! included (`STRUCT_HVP_SKIPPED_FIELDS`, on since the macro compiles them).
//! `STRUCT_REF_ARRAY_FIELD_ARGUMENTS` and `STRUCT_VEC_OUTPUTS` keep out what the macro does
//! not compile or differentiate yet (minimized, `#[ignore]`d, in `tests/regressions.rs`).
//!
//! The programs from `INSIDE_FROM` on (drawn after all the others, once their attributes are
//! decided, so that the others are unchanged; f64, none takes a struct) also take derivatives
//! inside (`Gen::inner`, tests/derivatives_inside.rs): `let (v, d) = g_jvp(a, b, 0.0, 1.0);`
//! (`JVP_INSIDE`; the tangents literals or values of the program) and `let (v, (_, db)) =
//! g_grad(a, b);` (`GRAD_INSIDE`) of an earlier program `g` with `jvp` and `hvp` whose float
//! parameters are scalars, among their statements, in loop bodies and in `if` arms, the value
//! and each part bound or `_`. Their `f_grad`, `f_backward` (through `g_jvp_backward` and
//! `g_grad_backward`) and, with `jvp`, `f_jvp` (through `g_jvp_jvp` and `g_grad_jvp`) are
//! checked as the others'; none has `hvp`. The dual reference computes the inner derivatives
//! exactly from `g`'s hyper-dual reference: `inner_jvp` seeds `eps1` with `t` and `eps2` with
//! the outer dual parts (`eps1eps2` with the tangents' dual parts), so that `eps1` is `∇g·t`
//! and `eps1eps2` its derivative; `inner_grad` does so once per unit direction.
//! `INSIDE_CONSTANT_ARGUMENTS`, `JVP_CONSTANT_REDUCTION_ARGUMENTS` and `HVP_RUNTIME_GATES` kept
//! out what the macro did not compile (their repros are in their doc comments); all are on.
//!
//! The test `every_rule_and_construct_is_generated` reads the rule table
//! (`backprop-macro/src/rules/mod.rs`) and fails when a rule, or a construct of `CONSTRUCTS`, is
//! not generated: see CONTRIBUTING.md.
//!
//! After changing the generator, re-create the file with `BLESS=1 cargo test --test differential`.
//! (If the old file no longer compiles, replace it first with the six empty tables
//! `static CASES_F64: &[Case<f64>] = &[];`, `static CASES_F32: &[Case<f32>] = &[];`,
//! `static VEC_CASES_F64: &[VecCase<f64>] = &[];`, `static VEC_CASES_F32: &[VecCase<f32>] =
//! &[];`, `static COVERAGE: &[(&str, usize)] = &[];` and `static NARROWED: &[&str] = &[];`.)
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

// The programs are random: they write what a user might, including `a *= a * b`; and their
// dual-number twins drop casts to the same type (`m = m as f64` is `m = m` on duals, and an
// arm `let v = ..; v as f64` ends `let v = ..; v`), which rustc and clippy report as a
// self-assignment (a `let` and return); and nested `min`/`max` of constants may bound a value
// to a constant on purpose. The programs that return an array index their buffers
// `(j + 1) % M` for any length `M`, 1 included; their cases' tables have function-pointer
// fields. `f_hvp` takes a `v` per differentiable parameter after the parameters, and carries
// the function's span (clippy counts its arguments where it does not count `f_jvp`'s).
#![allow(
    clippy::misrefactored_assign_op,
    clippy::self_assignment,
    clippy::let_and_return,
    clippy::min_max,
    clippy::modulo_one,
    clippy::type_complexity,
    clippy::too_many_arguments,
    dead_code
)]

mod common;

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fmt::Write as _;

use backprop::prelude::*;
use backprop::{Real, backprop};
use common::{Rng, c, dual_directional, dual_gradient};
use num_dual::{Dual, Dual32, Dual64, DualNum, HyperDual, HyperDual64};

// ---------------------------------------------------------------------------------------------
// Hand-written gates the programs call (a plain `g`, its `g_backward` and its `g_jvp`, generic
// over the float type like the runtime's gates).

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

/// Forward mode: the value and the derivative times the tangent `t`, 1 / (1 + |x|)² · t.
fn softsign_jvp<F: Real>(x: F, t: F) -> (F, F) {
    let den = F::one() + x.abs();
    (x / den, t / (den * den))
}

/// Second order: `[softsign(x), softsign'(x) t]`, the tangent function a caller with `hvp`
/// differentiates through `softsign_hvp_tangent_backward`.
fn softsign_hvp_tangent<F: Real>(x: F, t: F) -> [F; 2] {
    let den = F::one() + x.abs();
    [x / den, t / (den * den)]
}

/// With softsign'' = −2 sign(x) / (1 + |x|)³: `d_x = d₀ softsign' + d₁ t softsign''`, `d_t =
/// d₁ softsign'`.
fn softsign_hvp_tangent_backward<F: Real>(x: F, t: F, d_out: [F; 2]) -> ([F; 2], (F, F)) {
    let den = F::one() + x.abs();
    let slope = F::one() / (den * den);
    let sign = if x.is_sign_negative() {
        -F::one()
    } else {
        F::one()
    };
    let curvature = -(sign + sign) / (den * den * den);
    let [d0, d1] = d_out;
    (
        [x / den, slope * t],
        (d0 * slope + d1 * t * curvature, d1 * slope),
    )
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

/// The partials are the softmax weights e^(a - v) and e^(b - v).
fn smooth_max_jvp<F: Real>(a: F, b: F, t_a: F, t_b: F) -> (F, F) {
    let v = smooth_max(a, b);
    (v, (a - v).exp() * t_a + (b - v).exp() * t_b)
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

fn leaky_jvp<F: Real>(x: F, slope: F, t_x: F, t_slope: F) -> (F, F) {
    if x > F::zero() {
        (x, t_x)
    } else {
        (slope * x, slope * t_x + x * t_slope)
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

/// The integer parameter is a constant: one tangent, of `x`.
fn scaled_jvp<F: Real>(x: F, n: usize, t_x: F) -> (F, F) {
    let t = x.tanh();
    let s = count::<F>(n);
    (t * s, (F::one() - t * t) * s * t_x)
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
            use super::{WithRe, note};
            use num_dual::DualNum;

            type F = $F;
            type D = $D;

            fn k(x: F) -> D {
                D::from_re(x)
            }

            /// std's `value`, with the derivative of `d`.
            fn exact(value: F, d: D) -> D {
                d.with_re(value)
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
                (a - b * q).with_re(a.re % b.re)
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
                slope.with_re(a.re.atan2(b.re))
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
piecewise!(pwh, f64, num_dual::HyperDual64);

/// A number of num-dual with its real part replaced: std's value, num-dual's derivatives (the
/// references' `exact`).
trait WithRe<F> {
    fn with_re(self, re: F) -> Self;
}

impl<F: Copy> WithRe<F> for Dual<F> {
    fn with_re(mut self, re: F) -> Self {
        self.re = re;
        self
    }
}

impl<F: Copy> WithRe<F> for HyperDual<F> {
    fn with_re(mut self, re: F) -> Self {
        self.re = re;
        self
    }
}

/// A constant as a hyper-dual number (the `c` of the second-order references).
fn ch(x: f64) -> HyperDual64 {
    HyperDual64::from_re(x)
}

/// `g_jvp(x.., t..)` inside a program (`Gen::inner`), on the dual numbers of the program's
/// reference: `g`'s value and its tangent `∇g(x)·t`, each with its derivative, from one pass
/// of `g`'s hyper-dual reference at `x + ε₁ t + ε₂ x' + ε₁ε₂ t'` (`x'`, `t'` the dual parts):
/// `eps2` is `∇g·x'`, `eps1` is `∇g·t` and `eps1eps2` is `tᵀ H x' + ∇g·t'`, exactly.
fn inner_jvp(
    x: &[Dual64],
    t: &[Dual64],
    g: impl Fn(&[HyperDual64]) -> HyperDual64,
) -> (Dual64, Dual64) {
    let h: Vec<HyperDual64> = x
        .iter()
        .zip(t)
        .map(|(x, t)| HyperDual64::new(x.re, t.re, x.eps, t.eps))
        .collect();
    let out = g(&h);
    (
        Dual64::new(out.re, out.eps2),
        Dual64::new(out.eps1, out.eps1eps2),
    )
}

/// `g_grad(x..)` inside a program, on dual numbers: `g`'s value and gradient, each part the
/// tangent of `inner_jvp` in a unit direction.
fn inner_grad<const N: usize>(
    x: &[Dual64; N],
    g: impl Fn(&[HyperDual64]) -> HyperDual64,
) -> (Dual64, [Dual64; N]) {
    let mut value = Dual64::from_re(0.0);
    let parts = std::array::from_fn(|i| {
        let unit: Vec<Dual64> = (0..N)
            .map(|j| Dual64::from_re(if i == j { 1.0 } else { 0.0 }))
            .collect();
        let (v, d) = inner_jvp(x, &unit, &g);
        value = v;
        d
    });
    (value, parts)
}

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
    /// For a program with `split(..)`: its own `f_forward`, the value and `reverse(d_out)`
    /// flattened (the closures of its split calls inside its closure).
    forward: Option<Forward<F>>,
    /// For a program with `jvp`: its `f_jvp`, with the tangents read from `t` (laid out as `p`).
    jvp: Option<Jvp<F>>,
    /// For a program with `hvp`: its `f_hvp` (`v` read from a slice laid out as `p`) and its
    /// reference on hyper-dual numbers.
    hvp: Option<(Hvp<F>, HyperReference<F>)>,
}

/// A program's `f_hvp` called through flat inputs: `(p, k, v)` to the value, the gradient and
/// `H·v`, flattened (`v` laid out as `p`, as the tangents of `Jvp`).
type Hvp<F> = fn(&[F], &[i64], &[F]) -> (F, Vec<F>, Vec<F>);

/// A program's reference on hyper-dual numbers, called through flat inputs.
type HyperReference<F> = fn(&[HyperDual<F>], &[i64]) -> HyperDual<F>;

/// A program's `f_forward` called through flat inputs: `(p, k, d_out)` to the value and the
/// gradient its closure gives for `d_out`, flattened.
type Forward<F> = fn(&[F], &[i64], F) -> (F, Vec<F>);

/// A program's `f_jvp` called through flat inputs: `(p, k, t)` to the value and `J·t`, where
/// `t` holds a tangent for every float input (laid out as `p`; those of the inputs that are
/// not differentiable are not passed).
type Jvp<F> = fn(&[F], &[i64], &[F]) -> (F, F);

macro_rules! case {
    ($F:ty, $name:ident, $grad:ident, $backward:ident, $backward_source:ident, $reference:ident,
     floats: $floats:literal, active: [$($active:literal),*], consts: [$($c:ident),*],
     |$p:ident, $k:ident| ($($arg:expr),+), $source:literal
     $(, reference: |$rp:ident, $rk:ident| ($($rarg:expr),+))? $(, forward: $forward:ident)?
     $(, jvp: $jvp:ident, |$t:ident| ($($targ:expr),+))?
     $(, hvp: $hvp:ident, $hyper:ident, |$v:ident| ($($varg:expr),+))? $(,)?) => {
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
            // A program that takes a struct: its reference takes the parameters as they are.
            reference: case!(@reference $F, $reference,
                [$(|$rp, $rk| ($($rarg),+))?], |$p, $k| ($($arg),+)),
            backward_source: $backward_source,
            forward: case!(@forward $F, [$($forward)?], |$p, $k| ($($arg),+)),
            jvp: case!(@jvp $F, [$($jvp, |$t| ($($targ),+))?], |$p, $k| ($($arg),+)),
            // A program that takes a struct: its hyper-dual reference takes the parameters as
            // they are, as the dual one.
            hvp: case!(@hvp $F, [$($hvp, $hyper, |$v| ($($varg),+))?], |$p, $k| ($($arg),+),
                [$(|$rp, $rk| ($($rarg),+))?]),
        }
    };
    (@reference $F:ty, $reference:ident, [], |$p:ident, $k:ident| ($($arg:expr),+)) => {{
        fn reference($p: &[Dual<$F>], $k: &[i64]) -> Dual<$F> {
            let _ = $k;
            $reference($($arg),+)
        }
        reference
    }};
    (@reference $F:ty, $reference:ident, [|$rp:ident, $rk:ident| ($($rarg:expr),+)],
     |$p:ident, $k:ident| ($($arg:expr),+)) => {{
        fn reference($rp: &[Dual<$F>], $rk: &[i64]) -> Dual<$F> {
            let _ = $rk;
            $reference($($rarg),+)
        }
        reference
    }};
    (@hvp $F:ty, [], |$p:ident, $k:ident| ($($arg:expr),+), [$($reference:tt)*]) => {
        None
    };
    (@hvp $F:ty, [$hvp:ident, $hyper:ident, |$v:ident| ($($varg:expr),+)], |$p:ident, $k:ident| ($($arg:expr),+), []) => {
        case!(@hvp $F, [$hvp, $hyper, |$v| ($($varg),+)], |$p, $k| ($($arg),+),
            [|$p, $k| ($($arg),+)])
    };
    (@hvp $F:ty, [$hvp:ident, $hyper:ident, |$v:ident| ($($varg:expr),+)], |$p:ident, $k:ident| ($($arg:expr),+),
     [|$rp:ident, $rk:ident| ($($rarg:expr),+)]) => {{
        fn hvp($p: &[$F], $k: &[i64], $v: &[$F]) -> ($F, Vec<$F>, Vec<$F>) {
            let _ = $k;
            let (value, gradient, hv) = $hvp($($arg,)+ $($varg),+);
            (value, Gradient::<$F>::flatten(&gradient), Gradient::<$F>::flatten(&hv))
        }
        fn hyper($rp: &[HyperDual<$F>], $rk: &[i64]) -> HyperDual<$F> {
            let _ = $rk;
            $hyper($($rarg),+)
        }
        Some((hvp as Hvp<$F>, hyper as HyperReference<$F>))
    }};
    (@forward $F:ty, [], |$p:ident, $k:ident| ($($arg:expr),+)) => {
        None
    };
    (@forward $F:ty, [$forward:ident], |$p:ident, $k:ident| ($($arg:expr),+)) => {{
        fn forward($p: &[$F], $k: &[i64], d_out: $F) -> ($F, Vec<$F>) {
            let _ = $k;
            // The arguments (`&[p[0], p[1]]`) live to the end of the `match`, which the
            // closure borrowing them needs.
            match $forward($($arg),+) {
                (value, reverse) => (value, Gradient::<$F>::flatten(&reverse(d_out))),
            }
        }
        Some(forward)
    }};
    (@jvp $F:ty, [], |$p:ident, $k:ident| ($($arg:expr),+)) => {
        None
    };
    (@jvp $F:ty, [$jvp:ident, |$t:ident| ($($targ:expr),+)], |$p:ident, $k:ident| ($($arg:expr),+)) => {{
        fn jvp($p: &[$F], $k: &[i64], $t: &[$F]) -> ($F, $F) {
            let _ = $k;
            $jvp($($arg,)+ $($targ),+)
        }
        Some(jvp)
    }};
}

/// A generated program that returns an array (`[F; M]` or `Vec<F>`), called through flat
/// inputs as `Case`; outputs and upstream gradients are flat too. It has no `f_grad`:
/// `f_backward(p.., d_out)` gives the value and the gradient of `<d_out, f(p)>`.
struct VecCase<F: 'static> {
    name: &'static str,
    source: &'static str,
    floats: usize,
    active: &'static [usize],
    consts: &'static [Const],
    value: fn(&[F], &[i64]) -> Vec<F>,
    /// `f_backward` with the upstream gradient `d_out`: the value and the gradient, flattened.
    backward: VecRun<F>,
    /// `f_forward` and its closure called with `d_out`: the same.
    forward: VecRun<F>,
    reference: fn(&[Dual<F>], &[i64]) -> Vec<Dual<F>>,
    backward_source: fn() -> &'static str,
    /// For a program with `jvp`: its `f_jvp`, the value and the output's tangent, flattened.
    jvp: Option<VecJvp<F>>,
}

/// `(p, k, d_out)` to the value and the gradient for `d_out`, flattened.
type VecRun<F> = fn(&[F], &[i64], &[F]) -> (Vec<F>, Vec<F>);

/// `(p, k, t)` to the value and the tangent `J·t` of the output, flattened (`t` as in `Jvp`).
type VecJvp<F> = fn(&[F], &[i64], &[F]) -> (Vec<F>, Vec<F>);

macro_rules! vcase {
    ($F:ty, $name:ident, $backward:ident, $forward:ident, $backward_source:ident, $reference:ident,
     floats: $floats:literal, active: [$($active:literal),*], consts: [$($c:ident),*],
     |$p:ident, $k:ident| ($($arg:expr),+), $source:literal
     $(, reference: |$rp:ident, $rk:ident| ($($rarg:expr),+))?
     $(, jvp: $jvp:ident, |$t:ident| ($($targ:expr),+))? $(,)?) => {
        VecCase {
            name: stringify!($name),
            source: $source,
            floats: $floats,
            active: &[$($active),*],
            consts: &[$(Const::$c),*],
            value: {
                fn value($p: &[$F], $k: &[i64]) -> Vec<$F> {
                    let _ = $k;
                    $name($($arg),+).to_vec()
                }
                value
            },
            // The upstream gradient goes in by value, as the output's type (`[F; M]` from the
            // slice, or a `Vec`).
            backward: {
                fn backward($p: &[$F], $k: &[i64], d_out: &[$F]) -> (Vec<$F>, Vec<$F>) {
                    let _ = $k;
                    let (value, grad) = $backward($($arg,)+ d_out.try_into().unwrap());
                    (value.to_vec(), Gradient::<$F>::flatten(&grad))
                }
                backward
            },
            forward: {
                fn forward($p: &[$F], $k: &[i64], d_out: &[$F]) -> (Vec<$F>, Vec<$F>) {
                    let _ = $k;
                    // The arguments live to the end of the `match`, as the closure needs.
                    match $forward($($arg),+) {
                        (value, reverse) => (
                            value.to_vec(),
                            Gradient::<$F>::flatten(&reverse(d_out.try_into().unwrap())),
                        ),
                    }
                }
                forward
            },
            reference: vcase!(@reference $F, $reference,
                [$(|$rp, $rk| ($($rarg),+))?], |$p, $k| ($($arg),+)),
            backward_source: $backward_source,
            jvp: vcase!(@jvp $F, [$($jvp, |$t| ($($targ),+))?], |$p, $k| ($($arg),+)),
        }
    };
    (@jvp $F:ty, [], |$p:ident, $k:ident| ($($arg:expr),+)) => {
        None
    };
    (@reference $F:ty, $reference:ident, [], |$p:ident, $k:ident| ($($arg:expr),+)) => {{
        fn reference($p: &[Dual<$F>], $k: &[i64]) -> Vec<Dual<$F>> {
            let _ = $k;
            $reference($($arg),+).to_vec()
        }
        reference
    }};
    (@reference $F:ty, $reference:ident, [|$rp:ident, $rk:ident| ($($rarg:expr),+)],
     |$p:ident, $k:ident| ($($arg:expr),+)) => {{
        fn reference($rp: &[Dual<$F>], $rk: &[i64]) -> Vec<Dual<$F>> {
            let _ = $rk;
            $reference($($rarg),+).to_vec()
        }
        reference
    }};
    (@jvp $F:ty, [$jvp:ident, |$t:ident| ($($targ:expr),+)], |$p:ident, $k:ident| ($($arg:expr),+)) => {{
        fn jvp($p: &[$F], $k: &[i64], $t: &[$F]) -> (Vec<$F>, Vec<$F>) {
            let _ = $k;
            let (value, tangent) = $jvp($($arg,)+ $($targ),+);
            (value.to_vec(), tangent.to_vec())
        }
        Some(jvp)
    }};
}

include!("generated/differential_programs.rs");

// ---------------------------------------------------------------------------------------------
// The generator.

const SEED: u64 = 0x00D1_FFE2_E471_A1B0;
/// How many programs the file holds.
const PROGRAMS: usize = 2120;
/// The first program that may take derivatives inside (`Gen::inner`): call `g_jvp(p.., t..)`
/// (`JVP_INSIDE`) or `g_grad(p..)` (`GRAD_INSIDE`) of an earlier program `g` with `jvp` and
/// `hvp` and use what they return, `let (_, d) = g_jvp(a, b, 0.0, 1.0);`, `let (v, (_, db)) =
/// g_grad(a, b);`, among their statements, in loop bodies and in `if` arms. Such a program is
/// differentiated by reverse mode (through `g_jvp_backward` and `g_grad_backward`) and, with
/// `jvp`, by forward mode (`g_jvp_jvp`, `g_grad_jvp`); it never has `hvp`. These programs
/// are drawn after all the others, once the others' attributes are decided (an inner callee
/// must have `hvp`), so the earlier programs are unchanged.
const INSIDE_FROM: usize = 2000;
/// Whether programs from `INSIDE_FROM` on call `g_jvp(p.., t..)` and use its tangent (and
/// value): the dual reference evaluates `g`'s hyper-dual reference once (`inner_jvp`: `eps1`
/// seeded with `t`, `eps2` with the outer dual parts), which gives `∇g·t` and its derivative
/// exactly.
const JVP_INSIDE: bool = true;
/// Whether programs from `INSIDE_FROM` on call `g_grad(p..)` and use parts of the gradient:
/// the dual reference evaluates `g`'s hyper-dual reference once per float parameter
/// (`inner_grad`).
const GRAD_INSIDE: bool = true;
/// Whether a derivative inside may be a constant: get no value with a gradient (only literals,
/// `let (_, d) = g_jvp(0.75, 0.5, 1.0, 0.0);`, or values without one, `g_grad(y.round(),
/// 1)`). The macro takes such a constant call for a float, not the tuple it returns: "expected
/// `f64`, found `(f64, f64)`", "`f64` is a primitive type and therefore doesn't have fields",
/// "cannot multiply `f64` by `(f64, f64)`", in reverse and in forward mode (the repro:
/// `#[backprop(jvp, hvp)] fn g(x: f64, y: f64) -> f64 { x * x * y + y.sin() }` and
/// `#[backprop] fn f(x: f64) -> f64 { let (_, d) = g_jvp(0.75, 0.5, 1.0, 0.0); x * d }`).
/// Off: the first float argument of every such call adds a differentiable parameter
/// (`0.5 * e + 0.5 * x`). On: a call's tuple result is taken apart by its pattern, constant
/// or not (`tests/regressions.rs`, `a_constant_call_taken_apart`).
const INSIDE_CONSTANT_ARGUMENTS: bool = true;
/// Whether a program with `jvp` may pass the value of a reduction without a gradient (`let r
/// = w.iter().fold(0.0, |total, &w_i| total + w_i);` of a `Vec` outside `wrt(..)`) to a
/// differentiated call, `g(r, q[1])` or `g_jvp(r, ..)`. `f_jvp` passes the zero tangent
/// `vec![0.0; r.len()]` for it: "no method named `len` found for type `f64`" and "expected
/// `f64`, found `Vec<{float}>`" (the repro: `#[backprop(wrt(q), jvp)] fn h(w: Vec<f64>, q:
/// Vec<f64>) -> f64 { let r = w.iter().fold(0.0, |total, &w_i| total + w_i); g(r, q[1]) }`).
/// Found by a program from `INSIDE_FROM` on. Off: such a program has no `jvp`. On: a
/// reduction of an iterator over floats is a float (`tests/regressions.rs`,
/// `a_constant_reduction_as_a_call_argument`).
const JVP_CONSTANT_REDUCTION_ARGUMENTS: bool = true;
/// Whether a program that takes derivatives inside may have `jvp` (its `f_jvp` calls
/// `g_jvp_jvp` and `g_grad_jvp`).
const INSIDE_JVP: bool = true;
/// The first program that also uses local buffers, `while` loops, `break` guards and the casts
/// `f64 -> f32 -> f64` (the programs before it are the ones generated before these entered
/// the generator, unchanged).
const EXTENDED_FROM: usize = 1100;
/// The first program whose `break` guards may run lines before the `break`
/// (`if cond { s *= 2.0; break; }`).
const BREAK_LINES_FROM: usize = 1300;
/// The first program that may return from inside a loop.
const RETURN_FROM: usize = 1400;
/// The first program that may declare a value with `let v;` and assign it in each arm.
const LATE_LET_FROM: usize = 1500;
/// The first program whose buffers are also written after their elements were read (the
/// macro tapes such buffers): in-place updates `b[j] += -= *= /= e` of elements read before,
/// overwrites after reads at literal and computed indices, reads of elements that a later
/// iteration overwrites, a buffer declared before a loop and rewritten in each iteration,
/// recurrences through a buffer indexed by two loop variables, `while` loops rewriting a
/// buffer and branches whose condition reads the element they rewrite. Every program from here
/// on has at least one of these. Some also step integer counters by hand and read them as
/// indices (`Gen::counter_walk`): in a loop (`w[idx]; idx += 1;`), or only in a nested loop
/// (the triangular walk of GMM's `Qtimesx`).
const MUTATION_FROM: usize = 1600;
/// The first program that may list callees in `split(..)` (`Gen::split`): its calls of them
/// are differentiated by `g_forward` and the closure it returns (on a tape in a loop) instead
/// of `g_backward`. The choice is drawn from a stream of its own (`SPLIT_SEED`), after the
/// program is drawn: the programs are the ones drawn before split mode entered the generator,
/// but for their attribute.
const SPLIT_FROM: usize = MUTATION_FROM;
/// Whether `split(..)` may name a callee whose calls the macro does not differentiate: every
/// call in a condition, or reading no value with a gradient (constant arguments, values
/// outside `wrt(..)`, `x.floor()`). The macro lowers such calls as constants and says "this
/// function calls no `#[backprop]` function `g`", although it does (`tests/regressions.rs`,
/// `split_callee_called_only_where_nothing_is_differentiated`).
const SPLIT_UNDIFFERENTIATED_CALLEES: bool = false;
/// Whether a callee named in `split(..)` may get a reference to an array the caller owns
/// (`g(&b, x)` of a local buffer, `g(&w, x)` of an array or `Vec` parameter taken by value).
/// The closure `g_forward` returns borrows it: the caller's own `f_forward` cannot return a
/// closure holding it ("`b` does not live long enough ... borrowed for `'static`"), and a
/// write of the buffer after the call conflicts with the borrow (`tests/regressions.rs`,
/// `split_callee_given_a_reference_to_an_owned_array`).
const SPLIT_OWNED_ARRAY_ARGUMENTS: bool = false;
/// Whether a callee named in `split(..)` may get, by value, an array the caller owns that has
/// no gradient (`g(x, h)` of `let h: [f64; 2] = arr(0.5, 0.25);`, of a buffer written with
/// constants, or of an `[F; N]` parameter outside `wrt(..)`). The macro kept such a call in
/// joint mode (`g_backward`), although only a reference to an owned array does so by the
/// README (an array by value is the callee's own copy): the gradient was right, but `g`'s
/// forward pass ran twice (`tests/regressions.rs`, `split_call_given_a_constant_array_by_value`;
/// fixed). Found from `OUTPUTS_FROM` on (the arrays that calls return).
const SPLIT_CONSTANT_ARRAY_ARGUMENTS: bool = true;
/// Every how many programs one gets `jvp` in its attribute (`Gen::jvp`; when every program
/// it calls has `jvp` too).
const JVP_EVERY: usize = 1;
/// Whether a program whose loop body returns (`if cond { ..; return v; }`, from `RETURN_FROM`
/// on) may have `jvp`. Its `f_jvp` reads the flag `broke` (`broke_1`, ..) that says whether
/// the loop returned, and never declares it: "cannot find value `broke` in this scope"
/// (`tests/regressions.rs`, `jvp_return_in_a_loop`; fixed).
const JVP_RETURN_IN_LOOPS: bool = true;
/// Whether a program with `jvp` may pass a reference parameter without a gradient as it is to
/// a differentiated call (`g(w, x)` of `w: &[f64; 2]` or `w: &[f64]` outside `wrt(..)`). The
/// zero tangent `f_jvp` passes for it is an array, not a reference (`g_jvp(w, x, [0.0; 2],
/// t_x)`, `vec![0.0; w.len()]`): "expected `&[f64; 2]`, found `[{float}; 2]`"
/// (`tests/regressions.rs`, `jvp_constant_reference_argument`; fixed).
const JVP_CONSTANT_REFERENCE_ARGUMENTS: bool = true;
/// Whether a program whose value is an array literal without a gradient (`[a, 2.0 * a]` or
/// `vec![a, 2.0 * a]` of `let a = x.round();`, bound first or not) may have `jvp`. `f_jvp`
/// returns the zero tangent `0.0` where the signature says `[f64; 2]` or `Vec<f64>`:
/// "expected `[f64; 2]`, found floating-point number" (`tests/regressions.rs`,
/// `jvp_constant_array_output`; fixed). A returned buffer without a gradient compiles.
const JVP_CONSTANT_ARRAY_OUTPUT: bool = true;
/// Every how many programs one gets `hvp` in its attribute (`Gen::hvp`; where the macro
/// writes `f_hvp`, and when every program it calls has `hvp` too).
const HVP_EVERY: usize = 2;
/// Whether a program with `hvp` may call the runtime's gates imported by the prelude
/// (`relu(x)` rather than `backprop::relu(x)`). `f_hvp` calls `sigmoid_hvp_tangent` and
/// `sigmoid_hvp_tangent_backward` by the name the call is written with, and the prelude, which
/// has `sigmoid_backward` and `sigmoid_jvp`, does not export those: "cannot find function
/// `sigmoid_hvp_tangent_backward` in this scope" (`tests/regressions.rs`,
/// `hvp_imported_runtime_gate`). `backprop::sigmoid(x)` compiles. On: the prelude exports them
/// (and the repro runs).
const HVP_IMPORTED_GATES: bool = true;
/// Whether a program with `hvp` may call the runtime's gates (`backprop::sigmoid`, `relu`,
/// `softplus`, by path or imported). Since 908fc7c the macro writes `g_hvp_tangent_jvp` (for
/// `g_jvp_jvp`) for every function with `jvp` and `hvp`, and it calls
/// `sigmoid_hvp_tangent_jvp`, which the runtime does not have: "cannot find function
/// `sigmoid_hvp_tangent_jvp` in crate `::backprop`" (the repro: `#[backprop(jvp, hvp)] fn
/// f(x: f64) -> f64 { backprop::sigmoid(x) }`). Off: such programs have no `hvp`. On:
/// `g_jvp_jvp` is written from `g_hvp_tangent_backward` (one reverse pass and inner products),
/// which asks nothing more of the callees than `hvp` does.
const HVP_RUNTIME_GATES: bool = true;
/// Whether a program with `hvp` may have a local `vec!` buffer (`let mut h = vec![0.0; 2];`).
/// The tangent function that `hvp` differentiates again keeps the `vec!`, which the macro then
/// rejects: "macro calls are not supported in a `#[backprop]` function", and "a `#[backprop]`
/// function does not write into its parameters" at the buffer (`tests/regressions.rs`,
/// `hvp_vec_buffer`). `[0.0; N]` buffers compile.
/// On: buffers are recognised as `::std::vec![..]` too, as generated code writes them (and
/// the repro runs).
const HVP_VEC_BUFFERS: bool = true;
/// Whether some programs take float parameters in a generated struct (`Gen::wrap`): every
/// `STRUCT_EVERY`-th program that no later program calls (`jvp` and `hvp` as the others:
/// `STRUCT_JVP`, `STRUCT_HVP`) wraps some of its float parameters
/// (`f64` or `f32` scalars, `[F; N]`, `Vec<F>`; those in `wrt(..)` when the attribute has
/// one) in a struct `S0042` with `#[derive(backprop::Differentiable)]`, sometimes with its
/// `usize` parameter as a `#[backprop(skip)]` field, taken as `p: &S0042` or `p: S0042`. The
/// body reads `p.x`, `p.w[i]`, `p.n` where it read `x`, `w[i]`, `n`; the dual reference is
/// unchanged, and the struct's gradient, flattened as `to_flat` does, is checked against the
/// reference's gradient of the wrapped components. Nothing is drawn from the program's stream:
/// the programs are the ones drawn before, but for their signature and attribute.
const STRUCT_PARAMS: bool = true;
/// Whether a program that takes a struct may have `jvp` (by the rule of the others, `Gen::jvp`):
/// its `f_jvp(.., p, .., t_p, ..)` takes the struct's tangent as a value of the struct (by
/// reference or by value, as the struct), built from the flat tangent `t` as the struct is
/// from `p`. On since the macro writes `f_jvp` for struct parameters.
const STRUCT_JVP: bool = true;
/// Whether a program that takes a struct may have `hvp` (by the rule of the others, `Gen::hvp`:
/// never one that returns an array, whose differentiated struct `hvp` does not support): its
/// `f_hvp(.., p, .., v_p, ..)` takes the direction as a struct, and the gradient and `H·v` it
/// returns hold structs, flattened with the other parts. On since the macro writes `f_hvp`
/// for struct parameters.
const STRUCT_HVP: bool = true;
/// Whether a program with `hvp` may take a struct with a `#[backprop(skip)]` field (the
/// `usize` one, which its body reads: `p.w[p.n % 3]`). The tangent function that `hvp`
/// differentiates again takes the struct's fields, not the struct, and still reads the skipped
/// field through `p`: "cannot find value `p` in this scope" (`tests/regressions.rs`,
/// `hvp_struct_with_a_skipped_field`). `f_jvp` compiles. Off: such a program has `jvp` only.
/// On: the macro compiles it since ca1de95 (the repro runs).
const STRUCT_HVP_SKIPPED_FIELDS: bool = true;
/// Whether a struct taken by reference (`p: &S`) may have an `[F; N]` field that the body
/// passes by value to a call (`g(p.w)` of `fn g(w: [f64; 2])`). The macro's code passes a
/// reference where the callee takes the array: "expected `[f64; 2]`, found `&[f64; 2]`", at
/// the derive (`tests/regressions.rs`, `array_field_of_a_struct_reference_passed_by_value`).
/// Off: such a program takes its struct by value.
///
/// On: an `[F; N]` field of a struct taken by reference is bound by copy (`let p_w = p.w;`),
/// and the repro runs.
const STRUCT_REF_ARRAY_FIELD_ARGUMENTS: bool = true;
/// Whether a program that returns a `Vec<F>` may take a struct. Its `f_backward` and
/// `f_forward`'s closure leave the struct out of the gradient (`(S, f64)` expected, `f64`
/// found; generated programs got gradients short of the struct's components, or a zero one
/// for a field), and with the struct as its only float parameter the macro says "this
/// function has no float parameter to differentiate" (`tests/regressions.rs`,
/// `struct_parameter_of_a_function_returning_a_vec`). Off: of the programs that return an
/// array, only those returning `[F; M]` take a struct.
///
/// On: the macro reads the fields inside `vec![..]` (the body's value), which it did not look
/// into, and the repro runs.
const STRUCT_VEC_OUTPUTS: bool = true;
/// Every how many programs (among those no program calls) one takes a struct parameter.
const STRUCT_EVERY: usize = 6;
/// Mixed into `SEED` for the stream that draws which parameters a struct wraps.
const STRUCT_SEED: u64 = 0x5712_0C70_0000_0000;
/// Mixed into `SEED` for the stream that draws the `split(..)` lists.
const SPLIT_SEED: u64 = 0x5B11_7000_0000_0000;
/// The first program that may return an array rather than a scalar (`Gen::output`): `-> [F;
/// M]` or `-> Vec<F>`, the value a local buffer of the body (filled, perhaps rewritten in
/// place), an array literal `[a, b]` / `vec![a, b, c]`, or `let r = [a, b]; r`. From here on,
/// programs also bind what such earlier programs return, `let r: [F; M] = g(..);` or `let r:
/// Vec<F> = g(..);` (`Gen::result_let`), among their statements and in loop bodies, and read
/// its elements. The programs before it are unchanged: these are drawn after them, and every
/// draw that decides an output or a result binding is made from here on only.
const OUTPUTS_FROM: usize = 1800;
/// The first program that writes loops over an array's elements as iterators (`Gen::reduction`
/// and `Printer::element_loop`): reductions `let s: f64 = w.iter().map(|&v| ..).sum();`,
/// `.sum::<f64>()`, `.product()`, `.fold(0.0, |total, &v| ..)` (over `.rev()` too),
/// `.fold(f64::NEG_INFINITY, f64::max)` and `(0..n).map(|i| ..).sum()`, drawn among the
/// statements; and loops `for i in 0..w.len()` that read `w[i]` printed, in turn, as `for &w_i
/// in &w`, `for &w_i in w.iter().rev()`, `for (i, &w_i) in w.iter().enumerate()`, `for (&w_i,
/// &q_i) in w.iter().zip(&q)` (the dual reference keeps the index loop: the same computation,
/// the other spelling). The programs before it are unchanged: these are drawn after them.
const ITERATORS_FROM: usize = 1900;
/// Whether a reduction over a reversed range may be written `(0..n).rev().fold(..)`. The
/// macro says "this iterator chain is not differentiated" (it takes `(0..n)` and
/// `r.iter().rev()`, and loops `for i in (0..n).rev()`, but not the reversed range as a
/// reduction's source; `tests/regressions.rs`, `reduction_over_a_reversed_range`). On: fixed
/// (the repro runs).
const RANGE_REV_FOLDS: bool = true;
/// Whether an element loop that reads its index may run backwards, `for (i, &w_i) in
/// w.iter().enumerate().rev()`. The macro says "a `#[backprop]` loop runs over a range .. or
/// over the elements of arrays" (`tests/regressions.rs`, `enumerate_rev_loop`). On: fixed.
const ENUMERATE_REV_LOOPS: bool = true;
/// Whether an element loop may read two arrays in step, `for (&w_i, &q_i) in w.iter().zip(&q)`.
const ZIPPED_ELEMENT_LOOPS: bool = true;
/// Whether a loop over two arrays in step may run backwards, `for (&w_i, &q_i) in
/// w.iter().zip(q.iter()).rev()`. The macro says "a `#[backprop]` loop runs over a range ..
/// or over the elements of arrays" (`tests/regressions.rs`, `zip_rev_loop`), although
/// `w.iter().zip(..)` and `w.iter().rev()` compile. On: fixed (`(0..n.min(m)).rev()`).
const ZIP_REV_LOOPS: bool = true;
/// The share of programs from `OUTPUTS_FROM` on that return an array.
const OUTPUT_SHARE: f64 = 0.55;
/// The share of programs from `OUTPUTS_FROM` on written in `f32` (more than `F32_SHARE`, so
/// that f32 programs find f32 callees that return arrays).
const OUTPUT_F32_SHARE: f64 = 0.3;
/// Whether the buffer an array-output program returns may be written after its elements were
/// read: a buffer the body wrote and read before, or a new one rewritten in place (`Gen::
/// rewrite`), and then the values not read yet added to an element (`r[1] += ..;`). The
/// reverse pass of a read of an element that a later line updates (`let z = r[0].sin(); r[0]
/// -= z;`, `r[0] += r[0].sin();`) assigns the element's gradient (`d_out[0] = r[0].cos() *
/// d_r_sin;`) where it must add to the upstream gradient that the update passes through: the
/// gradient was wrong (`tests/regressions.rs`, `returned_buffer_updated_after_a_read`).
///
/// On: fixed in 64c7515, and its repro in `tests/regressions.rs` runs. (Off, a returned
/// buffer is a new one, each element written once by a fill loop that also reads the values
/// not read yet.)
const OUTPUT_REWRITTEN: bool = true;
/// Whether a returned `Vec` buffer may be written after its elements were read (with
/// `OUTPUT_REWRITTEN`; the macro then restores the old values in the reverse pass). The
/// closure of `f_forward` restores them into a copy of the buffer declared without `mut`
/// (`let r = r.clone();`): "cannot borrow `r` as mutable" (`tests/regressions.rs`,
/// `returned_vec_restored_by_the_reverse_pass`). An `[F; M]` output compiled.
///
/// On: fixed in 64c7515, and its repro in `tests/regressions.rs` runs. (Off, a returned `Vec`
/// is a new buffer, each element written once.)
const VEC_OUTPUT_REWRITTEN: bool = true;
/// Whether a `break` guard may follow a `continue` guard in the same loop body. The macro
/// rejected it ("`break` is supported as one guard directly in a loop body"), although the guard
/// is directly in the body: the `continue` guard lowers the rest of the body as a branch arm
/// (`tests/regressions.rs`, `break_guard_after_a_continue_guard`).
///
/// On: the limitation is lifted, and its repro in `tests/regressions.rs` runs.
const BREAK_AFTER_CONTINUE: bool = true;
/// Whether a loop with a `break` guard may hold other loops. The macro's reverse pass of such a
/// loop reads what the inner loop recorded (its tape, its `broke` and `trips`) outside the
/// scope that declares it, so the generated code does not compile (`tests/regressions.rs`,
/// `inner_loop_in_a_loop_with_a_break_guard`, `breaking_loop_in_a_loop_with_a_break_guard`).
///
/// On: the bug described is fixed, and its repro in `tests/regressions.rs` runs.
const BREAK_IN_LOOP_WITH_INNER_LOOPS: bool = true;
/// A loop that records how it ran: a `while` loop counts its trips, a loop with a `break` guard
/// records whether and where it broke (`trips`, `broke` in the generated code).
///
/// Whether a recording loop may sit in another loop or in an `if` arm (rather than directly in
/// the function's body). The reverse pass reads the loop's `broke` and `trips` where they are
/// not declared: after the `if` whose arm declares them; in the reverse of an outer loop that
/// does not recompute the inner loop (no later line needs a value it computes) or recomputes it
/// inside an `if` expression; and when it fuses the outer loop's reverse into its forward
/// iterations (after another inner loop), where the inner loop's reverse comes before the loop
/// (`tests/regressions.rs`, `recording_loop_*`).
///
/// On: the bug described is fixed, and its repro in `tests/regressions.rs` runs.
const NESTED_RECORDING_LOOPS: bool = true;
/// Whether a per-iteration buffer (declared in a loop body) may be a `Vec`. When the reverse
/// pass of the loop does not recompute the buffer, it still sizes the buffer's gradient by
/// `b.len()`, out of scope (`tests/regressions.rs`, `vec_scratch_buffer_in_a_loop`).
///
/// On: the bug described is fixed, and its repro in `tests/regressions.rs` runs.
const VEC_SCRATCH_BUFFERS: bool = true;
/// Whether a `break` guard's condition may be the only reader of a local value. The macro drops
/// the lines that compute such a value from the backward function, whose copy of the guard then
/// reads an undeclared name (`tests/regressions.rs`, `value_read_only_by_a_break_guard`).
///
/// On: the bug described is fixed, and its repro in `tests/regressions.rs` runs.
const BREAK_CONDITION_ONLY_READER: bool = true;
/// Whether a loop may assign a variable that an earlier loop assigned. When the earlier loop
/// only accumulates into it (`h += x`), the macro fuses that loop's reverse into its forward
/// pass and emits the reverse of the later loop before the later loop: it reads the later
/// loop's tape, `trips` and `broke` before they exist (`tests/regressions.rs`,
/// `loop_after_a_fused_accumulation_loop`, `while_loop_after_a_fused_accumulation_loop`).
/// The first `EXTENDED_FROM` programs, drawn before this was found, do not happen to hit it.
///
/// On: the bug described is fixed, and its repro in `tests/regressions.rs` runs.
const LOOP_AFTER_LOOP_ON_A_VARIABLE: bool = true;
/// Whether a per-iteration buffer may be declared in a loop inside an `if` arm. Inside the
/// arm of an `if` that is a value, the backward function then recomputes a loop-carried value
/// it never reads: rustc warns "value assigned to `act_5` is never read" in the generated code
/// (`tests/regressions.rs`, `scratch_buffer_in_a_loop_in_an_arm`).
///
/// On: the bug described is fixed, and its repro in `tests/regressions.rs` runs.
const SCRATCH_BUFFERS_IN_ARMS: bool = true;
/// Whether a call of an earlier program may get only unsuffixed float literals as its float
/// arguments (`p0038(1.2, 2)`). The macro does not know that such a call is a float, and when
/// its value is an argument of another differentiated call, it takes that call's gradient
/// tuple for a single gradient (`tests/regressions.rs`, `constant_call_as_a_call_argument`).
///
/// On: the bug described is fixed, and its repro in `tests/regressions.rs` runs.
const CONSTANT_CALL_ARGUMENTS: bool = true;
/// Whether a buffer whose length is a differentiated slice's `w.len()` may carry a type
/// annotation. The macro rejects `let mut h: Vec<f64> = vec![0.0; w.len()];` ("a
/// differentiated value must be `f32` or `f64`"), which it accepts without the annotation
/// (`tests/regressions.rs`, `annotated_buffer_of_a_slice_length`).
///
/// On: the bug described is fixed, and its repro in `tests/regressions.rs` runs.
const ANNOTATED_LEN_BUFFERS: bool = true;
/// Whether a loop body with a `return` or `break` guard may also hold an `if` whose condition
/// reads a buffer element that its branch rewrites (the macro computes such a condition before
/// the branch: `let cond = b[0] <= x;`). The generated forward loop put the guard right after
/// that `if`, before the lines between them, and read or copied values before they existed
/// (`returned_1 = returned_3;` before `let returned_3 = ..`, a guard `if d > 1.0` before
/// `let d = ..`): rustc said "cannot find value `returned_3`" (`tests/mutation.rs`,
/// `guard_after_a_condition_on_a_rewritten_element`).
///
/// On: the bug described is fixed, and its repro in `tests/mutation.rs` runs.
const GUARD_AFTER_CAPTURED_CONDITION: bool = true;
/// Names of local buffers, of `while` counters: none is a name `LOCAL_NAMES` or the parameters
/// use, and some are names the macro generates (`trips`, `d_hs`).
const BUFFER_NAMES: [&str; 7] = ["hs", "buf", "acts", "cache", "vals", "d_hs", "scores"];
const COUNTER_NAMES: [&str; 4] = ["steps", "iters", "trips", "t_n"];
/// Loop variables of the mutation patterns, which nest up to three loops inside others.
const MUTATION_LOOP_NAMES: [&str; 5] = ["i", "j", "l", "ii", "jj"];
/// Names of the counters stepped by hand (`Gen::counter_walk`).
const CURSOR_NAMES: [&str; 4] = ["idx", "pos", "lparamsidx", "off"];
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

/// What a program returns.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Output {
    Scalar,
    /// `[F; n]`.
    Array(usize),
    /// `Vec<F>`, of this many elements when called with the generated argument lengths.
    Vec(usize),
}

impl Output {
    /// The elements and whether it is a `Vec`, of an array output.
    fn array(self) -> Option<(usize, bool)> {
        match self {
            Output::Scalar => None,
            Output::Array(n) => Some((n, false)),
            Output::Vec(n) => Some((n, true)),
        }
    }
}

/// How an array-output program builds its value (`Gen::output`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum OutputShape {
    /// A local buffer, returned by name.
    Buffer(bool),
    /// `[a, b]` or `vec![a, b]` as the final expression.
    Literal(bool),
    /// `let r = [a, b]; r`.
    LetLiteral(bool),
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
    /// A local buffer (`vec![0.0; n]` when the flag is set, else `[0.0; n]`) of this many
    /// elements. Not an array for the generic array code: its reads are planned (see `Phase`).
    Buffer(usize, bool),
    /// The counter of a `while` loop, in `0..=limit`.
    Counter(usize),
    /// A counter stepped by hand in a loop and read as an index (`let mut idx = 0; for i in
    /// .. { .. w[idx] ..; idx += 1; }`), in `0..=limit`.
    Cursor(usize),
    /// What a call of an earlier array-output program returned, `let r: [f64; n] = g(..);`
    /// (`Vec<f64>` when the flag is set): read by element and passed to calls, never written.
    Output(usize, bool),
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
    /// `b[i - 1]`, `b[i + 1]` with a loop variable `i` (always in range).
    Offset(usize, i64),
    /// `b[t * stride + j]`, or `b[(t - back) * stride + j]`: row `t` (or an earlier one) of a
    /// buffer indexed by two loop variables `t` and `j`.
    Grid(usize, usize, usize, usize),
    /// `w[idx]`, `w[idx + 1]` or `w[idx - 2]`, of a counter stepped by hand (`Kind::Cursor`),
    /// planned to stay in range.
    Cursor(usize, i64),
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
    /// `(x as f64).m() as f32` in an f32 program (`x as f64 as f32` without a method).
    Island(Box<E>, &'static str),
    /// `(x as f32).m() as f64` in an f64 program (`x as f32 as f64` without a method).
    Narrow(Box<E>, &'static str),
    /// `x as f64` in an f64 program, `x as f32` in an f32 one: a cast to the same type.
    Cast(Box<E>),
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
    /// `if cond { ..; break; }` directly in a loop body (at most one, never after a
    /// `continue` guard: see `BREAK_AFTER_CONTINUE`), with the assignments before the `break`.
    Break(Cond, Vec<ArmStmt>),
    /// `if cond { ..; return value; }` directly in the body of a loop among the function's own
    /// statements (not with a `break` guard, never after a `continue` guard).
    Return(Cond, Vec<ArmStmt>, E),
    /// `let mut b = vec![init; len];` or `let mut b = [init; len];`.
    Buffer(usize, f64, BufLen, BufTy),
    /// `b[index] = rhs;` or `b[index] op= rhs;` (`+=`, `-=`, `*=`, `/=`).
    Store(usize, Index, Option<Op>, E),
    /// `let mut a = init;` in a block (a literal `init` with its type's suffix).
    LetMut(usize, E),
    /// `let mut steps = 0;`, a `while` loop's counter.
    Counter(usize),
    /// `steps += 1;`
    Incr(usize),
    While(WhileLoop),
    /// `let mut idx = start;`, a counter stepped by hand (`Kind::Cursor`).
    Cursor(usize, Stride),
    /// `idx += step;`
    Step(usize, Stride),
    /// A derivative inside (`Gen::inner`): `let (v, d) = g_jvp(..);` or `let (v, (da, _)) =
    /// g_grad(..);`.
    Inner(Inner),
}

/// `let (v, d) = g_jvp(args.., tangents..);` or `let (v, (da, _, dc)) = g_grad(args..);` of
/// an earlier program `g` with `jvp` and `hvp` whose float parameters are scalars.
#[derive(Clone, PartialEq)]
struct Inner {
    callee: usize,
    args: Vec<Arg>,
    /// `g_jvp`'s tangents, one per float parameter; `None` for `g_grad`.
    tangents: Option<Vec<E>>,
    /// The variable bound to `g`'s value, or `_`.
    value: Option<usize>,
    /// `g_jvp`: the tangent (one entry); `g_grad`: a part per float parameter, or `_`.
    parts: Vec<Option<usize>>,
}

/// The start or the step of a counter stepped by hand: a literal, or a `usize` parameter
/// (in `0..=3`).
#[derive(Clone, Copy, PartialEq)]
enum Stride {
    Lit(usize),
    Param(usize),
}

impl Stride {
    /// The largest value it can take.
    fn max(self) -> usize {
        match self {
            Stride::Lit(k) => k,
            Stride::Param(_) => 3,
        }
    }
}

/// How a buffer's declaration says its element type: not at all (rustc infers it from the
/// first write, which must then come before any method call on an element), by the literal's
/// suffix (`vec![0.0f64; 3]`) or by an annotation (`let mut b: Vec<f64> = ..`).
#[derive(Clone, Copy, PartialEq)]
enum BufTy {
    Plain,
    Suffix,
    Annotated,
}

/// The length of a local buffer.
#[derive(Clone, PartialEq)]
enum BufLen {
    Lit(usize),
    /// `w.len() + plus`.
    Len(usize, usize),
}

/// `while cond { body }`; the condition compares the counter with its limit, and the body
/// ends by incrementing it (so the loop surely ends).
#[derive(Clone, PartialEq)]
struct WhileLoop {
    cond: Cond,
    body: Vec<ArmStmt>,
}

/// Where a local buffer is in its life: the generator writes a buffer by a plan, hiding it
/// meanwhile, and only then lets expressions read it. Before `MUTATION_FROM`, the macro wanted
/// every write of an element before every read of it (but in the loop that owns the elements),
/// and a readable buffer was never written again; from `MUTATION_FROM` on, the mutation
/// patterns (`Gen::mutation`) write readable buffers again, after their elements were read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Writing,
    Readable,
}

/// `for i in start..count { body }`, or over `(start..count).rev()`; `for j in i +
/// start..count` when `from` is the outer loop variable `i`.
#[derive(Clone, PartialEq)]
struct Loop {
    var: usize,
    from: Option<usize>,
    start: usize,
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
    /// An outer loop variable, plus this much: `0..i`, `0..i + 1`.
    Var(usize, usize),
}

/// How a reduction (`Gen::reduction`) is written.
#[derive(Clone, Copy, PartialEq)]
enum Fold {
    /// `.map(|&v| e).sum::<F>()`.
    Sum,
    /// `let s: F = ...map(|&v| e).sum();`.
    SumAnnotated,
    /// `.map(|&v| e).product::<F>()`.
    Product,
    /// `.fold(0.0, |total, &v| total * 0.5 + e)`.
    Closure,
    /// `.map(|&v| e).fold(F::NEG_INFINITY, F::max)`, or `.copied().fold(..)` of the elements.
    Max,
}

/// A loop `let mut s = init; for i in .. { s op= e; }` that the program writes as an iterator
/// reduction (its dual reference as the loop).
#[derive(Clone, PartialEq)]
struct Reduction {
    acc: usize,
    var: usize,
    /// The array whose elements it reduces (`w.iter()`), or none: a range `(0..n)`.
    array: Option<usize>,
    fold: Fold,
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
    /// `let v;` then an `if` whose every arm ends with `v = ..;` (a value `if`, written late).
    LateLet(usize, IfChain),
    For(Loop),
    /// A statement of the kinds that loop bodies hold (buffers, `while` loops).
    Arm(ArmStmt),
}

enum Tail {
    Expr(E),
    Return(E),
    If(IfChain),
    /// A local buffer returned by name (an array-output program).
    Buffer(usize),
    /// `[a, b]`, or `vec![a, b]` when the flag is set, perhaps bound first (`let r = [a, b];
    /// r`): an array-output program.
    Array(Vec<E>, bool, Option<String>),
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
    /// For a buffer: whether expressions may read it yet.
    phase: Phase,
}

struct Function {
    name: String,
    has_loop: bool,
    /// Lints that the generated style trips on purpose (`clippy::useless_vec`, ...).
    allows: Vec<&'static str>,
    /// Computes in f32 inside an f64 program: its gradient has f32 precision.
    narrowed: bool,
    fl: Fl,
    params: Vec<usize>,
    wrt: Option<Vec<usize>>,
    /// The callees (earlier programs) listed in `split(..)`, in the attribute's order, and
    /// whether `split(..)` comes before `wrt(..)`.
    split: Vec<usize>,
    split_first: bool,
    /// Whether the attribute has `jvp` (`f_jvp` is checked too; decided by `Gen::jvp` once
    /// the program is drawn), and whether it comes first in the attribute.
    jvp: bool,
    jvp_first: bool,
    /// Whether the attribute has `hvp` (`Gen::hvp`; `f_hvp` is checked too).
    hvp: bool,
    /// How many derivatives it takes inside (`Gen::inner`, from `INSIDE_FROM` on).
    inner: usize,
    /// Some float parameters wrapped in a generated struct (`Gen::wrap`, `STRUCT_PARAMS`).
    wrap: Option<Wrap>,
    /// What it returns (a scalar before `OUTPUTS_FROM`).
    output: Output,
    /// From `ITERATORS_FROM` on: its loops over elements may be printed as iterators, and
    /// these loops are printed as reductions.
    iterators: bool,
    reductions: Vec<Reduction>,
    vars: Vec<Var>,
    body: Vec<Stmt>,
    tail: Tail,
}

/// The struct a program takes some of its float parameters in (`Gen::wrap`): `p: &S0042` or
/// `p: S0042` at the place of the first of them.
struct Wrap {
    /// The struct's name, `S` and the program's number.
    name: String,
    by_ref: bool,
    /// The wrapped float parameters, in signature order: the struct's fields, in this order.
    fields: Vec<usize>,
    /// The `usize` parameter made a `#[backprop(skip)]` field (the last one), if any.
    skip: Option<usize>,
    /// `p.x` for each wrapped parameter, as the program reads it.
    paths: Vec<(usize, String)>,
    /// Set while the program itself is printed (its dual reference reads the plain names).
    printing: Cell<bool>,
}

impl Wrap {
    /// Whether parameter `v` is in the struct.
    fn holds(&self, v: usize) -> bool {
        self.fields.contains(&v) || self.skip == Some(v)
    }

    /// The first parameter of the struct in signature order (where `p` goes).
    fn first(&self, params: &[usize]) -> usize {
        *params
            .iter()
            .find(|&&v| self.holds(v))
            .expect("a wrapped parameter")
    }
}

/// What a caller needs to know of an earlier program.
struct Sig {
    name: String,
    fl: Fl,
    kinds: Vec<Kind>,
    wrt: bool,
    bound: f64,
    narrowed: bool,
    /// Whether its body has a loop, and local buffers (what a split call's closure keeps).
    has_loop: bool,
    buffers: bool,
    /// What it returns: callers bind an array output with `let r: [F; M] = g(..);`.
    output: Output,
    /// Whether it has `jvp` (so that its callers may: they call `g_jvp`).
    jvp: bool,
    /// Whether it has `hvp` (so that its callers may: they call `g_hvp_tangent`).
    hvp: bool,
    /// Whether it takes a struct (`Gen::wrap`): the programs from `INSIDE_FROM` on do not
    /// call it.
    wrapped: bool,
}

struct Gen {
    rng: Rng,
    /// Draws which callees a program lists in `split(..)` (`Gen::split`): a stream of its own,
    /// so that the programs' bodies are the ones drawn before split mode entered the generator.
    split_rng: Rng,
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
    /// Programs from `EXTENDED_FROM` on also use local buffers, `while` loops, `break` guards
    /// and more casts (the earlier programs are drawn exactly as before these existed).
    extended: bool,
    /// Programs from `BREAK_LINES_FROM` on also put assignments before a guard's `break`.
    break_lines: bool,
    /// Programs from `RETURN_FROM` on also return from inside loops.
    loop_returns: bool,
    /// Programs from `LATE_LET_FROM` on also write some value `if`s as `let v;` and `v = ..;`
    /// in each arm.
    late_lets: bool,
    /// Programs from `MUTATION_FROM` on also write buffers after their elements were read.
    mutation: bool,
    /// Programs from `OUTPUTS_FROM` on may return arrays, and bind the arrays that earlier
    /// programs return (`let r: [f64; 3] = g(..);`).
    outputs: bool,
    /// The program being generated returns an array, built this way.
    returns: Option<OutputShape>,
    /// Programs from `ITERATORS_FROM` on also write reductions and element loops as iterators.
    iterators: bool,
    /// The reductions of the function being generated (`Gen::reduction`).
    reductions: Vec<Reduction>,
    /// The next loop body starts with a mutation pattern (`Gen::mutation`).
    force_mutation: bool,
    /// How many loops with a `break` or `return` guard are being generated (see
    /// `GUARD_AFTER_CAPTURED_CONDITION`).
    guarded: usize,
    /// The function computes in f32 although it is an f64 program (or calls one that does).
    narrowed: bool,
    /// An element read that a buffer's plan wants in the expression being generated (`b[i -
    /// 1]` in a recurrence), and whether `leaf` has used it.
    extra: Option<(E, f64)>,
    extra_used: bool,
    /// Whether the function has a `for` loop, and the lints it trips on purpose.
    any_loop: bool,
    allows: Vec<&'static str>,
    /// While generating the body of a loop with a `break` guard: no nested loops (see
    /// `BREAK_IN_LOOP_WITH_INNER_LOOPS`).
    no_nested_loops: usize,
    /// How many `if` arms are being generated (see `SCRATCH_BUFFERS_IN_ARMS`).
    open_arms: usize,
    /// Loops counted as they start, the start numbers of those being generated, and the
    /// variables (roots) assigned by the finished ones, with the count when they finished
    /// (see `LOOP_AFTER_LOOP_ON_A_VARIABLE`).
    loop_serial: usize,
    open_loops: Vec<usize>,
    frozen: Vec<(usize, usize)>,
    /// Programs from `INSIDE_FROM` on also take derivatives inside (`Gen::inner`), and call
    /// no program that takes a struct.
    inside: bool,
    /// The derivatives inside of the function being generated.
    inner: usize,
    /// Its differentiable float parameters (those in `wrt(..)`, or all).
    differentiable: Vec<usize>,
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
            split_rng: Rng(seed ^ SPLIT_SEED),
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
            extended: false,
            break_lines: false,
            loop_returns: false,
            late_lets: false,
            mutation: false,
            outputs: false,
            returns: None,
            iterators: false,
            reductions: Vec::new(),
            force_mutation: false,
            guarded: 0,
            narrowed: false,
            extra: None,
            extra_used: false,
            any_loop: false,
            allows: Vec::new(),
            no_nested_loops: 0,
            open_arms: 0,
            loop_serial: 0,
            open_loops: Vec::new(),
            frozen: Vec::new(),
            inside: false,
            inner: 0,
            differentiable: Vec::new(),
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
            phase: Phase::Readable,
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

    /// A name no variable of the program has had, visible or not: an inner derivative's
    /// bindings must not shadow a name declared for later assignment (`let acc;` before an
    /// `if` whose arms assign it).
    fn unused_name(&mut self) -> String {
        for _ in 0..8 {
            let name = self.rng.pick(&LOCAL_NAMES);
            if !self.vars.iter().any(|v| v.name == name) {
                return name.to_string();
            }
        }
        format!("v{}", self.vars.len())
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
        if self.extra.is_some() && self.rng.chance(0.5) {
            self.extra_used = true;
            return self.extra.clone().expect("checked");
        }
        let scalars = self.visible_where(|v| v.kind == Kind::Scalar);
        let arrays = self.visible_where(|v| v.kind.elements().is_some());
        if let Some(f) = self.focus
            && scalars.contains(&f)
            && self.rng.chance(0.6)
        {
            let bound = self.vars[f].bound;
            return (self.use_var(f), bound);
        }
        // Buffers once written, and the arrays that calls returned (`let r: [f64; 3] = g(..);`).
        let buffers = self.visible_where(|v| {
            matches!(v.kind, Kind::Buffer(..)) && v.phase == Phase::Readable
                || matches!(v.kind, Kind::Output(..))
        });
        if !buffers.is_empty() && self.rng.chance(0.3) {
            let b = self.rng.pick(&buffers);
            let (Kind::Buffer(n, _) | Kind::Output(n, _)) = self.vars[b].kind else {
                unreachable!()
            };
            let index = self.element_index(n);
            self.vars[b].uses += 1;
            if matches!(self.vars[b].kind, Kind::Output(..)) {
                self.cov(match index {
                    Index::Lit(_) => "call result read at a literal index",
                    Index::Loop(..) => "call result read at a loop index",
                    _ => "call result read at a computed index",
                });
            } else {
                self.cov(match index {
                    Index::Lit(_) => "buffer read at a literal index",
                    Index::Loop(..) => "buffer read at a loop index",
                    _ => "buffer read at a computed index",
                });
            }
            return (E::Elem(b, index), self.vars[b].bound);
        }
        if !arrays.is_empty() && (scalars.is_empty() || self.rng.chance(0.25)) {
            let a = self.rng.pick(&arrays);
            let n = self.vars[a].kind.elements().unwrap_or(1);
            let index = self.element_index(n);
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

    /// An index into `n` elements: by a loop variable, a `usize` parameter or a literal.
    fn element_index(&mut self, n: usize) -> Index {
        let usizes = self.visible_where(|v| v.kind == Kind::Usize);
        let loops = self.visible_where(|v| matches!(v.kind, Kind::Index(_)));
        if !loops.is_empty() && self.rng.chance(0.7) {
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
        }
    }

    /// A literal, an integer parameter as a float, or a named constant.
    fn scalar(&mut self) -> (E, f64) {
        let ints = self.visible_where(|v| {
            matches!(
                v.kind,
                Kind::Usize | Kind::I32 | Kind::Index(_) | Kind::Counter(_) | Kind::Cursor(_)
            )
        });
        let r = self.rng.below(100);
        if r < 12 && !ints.is_empty() {
            let v = self.rng.pick(&ints);
            self.vars[v].uses += 1;
            self.cov("integer parameter as a float");
            match self.vars[v].kind {
                Kind::Counter(limit) => {
                    self.cov("while counter as a float");
                    return (E::IntF(v), limit as f64);
                }
                Kind::Cursor(limit) => {
                    self.cov("stepped counter as a float");
                    return (E::IntF(v), limit as f64);
                }
                Kind::Index(_) => self.cov("loop index as a float"),
                _ => {}
            }
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
            94..=97 if self.extended => self.narrow(d),
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
        if op == Op::Sub && uncast(&a) == uncast(&b) {
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
        let (callee, args) = self.program_call(d, false)?;
        Some((
            E::Call(Callee::Program(callee), args),
            self.sigs[callee].bound,
        ))
    }

    /// The callee and arguments of a call of an earlier program: one that returns a scalar,
    /// or (`array_output`) one that returns an array.
    fn program_call(&mut self, d: u32, array_output: bool) -> Option<(usize, Vec<Arg>)> {
        // Local buffers once written, and arrays that calls returned, too.
        let arrays = self.visible_where(|v| {
            v.kind.elements().is_some()
                || (matches!(v.kind, Kind::Buffer(..)) && v.phase == Phase::Readable)
                || matches!(v.kind, Kind::Output(..))
        });
        // What can be passed for a parameter of kind `k`: an array of the same length (by
        // value, or as `&w`), an array reference, or for a slice, a slice or `&v` of a `Vec`
        // at least as long (the callee reads the elements it was generated with). From
        // `MUTATION_FROM` on, exactly as long: a callee's loop over `w.len()` may read a
        // buffer of `w`'s generated length at the loop index (`hs[i]`), and the long buffers
        // of the two-index recurrences would run it out of bounds.
        let exact = self.mutation;
        let fits = |k: Kind, a: Kind| match (k, a) {
            (Kind::Array(n), Kind::Array(m) | Kind::Buffer(m, false) | Kind::Output(m, false)) => {
                n == m
            }
            (
                Kind::ArrayRef(n),
                Kind::Array(m)
                | Kind::ArrayRef(m)
                | Kind::Buffer(m, false)
                | Kind::Output(m, false),
            ) => n == m,
            // An array would be passed as a slice, whose gradient (a `Vec`) is not the array's.
            (
                Kind::Slice(n),
                Kind::Slice(m) | Kind::Vec(m) | Kind::Buffer(m, true) | Kind::Output(m, true),
            ) => m == n || (m > n && !exact),
            _ => false,
        };
        let has = |k: Kind| arrays.iter().any(|&a| fits(k, self.vars[a].kind));
        // A program computing in f32 makes its callers f32-precise too: rarely called.
        let narrowed_ok = !self.extended || self.rng.chance(0.25);
        let candidates: Vec<usize> = (0..self.sigs.len())
            .rev()
            .filter(|&i| {
                let sig = &self.sigs[i];
                sig.fl == self.fl
                    && !sig.wrt
                    && !sig.wrapped
                    && sig.output.array().is_some() == array_output
                    && (narrowed_ok || !sig.narrowed)
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
                        (
                            Kind::ArrayRef(_),
                            Kind::Array(_) | Kind::Buffer(..) | Kind::Output(..)
                        ) | (
                            Kind::Slice(_),
                            Kind::Vec(_) | Kind::Buffer(..) | Kind::Output(..)
                        )
                    );
                    self.cov(match (kind, self.vars[a].kind) {
                        (_, Kind::Buffer(..)) => "buffer passed to a call",
                        (_, Kind::Output(..)) => "call result passed to a call",
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
                Kind::Index(_)
                | Kind::Buffer(..)
                | Kind::Counter(_)
                | Kind::Cursor(_)
                | Kind::Output(..) => {
                    unreachable!("loop variables, buffers and counters are not parameters")
                }
            };
            args.push(arg);
        }
        // See `CONSTANT_CALL_ARGUMENTS`.
        let literal = |a: &Arg| matches!(a, Arg::Float(E::Lit(_)));
        let floats = args.iter().filter(|a| matches!(a, Arg::Float(_))).count();
        if self.extended
            && !CONSTANT_CALL_ARGUMENTS
            && floats > 0
            && args.iter().filter(|a| literal(a)).count() == floats
            && let Some(first) = args.iter_mut().find(|a| literal(a))
        {
            *first = Arg::Float(self.bounded(d, 1.5).0);
        }
        self.cov("call of a #[backprop] function");
        if self.sigs[callee].narrowed {
            self.narrowed = true;
        }
        Some((callee, args))
    }

    /// `let r: [F; M] = g(..);` or `let r: Vec<F> = g(..);` of an earlier program that returns
    /// an array (programs from `OUTPUTS_FROM` on); expressions then read `r[k]`, and calls get
    /// `r` or `&r`. `None` without such a callee.
    fn result_let(&mut self) -> Option<ArmStmt> {
        let (callee, args) = self.program_call(2, true)?;
        let (n, is_vec) = self.sigs[callee].output.array().expect("an array output");
        let name = self.fresh_name();
        let bound = self.sigs[callee].bound;
        let id = self.declare(&name, Kind::Output(n, is_vec), bound, false);
        self.cov(if is_vec {
            "let r: Vec<F> = g(..) of a program returning Vec<F>"
        } else {
            "let r: [F; M] = g(..) of a program returning [F; M]"
        });
        if self.fl == Fl::F32 {
            self.cov("array returned by a call in an f32 function");
        }
        if self.arm_depth > 0 {
            self.cov("array returned by a call in a loop body");
        }
        if self.returns.is_some() {
            self.cov("array returned by a call in an array-output program");
        }
        Some(ArmStmt::Let(
            id,
            Rhs::Expr(E::Call(Callee::Program(callee), args)),
        ))
    }

    /// A derivative inside (programs from `INSIDE_FROM` on): `let (v, d) = g_jvp(args..,
    /// tangents..);` (`JVP_INSIDE`) or `let (v, (da, _)) = g_grad(args..);` (`GRAD_INSIDE`)
    /// of an earlier program `g` with `jvp` and `hvp` (its `g_jvp_backward`, `g_jvp_jvp` and
    /// `g_grad_jvp` exist) whose float parameters are scalars. The tangents are literals
    /// (`0.0`, `1.0`: a partial derivative) or values of the program; the value, the tangent
    /// and the gradient's parts are bound or `_`. `None` without such a callee.
    fn inner(&mut self) -> Option<ArmStmt> {
        if !self.inside || self.fl != Fl::F64 || !(JVP_INSIDE || GRAD_INSIDE) {
            return None;
        }
        let candidates: Vec<usize> = (0..self.sigs.len())
            .filter(|&i| {
                let sig = &self.sigs[i];
                sig.fl == Fl::F64
                    && sig.jvp
                    && sig.hvp
                    && !sig.wrt
                    && !sig.wrapped
                    && sig.output == Output::Scalar
                    && sig
                        .kinds
                        .iter()
                        .all(|k| matches!(k, Kind::Scalar | Kind::Usize | Kind::I32 | Kind::Bool))
            })
            .collect();
        if candidates.is_empty() {
            return None;
        }
        let callee = self.rng.pick(&candidates);
        let jvp = match (JVP_INSIDE, GRAD_INSIDE) {
            (true, true) => self.rng.chance(0.5),
            (jvp, _) => jvp,
        };
        let kinds = self.sigs[callee].kinds.clone();
        let mut args = Vec::new();
        for kind in &kinds {
            args.push(match kind {
                Kind::Scalar => {
                    if self.rng.chance(0.1) {
                        Arg::Float(E::Lit(self.rng.pick(&[0.25, 0.5, 0.75, 1.2])))
                    } else {
                        Arg::Float(self.bounded(2, 1.5).0)
                    }
                }
                Kind::Usize => self.const_arg(Kind::Usize, &["0", "1", "2", "3"]),
                Kind::I32 => self.const_arg(Kind::I32, &["-2", "-1", "0", "1", "2"]),
                _ => self.const_arg(Kind::Bool, &["true", "false"]),
            });
        }
        let floats = kinds.iter().filter(|&&k| k == Kind::Scalar).count();
        let tangents = if jvp {
            // A partial derivative (`0.0` but one `1.0`), literals, or values of the program.
            let unit = self.rng.below(floats);
            let style = self.rng.below(3);
            let mut tangents = Vec::new();
            for j in 0..floats {
                tangents.push(match style {
                    0 => E::Lit(if j == unit { 1.0 } else { 0.0 }),
                    1 => E::Lit(self.rng.pick(&[0.0, 0.5, 1.0, 1.5, 2.0])),
                    _ if self.rng.chance(0.3) => E::Lit(self.rng.pick(&[0.0, 1.0])),
                    _ => {
                        self.cov("inner jvp: a value of the program as a tangent");
                        self.bounded(1, 1.5).0
                    }
                });
            }
            Some(tangents)
        } else {
            None
        };
        // See `INSIDE_CONSTANT_ARGUMENTS`: a differentiable parameter (not shadowed, not
        // `mut`), or an element of one.
        if !INSIDE_CONSTANT_ARGUMENTS {
            let visible = self.visible();
            let active: Vec<usize> = self
                .differentiable
                .iter()
                .copied()
                .filter(|&p| visible.contains(&p) && !self.vars[p].mutable)
                .collect();
            if active.is_empty() {
                return None;
            }
            let p = self.rng.pick(&active);
            self.vars[p].uses += 1;
            let read = match self.vars[p].kind {
                Kind::Scalar => E::Var(p),
                _ => E::Elem(p, Index::Lit(0)),
            };
            if let Some(Arg::Float(first)) = args.iter_mut().find(|a| matches!(a, Arg::Float(_))) {
                *first = bin(
                    Op::Add,
                    bin(Op::Mul, first.clone(), E::Lit(0.5)),
                    bin(Op::Mul, read, E::Lit(0.5)),
                );
            }
        }
        // The bindings, declared after the arguments are drawn.
        let value = if self.rng.chance(0.35) {
            let name = self.unused_name();
            let bound = self.sigs[callee].bound;
            Some(self.declare(&name, Kind::Scalar, bound, false))
        } else {
            None
        };
        let slots = if jvp { 1 } else { floats };
        let mut bound_parts: Vec<bool> = (0..slots).map(|_| self.rng.chance(0.6)).collect();
        if !bound_parts.iter().any(|&b| b) {
            let at = self.rng.below(slots);
            bound_parts[at] = true;
        }
        let mut parts = Vec::new();
        for bound in bound_parts {
            parts.push(if bound {
                let name = self.unused_name();
                Some(self.declare(&name, Kind::Scalar, LIMIT, false))
            } else {
                None
            });
        }
        self.inner += 1;
        self.cov(if jvp {
            "g_jvp(..) called inside"
        } else {
            "g_grad(..) called inside"
        });
        if self.arm_depth > 0 {
            self.cov(if jvp {
                "g_jvp(..) called inside, in a loop or an arm"
            } else {
                "g_grad(..) called inside, in a loop or an arm"
            });
        }
        Some(ArmStmt::Inner(Inner {
            callee,
            args,
            tangents,
            value,
            parts,
        }))
    }

    /// Split mode (programs from `SPLIT_FROM` on): lists some of the earlier programs that `f`
    /// calls in `split(..)`, drawn from `split_rng` (the program itself is drawn already). Its
    /// calls of them are then differentiated by `g_forward` and the closure it returns, kept
    /// on a tape in a loop; the calls of the others stay in joint mode (`g_backward`), and
    /// so do those of programs that list none. The gradient is the same: the reference does
    /// not change.
    fn split(&mut self, f: &mut Function) {
        let calls = Calls::of(f);
        // The callees `split(..)` may name: called where the macro differentiates the call
        // (see `SPLIT_UNDIFFERENTIATED_CALLEES`), and never given a reference to an array
        // the caller owns (see `SPLIT_OWNED_ARRAY_ARGUMENTS`).
        let mut callees: Vec<usize> = Vec::new();
        for call in &calls {
            if (call.differentiated || SPLIT_UNDIFFERENTIATED_CALLEES)
                && !callees.contains(&call.callee)
            {
                callees.push(call.callee);
            }
        }
        if !SPLIT_OWNED_ARRAY_ARGUMENTS {
            callees.retain(|&c| {
                !calls
                    .iter()
                    .any(|k| k.callee == c && k.differentiated && k.owned_reference)
            });
        }
        // (Known from `OUTPUTS_FROM` on: the earlier programs are drawn as before.)
        if !SPLIT_CONSTANT_ARRAY_ARGUMENTS && self.outputs {
            callees.retain(|&c| {
                !calls
                    .iter()
                    .any(|k| k.callee == c && k.differentiated && k.constant_array)
            });
        }
        if callees.is_empty() || !self.split_rng.chance(0.8) {
            return;
        }
        let mut split: Vec<usize> = callees
            .iter()
            .copied()
            .filter(|_| self.split_rng.chance(0.75))
            .collect();
        if split.is_empty() {
            split.push(callees[self.split_rng.below(callees.len())]);
        }
        // Some programs keep one of their callees in joint mode.
        if split.len() == callees.len() && split.len() > 1 && self.split_rng.chance(0.4) {
            split.remove(self.split_rng.below(split.len()));
        }
        // The attribute lists them in any order.
        if split.len() > 1 && self.split_rng.chance(0.5) {
            split.reverse();
        }
        f.split_first = f.wrt.is_some() && self.split_rng.chance(0.5);
        self.cov("split(..)");
        if split.len() > 1 {
            self.cov("split(..) of several callees");
        }
        if f.wrt.is_some() {
            self.cov("split(..) with wrt(..)");
            if f.split_first {
                self.cov("split(..) before wrt(..)");
            }
        }
        if calls
            .iter()
            .any(|k| k.differentiated && !split.contains(&k.callee))
        {
            self.cov("split and joint calls in one function");
        }
        for call in &calls {
            let (callee, site) = (call.callee, call.site);
            if !call.differentiated {
                continue;
            }
            if !split.contains(&callee) {
                self.cov("call in joint mode beside split(..)");
                continue;
            }
            self.cov("call in split mode");
            if f.fl == Fl::F32 {
                self.cov("call in split mode in an f32 function");
            }
            if self.sigs[callee].output.array().is_some() {
                self.cov("call in split mode of a program returning an array");
                if site.fors + site.whiles > 0 {
                    self.cov("call in split mode of a program returning an array, in a loop");
                }
            }
            if f.output.array().is_some() {
                self.cov("call in split mode in a program returning an array");
            }
            if site.fors > 0 {
                self.cov("call in split mode in a loop");
            }
            if site.whiles > 0 {
                self.cov("call in split mode in a while loop");
            }
            if site.fors + site.whiles > 1 {
                self.cov("call in split mode in nested loops");
            }
            if site.arms > 0 {
                self.cov("call in split mode in an arm");
                if site.fors + site.whiles > 0 {
                    self.cov("call in split mode in an arm in a loop");
                }
            }
            if site.argument {
                self.cov("call in split mode as a call's argument");
            }
            if site.fors + site.whiles + site.arms == 0 {
                self.cov("call in split mode at top level");
            }
            if self.sigs[callee].has_loop {
                self.cov("call in split mode of a callee with loops");
            }
            if self.sigs[callee].buffers {
                self.cov("call in split mode of a callee with local buffers");
            }
        }
        f.split = split;
    }

    /// Forward mode: whether `f`, the `index`-th program, gets `jvp` in its attribute (after
    /// the program and its `split(..)` list are drawn; nothing is drawn from a random stream,
    /// so the programs are the ones drawn before forward mode entered the generator, but for
    /// their attribute). Every `JVP_EVERY`-th program does, when each program it calls does
    /// too (its `f_jvp` calls their `g_jvp`: the hand-written gates and the runtime's have
    /// one), and when it has none of the shapes that `JVP_RETURN_IN_LOOPS` ..
    /// `JVP_CONSTANT_ARRAY_OUTPUT` keep out.
    fn jvp(&mut self, f: &mut Function, index: usize) {
        let (calls, loop_return, constant_literal_output, constant_reduction_argument) = {
            let walk = Calls::walk(f);
            (
                walk.found,
                walk.loop_return,
                walk.constant_literal_output,
                walk.constant_reduction_argument,
            )
        };
        let callees: Vec<usize> = calls.iter().map(|c| c.callee).collect();
        if !index.is_multiple_of(JVP_EVERY) || callees.iter().any(|&c| !self.sigs[c].jvp) {
            return;
        }
        // See `INSIDE_JVP`.
        if f.inner > 0 && !INSIDE_JVP {
            return;
        }
        // What the macro does not compile in forward mode yet (each has its minimized case,
        // `#[ignore]`d, in `tests/regressions.rs`).
        if !JVP_RETURN_IN_LOOPS && loop_return
            || !JVP_CONSTANT_REFERENCE_ARGUMENTS
                && calls
                    .iter()
                    .any(|c| c.differentiated && c.constant_reference)
            || !JVP_CONSTANT_ARRAY_OUTPUT && constant_literal_output
            || !JVP_CONSTANT_REDUCTION_ARGUMENTS && constant_reduction_argument
        {
            return;
        }
        f.jvp = true;
        self.sigs[index].jvp = true;
        let options = f.wrt.is_some() || !f.split.is_empty();
        f.jvp_first = options && index.is_multiple_of(3);
        self.cov("jvp");
        if f.wrt.is_some() {
            self.cov("jvp with wrt(..)");
        }
        if !f.split.is_empty() {
            self.cov("jvp with split(..)");
        }
        if f.jvp_first {
            self.cov("jvp before the other options");
        }
        if let Some(wrap) = &f.wrap {
            self.cov("struct parameter with jvp");
            if wrap.by_ref {
                self.cov("struct parameter by reference with jvp");
            }
            if f.output.array().is_some() {
                self.cov("struct parameter with jvp, returning an array");
            }
        }
        if f.fl == Fl::F32 {
            self.cov("jvp in an f32 function");
        }
        match f.output {
            Output::Scalar => {}
            Output::Array(_) => self.cov("jvp of a program returning [F; M]"),
            Output::Vec(_) => self.cov("jvp of a program returning Vec<F>"),
        }
        if !callees.is_empty() {
            self.cov("call of a program in a jvp program");
        }
        if callees
            .iter()
            .any(|&c| self.sigs[c].output.array().is_some())
        {
            self.cov("call of a program returning an array in a jvp program");
        }
        let body = Printer {
            f,
            sigs: &self.sigs,
            names: RefCell::new(Vec::new()),
        }
        .body(false);
        if ["softsign(", "smooth_max(", "leaky(", "scaled("]
            .iter()
            .any(|gate| body.contains(gate))
        {
            self.cov("hand-written gate in a jvp program");
        }
        if ["sigmoid(", "relu(", "softplus("]
            .iter()
            .any(|gate| body.contains(gate))
        {
            self.cov("runtime gate in a jvp program");
        }
    }

    /// Gives every `HVP_EVERY`-th program, and every program that calls others, `hvp` in its
    /// attribute where the macro writes `f_hvp` (README, "Second order"): an f64 program with
    /// `jvp` that returns a scalar,
    /// computes in f64 only, has no `split(..)`, binds no array a call returns, and calls only
    /// programs with `hvp`, the runtime's gates and `softsign` (whose `softsign_hvp_tangent`
    /// is written by hand above). Nothing is drawn: the programs are unchanged but for their
    /// attribute.
    fn hvp(&mut self, f: &mut Function, index: usize) {
        let calls = Calls::walk(f).found;
        // Every `HVP_EVERY`-th program, and the programs that call only programs with `hvp`.
        let chosen = index.is_multiple_of(HVP_EVERY) || !calls.is_empty();
        if !chosen
            || !f.jvp
            || f.inner > 0
            || f.fl != Fl::F64
            || f.output != Output::Scalar
            || f.narrowed
            || !f.split.is_empty()
            || f.vars.iter().any(|v| matches!(v.kind, Kind::Output(..)))
            || !HVP_VEC_BUFFERS
                && f.vars
                    .iter()
                    .any(|v| matches!(v.kind, Kind::Buffer(_, true)))
        {
            return;
        }
        if calls.iter().any(|c| !self.sigs[c.callee].hvp) {
            return;
        }
        // See `STRUCT_HVP_SKIPPED_FIELDS`.
        if !STRUCT_HVP_SKIPPED_FIELDS && f.wrap.as_ref().is_some_and(|wrap| wrap.skip.is_some()) {
            return;
        }
        let body = Printer {
            f,
            sigs: &self.sigs,
            names: RefCell::new(Vec::new()),
        }
        .body(false);
        if ["smooth_max(", "leaky(", "scaled(", " as f32"]
            .iter()
            .any(|gate| body.contains(gate))
            || !HVP_RUNTIME_GATES
                && ["sigmoid(", "relu(", "softplus("]
                    .iter()
                    .any(|gate| body.contains(gate))
            || !HVP_IMPORTED_GATES
                && ["sigmoid(", "relu(", "softplus("].iter().any(|gate| {
                    body.match_indices(gate)
                        .any(|(at, _)| !body[..at].ends_with("::"))
                })
        {
            return;
        }
        f.hvp = true;
        self.sigs[index].hvp = true;
        self.cov("hvp");
        if !calls.is_empty() {
            self.cov("call of a program in an hvp program");
        }
        if body.contains("softsign(") {
            self.cov("hand-written gate in an hvp program");
        }
        if f.has_loop {
            self.cov("loop in an hvp program");
        }
        if f.wrt.is_some() {
            self.cov("hvp with wrt(..)");
        }
        if let Some(wrap) = &f.wrap {
            self.cov("struct parameter with hvp");
            if !wrap.by_ref {
                self.cov("struct parameter by value with hvp");
            }
        }
    }

    /// Struct parameters (`STRUCT_PARAMS`): whether `f`, the `index`-th program, takes some of
    /// its float parameters in a generated struct. Decided once every program is drawn, before
    /// `jvp` and `hvp`, and only for a program that no program calls: `turn` counts those, and
    /// every `STRUCT_EVERY`-th of them does (a caller would have to build the struct; nor do the
    /// programs from `INSIDE_FROM` on take derivatives of it inside, as the macro writes no
    /// `g_jvp_jvp` or `g_grad_jvp` for it); it then gets `jvp` and `hvp` by the others' rule
    /// (`STRUCT_JVP`, `STRUCT_HVP`). The choices are drawn from a stream of their own (`STRUCT_SEED`): which float parameters
    /// (scalars that are not `mut`, `[F; N]`, `Vec<F>`; with `wrt(..)`, only those it lists, a
    /// struct outside `wrt(..)` being a constant), whether the `usize` parameter becomes a
    /// `#[backprop(skip)]` field, and whether the struct comes by reference or by value.
    fn wrap(&mut self, f: &mut Function, index: usize, turn: usize) {
        // Programs returning `Vec<F>` are few: every other one of them takes a struct.
        let every = match f.output {
            Output::Vec(_) => 2,
            _ => STRUCT_EVERY,
        };
        if !STRUCT_PARAMS
            || !turn.is_multiple_of(every)
            || !STRUCT_VEC_OUTPUTS && matches!(f.output, Output::Vec(_))
        {
            return;
        }
        let mut rng = Rng(SEED ^ STRUCT_SEED ^ (index as u64).wrapping_mul(0x9E37_79B9));
        let eligible: Vec<usize> = f
            .params
            .iter()
            .copied()
            .filter(|&p| {
                let v = &f.vars[p];
                let kind_ok = match v.kind {
                    Kind::Scalar => !v.mutable,
                    Kind::Array(_) | Kind::Vec(_) => true,
                    _ => false,
                };
                kind_ok && f.wrt.as_ref().is_none_or(|wrt| wrt.contains(&p))
            })
            .collect();
        if eligible.is_empty() {
            return;
        }
        let mut fields: Vec<usize> = eligible
            .iter()
            .copied()
            .filter(|_| rng.chance(0.7))
            .collect();
        if fields.is_empty() {
            fields.push(eligible[rng.below(eligible.len())]);
        }
        let skip = f
            .params
            .iter()
            .copied()
            .find(|&p| f.vars[p].kind == Kind::Usize)
            .filter(|_| rng.chance(0.6));
        let by_ref = rng.chance(0.5);
        let mut paths: Vec<(usize, String)> = fields
            .iter()
            .map(|&v| (v, format!("p.{}", f.vars[v].name)))
            .collect();
        if let Some(n) = skip {
            paths.push((n, format!("p.{}", f.vars[n].name)));
        }
        f.wrap = Some(Wrap {
            name: format!("S{}", &f.name[1..]),
            by_ref,
            fields: fields.clone(),
            skip,
            paths,
            printing: Cell::new(false),
        });
        self.sigs[index].wrapped = true;
        // See `STRUCT_REF_ARRAY_FIELD_ARGUMENTS`: such a struct comes by value.
        if by_ref && !STRUCT_REF_ARRAY_FIELD_ARGUMENTS {
            let wrap = f.wrap.as_ref().expect("just set");
            wrap.printing.set(true);
            let body = Printer {
                f,
                sigs: &self.sigs,
                names: RefCell::new(Vec::new()),
            }
            .body(false);
            wrap.printing.set(false);
            let passed = fields.iter().any(|&v| {
                let path = format!("p.{}", f.vars[v].name);
                matches!(f.vars[v].kind, Kind::Array(_))
                    && body.match_indices(&path).any(|(at, _)| {
                        let after = &body[at + path.len()..];
                        !body[..at].ends_with('&')
                            && (after.starts_with(',') || after.starts_with(')'))
                    })
            });
            if passed {
                f.wrap.as_mut().expect("just set").by_ref = false;
            }
        }
        let by_ref = f.wrap.as_ref().is_some_and(|wrap| wrap.by_ref);
        self.cov(if by_ref {
            "struct parameter by reference"
        } else {
            "struct parameter by value"
        });
        for &v in &fields {
            self.cov(match f.vars[v].kind {
                Kind::Scalar => "struct field: a scalar",
                Kind::Array(_) => "struct field: [F; N]",
                _ => "struct field: Vec<F>",
            });
        }
        if skip.is_some() {
            self.cov("struct field: #[backprop(skip)] usize");
        }
        if f.wrt.is_some() {
            self.cov("struct parameter in wrt(..)");
        }
        if !f.split.is_empty() {
            self.cov("struct parameter with split(..)");
        }
        match f.output {
            Output::Scalar => {}
            Output::Array(_) => self.cov("struct parameter of a program returning [F; M]"),
            Output::Vec(_) => self.cov("struct parameter of a program returning Vec<F>"),
        }
        if f.fl == Fl::F32 {
            self.cov("struct parameter in an f32 function");
        }
    }

    /// `(x as f64).m() as f32`: a stretch of f64 inside an f32 program.
    fn island(&mut self, d: u32) -> (E, f64) {
        if self.extended && self.rng.chance(0.3) {
            if self.rng.chance(0.3) {
                return self.same_cast(d);
            }
            self.cov("cast f32 -> f64 -> f32");
            self.cov("cast f32 -> f64 -> f32 without a method");
            let (e, b) = self.expr(d);
            return (E::Island(boxed(e), ""), b);
        }
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

    /// `(x as f32).m() as f64`: a stretch of f32 inside an f64 program, whose gradient then
    /// has f32 precision (see `NARROWED_EXACT`).
    fn narrow(&mut self, d: u32) -> (E, f64) {
        // Rarely: the program's gradients are then checked to f32 precision only.
        match self.rng.below(10) {
            0..=1 => return self.same_cast(d),
            2..=7 => return self.leaf(),
            _ => {}
        }
        let name = self.rng.pick(&["sin", "tanh", "atan", "exp", ""]);
        self.narrowed = true;
        self.cov("cast f64 -> f32 -> f64");
        match name {
            "exp" => {
                let (e, b) = self.bounded(d, 2.0);
                (E::Narrow(boxed(e), name), b.exp())
            }
            "" => {
                self.cov("cast f64 -> f32 -> f64 without a method");
                let (e, b) = self.expr(d);
                (E::Narrow(boxed(e), name), b)
            }
            _ => {
                let (e, _) = self.expr(d);
                (E::Narrow(boxed(e), name), 1.6)
            }
        }
    }

    /// `x as f64` in an f64 program (`x as f32` in an f32 one).
    fn same_cast(&mut self, d: u32) -> (E, f64) {
        let (e, b) = self.expr(d);
        self.cov("cast to the same float type");
        self.allow("clippy::unnecessary_cast");
        (E::Cast(boxed(e)), b)
    }

    fn allow(&mut self, lint: &'static str) {
        if !self.allows.contains(&lint) {
            self.allows.push(lint);
        }
    }

    // ----- conditions and branches ----------------------------------------------------------

    fn int_cond(&mut self, v: usize) -> Cond {
        self.vars[v].uses += 1;
        self.cov("integer condition");
        let op = self.rng.pick(&[">", "<", "==", "!=", ">=", "<="]);
        let value = match self.vars[v].kind {
            Kind::Usize => 1 + self.rng.below(2) as i64,
            Kind::Index(count) | Kind::Counter(count) | Kind::Cursor(count) => {
                1 + self.rng.below(count.max(2) - 1) as i64
            }
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
        // The same on both sides, also once the dual reference drops same-type casts.
        let b = if uncast(&a) == uncast(&b) {
            E::Lit(0.5)
        } else {
            b
        };
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
        let ints = self.visible_where(|v| {
            matches!(
                v.kind,
                Kind::Usize | Kind::I32 | Kind::Index(_) | Kind::Counter(_) | Kind::Cursor(_)
            )
        });
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
        self.open_arms += 1;

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
                self.assignable()
            };
            let r = self.rng.below(100);
            let store = if self.mutation && !value && (60..80).contains(&r) && self.may_capture() {
                self.arm_store("buffer element written in an if arm")
            } else {
                None
            };
            if let Some(store) = store {
                stmts.push(store);
            } else if !mutables.is_empty() && (r < 15 || (!value && r < 60)) {
                stmts.push(self.arm_assign());
            } else if !mutables.is_empty() && r >= 90 && i > 0 && self.arm_depth < 3 {
                // Never an arm's only statement: clippy's collapsible_if.
                self.cov("nested if statement");
                let (chain, _) = self.if_chain(false);
                stmts.push(ArmStmt::If(chain));
            } else if !mutables.is_empty()
                && (84..90).contains(&r)
                && self.iterations < 5
                && self.no_nested_loops == 0
            {
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
                        let mutables = self.assignable();
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
        self.open_arms -= 1;
        self.scopes.pop();
        self.arm_depth -= 1;
        (Block { stmts, tail }, bound)
    }

    /// A `for` loop over a range whose body assigns `mut` variables in scope (loop-carried).
    fn for_loop(&mut self) -> Option<Loop> {
        self.begin_loop();
        let mutables = self.assignable();
        if mutables.is_empty() || self.no_assignments {
            self.open_loops.pop();
            return None;
        }
        let arrays = self.visible_where(|v| v.kind.elements().is_some());
        let usizes = self.visible_where(|v| v.kind == Kind::Usize);
        // From `ITERATORS_FROM` on, most loops run over an array's length (element loops).
        let draw = if self.iterators && self.rng.chance(0.6) {
            0
        } else {
            self.rng.below(4)
        };
        let (count, iterations) = match draw {
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
        let Some(name) = ["i", "j", "l"]
            .into_iter()
            .find(|n| !taken.iter().any(|t| t == n))
        else {
            self.open_loops.pop();
            return None;
        };
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
        let mut continued = false;
        let statements = 1 + self.rng.below(3);
        let breaks = self.extended && self.may_record(true) && self.rng.chance(0.25);
        let break_at = if breaks {
            self.rng.below(statements)
        } else {
            usize::MAX
        };
        // A loop among the function's own statements may return instead of breaking.
        let return_at =
            if self.loop_returns && !breaks && self.arm_depth == 1 && self.rng.chance(0.7) {
                self.rng.below(statements)
            } else {
                usize::MAX
            };
        self.enter_loop(breaks);
        let guarded = breaks || return_at != usize::MAX;
        self.guarded += usize::from(guarded);
        for i in 0..statements {
            if i == break_at && (BREAK_AFTER_CONTINUE || !continued) {
                body.push(self.break_guard("break guard in a for loop"));
            }
            if i == return_at && !continued {
                body.push(self.return_guard());
            }
            // From `OUTPUTS_FROM` on: `let r: [F; M] = g(..);` in the loop body.
            if self.outputs
                && self.rng.chance(0.2)
                && let Some(stmt) = self.result_let()
            {
                body.push(stmt);
                continue;
            }
            if self.extended {
                let r = self.rng.below(100);
                let forced = std::mem::take(&mut self.force_mutation);
                if self.mutation && (forced || (30..48).contains(&r)) && self.iterations < 5 {
                    // A counter stepped by hand, declared in the loop body (`lparamsidx` of
                    // GMM, reset for every point).
                    if !forced
                        && (30..37).contains(&r)
                        && let Some(stmts) = self.counter_walk()
                    {
                        body.extend(stmts);
                        continue;
                    }
                    let stmts = self.mutation();
                    if !stmts.is_empty() {
                        body.extend(stmts);
                        continue;
                    }
                }
                if (14..24).contains(&r)
                    && self.iterations < 5
                    && (SCRATCH_BUFFERS_IN_ARMS || self.open_arms == 0)
                {
                    self.cov("per-iteration scratch buffer");
                    body.extend(self.buffer(true));
                    continue;
                }
                if (24..30).contains(&r)
                    && self.iterations < 5
                    && self.no_nested_loops == 0
                    && let Some(stmts) = self.while_loop()
                {
                    self.cov("while loop in a for loop");
                    body.extend(stmts);
                    continue;
                }
            }
            let r = self.rng.below(100);
            if r < 15 {
                self.cov("continue guard");
                continued = true;
                body.push(ArmStmt::Continue(self.cond()));
            } else if r < 65 {
                body.push(self.arm_assign());
            } else if r >= 92 && i > 0 {
                self.cov("nested if statement");
                let (chain, _) = self.if_chain(false);
                body.push(ArmStmt::If(chain));
            } else if r >= 86 && self.iterations < 5 && self.no_nested_loops == 0 {
                match self.for_loop() {
                    Some(l) => body.push(ArmStmt::For(l)),
                    None => body.push(self.arm_assign()),
                }
            } else {
                body.push(self.arm_let());
            }
        }
        self.leave_loop(breaks);
        self.guarded -= usize::from(guarded);
        // Every `let` and the loop variable are read, and something is assigned.
        let own: Vec<usize> = self.scopes.last().cloned().unwrap_or_default();
        for id in own {
            if self.vars[id].uses == 0 {
                // From `ITERATORS_FROM` on, a loop over `w.len()` reads its variable as `w[i]`
                // (an element loop, `Printer::element_loop`).
                let term = match count {
                    Count::Len(a) if self.iterators && id == var => {
                        self.vars[id].uses += 1;
                        let l = self.lit();
                        bin(
                            Op::Mul,
                            E::Elem(a, Index::Loop(var, 0, iterations)),
                            E::Lit(l),
                        )
                    }
                    _ => self.read_term(id),
                };
                let term = self.carried_term(id, term);
                let target = self.rng.pick(&mutables);
                self.vars[target].uses += 1;
                self.arm_assigned.push(target);
                self.cov("assignment in an arm");
                body.push(ArmStmt::Assign(target, Some(Op::Add), term));
            }
        }
        if let Count::Len(a) = count
            && self.iterators
        {
            // An element read `w[i]`, for the element loop to bind; at times of another array
            // too (`q[i]`, of at least as many elements), for a `zip`.
            let others = self.visible_where(|v| {
                v.kind.elements().is_some_and(|n| n >= iterations) && v.name != self.vars[a].name
            });
            let mut read = vec![a];
            if !others.is_empty() && self.rng.chance(0.5) {
                read.push(self.rng.pick(&others));
            }
            for x in read {
                let l = self.lit();
                let term = bin(
                    Op::Mul,
                    E::Elem(x, Index::Loop(var, 0, iterations)),
                    E::Lit(l),
                );
                let target = self.rng.pick(&mutables);
                self.vars[target].uses += 1;
                self.vars[x].uses += 1;
                self.arm_assigned.push(target);
                body.insert(0, ArmStmt::Assign(target, Some(Op::Add), term));
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
        self.end_loop(&body);
        Some(Loop {
            var,
            from: None,
            start: 0,
            count,
            rev,
            body,
        })
    }

    /// `v * l` for a variable `v` that is not read yet: a scalar, a loop variable or counter as
    /// a float, a buffer's first element.
    fn read_term(&mut self, id: usize) -> E {
        let l = self.lit();
        self.vars[id].uses += 1;
        let v = match self.vars[id].kind {
            Kind::Index(_) | Kind::Counter(_) | Kind::Cursor(_) | Kind::Usize | Kind::I32 => {
                E::IntF(id)
            }
            Kind::Buffer(..)
            | Kind::Output(..)
            | Kind::Array(_)
            | Kind::ArrayRef(_)
            | Kind::Slice(_)
            | Kind::Vec(_) => E::Elem(id, Index::Lit(0)),
            Kind::Scalar | Kind::Bool => E::Var(id),
        };
        bin(Op::Mul, v, E::Lit(l))
    }

    /// The term `read_term` made of a loop body's unread `let` `id`, to be added to a
    /// loop-carried variable: from `MUTATION_FROM` on, squashed, since the `let` may read that
    /// variable and grow with it (`let h = x.exp_m1(); .. x += h * 0.9;` compounds over the
    /// iterations and overflows).
    fn carried_term(&mut self, id: usize, term: E) -> E {
        if self.mutation && self.vars[id].kind == Kind::Scalar {
            self.squash(term).0
        } else {
            term
        }
    }

    fn arm_let(&mut self) -> ArmStmt {
        // From `INSIDE_FROM` on, a derivative inside, at times.
        if self.inside
            && self.rng.chance(0.3)
            && let Some(stmt) = self.inner()
        {
            return stmt;
        }
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
        let mutables = self.assignable();
        let v = self.rng.pick(&mutables);
        self.arm_assign_to(v)
    }

    fn arm_assign_to(&mut self, v: usize) -> ArmStmt {
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

    // ----- local buffers, `while` loops, `break` guards -------------------------------------

    /// `if cond { break; }`, its condition often on a loop-carried variable.
    fn break_guard(&mut self, what: &str) -> ArmStmt {
        let mutables = self.visible_where(|v| v.mutable && v.kind == Kind::Scalar);
        if !mutables.is_empty() && self.rng.chance(0.6) {
            self.focus = Some(self.rng.pick(&mutables));
        }
        let cond = self.cond();
        self.focus = None;
        self.cov(what);
        if !BREAK_CONDITION_ONLY_READER {
            // Read again later (in the loop's or the function's value).
            let mut read = Vec::new();
            cond_reads(&cond, &mut read);
            for v in read {
                if matches!(
                    self.vars[v].kind,
                    Kind::Scalar | Kind::Buffer(..) | Kind::Output(..)
                ) {
                    self.vars[v].uses = 0;
                }
            }
        }
        // The lines the breaking iteration runs before it ends (from `BREAK_LINES_FROM` on).
        let mut before = Vec::new();
        if self.break_lines && !self.assignable().is_empty() && self.rng.chance(0.6) {
            self.cov("lines before a break");
            for _ in 0..1 + self.rng.below(2) {
                before.push(self.arm_assign());
            }
        }
        ArmStmt::Break(cond, before)
    }

    /// A `while` loop's exit: a `break` guard, or a `return` guard.
    fn while_exit(&mut self, returns: bool) -> ArmStmt {
        if returns {
            self.return_guard()
        } else {
            self.break_guard("break guard in a while loop")
        }
    }

    /// `if cond { ..; return value; }` in a loop body, the assignments before the `return`
    /// being those the returning iteration runs.
    fn return_guard(&mut self) -> ArmStmt {
        let cond = self.cond();
        let mut before = Vec::new();
        if !self.assignable().is_empty() && self.rng.chance(0.4) {
            before.push(self.arm_assign());
        }
        self.budget = 5;
        let (e, b) = self.expr(3);
        let (mut e, _) = self.limit(e, b);
        // The returned value reads what was assigned just before (else it is never read).
        for stmt in &before {
            if let ArmStmt::Assign(v, ..) = stmt {
                let term = self.read_term(*v);
                e = bin(Op::Add, e, term);
            }
        }
        self.cov("return in a loop");
        ArmStmt::Return(cond, before, e)
    }

    /// Whether the loop about to be generated may record how it ran (a `while` loop, a
    /// `break` guard): see `NESTED_RECORDING_LOOPS`. Called before the loop's scope is
    /// opened, or `inside` it.
    fn may_record(&self, inside: bool) -> bool {
        NESTED_RECORDING_LOOPS || self.arm_depth <= usize::from(inside)
    }

    /// Starts a loop's body; one with a `break` guard holds no loops (see
    /// `BREAK_IN_LOOP_WITH_INNER_LOOPS`).
    fn enter_loop(&mut self, breaks: bool) {
        if breaks && !BREAK_IN_LOOP_WITH_INNER_LOOPS {
            self.no_nested_loops += 1;
        }
    }

    fn leave_loop(&mut self, breaks: bool) {
        if breaks && !BREAK_IN_LOOP_WITH_INNER_LOOPS {
            self.no_nested_loops -= 1;
        }
    }

    /// The `let mut` scalars the code being generated may assign: in a loop, not those that a
    /// loop finished before this one started assigned (see `LOOP_AFTER_LOOP_ON_A_VARIABLE`).
    fn assignable(&self) -> Vec<usize> {
        let all = self.visible_where(|v| v.mutable && v.kind == Kind::Scalar);
        let Some(&start) = self.open_loops.last() else {
            return all;
        };
        if LOOP_AFTER_LOOP_ON_A_VARIABLE || !self.extended {
            return all;
        }
        all.into_iter()
            .filter(|&v| {
                let root = self.vars[v].root;
                !self.frozen.iter().any(|&(r, at)| r == root && start > at)
            })
            .collect()
    }

    /// A loop starts (before anything of it is generated).
    fn begin_loop(&mut self) {
        self.loop_serial += 1;
        self.open_loops.push(self.loop_serial);
    }

    /// It ends: later loops do not assign what its `body` assigned.
    fn end_loop(&mut self, body: &[ArmStmt]) {
        self.open_loops.pop();
        let mut assigned = Vec::new();
        assigned_in(body, &mut assigned);
        for v in assigned {
            let root = self.vars[v].root;
            self.frozen.push((root, self.loop_serial));
        }
    }

    /// The name of a loop variable that is free here.
    fn loop_name(&self) -> Option<&'static str> {
        let taken: Vec<&str> = self
            .visible()
            .iter()
            .map(|&v| self.vars[v].name.as_str())
            .collect();
        ["i", "j", "l"].into_iter().find(|n| !taken.contains(n))
    }

    /// Opens the scope of a loop over `iterations` with the variable `name`; returns the
    /// variable and the iteration count to restore.
    fn open_loop(&mut self, name: &str, iterations: usize) -> (usize, usize) {
        self.begin_loop();
        self.scopes.push(Vec::new());
        self.arm_depth += 1;
        self.any_loop = true;
        let outer = self.iterations;
        self.iterations *= iterations.max(1);
        let var = self.declare(
            name,
            Kind::Index(iterations.max(1)),
            iterations as f64,
            false,
        );
        (var, outer)
    }

    fn close_loop(&mut self, outer: usize, body: &[ArmStmt]) {
        self.end_loop(body);
        self.iterations = outer;
        self.scopes.pop();
        self.arm_depth -= 1;
        if self.arm_depth == 0 {
            self.after_branches();
        }
    }

    /// The variables of the innermost scope not read yet, added to `e` (which is bound by
    /// `b`): a loop body's `let` lines and loop variable end up in its buffer write.
    fn sink(&mut self, mut e: E, mut b: f64) -> (E, f64) {
        let own: Vec<usize> = self.scopes.last().cloned().unwrap_or_default();
        for id in own {
            if self.vars[id].uses == 0
                && matches!(self.vars[id].kind, Kind::Scalar | Kind::Index(_))
            {
                let term = self.read_term(id);
                b += self.vars[id].bound.max(1.5) * 2.5;
                e = bin(Op::Add, e, term);
            }
        }
        (e, b)
    }

    /// An expression that reads `extra` (an element of the buffer being written: `b[i - 1]`).
    fn expr_reading(&mut self, depth: u32, extra: Option<(E, f64)>) -> (E, f64) {
        self.extra = extra.clone();
        self.extra_used = false;
        self.budget = 3 + self.rng.below(5) as i32;
        let (mut e, mut b) = self.expr(depth);
        self.extra = None;
        if let (Some((x, xb)), false) = (extra, self.extra_used) {
            let l = self.lit();
            b += xb * l;
            e = bin(Op::Add, e, bin(Op::Mul, x, E::Lit(l)));
        }
        (e, b)
    }

    /// The value written into an element: bounded, never a bare variable (clippy's
    /// manual_memcpy), reading `extra` if given; squashed when `squash` (a recurrence or an
    /// accumulation would compound it).
    fn write_value(&mut self, extra: Option<(E, f64)>, squash: bool, sink: bool) -> (E, f64) {
        let (e, b) = self.expr_reading(3, extra);
        let (e, b) = if sink { self.sink(e, b) } else { (e, b) };
        if squash {
            self.squash(e)
        } else {
            let (e, b) = self.limit(e, b);
            (self.compound(e), b * 2.5)
        }
    }

    /// `let` lines and assignments of loop-carried variables at the top of a buffer's loop.
    fn loop_prelude(&mut self, body: &mut Vec<ArmStmt>, lets: bool) {
        let mutables = self.assignable();
        for _ in 0..self.rng.below(3) {
            if !mutables.is_empty() && self.rng.chance(0.6) {
                self.cov("loop-carried variable read by a buffer write");
                let v = self.rng.pick(&mutables);
                body.push(self.arm_assign_to(v));
            } else if lets {
                body.push(self.arm_let());
            }
        }
    }

    /// After writing element `index` in its loop: `s += f(b[index])`, a read of the element
    /// in the loop that writes it (the loop then owns the buffer's elements).
    fn read_back(&mut self, body: &mut Vec<ArmStmt>, buffer: usize, index: Index) {
        let mutables = self.assignable();
        if mutables.is_empty() || !self.rng.chance(0.4) {
            return;
        }
        let target = self.rng.pick(&mutables);
        let extra = (E::Elem(buffer, index), self.vars[buffer].bound);
        let (e, _) = self.expr_reading(2, Some(extra));
        let (e, b) = self.squash(e);
        let op = self.rng.pick(&[Op::Add, Op::Sub]);
        self.vars[target].uses += 1;
        self.vars[target].bound = (self.vars[target].bound + b) * self.iterations as f64;
        let root = self.vars[target].root;
        self.vars[root].assigned = true;
        self.arm_assigned.push(target);
        self.cov("buffer element read in the loop that writes it");
        self.cov_assignment(Some(op));
        body.push(ArmStmt::Assign(target, Some(op), e));
    }

    /// How many times a buffer's loop runs over its `k` elements: `k` (a literal, or `w.len()`
    /// when the buffer is as long as `w`), or a `usize` parameter (0..=3) when `k >= 3`.
    fn buffer_count(&mut self, k: usize, len_of: Option<usize>) -> (Count, usize) {
        if let Some(w) = len_of {
            self.vars[w].uses += 1;
            return (Count::Len(w), k);
        }
        let usizes = self.visible_where(|v| v.kind == Kind::Usize);
        if k >= 3 && !usizes.is_empty() && self.rng.chance(0.3) {
            let n = self.rng.pick(&usizes);
            self.vars[n].uses += 1;
            self.cov("buffer loop over a usize parameter");
            return (Count::Param(n), 3);
        }
        (Count::Lit(k), k)
    }

    /// A local buffer and its plan: the statements that write it, after which expressions may
    /// read it. In a loop body (`scratch`), a per-iteration buffer written at literal indices
    /// or by a nested loop. Before `MUTATION_FROM`, every plan keeps the macro's former rule:
    /// every write of an element comes before every read of it, but in one loop that writes
    /// element `i` in iteration `i` and reads only that element after writing it, or those of
    /// earlier iterations (`b[i - 1]` forwards, `b[i + 1]` reversed). From `MUTATION_FROM` on,
    /// the plans also update elements in place (`b[i] *= e`, `/=`) and overwrite elements read
    /// before, and `Gen::mutation` writes the buffer again once it is readable.
    fn buffer(&mut self, scratch: bool) -> Vec<ArmStmt> {
        let Some(name) = BUFFER_NAMES
            .into_iter()
            .find(|n| !self.vars.iter().any(|v| v.name == *n))
        else {
            return Vec::new();
        };
        let mut plan = if scratch {
            self.rng.pick(&["literal", "literal", "fill"])
        } else {
            self.rng.pick(&[
                "fill",
                "fill",
                "recurrence",
                "reversed",
                "offset",
                "accumulate",
                "accumulate",
                "literal",
                "literal",
            ])
        };
        if plan != "literal" && (self.loop_name().is_none() || self.no_nested_loops > 0) {
            plan = "literal";
        }
        if plan == "accumulate" && self.iterations > 1 {
            plan = "fill";
        }
        let plus = usize::from(matches!(plan, "reversed" | "offset"));
        let is_vec = self.rng.chance(0.6) && (VEC_SCRATCH_BUFFERS || !scratch);
        let arrays = self.visible_where(|v| v.kind.elements().is_some());
        let len_of = if is_vec && !arrays.is_empty() && plan != "literal" && self.rng.chance(0.4) {
            Some(self.rng.pick(&arrays))
        } else {
            None
        };
        let (k, len) = match len_of {
            Some(w) => {
                self.vars[w].uses += 1;
                self.cov("buffer of length w.len()");
                let k = self.vars[w].kind.elements().unwrap_or(1);
                (k, BufLen::Len(w, plus))
            }
            None => {
                let k = 2 + self.rng.below(3);
                if is_vec {
                    self.allow("clippy::useless_vec");
                }
                (k, BufLen::Lit(k + plus))
            }
        };
        let init = self.rng.pick(&[0.0, 0.0, 0.5, 1.0]);
        let buffer = self.declare(name, Kind::Buffer(k + plus, is_vec), init, false);
        self.vars[buffer].phase = Phase::Writing;
        self.cov(if is_vec {
            "local buffer vec![0.0; n]"
        } else {
            "local buffer [0.0; N]"
        });
        let mut stmts = vec![ArmStmt::Buffer(buffer, init, len, BufTy::Plain)];
        match plan {
            "fill" => self.fill(&mut stmts, buffer, k, len_of, true),
            "recurrence" | "reversed" | "offset" => {
                self.recurrence(&mut stmts, buffer, k, len_of, plan)
            }
            "accumulate" => {
                if self.rng.chance(0.3) {
                    self.cov("buffer written by two loops");
                    self.fill(&mut stmts, buffer, k, len_of, false);
                }
                self.accumulate(&mut stmts, buffer, k, len_of);
            }
            _ => self.literal_writes(&mut stmts, buffer, k + plus),
        }
        self.vars[buffer].phase = Phase::Readable;
        // The element type, unless the first write (a plain `=` of a value that does not read
        // the buffer) lets rustc infer it before anything calls a method on an element.
        let infers = match first_store(&stmts[1..]) {
            Some(ArmStmt::Store(_, _, None, e)) => !mentions_name(e, &self.vars, name),
            _ => false,
        };
        self.buffer_ty(&mut stmts[0], infers);
        stmts
    }

    /// How the declaration `decl` says the element type: not at all when `infers` (the first
    /// write fixes it before anything calls a method on an element) and the dice say so, else
    /// by the literal's suffix or an annotation.
    fn buffer_ty(&mut self, decl: &mut ArmStmt, infers: bool) {
        let by_len = matches!(decl, ArmStmt::Buffer(_, _, BufLen::Len(..), _));
        let ty = match self.rng.below(3) {
            0 if infers => BufTy::Plain,
            2 if ANNOTATED_LEN_BUFFERS || !by_len => BufTy::Annotated,
            _ => BufTy::Suffix,
        };
        self.cov(match ty {
            BufTy::Plain => "buffer declared without its type",
            BufTy::Suffix => "buffer declared with a typed literal",
            BufTy::Annotated => "buffer declared with a type annotation",
        });
        if let ArmStmt::Buffer(_, _, _, t) = decl {
            *t = ty;
        }
    }

    fn grow(&mut self, buffer: usize, bound: f64) {
        self.vars[buffer].bound = self.vars[buffer].bound.max(bound);
    }

    /// `for i in 0..k { .. b[i] = e; .. }` (reversed at times), `e` perhaps written in both arms
    /// of an `if`, perhaps followed by `b[i] += e2;` and a read of `b[i]` (when `reads`).
    fn fill(
        &mut self,
        stmts: &mut Vec<ArmStmt>,
        buffer: usize,
        k: usize,
        len_of: Option<usize>,
        reads: bool,
    ) {
        let name = self.loop_name().expect("a free loop name");
        let (count, iterations) = self.buffer_count(k, len_of);
        let rev = self.rng.chance(0.3);
        let brk = reads && self.may_record(false) && self.rng.chance(0.1);
        let (i, outer) = self.open_loop(name, iterations);
        let at = Index::Loop(i, 0, k);
        self.vars[i].uses += 1;
        let mut body = Vec::new();
        if brk && self.rng.chance(0.5) {
            body.push(self.break_guard("break guard in a buffer's loop"));
        }
        self.loop_prelude(&mut body, true);
        if self.rng.chance(0.3) {
            // A write in each arm (or in one: the element keeps its start value otherwise).
            self.cov("buffer written in both arms of an if");
            let cond = self.cond();
            let (e1, b1) = self.write_value(None, false, true);
            let (e2, b2) = self.write_value(None, false, true);
            self.grow(buffer, b1.max(b2));
            let store = |e| Block {
                stmts: vec![ArmStmt::Store(buffer, at.clone(), None, e)],
                tail: None,
            };
            let otherwise = if self.rng.chance(0.8) {
                Some(store(e2))
            } else {
                // What `e2` read is not read after all.
                let mut read = Vec::new();
                expr_reads(&e2, &mut read);
                for v in read {
                    self.vars[v].uses = self.vars[v].uses.saturating_sub(1);
                }
                None
            };
            body.push(ArmStmt::If(IfChain {
                arms: vec![(cond, store(e1))],
                otherwise,
            }));
        } else {
            let (e, b) = self.write_value(None, false, true);
            self.grow(buffer, b);
            body.push(ArmStmt::Store(buffer, at.clone(), None, e));
        }
        if self.rng.chance(0.3) {
            // In place, once per element: `b[i] *= e` and `/=` from `MUTATION_FROM` on.
            let op = if self.mutation {
                self.rng.pick(&[Op::Add, Op::Sub, Op::Mul, Op::Div])
            } else {
                self.rng.pick(&[Op::Add, Op::Sub])
            };
            self.cov_in_place(op);
            let old = self.vars[buffer].bound;
            let (e, grown) = match op {
                Op::Add | Op::Sub => {
                    let (e, b) = self.expr_reading(3, None);
                    let (e, b) = self.limit(e, b);
                    (e, old + b)
                }
                _ => self.update_rhs(Some(op), None, old, false),
            };
            self.grow(buffer, grown);
            body.push(ArmStmt::Store(buffer, at.clone(), Some(op), e));
        }
        if reads {
            self.read_back(&mut body, buffer, at);
        }
        if brk && !matches!(body.first(), Some(ArmStmt::Break(..))) {
            body.push(self.break_guard("break guard in a buffer's loop"));
        }
        self.close_loop(outer, &body);
        self.cov("buffer fill loop");
        if rev {
            self.cov("buffer fill loop over a reversed range");
        }
        stmts.push(ArmStmt::For(Loop {
            var: i,
            from: None,
            start: 0,
            count,
            rev,
            body,
        }));
    }

    /// A recurrence kept in the buffer: `b[i] = f(b[i - 1])` over `1..k`, `b[i] = f(b[i +
    /// 1])` over `(0..k).rev()` (the buffer has `k + 1` elements), or `b[i + 1] = f(b[i])`
    /// over `0..k`; the boundary element is written first at times.
    fn recurrence(
        &mut self,
        stmts: &mut Vec<ArmStmt>,
        buffer: usize,
        k: usize,
        len_of: Option<usize>,
        plan: &str,
    ) {
        let boundary = match plan {
            "recurrence" | "offset" => Some(0),
            _ if len_of.is_none() => Some(k),
            _ => None,
        };
        if let Some(at) = boundary
            && self.rng.chance(0.5)
        {
            self.cov("buffer boundary element written before its recurrence");
            let (e, b) = self.write_value(None, false, false);
            self.grow(buffer, b);
            stmts.push(ArmStmt::Store(buffer, Index::Lit(at), None, e));
        }
        let name = self.loop_name().expect("a free loop name");
        let (count, iterations) = self.buffer_count(k, len_of);
        let (i, outer) = self.open_loop(name, iterations);
        self.vars[i].uses += 1;
        let Kind::Buffer(n, _) = self.vars[buffer].kind else {
            unreachable!("a buffer")
        };
        let (at, earlier, start, rev) = match plan {
            "recurrence" => (Index::Loop(i, 0, n), Index::Offset(i, -1), 1, false),
            "reversed" => (Index::Loop(i, 0, n), Index::Offset(i, 1), 0, true),
            _ => (Index::Offset(i, 1), Index::Loop(i, 0, n), 0, false),
        };
        self.cov(match plan {
            "recurrence" => "buffer recurrence b[i] = f(b[i - 1])",
            "reversed" => "buffer recurrence b[i] = f(b[i + 1]) over a reversed range",
            _ => "buffer recurrence b[i + 1] = f(b[i])",
        });
        let mut body = Vec::new();
        self.loop_prelude(&mut body, true);
        let extra = (E::Elem(buffer, earlier), self.vars[buffer].bound.max(1.6));
        let (e, b) = self.write_value(Some(extra), true, true);
        self.grow(buffer, b);
        body.push(ArmStmt::Store(buffer, at.clone(), None, e));
        self.read_back(&mut body, buffer, at);
        if self.may_record(true) && self.rng.chance(0.1) {
            body.push(self.break_guard("break guard in a buffer's loop"));
        }
        self.close_loop(outer, &body);
        stmts.push(ArmStmt::For(Loop {
            var: i,
            from: None,
            start,
            count,
            rev,
            body,
        }));
    }

    /// `for k in 0..K { for j in 0..J { b[k] += e; } }` (or `-=`), perhaps reading `b[k]`
    /// after the inner loop.
    fn accumulate(
        &mut self,
        stmts: &mut Vec<ArmStmt>,
        buffer: usize,
        k: usize,
        len_of: Option<usize>,
    ) {
        let name = self.loop_name().expect("a free loop name");
        let (count, iterations) = self.buffer_count(k, len_of);
        let (outer_var, outer) = self.open_loop(name, iterations);
        self.vars[outer_var].uses += 1;
        let mut body = Vec::new();
        self.loop_prelude(&mut body, false);
        let Some(inner_name) = self.loop_name() else {
            unreachable!("three loop names for two loops")
        };
        let arrays = self.visible_where(|v| v.kind.elements().is_some());
        let (inner_count, inner_iterations) = if !arrays.is_empty() && self.rng.chance(0.5) {
            let w = self.rng.pick(&arrays);
            self.vars[w].uses += 1;
            (Count::Len(w), self.vars[w].kind.elements().unwrap_or(1))
        } else {
            let c = 2 + self.rng.below(2);
            (Count::Lit(c), c)
        };
        let (inner_var, inner_outer) = self.open_loop(inner_name, inner_iterations);
        let (e, _) = self.write_value(None, true, true);
        let op = self.rng.pick(&[Op::Add, Op::Add, Op::Sub]);
        self.cov(if op == Op::Add {
            "buffer accumulation += in nested loops"
        } else {
            "buffer accumulation -= in nested loops"
        });
        let inner_body = vec![ArmStmt::Store(
            buffer,
            Index::Loop(outer_var, 0, k),
            Some(op),
            e,
        )];
        self.close_loop(inner_outer, &inner_body);
        let grown = self.vars[buffer].bound + 1.6 * inner_iterations as f64;
        self.grow(buffer, grown);
        body.push(ArmStmt::For(Loop {
            var: inner_var,
            from: None,
            start: 0,
            count: inner_count,
            rev: false,
            body: inner_body,
        }));
        self.read_back(&mut body, buffer, Index::Loop(outer_var, 0, k));
        self.close_loop(outer, &body);
        stmts.push(ArmStmt::For(Loop {
            var: outer_var,
            from: None,
            start: 0,
            count,
            rev: false,
            body,
        }));
    }

    /// Straight-line writes at literal indices: `b[0] = e; b[1] = f(b[0]); b[2] += g;`, an
    /// element perhaps written twice before it is read. Before `MUTATION_FROM`, never an element
    /// read before; from then on, also `b[0] = f(b[0])`, `b[1] *= f(b[0])` after `b[1]` was read.
    fn literal_writes(&mut self, stmts: &mut Vec<ArmStmt>, buffer: usize, n: usize) {
        self.cov("buffer written at literal indices");
        let mut written: Vec<usize> = Vec::new();
        let mut read: Vec<usize> = Vec::new();
        for _ in 0..2 + self.rng.below(3) {
            let free: Vec<usize> = (0..n)
                .filter(|e| self.mutation || !read.contains(e))
                .collect();
            if free.is_empty() {
                break;
            }
            let at = self.rng.pick(&free);
            let was_read = read.contains(&at);
            let readable: Vec<usize> = written
                .iter()
                .copied()
                .filter(|&e| self.mutation || e != at)
                .collect();
            let extra = if !readable.is_empty() && self.rng.chance(0.6) {
                let e = self.rng.pick(&readable);
                read.push(e);
                self.cov("buffer element read before another is written");
                Some((E::Elem(buffer, Index::Lit(e)), self.vars[buffer].bound))
            } else {
                None
            };
            let reads_itself = matches!(&extra, Some((E::Elem(_, Index::Lit(e)), _)) if *e == at);
            let op = if self.mutation && written.contains(&at) {
                // In place, or overwritten: after a read of the element, at times.
                self.rng.pick(&[
                    None,
                    None,
                    Some(Op::Add),
                    Some(Op::Sub),
                    Some(Op::Mul),
                    Some(Op::Div),
                ])
            } else if written.contains(&at) || self.rng.chance(0.7) {
                None
            } else {
                Some(self.rng.pick(&[Op::Add, Op::Sub]))
            };
            if op.is_none() && written.contains(&at) && !was_read && !reads_itself {
                self.cov("buffer element overwritten before a read");
            }
            if self.mutation && (was_read || reads_itself) {
                self.cov_update(op, &Index::Lit(at));
            } else if let (true, true, Some(op)) = (self.mutation, written.contains(&at), op) {
                self.cov_in_place(op);
            }
            let old = self.vars[buffer].bound;
            let (e, b) = match op {
                Some(Op::Mul | Op::Div) => self.update_rhs(op, extra, old, false),
                Some(_) => {
                    let (e, b) = self.write_value(extra, false, false);
                    (e, old + b)
                }
                None => self.write_value(extra, false, false),
            };
            self.grow(buffer, b);
            if self.mutation {
                let store = self.store(buffer, Index::Lit(at), op, e);
                stmts.push(store);
            } else {
                stmts.push(ArmStmt::Store(buffer, Index::Lit(at), op, e));
            }
            written.push(at);
            if op.is_none() && self.rng.chance(0.15) {
                // Written again before anything reads it: the first value is lost.
                self.cov("buffer element overwritten before a read");
                let (e, b) = self.write_value(None, false, false);
                self.grow(buffer, b);
                stmts.push(ArmStmt::Store(buffer, Index::Lit(at), None, e));
            }
        }
    }

    /// `let mut steps = 0; while steps < N && cond { ..; steps += 1; }`: a data-dependent trip
    /// count, at most `N`; the condition and a `break` guard read the loop-carried variables.
    fn while_loop(&mut self) -> Option<Vec<ArmStmt>> {
        if self.no_assignments || !self.may_record(false) {
            return None;
        }
        self.begin_loop();
        let mutables = self.assignable();
        if mutables.is_empty() {
            self.open_loops.pop();
            return None;
        }
        let taken: Vec<String> = self
            .visible()
            .iter()
            .map(|&v| self.vars[v].name.clone())
            .collect();
        let Some(name) = COUNTER_NAMES
            .into_iter()
            .find(|n| !taken.iter().any(|t| t == n))
        else {
            self.open_loops.pop();
            return None;
        };
        let limit = 2 + self.rng.below(4);
        let counter = self.declare(name, Kind::Counter(limit), limit as f64, false);
        self.vars[counter].uses += 1;
        let target = self.rng.pick(&mutables);
        let bound = Cond::Int(counter, "<", limit as i64);
        let shape = self.rng.below(10);
        let cond = if shape < 8 {
            self.focus = Some(target);
            let data = self.cmp();
            self.focus = None;
            self.cov("while loop with a data-dependent condition");
            if shape < 6 {
                Cond::And(Box::new(bound), Box::new(data))
            } else {
                Cond::And(Box::new(data), Box::new(bound))
            }
        } else {
            bound
        };
        self.cov("while loop");
        let breaks = shape >= 8 || self.rng.chance(0.3);
        self.scopes.push(Vec::new());
        self.arm_depth += 1;
        // A loop among the function's own statements may return instead of breaking.
        let returns = breaks && self.loop_returns && self.arm_depth == 1 && self.rng.chance(0.5);
        self.enter_loop(breaks);
        self.guarded += usize::from(breaks);
        let outer = self.iterations;
        self.iterations *= limit;
        let mut body = Vec::new();
        let increment_first = self.rng.chance(0.25);
        if increment_first {
            body.push(ArmStmt::Incr(counter));
        }
        let mut broke = !breaks;
        if breaks && self.rng.chance(0.5) {
            broke = true;
            body.push(self.while_exit(returns));
        }
        body.push(self.arm_assign_to(target));
        for i in 0..self.rng.below(3) {
            let r = self.rng.below(100);
            let store = if self.mutation && (65..80).contains(&r) {
                self.arm_store("buffer element written in a while loop")
            } else {
                None
            };
            if let Some(store) = store {
                body.push(store);
            } else if r < 20 && !broke {
                broke = true;
                body.push(self.while_exit(returns));
            } else if r < 65 {
                body.push(self.arm_assign());
            } else if r >= 90 && i > 0 {
                self.cov("nested if statement");
                let (chain, _) = self.if_chain(false);
                body.push(ArmStmt::If(chain));
            } else {
                body.push(self.arm_let());
            }
        }
        if !broke {
            body.push(self.while_exit(returns));
        }
        let own: Vec<usize> = self.scopes.last().cloned().unwrap_or_default();
        for id in own {
            if self.vars[id].uses == 0 {
                let term = self.read_term(id);
                let term = self.carried_term(id, term);
                self.vars[target].uses += 1;
                self.arm_assigned.push(target);
                body.push(ArmStmt::Assign(target, Some(Op::Add), term));
            }
        }
        if !increment_first {
            body.push(ArmStmt::Incr(counter));
        }
        if self.rng.chance(0.3) {
            // Read after the loop, as a float.
            self.vars[counter].uses = 0;
        }
        self.leave_loop(breaks);
        self.guarded -= usize::from(breaks);
        self.end_loop(&body);
        self.iterations = outer;
        self.scopes.pop();
        self.arm_depth -= 1;
        if self.arm_depth == 0 {
            self.after_branches();
        }
        Some(vec![
            ArmStmt::Counter(counter),
            ArmStmt::While(WhileLoop { cond, body }),
        ])
    }

    // ----- mutation: buffers written after their elements were read -------------------------

    /// Counts a write of an element that was read before it (by another line, or by the
    /// written value itself).
    fn cov_update(&mut self, op: Option<Op>, at: &Index) {
        self.cov(match (op, at) {
            (Some(Op::Add), _) => "buffer element += after a read",
            (Some(Op::Sub), _) => "buffer element -= after a read",
            (Some(Op::Mul), _) => "buffer element *= after a read",
            (Some(_), _) => "buffer element /= after a read",
            (None, Index::Lit(_)) => "buffer element overwritten after a read at a literal index",
            (None, _) => "buffer element overwritten after a read at a computed index",
        });
    }

    /// Counts an in-place update `b[i] op= e` of an element written before.
    fn cov_in_place(&mut self, op: Op) {
        self.cov(match op {
            Op::Add => "buffer element +=",
            Op::Sub => "buffer element -=",
            Op::Mul => "buffer element *=",
            _ => "buffer element /=",
        });
    }

    /// The buffers that expressions may read, innermost first.
    fn readable_buffers(&self) -> Vec<usize> {
        self.visible_where(|v| matches!(v.kind, Kind::Buffer(..)) && v.phase == Phase::Readable)
    }

    fn buffer_len(&self, buffer: usize) -> usize {
        match self.vars[buffer].kind {
            Kind::Buffer(n, _) => n,
            _ => unreachable!("a buffer"),
        }
    }

    /// A free loop variable for the mutation patterns.
    fn mutation_loop_name(&self) -> Option<&'static str> {
        self.mutation_loop_names(1).map(|names| names[0])
    }

    /// `count` free loop variables for the mutation patterns.
    fn mutation_loop_names(&self, count: usize) -> Option<Vec<&'static str>> {
        let taken: Vec<&str> = self
            .visible()
            .iter()
            .map(|&v| self.vars[v].name.as_str())
            .collect();
        let free: Vec<&'static str> = MUTATION_LOOP_NAMES
            .into_iter()
            .filter(|n| !taken.contains(n))
            .take(count)
            .collect();
        (free.len() == count).then_some(free)
    }

    /// Whether an `if` here may have a condition that reads a buffer its branch rewrites (see
    /// `GUARD_AFTER_CAPTURED_CONDITION`).
    fn may_capture(&self) -> bool {
        GUARD_AFTER_CAPTURED_CONDITION || self.guarded == 0
    }

    /// Whether a mutation pattern may open a loop here.
    fn may_loop(&self) -> bool {
        self.iterations < 5 && self.no_nested_loops == 0 && self.mutation_loop_name().is_some()
    }

    /// `b[at] op= rhs` (`b[at] = rhs` for `None`) the way clippy wants it written:
    /// `b[at] = b[at] * e` is `b[at] *= e` (assign_op_pattern), `b[at] -= b[at]` is
    /// `b[at] -= b[at] * l`.
    fn store(&mut self, buffer: usize, at: Index, op: Option<Op>, rhs: E) -> ArmStmt {
        let target = E::Elem(buffer, at.clone());
        let (mut op, mut rhs) = (op, rhs);
        if op.is_none() {
            let rewritten = match &rhs {
                E::Bin(o, a, b) if uncast(a) == target => Some((*o, (**b).clone())),
                E::Bin(o @ (Op::Add | Op::Mul), a, b) if uncast(b) == target => {
                    Some((*o, (**a).clone()))
                }
                _ => None,
            };
            match rewritten {
                // `%=` is not a buffer update the macro knows: `b[at] = b[at] % e * l`.
                Some((Op::Rem, _)) => {
                    let l = self.lit();
                    rhs = bin(Op::Mul, rhs, E::Lit(l));
                }
                Some((o, r)) => {
                    op = Some(o);
                    rhs = r;
                }
                None => {}
            }
        }
        if op.is_some() && uncast(&rhs) == target {
            let l = self.lit();
            rhs = bin(Op::Mul, rhs, E::Lit(l));
        }
        ArmStmt::Store(buffer, at, op, rhs)
    }

    /// The right-hand side of a write `b[at] op= rhs` (`b[at] = rhs` for `None`) that reads
    /// `extra` when given, and the element's bound after the write, from its bound `old`
    /// before. When the write repeats (`repeats`: a loop runs it again on the same element),
    /// nothing compounds: `=`, `+=` and `-=` write squashed values, `*=` a tanh, `/=` a
    /// denominator of magnitude at least 1.
    fn update_rhs(
        &mut self,
        op: Option<Op>,
        extra: Option<(E, f64)>,
        old: f64,
        repeats: bool,
    ) -> (E, f64) {
        match op {
            None if repeats => {
                let (e, _) = self.expr_reading(3, extra);
                self.squash(e)
            }
            None => {
                let (e, b) = self.expr_reading(3, extra);
                let (e, b) = self.limit(e, b);
                (self.compound(e), b * 2.5)
            }
            Some(Op::Mul) => {
                let (e, b) = self.expr_reading(3, extra);
                if repeats || b > 1.5 {
                    (self.m("tanh", vec![e]), old)
                } else {
                    (e, old * b.max(1.0))
                }
            }
            Some(Op::Div) => {
                self.extra = extra;
                self.extra_used = false;
                self.budget = 3 + self.rng.below(4) as i32;
                let (e, min) = if repeats {
                    self.den_at_least_one(2)
                } else {
                    let (e, _, min) = self.den(2);
                    (e, min)
                };
                self.extra = None;
                self.cov("div");
                (e, old / min)
            }
            Some(_) => {
                let (e, b) = self.expr_reading(3, extra);
                let (e, b) = if repeats {
                    self.squash(e)
                } else {
                    self.limit(e, b)
                };
                (e, old + b * self.iterations as f64)
            }
        }
    }

    /// A denominator of magnitude at least 1, so that `b[j] /= e` in a loop does not grow
    /// `b[j]`: (it, 1).
    fn den_at_least_one(&mut self, d: u32) -> (E, f64) {
        self.cov("add");
        let e = match self.rng.below(4) {
            0 => {
                let (e, _) = self.bounded(d, 2.0);
                self.m("cosh", vec![e])
            }
            1 => {
                let (e, _) = self.bounded(d, 3.0);
                let c = self.rng.pick(&[1.2, 1.5, 2.0]);
                let square = self.square(e);
                bin(Op::Add, square, E::Lit(c))
            }
            2 => {
                let (e, _) = self.expr(d);
                let t = self.m("tanh", vec![e]);
                bin(Op::Add, t, E::Lit(2.0))
            }
            _ => {
                let (e, _) = self.expr(d);
                let a = self.m("abs", vec![e]);
                bin(Op::Add, a, E::Lit(1.25))
            }
        };
        if self.rng.chance(0.2) {
            self.cov("neg");
            (E::Neg(boxed(e)), 1.0)
        } else {
            (e, 1.0)
        }
    }

    /// `target op= f(extra)` (`+=` or `-=`, squashed): a `mut` variable reads a buffer element.
    fn assign_reading(&mut self, target: usize, extra: (E, f64)) -> ArmStmt {
        let (e, _) = self.expr_reading(2, Some(extra));
        let (e, b) = self.squash(e);
        let op = self.rng.pick(&[Op::Add, Op::Sub]);
        self.vars[target].uses += 1;
        self.vars[target].bound = (self.vars[target].bound + b) * self.iterations as f64;
        let root = self.vars[target].root;
        self.vars[root].assigned = true;
        self.arm_assigned.push(target);
        if self.arm_depth == 0 {
            // Read again later (rustc's unused_assignments).
            self.after_branches();
        }
        self.cov("assignment in an arm");
        self.cov_assignment(Some(op));
        ArmStmt::Assign(target, Some(op), e)
    }

    /// A read of `elem` (bounded by `bound`): `s += f(elem);` into a `mut` variable in scope,
    /// or (when `lets`) `let r = f(elem);`, whose variable is returned for a later write to
    /// read (else it is read later, by the function's value or the loop's last line). `None`
    /// reads nothing when `lets` is off and no variable can take the value.
    fn read_elem(
        &mut self,
        stmts: &mut Vec<ArmStmt>,
        elem: E,
        bound: f64,
        lets: bool,
    ) -> Option<(E, f64)> {
        let mutables = if self.no_assignments {
            Vec::new()
        } else {
            self.assignable()
        };
        if !mutables.is_empty() && (!lets || self.rng.chance(0.4)) {
            let target = self.rng.pick(&mutables);
            stmts.push(self.assign_reading(target, (elem, bound)));
            return None;
        }
        if !lets {
            return None;
        }
        let (e, b) = self.expr_reading(2, Some((elem, bound)));
        let (e, b) = self.limit(e, b);
        let e = self.compound(e);
        let name = self.fresh_name();
        let id = self.declare(&name, Kind::Scalar, b * 2.5, false);
        self.cov("let in an arm");
        stmts.push(ArmStmt::Let(id, Rhs::Expr(e)));
        Some((E::Var(id), b * 2.5))
    }

    /// `b[at] op= e` of a readable buffer in scope, as a line of an `if` arm or a loop body
    /// (programs from `MUTATION_FROM` on): the element was perhaps read before, and is read
    /// again later. `None` without a readable buffer.
    fn arm_store(&mut self, what: &str) -> Option<ArmStmt> {
        let buffers = self.readable_buffers();
        if buffers.is_empty() {
            return None;
        }
        let buffer = self.rng.pick(&buffers);
        let n = self.buffer_len(buffer);
        let at = self.element_index(n);
        let op = self.rng.pick(&[
            None,
            Some(Op::Add),
            Some(Op::Sub),
            Some(Op::Mul),
            Some(Op::Div),
        ]);
        let old = self.vars[buffer].bound;
        let extra = (E::Elem(buffer, at.clone()), old);
        let (e, bound) = self.update_rhs(op, Some(extra), old, self.iterations > 1);
        self.grow(buffer, bound);
        // Read again later, at least by the function's value or the loop's last line; also
        // when a later condition of the `if` reads it (it runs before this arm, not after).
        self.vars[buffer].uses = 0;
        self.arm_assigned.push(buffer);
        self.cov(what);
        self.cov_update(op, &at);
        Some(self.store(buffer, at, op, e))
    }

    /// Statements that write a buffer after its elements were read (programs from
    /// `MUTATION_FROM` on), among the function's statements or in a loop body: an in-place
    /// update, an overwrite, a loop reading elements a later iteration overwrites, a `while`
    /// loop or a branch rewriting the buffer (of a buffer in scope, or of a new one); among the
    /// function's statements also a buffer rewritten in each iteration of a loop, a
    /// recurrence through a buffer indexed by two loop variables, or a `for` loop (over
    /// anything) whose body starts with one of the former.
    fn mutation(&mut self) -> Vec<ArmStmt> {
        if !self.may_capture() && self.open_arms > 0 {
            // The `if` around may read the buffer (see `GUARD_AFTER_CAPTURED_CONDITION`).
            return Vec::new();
        }
        let top = self.arm_depth == 0;
        let r = self.rng.below(100);
        if top
            && r < 14
            && let Some(stmts) = self.reused_scratch()
        {
            return stmts;
        }
        if top
            && (14..28).contains(&r)
            && let Some(stmts) = self.grid_recurrence()
        {
            return stmts;
        }
        let buffers = self.readable_buffers();
        if top && (28..40).contains(&r) && !buffers.is_empty() {
            // A loop over something else whose body writes the buffer after reads.
            self.force_mutation = true;
            let l = self.for_loop();
            self.force_mutation = false;
            if let Some(l) = l {
                return vec![ArmStmt::For(l)];
            }
        }
        let (mut stmts, buffer) = if buffers.is_empty() || self.rng.chance(0.25) {
            let stmts = self.buffer(!top);
            let Some(&ArmStmt::Buffer(buffer, ..)) = stmts.first() else {
                return stmts;
            };
            (stmts, buffer)
        } else {
            (Vec::new(), self.rng.pick(&buffers))
        };
        if !top {
            self.cov("buffer written after a read in a loop body");
        }
        self.rewrite(&mut stmts, buffer);
        // Read again later, at least by the function's value or the loop's last line.
        self.vars[buffer].uses = 0;
        stmts
    }

    /// One of the patterns that write `buffer` after its elements were read.
    fn rewrite(&mut self, stmts: &mut Vec<ArmStmt>, buffer: usize) {
        match self.rng.below(100) {
            0..=34 => self.in_place(stmts, buffer),
            35..=54 => self.overwrite(stmts, buffer),
            55..=67 => self.read_ahead(stmts, buffer),
            68..=81 => self.while_rewrite(stmts, buffer),
            _ => self.branch_rewrite(stmts, buffer),
        }
    }

    /// `b[at] op= e` (`+=`, `-=`, `*=`, `/=`) of an element read before: at a literal or
    /// computed index (`let r = f(b[1]); b[1] *= g(r);`), or of every element in a loop after
    /// a read of one of them (`let m = f(b[0]); for j in 0..n { b[j] -= m; }`, the in-place
    /// softmax's shape); then a read of the element.
    fn in_place(&mut self, stmts: &mut Vec<ArmStmt>, buffer: usize) {
        let n = self.buffer_len(buffer);
        let op = self.rng.pick(&[Op::Add, Op::Sub, Op::Mul, Op::Div]);
        let old = self.vars[buffer].bound;
        let looped = self.may_loop() && self.rng.chance(0.4);
        let at = if looped {
            Index::Lit(self.rng.below(n))
        } else {
            self.element_index(n)
        };
        self.vars[buffer].uses += 1;
        self.cov_update(Some(op), &at);
        let read = self.read_elem(stmts, E::Elem(buffer, at.clone()), old, true);
        if !looped {
            let extra = match read {
                Some(r) if self.rng.chance(0.7) => Some(r),
                _ => Some((E::Elem(buffer, at.clone()), old)),
            };
            let repeats = self.iterations > 1;
            let (e, bound) = self.update_rhs(Some(op), extra, old, repeats);
            self.grow(buffer, bound);
            stmts.push(self.store(buffer, at.clone(), Some(op), e));
            let bound = self.vars[buffer].bound;
            self.read_elem(stmts, E::Elem(buffer, at), bound, true);
            return;
        }
        self.cov("every element of a buffer updated in place in a loop");
        let name = self.mutation_loop_name().expect("checked by may_loop");
        let repeats = self.iterations > 1;
        let (j, outer) = self.open_loop(name, n);
        self.vars[j].uses += 1;
        let at = Index::Loop(j, 0, n);
        let extra = match read {
            Some(r) => Some(r),
            None => Some((E::Elem(buffer, at.clone()), old)),
        };
        let (e, bound) = self.update_rhs(Some(op), extra, old, repeats);
        let mut body = vec![self.store(buffer, at.clone(), Some(op), e)];
        self.grow(buffer, bound);
        self.read_back(&mut body, buffer, at);
        self.close_loop(outer, &body);
        let rev = self.rng.chance(0.3);
        stmts.push(ArmStmt::For(Loop {
            var: j,
            from: None,
            start: 0,
            count: Count::Lit(n),
            rev,
            body,
        }));
    }

    /// `b[at] = f(..)` of an element read before, at a literal or computed index, the new
    /// value often reading the old one (`b[0] = b[0].sin() * x`); or, in a loop over the
    /// elements, `b[(j + s) % n] = f(b[(j + s) % n], ..)`.
    fn overwrite(&mut self, stmts: &mut Vec<ArmStmt>, buffer: usize) {
        let n = self.buffer_len(buffer);
        let old = self.vars[buffer].bound;
        self.vars[buffer].uses += 1;
        if !(self.may_loop() && self.rng.chance(0.35)) {
            let at = self.element_index(n);
            self.cov_update(None, &at);
            let read = self.read_elem(stmts, E::Elem(buffer, at.clone()), old, true);
            let extra = match read {
                Some(r) if self.rng.chance(0.5) => Some(r),
                _ => Some((E::Elem(buffer, at.clone()), old)),
            };
            let repeats = self.iterations > 1;
            let (e, bound) = self.update_rhs(None, extra, old, repeats);
            self.grow(buffer, bound);
            stmts.push(self.store(buffer, at.clone(), None, e));
            let bound = self.vars[buffer].bound;
            self.read_elem(stmts, E::Elem(buffer, at), bound, true);
            return;
        }
        let name = self.mutation_loop_name().expect("checked by may_loop");
        let repeats = self.iterations > 1;
        let (j, outer) = self.open_loop(name, n);
        self.vars[j].uses += 1;
        let shift = if self.rng.chance(0.5) {
            0
        } else {
            1 + self.rng.below(n - 1)
        };
        let at = Index::Loop(j, shift, n);
        self.cov_update(None, &at);
        let (e, bound) =
            self.update_rhs(None, Some((E::Elem(buffer, at.clone()), old)), old, repeats);
        let mut body = vec![self.store(buffer, at.clone(), None, e)];
        self.grow(buffer, bound);
        self.read_back(&mut body, buffer, at);
        self.close_loop(outer, &body);
        stmts.push(ArmStmt::For(Loop {
            var: j,
            from: None,
            start: 0,
            count: Count::Lit(n),
            rev: false,
            body,
        }));
        let bound = self.vars[buffer].bound;
        let last = Index::Lit(self.rng.below(n));
        self.read_elem(stmts, E::Elem(buffer, last), bound, true);
    }

    /// A loop whose iterations read an element that a later iteration overwrites:
    /// `for i in 0..n - 1 { b[i] = f(b[i + 1]); }` or `for i in (1..n).rev() { b[i] = f(b[i -
    /// 1]); }` (or `+=`, `*=`), the iteration reading the old value.
    fn read_ahead(&mut self, stmts: &mut Vec<ArmStmt>, buffer: usize) {
        let n = self.buffer_len(buffer);
        if n < 3 || !self.may_loop() {
            return self.overwrite(stmts, buffer);
        }
        self.cov("buffer element read before a later iteration overwrites it");
        let old = self.vars[buffer].bound;
        self.vars[buffer].uses += 1;
        let rev = self.rng.chance(0.4);
        let name = self.mutation_loop_name().expect("checked by may_loop");
        let repeats = self.iterations > 1;
        let (i, outer) = self.open_loop(name, if rev { n } else { n - 1 });
        self.vars[i].uses += 1;
        let (ahead, start, count) = if rev {
            (Index::Offset(i, -1), 1, n)
        } else {
            (Index::Offset(i, 1), 0, n - 1)
        };
        let at = Index::Loop(i, 0, n);
        let op = self.rng.pick(&[None, None, Some(Op::Add), Some(Op::Mul)]);
        self.cov_update(op, &at);
        let extra = Some((E::Elem(buffer, ahead), old));
        let (e, bound) = self.update_rhs(op, extra, old, repeats);
        let mut body = vec![self.store(buffer, at.clone(), op, e)];
        self.grow(buffer, bound);
        self.read_back(&mut body, buffer, at);
        self.close_loop(outer, &body);
        stmts.push(ArmStmt::For(Loop {
            var: i,
            from: None,
            start,
            count: Count::Lit(count),
            rev,
            body,
        }));
    }

    /// `let mut steps = 0; while steps < N && b[k] > c { b[k] = f(b[k], ..); ..; steps += 1; }`:
    /// a loop that rewrites and reads a buffer, its trip count perhaps decided by the buffer.
    fn while_rewrite(&mut self, stmts: &mut Vec<ArmStmt>, buffer: usize) {
        if self.no_assignments || !self.may_record(false) || self.iterations >= 5 {
            return self.overwrite(stmts, buffer);
        }
        let taken: Vec<String> = self
            .visible()
            .iter()
            .map(|&v| self.vars[v].name.clone())
            .collect();
        let Some(name) = COUNTER_NAMES
            .into_iter()
            .find(|n| !taken.iter().any(|t| t == n))
        else {
            return self.overwrite(stmts, buffer);
        };
        self.begin_loop();
        let n = self.buffer_len(buffer);
        let limit = 2 + self.rng.below(3);
        let counter = self.declare(name, Kind::Counter(limit), limit as f64, false);
        self.vars[counter].uses += 1;
        self.vars[buffer].uses += 1;
        let bound = Cond::Int(counter, "<", limit as i64);
        let k = self.rng.below(n);
        let data = Cond::Cmp(
            E::Elem(buffer, Index::Lit(k)),
            self.rng.pick(&[">", "<", ">=", "<="]),
            E::Lit(self.rng.pick(&[-0.5, -0.2, 0.0, 0.2, 0.5])),
        );
        let cond = match self.rng.below(4) {
            0 => bound,
            1 => Cond::And(Box::new(data), Box::new(bound)),
            _ => Cond::And(Box::new(bound), Box::new(data)),
        };
        if matches!(cond, Cond::And(..)) {
            self.cov("while condition on the buffer its loop rewrites");
        }
        self.cov("while loop rewriting a buffer");
        self.scopes.push(Vec::new());
        self.arm_depth += 1;
        let outer = self.iterations;
        self.iterations *= limit;
        let mut body = Vec::new();
        let increment_first = self.rng.chance(0.25);
        if increment_first {
            body.push(ArmStmt::Incr(counter));
        }
        let mut first = Some(k);
        for _ in 0..1 + self.rng.below(2) {
            let at = first.take().unwrap_or_else(|| self.rng.below(n));
            let op = self.rng.pick(&[None, None, Some(Op::Mul), Some(Op::Add)]);
            let from = Index::Lit(self.rng.below(n));
            let old = self.vars[buffer].bound;
            let (e, b) = self.update_rhs(op, Some((E::Elem(buffer, from), old)), old, true);
            self.grow(buffer, b);
            body.push(self.store(buffer, Index::Lit(at), op, e));
        }
        if !increment_first {
            body.push(ArmStmt::Incr(counter));
        }
        if self.rng.chance(0.3) {
            // Read after the loop, as a float.
            self.vars[counter].uses = 0;
        }
        self.end_loop(&body);
        self.iterations = outer;
        self.scopes.pop();
        self.arm_depth -= 1;
        if self.arm_depth == 0 {
            self.after_branches();
        }
        stmts.push(ArmStmt::Counter(counter));
        stmts.push(ArmStmt::While(WhileLoop { cond, body }));
        let bound = self.vars[buffer].bound;
        self.read_elem(stmts, E::Elem(buffer, Index::Lit(k)), bound, true);
    }

    /// `if b[at] > c { b[at] = c; } else { b[at] *= e; }`: a branch whose condition reads the
    /// element it rewrites (gradient clipping), at one index or for every element in a loop.
    fn branch_rewrite(&mut self, stmts: &mut Vec<ArmStmt>, buffer: usize) {
        if !self.may_capture() {
            return self.overwrite(stmts, buffer);
        }
        let n = self.buffer_len(buffer);
        self.vars[buffer].uses += 1;
        self.cov("condition on a buffer element its branch rewrites");
        let looped = self.may_loop() && self.rng.chance(0.5);
        let repeats = self.iterations > 1;
        let opened = if looped {
            let name = self.mutation_loop_name().expect("checked by may_loop");
            let (j, outer) = self.open_loop(name, n);
            self.vars[j].uses += 1;
            Some((j, outer))
        } else {
            None
        };
        let at = match opened {
            Some((j, _)) => Index::Loop(j, 0, n),
            None => self.element_index(n),
        };
        let elem = E::Elem(buffer, at.clone());
        let old = self.vars[buffer].bound;
        let op = self.rng.pick(&[">", "<", ">=", "<="]);
        let limit = self.rng.pick(&[-0.5, -0.2, 0.0, 0.2, 0.5, 1.0]);
        let other = if self.rng.chance(0.6) {
            E::Lit(limit)
        } else {
            self.budget = 3;
            let (e, _) = self.expr(2);
            if uncast(&e) == elem { E::Lit(limit) } else { e }
        };
        let cond = Cond::Cmp(elem.clone(), op, other);
        // The arm clips to a literal, or writes a new value (perhaps in place).
        let (first, b1) = if self.rng.chance(0.5) {
            (
                self.store(buffer, at.clone(), None, E::Lit(limit)),
                limit.abs(),
            )
        } else {
            let op = self.rng.pick(&[None, Some(Op::Mul), Some(Op::Sub)]);
            let (e, b) = self.update_rhs(op, Some((elem.clone(), old)), old, repeats);
            (self.store(buffer, at.clone(), op, e), b)
        };
        let otherwise = if self.rng.chance(0.4) {
            let op = self.rng.pick(&[None, Some(Op::Mul), Some(Op::Add)]);
            let (e, b) = self.update_rhs(op, Some((elem.clone(), old)), old, repeats);
            self.grow(buffer, b);
            Some(Block {
                stmts: vec![self.store(buffer, at.clone(), op, e)],
                tail: None,
            })
        } else {
            None
        };
        self.grow(buffer, b1);
        let chain = ArmStmt::If(IfChain {
            arms: vec![(
                cond,
                Block {
                    stmts: vec![first],
                    tail: None,
                },
            )],
            otherwise,
        });
        match opened {
            Some((j, outer)) => {
                let mut body = vec![chain];
                self.read_back(&mut body, buffer, at);
                self.close_loop(outer, &body);
                stmts.push(ArmStmt::For(Loop {
                    var: j,
                    from: None,
                    start: 0,
                    count: Count::Lit(n),
                    rev: false,
                    body,
                }));
                let bound = self.vars[buffer].bound;
                let last = Index::Lit(self.rng.below(n));
                self.read_elem(stmts, E::Elem(buffer, last), bound, true);
            }
            None => {
                stmts.push(chain);
                let bound = self.vars[buffer].bound;
                self.read_elem(stmts, E::Elem(buffer, at), bound, true);
            }
        }
    }

    /// Declares a buffer of `n` elements, hidden until its plan has written it; `None` when
    /// every buffer name is taken.
    fn new_buffer(&mut self, n: usize, len: BufLen, is_vec: bool) -> Option<(usize, ArmStmt)> {
        let name = BUFFER_NAMES
            .into_iter()
            .find(|name| !self.vars.iter().any(|v| v.name == *name))?;
        if is_vec && matches!(len, BufLen::Lit(_)) {
            self.allow("clippy::useless_vec");
        }
        let init = self.rng.pick(&[0.0, 0.0, 0.5, 1.0]);
        let buffer = self.declare(name, Kind::Buffer(n, is_vec), init, false);
        self.vars[buffer].phase = Phase::Writing;
        self.cov(if is_vec {
            "local buffer vec![0.0; n]"
        } else {
            "local buffer [0.0; N]"
        });
        Some((buffer, ArmStmt::Buffer(buffer, init, len, BufTy::Plain)))
    }

    /// A buffer declared before a loop and rewritten in each iteration, then read (scratch
    /// reused across samples): `let mut b = vec![0.0; d]; for i in 0..m { for j in 0..d { b[j]
    /// = f(w[i], j); } s += g(b[..]); }`.
    fn reused_scratch(&mut self) -> Option<Vec<ArmStmt>> {
        if !self.may_loop() || self.no_assignments {
            return None;
        }
        let names = self.mutation_loop_names(2)?;
        let arrays = self.visible_where(|v| v.kind.elements().is_some());
        let is_vec = self.rng.chance(0.6);
        let len_of = if is_vec && !arrays.is_empty() && self.rng.chance(0.4) {
            Some(self.rng.pick(&arrays))
        } else {
            None
        };
        let (k, len) = match len_of {
            Some(w) => {
                self.vars[w].uses += 1;
                self.cov("buffer of length w.len()");
                (self.vars[w].kind.elements().unwrap_or(1), BufLen::Len(w, 0))
            }
            None => {
                let k = 2 + self.rng.below(3);
                (k, BufLen::Lit(k))
            }
        };
        let (buffer, decl) = self.new_buffer(k, len, is_vec)?;
        let mut stmts = vec![decl];
        // The accumulator the iterations add to.
        let mutables = self.assignable();
        let target = if mutables.is_empty() || self.rng.chance(0.3) {
            let name = self.fresh_name();
            let id = self.declare(&name, Kind::Scalar, 0.0, true);
            self.cov("let mut");
            stmts.insert(0, ArmStmt::LetMut(id, E::Lit(0.0)));
            id
        } else {
            self.rng.pick(&mutables)
        };
        // The samples: `for i in 0..m`, each rewriting the buffer from its own inputs.
        let usizes = self.visible_where(|v| v.kind == Kind::Usize);
        let (count, samples) = match self.rng.below(4) {
            0 if !arrays.is_empty() => {
                let w = self.rng.pick(&arrays);
                self.vars[w].uses += 1;
                (Count::Len(w), self.vars[w].kind.elements().unwrap_or(1))
            }
            1 if !usizes.is_empty() => {
                let u = self.rng.pick(&usizes);
                self.vars[u].uses += 1;
                (Count::Param(u), 3)
            }
            _ => {
                let c = 2 + self.rng.below(2);
                (Count::Lit(c), c)
            }
        };
        let (i, outer) = self.open_loop(names[0], samples);
        self.vars[i].uses += 1;
        let sample = if !arrays.is_empty() && self.rng.chance(0.7) {
            let w = self.rng.pick(&arrays);
            self.vars[w].uses += 1;
            let n = self.vars[w].kind.elements().unwrap_or(1);
            let shift = self.rng.below(n);
            (E::Elem(w, Index::Loop(i, shift, n)), 1.5)
        } else {
            (E::IntF(i), samples as f64)
        };
        let mut body = Vec::new();
        // Every element rewritten.
        let (j, inner) = self.open_loop(names[1], k);
        self.vars[j].uses += 1;
        let at = Index::Loop(j, 0, k);
        let (e, b) = self.write_value(Some(sample), false, true);
        self.grow(buffer, b);
        let mut fill = vec![ArmStmt::Store(buffer, at.clone(), None, e)];
        if self.rng.chance(0.3) {
            let op = self.rng.pick(&[Op::Add, Op::Sub, Op::Mul, Op::Div]);
            self.cov_in_place(op);
            let old = self.vars[buffer].bound;
            let (e, b) = self.update_rhs(Some(op), None, old, false);
            self.grow(buffer, b);
            fill.push(self.store(buffer, at.clone(), Some(op), e));
        }
        self.close_loop(inner, &fill);
        body.push(ArmStmt::For(Loop {
            var: j,
            from: None,
            start: 0,
            count: match len_of {
                Some(w) => Count::Len(w),
                None => Count::Lit(k),
            },
            rev: self.rng.chance(0.3),
            body: fill,
        }));
        self.vars[buffer].phase = Phase::Readable;
        // Then read, element by element or at a literal index.
        let bound = self.vars[buffer].bound;
        if let Some(name) = self.mutation_loop_name()
            && self.rng.chance(0.6)
        {
            let (j, inner) = self.open_loop(name, k);
            self.vars[j].uses += 1;
            let reads =
                vec![self.assign_reading(target, (E::Elem(buffer, Index::Loop(j, 0, k)), bound))];
            self.close_loop(inner, &reads);
            body.push(ArmStmt::For(Loop {
                var: j,
                from: None,
                start: 0,
                count: Count::Lit(k),
                rev: false,
                body: reads,
            }));
        } else {
            let at = Index::Lit(self.rng.below(k));
            body.push(self.assign_reading(target, (E::Elem(buffer, at), bound)));
        }
        self.close_loop(outer, &body);
        stmts.push(ArmStmt::For(Loop {
            var: i,
            from: None,
            start: 0,
            count,
            rev: false,
            body,
        }));
        self.vars[buffer].uses = 0;
        let at = stmts
            .iter()
            .position(|s| matches!(s, ArmStmt::Buffer(..)))
            .expect("declared");
        self.buffer_ty(&mut stmts[at], true);
        self.cov("buffer declared before a loop and rewritten in each iteration");
        Some(stmts)
    }

    /// A recurrence through a buffer indexed by two loop variables, an Elman RNN over scalar
    /// loops: `for t in 1..T + 1 { for j in 0..H { let mut a = f(..); for k in 0..H { a +=
    /// g(hs[(t - 1) * H + k]); } hs[t * H + j] = a.tanh(); } }`, or the sum accumulated in
    /// `hs[t * H + j]` itself and squashed in place; row 0 perhaps written first.
    fn grid_recurrence(&mut self) -> Option<Vec<ArmStmt>> {
        if !self.may_loop() || self.iterations > 1 {
            return None;
        }
        let names = self.mutation_loop_names(3)?;
        let steps = 2 + self.rng.below(2);
        let h = 2 + self.rng.below(2);
        let n = (steps + 1) * h;
        let is_vec = self.rng.chance(0.6);
        let (buffer, decl) = self.new_buffer(n, BufLen::Lit(n), is_vec)?;
        let mut stmts = vec![decl];
        let first_row = self.rng.chance(0.5);
        if first_row {
            let (j, outer) = self.open_loop(names[1], h);
            self.vars[j].uses += 1;
            let (e, b) = self.write_value(None, false, true);
            self.grow(buffer, b);
            let body = vec![ArmStmt::Store(buffer, Index::Loop(j, 0, n), None, e)];
            self.close_loop(outer, &body);
            stmts.push(ArmStmt::For(Loop {
                var: j,
                from: None,
                start: 0,
                count: Count::Lit(h),
                rev: false,
                body,
            }));
        }
        let (t, outer_t) = self.open_loop(names[0], steps + 1);
        self.vars[t].uses += 1;
        let (j, outer_j) = self.open_loop(names[1], h);
        self.vars[j].uses += 1;
        let at = Index::Grid(t, 0, h, j);
        let mut row = Vec::new();
        let (e0, b0) = self.write_value(None, false, false);
        let previous = |k| (E::Elem(buffer, Index::Grid(t, 1, h, k)), 1.6);
        if self.rng.chance(0.5) {
            self.cov("two-index recurrence through a local accumulator");
            let name = self.fresh_name();
            let a = self.declare(&name, Kind::Scalar, b0 + 1.6 * h as f64, true);
            self.vars[a].assigned = true;
            row.push(ArmStmt::LetMut(a, e0));
            let (k, outer_k) = self.open_loop(names[2], h);
            self.vars[k].uses += 1;
            let (g, _) = self.expr_reading(2, Some(previous(k)));
            let (g, _) = self.squash(g);
            self.cov_assignment(Some(Op::Add));
            let sum = vec![ArmStmt::Assign(a, Some(Op::Add), g)];
            self.close_loop(outer_k, &sum);
            row.push(ArmStmt::For(Loop {
                var: k,
                from: None,
                start: 0,
                count: Count::Lit(h),
                rev: false,
                body: sum,
            }));
            self.vars[a].uses += 1;
            let (s, _) = self.squash(E::Var(a));
            row.push(ArmStmt::Store(buffer, at.clone(), None, s));
        } else {
            self.cov("two-index recurrence accumulated in the buffer");
            row.push(ArmStmt::Store(buffer, at.clone(), None, e0));
            let (k, outer_k) = self.open_loop(names[2], h);
            self.vars[k].uses += 1;
            let (g, _) = self.expr_reading(2, Some(previous(k)));
            let (g, _) = self.squash(g);
            let sum = vec![ArmStmt::Store(buffer, at.clone(), Some(Op::Add), g)];
            self.close_loop(outer_k, &sum);
            row.push(ArmStmt::For(Loop {
                var: k,
                from: None,
                start: 0,
                count: Count::Lit(h),
                rev: false,
                body: sum,
            }));
            let (s, _) = self.squash(E::Elem(buffer, at.clone()));
            row.push(ArmStmt::Store(buffer, at, None, s));
        }
        self.close_loop(outer_j, &row);
        let body = vec![ArmStmt::For(Loop {
            var: j,
            from: None,
            start: 0,
            count: Count::Lit(h),
            rev: false,
            body: row,
        })];
        self.close_loop(outer_t, &body);
        stmts.push(ArmStmt::For(Loop {
            var: t,
            from: None,
            start: 1,
            count: Count::Lit(steps + 1),
            rev: false,
            body,
        }));
        self.grow(buffer, 1.6);
        self.vars[buffer].phase = Phase::Readable;
        self.vars[buffer].uses = 0;
        self.cov("two-index buffer recurrence hs[t * n + j] from hs[(t - 1) * n + k]");
        // The last row, read.
        let last = Index::Lit(steps * h + self.rng.below(h));
        self.read_elem(&mut stmts, E::Elem(buffer, last), 1.6, true);
        self.buffer_ty(&mut stmts[0], first_row);
        Some(stmts)
    }

    // ----- counters stepped by hand ---------------------------------------------------------

    /// A counter stepped by hand and read as an index, the way C++ ports write ADBench's GMM
    /// (`Qtimesx`) (programs from `MUTATION_FROM` on): `let mut idx = s; for i in 0..m { acc
    /// += f(w[idx], i); idx += k; }` (the start and the step literals or a `usize` parameter,
    /// the step perhaps before the read), or a counter stepped only by a nested loop, the
    /// triangular walk `for i in 0..d { for j in i + 1..d { b[j] += w[idx] * g(i); idx += 1; }
    /// }` (the inner range `i + 1..d`, `i..d`, `0..i` or `0..i + 1`). The counter reads a float
    /// parameter, a buffer in scope or one filled first, or writes a new buffer (`b[idx] =
    /// ..`); it is perhaps read after the loop, as an index (`w[idx - 1]`) or as a float. The
    /// plan knows the largest value the counter reaches, so every index stays in range. `None`
    /// (before anything is declared) where no loop may open.
    fn counter_walk(&mut self) -> Option<Vec<ArmStmt>> {
        if !self.may_loop() || self.no_assignments {
            return None;
        }
        let nested = self.rng.chance(0.5);
        let names = self.mutation_loop_names(1 + usize::from(nested))?;
        let name = CURSOR_NAMES
            .into_iter()
            .find(|n| !self.vars.iter().any(|v| v.name == *n))?;
        let buffer_name_free = BUFFER_NAMES
            .into_iter()
            .any(|n| !self.vars.iter().any(|v| v.name == n));
        let usizes = self.visible_where(|v| v.kind == Kind::Usize);
        let param = (!usizes.is_empty()).then(|| self.rng.pick(&usizes));
        // The plan: where the counter starts, its step, the iterations, how far it gets.
        let mut start = match self.rng.below(10) {
            0..=3 => Stride::Lit(0),
            4..=6 => Stride::Lit(1 + self.rng.below(2)),
            _ => param.map_or(Stride::Lit(0), Stride::Param),
        };
        let mut step = match self.rng.below(10) {
            0..=4 => Stride::Lit(1),
            5..=7 => Stride::Lit(2),
            _ if nested => Stride::Lit(1),
            _ => param.map_or(Stride::Lit(1), Stride::Param),
        };
        let mut step_first = !nested && self.rng.chance(0.2);
        // Two elements read per step of 2: `acc += w[idx] * x + w[idx + 1]; idx += 2;`.
        let mut pair = !nested && self.rng.chance(0.6);
        // The inner range: `i + 1..n`, `0..i`, `i..n`, `0..i + 1`.
        let mut inner_range = self.rng.below(4);
        let mut n = if nested {
            self.rng.pick(&[2, 3, 3, 4])
        } else {
            2 + self.rng.below(3)
        };
        // How often the counter steps, and how many elements it reads (or writes) at most.
        let span = |n: usize, inner_range: usize| match (nested, inner_range) {
            (false, _) => n,
            (true, 0 | 1) => n * (n - 1) / 2,
            (true, _) => n * (n + 1) / 2,
        };
        let reach = |start: Stride, step: Stride, step_first: bool, pair: bool, n, inner_range| {
            let pair = pair && step == Stride::Lit(2);
            start.max()
                + (span(n, inner_range) - 1 + usize::from(step_first)) * step.max()
                + 1
                + usize::from(pair)
        };
        if reach(start, step, step_first, pair, n, inner_range) > 12 {
            start = Stride::Lit(0);
            step = Stride::Lit(1);
        }
        // Often a float parameter, the plan shrunk to its length (`icf[idx]` of GMM's C++).
        let arrays = self.visible_where(|v| v.kind.elements().is_some());
        let mut fitted = None;
        if !arrays.is_empty() && self.rng.chance(0.5) {
            let w = self.rng.pick(&arrays);
            let len = self.vars[w].kind.elements().unwrap_or(1);
            while reach(start, step, step_first, pair, n, inner_range) > len {
                let strides = (start, step, step_first) != (Stride::Lit(0), Stride::Lit(1), false);
                if strides && (n == 2 || self.rng.chance(0.5)) {
                    if step_first {
                        step_first = false;
                    } else if pair && step == Stride::Lit(2) {
                        pair = false;
                    } else if step != Stride::Lit(1) {
                        step = Stride::Lit(1);
                    } else {
                        start = Stride::Lit(0);
                    }
                } else if n > 2 {
                    n -= 1;
                } else if inner_range >= 2 {
                    inner_range -= 2;
                } else {
                    break;
                }
            }
            if reach(start, step, step_first, pair, n, inner_range) <= len {
                fitted = Some(w);
            }
        }
        let need = reach(start, step, step_first, pair, n, inner_range);
        let pair = pair && step == Stride::Lit(2);
        let span = span(n, inner_range);
        // The counter's largest value.
        let limit = start.max() + span * step.max();
        // What it indexes: a float parameter or a buffer in scope long enough, a buffer filled
        // first, or a new buffer it writes.
        let fits = self.visible_where(|v| {
            let len = match v.kind {
                Kind::Buffer(len, _) if v.phase == Phase::Readable => len,
                Kind::Output(len, _) => len,
                kind => kind.elements().unwrap_or(0),
            };
            len >= need
        });
        let mode = self.rng.below(10);
        let packed = need.max(3);
        let mode = match mode {
            _ if fitted.is_some() => "read",
            0..=5 if !fits.is_empty() => "read",
            8..=9 if buffer_name_free => "write",
            _ if buffer_name_free && self.loop_name().is_some() => "packed",
            _ if !fits.is_empty() => "read",
            _ => return None,
        };
        let mut stmts = Vec::new();
        let walked = match mode {
            "read" => Some(fitted.unwrap_or_else(|| self.rng.pick(&fits))),
            "packed" => {
                let is_vec = self.rng.chance(0.6);
                let (buffer, decl) = self.new_buffer(packed, BufLen::Lit(packed), is_vec)?;
                stmts.push(decl);
                self.fill(&mut stmts, buffer, packed, None, true);
                self.vars[buffer].phase = Phase::Readable;
                let infers = match first_store(&stmts[1..]) {
                    Some(ArmStmt::Store(_, _, None, e)) => {
                        !mentions_name(e, &self.vars, &self.vars[buffer].name)
                    }
                    _ => false,
                };
                self.buffer_ty(&mut stmts[0], infers);
                self.cov("counter reading a buffer filled first");
                Some(buffer)
            }
            _ => None,
        };
        let written = match walked {
            Some(_) => None,
            None => {
                let is_vec = self.rng.chance(0.6);
                let (buffer, mut decl) = self.new_buffer(need, BufLen::Lit(need), is_vec)?;
                self.buffer_ty(&mut decl, true);
                stmts.push(decl);
                self.cov("buffer written at a counter index");
                Some(buffer)
            }
        };
        // At times a second one long enough at the same index (`w[idx] * hs[idx]`).
        let second = match walked {
            Some(w) => {
                let others: Vec<usize> = fits.iter().copied().filter(|&v| v != w).collect();
                (!others.is_empty() && self.rng.chance(0.35)).then(|| self.rng.pick(&others))
            }
            None => None,
        };
        for w in walked.into_iter().chain(second) {
            self.vars[w].uses += 1;
            self.cov(match self.vars[w].kind {
                Kind::Buffer(..) => "counter indexing a buffer",
                Kind::Output(..) => "counter indexing an array returned by a call",
                _ => "counter indexing a float parameter",
            });
        }
        if second.is_some() {
            self.cov("counter indexing two arrays");
        }
        // The outer loop's count.
        let same_len: Vec<usize> = arrays
            .iter()
            .copied()
            .filter(|&a| self.vars[a].kind.elements() == Some(n))
            .collect();
        let count = match (self.rng.below(10), param) {
            (0..=1, _) if !same_len.is_empty() => {
                let a = self.rng.pick(&same_len);
                self.vars[a].uses += 1;
                Count::Len(a)
            }
            (2..=5, Some(p)) if n == 3 => {
                self.vars[p].uses += 1;
                self.cov("counter loop over a usize parameter");
                Count::Param(p)
            }
            _ => Count::Lit(n),
        };
        let mut runs_fully = !matches!(count, Count::Param(_));
        // The reads of the body other than the counter's: an accumulator, or a buffer in scope
        // (not the walked one) written at the loop index.
        let targets: Vec<usize> = self
            .readable_buffers()
            .into_iter()
            .filter(|&b| Some(b) != walked)
            .collect();
        let into_buffer = walked.is_some() && !targets.is_empty() && self.rng.chance(0.4);
        let acc = if walked.is_some() && !into_buffer {
            let mutables = self.assignable();
            // In a loop body, a new accumulator would be assigned by the body's later lines
            // and not read after the last of them.
            Some(
                if mutables.is_empty() || self.arm_depth == 0 && self.rng.chance(0.4) {
                    let name = self.fresh_name();
                    let id = self.declare(&name, Kind::Scalar, 0.0, true);
                    self.cov("let mut");
                    stmts.push(ArmStmt::LetMut(id, E::Lit(0.0)));
                    id
                } else {
                    self.rng.pick(&mutables)
                },
            )
        } else {
            None
        };
        let target = into_buffer.then(|| self.rng.pick(&targets));
        for stride in [start, step] {
            if let Stride::Param(p) = stride {
                self.vars[p].uses += 1;
            }
        }
        if matches!(start, Stride::Param(_)) {
            self.cov("counter starting at a usize parameter");
        }
        self.cov(match step {
            Stride::Lit(1) => "counter stepped by 1",
            Stride::Lit(_) => "counter stepped by 2",
            Stride::Param(_) => "counter stepped by a usize parameter",
        });
        // Not `mutable`: that is for float variables (`Gen::assignable`).
        let cursor = self.declare(name, Kind::Cursor(limit), limit as f64, false);
        if step == Stride::Lit(1) {
            self.allow("clippy::explicit_counter_loop");
        }
        self.vars[cursor].uses += 1;
        stmts.push(ArmStmt::Cursor(cursor, start));
        let at = Index::Cursor(cursor, 0);
        let (i, outer) = self.open_loop(names[0], n);
        let rev = self.rng.chance(0.2);
        let mut body = Vec::new();
        if !nested {
            self.cov("integer counter stepped in a loop, used as an index");
            if step_first {
                self.cov("counter stepped before its read");
                body.push(ArmStmt::Step(cursor, step));
            }
            let line = match (walked, written) {
                (Some(w), _) => {
                    let elem = self.walked_elem(w, second, &at);
                    if let Some(b) = target {
                        self.vars[i].uses += 1;
                        let (e, bound) = self.expr_reading(2, Some(elem));
                        let (e, bound) = self.limit(e, bound);
                        self.counter_store(b, Index::Loop(i, 0, self.buffer_len(b)), e, bound)
                    } else {
                        let (mut e, mut bound) = self.expr_reading(2, Some(elem));
                        if pair {
                            self.cov("counter reading w[idx] and w[idx + 1]");
                            self.cov("add");
                            e = bin(Op::Add, e, E::Elem(w, Index::Cursor(cursor, 1)));
                            bound += self.walked_bound(w);
                        }
                        let (e, bound) = self.sink(e, bound);
                        let (e, bound) = self.limit(e, bound);
                        self.accumulate_into(acc.expect("an accumulator"), e, bound)
                    }
                }
                (None, Some(b)) => {
                    let (e, bound) = self.write_value(None, false, true);
                    self.grow(b, bound);
                    ArmStmt::Store(b, at.clone(), None, e)
                }
                (None, None) => unreachable!("the counter reads or writes"),
            };
            body.push(line);
            if !step_first {
                body.push(ArmStmt::Step(cursor, step));
            }
            // The guard may skip every step (`if idx < 1 { continue; }`): then `w[idx - 1]`
            // after the loop is out of range. (Known from `OUTPUTS_FROM` on; the earlier
            // programs' guards happen to let the counter step.)
            if self.counter_guard(&mut body) && self.outputs {
                runs_fully = false;
            }
        } else {
            self.cov("counter stepped only by a nested loop");
            self.vars[i].uses += 1;
            // `j` is read by the buffer's index, or else by the value (`sink`).
            let (j, inner) = self.open_loop(names[1], n);
            let (from, inner_start, inner_count) = match inner_range {
                0 => (Some(i), 1, count.clone()),
                1 => (None, 0, Count::Var(i, 0)),
                2 => (Some(i), 0, count.clone()),
                _ => (None, 0, Count::Var(i, 1)),
            };
            self.cov(match inner_range {
                0 => "triangular walk over i + 1..n",
                1 => "triangular walk over 0..i",
                2 => "triangular walk over i..n",
                _ => "triangular walk over 0..i + 1",
            });
            // Something of the outer iteration: `i` as a float, `u[i]`, `b[i]`.
            let of_i = match self.rng.below(3) {
                0 if !arrays.is_empty() => {
                    let u = self.rng.pick(&arrays);
                    self.vars[u].uses += 1;
                    let len = self.vars[u].kind.elements().unwrap_or(1);
                    (E::Elem(u, Index::Loop(i, 0, len)), 1.5)
                }
                1 if !targets.is_empty() => {
                    let b = target.unwrap_or_else(|| self.rng.pick(&targets));
                    self.vars[b].uses += 1;
                    let len = self.buffer_len(b);
                    (E::Elem(b, Index::Loop(i, 0, len)), self.vars[b].bound)
                }
                _ => (E::IntF(i), n as f64),
            };
            let (g, gb) = self.expr_reading(2, Some(of_i));
            let inner_body = match (walked, written) {
                (Some(w), _) => {
                    let (g, gb) = self.squash(g);
                    let (elem, eb) = self.walked_elem(w, second, &at);
                    let (e, bound) = if self.rng.chance(0.7) {
                        (bin(Op::Mul, elem, g), eb * gb)
                    } else {
                        (bin(Op::Mul, g, elem), eb * gb)
                    };
                    self.cov("mul");
                    let (e, bound) = self.limit(e, bound);
                    let line = match target {
                        Some(b) => {
                            let len = self.buffer_len(b);
                            self.vars[j].uses += 1;
                            self.counter_store(b, Index::Loop(j, 0, len), e, bound)
                        }
                        None => {
                            let (e, bound) = self.sink(e, bound);
                            self.accumulate_into(acc.expect("an accumulator"), e, bound)
                        }
                    };
                    vec![line, ArmStmt::Step(cursor, step)]
                }
                (None, Some(b)) => {
                    let (e, bound) = self.sink(g, gb);
                    let (e, bound) = self.limit(e, bound);
                    let e = self.compound(e);
                    self.grow(b, bound);
                    vec![
                        ArmStmt::Store(b, at.clone(), None, e),
                        ArmStmt::Step(cursor, step),
                    ]
                }
                (None, None) => unreachable!("the counter reads or writes"),
            };
            let mut inner_body = inner_body;
            if self.counter_guard(&mut inner_body) && self.outputs {
                runs_fully = false;
            }
            self.close_loop(inner, &inner_body);
            body.push(ArmStmt::For(Loop {
                var: j,
                from,
                start: inner_start,
                count: inner_count,
                rev: self.rng.chance(0.15),
                body: inner_body,
            }));
            // The buffer the walk writes, read in the outer iteration (`qx` of `Qtimesx`).
            if let Some(b) = target {
                let len = self.buffer_len(b);
                self.read_back(&mut body, b, Index::Loop(i, 0, len));
            }
            // The counter, read in the outer iteration after the inner loop stepped it.
            if self.rng.chance(0.3) {
                let mutables = self.assignable();
                let into = acc.or_else(|| (!mutables.is_empty()).then(|| self.rng.pick(&mutables)));
                if let Some(into) = into {
                    self.vars[cursor].uses += 1;
                    let l = self.lit();
                    let term = bin(Op::Mul, E::IntF(cursor), E::Lit(l));
                    self.cov("counter read in the outer loop");
                    let line = self.accumulate_into(into, term, limit as f64 * l);
                    body.push(line);
                }
            }
        }
        self.close_loop(outer, &body);
        stmts.push(ArmStmt::For(Loop {
            var: i,
            from: None,
            start: 0,
            count,
            rev,
            body,
        }));
        // After the loop: the counter perhaps read, as a float or as an index (the element
        // read last), and the buffers written read again later.
        if let Some(b) = written.or(target) {
            self.vars[b].phase = Phase::Readable;
            self.vars[b].uses = 0;
            let len = self.buffer_len(b);
            let at = Index::Lit(self.rng.below(len));
            let bound = self.vars[b].bound;
            self.read_elem(&mut stmts, E::Elem(b, at), bound, true);
        }
        match (self.rng.below(10), walked, step) {
            (0..=2, ..) => self.vars[cursor].uses = 0,
            (3..=5, Some(w), Stride::Lit(s)) if runs_fully && s > 0 => {
                self.cov("counter read as an index after its loop");
                let back = if step_first { 0 } else { s as i64 };
                let bound = self.walked_bound(w);
                self.read_elem(
                    &mut stmts,
                    E::Elem(w, Index::Cursor(cursor, -back)),
                    bound,
                    true,
                );
            }
            _ => {}
        }
        Some(stmts)
    }

    /// At times `if cond { continue; }` first in the body of a counter's loop: the iterations
    /// that skip do not step the counter (a data-dependent count).
    /// Whether it did.
    fn counter_guard(&mut self, body: &mut Vec<ArmStmt>) -> bool {
        if self.rng.chance(0.15) {
            self.cov("counter step skipped by a continue guard");
            self.cov("continue guard");
            let cond = self.cond();
            body.insert(0, ArmStmt::Continue(cond));
            return true;
        }
        false
    }

    /// `w[at]`, or `w[at] * v[at]` with a `second` array, and its bound.
    fn walked_elem(&mut self, w: usize, second: Option<usize>, at: &Index) -> (E, f64) {
        let elem = E::Elem(w, at.clone());
        match second {
            Some(v) => {
                self.cov("mul");
                (
                    bin(Op::Mul, elem, E::Elem(v, at.clone())),
                    self.walked_bound(w) * self.walked_bound(v),
                )
            }
            None => (elem, self.walked_bound(w)),
        }
    }

    /// The bound of an element of a walked parameter or buffer.
    fn walked_bound(&self, w: usize) -> f64 {
        match self.vars[w].kind {
            Kind::Buffer(..) | Kind::Output(..) => self.vars[w].bound,
            _ => 1.5,
        }
    }

    /// `s += e` (or `-=`) into the accumulator of a counter's walk.
    fn accumulate_into(&mut self, target: usize, e: E, bound: f64) -> ArmStmt {
        let op = self.rng.pick(&[Op::Add, Op::Add, Op::Sub]);
        self.vars[target].uses += 1;
        self.vars[target].bound = (self.vars[target].bound + bound) * self.iterations as f64;
        let root = self.vars[target].root;
        self.vars[root].assigned = true;
        self.arm_assigned.push(target);
        self.cov("assignment in an arm");
        self.cov_assignment(Some(op));
        ArmStmt::Assign(target, Some(op), e)
    }

    /// `b[at] += e` (or `-=`) of a buffer in scope, in a counter's walk.
    fn counter_store(&mut self, buffer: usize, at: Index, e: E, bound: f64) -> ArmStmt {
        let op = self.rng.pick(&[Op::Add, Op::Add, Op::Sub]);
        let grown = self.vars[buffer].bound + bound * self.iterations as f64;
        self.grow(buffer, grown);
        self.vars[buffer].uses = 0;
        self.cov_update(Some(op), &at);
        self.store(buffer, at, Some(op), e)
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
        // Not when an arm declares its own variable of that name (the arm would assign that).
        if self.late_lets && self.rng.chance(0.5) && !self.declared_in(&chain, &name) {
            self.cov("let without a value");
            self.allow("clippy::needless_late_init");
            body.push(Stmt::LateLet(var, chain));
            return;
        }
        self.cov("let");
        body.push(Stmt::Let {
            var,
            mutable: false,
            annotated: false,
            rhs: Rhs::If(Box::new(chain)),
        });
    }

    /// Whether an arm of `chain` (or of an `if` in it) declares a variable called `name`.
    fn declared_in(&self, chain: &IfChain, name: &str) -> bool {
        chain
            .arms
            .iter()
            .map(|(_, block)| block)
            .chain(&chain.otherwise)
            .flat_map(|block| &block.stmts)
            .any(|stmt| match stmt {
                ArmStmt::Let(var, rhs) => {
                    self.vars[*var].name == name
                        || matches!(rhs, Rhs::If(inner) if self.declared_in(inner, name))
                }
                ArmStmt::If(inner) => self.declared_in(inner, name),
                _ => false,
            })
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

    /// The value of a program that returns a scalar, and its bound: an expression (perhaps
    /// `return`ed) or an `if`, with the variables not read yet folded in.
    fn scalar_tail(&mut self, body: &mut Vec<Stmt>) -> (Tail, f64) {
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
        let folded = self.fold_unread(&mut bound);
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
                Tail::Buffer(_) | Tail::Array(..) => unreachable!("a scalar value"),
            };
        }
        (tail, bound)
    }

    /// The variables not read yet (and the `const` item), each times a literal, summed: what
    /// the function's value adds so that every variable is read. `bound` grows by their
    /// bounds.
    fn fold_unread(&mut self, bound: &mut f64) -> Option<E> {
        let unread = self.visible_where(|v| v.uses == 0);
        let mut folded: Option<E> = None;
        if let Some((name, false)) = self.const_item.clone() {
            let l = self.lit();
            let value = self.named[0].1;
            *bound += value * l;
            folded = Some(bin(Op::Mul, E::Named(name.clone()), E::Lit(l)));
            self.const_item = Some((name, true));
        }
        for v in unread {
            let l = self.lit();
            let term = match self.vars[v].kind {
                Kind::Scalar => bin(Op::Mul, self.use_var(v), E::Lit(l)),
                Kind::Array(_)
                | Kind::ArrayRef(_)
                | Kind::Slice(_)
                | Kind::Vec(_)
                | Kind::Buffer(..)
                | Kind::Output(..) => {
                    self.vars[v].uses += 1;
                    bin(Op::Mul, E::Elem(v, Index::Lit(0)), E::Lit(l))
                }
                Kind::Usize | Kind::I32 | Kind::Counter(_) | Kind::Cursor(_) => {
                    match self.vars[v].kind {
                        Kind::Counter(_) => self.cov("while counter as a float"),
                        Kind::Cursor(_) => self.cov("stepped counter read after its loop"),
                        _ => {}
                    }
                    self.vars[v].uses += 1;
                    bin(Op::Mul, E::IntF(v), E::Lit(l))
                }
                Kind::Bool => unreachable!("flags are read above"),
                Kind::Index(_) => unreachable!("loop variables are read in their loop"),
            };
            *bound += self.vars[v].bound.max(1.5) * l;
            folded = Some(match folded {
                None => term,
                Some(f) => bin(Op::Add, f, term),
            });
        }
        folded
    }

    /// The value of a program that returns an array (programs from `OUTPUTS_FROM` on): the
    /// statements it needs appended to `body`, the tail, the output's type and a bound of its
    /// elements. The variables not read yet are folded into an element.
    fn output(&mut self, body: &mut Vec<Stmt>, shape: OutputShape) -> (Tail, Output, f64) {
        let is_vec = match shape {
            OutputShape::Buffer(is_vec) => {
                if let Some(value) = self.output_buffer(body, is_vec) {
                    return value;
                }
                is_vec
            }
            OutputShape::Literal(is_vec) | OutputShape::LetLiteral(is_vec) => is_vec,
        };
        let n = if is_vec && self.rng.chance(0.2) {
            1
        } else {
            2 + self.rng.below(3)
        };
        let mut elements = Vec::new();
        let mut bounds = Vec::new();
        for _ in 0..n {
            self.budget = 3 + self.rng.below(6) as i32;
            let (e, b) = self.expr(3);
            let (e, b) = self.limit(e, b);
            elements.push(e);
            bounds.push(b * 2.5);
        }
        if let Some(folded) = self.fold_unread(&mut bounds[0]) {
            elements[0] = bin(Op::Add, elements[0].clone(), folded);
        }
        let bound = bounds.iter().fold(0.0f64, |a, &b| a.max(b));
        let name = if matches!(shape, OutputShape::LetLiteral(_)) {
            self.cov(if is_vec {
                "Vec output: let r = vec![a, b]; r"
            } else {
                "array output: let r = [a, b]; r"
            });
            Some(self.fresh_name())
        } else {
            self.cov(if is_vec {
                "Vec output: vec![a, b] as the value"
            } else {
                "array output: [a, b] as the value"
            });
            None
        };
        self.cov_output(is_vec);
        let output = if is_vec {
            Output::Vec(n)
        } else {
            Output::Array(n)
        };
        (Tail::Array(elements, is_vec, name), output, bound)
    }

    fn cov_output(&mut self, is_vec: bool) {
        self.cov(if is_vec {
            "program returning Vec<F>"
        } else {
            "program returning [F; M]"
        });
        if self.fl == Fl::F32 {
            self.cov("program returning an array in f32");
        }
    }

    /// A local buffer as the value of an array-output program: one the body wrote (perhaps
    /// after reads), or a new one filled in a loop; at times rewritten in place (after reads
    /// of its elements) before it is returned. `None` when no buffer name is free.
    fn output_buffer(&mut self, body: &mut Vec<Stmt>, is_vec: bool) -> Option<(Tail, Output, f64)> {
        // See `OUTPUT_REWRITTEN` and `VEC_OUTPUT_REWRITTEN`.
        let rewritable = OUTPUT_REWRITTEN && (!is_vec || VEC_OUTPUT_REWRITTEN);
        let visible = self.visible();
        let existing: Vec<usize> = self.scopes[0]
            .iter()
            .copied()
            .filter(|&v| {
                visible.contains(&v)
                    && matches!(self.vars[v].kind, Kind::Buffer(_, vec) if vec == is_vec)
                    && self.vars[v].phase == Phase::Readable
            })
            .collect();
        let mut stmts = Vec::new();
        let (buffer, folded) = if rewritable && !existing.is_empty() && self.rng.chance(0.5) {
            self.cov("output: a buffer the body wrote before");
            let buffer = self.rng.pick(&existing);
            self.vars[buffer].uses += 1;
            if self.rng.chance(0.4) {
                self.cov("output: a buffer rewritten in place before it is returned");
                self.rewrite(&mut stmts, buffer);
            }
            (buffer, false)
        } else {
            let arrays = self.visible_where(|v| v.kind.elements().is_some());
            let len_of = if is_vec && !arrays.is_empty() && self.rng.chance(0.4) {
                Some(self.rng.pick(&arrays))
            } else {
                None
            };
            let (k, len) = match len_of {
                Some(w) => {
                    self.vars[w].uses += 1;
                    self.cov("buffer of length w.len()");
                    (self.vars[w].kind.elements().unwrap_or(1), BufLen::Len(w, 0))
                }
                None => {
                    let k = 2 + self.rng.below(3);
                    (k, BufLen::Lit(k))
                }
            };
            let (buffer, decl) = self.new_buffer(k, len, is_vec)?;
            stmts.push(decl);
            self.vars[buffer].uses += 1;
            let rewrite = rewritable && self.rng.chance(0.5);
            // Without a rewrite, the values not read yet are read by the fill.
            let mut bound = 0.0;
            let folded = if rewrite {
                None
            } else {
                self.fold_unread(&mut bound).map(|e| (e, bound))
            };
            let folds = folded.is_some();
            self.output_fill(&mut stmts, buffer, k, len_of, folded);
            self.vars[buffer].phase = Phase::Readable;
            let infers = match first_store(&stmts[1..]) {
                Some(ArmStmt::Store(_, _, None, e)) => {
                    !mentions_name(e, &self.vars, &self.vars[buffer].name)
                }
                _ => false,
            };
            self.buffer_ty(&mut stmts[0], infers);
            self.cov("output: a new buffer filled in a loop");
            if rewrite {
                self.cov("output: a buffer rewritten in place before it is returned");
                self.rewrite(&mut stmts, buffer);
            }
            (buffer, folds)
        };
        // What is still not read goes into an element, after the rewrites.
        let mut bound = 0.0;
        if let Some(e) = self.fold_unread(&mut bound) {
            assert!(
                rewritable && !folded,
                "the fill of a buffer read what was not read"
            );
            let n = self.buffer_len(buffer);
            let at = Index::Lit(self.rng.below(n));
            let grown = self.vars[buffer].bound + bound;
            self.grow(buffer, grown);
            stmts.push(ArmStmt::Store(buffer, at, Some(Op::Add), e));
        }
        body.extend(stmts.into_iter().map(Stmt::Arm));
        self.cov_output(is_vec);
        let n = self.buffer_len(buffer);
        let output = if is_vec {
            Output::Vec(n)
        } else {
            Output::Array(n)
        };
        Some((Tail::Buffer(buffer), output, self.vars[buffer].bound))
    }

    /// `for i in 0..k { b[i] = e; }`: every element of an output buffer written once, the
    /// values reading `folded` (the values the program has not read yet) when given.
    fn output_fill(
        &mut self,
        stmts: &mut Vec<ArmStmt>,
        buffer: usize,
        k: usize,
        len_of: Option<usize>,
        folded: Option<(E, f64)>,
    ) {
        let name = self
            .loop_name()
            .expect("a free loop name among the function's statements");
        let (count, iterations) = self.buffer_count(k, len_of);
        let rev = self.rng.chance(0.3);
        let (i, outer) = self.open_loop(name, iterations);
        self.vars[i].uses += 1;
        let at = Index::Loop(i, 0, k);
        let (e, b) = self.write_value(folded, false, true);
        self.grow(buffer, b);
        let body = vec![ArmStmt::Store(buffer, at, None, e)];
        self.close_loop(outer, &body);
        self.cov("buffer fill loop");
        stmts.push(ArmStmt::For(Loop {
            var: i,
            from: None,
            start: 0,
            count,
            rev,
            body,
        }));
    }

    /// From `ITERATORS_FROM` on: a reduction among the function's statements, `let mut s =
    /// init;` and a loop `for i in 0..n { s op= e; }` that the program writes as an iterator
    /// (`Printer::reduction_text`): over an array's elements (the loop variable read only as
    /// `w[i]`, hidden otherwise) or over a range `(0..n)`. The accumulator is read-only after.
    fn reduction(&mut self, body: &mut Vec<Stmt>) -> bool {
        if self.arm_depth > 0 || self.no_assignments || self.hidden.is_some() {
            return false;
        }
        if self.visible().iter().any(|&v| self.vars[v].name == "i") {
            return false;
        }
        let arrays = self.visible_where(|v| v.kind.elements().is_some());
        let usizes = self.visible_where(|v| v.kind == Kind::Usize);
        let fold = match self.rng.below(7) {
            0 | 1 => Fold::Sum,
            2 => Fold::SumAnnotated,
            3 => Fold::Product,
            4 | 5 => Fold::Closure,
            _ => Fold::Max,
        };
        let range = arrays.is_empty() || self.rng.chance(0.3);
        let (count, n, array) = if range {
            if !arrays.is_empty() && self.rng.chance(0.4) {
                let a = self.rng.pick(&arrays);
                self.vars[a].uses += 1;
                let n = self.vars[a].kind.elements().unwrap_or(1);
                (Count::Len(a), n, None)
            } else if !usizes.is_empty() && fold != Fold::Max && self.rng.chance(0.5) {
                // A `usize` parameter may be 0: an empty reduction (not of `max`).
                let u = self.rng.pick(&usizes);
                self.vars[u].uses += 1;
                (Count::Param(u), 3, None)
            } else {
                let n = 2 + self.rng.below(3);
                (Count::Lit(n), n, None)
            }
        } else {
            let a = self.rng.pick(&arrays);
            self.vars[a].uses += 1;
            let n = self.vars[a].kind.elements().unwrap_or(1);
            (Count::Len(a), n, Some(a))
        };
        let rev = fold == Fold::Closure && self.rng.chance(0.5) && (!range || RANGE_REV_FOLDS);
        let name = self.fresh_name();
        let acc = self.declare(&name, Kind::Scalar, 1.0, true);
        self.scopes.push(Vec::new());
        let var = self.declare("i", Kind::Index(n), n as f64, false);
        if array.is_some() {
            // The loop variable is read only as `w[i]`, the closure's element.
            self.scopes.last_mut().expect("a scope").pop();
        }
        self.hidden = Some(acc);
        let outer_iterations = self.iterations;
        self.iterations *= n;
        self.arm_depth += 1;
        let extra = array.map(|a| (E::Elem(a, Index::Loop(var, 0, n)), 1.5));
        let (e, b) = if fold == Fold::Max && array.is_some() && self.rng.chance(0.5) {
            extra.clone().expect("an array")
        } else {
            let (e, b) = self.expr_reading(2, extra);
            let (e, b) = if range { self.sink(e, b) } else { (e, b) };
            self.limit(e, b)
        };
        self.arm_depth -= 1;
        self.iterations = outer_iterations;
        self.hidden = None;
        self.scopes.pop();
        let fl = self.fl.ty();
        let (init, stmt, bound) = match fold {
            Fold::Sum | Fold::SumAnnotated => (
                E::Lit(0.0),
                ArmStmt::Assign(acc, Some(Op::Add), e),
                b * n as f64,
            ),
            Fold::Product => {
                let (sq, _) = self.squash(e);
                let factor = bin(Op::Add, E::Lit(1.0), bin(Op::Mul, E::Lit(0.5), sq));
                (
                    E::Lit(1.0),
                    ArmStmt::Assign(acc, Some(Op::Mul), factor),
                    1.5f64.powi(n as i32),
                )
            }
            Fold::Closure => (
                E::Lit(0.0),
                ArmStmt::Assign(
                    acc,
                    None,
                    bin(Op::Add, bin(Op::Mul, E::Var(acc), E::Lit(0.5)), e),
                ),
                2.0 * b,
            ),
            Fold::Max => (
                E::Named(format!("{fl}::NEG_INFINITY")),
                ArmStmt::Assign(acc, None, E::Method("max", false, vec![E::Var(acc), e])),
                b,
            ),
        };
        self.cov(match (fold, range) {
            (Fold::Sum | Fold::SumAnnotated, false) => "iterator sum",
            (Fold::Sum | Fold::SumAnnotated, true) => "range sum",
            (Fold::Product, _) => "iterator product",
            (Fold::Closure, _) => "iterator fold with a closure",
            (Fold::Max, _) => "iterator fold with max",
        });
        if rev {
            self.cov("reversed iterator fold");
        }
        self.any_loop = true;
        self.vars[acc].bound = bound.max(1.0);
        self.vars[acc].mutable = false;
        self.vars[acc].assigned = true;
        body.push(Stmt::Let {
            var: acc,
            mutable: true,
            annotated: false,
            rhs: Rhs::Expr(init),
        });
        body.push(Stmt::For(Loop {
            var,
            from: None,
            start: 0,
            count,
            rev,
            body: vec![stmt],
        }));
        self.reductions.push(Reduction {
            acc,
            var,
            array,
            fold,
        });
        true
    }

    fn function(&mut self, name: String) -> Function {
        let f32_share = if self.outputs {
            OUTPUT_F32_SHARE
        } else {
            F32_SHARE
        };
        self.fl = if self.rng.chance(f32_share) {
            Fl::F32
        } else {
            Fl::F64
        };
        // From `INSIDE_FROM` on, f64 (the inner callees have `hvp`, which is f64 only).
        if self.inside {
            self.fl = Fl::F64;
        }
        self.inner = 0;
        self.vars = Vec::new();
        self.scopes = vec![Vec::new()];
        self.named = Vec::new();
        self.const_item = None;
        self.focus = None;
        self.arm_depth = 0;
        self.arm_assigned.clear();
        self.iterations = 1;
        self.narrowed = false;
        self.extra = None;
        self.any_loop = false;
        self.allows.clear();
        self.loop_serial = 0;
        self.open_loops.clear();
        self.frozen.clear();
        self.reductions.clear();
        // From `OUTPUTS_FROM` on, some programs return an array.
        self.returns = None;
        if self.outputs && self.rng.chance(OUTPUT_SHARE) {
            let is_vec = self.rng.chance(0.5);
            self.returns = Some(match self.rng.below(10) {
                0..=4 => OutputShape::Buffer(is_vec),
                5..=7 => OutputShape::Literal(is_vec),
                _ => OutputShape::LetLiteral(is_vec),
            });
            // Their loops do not return (a `return` gives the function's value).
            self.loop_returns = false;
        }
        let loops_before = self.coverage.get("for loop").copied().unwrap_or(0);
        if self.fl == Fl::F32 {
            self.cov("f32 function");
        }

        // Parameters: 1-4 float ones, sometimes constants among them.
        let floats = self.rng.pick(&[1, 2, 2, 2, 3, 3, 3, 4]);
        // From `ITERATORS_FROM` on, more arrays (for element loops, `zip`s among them).
        let scalars_up_to = if self.iterators { 45 } else { 71 };
        let mut kinds: Vec<Kind> = (0..floats)
            .map(|_| match self.rng.below(100) {
                r if r <= scalars_up_to => Kind::Scalar,
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
                Kind::Index(_)
                | Kind::Buffer(..)
                | Kind::Counter(_)
                | Kind::Cursor(_)
                | Kind::Output(..) => {
                    unreachable!("loop variables, buffers and counters are not parameters")
                }
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

        self.differentiable = match &wrt {
            Some(wrt) => wrt.clone(),
            None => float_params.clone(),
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

        // From `OUTPUTS_FROM` on, fewer statements: the programs are about their outputs and
        // the calls that bind them, and the compile time stays in bounds.
        let statements = 2 + self.rng.below(if self.outputs { 4 } else { 6 });
        // From `MUTATION_FROM` on, at least one statement writes a buffer after a read (not
        // forced from `OUTPUTS_FROM` on).
        let forced = if self.mutation && !self.outputs {
            self.rng.below(statements)
        } else {
            usize::MAX
        };
        // From `OUTPUTS_FROM` on, a program that returns a scalar binds an array that an
        // earlier program returns (when there is one to call); others do at times.
        let forced_result = if self.outputs && self.returns.is_none() {
            self.rng.below(statements)
        } else {
            usize::MAX
        };
        // From `INSIDE_FROM` on, one statement at least takes a derivative inside.
        let forced_inner = if self.inside {
            self.rng.below(statements)
        } else {
            usize::MAX
        };
        for s in 0..statements {
            if self.inside
                && (s == forced_inner || self.rng.chance(0.2))
                && let Some(stmt) = self.inner()
            {
                body.push(Stmt::Arm(stmt));
            }
            // From `ITERATORS_FROM` on: a reduction written as an iterator.
            if self.iterators && self.rng.chance(0.35) && self.reduction(&mut body) {
                continue;
            }
            // And more loops, for `Printer::element_loop` to write over elements.
            if self.iterators && self.rng.chance(0.3) {
                // (A loop assigns a `let mut`: one first, if there is none yet.)
                if self.assignable().is_empty() {
                    self.let_mut(&mut body);
                }
                if let Some(l) = self.for_loop() {
                    body.push(Stmt::For(l));
                }
                continue;
            }
            if self.outputs
                && (s == forced_result || self.rng.chance(0.15))
                && let Some(stmt) = self.result_let()
            {
                body.push(Stmt::Arm(stmt));
            }
            if self.mutation && (s == forced || self.rng.chance(0.2)) {
                // A counter stepped by hand, not in place of the forced buffer mutation.
                if s != forced
                    && self.rng.chance(0.45)
                    && let Some(stmts) = self.counter_walk()
                {
                    body.extend(stmts.into_iter().map(Stmt::Arm));
                    continue;
                }
                let stmts = self.mutation();
                if !stmts.is_empty() {
                    body.extend(stmts.into_iter().map(Stmt::Arm));
                    continue;
                }
            }
            if self.extended {
                match self.rng.below(100) {
                    0..=21 => {
                        let stmts = self.buffer(false);
                        body.extend(stmts.into_iter().map(Stmt::Arm));
                        continue;
                    }
                    22..=33 => {
                        match self.while_loop() {
                            Some(stmts) => body.extend(stmts.into_iter().map(Stmt::Arm)),
                            None => self.let_mut(&mut body),
                        }
                        continue;
                    }
                    34..=41 => {
                        match self.for_loop() {
                            Some(l) => body.push(Stmt::For(l)),
                            None => self.let_mut(&mut body),
                        }
                        continue;
                    }
                    _ => {}
                }
            }
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
            let (mut otherwise, b2) = self.block(true);
            self.after_branches();
            // Two constant arms: not the same (clippy's if_same_then_else), and typed (rustc
            // cannot call a method on a `{float}`).
            let literals = matches!(
                (&arm.tail, &otherwise.tail),
                (Some(E::Lit(_)), Some(E::Lit(_)))
            );
            if self.extended
                && arm == otherwise
                && let Some(tail) = otherwise.tail.as_mut()
            {
                *tail = bin(Op::Add, tail.clone(), E::Lit(0.5));
            }
            let name = self.fresh_name();
            let var = self.declare(&name, Kind::Scalar, b1.max(b2), false);
            body.push(Stmt::Let {
                var,
                mutable: false,
                annotated: self.extended && literals,
                rhs: Rhs::If(Box::new(IfChain {
                    arms: vec![(cond, arm)],
                    otherwise: Some(otherwise),
                })),
            });
        }

        let (tail, output, bound) = match self.returns {
            Some(shape) => self.output(&mut body, shape),
            None => {
                let (tail, bound) = self.scalar_tail(&mut body);
                (tail, Output::Scalar, bound)
            }
        };
        let has_loop =
            self.coverage.get("for loop").copied().unwrap_or(0) > loops_before || self.any_loop;
        Function {
            name,
            has_loop,
            allows: self.allows.clone(),
            narrowed: self.narrowed,
            fl: self.fl,
            params,
            wrt,
            split: Vec::new(),
            split_first: false,
            jvp: false,
            jvp_first: false,
            hvp: false,
            inner: std::mem::take(&mut self.inner),
            wrap: None,
            output,
            iterators: self.iterators,
            reductions: std::mem::take(&mut self.reductions),
            vars: std::mem::take(&mut self.vars),
            body,
            tail,
        }
        .with_bound(bound, &mut self.sigs)
    }
}

/// `e` without its casts to the same type (the dual reference prints it that way).
fn uncast(e: &E) -> E {
    let all = |es: &[E]| es.iter().map(uncast).collect::<Vec<_>>();
    match e {
        E::Cast(a) => uncast(a),
        E::Neg(a) => E::Neg(boxed(uncast(a))),
        E::Bin(op, a, b) => bin(*op, uncast(a), uncast(b)),
        E::Method(name, path, args) => E::Method(name, *path, all(args)),
        E::Powi(a, x, path) => E::Powi(boxed(uncast(a)), x.clone(), *path),
        E::Sigmoid(a, path) => E::Sigmoid(boxed(uncast(a)), *path),
        E::Island(a, m) => E::Island(boxed(uncast(a)), m),
        E::Narrow(a, m) => E::Narrow(boxed(uncast(a)), m),
        E::Call(callee, args) => E::Call(
            callee.clone(),
            args.iter()
                .map(|a| match a {
                    Arg::Float(e) => Arg::Float(uncast(e)),
                    other => other.clone(),
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The variables that `stmts` assign, nested blocks included.
fn assigned_in(stmts: &[ArmStmt], out: &mut Vec<usize>) {
    for s in stmts {
        match s {
            ArmStmt::Assign(v, _, _) => out.push(*v),
            ArmStmt::For(l) => assigned_in(&l.body, out),
            ArmStmt::While(w) => assigned_in(&w.body, out),
            ArmStmt::If(chain) => {
                for block in chain.arms.iter().map(|(_, b)| b).chain(&chain.otherwise) {
                    assigned_in(&block.stmts, out);
                }
            }
            _ => {}
        }
    }
}

/// The variables (and buffers) that a condition reads.
fn cond_reads(c: &Cond, out: &mut Vec<usize>) {
    match c {
        Cond::Cmp(a, _, b) => {
            expr_reads(a, out);
            expr_reads(b, out);
        }
        Cond::Flag(..) | Cond::Int(..) => {}
        Cond::And(a, b) | Cond::Or(a, b) => {
            cond_reads(a, out);
            cond_reads(b, out);
        }
    }
}

/// The variables (and buffers) that an expression reads.
fn expr_reads(e: &E, out: &mut Vec<usize>) {
    {
        match e {
            E::Var(v) | E::Elem(v, _) => out.push(*v),
            E::Lit(_) | E::Named(_) | E::IntF(_) | E::Len(_) => {}
            E::Neg(a)
            | E::Powi(a, _, _)
            | E::Sigmoid(a, _)
            | E::Island(a, _)
            | E::Narrow(a, _)
            | E::Cast(a) => expr_reads(a, out),
            E::Bin(_, a, b) => {
                expr_reads(a, out);
                expr_reads(b, out);
            }
            E::Method(_, _, args) => args.iter().for_each(|a| expr_reads(a, out)),
            E::Call(_, args) => {
                for a in args {
                    match a {
                        Arg::Float(e) => expr_reads(e, out),
                        Arg::Array(v, _) => out.push(*v),
                        Arg::Const(_) => {}
                    }
                }
            }
        }
    }
}

/// The first buffer write in `stmts`, in program order.
fn first_store(stmts: &[ArmStmt]) -> Option<&ArmStmt> {
    stmts.iter().find_map(|s| match s {
        ArmStmt::Store(..) => Some(s),
        ArmStmt::For(l) => first_store(&l.body),
        ArmStmt::While(w) => first_store(&w.body),
        ArmStmt::If(chain) => chain
            .arms
            .iter()
            .map(|(_, b)| b)
            .chain(chain.otherwise.as_ref())
            .find_map(|b| first_store(&b.stmts)),
        _ => None,
    })
}

/// Whether `e` reads a variable named `name`.
fn mentions_name(e: &E, vars: &[Var], name: &str) -> bool {
    let any = |es: &[E]| es.iter().any(|e| mentions_name(e, vars, name));
    match e {
        E::Var(v) | E::Elem(v, _) | E::IntF(v) | E::Len(v) => vars[*v].name == name,
        E::Lit(_) | E::Named(_) => false,
        E::Neg(a)
        | E::Powi(a, _, _)
        | E::Sigmoid(a, _)
        | E::Island(a, _)
        | E::Narrow(a, _)
        | E::Cast(a) => mentions_name(a, vars, name),
        E::Bin(_, a, b) => mentions_name(a, vars, name) || mentions_name(b, vars, name),
        E::Method(_, _, args) => any(args),
        E::Call(_, args) => args.iter().any(|a| match a {
            Arg::Float(e) => mentions_name(e, vars, name),
            Arg::Array(v, _) => vars[*v].name == name,
            Arg::Const(s) => s == name,
        }),
    }
}

/// Where a call of an earlier program sits: in how many `for` and `while` loops, in how many
/// `if` arms (guards' lines too), and as an argument of another call.
#[derive(Clone, Copy, Default)]
struct Site {
    fors: usize,
    whiles: usize,
    arms: usize,
    argument: bool,
}

/// A call of an earlier program, where it sits, and whether the macro differentiates it (see
/// `Calls`).
struct ProgramCall {
    callee: usize,
    site: Site,
    differentiated: bool,
    /// Whether it gets a reference to an array the caller owns: `&b` of a local buffer, `&w`
    /// of an array or `Vec` parameter taken by value.
    owned_reference: bool,
    /// Whether it gets, by value, an array the caller owns that has no gradient (see
    /// `SPLIT_CONSTANT_ARRAY_ARGUMENTS`).
    constant_array: bool,
    /// Whether it gets, as it is, a reference parameter (`&[F; N]`, `&[F]`) that has no
    /// gradient (see `JVP_CONSTANT_REFERENCE_ARGUMENTS`).
    constant_reference: bool,
}

/// The calls of earlier programs in a function, and which of them the macro differentiates:
/// a call is lowered as a call (which `split(..)` can name) when it reads a value with a
/// gradient, not in a condition; otherwise it is a constant of the function, which
/// `split(..)` cannot name (see `SPLIT_UNDIFFERENTIATED_CALLEES`). The activity follows the
/// macro's: forward in program order, a variable taking the activity of its last assignment
/// (the arms of an `if` joined, a loop body run until nothing changes); the values of `floor`,
/// `ceil`, `round`, `round_ties_even`, `trunc` and `signum` have no gradient; a buffer has one
/// from its declaration on once any write gives it one.
struct Calls<'a> {
    vars: &'a [Var],
    active: Vec<bool>,
    /// The buffers active from their declaration, and those written an active value.
    active_buffers: Vec<usize>,
    written_active: Vec<usize>,
    /// The states at the `break`s of the loops being walked.
    breaks: Vec<Vec<bool>>,
    site: Site,
    found: Vec<ProgramCall>,
    /// Whether a loop body returns (`if cond { ..; return v; }`; see `JVP_RETURN_IN_LOOPS`).
    loop_return: bool,
    /// The reductions' accumulators, and whether a differentiated call (or derivative inside)
    /// gets one without a gradient (see `JVP_CONSTANT_REDUCTION_ARGUMENTS`).
    accumulators: Vec<usize>,
    constant_reduction_argument: bool,
    /// Whether the value of an array-output program is an array literal (`[a, b]`, `vec![a,
    /// b]`, bound first or not) without a gradient (see `JVP_CONSTANT_ARRAY_OUTPUT`).
    constant_literal_output: bool,
}

impl<'a> Calls<'a> {
    fn of(f: &Function) -> Vec<ProgramCall> {
        Calls::walk(f).found
    }

    /// The walk of `f`, once the buffers' activity is settled.
    fn walk(f: &'a Function) -> Calls<'a> {
        let mut active_buffers = Vec::new();
        loop {
            let mut walk = Calls {
                vars: &f.vars,
                active: vec![false; f.vars.len()],
                active_buffers: active_buffers.clone(),
                written_active: Vec::new(),
                breaks: Vec::new(),
                site: Site::default(),
                found: Vec::new(),
                loop_return: false,
                accumulators: f.reductions.iter().map(|r| r.acc).collect(),
                constant_reduction_argument: false,
                constant_literal_output: false,
            };
            for &p in &f.params {
                let float = f.vars[p].kind == Kind::Scalar || f.vars[p].kind.elements().is_some();
                walk.active[p] = float && f.wrt.as_ref().is_none_or(|wrt| wrt.contains(&p));
            }
            walk.function(f);
            if walk
                .written_active
                .iter()
                .all(|b| active_buffers.contains(b))
            {
                return walk;
            }
            active_buffers = walk.written_active;
        }
    }

    fn root(&self, v: usize) -> usize {
        self.vars[v].root
    }

    fn is_active(&self, v: usize) -> bool {
        self.active[self.root(v)]
    }

    fn set(&mut self, v: usize, active: bool) {
        let r = self.root(v);
        self.active[r] = active;
    }

    /// Whether `e` reads a variable with a gradient (the macro's test for lowering it).
    fn mentions(&self, e: &E) -> bool {
        match e {
            E::Lit(_) | E::Named(_) | E::IntF(_) | E::Len(_) => false,
            E::Var(v) | E::Elem(v, _) => self.is_active(*v),
            E::Neg(a)
            | E::Powi(a, _, _)
            | E::Sigmoid(a, _)
            | E::Island(a, _)
            | E::Narrow(a, _)
            | E::Cast(a) => self.mentions(a),
            E::Bin(_, a, b) => self.mentions(a) || self.mentions(b),
            E::Method(_, _, args) => args.iter().any(|a| self.mentions(a)),
            E::Call(_, args) => args.iter().any(|a| self.arg_mentions(a)),
        }
    }

    /// Whether the arguments of a differentiated call read a reduction without a gradient.
    fn note_constant_reductions<'e>(&mut self, floats: impl Iterator<Item = &'e E>) {
        let mut reads = Vec::new();
        for e in floats {
            expr_reads(e, &mut reads);
        }
        if reads
            .iter()
            .any(|&v| self.accumulators.contains(&v) && !self.is_active(v))
        {
            self.constant_reduction_argument = true;
        }
    }

    fn arg_mentions(&self, a: &Arg) -> bool {
        match a {
            Arg::Float(e) => self.mentions(e),
            Arg::Array(v, _) => self.is_active(*v),
            Arg::Const(_) => false,
        }
    }

    /// Walks `e`, recording its calls of earlier programs; whether its value has a gradient.
    fn expr(&mut self, e: &E, cond: bool) -> bool {
        match e {
            E::Lit(_) | E::Named(_) | E::IntF(_) | E::Len(_) => false,
            E::Var(v) | E::Elem(v, _) => self.is_active(*v),
            E::Neg(a)
            | E::Powi(a, _, _)
            | E::Sigmoid(a, _)
            | E::Island(a, _)
            | E::Narrow(a, _)
            | E::Cast(a) => self.expr(a, cond),
            E::Bin(_, a, b) => {
                let a = self.expr(a, cond);
                self.expr(b, cond) || a
            }
            E::Method(name, _, args) => {
                let mut active = false;
                for a in args {
                    active |= self.expr(a, cond);
                }
                active
                    && !matches!(
                        *name,
                        "floor" | "ceil" | "round" | "round_ties_even" | "trunc" | "signum"
                    )
            }
            E::Call(callee, args) => {
                if !cond && args.iter().any(|a| self.arg_mentions(a)) {
                    self.note_constant_reductions(args.iter().filter_map(|a| match a {
                        Arg::Float(e) => Some(e),
                        _ => None,
                    }));
                }
                if let Callee::Program(i) = callee {
                    let differentiated = !cond && args.iter().any(|a| self.arg_mentions(a));
                    let owned_reference = args.iter().any(|a| {
                        matches!(a, Arg::Array(v, true) if matches!(
                            self.vars[*v].kind,
                            Kind::Array(_) | Kind::Vec(_) | Kind::Buffer(..) | Kind::Output(..)
                        ))
                    });
                    let constant_array = args.iter().any(|a| {
                        matches!(a, Arg::Array(v, false) if matches!(
                            self.vars[*v].kind,
                            Kind::Array(_) | Kind::Buffer(..) | Kind::Output(..)
                        ) && !self.is_active(*v))
                    });
                    let constant_reference = args.iter().any(|a| {
                        matches!(a, Arg::Array(v, false) if matches!(
                            self.vars[*v].kind,
                            Kind::ArrayRef(_) | Kind::Slice(_)
                        ) && !self.is_active(*v))
                    });
                    self.found.push(ProgramCall {
                        callee: *i,
                        site: self.site,
                        differentiated,
                        owned_reference,
                        constant_array,
                        constant_reference,
                    });
                }
                let outer = self.site;
                self.site.argument = true;
                let mut active = false;
                for a in args {
                    active |= match a {
                        Arg::Float(e) => self.expr(e, cond),
                        Arg::Array(v, _) => self.is_active(*v),
                        Arg::Const(_) => false,
                    };
                }
                self.site = outer;
                active
            }
        }
    }

    fn cond(&mut self, c: &Cond) {
        match c {
            Cond::Cmp(a, _, b) => {
                self.expr(a, true);
                self.expr(b, true);
            }
            Cond::Flag(..) | Cond::Int(..) => {}
            Cond::And(a, b) | Cond::Or(a, b) => {
                self.cond(a);
                self.cond(b);
            }
        }
    }

    fn rhs(&mut self, rhs: &Rhs) -> bool {
        match rhs {
            Rhs::Expr(e) => self.expr(e, false),
            Rhs::If(chain) => self.chain(chain),
        }
    }

    /// An `if` chain: each arm from the state before it, the states after the arms joined
    /// (with the state before, without an `else`); whether a value it ends with is active.
    fn chain(&mut self, chain: &IfChain) -> bool {
        let before = self.active.clone();
        let mut after = if chain.otherwise.is_some() {
            vec![false; before.len()]
        } else {
            before.clone()
        };
        let mut value = false;
        let blocks = chain
            .arms
            .iter()
            .map(|(cond, block)| (Some(cond), block))
            .chain(chain.otherwise.iter().map(|block| (None, block)));
        for (cond, block) in blocks {
            self.active.clone_from(&before);
            if let Some(cond) = cond {
                self.cond(cond);
            }
            self.site.arms += 1;
            self.arm_stmts(&block.stmts);
            if let Some(tail) = &block.tail {
                value |= self.expr(tail, false);
            }
            self.site.arms -= 1;
            Self::join(&mut after, &self.active);
        }
        self.active = after;
        value
    }

    fn join(into: &mut [bool], from: &[bool]) {
        for (a, &b) in into.iter_mut().zip(from) {
            *a |= b;
        }
    }

    /// A loop: its body (and condition) from the state at its head, the states at the head
    /// joined with those at the end of the body until nothing changes, then with those at
    /// its `break`s.
    fn looped(&mut self, cond: Option<&Cond>, body: &[ArmStmt], fors: usize, whiles: usize) {
        let outer = self.site;
        self.site.fors += fors;
        self.site.whiles += whiles;
        self.breaks.push(vec![false; self.active.len()]);
        let recorded = self.found.len();
        loop {
            // The calls as the last walk, from the joined state, finds them.
            self.found.truncate(recorded);
            let head = self.active.clone();
            if let Some(cond) = cond {
                self.cond(cond);
            }
            self.arm_stmts(body);
            let mut next = head.clone();
            Self::join(&mut next, &self.active);
            self.active = next;
            if self.active == head {
                break;
            }
        }
        let breaks = self.breaks.pop().expect("the loop's breaks");
        Self::join(&mut self.active, &breaks);
        self.site = outer;
    }

    /// Lines run before leaving (a `break` or `return` guard's), from the current state.
    fn lines(&mut self, lines: &[ArmStmt]) -> Vec<bool> {
        let before = self.active.clone();
        self.site.arms += 1;
        self.arm_stmts(lines);
        self.site.arms -= 1;
        std::mem::replace(&mut self.active, before)
    }

    fn arm_stmts(&mut self, stmts: &[ArmStmt]) {
        for s in stmts {
            match s {
                ArmStmt::Let(v, rhs) => {
                    let active = self.rhs(rhs);
                    self.set(*v, active);
                }
                ArmStmt::LetMut(v, e) => {
                    let active = self.expr(e, false);
                    self.set(*v, active);
                }
                ArmStmt::Assign(v, op, e) => {
                    let active = self.expr(e, false) || (op.is_some() && self.is_active(*v));
                    self.set(*v, active);
                }
                ArmStmt::Store(b, _, _, e) => {
                    if self.expr(e, false) {
                        self.active[*b] = true;
                        if !self.written_active.contains(b) {
                            self.written_active.push(*b);
                        }
                    }
                }
                ArmStmt::Buffer(b, ..) => {
                    self.active[*b] = self.active_buffers.contains(b);
                }
                ArmStmt::If(chain) => {
                    self.chain(chain);
                }
                ArmStmt::For(l) => self.looped(None, &l.body, 1, 0),
                ArmStmt::While(w) => self.looped(Some(&w.cond), &w.body, 0, 1),
                ArmStmt::Continue(cond) => self.cond(cond),
                ArmStmt::Break(cond, lines) => {
                    self.cond(cond);
                    let state = self.lines(lines);
                    if let Some(breaks) = self.breaks.last_mut() {
                        Self::join(breaks, &state);
                    }
                }
                ArmStmt::Return(cond, lines, value) => {
                    self.loop_return = true;
                    self.cond(cond);
                    // Nothing after a `return` runs: the state goes on from before its lines.
                    let before = self.active.clone();
                    self.site.arms += 1;
                    self.arm_stmts(lines);
                    self.expr(value, false);
                    self.site.arms -= 1;
                    self.active = before;
                }
                ArmStmt::Counter(_)
                | ArmStmt::Incr(_)
                | ArmStmt::Cursor(..)
                | ArmStmt::Step(..) => {}
                // Not a call of `g` (what `split(..)` and `jvp` ask about): `g` has `jvp`
                // and `hvp`, and the bindings take the activity of the arguments.
                ArmStmt::Inner(inner) => {
                    let outer = self.site;
                    self.site.argument = true;
                    let mut active = false;
                    for a in &inner.args {
                        if let Arg::Float(e) = a {
                            active |= self.expr(e, false);
                        }
                    }
                    for e in inner.tangents.iter().flatten() {
                        active |= self.expr(e, false);
                    }
                    self.site = outer;
                    if active {
                        let floats: Vec<&E> = inner
                            .args
                            .iter()
                            .filter_map(|a| match a {
                                Arg::Float(e) => Some(e),
                                _ => None,
                            })
                            .chain(inner.tangents.iter().flatten())
                            .collect();
                        self.note_constant_reductions(floats.into_iter());
                    }
                    for &v in inner.value.iter().chain(inner.parts.iter().flatten()) {
                        self.set(v, active);
                    }
                }
            }
        }
    }

    fn function(&mut self, f: &Function) {
        for s in &f.body {
            match s {
                Stmt::Const(..) | Stmt::Discard(_) => {}
                Stmt::Let { var, rhs, .. } => {
                    let active = self.rhs(rhs);
                    self.set(*var, active);
                }
                Stmt::Assign { var, op, rhs } => {
                    let active = self.expr(rhs, false) || (op.is_some() && self.is_active(*var));
                    self.set(*var, active);
                }
                Stmt::If(chain) => {
                    self.chain(chain);
                }
                Stmt::LateLet(var, chain) => {
                    let active = self.chain(chain);
                    self.set(*var, active);
                }
                Stmt::For(l) => self.looped(None, &l.body, 1, 0),
                Stmt::Arm(a) => self.arm_stmts(std::slice::from_ref(a)),
            }
        }
        match &f.tail {
            Tail::Expr(e) | Tail::Return(e) => {
                self.expr(e, false);
            }
            Tail::If(chain) => {
                self.chain(chain);
            }
            Tail::Buffer(_) => {}
            Tail::Array(elements, ..) => {
                let mut active = false;
                for e in elements {
                    active |= self.expr(e, false);
                }
                self.constant_literal_output = !active;
            }
        }
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
            narrowed: self.narrowed,
            has_loop: self.has_loop,
            buffers: self.vars.iter().any(|v| matches!(v.kind, Kind::Buffer(..))),
            output: self.output,
            jvp: false,
            hvp: false,
            wrapped: false,
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
    matches!(
        e,
        E::IntF(_) | E::Len(_) | E::Island(..) | E::Narrow(..) | E::Cast(_)
    )
}

struct Printer<'a> {
    f: &'a Function,
    sigs: &'a [Sig],
    /// While printing an iterator's body (programs from `ITERATORS_FROM` on): the elements
    /// `w[i]` (array, loop variable) and variables (the fold's accumulator) printed by the
    /// name of the closure's or the pattern's binding.
    names: RefCell<Vec<(Named, String)>>,
}

/// What a binding of an iterator stands for (`Printer::names`).
#[derive(Clone, Copy, PartialEq)]
enum Named {
    Elem(usize, usize),
    Var(usize),
}

/// Whether `text` has the identifier `name`.
fn has_ident(text: &str, name: &str) -> bool {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    text.match_indices(name)
        .any(|(at, _)| !text[..at].ends_with(ident) && !text[at + name.len()..].starts_with(ident))
}

impl Printer<'_> {
    fn ty(&self) -> &'static str {
        self.f.fl.ty()
    }

    fn name(&self, v: usize) -> &str {
        // A parameter in the struct, as the program reads it: `p.x`.
        if let Some(wrap) = &self.f.wrap
            && wrap.printing.get()
            && let Some((_, path)) = wrap.paths.iter().find(|(w, _)| *w == v)
        {
            return path;
        }
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
            Index::Offset(i, delta) if *delta < 0 => format!("{} - {}", self.name(*i), -delta),
            Index::Offset(i, delta) => format!("{} + {delta}", self.name(*i)),
            Index::Grid(t, 0, stride, j) => {
                format!("{} * {stride} + {}", self.name(*t), self.name(*j))
            }
            Index::Grid(t, back, stride, j) => {
                format!(
                    "({} - {back}) * {stride} + {}",
                    self.name(*t),
                    self.name(*j)
                )
            }
            Index::Cursor(c, 0) => self.name(*c).to_string(),
            Index::Cursor(c, delta) if *delta < 0 => format!("{} - {}", self.name(*c), -delta),
            Index::Cursor(c, delta) => format!("{} + {delta}", self.name(*c)),
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
            E::Var(v) => match self.named(Named::Var(*v)) {
                Some(name) => (name, P_POSTFIX),
                None => (self.name(*v).to_string(), P_POSTFIX),
            },
            E::Elem(v, index) => match index {
                Index::Loop(i, 0, len)
                    if matches!(self.f.vars[*i].kind, Kind::Index(count) if count <= *len)
                        && let Some(name) = self.named(Named::Elem(*v, *i)) =>
                {
                    (name, P_POSTFIX)
                }
                _ => (
                    format!("{}[{}]", self.name(*v), self.index(index)),
                    P_POSTFIX,
                ),
            },
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
                        // The `usize` parameter in the struct: `p.n`.
                        Arg::Const(s) => match &self.f.wrap {
                            Some(wrap) if wrap.skip.is_some_and(|n| self.f.vars[n].name == *s) => {
                                self.name(wrap.skip.expect("the skipped field")).to_string()
                            }
                            _ => s.clone(),
                        },
                    })
                    .collect();
                (
                    format!("{}({})", self.callee(callee), args.join(", ")),
                    P_POSTFIX,
                )
            }
            E::Island(a, "") => (format!("{} as f64 as f32", self.fwd(a, P_UNARY)), P_CAST),
            E::Island(a, m) => (
                format!("({} as f64).{m}() as f32", self.fwd(a, P_UNARY)),
                P_CAST,
            ),
            E::Narrow(a, "") => (format!("{} as f32 as f64", self.fwd(a, P_UNARY)), P_CAST),
            E::Narrow(a, m) => (
                format!("({} as f32).{m}() as f64", self.fwd(a, P_UNARY)),
                P_CAST,
            ),
            E::Cast(a) => (format!("{} as {ty}", self.fwd(a, P_UNARY)), P_CAST),
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
            E::Island(a, "") => (format!("narrow(widen({}))", self.dual(a, 0)), P_POSTFIX),
            E::Island(a, "tanh") => (
                format!("narrow(pw64::tanh(widen({})))", self.dual(a, 0)),
                P_POSTFIX,
            ),
            E::Island(a, m) => (
                format!("narrow(widen({}).{m}())", self.dual(a, 0)),
                P_POSTFIX,
            ),
            E::Narrow(a, "") => (format!("widen(narrow({}))", self.dual(a, 0)), P_POSTFIX),
            E::Narrow(a, "tanh") => (
                format!("widen(pw32::tanh(narrow({})))", self.dual(a, 0)),
                P_POSTFIX,
            ),
            E::Narrow(a, m) => (
                format!("widen(narrow({}).{m}())", self.dual(a, 0)),
                P_POSTFIX,
            ),
            E::Cast(a) => self.dual_raw(a),
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
        self.if_text_into(chain, None, dual, indent)
    }

    /// `if_text`, each arm's value assigned to `target` (`target = value;`) when there is one.
    fn if_text_into(
        &self,
        chain: &IfChain,
        target: Option<&str>,
        dual: bool,
        indent: &str,
    ) -> String {
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
            s.push_str(&self.block_text(block, target, dual, &inner));
        }
        if let Some(otherwise) = &chain.otherwise {
            let _ = writeln!(s, "{indent}}} else {{");
            s.push_str(&self.block_text(otherwise, target, dual, &inner));
        }
        let _ = write!(s, "{indent}}}");
        s
    }

    fn block_text(&self, block: &Block, target: Option<&str>, dual: bool, indent: &str) -> String {
        let mut s = String::new();
        for stmt in &block.stmts {
            s.push_str(&self.arm_text(stmt, dual, indent));
        }
        if let Some(tail) = &block.tail {
            let value = self.value(tail, dual);
            let _ = match target {
                Some(target) => writeln!(s, "{indent}{target} = {value};"),
                None => writeln!(s, "{indent}{value}"),
            };
        }
        s
    }

    /// A condition, on dual numbers with its decision logged.
    fn decided(&self, cond: &Cond, dual: bool) -> String {
        if dual {
            format!("{}::decide({})", self.f.fl.pw(), self.cond_dual(cond))
        } else {
            self.cond_fwd(cond)
        }
    }

    /// `if cond { before; exit; }`, on its own lines.
    fn guard_text(
        &self,
        cond: &Cond,
        before: &[ArmStmt],
        exit: &str,
        dual: bool,
        indent: &str,
    ) -> String {
        let inner = format!("{indent}    ");
        let lines: String = before
            .iter()
            .map(|stmt| self.arm_text(stmt, dual, &inner))
            .collect();
        format!(
            "{indent}if {} {{\n{lines}{inner}{exit};\n{indent}}}\n",
            self.decided(cond, dual)
        )
    }

    /// One statement of a block, on its own lines.
    fn arm_text(&self, stmt: &ArmStmt, dual: bool, indent: &str) -> String {
        let mut s = String::new();
        let _ = match stmt {
            ArmStmt::Let(var, rhs) => writeln!(
                s,
                "{indent}let {}{} = {};",
                self.name(*var),
                self.output_annotation(*var, dual),
                self.rhs(rhs, dual, indent)
            ),
            ArmStmt::Assign(var, op, rhs) => {
                let target = self.name(*var).to_string();
                writeln!(s, "{indent}{};", self.assignment(&target, *op, rhs, dual))
            }
            ArmStmt::If(chain) => writeln!(s, "{indent}{}", self.if_text(chain, dual, indent)),
            ArmStmt::For(l) => writeln!(s, "{indent}{}", self.loop_text(l, dual, indent)),
            ArmStmt::Continue(cond) => writeln!(
                s,
                "{indent}if {} {{\n{indent}    continue;\n{indent}}}",
                self.decided(cond, dual)
            ),
            ArmStmt::Return(cond, before, e) => {
                let exit = format!("return {}", self.value(e, dual));
                s.push_str(&self.guard_text(cond, before, &exit, dual, indent));
                Ok(())
            }
            ArmStmt::Break(cond, before) => {
                s.push_str(&self.guard_text(cond, before, "break", dual, indent));
                Ok(())
            }
            ArmStmt::Buffer(var, init, len, ty) => {
                let elem = if dual { self.f.fl.dual() } else { self.ty() };
                let init = match (dual, ty) {
                    (true, _) => format!("c({}{})", lit(*init), self.ty()),
                    (false, BufTy::Suffix) => format!("{}{}", lit(*init), self.ty()),
                    (false, _) => lit(*init),
                };
                let length = match len {
                    BufLen::Lit(n) => n.to_string(),
                    BufLen::Len(w, 0) => format!("{}.len()", self.name(*w)),
                    BufLen::Len(w, plus) => format!("{}.len() + {plus}", self.name(*w)),
                };
                let (text, annotation) = if self.is_vec(*var) {
                    (format!("vec![{init}; {length}]"), format!(": Vec<{elem}>"))
                } else {
                    (
                        format!("[{init}; {length}]"),
                        format!(": [{elem}; {length}]"),
                    )
                };
                let annotation = if *ty == BufTy::Annotated {
                    annotation
                } else {
                    String::new()
                };
                writeln!(
                    s,
                    "{indent}let mut {}{annotation} = {text};",
                    self.name(*var)
                )
            }
            ArmStmt::Store(var, index, op, rhs) => {
                let target = format!("{}[{}]", self.name(*var), self.index(index));
                match (op, dual) {
                    // `b[i] += e` on dual numbers borrows `b` mutably, then `e` cannot read it.
                    (Some(op), true) if mentions_name(rhs, &self.f.vars, self.name(*var)) => {
                        writeln!(
                            s,
                            "{indent}{{\n{indent}    let value = {};\n{indent}    {target} {}= value;\n{indent}}}",
                            self.darg(rhs),
                            op.sym(),
                        )
                    }
                    _ => writeln!(s, "{indent}{};", self.assignment(&target, *op, rhs, dual)),
                }
            }
            ArmStmt::LetMut(var, init) => {
                let value = match (init, dual) {
                    (E::Lit(v), false) => format!("{}{}", lit(*v), self.ty()),
                    _ => self.value(init, dual),
                };
                writeln!(s, "{indent}let mut {} = {value};", self.name(*var))
            }
            ArmStmt::Counter(var) => writeln!(s, "{indent}let mut {} = 0;", self.name(*var)),
            ArmStmt::Incr(var) => writeln!(s, "{indent}{} += 1;", self.name(*var)),
            ArmStmt::Cursor(var, start) => writeln!(
                s,
                "{indent}let mut {} = {};",
                self.name(*var),
                self.stride(*start)
            ),
            ArmStmt::Step(var, step) => {
                writeln!(s, "{indent}{} += {};", self.name(*var), self.stride(*step))
            }
            ArmStmt::Inner(inner) => {
                s.push_str(&self.inner_text(inner, dual, indent));
                Ok(())
            }
            ArmStmt::While(w) => {
                let body = Block {
                    stmts: w.body.clone(),
                    tail: None,
                };
                writeln!(
                    s,
                    "{indent}while {} {{\n{}{indent}}}",
                    self.decided(&w.cond, dual),
                    self.block_text(&body, None, dual, &format!("{indent}    "))
                )
            }
        };
        s
    }

    /// A derivative inside (`Gen::inner`): `let (v, d) = g_jvp(a, b, 0.0, 1.0);` or `let (v,
    /// (_, db)) = g_grad(a, b);`; on dual numbers `let (v, d) = inner_jvp(&[a, b], &[c(0.0),
    /// c(1.0)], |h| g_hyper(h[0], h[1]));` or `let (v, [_, db]) = inner_grad(&[a, b], |h|
    /// g_hyper(h[0], h[1]));`.
    fn inner_text(&self, inner: &Inner, dual: bool, indent: &str) -> String {
        let bind = |v: &Option<usize>| v.map_or("_", |v| self.name(v)).to_string();
        let value = bind(&inner.value);
        let parts: Vec<String> = inner.parts.iter().map(bind).collect();
        let name = &self.sigs[inner.callee].name;
        let floats: Vec<&E> = inner
            .args
            .iter()
            .filter_map(|a| match a {
                Arg::Float(e) => Some(e),
                _ => None,
            })
            .collect();
        if dual {
            let mut k = 0;
            let hyper_args: Vec<String> = inner
                .args
                .iter()
                .map(|a| match a {
                    Arg::Float(_) => {
                        k += 1;
                        format!("h[{}]", k - 1)
                    }
                    Arg::Const(s) => s.clone(),
                    Arg::Array(..) => unreachable!("scalar parameters only"),
                })
                .collect();
            let x: Vec<String> = floats.iter().map(|e| self.darg(e)).collect();
            let g = format!("|h| {name}_hyper({})", hyper_args.join(", "));
            return match &inner.tangents {
                Some(tangents) => {
                    let t: Vec<String> = tangents.iter().map(|e| self.darg(e)).collect();
                    format!(
                        "{indent}let ({value}, {}) = inner_jvp(&[{}], &[{}], {g});\n",
                        parts[0],
                        x.join(", "),
                        t.join(", ")
                    )
                }
                None => format!(
                    "{indent}let ({value}, [{}]) = inner_grad(&[{}], {g});\n",
                    parts.join(", "),
                    x.join(", ")
                ),
            };
        }
        let mut args: Vec<String> = inner
            .args
            .iter()
            .map(|a| match a {
                Arg::Float(e) => self.fwd(e, 0),
                Arg::Const(s) => s.clone(),
                Arg::Array(..) => unreachable!("scalar parameters only"),
            })
            .collect();
        match &inner.tangents {
            Some(tangents) => {
                args.extend(tangents.iter().map(|e| self.fwd(e, 0)));
                format!(
                    "{indent}let ({value}, {}) = {name}_jvp({});\n",
                    parts[0],
                    args.join(", ")
                )
            }
            None => {
                let gradient = if parts.len() == 1 {
                    parts[0].clone()
                } else {
                    format!("({})", parts.join(", "))
                };
                format!(
                    "{indent}let ({value}, {gradient}) = {name}_grad({});\n",
                    args.join(", ")
                )
            }
        }
    }

    /// `: [f64; 3]` or `: Vec<f64>` (on dual numbers `: [Dual64; 3]`) for an array a call
    /// returned; nothing for other variables.
    fn output_annotation(&self, var: usize, dual: bool) -> String {
        let elem = if dual { self.f.fl.dual() } else { self.ty() };
        match self.f.vars[var].kind {
            Kind::Output(n, false) => format!(": [{elem}; {n}]"),
            Kind::Output(_, true) => format!(": Vec<{elem}>"),
            _ => String::new(),
        }
    }

    /// The return type.
    fn output_ty(&self, dual: bool) -> String {
        let elem = if dual { self.f.fl.dual() } else { self.ty() };
        match self.f.output {
            Output::Scalar => elem.to_string(),
            Output::Array(n) => format!("[{elem}; {n}]"),
            Output::Vec(_) => format!("Vec<{elem}>"),
        }
    }

    fn stride(&self, stride: Stride) -> String {
        match stride {
            Stride::Lit(k) => k.to_string(),
            Stride::Param(n) => self.name(n).to_string(),
        }
    }

    fn is_vec(&self, var: usize) -> bool {
        matches!(self.f.vars[var].kind, Kind::Buffer(_, true))
    }

    fn named(&self, what: Named) -> Option<String> {
        self.names
            .borrow()
            .iter()
            .rev()
            .find(|(n, _)| *n == what)
            .map(|(_, name)| name.clone())
    }

    /// An array as an iterator's source: `&w` of an array or `Vec` taken by value, `w` of a
    /// reference, or `w.iter()`.
    fn source(&self, array: usize, iter: bool) -> String {
        let name = self.name(array);
        match (iter, self.f.vars[array].kind) {
            (true, _) => format!("{name}.iter()"),
            (false, Kind::ArrayRef(_) | Kind::Slice(_)) => name.to_string(),
            (false, _) => format!("&{name}"),
        }
    }

    /// A loop `for i in 0..w.len()` that reads `w[i]`, in a program from `ITERATORS_FROM` on:
    /// in turn (by the loop variable and the program), the index loop, or an element loop
    /// `for &w_i in &w`, `w.iter().rev()`, a `zip` with another array read at `[i]`, with
    /// `enumerate()` when the body reads `i` otherwise.
    fn element_loop(&self, l: &Loop, indent: &str) -> Option<String> {
        let Count::Len(w) = l.count else {
            return None;
        };
        if l.from.is_some() || l.start != 0 {
            return None;
        }
        let turn = self.f.name[1..].parse::<usize>().unwrap_or(0) + l.var;
        if turn.is_multiple_of(7) {
            return None;
        }
        let i = self.name(l.var).to_string();
        let body = Block {
            stmts: l.body.clone(),
            tail: None,
        };
        let inner = format!("{indent}    ");
        let plain = self.block_text(&body, None, false, &inner);
        let reads = |a: usize| {
            let at = format!("{}[{i}]", self.name(a));
            plain.match_indices(&at).any(|(k, _)| {
                !plain[..k].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
            })
        };
        if !reads(w) {
            return None;
        }
        let n = self.f.vars[w].kind.elements()?;
        let zipped =
            if matches!(turn % 7, 3 | 5) && ZIPPED_ELEMENT_LOOPS && (!l.rev || ZIP_REV_LOOPS) {
                self.f.params.iter().copied().find(|&x| {
                    x != w && self.f.vars[x].kind.elements().is_some_and(|m| m >= n) && reads(x)
                })
            } else {
                None
            };
        let pushed = 1 + usize::from(zipped.is_some());
        let w_i = format!("{}_{i}", self.f.vars[w].name);
        self.names
            .borrow_mut()
            .push((Named::Elem(w, l.var), w_i.clone()));
        let mut pattern = format!("&{w_i}");
        let mut source = self.source(w, true);
        if let Some(x) = zipped {
            let x_i = format!("{}_{i}", self.f.vars[x].name);
            self.names
                .borrow_mut()
                .push((Named::Elem(x, l.var), x_i.clone()));
            pattern = format!("(&{w_i}, &{x_i})");
            source = format!("{source}.zip({})", self.source(x, turn.is_multiple_of(2)));
        }
        let text = self.block_text(&body, None, false, &inner);
        for _ in 0..pushed {
            self.names.borrow_mut().pop();
        }
        if has_ident(&text, &i) {
            if l.rev && !ENUMERATE_REV_LOOPS {
                return None;
            }
            pattern = format!("({i}, {pattern})");
            source = format!("{source}.enumerate()");
        } else if turn % 7 == 1 && !l.rev {
            source = self.source(w, false);
        }
        if l.rev {
            source = format!("{source}.rev()");
        }
        Some(format!("for {pattern} in {source} {{\n{text}{indent}}}"))
    }

    /// A reduction (`Gen::reduction`), as the program writes it: `let s = w.iter().map(|&w_i|
    /// e).sum::<f64>();` and the other folds.
    fn reduction_text(&self, r: &Reduction, l: &Loop) -> String {
        let ty = self.ty();
        let [ArmStmt::Assign(_, _, rhs)] = l.body.as_slice() else {
            unreachable!("a reduction's loop body is its update")
        };
        let i = self.name(l.var).to_string();
        let (source, binding) = match r.array {
            Some(w) => {
                let w_i = format!("{}_{i}", self.f.vars[w].name);
                self.names
                    .borrow_mut()
                    .push((Named::Elem(w, l.var), w_i.clone()));
                (format!("{}.iter()", self.name(w)), format!("&{w_i}"))
            }
            None => {
                let count = match &l.count {
                    Count::Lit(c) => c.to_string(),
                    Count::Len(w) => format!("{}.len()", self.name(*w)),
                    Count::Param(n) => self.name(*n).to_string(),
                    Count::Var(..) => unreachable!("reductions are not nested"),
                };
                (format!("(0..{count})"), i.clone())
            }
        };
        let source = if l.rev {
            format!("{source}.rev()")
        } else {
            source
        };
        let acc = self.name(r.acc).to_string();
        let text = match r.fold {
            // The elements themselves: `.copied()` (clippy's map_clone).
            Fold::Sum | Fold::SumAnnotated
                if r.array.is_some() && binding.strip_prefix('&') == Some(&self.fwd(rhs, 0)) =>
            {
                match r.fold {
                    Fold::Sum => format!("let {acc} = {source}.copied().sum::<{ty}>();"),
                    _ => format!("let {acc}: {ty} = {source}.copied().sum();"),
                }
            }
            Fold::Sum => format!(
                "let {acc} = {source}.map(|{binding}| {}).sum::<{ty}>();",
                self.fwd(rhs, 0)
            ),
            Fold::SumAnnotated => format!(
                "let {acc}: {ty} = {source}.map(|{binding}| {}).sum();",
                self.fwd(rhs, 0)
            ),
            Fold::Product => format!(
                "let {acc} = {source}.map(|{binding}| {}).product::<{ty}>();",
                self.fwd(rhs, 0)
            ),
            Fold::Closure => {
                self.names
                    .borrow_mut()
                    .push((Named::Var(r.acc), "total".to_string()));
                let text = format!(
                    "let {acc} = {source}.fold(0.0, |total, {binding}| {});",
                    self.fwd(rhs, 0)
                );
                self.names.borrow_mut().pop();
                text
            }
            Fold::Max => {
                let E::Method(_, _, args) = rhs else {
                    unreachable!("a maximum")
                };
                let e = &args[1];
                match (r.array, e) {
                    (Some(_), E::Elem(..)) => format!(
                        "let {acc} = {source}.copied().fold({ty}::NEG_INFINITY, {ty}::max);"
                    ),
                    _ => format!(
                        "let {acc} = {source}.map(|{binding}| {}).fold({ty}::NEG_INFINITY, {ty}::max);",
                        self.fwd(e, 0)
                    ),
                }
            }
        };
        if r.array.is_some() {
            self.names.borrow_mut().pop();
        }
        text
    }

    fn loop_text(&self, l: &Loop, dual: bool, indent: &str) -> String {
        if !dual && self.f.iterators {
            if let Some(r) = self.f.reductions.iter().find(|r| r.var == l.var) {
                return self.reduction_text(r, l);
            }
            if let Some(text) = self.element_loop(l, indent) {
                return text;
            }
        }
        let count = match &l.count {
            Count::Lit(c) => c.to_string(),
            Count::Len(w) => format!("{}.len()", self.name(*w)),
            Count::Param(n) => self.name(*n).to_string(),
            Count::Var(i, 0) => self.name(*i).to_string(),
            Count::Var(i, plus) => format!("{} + {plus}", self.name(*i)),
        };
        let start = match l.from {
            Some(i) if l.start == 0 => self.name(i).to_string(),
            Some(i) => format!("{} + {}", self.name(i), l.start),
            None => l.start.to_string(),
        };
        let range = if l.rev {
            format!("({start}..{count}).rev()")
        } else {
            format!("{start}..{count}")
        };
        let body = Block {
            stmts: l.body.clone(),
            tail: None,
        };
        format!(
            "for {} in {range} {{\n{}{indent}}}",
            self.name(l.var),
            self.block_text(&body, None, dual, &format!("{indent}    "))
        )
    }

    /// `v op= rhs` or `v = rhs` (on dual numbers, `v = pw64::rem(v, rhs)` for `%=`); `v` is
    /// a variable or an element `b[i]`.
    fn assignment(&self, name: &str, op: Option<Op>, rhs: &E, dual: bool) -> String {
        let pw = self.f.fl.pw();
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
                Stmt::Let { var, .. }
                    if !dual && self.f.reductions.iter().any(|r| r.acc == *var) => {}
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
                    let target = self.name(*var).to_string();
                    let _ = writeln!(s, "    {};", self.assignment(&target, *op, rhs, dual));
                }
                Stmt::LateLet(var, chain) => {
                    let name = self.name(*var);
                    let chain = self.if_text_into(chain, Some(name), dual, "    ");
                    let _ = writeln!(s, "    let {name};\n    {chain}");
                }
                Stmt::Arm(stmt) => s.push_str(&self.arm_text(stmt, dual, "    ")),
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
            Tail::Buffer(buffer) => {
                let _ = writeln!(s, "    {}", self.name(*buffer));
            }
            Tail::Array(elements, is_vec, binding) => {
                let elements: Vec<String> = elements.iter().map(|e| self.value(e, dual)).collect();
                let array = format!(
                    "{}[{}]",
                    if *is_vec { "vec!" } else { "" },
                    elements.join(", ")
                );
                let _ = match binding {
                    Some(name) => writeln!(s, "    let {name} = {array};\n    {name}"),
                    None => writeln!(s, "    {array}"),
                };
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
                    Kind::Index(_)
                    | Kind::Buffer(..)
                    | Kind::Counter(_)
                    | Kind::Cursor(_)
                    | Kind::Output(..) => {
                        unreachable!("loop variables, buffers and counters are not parameters")
                    }
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
        for lint in &self.f.allows {
            let why = match *lint {
                "clippy::useless_vec" => "buffers of a literal length are `vec!`s on purpose",
                "clippy::needless_late_init" => "`let v;` assigned in each arm on purpose",
                "clippy::explicit_counter_loop" => "counters stepped by hand on purpose",
                _ => "casts to the same type are generated on purpose",
            };
            let _ = writeln!(allow, "#[allow({lint})] // {why}");
        }
        allow
    }

    fn forward(&self) -> String {
        let mut options = Vec::new();
        if let Some(wrt) = &self.f.wrt {
            // The struct's fields as the struct, once.
            let mut names: Vec<&str> = Vec::new();
            for &v in wrt {
                let name = match &self.f.wrap {
                    Some(wrap) if wrap.holds(v) => "p",
                    _ => self.name(v),
                };
                if !names.contains(&name) {
                    names.push(name);
                }
            }
            options.push(format!("wrt({})", names.join(", ")));
        }
        if !self.f.split.is_empty() {
            let names: Vec<&str> = self
                .f
                .split
                .iter()
                .map(|&i| self.sigs[i].name.as_str())
                .collect();
            let split = format!("split({})", names.join(", "));
            if self.f.split_first {
                options.insert(0, split);
            } else {
                options.push(split);
            }
        }
        if self.f.jvp {
            if self.f.jvp_first {
                options.insert(0, "jvp".to_string());
            } else {
                options.push("jvp".to_string());
            }
        }
        if self.f.hvp {
            options.push("hvp".to_string());
        }
        let attribute = if options.is_empty() {
            "#[backprop]".to_string()
        } else {
            format!("#[backprop({})]", options.join(", "))
        };
        let params = match &self.f.wrap {
            Some(wrap) => self.wrapped_params(wrap),
            None => self.params(false),
        };
        if let Some(wrap) = &self.f.wrap {
            wrap.printing.set(true);
        }
        let body = self.body(false);
        if let Some(wrap) = &self.f.wrap {
            wrap.printing.set(false);
        }
        format!(
            "{attribute}\n{}fn {}({params}) -> {} {{\n{body}}}\n",
            self.allow_return(),
            self.f.name,
            self.output_ty(false),
        )
    }

    /// The signature of a program that takes a struct: `p: &S0042` or `p: S0042` in place of
    /// the first parameter it holds, the others as they are.
    fn wrapped_params(&self, wrap: &Wrap) -> String {
        let first = wrap.first(&self.f.params);
        let all: Vec<String> = self.params(false).split(", ").map(str::to_string).collect();
        let mut params = Vec::new();
        for (&v, text) in self.f.params.iter().zip(all) {
            if v == first {
                let by_ref = if wrap.by_ref { "&" } else { "" };
                params.push(format!("p: {by_ref}{}", wrap.name));
            } else if !wrap.holds(v) {
                params.push(text);
            }
        }
        params.join(", ")
    }

    /// The struct a program takes (`Wrap`): its fields typed as the parameters were, the
    /// `usize` one last and `#[backprop(skip)]`.
    fn struct_def(&self, wrap: &Wrap) -> String {
        let all: Vec<String> = self.params(false).split(", ").map(str::to_string).collect();
        let mut text = format!(
            "/// The parameters {} of `{}`, in a struct.\n#[derive(backprop::Differentiable)]\nstruct {} {{\n",
            wrap.fields
                .iter()
                .chain(&wrap.skip)
                .map(|&v| format!("`{}`", self.f.vars[v].name))
                .collect::<Vec<_>>()
                .join(", "),
            self.f.name,
            wrap.name
        );
        for (&v, param) in self.f.params.iter().zip(&all) {
            if wrap.fields.contains(&v) {
                let _ = writeln!(text, "    {param},");
            }
        }
        if let Some(n) = wrap.skip {
            let _ = writeln!(
                text,
                "    #[backprop(skip)]\n    {}: usize,",
                self.f.vars[n].name
            );
        }
        text.push_str("}\n");
        text
    }

    fn reference(&self) -> String {
        format!(
            "/// `{}` on dual numbers.\n{}fn {}_reference({}) -> {} {{\n{}}}\n",
            self.f.name,
            self.allow_return(),
            self.f.name,
            self.params(true),
            self.output_ty(true),
            self.body(true)
        )
    }

    /// The reference on hyper-dual numbers of a program with `hvp` (`f64`, no casts to
    /// `f32`): the dual reference with `HyperDual64` for `Dual64`, the helpers of `pwh` for
    /// those of `pw64`, `ch(..)` for `c(..)` and the callees' `_hyper` references.
    fn hyper(&self) -> String {
        let text = self.reference();
        let mut out = String::with_capacity(text.len() + 256);
        let mut rest = text.as_str();
        while let Some(start) = rest.find(|c: char| c.is_ascii_alphabetic() || c == '_') {
            let (before, from) = rest.split_at(start);
            out.push_str(before);
            let glued = before.ends_with(|c: char| c.is_ascii_digit());
            let end = from
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(from.len());
            let (ident, after) = from.split_at(end);
            let word = match ident {
                _ if glued => ident.to_string(),
                "Dual64" => "HyperDual64".to_string(),
                "pw64" => "pwh".to_string(),
                "c" if after.starts_with('(') => "ch".to_string(),
                "dual" if after.starts_with(" numbers") => "hyper-dual".to_string(),
                _ => match ident.strip_suffix("_reference") {
                    Some(program) => format!("{program}_hyper"),
                    None => ident.to_string(),
                },
            };
            out.push_str(&word);
            rest = after;
        }
        out.push_str(rest);
        out
    }

    /// The program's row of the table.
    fn case(&self, source: &str) -> String {
        let mut flat = 0;
        let (mut active, mut args, mut consts) = (Vec::new(), Vec::new(), Vec::new());
        // `f_jvp`'s tangents: one per differentiable parameter, in signature order, typed like
        // it, read from `t` (laid out as `p`).
        let mut tangents = Vec::new();
        // Each parameter's part of `active`, and its tangent (if it is differentiable).
        let mut param_active: Vec<Vec<String>> = Vec::new();
        let mut param_tangent: Vec<Option<String>> = Vec::new();
        for &p in &self.f.params {
            let v = &self.f.vars[p];
            let differentiable = self.f.wrt.as_ref().is_none_or(|wrt| wrt.contains(&p));
            let width = match v.kind {
                Kind::Scalar => 1,
                Kind::Array(n) | Kind::ArrayRef(n) | Kind::Slice(n) | Kind::Vec(n) => n,
                _ => 0,
            };
            let mine: Vec<String> = if differentiable {
                (flat..flat + width).map(|i| i.to_string()).collect()
            } else {
                Vec::new()
            };
            active.extend(mine.iter().cloned());
            param_active.push(mine);
            let array = |of: &str| -> Option<String> {
                let elements: Vec<String> =
                    (flat..flat + width).map(|i| format!("{of}[{i}]")).collect();
                match v.kind {
                    Kind::Scalar => Some(elements[0].clone()),
                    Kind::Array(_) => Some(format!("[{}]", elements.join(", "))),
                    Kind::ArrayRef(_) | Kind::Slice(_) => {
                        Some(format!("&[{}]", elements.join(", ")))
                    }
                    Kind::Vec(_) => Some(format!("vec![{}]", elements.join(", "))),
                    _ => None,
                }
            };
            let tangent = array("t").filter(|_| differentiable);
            if let Some(tangent) = &tangent {
                tangents.push(tangent.clone());
            }
            param_tangent.push(tangent);
            let k = consts.len();
            args.push(match v.kind {
                Kind::Scalar
                | Kind::Array(_)
                | Kind::ArrayRef(_)
                | Kind::Slice(_)
                | Kind::Vec(_) => array("p").expect("a float parameter"),
                Kind::Usize => format!("k[{k}] as usize"),
                Kind::I32 => format!("k[{k}] as i32"),
                Kind::Bool => format!("k[{k}] != 0"),
                Kind::Index(_)
                | Kind::Buffer(..)
                | Kind::Counter(_)
                | Kind::Cursor(_)
                | Kind::Output(..) => {
                    unreachable!("loop variables, buffers and counters are not parameters")
                }
            });
            match v.kind {
                Kind::Usize => consts.push("Usize"),
                Kind::I32 => consts.push("I32"),
                Kind::Bool => consts.push("Bool"),
                _ => {}
            }
            flat += width;
        }
        // A program that takes a struct (`Wrap`): the struct built from `p` and `k` in place of
        // its fields, its gradient (flattened as `to_flat` does: the fields in order, the
        // skipped one left out) where it goes in the signature. The dual reference takes the
        // parameters as they are.
        let mut reference = String::new();
        if let Some(wrap) = &self.f.wrap {
            let _ = write!(
                reference,
                ",\n        reference: |p, k| ({})",
                args.join(", ")
            );
            let first = wrap.first(&self.f.params);
            let (mut new_args, mut new_active) = (Vec::new(), Vec::new());
            let mut new_tangents = Vec::new();
            for (j, &v) in self.f.params.iter().enumerate() {
                if v == first {
                    // The struct, and its tangent (`f_jvp`'s `t_p`, `f_hvp`'s `v_p`) built the
                    // same way from `t`, taken by reference or by value as the struct is. A
                    // wrapped parameter is differentiable (with `wrt(..)`, it is listed), and
                    // the skipped field gets the argument's value.
                    let (mut fields, mut field_tangents) = (Vec::new(), Vec::new());
                    for (l, &w) in self.f.params.iter().enumerate() {
                        if wrap.fields.contains(&w) {
                            let name = &self.f.vars[w].name;
                            fields.push(format!("{name}: {}", args[l]));
                            let tangent = param_tangent[l].as_ref().expect("differentiable");
                            field_tangents.push(format!("{name}: {tangent}"));
                            new_active.extend(param_active[l].iter().cloned());
                        }
                    }
                    if let Some(n) = wrap.skip {
                        let l = self
                            .f
                            .params
                            .iter()
                            .position(|&w| w == n)
                            .expect("a parameter");
                        let field = format!("{}: {}", self.f.vars[n].name, args[l]);
                        fields.push(field.clone());
                        field_tangents.push(field);
                    }
                    let by_ref = if wrap.by_ref { "&" } else { "" };
                    new_args.push(format!("{by_ref}{} {{ {} }}", wrap.name, fields.join(", ")));
                    new_tangents.push(format!(
                        "{by_ref}{} {{ {} }}",
                        wrap.name,
                        field_tangents.join(", ")
                    ));
                } else if !wrap.holds(v) {
                    new_args.push(args[j].clone());
                    new_active.extend(param_active[j].iter().cloned());
                    new_tangents.extend(param_tangent[j].iter().cloned());
                }
            }
            args = new_args;
            active = new_active;
            tangents = new_tangents;
        }
        let name = &self.f.name;
        // A program with `jvp` is also run through its `f_jvp`.
        let jvp = if self.f.jvp {
            format!(",\n        jvp: {name}_jvp, |t| ({})", tangents.join(", "))
        } else {
            String::new()
        };
        // A program that returns an array has no `f_grad`; it is checked through its
        // `f_backward` and its `f_forward`.
        if self.f.output.array().is_some() {
            return format!(
                "    vcase!({ty}, {name}, {name}_backward, {name}_forward, {name}_backward_source, {name}_reference,\n        \
                 floats: {flat}, active: [{}], consts: [{}],\n        |p, k| ({}),\n        r#\"{source}\"#{reference}{jvp}),\n",
                active.join(", "),
                consts.join(", "),
                args.join(", "),
                ty = self.ty(),
            );
        }
        // A program with `split(..)` is also run through its own `f_forward`.
        let forward = if self.f.split.is_empty() {
            String::new()
        } else {
            format!(", forward: {name}_forward")
        };
        // A program with `hvp` is also run through its `f_hvp`, `v` laid out as the tangents.
        let hvp = if self.f.hvp {
            format!(
                ",\n        hvp: {name}_hvp, {name}_hyper, |t| ({})",
                tangents.join(", ")
            )
        } else {
            String::new()
        };
        format!(
            "    case!({ty}, {name}, {name}_grad, {name}_backward, {name}_backward_source, {name}_reference,\n        \
             floats: {flat}, active: [{}], consts: [{}],\n        |p, k| ({}),\n        r#\"{source}\"#{reference}{forward}{jvp}{hvp}),\n",
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
    let (mut vec_f64_cases, mut vec_f32_cases) = (String::new(), String::new());
    let mut narrowed = String::new();
    // Drawn first, all of them; then each gets its struct (`Gen::wrap`), `jvp` and `hvp`, in
    // order (a program's `jvp` and `hvp` depend on its callees'), and is printed.
    let mut programs = Vec::with_capacity(PROGRAMS);
    for i in 0..INSIDE_FROM {
        generator.extended = i >= EXTENDED_FROM;
        generator.break_lines = i >= BREAK_LINES_FROM;
        generator.loop_returns = i >= RETURN_FROM;
        generator.late_lets = i >= LATE_LET_FROM;
        generator.mutation = i >= MUTATION_FROM;
        generator.outputs = i >= OUTPUTS_FROM;
        generator.iterators = i >= ITERATORS_FROM;
        let mut f = generator.function(format!("p{i:04}"));
        if i >= SPLIT_FROM {
            generator.split(&mut f);
        }
        programs.push(f);
    }
    // Which programs others call (they take no struct: `Gen::wrap`).
    let mut called = vec![false; PROGRAMS];
    for f in &programs {
        for call in Calls::of(f) {
            called[call.callee] = true;
        }
    }
    let mut uncalled = 0;
    for (i, f) in programs.iter_mut().enumerate() {
        if !called[i] {
            generator.wrap(f, i, uncalled);
            uncalled += 1;
        }
        if f.wrap.is_none() || STRUCT_JVP {
            generator.jvp(f, i);
        }
        if f.wrap.is_none() || STRUCT_HVP {
            generator.hvp(f, i);
        }
    }
    // The programs that take derivatives inside, drawn once the others' attributes are
    // decided (their inner callees have `hvp`); none takes a struct.
    generator.inside = true;
    for i in INSIDE_FROM..PROGRAMS {
        let mut f = generator.function(format!("p{i:04}"));
        generator.split(&mut f);
        generator.jvp(&mut f, i);
        generator.hvp(&mut f, i);
        programs.push(f);
    }
    for f in programs {
        if f.narrowed {
            let _ = writeln!(narrowed, "    {:?},", f.name);
        }
        let printer = Printer {
            f: &f,
            sigs: &generator.sigs,
            names: RefCell::new(Vec::new()),
        };
        let forward = printer.forward();
        let mut element_loops = Vec::new();
        if f.iterators {
            // The element loops `Printer::element_loop` wrote.
            let loops: Vec<&str> = forward
                .lines()
                .map(str::trim_start)
                .filter(|l| l.starts_with("for ") && !l.contains(".."))
                .collect();
            let any = |pred: &dyn Fn(&str) -> bool| loops.iter().any(|l| pred(l));
            for (key, found) in [
                (
                    "element loop: for &w_i in &w",
                    any(&|l| l.starts_with("for &") && !l.contains(".iter()")),
                ),
                ("element loop: .iter()", any(&|l| l.contains(".iter()"))),
                (
                    "element loop: .enumerate()",
                    any(&|l| l.contains(".enumerate()")),
                ),
                ("element loop: .rev()", any(&|l| l.contains(".rev()"))),
                ("element loop: .zip(..)", any(&|l| l.contains(".zip("))),
            ] {
                if found {
                    element_loops.push(key);
                }
            }
        }
        if let Some(wrap) = &f.wrap {
            items.push_str(&printer.struct_def(wrap));
            items.push('\n');
        }
        items.push_str(&forward);
        items.push('\n');
        items.push_str(&printer.reference());
        items.push('\n');
        if f.hvp {
            items.push_str(&printer.hyper());
            items.push('\n');
        }
        let case = printer.case(&forward);
        match (f.fl, f.output) {
            (Fl::F64, Output::Scalar) => f64_cases.push_str(&case),
            (Fl::F32, Output::Scalar) => f32_cases.push_str(&case),
            (Fl::F64, _) => vec_f64_cases.push_str(&case),
            (Fl::F32, _) => vec_f32_cases.push_str(&case),
        }
        for key in element_loops {
            generator.cov(key);
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
         /// The programs that return an array (from `OUTPUTS_FROM` on).\n\
         static VEC_CASES_F64: &[VecCase<f64>] = &[\n{vec_f64_cases}];\n\n\
         static VEC_CASES_F32: &[VecCase<f32>] = &[\n{vec_f32_cases}];\n\n\
         /// How often the generator produced each construct and primitive.\n\
         static COVERAGE: &[(&str, usize)] = &[\n{coverage}];\n\n\
         /// The f64 programs that compute in f32 on the way (`(x as f32).sin() as f64`): their\n\
         /// gradients have f32 precision.\n\
         static NARROWED: &[&str] = &[\n{narrowed}];\n"
    )
}

// ---------------------------------------------------------------------------------------------
// The tests.

#[test]
fn generated_file_is_up_to_date() {
    common::check_generated(
        "differential_programs.rs",
        &generated_source(),
        "differential",
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
    "cast f32 -> f64 -> f32 without a method",
    "cast f64 -> f32 -> f64",
    "cast f64 -> f32 -> f64 without a method",
    "cast to the same float type",
    "loop index as a float",
    "local buffer vec![0.0; n]",
    "local buffer [0.0; N]",
    "buffer of length w.len()",
    "buffer declared without its type",
    "buffer declared with a typed literal",
    "buffer declared with a type annotation",
    "buffer fill loop",
    "buffer fill loop over a reversed range",
    "buffer loop over a usize parameter",
    "buffer written in both arms of an if",
    "buffer element +=",
    "buffer element -=",
    "buffer element read in the loop that writes it",
    "loop-carried variable read by a buffer write",
    "buffer recurrence b[i] = f(b[i - 1])",
    "buffer recurrence b[i] = f(b[i + 1]) over a reversed range",
    "buffer recurrence b[i + 1] = f(b[i])",
    "buffer boundary element written before its recurrence",
    "buffer accumulation += in nested loops",
    "buffer accumulation -= in nested loops",
    "buffer written by two loops",
    "buffer written at literal indices",
    "buffer element read before another is written",
    "buffer element overwritten before a read",
    "buffer read at a literal index",
    "buffer read at a loop index",
    "buffer read at a computed index",
    "buffer passed to a call",
    "per-iteration scratch buffer",
    "buffer element *=",
    "buffer element /=",
    "buffer element += after a read",
    "buffer element -= after a read",
    "buffer element *= after a read",
    "buffer element /= after a read",
    "buffer element overwritten after a read at a literal index",
    "buffer element overwritten after a read at a computed index",
    "every element of a buffer updated in place in a loop",
    "buffer element read before a later iteration overwrites it",
    "buffer declared before a loop and rewritten in each iteration",
    "two-index buffer recurrence hs[t * n + j] from hs[(t - 1) * n + k]",
    "two-index recurrence through a local accumulator",
    "two-index recurrence accumulated in the buffer",
    "while loop rewriting a buffer",
    "while condition on the buffer its loop rewrites",
    "condition on a buffer element its branch rewrites",
    "integer counter stepped in a loop, used as an index",
    "counter stepped only by a nested loop",
    "counter stepped by 2",
    "counter stepped by a usize parameter",
    "counter indexing a float parameter",
    "counter indexing a buffer",
    "buffer written at a counter index",
    "triangular walk over i + 1..n",
    "triangular walk over 0..i",
    "buffer written after a read in a loop body",
    "buffer element written in an if arm",
    "buffer element written in a while loop",
    "while loop",
    "while loop with a data-dependent condition",
    "while counter as a float",
    "break guard in a for loop",
    "break guard in a while loop",
    "break guard in a buffer's loop",
    "lines before a break",
    "return in a loop",
    "let without a value",
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
    "split(..)",
    "split(..) of several callees",
    "split(..) with wrt(..)",
    "split(..) before wrt(..)",
    "split and joint calls in one function",
    "call in joint mode beside split(..)",
    "call in split mode",
    "call in split mode at top level",
    "call in split mode in a loop",
    "call in split mode in a while loop",
    "call in split mode in nested loops",
    "call in split mode in an arm",
    "call in split mode in an arm in a loop",
    "call in split mode as a call's argument",
    "call in split mode in an f32 function",
    "call in split mode of a callee with loops",
    "call in split mode of a callee with local buffers",
    "float literal passed to a call",
    "named constant passed to a call",
    "array passed to a call",
    "array passed as &w to a call",
    "array reference passed to a call",
    "program returning [F; M]",
    "program returning Vec<F>",
    "program returning an array in f32",
    "array output: [a, b] as the value",
    "Vec output: vec![a, b] as the value",
    "array output: let r = [a, b]; r",
    "Vec output: let r = vec![a, b]; r",
    "output: a new buffer filled in a loop",
    "let r: [F; M] = g(..) of a program returning [F; M]",
    "let r: Vec<F> = g(..) of a program returning Vec<F>",
    "array returned by a call in a loop body",
    "array returned by a call in an f32 function",
    "array returned by a call in an array-output program",
    "call result read at a literal index",
    "call result read at a loop index",
    "call result read at a computed index",
    "call result passed to a call",
    "call in split mode of a program returning an array",
    "call in split mode of a program returning an array, in a loop",
    "call in split mode in a program returning an array",
    "jvp",
    "jvp with wrt(..)",
    "jvp with split(..)",
    "jvp before the other options",
    "jvp in an f32 function",
    "jvp of a program returning [F; M]",
    "jvp of a program returning Vec<F>",
    "call of a program in a jvp program",
    "call of a program returning an array in a jvp program",
    "hand-written gate in a jvp program",
    "runtime gate in a jvp program",
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
    "iterator sum",
    "range sum",
    "iterator product",
    "iterator fold with a closure",
    "iterator fold with max",
    "reversed iterator fold",
    "element loop: for &w_i in &w",
    "element loop: .iter()",
    "element loop: .enumerate()",
    "element loop: .rev()",
    "hvp",
    "call of a program in an hvp program",
    "hand-written gate in an hvp program",
    "loop in an hvp program",
];

/// Constructs behind a constant: required only while it is on.
fn flagged_constructs() -> Vec<&'static str> {
    let mut v = Vec::new();
    if ZIPPED_ELEMENT_LOOPS {
        v.push("element loop: .zip(..)");
    }
    if OUTPUT_REWRITTEN {
        v.extend([
            "output: a buffer the body wrote before",
            "output: a buffer rewritten in place before it is returned",
        ]);
    }
    if STRUCT_PARAMS && STRUCT_VEC_OUTPUTS {
        v.push("struct parameter of a program returning Vec<F>");
    }
    if STRUCT_PARAMS {
        v.extend([
            "struct parameter by reference",
            "struct parameter by value",
            "struct field: a scalar",
            "struct field: [F; N]",
            "struct field: Vec<F>",
            "struct field: #[backprop(skip)] usize",
            "struct parameter in wrt(..)",
            "struct parameter in an f32 function",
            "struct parameter of a program returning [F; M]",
        ]);
    }
    if STRUCT_PARAMS && STRUCT_JVP {
        v.extend([
            "struct parameter with jvp",
            "struct parameter by reference with jvp",
            "struct parameter with jvp, returning an array",
        ]);
    }
    if STRUCT_PARAMS && STRUCT_HVP {
        v.extend([
            "struct parameter with hvp",
            "struct parameter by value with hvp",
        ]);
    }
    v
}

#[test]
fn every_rule_and_construct_is_generated() {
    let rules = std::fs::read_to_string(format!(
        "{}/backprop-macro/src/rules/mod.rs",
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
    for construct in CONSTRUCTS.iter().copied().chain(flagged_constructs()) {
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

/// The names a program's attribute lists in `split(..)`.
fn split_names(source: &str) -> Vec<&str> {
    let attribute = source.lines().next().unwrap_or_default();
    match attribute.split_once("split(") {
        Some((_, rest)) => rest
            .split(')')
            .next()
            .unwrap_or_default()
            .split(", ")
            .collect(),
        None => Vec::new(),
    }
}

#[test]
fn split_calls_go_through_the_callees_forward() {
    let cases = CASES_F64
        .iter()
        .map(|c| (c.name, c.source, c.backward_source))
        .chain(
            CASES_F32
                .iter()
                .map(|c| (c.name, c.source, c.backward_source)),
        )
        .chain(
            VEC_CASES_F64
                .iter()
                .map(|c| (c.name, c.source, c.backward_source)),
        )
        .chain(
            VEC_CASES_F32
                .iter()
                .map(|c| (c.name, c.source, c.backward_source)),
        );
    let mut split = 0;
    for (name, source, backward_source) in cases {
        let backward = backward_source();
        for callee in split_names(source) {
            assert!(
                !backward.contains(&format!("{callee}_backward(")),
                "{name} lists {callee} in split(..), but its backward calls {callee}_backward:\n{backward}"
            );
            // A callee whose calls the macro finds nothing to differentiate in is called as it
            // is, or not at all: its value reaches the function's only through operations
            // without a gradient (`signum`, `floor`, a condition) or a value never read, which
            // the generator's `Calls` does not follow. The gradient check covers those.
            if backward.contains(&format!("{callee}_forward(")) {
                split += 1;
            }
        }
    }
    assert!(split >= 50, "only {split} callees in split(..)");
}

#[derive(Default)]
struct Report {
    programs: usize,
    points: usize,
    components: usize,
    numeric_checked: usize,
    skipped_kink: usize,
    skipped_curvature: usize,
    /// Components of the programs in `NARROWED`, whose values carry f32 rounding: central
    /// differences with an f64 step cannot check them.
    skipped_narrowed: usize,
    /// Points at which a program with `split(..)`, or one that returns an array, also ran
    /// through its own `f_forward`.
    forward_runs: usize,
    /// Programs that return an array.
    vector_programs: usize,
    /// Points at which a program with `jvp` also ran through its `f_jvp`, the tangent
    /// components compared with the reference, and of those, the ones also compared with a
    /// central difference in the tangent's direction, or skipped (as the gradient's).
    jvp_runs: usize,
    jvp_components: usize,
    jvp_numeric_checked: usize,
    jvp_skipped_kink: usize,
    jvp_skipped_curvature: usize,
    jvp_skipped_narrowed: usize,
    /// Points at which a program with `hvp` ran through its `f_hvp`, the components of `H·v`
    /// compared with hyper-dual numbers, and the points skipped where those are not finite.
    hvp_runs: usize,
    hvp_components: usize,
    hvp_skipped: usize,
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
/// The relative tolerance of the f64 programs listed in `NARROWED`, against dual numbers
/// that take the same f32 roundings (forward mode rounds other intermediate values to f32 than
/// the reverse pass does).
const NARROWED_EXACT: f64 = 1e-6;

/// Why a central difference is not compared (see the module docs).
enum Skip {
    /// The reference takes other decisions within a step of the point.
    Kink,
    /// The difference's own truncation or rounding error is too large for the check.
    Curvature,
}

/// `p + s t`, the inputs that `t` does not move left as they are.
fn moved<F: Real>(p: &[F], t: &[F], s: F) -> Vec<F> {
    p.iter()
        .zip(t)
        .map(|(&v, &d)| if d == F::zero() { v } else { v + s * d })
        .collect()
}

/// Whether `f_jvp`'s value is the function's: the same lines compute it.
fn same<F: Real>(a: F, b: F) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}

/// The seed of the stream of a program's tangent directions: a stream of its own, so that the
/// points and upstream gradients of the other checks are the ones drawn before forward mode.
const TANGENT_SEED: u64 = 0x7A46_E000;

macro_rules! checker {
    ($check:ident, $check_vec:ident, $numeric:ident, $point:ident, $skip:ident,
     $directional:ident, $tangent:ident, $F:ty, $exact:expr) => {
        /// The float inputs and the constants of one random point.
        fn $point(rng: &mut Rng, floats: usize, consts: &[Const]) -> (Vec<$F>, Vec<i64>) {
            let p: Vec<$F> = (0..floats).map(|_| rng.range(-1.5, 1.5) as $F).collect();
            let k: Vec<i64> = consts
                .iter()
                .map(|c| match c {
                    Const::Usize => rng.below(4) as i64,
                    Const::I32 => rng.below(5) as i64 - 2,
                    Const::Bool => rng.below(2) as i64,
                })
                .collect();
            (p, k)
        }

        /// Compares `grad`, the gradient of the scalar `value` (of all the float inputs, at
        /// `p`) with respect to the inputs `active`, with central differences where they are
        /// meaningful (see the module docs): `reference` is `value` on dual numbers, which
        /// logs its decisions, and `magnitude` the size of the terms the value sums (which
        /// the differences round).
        #[allow(clippy::too_many_arguments)]
        fn $numeric(
            value: &dyn Fn(&[$F]) -> $F,
            reference: &dyn Fn(&[Dual<$F>]) -> Dual<$F>,
            p: &[$F],
            active: &[usize],
            grad: &[$F],
            magnitude: f64,
            narrowed: bool,
            report: &mut Report,
            fail: &mut dyn FnMut(String),
        ) {
            let at: Vec<$F> = active.iter().map(|&i| p[i]).collect();
            let full = |q: &[$F]| {
                let mut full = p.to_vec();
                for (j, &i) in active.iter().enumerate() {
                    full[i] = q[j];
                }
                full
            };
            let numeric = check_gradient(|q: &[$F]| value(&full(q)), &at, grad);
            for (j, &i) in active.iter().enumerate() {
                let h = <$F>::EPSILON.cbrt() * p[i].abs().max(1.0);
                let mut direction = vec![0.0; p.len()];
                direction[i] = 1.0;
                match $skip(reference, p, &direction, h, magnitude, narrowed) {
                    Some(Skip::Kink) => {
                        report.skipped_kink += 1;
                        continue;
                    }
                    Some(Skip::Curvature) if narrowed => {
                        report.skipped_narrowed += 1;
                        continue;
                    }
                    Some(Skip::Curvature) => {
                        report.skipped_curvature += 1;
                        continue;
                    }
                    None => {}
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

        /// Why a central difference of step `h` at `p` in the direction `t` says nothing (see
        /// the module docs), or `None` where it is meaningful: `reference` is the value on dual
        /// numbers, which logs its decisions, and `magnitude` the size of the terms the value
        /// sums (which the differences round). A component of the gradient is the direction
        /// of its input.
        fn $skip(
            reference: &dyn Fn(&[Dual<$F>]) -> Dual<$F>,
            p: &[$F],
            t: &[$F],
            h: $F,
            magnitude: f64,
            narrowed: bool,
        ) -> Option<Skip> {
            // The rounding error of the values, for the central differences.
            let epsilon = if narrowed {
                f64::from(f32::EPSILON)
            } else {
                f64::from(<$F>::EPSILON)
            };
            // The derivative in the direction `t` at `p + s t`, and the decisions taken there.
            let probe = |s: $F| {
                let q: Vec<Dual<$F>> = moved(p, t, s)
                    .iter()
                    .zip(t)
                    .map(|(&v, &d)| Dual::new(v, d))
                    .collect();
                take_decisions();
                let out = reference(&q);
                (f64::from(out.eps), take_decisions())
            };
            let (g0, at0) = probe(0.0);
            let (up, at_up) = probe(h);
            let (down, at_down) = probe(-h);
            if at0 != at_up || at0 != at_down {
                return Some(Skip::Kink);
            }
            // The central difference's own errors: truncation, estimated from the
            // reference's derivatives at the three points, and rounding of the values.
            let truncation = ((up - 2.0 * g0 + down) / 6.0).abs();
            let rounding = 4.0 * epsilon * magnitude.max(1.0) / f64::from(h);
            let tolerance = f64::from(<$F as Real>::DEFAULT_ABSOLUTE)
                + f64::from(<$F as Real>::DEFAULT_MAX_RELATIVE) * g0.abs();
            if truncation.is_nan() || truncation + rounding > 0.25 * tolerance {
                return Some(Skip::Curvature);
            }
            None
        }

        /// Compares `jvp`, the derivative of the scalar `value` at `p` in the direction `t`,
        /// with the central difference in that direction (the step of the gradient check,
        /// for the largest input), where it is meaningful, with the gradient check's
        /// tolerances.
        #[allow(clippy::too_many_arguments)]
        fn $directional(
            value: &dyn Fn(&[$F]) -> $F,
            reference: &dyn Fn(&[Dual<$F>]) -> Dual<$F>,
            p: &[$F],
            t: &[$F],
            jvp: $F,
            magnitude: f64,
            narrowed: bool,
            report: &mut Report,
            fail: &mut dyn FnMut(String),
        ) {
            let h = <$F>::EPSILON.cbrt() * p.iter().fold(1.0, |m: $F, v| m.max(v.abs()));
            match $skip(reference, p, t, h, magnitude, narrowed) {
                Some(Skip::Kink) => {
                    report.jvp_skipped_kink += 1;
                    return;
                }
                Some(Skip::Curvature) if narrowed => {
                    report.jvp_skipped_narrowed += 1;
                    return;
                }
                Some(Skip::Curvature) => {
                    report.jvp_skipped_curvature += 1;
                    return;
                }
                None => {}
            }
            report.jvp_numeric_checked += 1;
            let central = (value(&moved(p, t, h)) - value(&moved(p, t, -h))) / (h + h);
            if !approx::relative_eq!(
                jvp,
                central,
                epsilon = <$F as Real>::DEFAULT_ABSOLUTE,
                max_relative = <$F as Real>::DEFAULT_MAX_RELATIVE
            ) {
                fail(format!(
                    "f_jvp's tangent is {jvp:?} but the central difference in the direction {t:?} says {central:?} (relative error {:e})",
                    relative_error(jvp, central)
                ));
            }
        }

        /// A random tangent: a component in [-1, 1] for each differentiable input, zero for
        /// the others.
        fn $tangent(rng: &mut Rng, floats: usize, active: &[usize]) -> Vec<$F> {
            let mut t = vec![0.0; floats];
            for &i in active {
                t[i] = rng.range(-1.0, 1.0) as $F;
            }
            t
        }

        /// Checks one program at `POINTS` random points.
        fn $check(case: &Case<$F>, index: usize, report: &mut Report) {
            // An f64 program that computes in f32 on the way is exact to f32 precision only.
            let narrowed = NARROWED.contains(&case.name);
            let exact: f64 = if narrowed { NARROWED_EXACT } else { $exact };
            let close = |a: $F, b: $F| {
                let (a, b) = (f64::from(a), f64::from(b));
                (a - b).abs() <= exact * a.abs().max(b.abs()).max(1.0)
            };
            let mut rng = Rng(0x9011_7000 + index as u64 * 7919 + case.floats as u64);
            let mut tangents = Rng(TANGENT_SEED + index as u64 * 7919 + case.floats as u64);
            report.programs += 1;
            let mut failures = Vec::new();
            for _ in 0..POINTS {
                let (p, k) = $point(&mut rng, case.floats, case.consts);
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
                // A program with `split(..)`: its own `f_forward` and closure, which holds the
                // closures of its split calls.
                if let Some(forward) = case.forward {
                    report.forward_runs += 1;
                    let (value, grad) = forward(&p, &k, d_out);
                    if !close(value, expected_value) {
                        fail(format!(
                            "f_forward's value is {value:?} but the reference says {expected_value:?}"
                        ));
                    }
                    if grad.len() != expected.len() {
                        fail(format!(
                            "f_forward's closure gives {} gradient components but there are {} differentiable inputs",
                            grad.len(),
                            expected.len()
                        ));
                    } else {
                        for (j, (&g, &e)) in grad.iter().zip(&expected).enumerate() {
                            if !close(g, e * d_out) {
                                fail(format!(
                                    "f_forward's closure component {j} is {g:?} but the reference says {:?}",
                                    e * d_out
                                ));
                            }
                        }
                    }
                }
                // A program with `jvp`: its `f_jvp` in a random direction `t` of the
                // differentiable inputs, against the reference seeded with `t`, and the
                // central difference in that direction.
                if let Some(jvp) = case.jvp {
                    let t = $tangent(&mut tangents, case.floats, case.active);
                    report.jvp_runs += 1;
                    report.jvp_components += 1;
                    let (value, tangent) = jvp(&p, &k, &t);
                    if !same(value, plain) {
                        fail(format!(
                            "f_jvp's value is {value:?} but the function's is {plain:?}"
                        ));
                    }
                    take_decisions();
                    let (_, expected) =
                        dual_directional(|v: &[Dual<$F>]| (case.reference)(v, &k), &p, &t);
                    if !expected.is_finite() {
                        fail(format!(
                            "the reference's J·t is not finite ({expected:?}) in the direction {t:?}: the generator left the domain"
                        ));
                    } else if !close(tangent, expected) {
                        fail(format!(
                            "f_jvp's tangent is {tangent:?} but the reference says {expected:?} in the direction {t:?}"
                        ));
                    } else {
                        $directional(
                            &|q: &[$F]| (case.value)(q, &k),
                            &|q: &[Dual<$F>]| (case.reference)(q, &k),
                            &p,
                            &t,
                            tangent,
                            f64::from(expected_value).abs(),
                            narrowed,
                            report,
                            &mut fail,
                        );
                    }
                }

                // Central differences, where they are meaningful (see the module docs).
                $numeric(
                    &|q: &[$F]| (case.value)(q, &k),
                    &|q: &[Dual<$F>]| (case.reference)(q, &k),
                    &p,
                    case.active,
                    &run.grad,
                    f64::from(expected_value).abs(),
                    narrowed,
                    report,
                    &mut fail,
                );
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

        /// Checks one program that returns an array at `POINTS` random points, each with a
        /// random upstream gradient `d_out`: its value against the reference, and the gradient
        /// that `f_backward` and `f_forward`'s closure give for `d_out` against the reference
        /// of `<d_out, f(p)>` and central differences of it.
        fn $check_vec(case: &VecCase<$F>, index: usize, report: &mut Report) {
            let narrowed = NARROWED.contains(&case.name);
            let exact: f64 = if narrowed { NARROWED_EXACT } else { $exact };
            let close = |a: $F, b: $F| {
                let (a, b) = (f64::from(a), f64::from(b));
                (a - b).abs() <= exact * a.abs().max(b.abs()).max(1.0)
            };
            let mut rng = Rng(0x9011_7000 + index as u64 * 7919 + case.floats as u64);
            let mut tangents = Rng(TANGENT_SEED + index as u64 * 7919 + case.floats as u64);
            report.programs += 1;
            report.vector_programs += 1;
            let mut failures = Vec::new();
            for _ in 0..POINTS {
                let (p, k) = $point(&mut rng, case.floats, case.consts);
                let constants: Vec<Dual<$F>> = p.iter().map(|&v| Dual::from_re(v)).collect();
                take_decisions();
                let expected_values: Vec<$F> =
                    (case.reference)(&constants, &k).iter().map(|v| v.re).collect();
                let d_out: Vec<$F> = expected_values
                    .iter()
                    .map(|_| {
                        let sign = if rng.chance(0.5) { -1.0 } else { 1.0 };
                        (sign * rng.range(0.5, 2.0)) as $F
                    })
                    .collect();
                report.points += 1;
                let context = format!("{} at p = {p:?}, k = {k:?}, d_out = {d_out:?}", case.name);
                let mut fail = |what: String| {
                    failures.push(format!("{context}: {what}"));
                };
                // `<d_out, f(p)>` on dual numbers.
                let inner = |v: &[Dual<$F>]| {
                    (case.reference)(v, &k)
                        .iter()
                        .zip(&d_out)
                        .fold(Dual::from_re(0.0), |sum, (&r, &d)| sum + r * d)
                };
                take_decisions();
                let (_, all) = dual_gradient(inner, &p);
                let expected: Vec<$F> = case.active.iter().map(|&i| all[i]).collect();
                if expected_values.iter().chain(&expected).any(|v| !v.is_finite()) {
                    fail(format!(
                        "the reference is not finite ({expected_values:?}, {expected:?}): the generator left the domain"
                    ));
                    continue;
                }
                let plain = (case.value)(&p, &k);
                let (backward_value, backward_grad) = (case.backward)(&p, &k, &d_out);
                let (forward_value, forward_grad) = (case.forward)(&p, &k, &d_out);
                report.forward_runs += 1;
                for (what, got) in [
                    ("the function's value", &plain),
                    ("f_backward's value", &backward_value),
                    ("f_forward's value", &forward_value),
                ] {
                    if got.len() != expected_values.len()
                        || got.iter().zip(&expected_values).any(|(&a, &b)| !close(a, b))
                    {
                        fail(format!(
                            "{what} is {got:?} but the reference says {expected_values:?}"
                        ));
                    }
                }
                for (what, got) in [
                    ("f_backward", &backward_grad),
                    ("f_forward's closure", &forward_grad),
                ] {
                    if got.len() != expected.len() {
                        fail(format!(
                            "{what} gives {} gradient components but there are {} differentiable inputs",
                            got.len(),
                            expected.len()
                        ));
                        continue;
                    }
                    for (j, (&g, &e)) in got.iter().zip(&expected).enumerate() {
                        if !close(g, e) {
                            fail(format!(
                                "{what} component {j} is {g:?} but the reference of <d_out, f> says {e:?}"
                            ));
                        }
                    }
                }
                report.components += expected.len();
                // A program with `jvp`: its `f_jvp` in a random direction `t`, each component
                // of the output's tangent against the reference seeded with `t` and the central
                // difference in that direction.
                if let Some(jvp) = case.jvp {
                    let t = $tangent(&mut tangents, case.floats, case.active);
                    report.jvp_runs += 1;
                    let (value, tangent) = jvp(&p, &k, &t);
                    if value.len() != plain.len()
                        || value.iter().zip(&plain).any(|(&a, &b)| !same(a, b))
                    {
                        fail(format!(
                            "f_jvp's value is {value:?} but the function's is {plain:?}"
                        ));
                    }
                    let seeded: Vec<Dual<$F>> =
                        p.iter().zip(&t).map(|(&x, &d)| Dual::new(x, d)).collect();
                    take_decisions();
                    let expected_tangent: Vec<$F> =
                        (case.reference)(&seeded, &k).iter().map(|v| v.eps).collect();
                    if tangent.len() != expected_tangent.len() {
                        fail(format!(
                            "f_jvp's tangent has {} components but the output {}",
                            tangent.len(),
                            expected_tangent.len()
                        ));
                    } else if expected_tangent.iter().any(|v| !v.is_finite()) {
                        fail(format!(
                            "the reference's J·t is not finite ({expected_tangent:?}) in the direction {t:?}: the generator left the domain"
                        ));
                    } else {
                        for (j, (&got, &e)) in tangent.iter().zip(&expected_tangent).enumerate() {
                            report.jvp_components += 1;
                            if !close(got, e) {
                                fail(format!(
                                    "f_jvp's tangent component {j} is {got:?} but the reference says {e:?} in the direction {t:?}"
                                ));
                                continue;
                            }
                            $directional(
                                &|q: &[$F]| (case.value)(q, &k)[j],
                                &|q: &[Dual<$F>]| (case.reference)(q, &k)[j],
                                &p,
                                &t,
                                got,
                                f64::from(expected_values[j]).abs(),
                                narrowed,
                                report,
                                &mut fail,
                            );
                        }
                    }
                }
                if backward_grad.len() != expected.len() {
                    continue;
                }
                // Central differences of `<d_out, f(p)>`, where they are meaningful.
                let magnitude: f64 = expected_values
                    .iter()
                    .zip(&d_out)
                    .map(|(&v, &d)| (f64::from(v) * f64::from(d)).abs())
                    .sum();
                $numeric(
                    &|q: &[$F]| {
                        (case.value)(q, &k)
                            .iter()
                            .zip(&d_out)
                            .fold(0.0, |sum, (&v, &d)| sum + v * d)
                    },
                    &inner,
                    &p,
                    case.active,
                    &backward_grad,
                    magnitude,
                    narrowed,
                    report,
                    &mut fail,
                );
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

checker!(
    check_f64,
    check_vec_f64,
    numeric_f64,
    point_f64,
    skip_f64,
    directional_f64,
    tangent_f64,
    f64,
    1e-10
);
checker!(
    check_f32,
    check_vec_f32,
    numeric_f32,
    point_f32,
    skip_f32,
    directional_f32,
    tangent_f32,
    f32,
    2e-4
);

/// Mixed into the points at which `f_hvp` is checked (a stream of its own).
const HVP_SEED: u64 = 0x4E55_1A00;
/// The relative tolerance of `f_hvp`'s `H·v` against hyper-dual numbers (reverse over forward
/// mode sums other terms in another order than the hyper-dual pass).
const HVP_EXACT: f64 = 1e-8;

/// Checks a program with `hvp` at `POINTS` random points, each with a random `v` (as the
/// tangents of `f_jvp`): the value and the gradient `f_hvp` returns against the dual
/// reference, and `H·v` against the reference on hyper-dual numbers (`eps1` seeded with a unit
/// vector, `eps2` with `v`, `eps1eps2` is a component of `H·v`; one pass per differentiable
/// input).
fn check_hvp(case: &Case<f64>, index: usize, report: &mut Report) {
    let Some((hvp, hyper)) = case.hvp else {
        return;
    };
    let close =
        |a: f64, b: f64, tolerance: f64| (a - b).abs() <= tolerance * a.abs().max(b.abs()).max(1.0);
    let mut rng = Rng(HVP_SEED + index as u64 * 7919 + case.floats as u64);
    let mut failures = Vec::new();
    for _ in 0..POINTS {
        let (p, k) = point_f64(&mut rng, case.floats, case.consts);
        let v = tangent_f64(&mut rng, case.floats, case.active);
        take_decisions();
        let (expected_value, all) = dual_gradient(|x: &[Dual64]| (case.reference)(x, &k), &p);
        let mut expected_hv = Vec::new();
        for &a in case.active {
            let inputs: Vec<HyperDual64> = (0..case.floats)
                .map(|j| HyperDual64::new(p[j], if j == a { 1.0 } else { 0.0 }, v[j], 0.0))
                .collect();
            expected_hv.push(hyper(&inputs, &k).eps1eps2);
        }
        take_decisions();
        let expected: Vec<f64> = case.active.iter().map(|&i| all[i]).collect();
        if !expected_value.is_finite()
            || expected.iter().chain(&expected_hv).any(|g| !g.is_finite())
        {
            report.hvp_skipped += 1;
            continue;
        }
        report.hvp_runs += 1;
        let context = format!("{} at p = {p:?}, k = {k:?}, v = {v:?}", case.name);
        let (value, gradient, hv) = hvp(&p, &k, &v);
        if !close(value, expected_value, 1e-10) {
            failures.push(format!(
                "{context}: f_hvp's value is {value:?} but the reference says {expected_value:?}"
            ));
        }
        if gradient.len() != expected.len()
            || gradient
                .iter()
                .zip(&expected)
                .any(|(&g, &e)| !close(g, e, 1e-10))
        {
            failures.push(format!(
                "{context}: f_hvp's gradient is {gradient:?} but the reference says {expected:?}"
            ));
        }
        report.hvp_components += hv.len();
        if hv.len() != expected_hv.len()
            || hv
                .iter()
                .zip(&expected_hv)
                .any(|(&h, &e)| !close(h, e, HVP_EXACT))
        {
            failures.push(format!(
                "{context}: f_hvp's H·v is {hv:?} but hyper-dual numbers say {expected_hv:?}"
            ));
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

#[test]
fn random_programs_match_dual_numbers_and_central_differences() {
    let mut report = Report::default();
    for (i, case) in CASES_F64.iter().enumerate() {
        check_f64(case, i, &mut report);
        check_hvp(case, i, &mut report);
    }
    for (i, case) in CASES_F32.iter().enumerate() {
        check_f32(case, CASES_F64.len() + i, &mut report);
    }
    let scalar = CASES_F64.len() + CASES_F32.len();
    for (i, case) in VEC_CASES_F64.iter().enumerate() {
        check_vec_f64(case, scalar + i, &mut report);
    }
    for (i, case) in VEC_CASES_F32.iter().enumerate() {
        check_vec_f32(case, scalar + VEC_CASES_F64.len() + i, &mut report);
    }
    println!(
        "differential: {} programs ({} f64, {} f32; {} of them return an array), {} points, {} \
         gradient components checked against dual numbers; central differences on {} of them \
         ({} skipped near a kink or jump, {} where the step's truncation or rounding error is \
         too large, {} of the {} f64 programs that compute in f32); {} points also through the \
         f_forward of a program with split(..) or returning an array",
        report.programs,
        CASES_F64.len() + VEC_CASES_F64.len(),
        CASES_F32.len() + VEC_CASES_F32.len(),
        report.vector_programs,
        report.points,
        report.components,
        report.numeric_checked,
        report.skipped_kink,
        report.skipped_curvature,
        report.skipped_narrowed,
        NARROWED.len(),
        report.forward_runs,
    );
    let jvp_programs = CASES_F64.iter().filter(|c| c.jvp.is_some()).count()
        + CASES_F32.iter().filter(|c| c.jvp.is_some()).count()
        + VEC_CASES_F64.iter().filter(|c| c.jvp.is_some()).count()
        + VEC_CASES_F32.iter().filter(|c| c.jvp.is_some()).count();
    println!(
        "forward mode: {jvp_programs} programs with jvp, {} points through f_jvp in a random \
         direction, {} tangent components checked against dual numbers; central differences \
         in that direction on {} of them ({} skipped near a kink or jump, {} where the step's \
         truncation or rounding error is too large, {} of the programs that compute in f32)",
        report.jvp_runs,
        report.jvp_components,
        report.jvp_numeric_checked,
        report.jvp_skipped_kink,
        report.jvp_skipped_curvature,
        report.jvp_skipped_narrowed,
    );
    let hvp_programs = CASES_F64.iter().filter(|c| c.hvp.is_some()).count();
    println!(
        "second order: {hvp_programs} programs with hvp, {} points through f_hvp with a random \
         v, {} components of H·v checked against hyper-dual numbers ({} points skipped where \
         the reference is not finite)",
        report.hvp_runs, report.hvp_components, report.hvp_skipped,
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
    assert!(
        jvp_programs >= 1000,
        "only {jvp_programs} programs with jvp"
    );
}
