//! Differential testing of vectorized code: a few hundred random ndarray programs.
//!
//! The scalar programs have `tests/differential.rs`; this is its smaller twin for the tensor
//! language of the README ("Vectorized code on ndarray"). A generator (a fixed-seed SplitMix64,
//! written out below: no dependency) draws random `#[backprop]` functions and writes them to
//! `tests/generated/tensor_programs.rs`, checked in so that every program can be read and a
//! failing one pinned as a regression test.
//!
//! Each program has fixed small shapes (dimensions `N`, `D`, `C` in 1..=4, size 1 included),
//! parameters among `&Array2<f64>`, `Array2<f64>`, `ArrayView2<f64>`, `&Array1<f64>`, `f64` and
//! labels `y: &[usize]` (sometimes `#[backprop(wrt(..))]`), and a straight-line body of `let`
//! lines mixing elementwise arithmetic (same shapes, a broadcast row or column, scalars),
//! elementwise methods, `mapv` (paths and closures; among them `max`, `min` and `clamp` with
//! number bounds — literals, scalar locals and the scalar parameters, differentiated or not —
//! as numpy's `np.maximum(0, z)` is written, `z.mapv(|v| v.max(0.0))`, alone or inside the
//! closure's arithmetic), matrix products of every rank combination, transposes, reductions,
//! `insert_axis`, views and clones, and the tensor gates; values are reused (fan-out) and the
//! last line reduces them all to a scalar. The generator keeps a bound on every value's entries
//! so that nothing overflows, `exp` sees only small arguments, and nothing is divided by a
//! value near zero.
//!
//! The last `LOOP_PROGRAMS` programs have a loop (`for` over a small range, sometimes reversed,
//! or `while` with a counter; sometimes with a `break` guard on a scalar, before or after the
//! update) carrying an array replaced in every iteration — elementwise with a gate,
//! `h.dot(wh)` with a parameter matrix, a bias, a gated blend `&z * &h + (1.0 - &z) * &cand`,
//! or a cell and its state carried together — often with a carried scalar accumulating a sum
//! of the array, and reading a row or a column of a constant data matrix `xs` in the body
//! (`xs.row(t)`, `xs.column(t).insert_axis(Axis(1))`, excluded from `wrt`). Straight-line lines
//! come before and after the loop, and about half of them then bind a local array with
//! `let mut` and write constants into its elements, at literal indices and at computed indices
//! in a loop, before it is reduced. The bound of each value is followed through the
//! iterations.
//!
//! The last `OUTPUT_PROGRAMS` programs (`Gen::composed`) return arrays or call programs that
//! do. About half of them are `-> Array2<f64>` or `-> Array1<f64>`: a few straight-line lines,
//! then an array line that reads a differentiated value, returned as it is (the expression
//! itself, or the local it is bound to), with the values not read yet reduced and added to it
//! (`&out + z1.sum() - s`). The others, and some of those, call an earlier such program (one
//! without `wrt`) with `let h: Array2<f64> = g(..);` (or `Array1<f64>`), passing it
//! parameters and locals of its parameters' shapes, scalars and literals, and go on with
//! tensor operations on `h` before they reduce it; half of them list the callee in
//! `split(..)` (a call that passes a reference to an array the caller owns stays in joint
//! mode: `split_calls_go_through_the_callees_forward`). A program that returns an array has no
//! `f_grad`: it is checked through `f_backward(p.., d_out)` and `f_forward`'s closure with a
//! random upstream `d_out` of the output's shape (`OUT_CASES`), against central differences of
//! `<d_out, f(p)>`. These programs are drawn after all the others, which are unchanged; the
//! constants `ARRAY_ARGUMENTS_BY_VALUE` to `DIFFERENTIATED_BOUND_OF_CONSTANT_ARRAY` keep out
//! what the macro does not compile yet (each `#[ignore]`d in `tests/regressions.rs`), or let
//! in what it compiles since (an `insert_axis`, a view or a copy as the output, returned made
//! owned: `h.t().to_owned()`).
//!
//! The last `LAYER_PROGRAMS` programs (`Gen::layer_function`), drawn after all the others (which
//! are unchanged), write the operations of the course's layers: `mapv` closures that are no
//! elementwise expression (an `if`/`else` on a comparison, `else if`, a block with a `let`: a leaky
//! ReLU, an ELU, a Huber loss with `abs`, a threshold) capturing a scalar parameter (differentiated
//! or not), a scalar local or literals (two of them at times, or a method of one, `s.tanh()`);
//! parts of arrays, as views bound to locals or used inline (`a.slice(s![.., 1..3])`, `s![i, ..]`
//! with an index, a negative index or a step, `a.row(i)`, `a.column(a.ncols() - 1)`,
//! `a.index_axis(Axis(k), i)`, `a.slice_axis(Axis(k), Slice::from(i..j))`);
//! `a.select(Axis(k), &idx)` with a constant index list (at times a repeated index, whose gradients
//! add up) or at the labels, `emb.select(Axis(0), y)`;
//! `concatenate(Axis(k), &[a.view(), b.view()]).unwrap()` (at times with a part written in the
//! call) and `stack(..)` of vectors or of rows; `a.var_axis(Axis(k), ddof)`,
//! `a.std_axis(Axis(k), ddof)` and the course's normalisation
//! `(&a - &mean) / &(var + 0.5).mapv(f64::sqrt)`; reshapes (`to_shape`, and `into_shape_with_order`
//! of an owned parameter, which it moves, or of an expression); and at times an `&Array3<f64>`
//! parameter made rank 2 first (`index_axis`, `slice(s![.., i, ..])`, `to_shape((t * n, d))`, a
//! reduction along an axis). About a third of them return the last such array. `ddof` is 1.0 only
//! along more than one element, and `std_axis` (whose gradient divides by the deviation) is taken
//! only of an array whose lanes hold independent random draws (a parameter, a part or a reshape of
//! one) along more than one element; the bounds are followed as elsewhere, every closure is
//! continuous (its kinks are skipped), and an ELU's `exp` sees an element within `EXP_LIMIT` unless
//! only its negative branch reads it. The forms of each construct are taken in turn (`Gen::turn`),
//! not drawn, so that each of them is generated among the few programs. The constants
//! `SELECT_OF_AN_INDEX_ARRAY` to `PART_OF_AN_OWNED_ARRAY_AS_THE_OUTPUT` keep out what the macro
//! does not compile yet (each `#[ignore]`d in `tests/regressions.rs`).
//!
//! The test evaluates every program at `POINTS` random points and compares `f_grad` with central
//! differences of the function itself (`backprop::numeric_gradient`), component by component:
//! relative error at most 1e-6 or absolute error at most 1e-8. A component whose central
//! difference changes when the step is divided by ten (a `relu` argument, an element at a
//! `max`/`min`/`clamp` bound or a `max_axis` tie within a step) is near a kink, and is skipped
//! and counted. `f_grad`'s value must equal the function's value exactly, and `f_backward`
//! seeded with a random `d_out` must give `d_out` times the gradient (once per program).
//!
//! Every `JVP_EVERY`-th program (by its number; nothing is drawn, so the programs are
//! unchanged but for their attribute) also has `jvp` where the macro writes `f_jvp` (README,
//! "Forward mode": no `mapv` closure with a branch or a block, and calls only of programs with
//! `jvp`; `var_axis` and `std_axis` since `JVP_LANE_STATISTICS`). At each point it runs `f_jvp` in a random direction `t`
//! (a component in [-1, 1] per differentiable float, from a stream of its own,
//! `TANGENT_SEED`): its value must be the function's exactly, its tangent must agree with
//! `<∇f, t>` of `f_grad` (for an array output, `<d_out, J·t>` with `<Jᵀ d_out, t>` of
//! `f_backward`) to 1e-9, and each of its components with the central difference in the
//! direction `t`, as the gradient's components (the same tolerance, and skipped the same way
//! near a kink).
//!
//! Every `HVP_EVERY`-th program (by its number again, nothing drawn), and every program that
//! returns an array without `wrt(..)` (a callee: so that more of the callers may), also has
//! `hvp` where the macro supports it (README, "Second order": the ndarray operations, the
//! runtime gates, `max_axis`, `mapv` closures that are scalar functions, branches included)
//! and when every program it calls has `hvp` too, since its `f_hvp` goes through their
//! `g_hvp_tangent`. The flags `HVP_MAPV_MAX_MIN_CLAMP` to `HVP_JVP_COPY_AS_THE_OUTPUT`, all
//! on, let in what the macro did not compile under `hvp` once and compiles since, each with
//! its repro in `tests/regressions.rs`; turned off, where only the combination of `jvp` and
//! `hvp` did not compile (the flags `HVP_JVP_..`), a program would keep `hvp` and lose `jvp`. At each point a program with `hvp` and a scalar output runs `f_hvp(p.., v..)`
//! in a random direction `v` (from a stream of its own, `HVP_SEED`, drawn as the tangents of
//! `f_jvp`): its value must be the function's exactly and its gradient `f_grad`'s to
//! `HVP_GRADIENT` (1e-10 relative to the larger magnitude or 1: the two passes round
//! differently, so they are not bit for bit the same); each component of `H·v` must agree with
//! the central difference of `f_grad`'s gradient in the direction `v` (the tolerance of the
//! gradient's components, and skipped the same way near a kink: when the central difference
//! changes as the step is divided by ten); and for a second random direction `u`, `<u, H·v>`
//! must equal `<v, H·u>` (the Hessian is symmetric) to 1e-9 of the sum of the products'
//! magnitudes (plus 1e-12, for a Hessian that is zero up to rounding). A program with `hvp`
//! that returns an array has no `f_hvp`, only `f_hvp_tangent` (its value and `J·t`), which is
//! checked as `f_jvp` is, in a direction of its own from `HVP_SEED`.
//!
//! Constructs the macro does not handle yet are kept out of the generator by the `const` flags
//! below, each with its minimal case in `tests/tensors.rs` (or `tests/carried.rs`, for the loop
//! programs) once fixed, and until then an `#[ignore]`d case in `tests/regressions.rs`
//! (`does_not_compile`).
//!
//! After changing the generator, re-create the file with
//! `BLESS=1 cargo test --test tensor_differential`. (If the old file no longer compiles, replace
//! it first with the three empty tables `static CASES: &[Case] = &[];`,
//! `static OUT_CASES: &[OutCase] = &[];` and `static COVERAGE: &[(&str, usize)] = &[];`.)

// The programs are random: they write `&a - &a` and `&a + &a` (fan-out of one value into both
// operands) as a user might, `.clone()` of a view (a copy line the macro must handle,
// whatever the array's kind), and a borrowed view as an operand (`h.dot(wh) + &x_t` of
// `let x_t = xs.column(t).insert_axis(Axis(1));`).
// The programs that return arrays end `let z1 = ..; z1` as generated, and their cases take
// `f_forward`'s pair apart with a `match`. The layer programs reshape an `Array3` of shape
// `(t, n, d)` to `(t * n, d)` written so (`(1 * 2, 4)`), and have up to eight parameters.
#![allow(
    dead_code,
    clippy::eq_op,
    clippy::clone_on_copy,
    clippy::op_ref,
    clippy::let_and_return,
    clippy::match_single_binding,
    clippy::identity_op,
    clippy::too_many_arguments
)]

mod common;

use std::fmt::Write as _;

use common::Rng;

use backprop::backprop;
use backprop::ndarray::{Array1, Array2, Array3, ArrayView2, Axis, Slice, concatenate, s, stack};

// ---------------------------------------------------------------------------------------------
// What the generated file needs.

/// `f_grad` of a program, called from the flat floats and the labels: the value and the
/// flattened gradient.
type Grad = fn(&[f64], &[usize]) -> (f64, Vec<f64>);
/// `f_backward` of a program, called from the flat floats, the labels and `d_out`.
type Backward = fn(&[f64], &[usize], f64) -> (f64, Vec<f64>);

/// One generated program: how to call it from a flat vector of floats and the labels.
struct Case {
    name: &'static str,
    /// The number of floats of all parameters, in signature order.
    floats: usize,
    /// The differentiable floats, as `(start, len)` ranges of the flat vector, in the order of
    /// the gradient.
    active: &'static [(usize, usize)],
    /// The labels' length (`N`) and bound (`C`); `(0, 0)` without labels.
    labels: (usize, usize),
    value: fn(&[f64], &[usize]) -> f64,
    grad: Grad,
    backward: Backward,
    backward_source: fn() -> &'static str,
    source: &'static str,
    /// For a program with `jvp`: its `f_jvp`, the tangents read from `t` (laid out as `p`).
    jvp: Option<Jvp>,
    /// For a program with `hvp`: its `f_hvp`, the direction read from `v` (laid out as `p`).
    hvp: Option<Hvp>,
}

/// `f_jvp` of a program, called from the flat floats, the labels and the flat tangents (laid
/// out as the floats; those of the parameters outside `wrt(..)` are not passed): the value
/// and `J·t`.
type Jvp = fn(&[f64], &[usize], &[f64]) -> (f64, f64);

/// `f_hvp` of a program, called from the flat floats, the labels and the flat direction `v`
/// (laid out as the floats, as `Jvp`'s tangents): the value, the flattened gradient and the
/// flattened `H·v`.
type Hvp = fn(&[f64], &[usize], &[f64]) -> (f64, Vec<f64>, Vec<f64>);

/// `f_jvp` of a program that returns an array: `(p, t)` to the value and the output's
/// tangent, flattened.
type OutJvp = fn(&[f64], &[f64]) -> (Vec<f64>, Vec<f64>);

/// An `r × c` matrix from `p[at..at + r * c]`, row-major.
fn mat(p: &[f64], at: usize, r: usize, c: usize) -> Array2<f64> {
    Array2::from_shape_vec((r, c), p[at..at + r * c].to_vec()).unwrap()
}

/// A vector from `p[at..at + n]`.
fn vector(p: &[f64], at: usize, n: usize) -> Array1<f64> {
    Array1::from(p[at..at + n].to_vec())
}

/// An `a × b × c` array from `p[at..at + a * b * c]`, row-major.
fn tensor3(p: &[f64], at: usize, a: usize, b: usize, c: usize) -> Array3<f64> {
    Array3::from_shape_vec((a, b, c), p[at..at + a * b * c].to_vec()).unwrap()
}

/// A gradient's components, in order.
fn flat<G: backprop::Gradient<f64>>(g: &G) -> Vec<f64> {
    g.flatten()
}

/// A program that returns an array (`Array1<f64>` or `Array2<f64>`): its value, and what
/// `f_backward(p.., d_out)` and `f_forward`'s closure give for an upstream gradient `d_out` of
/// the output's shape, all flattened (row-major). It has no `f_grad`.
struct OutCase {
    name: &'static str,
    floats: usize,
    active: &'static [(usize, usize)],
    value: fn(&[f64]) -> Vec<f64>,
    /// `(p, d_out)` to the value and the gradient of `<d_out, f(p)>`.
    backward: OutRun,
    forward: OutRun,
    backward_source: fn() -> &'static str,
    source: &'static str,
    jvp: Option<OutJvp>,
    /// For a program with `hvp`: its `f_hvp_tangent`, called as `jvp` (the value and `J·t`).
    hvp_tangent: Option<OutJvp>,
}

type OutRun = fn(&[f64], &[f64]) -> (Vec<f64>, Vec<f64>);

/// An array's elements in row-major order.
fn elements<D: backprop::ndarray::Dimension>(a: &backprop::ndarray::Array<f64, D>) -> Vec<f64> {
    a.iter().copied().collect()
}

include!("generated/tensor_programs.rs");

// ---------------------------------------------------------------------------------------------
// The generator.

const SEED: u64 = 0x7E45_0D1F_F000_2025;
const PROGRAMS: usize = 250;
/// Every how many programs one gets `jvp` in its attribute (where the macro writes `f_jvp`,
/// and when every program it calls has `jvp` too): `f_jvp` is checked against a central
/// difference in the tangent's direction and against `<∇f, t>` (for an array output, `<d_out,
/// J·t>` against `<Jᵀ d_out, t>` from `f_backward`).
const JVP_EVERY: usize = 1;
/// Whether a program with `jvp` may apply `backprop::softplus` to an array. Its `f_jvp` passes
/// the tangent by reference where `softplus_jvp` takes it by value (`X::Upstream`): "expected
/// `ArrayBase<OwnedRepr<f64>, ..>`, found `&ArrayBase<..>`" (`tests/regressions.rs`,
/// `jvp_softplus_of_an_array`); `sigmoid` and `relu` compile.
/// On: `softplus` has a gradient-only rule from its value (`softplus_grad`), used for its
/// tangent too (and the repro runs).
const JVP_SOFTPLUS: bool = true;
/// Whether a program with `jvp` may call `backprop::max_axis`: "cannot find function
/// `max_axis_jvp` in crate `::backprop`" (`tests/regressions.rs`, `jvp_max_axis`). On: the
/// runtime has `max_axis_jvp` (and the repro runs).
const JVP_MAX_AXIS: bool = true;
/// Whether a program with `jvp` may carry, in a loop, a copy of a view parameter (`let mut h =
/// state.to_owned();` of `state: ArrayView2<f64>`, replaced in every iteration). `f_jvp` types
/// the carried tangent as the view's and assigns it an owned array: "expected
/// `ArrayBase<ViewRepr<&f64>, ..>`, found `ArrayBase<OwnedRepr<f64>, ..>`"
/// (`tests/regressions.rs`, `jvp_carried_copy_of_a_view`).
/// On: the carried tangent starts as
/// `t_state.to_owned()` (and the repro runs).
const JVP_CARRIED_COPY_OF_VIEW: bool = true;
/// Whether a program with `jvp` may carry, in a loop, an array that starts as a copy of a
/// parameter outside `wrt(..)` (`let mut h = b.clone();`) and becomes differentiated in the
/// loop: "overflow evaluating the requirement `&ArrayBase<_, _, _>: Neg`"
/// (`tests/regressions.rs`, `jvp_carried_array_from_a_constant`).
/// On: the tangent starts
/// as a zero typed by its element, `Array::<f64, _>::zeros(..)` (and the repro runs).
const JVP_CARRIED_CONSTANT_START: bool = true;
/// Whether a program with `jvp` that returns an array may return a copy (`z.t().to_owned()`,
/// `m.to_owned()` of a view, `a.clone()`): `f_jvp` returns the tangent's view, "expected
/// `ArrayBase<OwnedRepr<f64>, ..>`, found `ArrayBase<ViewRepr<&f64>, ..>`"
/// (`tests/regressions.rs`, `jvp_copy_of_a_view_as_the_output`).
/// On: the tangent is copied out when the value is (`f_jvp`
/// decided it from the tokens' text, which the compiler prints differently from tests).
const JVP_COPY_AS_THE_OUTPUT: bool = true;
/// Whether a program with `jvp` may pass a copy made in a call's argument (`g(&h.to_owned(),
/// s)` of an array without a gradient): its zero tangent goes to `g_jvp` as an array where
/// `g` takes a reference, "expected `&ArrayBase<OwnedRepr<f64>, ..>`, found
/// `ArrayBase<OwnedRepr<_>, ..>`" (`tests/regressions.rs`, `jvp_copy_made_in_a_call_argument`).
/// On: the zero tangent is
/// passed by reference (and the repro runs).
const JVP_COPY_ARGUMENTS: bool = true;
/// Every how many programs one gets `hvp` in its attribute (where the macro supports it, and
/// when every program it calls has `hvp` too: a caller with `hvp` goes through its callees'
/// `g_hvp_tangent`). A program with a scalar output has `f_hvp`, checked against `f_grad` and
/// central differences of `f_grad`'s gradient; one that returns an array has only
/// `f_hvp_tangent` (its value and `J·t`), checked as `f_jvp` is. Not fewer: `hvp` writes
/// a tangent function and its reverse pass (and with `jvp`, forward mode over the tangent
/// function), so each program with it takes longer to build; every 6th (43 with a scalar
/// output, and 32 that return an array) adds about a quarter to the test's build.
const HVP_EVERY: usize = 6;
/// Whether a program with `hvp` may have a `mapv` closure with `max`, `min` or `clamp`
/// (`z.mapv(|v| v.max(0.0))`, `|v| v.clamp(-0.3, 1.5) * 0.1`, a bound literal or
/// differentiated): "closures are supported only as `mapv`'s argument" and "`map_collect` is
/// not a differentiable float method" (`tests/regressions.rs`, `hvp_mapv_with_max`). A path,
/// `mapv(f64::tanh)`, and a closure with a branch compile.
///
/// On: under `hvp` the comparison's tangent is written in the forward language, each tangent
/// times an array of its slope, and the repro runs.
const HVP_MAPV_MAX_MIN_CLAMP: bool = true;
/// Whether a program with `hvp` may have a carried array's `break` guard after its update in
/// the same iteration (`h = (h.dot(wh) + b) * 0.1; if (&h * &h).sum() > 3.0 { break; }`):
/// "mismatched types: expected `ArrayBase<OwnedRepr<f64>, ..>`, found `&ArrayBase<..>`" at
/// the update (`tests/regressions.rs`, `hvp_break_after_array_update`). A guard before the
/// update compiles.
///
/// On: an arm's array value is an array (`h_2.clone()`), not a reference, and the repro runs.
const HVP_BREAK_AFTER_ARRAY_UPDATE: bool = true;
/// Whether a program with `hvp` may reshape (`(a * 0.3).into_shape_with_order((1, 6))`,
/// `u.to_shape((1, 3))`): "`into_owned` is not differentiated on arrays"
/// (`tests/regressions.rs`, `hvp_reshape`).
///
/// On: `into_owned()` of a reshape is read as a copy, and the repro runs.
const HVP_RESHAPES: bool = true;
/// Whether a program with `hvp` may take `var_axis` or `std_axis` of an owned array (a local,
/// or an `Array2<f64>` parameter): "borrow of moved value" (`tests/regressions.rs`,
/// `hvp_var_axis_of_an_owned_array`). Of a reference parameter (`&Array2<f64>`,
/// `&Array3<f64>`) they compile.
///
/// On: the tangent borrows the array (`&z - &z.mean_axis(..)..`), and the repro runs.
const HVP_LANE_STATISTICS_OF_OWNED: bool = true;
/// Whether a program with `jvp` may take `var_axis` or `std_axis` (kept out of `jvp` from the
/// start: their tangent moved an owned array and subtracted from a view by value, as under
/// `hvp`, `HVP_LANE_STATISTICS_OF_OWNED`). On: fixed with it.
const JVP_LANE_STATISTICS: bool = true;
/// Whether a program with `hvp` may take `var_axis` or `std_axis` of a view (an
/// `ArrayView2<f64>` parameter, `x3.index_axis(..)`, a part): "cannot subtract
/// `&ArrayBase<OwnedRepr<f64>, ..>` from `ArrayBase<ViewRepr<&f64>, ..>`"
/// (`tests/regressions.rs`, `hvp_var_axis_of_a_view`).
///
/// On: the view is borrowed (`&p - ..`), and the repro runs.
const HVP_LANE_STATISTICS_OF_VIEW: bool = true;
/// Whether a program with both `jvp` and `hvp` may have a `mapv` closure that divides by an
/// expression of its argument (`a.mapv(|v| 1.0 / (1.0 + v * v))`): "cannot find function
/// `tangent_like_jvp` in crate `::backprop`" (`tests/regressions.rs`,
/// `jvp_hvp_mapv_dividing_by_its_argument`). With `hvp` alone, or `|v| v / 2.0`, it compiles.
///
/// On: the runtime has `tangent_like_jvp`, and the repro runs.
const HVP_JVP_MAPV_DIVISION: bool = true;
/// Whether a program with `wrt(..)` may have both `jvp` and `hvp`: a constant array (outside
/// `wrt`) plus a differentiated array broadcast to its shape (`a + u` with `wrt(u)`) is
/// "cannot find function `tangent_like_jvp` in crate `::backprop`" (`tests/regressions.rs`,
/// `jvp_hvp_broadcast_onto_a_constant_array`). With `hvp` alone it compiles. (Off, every
/// program with `wrt(..)` and `hvp` loses `jvp`, whether it has such a line or not: the
/// generator does not tell them apart.)
///
/// On: the runtime has `tangent_like_jvp`, and the repro runs.
const HVP_JVP_CONSTANT_BROADCAST: bool = true;
/// Whether a program with both `jvp` and `hvp` that returns an array may return a copy
/// (`l.t().to_owned()` of `let l = m.dot(a);`): "mismatched types: expected
/// `(ArrayBase<OwnedRepr<f64>, ..>, ..)`, found `(ArrayBase<ViewRepr<&f64>, ..>, ..)`" at the
/// attribute, in `f_hvp_tangent_jvp` (`tests/regressions.rs`,
/// `jvp_hvp_copy_of_a_view_as_the_output`).
///
/// On: a part that borrows is copied out in the tangent tuple, and the repro runs.
const HVP_JVP_COPY_AS_THE_OUTPUT: bool = true;
/// Entries of every value stay within this bound (estimated from the parameters' 1.5).
const LIMIT: f64 = 40.0;
/// `exp` only of values within this bound.
const EXP_LIMIT: f64 = 2.5;

/// `a.t().dot(&b)` and `a.dot(&b.t())`: a transpose inline, as a method receiver or argument.
const INLINE_TRANSPOSE: bool = true;
/// `v.view().insert_axis(Axis(k))` of a vector (a parameter or a local).
const VIEW_INSERT_AXIS: bool = true;
/// `-&a`: negation of a borrowed local array.
const NEGATED_BORROW: bool = true;
/// `let v = h.view();` and `let c = h.clone();` as lines of their own. The macro bound the
/// copy as a borrow of the original (`let v = &h;`) but typed it as an owned array, so `&v` in
/// a later line was a `&&Array` that ndarray's operators reject, and the original handed to a
/// gate by value while the "copy" still borrowed it did not compile.
///
/// On: fixed; the minimal cases are in `tests/tensors.rs` (`copies_of_local_arrays`).
const VIEW_AND_CLONE_LINES: bool = true;
/// Lines that do not depend on a differentiated parameter (with `wrt`). The macro bound such a
/// constant line as a borrow (`let h = &x.tanh();`), so `&h` in a later line was a `&&Array`.
///
/// On: fixed; the minimal case is in `tests/tensors.rs` (`copies_of_local_arrays`).
const CONSTANT_LINES: bool = true;

/// A `mapv` closure on a constant array (not differentiated) whose parameter shadows a
/// differentiated parameter of the function: `m.mapv(|v| v.min(-0.25))` or
/// `m.mapv(|v| v * v)` with `m` outside `wrt` and a differentiated `v: &Array1<f64>`. The
/// macro read the closure's `v` as the parameter: the line was lowered as array operations on
/// `m` (`m.min(-0.25)`, a view times a view), which did not compile. (Off, the closure's
/// parameter is `e` there.)
///
/// On: fixed in 5b2232e; the minimal case is in `tests/regressions.rs`
/// (`does_not_compile::closure_parameter_shadowing_a_differentiated_parameter`).
const CLOSURE_SHADOWING_ON_CONSTANT: bool = true;
/// A constant array computed by arithmetic (`let c = b * 2.0;` with `b` outside `wrt`) read
/// by borrow: the macro's code moves `c` where the user borrows it, so `w.dot(&c)` does not
/// compile (an array where `dot` takes a reference), nor a second read `w - &c` after
/// `w + &c`, nor a read in a loop body (moved in a previous iteration).
///
/// Off: constant lines are then anything but arithmetic; the minimal cases are in
/// `tests/regressions.rs` (`does_not_compile::constant_arithmetic_array_read_by_borrow`).
const CONSTANT_ARITHMETIC_LINES: bool = false;

/// Loop programs, after the straight-line ones.
const LOOP_PROGRAMS: usize = 50;
/// A `break` guard after the carried array's update in the same iteration. The breaking
/// iteration handed the new array on by reference (`h_1 = &h_2;` into the owned `h_1`), which
/// did not compile.
///
/// On: fixed in bc1a301; the minimal case is in `tests/carried.rs` (`break_after_update`).
const BREAK_AFTER_ARRAY_UPDATE: bool = true;
/// A carried array starting as a copy of a view, `let mut h = v.to_owned();`. The loop started
/// from `v.clone()`, a view that the iterations' owned arrays could not replace: it did not
/// compile.
///
/// On: fixed in bc1a301; the minimal case is in `tests/carried.rs` (`copy_of_view_carried`).
const CARRIED_COPY_OF_VIEW: bool = true;

/// Programs that return an array (`-> Array1<f64>`, `-> Array2<f64>`), and programs that call
/// them (`let h: Array2<f64> = g(..);`), after the loop programs (`Gen::composed`).
const OUTPUT_PROGRAMS: usize = 60;
/// Whether a call may pass an array by value, to a callee's `Array2<f64>` or `ArrayView2<f64>`
/// parameter (`g(h.clone())`, `g(a.to_owned())`, `g(a.view())`, `g(m)` of a view parameter,
/// `g(z)` of a local), or a copy made in the argument by reference (`g(&m.to_owned())` of a
/// view). The macro passes every array argument as a reference to the variable (`go(&z)` for
/// `go(z.clone())`, `go_backward(a, d_h)` for `go(a.to_owned())`): "expected
/// `ArrayBase<OwnedRepr<f64>, ..>`, found `&ArrayBase<OwnedRepr<f64>, ..>`"
/// (`tests/regressions.rs`, `does_not_compile::array_argument_by_value`).
///
/// On: fixed (`rules::Pass`), and its repro in `tests/regressions.rs` runs. (Off, callers call
/// only programs whose array parameters are references, and pass them arrays that are no views.)
const ARRAY_ARGUMENTS_BY_VALUE: bool = true;
/// Whether the value of a program that returns an array may be an `insert_axis` of an owned
/// array (`x.sum_axis(Axis(0)).insert_axis(Axis(0))`, or a local bound to it). The macro
/// computed it as a view (`z_sum_axis.view().insert_axis(Axis(0))`), which the function then
/// returned where the signature says `Array2<f64>`: "expected `ArrayBase<OwnedRepr<f64>, ..>`,
/// found `ArrayBase<ViewRepr<&f64>, ..>`" (`tests/regressions.rs`,
/// `does_not_compile::insert_axis_as_the_output`).
///
/// On: fixed in 9221d5a, and its repro in `tests/regressions.rs` runs. (Off, such a line is
/// not the output; it may be a line before it.)
const INSERT_AXIS_OUTPUT: bool = true;
/// Whether the value of a program that returns an array may be a copy or a view of an array
/// (`h.t()`, `h.view()` or `h.clone()` as the output's line, returned made owned: `h.t().
/// to_owned()`, `m.to_owned()` of a view parameter, `a.clone()` of a reference parameter). The
/// macro dropped the copy and returned the view or the reference (`let out_t = z.t(); .. (out_t,
/// d_a)`): "expected `ArrayBase<OwnedRepr<f64>, ..>`, found `ArrayBase<ViewRepr<&f64>, ..>`"
/// (`tests/regressions.rs`, `does_not_compile::copy_as_the_output`).
///
/// On: fixed in 9221d5a, and its repro in `tests/regressions.rs` runs. (Off, such a line is
/// not the output.)
const COPY_AS_THE_OUTPUT: bool = true;
/// Whether `max`, `min` or `clamp` in a `mapv` closure may have a differentiated bound when
/// the array is a constant (`h.mapv(|v| v.max(s))` with `h = a.tanh()` outside `wrt`): the
/// macro moves the array into the line (`let m_array = h;`) to keep it for the bound's
/// gradient, and a later read of it is "borrow of moved value: `h`" (`tests/regressions.rs`,
/// `does_not_compile::differentiated_bound_of_a_constant_array`). Found by the programs that
/// call programs returning arrays (a call's result outside `wrt` is such a constant).
///
/// On: fixed (a constant receiver is borrowed), and its repro runs. (Off, in the programs from
/// `Gen::composed` on, the bound of such an array is a literal or a constant.)
const DIFFERENTIATED_BOUND_OF_CONSTANT_ARRAY: bool = true;

/// Layer programs, after the programs that return arrays (`Gen::layer_function`).
const LAYER_PROGRAMS: usize = 60;
/// Whether `select`'s indices may be an array: a literal, `a.select(Axis(0), &[1, 0, 1])`, or
/// a local, `let idx = [1, 0, 1]; a.select(Axis(0), &idx)`. The generated backward passes
/// them on borrowed again, `select_grad(.., &&[1, 0, 1], ..)`, which is no `&[usize]`:
/// "expected `&[usize]`, found `&&[{integer}; 3]`" (`tests/regressions.rs`,
/// `does_not_compile::select_with_an_index_array`). A `Vec` or a slice (the labels) compiles.
///
/// On: fixed (`select_grad` takes `impl AsRef<[usize]>`), and its repro runs. (Off, the
/// indices are a `Vec`, `let idx = vec![1, 0, 1];` or `&vec![1, 0, 1]` inline.)
const SELECT_OF_AN_INDEX_ARRAY: bool = true;
/// Whether the layer constructs (parts, `select`, `var_axis`, `std_axis`, reshapes,
/// `concatenate`, `stack`) may take a constant operand (outside `wrt`, or computed from
/// constants only). The macro does not know the type of such a constant's result (only `row`
/// and `column` among them): a later differentiated `h.dot(k)` of `let h =
/// x.index_axis(Axis(0), 1);` is "`dot` is an array method, but its receiver is taken to be a
/// float", `(&z * s).sum()` of a constant `concatenate` the same for `sum`, and a part of a
/// constant local, `let p = c.slice(s![.., 0..1]);` of `let c = k.tanh();`, is "cannot move out
/// of `c` because it is borrowed" (`tests/regressions.rs`,
/// `does_not_compile::constant_operands_of_layer_operations`; fixed, and the case runs; still
/// off because turning it on redraws the layer programs, which then miss a construct, `select`
/// at the labels: the draw needs a look first).
///
/// On: turned on with the generator's draws adjusted (forms taken in turn). Turning it on
/// found one more bug, fixed: a constant `x.into_shape_with_order(..)` moved `x`, which the
/// reverse pass still reads (`d_w = xᵀ·d_z`); it is copied as a differentiated reshape is.
/// (Off, their receiver depends on a differentiated value; an `Array3` outside `wrt` is only
/// reduced.)
const CONSTANT_LAYER_OPERANDS: bool = true;
/// Whether `pick` may read a `mapv` whose backward maps the upstream in place (`z.mapv(|v|
/// v.max(0.0))`, `min`, `clamp`, a closure with a branch), or a view of one. `pick`'s
/// gradient is left unwritten (`OneHot`) for that backward, which wants an array:
/// "expected `ArrayBase<OwnedRepr<f64>, ..>`, found `OneHot<'_, f64>`" at
/// `backprop::map_upstream` (`tests/regressions.rs`,
/// `does_not_compile::pick_of_a_mapv_with_max_or_a_branch`). (`v.max(0.0) * 2.0`, `tanh`,
/// compile.) Found by the layer programs, whose closures have branches; the programs before
/// them never pick such an array.
///
/// On: fixed (`map_upstream` takes any `Upstream`, and writes a `OneHot` out), and its repro
/// runs. (Off, in the layer programs, `pick` reads no such array.)
const PICK_OF_A_MAPPED_ARRAY: bool = true;
/// Whether the value of a layer program that returns an array may be a part of an owned
/// array (a local or an `Array2<f64>` parameter), returned made owned: `z.row(0).to_owned()`.
/// `f_forward`'s closure moves the array, which the part still borrows: "cannot move out of
/// `z` because it is borrowed" (`tests/regressions.rs`,
/// `does_not_compile::part_of_an_owned_array_as_the_output`). A part of a reference or a view
/// parameter compiles, and so does a part of a local plus a value (`&h + 1.0`).
///
/// On: fixed (`f_forward` copies the value out before the closure takes the array), and its
/// repro runs; such an output is looked for first in turn. (Off, such a part is not the
/// output's line.)
const PART_OF_AN_OWNED_ARRAY_AS_THE_OUTPUT: bool = true;

/// A value's type: a scalar, a vector of a length, a matrix of a shape.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Ty {
    S,
    V(usize),
    M(usize, usize),
}

impl Ty {
    fn len(self) -> usize {
        match self {
            Ty::S => 1,
            Ty::V(n) => n,
            Ty::M(r, c) => r * c,
        }
    }

    fn is_array(self) -> bool {
        self != Ty::S
    }
}

/// How a value is held, which decides how it is borrowed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Held {
    /// `&Array2<f64>` or `&Array1<f64>` parameter: already a reference.
    Ref,
    /// `Array2<f64>` parameter, `ArrayView2<f64>` parameter or a local: borrowed as `&name`.
    Place,
    /// `f64` parameter or local.
    Scalar,
}

struct Var {
    name: String,
    ty: Ty,
    bound: f64,
    held: Held,
    uses: usize,
    /// Depends on a differentiated parameter.
    active: bool,
    /// An `ArrayView` (a view parameter, `t()`, `view()`, or a clone of a view): copied with
    /// `.to_owned()` where an owned array is needed.
    view: bool,
    /// Its entries are the parameters' independent random draws, in some order (a matrix
    /// parameter, a part or a reshape of one): no lane of it is constant, so `std_axis`
    /// along a lane of two or more is differentiable but at chance ties.
    spread: bool,
    /// Not to be read by later lines: moved (`into_shape_with_order`), or a parameter that
    /// only its own lines read (the `Array3` of the layer programs).
    hidden: bool,
    /// A `mapv` whose backward maps the upstream in place (`max`, `min`, `clamp`, a branch),
    /// or a view or copy of one, in a layer program (see `PICK_OF_A_MAPPED_ARRAY`).
    mapped: bool,
}

/// A parameter as the case table calls it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Param {
    MatRef,
    MatOwned,
    MatView,
    VecRef,
    Scalar,
    /// `&Array3<f64>` of a shape (the layer programs): a variable of type `Ty::V` of its
    /// length, hidden from the other lines.
    Tensor3Ref(usize, usize, usize),
}

const LITERALS: [&str; 8] = ["0.5", "2.0", "0.25", "1.5", "0.3", "3.0", "0.1", "0.75"];
const LOCAL_NAMES: [&str; 12] = [
    "z",
    "h",
    "scores",
    "act",
    "probs",
    "log_probs",
    "gate",
    "norm",
    "hidden",
    "col",
    "row",
    "mixed",
];

struct Gen {
    rng: Rng,
    coverage: std::collections::BTreeMap<String, usize>,
    /// The programs that return an array, for later programs to call.
    outputs: Vec<OutSig>,
    /// Generating the programs of `Gen::composed`.
    composing: bool,
    /// The loop programs' updates, taken in turn (not drawn) so that each of them is
    /// generated among the few loop programs: the kind (one array, gated, a cell) and the
    /// one array's update.
    kind_turn: usize,
    update_turn: usize,
    /// The layer programs' forms taken in turn (`Gen::turn`).
    turns: std::collections::BTreeMap<&'static str, usize>,
}

/// One program being generated.
struct Program {
    vars: Vec<Var>,
    lines: Vec<String>,
    /// The labels' rows and classes, when the program has labels.
    labels: Option<(usize, usize)>,
    locals: usize,
}

impl Program {
    fn borrow(&mut self, i: usize) -> String {
        self.vars[i].uses += 1;
        let v = &self.vars[i];
        match v.held {
            Held::Ref | Held::Scalar => v.name.clone(),
            Held::Place => format!("&{}", v.name),
        }
    }

    /// The name, as a method receiver.
    fn recv(&mut self, i: usize) -> String {
        self.vars[i].uses += 1;
        self.vars[i].name.clone()
    }

    fn of(&self, pred: impl Fn(&Var) -> bool) -> Vec<usize> {
        (0..self.vars.len())
            .filter(|&i| !self.vars[i].hidden && pred(&self.vars[i]))
            .collect()
    }
}

/// What a caller needs to know of a program that returns an array.
struct OutSig {
    name: String,
    params: Vec<(String, Ty, Param)>,
    output: Ty,
    bound: f64,
    /// With `wrt(..)`: not called (a caller takes one gradient per float argument).
    wrt: bool,
    /// Whether it has `jvp` (so that its callers may: they call `g_jvp`).
    jvp: bool,
    /// Whether it has `hvp` (so that its callers may: they call `g_hvp_tangent`).
    hvp: bool,
}

/// A generated line's right-hand side.
struct Rhs {
    code: String,
    ty: Ty,
    bound: f64,
}

fn rhs(code: String, ty: Ty, bound: f64) -> Option<Rhs> {
    (bound <= LIMIT).then_some(Rhs { code, ty, bound })
}

/// How a program ends (`Gen::finish_with`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// A scalar, every value not read yet reduced into it.
    Scalar,
    /// An array: the local `out`, plus the values not read yet (reduced) when there are any;
    /// otherwise the local, or (`inline`) its line's expression itself.
    Array { out: usize, inline: bool },
}

impl Gen {
    fn new(seed: u64) -> Self {
        Gen {
            rng: Rng(seed),
            coverage: Default::default(),
            outputs: Vec::new(),
            composing: false,
            kind_turn: 0,
            update_turn: 0,
            turns: Default::default(),
        }
    }

    /// The next of `n` forms of `what`, taken in turn (not drawn), so that each of them is
    /// generated among a few programs.
    fn turn(&mut self, what: &'static str, n: usize) -> usize {
        let t = self.turns.entry(what).or_default();
        *t += 1;
        (*t - 1) % n
    }

    fn cov(&mut self, key: &str) {
        *self.coverage.entry(key.to_string()).or_default() += 1;
    }

    /// A variable among `candidates`, preferring the ones not used yet.
    fn choose(&mut self, p: &Program, candidates: &[usize]) -> Option<usize> {
        if candidates.is_empty() {
            return None;
        }
        let unused: Vec<usize> = candidates
            .iter()
            .copied()
            .filter(|&i| p.vars[i].uses == 0)
            .collect();
        if !unused.is_empty() && self.rng.chance(0.6) {
            Some(self.rng.pick(&unused))
        } else {
            Some(self.rng.pick(candidates))
        }
    }

    fn array(&mut self, p: &Program, pred: impl Fn(&Var) -> bool) -> Option<usize> {
        let c = p.of(|v| v.ty.is_array() && pred(v));
        self.choose(p, &c)
    }

    fn scalar_var(&mut self, p: &Program) -> Option<usize> {
        let c = p.of(|v| v.ty == Ty::S && v.bound <= 10.0);
        self.choose(p, &c)
    }

    fn lit(&mut self) -> &'static str {
        self.rng.pick(&LITERALS)
    }

    /// `a op b` between arrays of one shape (possibly the same array: fan-out).
    fn elementwise(&mut self, p: &mut Program) -> Option<Rhs> {
        let a = self.array(p, |v| v.bound <= 6.0)?;
        let ty = p.vars[a].ty;
        let same = p.of(|v| v.ty == ty && v.bound <= 6.0);
        let b = self.choose(p, &same)?;
        let op = self.rng.pick(&["+", "-", "*"]);
        self.cov(&format!("elementwise {op}"));
        let (ba, bb) = (p.vars[a].bound, p.vars[b].bound);
        let bound = if op == "*" { ba * bb } else { ba + bb };
        let code = format!("{} {op} {}", p.borrow(a), p.borrow(b));
        self.maybe_scaled(code, ty, bound)
    }

    /// Sometimes `(a op b) * lit`: a nested expression with an owned left operand.
    fn maybe_scaled(&mut self, code: String, ty: Ty, bound: f64) -> Option<Rhs> {
        if self.rng.chance(0.2) {
            self.cov("nested expression");
            let l = self.lit();
            let f: f64 = l.parse().unwrap();
            rhs(format!("({code}) * {l}"), ty, bound * f)
        } else {
            rhs(code, ty, bound)
        }
    }

    /// A matrix with a row vector (`Array1` of the column count) broadcast down its rows.
    fn row_broadcast(&mut self, p: &mut Program) -> Option<Rhs> {
        let a = self.array(p, |v| matches!(v.ty, Ty::M(..)) && v.bound <= 6.0)?;
        let Ty::M(r, c) = p.vars[a].ty else {
            unreachable!()
        };
        let b = self.array(p, |v| v.ty == Ty::V(c) && v.bound <= 6.0)?;
        let op = self.rng.pick(&["+", "-", "*"]);
        self.cov("row broadcast");
        let (ba, bb) = (p.vars[a].bound, p.vars[b].bound);
        let bound = if op == "*" { ba * bb } else { ba + bb };
        let code = if self.rng.chance(0.25) && op != "-" {
            self.cov("broadcast operand on the left");
            format!("{} {op} {}", p.borrow(b), p.borrow(a))
        } else {
            format!("{} {op} {}", p.borrow(a), p.borrow(b))
        };
        self.maybe_scaled(code, Ty::M(r, c), bound)
    }

    /// A matrix with a column (`r × 1`) broadcast along its rows: a column variable, or
    /// `m.sum_axis(Axis(1)).insert_axis(Axis(1))` inline.
    fn column_broadcast(&mut self, p: &mut Program) -> Option<Rhs> {
        let a = self.array(p, |v| matches!(v.ty, Ty::M(..)) && v.bound <= 6.0)?;
        let Ty::M(r, c) = p.vars[a].ty else {
            unreachable!()
        };
        let op = self.rng.pick(&["+", "-", "*"]);
        let ba = p.vars[a].bound;
        let cols = p.of(|v| v.ty == Ty::M(r, 1) && v.bound <= 6.0);
        let (col, bb) = if !cols.is_empty() && self.rng.chance(0.5) {
            let b = self.choose(p, &cols)?;
            self.cov("column broadcast (a variable)");
            (p.borrow(b), p.vars[b].bound)
        } else {
            let m = self.array(p, |v| {
                matches!(v.ty, Ty::M(rr, _) if rr == r) && v.bound <= 6.0
            })?;
            let Ty::M(_, k) = p.vars[m].ty else {
                unreachable!()
            };
            let bm = p.vars[m].bound;
            let name = p.recv(m);
            if self.rng.chance(0.5) {
                self.cov("column broadcast (sum_axis inline)");
                self.cov("sum_axis(1)");
                self.cov("insert_axis(1)");
                (
                    format!("&{name}.sum_axis(Axis(1)).insert_axis(Axis(1))"),
                    bm * k as f64,
                )
            } else {
                self.cov("column broadcast (mean_axis inline)");
                self.cov("mean_axis(1)");
                self.cov("insert_axis(1)");
                (
                    format!("&{name}.mean_axis(Axis(1)).unwrap().insert_axis(Axis(1))"),
                    bm,
                )
            }
        };
        let bound = if op == "*" { ba * bb } else { ba + bb };
        let code = format!("{} {op} {col}", p.borrow(a));
        self.maybe_scaled(code, Ty::M(r, c), bound)
    }

    /// An array with a scalar: a literal or a scalar variable, on either side.
    fn with_scalar(&mut self, p: &mut Program) -> Option<Rhs> {
        let a = self.array(p, |v| v.bound <= 10.0)?;
        let (ty, ba) = (p.vars[a].ty, p.vars[a].bound);
        let form = self.rng.below(5);
        match form {
            0 => {
                let l = self.lit();
                self.cov("literal * array");
                let f: f64 = l.parse().unwrap();
                rhs(format!("{l} * {}", p.borrow(a)), ty, ba * f)
            }
            1 => {
                let l = self.lit();
                self.cov("array * literal");
                let f: f64 = l.parse().unwrap();
                rhs(format!("{} * {l}", p.borrow(a)), ty, ba * f)
            }
            2 => {
                let l = self.lit();
                let op = self.rng.pick(&["+", "-"]);
                self.cov("array +- literal");
                let f: f64 = l.parse().unwrap();
                rhs(format!("{} {op} {l}", p.borrow(a)), ty, ba + f)
            }
            _ => {
                let s = self.scalar_var(p)?;
                let bs = p.vars[s].bound;
                let op = self.rng.pick(&["*", "+", "-"]);
                let bound = if op == "*" { ba * bs } else { ba + bs };
                if form == 3 && op == "*" {
                    self.cov("scalar variable * array");
                    rhs(format!("{} * {}", p.borrow(s), p.borrow(a)), ty, bound)
                } else {
                    self.cov("array op scalar variable");
                    rhs(format!("{} {op} {}", p.borrow(a), p.borrow(s)), ty, bound)
                }
            }
        }
    }

    fn negate(&mut self, p: &mut Program) -> Option<Rhs> {
        let a = self.array(p, |v| v.held == Held::Ref || NEGATED_BORROW)?;
        self.cov("unary -");
        let (ty, b) = (p.vars[a].ty, p.vars[a].bound);
        rhs(format!("-{}", p.borrow(a)), ty, b)
    }

    /// Elementwise methods and `mapv`.
    fn method(&mut self, p: &mut Program) -> Option<Rhs> {
        let a = self.array(p, |_| true)?;
        let (ty, b) = (p.vars[a].ty, p.vars[a].bound);
        let scalars = p.of(|v| v.ty == Ty::S && v.bound <= 3.0);
        let choice = self.rng.below(9);
        let e = closure_param(p, p.vars[a].active);
        let name = p.recv(a);
        let (code, bound, key) = match choice {
            0 => (format!("{name}.tanh()"), 1.0, "tanh"),
            1 => (format!("{name}.sin()"), 1.0, "sin"),
            2 if b <= 6.0 => (format!("{name}.powi(2)"), b * b, "powi"),
            3 if b <= EXP_LIMIT => (format!("{name}.exp()"), b.exp(), "exp"),
            4 => (format!("{name}.mapv(f64::tanh)"), 1.0, "mapv(f64::tanh)"),
            5 => (
                format!("{name}.mapv(backprop::sigmoid)"),
                1.0,
                "mapv(backprop::sigmoid)",
            ),
            6 => (
                format!("{name}.mapv(|{e}| {e} / (1.0 + {e} * {e}))"),
                0.5,
                "mapv closure",
            ),
            7 if b <= 6.0 => (
                format!("{name}.mapv(|{e}| {e} * {e} * 0.5 + {e}.sin())"),
                b * b * 0.5 + 1.0,
                "mapv closure with a method",
            ),
            8 if !scalars.is_empty() => {
                let s = self.rng.pick(&scalars);
                let s = p.recv(s);
                (
                    format!("{name}.mapv(|{e}| ({e} * {s}).tanh())"),
                    1.0,
                    "mapv closure capturing a scalar",
                )
            }
            _ => {
                // The receiver was counted as used; undo that for the failed draw.
                p.vars[a].uses -= 1;
                return None;
            }
        };
        self.cov(key);
        rhs(code, ty, bound)
    }

    /// `max`, `min` and `clamp` with number bounds on every element, in a `mapv` closure
    /// (`z.mapv(|v| v.max(0.0))`, numpy's `np.maximum(0, z)`): bounds that are literals,
    /// scalar variables (the scalar parameters `s` and `reg` among them, differentiated unless
    /// `wrt` leaves them out), a negated scalar or a scalar plus or minus a literal; the
    /// comparison alone in the closure or inside its arithmetic, of a local or of an
    /// expression, sometimes reduced inline. (Never an array as the bound: not supported.)
    ///
    /// The kinks are the checker's to skip, as `relu`'s are: the entries are continuous random
    /// values, so one lies within a step of a bound only by chance. `clamp`'s bounds are
    /// ordered whatever the scalar's value (`f64::clamp` panics otherwise): a scalar is paired
    /// with a literal beyond its bound, or with itself (`s - l`, `s + l`).
    fn clip(&mut self, p: &mut Program) -> Option<Rhs> {
        let a = self.array(p, |v| v.bound <= 10.0)?;
        let (ty, b) = (p.vars[a].ty, p.vars[a].bound);
        let method = self.rng.pick(&["max", "min", "clamp"]);
        let scalars = p.of(|v| v.ty == Ty::S && v.bound <= 3.0);
        // The bounds: the method's arguments and the bound of its result's entries, for an
        // input within `b_in`.
        let (bounds, out_bound): (String, Box<dyn Fn(f64) -> f64>) =
            if scalars.is_empty() || self.rng.chance(0.45) {
                self.cov(&format!(
                    "mapv {method} ({})",
                    if method == "clamp" {
                        "literal bounds"
                    } else {
                        "literal bound"
                    }
                ));
                if method == "clamp" {
                    let (lo, hi) = self.rng.pick(&[
                        ("-0.5", "0.5"),
                        ("-1.0", "0.25"),
                        ("0.0", "1.0"),
                        ("-0.3", "1.5"),
                        ("-2.0", "2.0"),
                    ]);
                    let m = parse(lo).abs().max(parse(hi).abs());
                    (format!("{lo}, {hi}"), Box::new(move |_| m))
                } else {
                    // Mostly ReLU's 0.0 for `max`.
                    let l = if method == "max" {
                        self.rng.pick(&["0.0", "0.0", "0.0", "0.5", "-0.25", "0.1"])
                    } else {
                        self.rng.pick(&["0.0", "0.5", "-0.25", "0.1", "-1.0"])
                    };
                    if method == "max" && l == "0.0" {
                        self.cov("mapv max(0.0) (ReLU)");
                    }
                    let m = parse(l).abs();
                    (l.to_string(), Box::new(move |b_in: f64| b_in.max(m)))
                }
            } else {
                // A scalar local half the time there is one.
                let locals: Vec<usize> = scalars
                    .iter()
                    .copied()
                    .filter(|&i| !matches!(p.vars[i].name.as_str(), "s" | "reg"))
                    .collect();
                let s = if !locals.is_empty() && self.rng.chance(0.5) {
                    self.rng.pick(&locals)
                } else {
                    self.rng.pick(&scalars)
                };
                // See `DIFFERENTIATED_BOUND_OF_CONSTANT_ARRAY` (the programs before the ones
                // that return arrays have such lines, and read their arrays no more).
                if !DIFFERENTIATED_BOUND_OF_CONSTANT_ARRAY
                    && self.composing
                    && p.vars[s].active
                    && !p.vars[a].active
                {
                    return None;
                }
                let bs = p.vars[s].bound;
                let parameter = matches!(p.vars[s].name.as_str(), "s" | "reg");
                self.cov(match (parameter, p.vars[s].active) {
                    (true, true) => "mapv max/min/clamp bound: a differentiated scalar parameter",
                    (true, false) => "mapv max/min/clamp bound: a scalar parameter outside wrt",
                    (false, _) => "mapv max/min/clamp bound: a scalar local",
                });
                let name = p.recv(s);
                self.cov(&format!(
                    "mapv {method} ({})",
                    if method == "clamp" {
                        "scalar variable bounds"
                    } else {
                        "scalar variable bound"
                    }
                ));
                // A literal beyond the scalar's bound, for the other side of a clamp.
                let beyond = |g: &mut Gen| {
                    let far: Vec<&str> = ["2.0", "3.5", "5.0"]
                        .into_iter()
                        .filter(|l| parse(l) >= bs + 0.5)
                        .collect();
                    g.rng.pick(&far)
                };
                match (method, self.rng.below(3)) {
                    ("clamp", 0) => {
                        let l = beyond(self);
                        let m = parse(l).max(bs);
                        (format!("-{l}, {name}"), Box::new(move |_| m))
                    }
                    ("clamp", 1) => {
                        let l = beyond(self);
                        let m = parse(l).max(bs);
                        (format!("{name}, {l}"), Box::new(move |_| m))
                    }
                    ("clamp", _) => {
                        self.cov("mapv max/min/clamp bound: a scalar plus or minus a literal");
                        let l = self.rng.pick(&["0.25", "0.5", "1.0"]);
                        let m = bs + parse(l);
                        (format!("{name} - {l}, {name} + {l}"), Box::new(move |_| m))
                    }
                    (_, 0) => {
                        self.cov("mapv max/min/clamp bound: a negated scalar");
                        (format!("-{name}"), Box::new(move |b_in: f64| b_in.max(bs)))
                    }
                    (_, 1) => {
                        self.cov("mapv max/min/clamp bound: a scalar plus or minus a literal");
                        let l = self.lit();
                        let op = self.rng.pick(&["+", "-"]);
                        let m = bs + parse(l);
                        (
                            format!("{name} {op} {l}"),
                            Box::new(move |b_in: f64| b_in.max(m)),
                        )
                    }
                    _ => (name, Box::new(move |b_in: f64| b_in.max(bs))),
                }
            };
        let call = |x: &str| format!("{x}.{method}({bounds})");
        let e = closure_param(p, p.vars[a].active);
        let draw = self.rng.below(10);
        let (code, ty, bound) = match draw {
            // Inside the closure's arithmetic.
            0..=2 => {
                self.cov("mapv max/min/clamp inside arithmetic in the closure");
                match self.rng.below(3) {
                    0 => {
                        // `(v * s).max(0.0)`: the element scaled first.
                        let (factor, f) = if !scalars.is_empty() && self.rng.chance(0.5) {
                            let s = self.rng.pick(&scalars);
                            (p.recv(s), p.vars[s].bound)
                        } else {
                            let l = self.lit();
                            (l.to_string(), parse(l))
                        };
                        (
                            format!(
                                "{}.mapv(|{e}| {})",
                                p.recv(a),
                                call(&format!("({e} * {factor})"))
                            ),
                            ty,
                            out_bound(b * f),
                        )
                    }
                    1 => {
                        // `v.clamp(lo, hi) * 2.0`.
                        let l = self.lit();
                        (
                            format!("{}.mapv(|{e}| {} * {l})", p.recv(a), call(e)),
                            ty,
                            out_bound(b) * parse(l),
                        )
                    }
                    _ => {
                        // `(v + v.max(0.0)) * 0.5`: the element read twice.
                        (
                            format!("{}.mapv(|{e}| ({e} + {}) * 0.5)", p.recv(a), call(e)),
                            ty,
                            (b + out_bound(b)) * 0.5,
                        )
                    }
                }
            }
            // Of an expression: `(&a * 0.5).mapv(..)`, `(&a - &b).mapv(..)`.
            3 => {
                self.cov("mapv max/min/clamp of an expression");
                let same = p.of(|v| v.ty == ty && v.bound <= 10.0);
                let other = self.choose(p, &same)?;
                let e = closure_param(p, p.vars[a].active || p.vars[other].active);
                let (x, y) = (p.borrow(a), p.borrow(other));
                let op = self.rng.pick(&["+", "-"]);
                let b_in = b + p.vars[other].bound;
                (
                    format!("({x} {op} {y}).mapv(|{e}| {})", call(e)),
                    ty,
                    out_bound(b_in),
                )
            }
            // Reduced inline: the upstream one value for every element.
            4 => {
                self.cov("mapv max/min/clamp reduced inline");
                let n = ty.len() as f64;
                let code = format!("{}.mapv(|{e}| {})", p.recv(a), call(e));
                if self.rng.chance(0.5) {
                    (format!("{code}.sum()"), Ty::S, out_bound(b) * n)
                } else {
                    (format!("{code}.mean().unwrap()"), Ty::S, out_bound(b))
                }
            }
            _ => (
                format!("{}.mapv(|{e}| {})", p.recv(a), call(e)),
                ty,
                out_bound(b),
            ),
        };
        rhs(code, ty, bound)
    }

    /// The runtime gates.
    fn gate(&mut self, p: &mut Program) -> Option<Rhs> {
        let a = self.array(p, |_| true)?;
        let (ty, b) = (p.vars[a].ty, p.vars[a].bound);
        let axis = match ty {
            Ty::M(..) => self.rng.below(2),
            _ => 0,
        };
        let arg = p.borrow(a);
        let (code, bound, key) = match self.rng.below(5) {
            0 => (format!("backprop::relu({arg})"), b, "relu".to_string()),
            1 => (
                format!("backprop::sigmoid({arg})"),
                1.0,
                "sigmoid".to_string(),
            ),
            2 => (
                format!("backprop::softplus({arg})"),
                b + 0.7,
                "softplus".to_string(),
            ),
            3 => (
                format!("backprop::softmax({arg}, Axis({axis}))"),
                1.0,
                format!("softmax Axis({axis}) of a {}", rank(ty)),
            ),
            _ => (
                format!("backprop::log_softmax({arg}, Axis({axis}))"),
                2.0 * b + 1.5,
                format!("log_softmax Axis({axis}) of a {}", rank(ty)),
            ),
        };
        self.cov(&key);
        rhs(code, ty, bound)
    }

    /// Matrix products of every rank combination.
    fn dot(&mut self, p: &mut Program) -> Option<Rhs> {
        let a = self.array(p, |v| v.bound <= 6.0)?;
        let ta = p.vars[a].ty;
        let transpose_lhs = INLINE_TRANSPOSE && matches!(ta, Ty::M(..)) && self.rng.chance(0.2);
        let left = match (ta, transpose_lhs) {
            (Ty::M(r, c), true) => Ty::M(c, r),
            _ => ta,
        };
        // The right operand's leading dimension.
        let k = match left {
            Ty::M(_, c) => c,
            Ty::V(n) => n,
            Ty::S => unreachable!(),
        };
        let transpose_rhs = INLINE_TRANSPOSE && !transpose_lhs && self.rng.chance(0.15);
        let b = if transpose_rhs {
            self.array(p, |v| {
                matches!(v.ty, Ty::M(_, c) if c == k) && v.bound <= 6.0
            })?
        } else {
            self.array(p, |v| match v.ty {
                Ty::M(r, _) => r == k && v.bound <= 6.0,
                Ty::V(n) => n == k && v.bound <= 6.0,
                Ty::S => false,
            })?
        };
        let right = match (p.vars[b].ty, transpose_rhs) {
            (Ty::M(r, c), true) => Ty::M(c, r),
            (t, _) => t,
        };
        let ty = match (left, right) {
            (Ty::M(r, _), Ty::M(_, c)) => {
                self.cov("dot matrix · matrix");
                Ty::M(r, c)
            }
            (Ty::M(r, _), Ty::V(_)) => {
                self.cov("dot matrix · vector");
                Ty::V(r)
            }
            (Ty::V(_), Ty::M(_, c)) => {
                self.cov("dot vector · matrix");
                Ty::V(c)
            }
            _ => {
                self.cov("dot vector · vector");
                Ty::S
            }
        };
        let bound = p.vars[a].bound * p.vars[b].bound * k as f64;
        let lhs = p.recv(a);
        let lhs = if transpose_lhs {
            self.cov("inline transpose (receiver)");
            format!("{lhs}.t()")
        } else {
            lhs
        };
        let arg = if transpose_rhs {
            self.cov("inline transpose (argument)");
            format!("&{}.t()", p.recv(b))
        } else {
            p.borrow(b)
        };
        rhs(format!("{lhs}.dot({arg})"), ty, bound)
    }

    /// `a.t()`, `a.view()`, `a.clone()`.
    fn reshape(&mut self, p: &mut Program) -> Option<Rhs> {
        let a = self.array(p, |_| true)?;
        let (ty, b) = (p.vars[a].ty, p.vars[a].bound);
        let name = p.recv(a);
        let draw = if VIEW_AND_CLONE_LINES {
            self.rng.below(3)
        } else {
            0
        };
        match (draw, ty) {
            (0, Ty::M(r, c)) => {
                self.cov("t()");
                rhs(format!("{name}.t()"), Ty::M(c, r), b)
            }
            (0, _) => {
                p.vars[a].uses -= 1;
                None
            }
            (1, _) => {
                self.cov("view()");
                rhs(format!("{name}.view()"), ty, b)
            }
            _ => {
                self.cov("clone()");
                rhs(format!("{name}.clone()"), ty, b)
            }
        }
    }

    /// Axis reductions of a matrix, and vectors made matrices by `insert_axis`.
    fn axis(&mut self, p: &mut Program) -> Option<Rhs> {
        if VIEW_INSERT_AXIS && self.rng.chance(0.25) {
            let v = self.array(p, |v| matches!(v.ty, Ty::V(_)))?;
            let (Ty::V(n), b) = (p.vars[v].ty, p.vars[v].bound) else {
                unreachable!()
            };
            let k = self.rng.below(2);
            self.cov(&format!("insert_axis({k})"));
            self.cov("view().insert_axis of a vector");
            let ty = if k == 0 { Ty::M(1, n) } else { Ty::M(n, 1) };
            return rhs(
                format!("{}.view().insert_axis(Axis({k}))", p.recv(v)),
                ty,
                b,
            );
        }
        let a = self.array(p, |v| matches!(v.ty, Ty::M(..)))?;
        let (Ty::M(r, c), b) = (p.vars[a].ty, p.vars[a].bound) else {
            unreachable!()
        };
        let k = self.rng.below(2);
        let (kept, summed) = if k == 0 { (c, r) } else { (r, c) };
        let name = p.recv(a);
        let (code, bound) = match self.rng.below(3) {
            0 => {
                self.cov(&format!("sum_axis({k})"));
                (format!("{name}.sum_axis(Axis({k}))"), b * summed as f64)
            }
            1 => {
                self.cov(&format!("mean_axis({k})"));
                (format!("{name}.mean_axis(Axis({k})).unwrap()"), b)
            }
            _ => {
                self.cov(&format!("max_axis Axis({k})"));
                (
                    format!("backprop::max_axis({}, Axis({k}))", borrow_name(p, a)),
                    b,
                )
            }
        };
        if self.rng.chance(0.3) {
            // Back to a matrix, with the reduced axis of length 1.
            self.cov(&format!("insert_axis({k})"));
            self.cov("insert_axis of a reduction");
            let ty = if k == 0 { Ty::M(1, c) } else { Ty::M(r, 1) };
            rhs(format!("{code}.insert_axis(Axis({k}))"), ty, bound)
        } else {
            rhs(code, Ty::V(kept), bound)
        }
    }

    /// `pick(&a, y)` of an `N × C` matrix.
    fn pick(&mut self, p: &mut Program) -> Option<Rhs> {
        let (n, c) = p.labels?;
        let a = self.array(p, |v| {
            v.ty == Ty::M(n, c) && (PICK_OF_A_MAPPED_ARRAY || !v.mapped)
        })?;
        self.cov("pick");
        let b = p.vars[a].bound;
        rhs(format!("backprop::pick({}, y)", p.borrow(a)), Ty::V(n), b)
    }

    /// A scalar line: a reduction, possibly scaled.
    fn scalar_line(&mut self, p: &mut Program) -> Option<Rhs> {
        let (code, bound) = self.reduction(p)?;
        if self.rng.chance(0.4) {
            let l = self.lit();
            let f: f64 = l.parse().unwrap();
            rhs(format!("{code} * {l}"), Ty::S, bound * f)
        } else {
            rhs(code, Ty::S, bound)
        }
    }

    /// An array reduced to a scalar: `.sum()`, `.mean().unwrap()`, `(&a * &a).sum()`, ...
    fn reduction(&mut self, p: &mut Program) -> Option<(String, f64)> {
        let a = self.array(p, |_| true)?;
        Some(self.reduce(p, a))
    }

    fn reduce(&mut self, p: &mut Program, a: usize) -> (String, f64) {
        let (ty, b) = (p.vars[a].ty, p.vars[a].bound);
        let n = ty.len() as f64;
        match self.rng.below(4) {
            0 => {
                self.cov("sum()");
                (format!("{}.sum()", p.recv(a)), b * n)
            }
            1 if b <= 6.0 => {
                self.cov("sum of squares");
                let x = p.borrow(a);
                (format!("({x} * {x}).sum()"), b * b * n)
            }
            2 if p.labels.is_some_and(|(n, c)| ty == Ty::M(n, c))
                && (PICK_OF_A_MAPPED_ARRAY || !p.vars[a].mapped) =>
            {
                self.cov("pick(..).mean()");
                (
                    format!("backprop::pick({}, y).mean().unwrap()", p.borrow(a)),
                    b,
                )
            }
            _ => {
                self.cov("mean()");
                (format!("{}.mean().unwrap()", p.recv(a)), b)
            }
        }
    }

    fn line(&mut self, p: &mut Program) -> Option<Rhs> {
        match self.rng.below(25) {
            0..=3 => self.elementwise(p),
            4 | 5 => self.row_broadcast(p),
            6 => self.column_broadcast(p),
            7 | 8 => self.with_scalar(p),
            9 => self.negate(p),
            10..=12 => self.method(p),
            13..=15 => self.gate(p),
            16..=18 => self.dot(p),
            19 => self.reshape(p),
            20 | 21 => self.axis(p),
            22 => self.pick(p),
            23 => self.clip(p),
            _ => self.scalar_line(p),
        }
    }

    fn add_local(&mut self, p: &mut Program, r: Rhs, active: bool) {
        let base = LOCAL_NAMES[self.rng.below(LOCAL_NAMES.len())];
        let name = format!("{base}{}", p.locals);
        p.locals += 1;
        p.lines.push(format!("    let {name} = {};", r.code));
        let view = r.code.ends_with(".t()")
            || r.code.ends_with(".view()")
            || r.code.contains(".view().insert_axis(")
            || r.code
                .strip_suffix(".clone()")
                .is_some_and(|source| p.vars.iter().any(|v| v.name == source && v.view));
        p.vars.push(Var {
            name,
            ty: r.ty,
            bound: r.bound,
            held: if r.ty == Ty::S {
                Held::Scalar
            } else {
                Held::Place
            },
            uses: 0,
            active,
            view,
            spread: false,
            hidden: false,
            mapped: false,
        });
    }

    /// One program: its source and its case-table entry.
    fn function(&mut self, name: &str) -> (String, String) {
        let dim = |g: &mut Gen| {
            if g.rng.chance(0.2) {
                1
            } else {
                1 + g.rng.below(4)
            }
        };
        let (n, d, c) = (dim(self), dim(self), dim(self));
        if n == 1 || d == 1 || c == 1 {
            self.cov("size-1 dimension");
        }
        let mut p = Program {
            vars: Vec::new(),
            lines: Vec::new(),
            labels: None,
            locals: 0,
        };
        // Parameters: (name, ty, kind).
        let mut params: Vec<(String, Ty, Param)> = Vec::new();
        let has_labels = self.rng.chance(0.35);
        let mat_kind = |g: &mut Gen| match g.rng.below(4) {
            0 => Param::MatOwned,
            1 => Param::MatView,
            _ => Param::MatRef,
        };
        if has_labels {
            p.labels = Some((n, c));
            params.push(("x".into(), Ty::M(n, d), mat_kind(self)));
            params.push(("w".into(), Ty::M(d, c), mat_kind(self)));
            if self.rng.chance(0.6) {
                params.push(("b".into(), Ty::V(c), Param::VecRef));
            }
        } else {
            let shapes = [Ty::M(n, d), Ty::M(d, c), Ty::M(n, c), Ty::M(c, d)];
            let names = ["a", "m", "k"];
            for name in names.iter().take(1 + self.rng.below(3)) {
                let shape = self.rng.pick(&shapes);
                params.push((name.to_string(), shape, mat_kind(self)));
            }
            let lens = [n, d, c];
            for name in ["u", "v"].iter().take(self.rng.below(3)) {
                let len = self.rng.pick(&lens);
                params.push((name.to_string(), Ty::V(len), Param::VecRef));
            }
        }
        for name in ["s", "reg"].iter().take(self.rng.below(3)) {
            params.push((name.to_string(), Ty::S, Param::Scalar));
        }
        // Shuffle the parameters a little: swap two of them.
        if params.len() > 1 && self.rng.chance(0.5) {
            let i = self.rng.below(params.len());
            let j = self.rng.below(params.len());
            params.swap(i, j);
        }
        for (name, ty, kind) in &params {
            self.cov(match kind {
                Param::MatRef => "parameter &Array2<f64>",
                Param::MatOwned => "parameter Array2<f64>",
                Param::MatView => "parameter ArrayView2<f64>",
                Param::VecRef => "parameter &Array1<f64>",
                Param::Scalar => "parameter f64",
                Param::Tensor3Ref(..) => "parameter &Array3<f64>",
            });
            p.vars.push(Var {
                name: name.clone(),
                ty: *ty,
                bound: 1.5,
                held: match kind {
                    Param::MatRef | Param::VecRef => Held::Ref,
                    Param::Scalar => Held::Scalar,
                    _ => Held::Place,
                },
                uses: 0,
                active: true,
                view: *kind == Param::MatView,
                spread: true,
                hidden: false,
                mapped: false,
            });
        }
        // wrt: a nonempty subset of the floats, in signature order.
        let wrt: Option<Vec<usize>> = if self.rng.chance(0.3) && params.len() > 1 {
            let mut subset: Vec<usize> =
                (0..params.len()).filter(|_| self.rng.chance(0.5)).collect();
            if subset.is_empty() {
                subset.push(self.rng.below(params.len()));
            }
            if has_labels {
                let w = params.iter().position(|p| p.0 == "w").unwrap();
                if !subset.contains(&w) {
                    subset.push(w);
                    subset.sort();
                }
            }
            self.cov("wrt");
            for (i, v) in p.vars.iter_mut().enumerate() {
                v.active = subset.contains(&i);
            }
            Some(subset)
        } else {
            None
        };

        if has_labels {
            self.cov("parameter labels &[usize]");
            // Scores, as in the course's losses.
            let xi = p.vars.iter().position(|v| v.name == "x").unwrap();
            let wi = p.vars.iter().position(|v| v.name == "w").unwrap();
            let x = p.recv(xi);
            let w = p.borrow(wi);
            let mut code = format!("{x}.dot({w})");
            if let Some(bi) = p.vars.iter().position(|v| v.name == "b") {
                code = format!("{code} + {}", p.borrow(bi));
                self.cov("row broadcast");
            }
            self.cov("dot matrix · matrix");
            self.add_local(
                &mut p,
                Rhs {
                    code,
                    ty: Ty::M(n, c),
                    bound: 1.5 * 1.5 * d as f64 + 1.5,
                },
                true,
            );
        }
        let lines = 3 + self.rng.below(8);
        let mut attempts = 0;
        while p.lines.len() < lines && attempts < 200 {
            attempts += 1;
            // Undo the use counts of a failed draw.
            let uses: Vec<usize> = p.vars.iter().map(|v| v.uses).collect();
            match self.line(&mut p) {
                Some(r) => {
                    let active = p
                        .vars
                        .iter()
                        .zip(&uses)
                        .any(|(v, &u)| v.uses > u && v.active);
                    if active || (CONSTANT_LINES && constant_line_allowed(&r)) {
                        self.add_local(&mut p, r, active);
                    } else {
                        for (v, u) in p.vars.iter_mut().zip(uses) {
                            v.uses = u;
                        }
                    }
                }
                None => {
                    for (v, u) in p.vars.iter_mut().zip(uses) {
                        v.uses = u;
                    }
                }
            }
        }
        self.finish(name, p, &params, wrt.as_deref())
    }

    /// The end of a program: the course's loss when it has labels, the last line reducing every
    /// value not read yet, the source and the case-table entry.
    fn finish(
        &mut self,
        name: &str,
        p: Program,
        params: &[(String, Ty, Param)],
        wrt: Option<&[usize]>,
    ) -> (String, String) {
        self.finish_with(name, p, params, wrt, None, Ending::Scalar)
    }

    /// `finish`, with `split(..)` in the attribute, and for a program that returns an array
    /// (`Ending::Array`), the value that array.
    fn finish_with(
        &mut self,
        name: &str,
        mut p: Program,
        params: &[(String, Ty, Param)],
        wrt: Option<&[usize]>,
        split: Option<&str>,
        ending: Ending,
    ) -> (String, String) {
        let has_labels = p.labels.is_some();
        let (n, c) = p.labels.unwrap_or((0, 0));
        if has_labels && !p.lines.iter().any(|l| l.contains("pick(")) {
            // The loss of the course: log-probabilities of the scores, picked at the labels.
            let s = self
                .array(&p, |v| v.ty == Ty::M(n, c) && v.bound <= 10.0)
                .unwrap_or_else(|| {
                    p.vars
                        .iter()
                        .position(|v| v.ty == Ty::M(n, c) && !v.hidden)
                        .unwrap()
                });
            let arg = p.borrow(s);
            self.cov("log_softmax Axis(1) of a matrix");
            let bound = 2.0 * p.vars[s].bound + 1.5;
            self.add_local(
                &mut p,
                Rhs {
                    code: format!("backprop::log_softmax({arg}, Axis(1))"),
                    ty: Ty::M(n, c),
                    bound,
                },
                true,
            );
        }
        // The value: a negated pick, a regularizer, and every value not read yet.
        let mut terms: Vec<String> = Vec::new();
        if has_labels {
            let lp = p.vars.len() - 1;
            if p.vars[lp].ty == Ty::M(n, c)
                && p.vars[lp].uses == 0
                && (PICK_OF_A_MAPPED_ARRAY || !p.vars[lp].mapped)
            {
                self.cov("-pick(..).mean() + regularizer");
                terms.push(format!(
                    "-backprop::pick({}, y).mean().unwrap()",
                    p.borrow(lp)
                ));
                let reg = p.of(|v| v.ty == Ty::S && v.held == Held::Scalar && v.bound <= 3.0);
                // The weights: `w`, or the loop programs' `wh`.
                let wi = p
                    .vars
                    .iter()
                    .position(|v| v.name == "w")
                    .or_else(|| p.vars.iter().position(|v| v.name == "wh"))
                    .unwrap();
                if !reg.is_empty() {
                    let r = self.rng.pick(&reg);
                    let r = p.recv(r);
                    let w = p.borrow(wi);
                    terms.push(format!("0.5 * {r} * ({w} * {w}).sum()"));
                }
            }
        }
        // An array output: the local returned, first (`&out + terms`).
        let mut bound = 0.0;
        if let Ending::Array { out, .. } = ending {
            bound = p.vars[out].bound;
            terms.push(format!("&{}", p.vars[out].name));
        }
        for i in 0..p.vars.len() {
            if p.vars[i].uses > 0 {
                continue;
            }
            let term = match p.vars[i].ty {
                Ty::S => {
                    bound += p.vars[i].bound;
                    p.recv(i)
                }
                _ => {
                    let (term, b) = self.reduce(&mut p, i);
                    bound += b;
                    term
                }
            };
            terms.push(term);
        }
        if terms.len() < 2 && ending == Ending::Scalar {
            let (t, _) = self.reduction(&mut p).unwrap();
            terms.push(t);
        }
        let mut value = String::new();
        for (j, t) in terms.iter().enumerate() {
            if j == 0 {
                value.push_str(t);
            } else {
                let op = self.rng.pick(&["+", "-", "+"]);
                if self.rng.chance(0.3) {
                    let l = self.lit();
                    let _ = write!(value, " {op} {l} * {t}");
                } else {
                    let _ = write!(value, " {op} {t}");
                }
            }
        }
        if p.vars.iter().any(|v| v.uses > 1) {
            self.cov("fan-out");
        }
        let returned = match ending {
            Ending::Scalar => "f64",
            Ending::Array { out, inline } => {
                let view = p.vars[out].view;
                // The expression itself: the last line, `let out = <expression>;`.
                let mut expression = || {
                    let line = p.lines.pop().expect("the output's line");
                    line.split_once(" = ")
                        .and_then(|(_, code)| code.strip_suffix(';'))
                        .expect("a let line")
                        .to_string()
                };
                // (A view plus a scalar is no array: a view is added to as `&out`.)
                if terms.len() > 1 && inline && !view {
                    let rest = value
                        .strip_prefix(&format!("&{}", p.vars[out].name))
                        .expect("the output first")
                        .to_string();
                    value = format!("({}){rest}", expression());
                    self.cov("output: an array expression plus the values not read yet");
                } else if terms.len() > 1 {
                    self.cov("output: a local plus the values not read yet");
                } else if inline {
                    value = expression();
                    self.cov("output: an array expression");
                } else {
                    value = p.vars[out].name.clone();
                    self.cov("output: a local");
                }
                if view && terms.len() == 1 {
                    // A view is not the owned array the signature says.
                    self.cov("output: a view made owned");
                    value = format!("{value}.to_owned()");
                }
                match p.vars[out].ty {
                    Ty::M(..) => {
                        self.cov("program returning Array2<f64>");
                        "Array2<f64>"
                    }
                    _ => {
                        self.cov("program returning Array1<f64>");
                        "Array1<f64>"
                    }
                }
            }
        };

        // The source.
        let signature: Vec<String> = params
            .iter()
            .map(|(name, ty, kind)| {
                let t = match (kind, ty) {
                    (Param::MatRef, _) => "&Array2<f64>",
                    (Param::MatOwned, _) => "Array2<f64>",
                    (Param::MatView, _) => "ArrayView2<f64>",
                    (Param::VecRef, _) => "&Array1<f64>",
                    (Param::Scalar, _) => "f64",
                    (Param::Tensor3Ref(..), _) => "&Array3<f64>",
                };
                format!("{name}: {t}")
            })
            .chain(has_labels.then(|| "y: &[usize]".to_string()))
            .collect();
        let mut options = Vec::new();
        if let Some(subset) = &wrt {
            options.push(format!(
                "wrt({})",
                subset
                    .iter()
                    .map(|&i| params[i].0.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if let Some(callee) = split {
            options.push(format!("split({callee})"));
        }
        // Every `JVP_EVERY`-th program (by its number; nothing is drawn) has `jvp` where the
        // macro writes `f_jvp` (README, "Forward mode"): no `mapv` closure with a branch or a
        // block (nor `var_axis`, `std_axis` without `JVP_LANE_STATISTICS`), and calls only of
        // programs with `jvp`.
        let number: usize = name[1..].parse().unwrap_or(0);
        let copy_out = ending != Ending::Scalar
            && (value.ends_with(".to_owned()") || value.ends_with(".clone()"));
        let mut jvp = number.is_multiple_of(JVP_EVERY)
            && (JVP_COPY_AS_THE_OUTPUT || !copy_out)
            && !p.lines.iter().chain([&value]).any(|l| {
                !JVP_LANE_STATISTICS && (l.contains("var_axis") || l.contains("std_axis"))
                    || l.split_once(".mapv(|")
                        .is_some_and(|(_, closure)| closure.contains('{'))
                    || !JVP_SOFTPLUS && l.contains("softplus(")
                    || !JVP_MAX_AXIS && l.contains("max_axis(")
                    || !JVP_CARRIED_COPY_OF_VIEW
                        && l.trim_start().starts_with("let mut h = ")
                        && l.ends_with(".to_owned();")
                    || self.outputs.iter().any(|g| {
                        mentions(l, &g.name)
                            && (!g.jvp || !JVP_COPY_ARGUMENTS && l.contains(".to_owned()"))
                    })
                    || !JVP_CARRIED_CONSTANT_START
                        && l.trim_start()
                            .strip_prefix("let mut h = ")
                            .and_then(|r| r.strip_suffix(".clone();"))
                            .is_some_and(|x| {
                                params.iter().enumerate().any(|(i, (name, ..))| {
                                    name == x && wrt.is_some_and(|w| !w.contains(&i))
                                })
                            })
            });
        // Every `HVP_EVERY`-th program (by its number; nothing is drawn) and every program that
        // returns an array and may be called (no `wrt`: so that more of their callers may have
        // it) has `hvp` where the macro
        // supports it (README, "Second order"), and when every program it calls has `hvp` (its
        // `f_hvp` goes through their `g_hvp_tangent`).
        let calls: Vec<usize> = (0..self.outputs.len())
            .filter(|&i| {
                let g = &self.outputs[i].name;
                p.lines.iter().chain([&value]).any(|l| mentions(l, g))
            })
            .collect();
        // The receiver of each `var_axis` or `std_axis`: whether it is a view, and whether it
        // is owned (neither: a reference parameter).
        let statistics: Vec<(bool, bool)> = p
            .lines
            .iter()
            .chain([&value])
            .flat_map(|l| {
                l.match_indices(".var_axis(")
                    .chain(l.match_indices(".std_axis("))
                    .map(|(at, _)| {
                        let receiver = l[..at]
                            .rsplit(|c: char| !(c.is_alphanumeric() || c == '_'))
                            .next()
                            .unwrap_or_default();
                        let reference = params.iter().any(|(name, _, kind)| {
                            name == receiver
                                && matches!(
                                    kind,
                                    Param::MatRef | Param::VecRef | Param::Tensor3Ref(..)
                                )
                        });
                        let view = p.vars.iter().any(|v| v.name == receiver && v.view);
                        (view, !reference && !view)
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        let hvp = (number.is_multiple_of(HVP_EVERY) || ending != Ending::Scalar && wrt.is_none())
            && calls.iter().all(|&i| self.outputs[i].hvp)
            && (HVP_BREAK_AFTER_ARRAY_UPDATE || !break_after_update(&p.lines))
            && (HVP_LANE_STATISTICS_OF_VIEW || !statistics.iter().any(|&(view, _)| view))
            && (HVP_LANE_STATISTICS_OF_OWNED || !statistics.iter().any(|&(_, owned)| owned))
            && !p.lines.iter().chain([&value]).any(|l| {
                !HVP_MAPV_MAX_MIN_CLAMP
                    && l.split_once(".mapv(|").is_some_and(|(_, closure)| {
                        [".max(", ".min(", ".clamp("]
                            .iter()
                            .any(|m| closure.contains(m))
                    })
                    || !HVP_RESHAPES
                        && (l.contains("into_shape_with_order(") || l.contains("to_shape("))
            });
        // Where the macro does not compile both, `hvp` is kept and `jvp` dropped.
        let conflict = !HVP_JVP_CONSTANT_BROADCAST && wrt.is_some()
            || !HVP_JVP_COPY_AS_THE_OUTPUT && copy_out
            || !HVP_JVP_MAPV_DIVISION
                && p.lines.iter().chain([&value]).any(|l| {
                    l.split_once(".mapv(|")
                        .is_some_and(|(_, closure)| closure.contains("/ ("))
                });
        if hvp && jvp && conflict {
            jvp = false;
            self.cov("hvp without jvp (HVP_JVP_ flags)");
        }
        if jvp {
            options.push("jvp".to_string());
            self.cov("jvp");
            if split.is_some() {
                self.cov("jvp with split(..)");
            }
            if wrt.is_some() {
                self.cov("jvp with wrt(..)");
            }
            if ending != Ending::Scalar {
                self.cov("jvp of a program returning an array");
            }
        }
        if hvp {
            options.push("hvp".to_string());
            self.cov("hvp");
            if split.is_some() {
                self.cov("hvp with split(..)");
            }
            if wrt.is_some() {
                self.cov("hvp with wrt(..)");
            }
            if !calls.is_empty() {
                self.cov("hvp calling a program");
            }
            if ending != Ending::Scalar {
                self.cov("hvp of a program returning an array");
            }
            let body = || p.lines.iter().chain([&value]);
            if body().any(|l| l.split_whitespace().any(|w| w == "for" || w == "while")) {
                self.cov("hvp with a loop");
            }
            if body().any(|l| {
                l.split_once(".mapv(|")
                    .is_some_and(|(_, closure)| closure.contains('{'))
            }) {
                self.cov("hvp with a mapv closure with a branch");
            }
            if body().any(|l| l.contains("var_axis") || l.contains("std_axis")) {
                self.cov("hvp with var_axis or std_axis");
            }
            if body().any(|l| l.contains("max_axis(")) {
                self.cov("hvp with max_axis");
            }
            if body().any(|l| l.contains("pick(")) {
                self.cov("hvp with pick");
            }
        }
        let attribute = if options.is_empty() {
            "#[backprop]".to_string()
        } else {
            format!("#[backprop({})]", options.join(", "))
        };
        let mut source = format!(
            "{attribute}\nfn {name}({}) -> {returned} {{\n",
            signature.join(", ")
        );
        for line in &p.lines {
            source.push_str(line);
            source.push('\n');
        }
        let _ = writeln!(source, "    {value}\n}}");

        // The case-table entry.
        let (mut at, mut args, mut active) = (0, Vec::new(), Vec::new());
        let mut tangents = Vec::new();
        for (i, (_, ty, kind)) in params.iter().enumerate() {
            let len = ty.len();
            args.push(match (kind, ty) {
                (Param::MatRef, Ty::M(r, c)) => format!("&mat(p, {at}, {r}, {c})"),
                (Param::MatOwned, Ty::M(r, c)) => format!("mat(p, {at}, {r}, {c})"),
                (Param::MatView, Ty::M(r, c)) => format!("mat(p, {at}, {r}, {c}).view()"),
                (Param::VecRef, Ty::V(n)) => format!("&vector(p, {at}, {n})"),
                (Param::Scalar, _) => format!("p[{at}]"),
                (Param::Tensor3Ref(a, b, c), _) => format!("&tensor3(p, {at}, {a}, {b}, {c})"),
                _ => unreachable!(),
            });
            if wrt.as_ref().is_none_or(|s| s.contains(&i)) {
                active.push(format!("({at}, {len})"));
                tangents.push(match (kind, ty) {
                    (Param::MatRef, Ty::M(r, c)) => format!("&mat(t, {at}, {r}, {c})"),
                    (Param::MatOwned, Ty::M(r, c)) => format!("mat(t, {at}, {r}, {c})"),
                    (Param::MatView, Ty::M(r, c)) => format!("mat(t, {at}, {r}, {c}).view()"),
                    (Param::VecRef, Ty::V(n)) => format!("&vector(t, {at}, {n})"),
                    (Param::Scalar, _) => format!("t[{at}]"),
                    (Param::Tensor3Ref(a, b, c), _) => {
                        format!("&tensor3(t, {at}, {a}, {b}, {c})")
                    }
                    _ => unreachable!(),
                });
            }
            at += len;
        }
        if has_labels {
            args.push("y".into());
        }
        let y = if has_labels { "y" } else { "_y" };
        let args = args.join(", ");
        let tangents = tangents.join(", ");
        if let Ending::Array { out, .. } = ending {
            // The upstream gradient, of the output's shape, from the flat `d`.
            let (d_out, ty) = match p.vars[out].ty {
                Ty::M(r, c) => (format!("mat(d, 0, {r}, {c})"), Ty::M(r, c)),
                Ty::V(n) => (format!("vector(d, 0, {n})"), Ty::V(n)),
                Ty::S => unreachable!("an array output"),
            };
            self.outputs.push(OutSig {
                name: name.to_string(),
                params: params.to_vec(),
                output: ty,
                bound,
                wrt: wrt.is_some(),
                jvp,
                hvp,
            });
            let case = format!(
                "    OutCase {{\n        name: {name:?},\n        floats: {at},\n        active: &[{}],\n        \
                 value: |p| elements(&{name}({args})),\n        \
                 backward: |p, d| {{\n            let (value, g) = {name}_backward({args}, {d_out});\n            (elements(&value), flat(&g))\n        }},\n        \
                 // The arguments live to the end of the `match`, as the closure needs.\n        \
                 forward: |p, d| match {name}_forward({args}) {{\n            (value, reverse) => (elements(&value), flat(&reverse({d_out}))),\n        }},\n        \
                 backward_source: {name}_backward_source,\n        source: r#\"{source}\"#,\n        jvp: {},\n        hvp_tangent: {},\n    }},\n",
                active.join(", "),
                if jvp {
                    format!(
                        "Some(|p, t| {{\n            let (value, tangent) = {name}_jvp({args}, {tangents});\n            (elements(&value), elements(&tangent))\n        }})"
                    )
                } else {
                    "None".to_string()
                },
                if hvp {
                    format!(
                        "Some(|p, t| {{\n            let (value, tangent) = {name}_hvp_tangent({args}, {tangents});\n            (elements(&value), elements(&tangent))\n        }})"
                    )
                } else {
                    "None".to_string()
                },
            );
            return (source, case);
        }
        let (rows, classes) = p.labels.unwrap_or((0, 0));
        let case = format!(
            "    Case {{\n        name: {name:?},\n        floats: {at},\n        active: &[{}],\n        \
             labels: ({rows}, {classes}),\n        value: |p, {y}| {name}({args}),\n        \
             grad: |p, {y}| {{\n            let (value, g) = {name}_grad({args});\n            (value, flat(&g))\n        }},\n        \
             backward: |p, {y}, d| {{\n            let (value, g) = {name}_backward({args}, d);\n            (value, flat(&g))\n        }},\n        \
             backward_source: {name}_backward_source,\n        source: r#\"{source}\"#,\n        jvp: {},\n        hvp: {},\n    }},\n",
            active.join(", "),
            if jvp {
                format!("Some(|p, {y}, t| {name}_jvp({args}, {tangents}))")
            } else {
                "None".to_string()
            },
            if hvp {
                format!(
                    "Some(|p, {y}, t| {{\n            let (value, g, hv) = {name}_hvp({args}, {tangents});\n            (value, flat(&g), flat(&hv))\n        }})"
                )
            } else {
                "None".to_string()
            },
        );
        (source, case)
    }
}

// ---------------------------------------------------------------------------------------------
// The loop programs: an array carried by a loop, rows and columns of a constant data matrix
// read in its body, and elements of a local array written in place.

/// How a loop body reads the constant data matrix `xs`, one row or column per iteration.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Data {
    /// The body reads no data (`for _step in 0..k`).
    None,
    /// `xs.row(t)` of a `steps × d` matrix, times `wx` (`d × h`).
    Rows,
    /// `xs.column(t)` of a `d × steps` matrix, times `wx` (`d × h`).
    Columns,
    /// `xs.column(t).insert_axis(Axis(1))` of an `r × steps` matrix: an `r × 1` column,
    /// broadcast against the `r × h` state or times `wx` (`1 × h`).
    ColumnMatrix,
}

/// A pre-activation: a sum of terms, its bound `coefficient · B + constant` for a state whose
/// entries are within `B`.
struct Pre {
    code: String,
    /// One term, which needs no parentheses as a method receiver.
    single: bool,
    coefficient: f64,
    constant: f64,
}

impl Pre {
    /// As a method receiver: `h.dot(wh).tanh()`, `(h.dot(wh) + b).tanh()`.
    fn receiver(&self) -> String {
        if self.single {
            self.code.clone()
        } else {
            format!("({})", self.code)
        }
    }

    /// Borrowed, as a gate's argument: `&(h.dot(wh) + b)`.
    fn borrowed(&self) -> String {
        format!("&{}", self.receiver())
    }
}

/// How the state is replaced in each iteration, for the bound's simulation.
#[derive(Clone, Copy)]
enum Update {
    /// A bounded gate of the pre-activation (`tanh`, `sigmoid`, `softmax`, ...).
    Bounded(f64),
    /// `relu` of it.
    Relu,
    /// The pre-activation times a literal.
    Linear(f64),
    /// `z * h + (1 - z) * cand`: within the larger of the two bounds.
    Convex,
    /// `h * z + cand * l`: grows by `l` in each step.
    Leaky(f64),
    /// A cell `c = c * gate + cand * 0.5` and `h = c.tanh() * gate`.
    Cell,
}

impl Gen {
    /// A loop program: a few straight-line lines, a loop carrying an array (sometimes two, and
    /// sometimes a scalar), a few more lines, sometimes a local array written by element, and
    /// the last line reducing every value.
    fn loop_function(&mut self, name: &str) -> (String, String) {
        let dim = |g: &mut Gen| {
            if g.rng.chance(0.2) {
                1
            } else {
                1 + g.rng.below(4)
            }
        };
        let steps = 1 + self.rng.below(4);
        let (d, hd, r) = (dim(self), dim(self), 1 + self.rng.below(3));
        let matrix_state = self.rng.chance(0.4);
        let state = if matrix_state {
            Ty::M(r, hd)
        } else {
            Ty::V(hd)
        };
        let data = match self.rng.below(5) {
            0 => Data::None,
            1 | 2 => Data::Rows,
            _ if matrix_state && self.rng.chance(0.6) => Data::ColumnMatrix,
            _ => Data::Columns,
        };
        let mat_kind = |g: &mut Gen| match g.rng.below(4) {
            0 => Param::MatOwned,
            1 => Param::MatView,
            _ => Param::MatRef,
        };
        let mut params: Vec<(String, Ty, Param)> = Vec::new();
        let xs = match data {
            Data::None => None,
            Data::Rows => Some(Ty::M(steps, d)),
            Data::Columns => Some(Ty::M(d, steps)),
            Data::ColumnMatrix => Some(Ty::M(r, steps)),
        };
        if let Some(ty) = xs {
            params.push(("xs".into(), ty, mat_kind(self)));
        }
        params.push(("wh".into(), Ty::M(hd, hd), mat_kind(self)));
        match data {
            Data::Rows | Data::Columns => params.push(("wx".into(), Ty::M(d, hd), mat_kind(self))),
            Data::ColumnMatrix if self.rng.chance(0.6) => {
                params.push(("wx".into(), Ty::M(1, hd), mat_kind(self)))
            }
            _ => {}
        }
        if self.rng.chance(0.7) {
            params.push(("b".into(), Ty::V(hd), Param::VecRef));
        }
        if matrix_state || self.rng.chance(0.75) {
            let kind = if matrix_state {
                mat_kind(self)
            } else {
                Param::VecRef
            };
            params.push(("state".into(), state, kind));
        }
        if self.rng.chance(0.4) {
            params.push(("s".into(), Ty::S, Param::Scalar));
        }
        let mut p = Program {
            vars: Vec::new(),
            lines: Vec::new(),
            labels: None,
            locals: 0,
        };
        if matrix_state && self.rng.chance(0.5) {
            p.labels = Some((r, hd));
            self.cov("parameter labels &[usize]");
        }
        if steps == 1 || d == 1 || hd == 1 || r == 1 {
            self.cov("size-1 dimension");
        }
        // wrt: every float but the data (its rows are views of a constant), `wh` always.
        let mut subset: Vec<usize> = Vec::new();
        for (i, (name, _, _)) in params.iter().enumerate() {
            if name != "xs" && (name == "wh" || self.rng.chance(0.8)) {
                subset.push(i);
            }
        }
        self.cov("wrt");
        for (i, (name, ty, kind)) in params.iter().enumerate() {
            self.cov(match kind {
                Param::MatRef => "parameter &Array2<f64>",
                Param::MatOwned => "parameter Array2<f64>",
                Param::MatView => "parameter ArrayView2<f64>",
                Param::VecRef => "parameter &Array1<f64>",
                Param::Scalar => "parameter f64",
                Param::Tensor3Ref(..) => "parameter &Array3<f64>",
            });
            p.vars.push(Var {
                name: name.clone(),
                ty: *ty,
                bound: 1.5,
                held: match kind {
                    Param::MatRef | Param::VecRef => Held::Ref,
                    Param::Scalar => Held::Scalar,
                    _ => Held::Place,
                },
                uses: 0,
                active: subset.contains(&i),
                view: *kind == Param::MatView,
                spread: true,
                hidden: false,
                mapped: false,
            });
        }
        let prelude = self.rng.below(3);
        self.straight_lines(&mut p, prelude);
        let uses: Vec<usize> = p.vars.iter().map(|v| v.uses).collect();
        let mut tries = 0;
        while !self.carried_loop(&mut p, state, data, steps) {
            for (v, &u) in p.vars.iter_mut().zip(&uses) {
                v.uses = u;
            }
            tries += 1;
            assert!(tries < 100, "no loop within the bounds for {name}");
        }
        let after = self.rng.below(3);
        self.straight_lines(&mut p, after);
        if self.rng.chance(0.55) {
            self.element_writes(&mut p);
            if self.rng.chance(0.4) {
                self.straight_lines(&mut p, 1);
            }
        }
        self.finish(name, p, &params, Some(&subset))
    }

    /// `count` more straight-line lines (fewer if the draws keep failing).
    fn straight_lines(&mut self, p: &mut Program, count: usize) {
        let target = p.lines.len() + count;
        let mut attempts = 0;
        while p.lines.len() < target && attempts < 50 {
            attempts += 1;
            let uses: Vec<usize> = p.vars.iter().map(|v| v.uses).collect();
            match self.line(p) {
                Some(r) => {
                    let active = p
                        .vars
                        .iter()
                        .zip(&uses)
                        .any(|(v, &u)| v.uses > u && v.active);
                    if active || constant_line_allowed(&r) {
                        self.add_local(p, r, active);
                    } else {
                        for (v, &u) in p.vars.iter_mut().zip(&uses) {
                            v.uses = u;
                        }
                    }
                }
                None => {
                    for (v, u) in p.vars.iter_mut().zip(uses) {
                        v.uses = u;
                    }
                }
            }
        }
    }

    /// A term of the state: `h.dot(wh)` or `&h * l`; `(code, coefficient)`.
    fn state_term(&mut self, p: &mut Program, wh: usize, hd: usize) -> (String, f64) {
        if self.rng.chance(0.75) {
            self.cov("carried array times a parameter matrix (h.dot(wh))");
            (format!("h.dot({})", p.borrow(wh)), 1.5 * hd as f64)
        } else {
            let scalars = p.of(|v| v.name == "s");
            if !scalars.is_empty() && self.rng.chance(0.5) {
                p.vars[scalars[0]].uses += 1;
                self.cov("carried array times a scalar parameter");
                ("&h * s".into(), 1.5)
            } else {
                let l = self.lit();
                self.cov("carried array times a literal");
                (format!("&h * {l}"), l.parse().unwrap())
            }
        }
    }

    /// A pre-activation of the state's shape: a sum of a state term, the data term, the bias
    /// and a local of the program, in a random order.
    fn pre(
        &mut self,
        p: &mut Program,
        (state, wh, hd): (Ty, usize, usize),
        with_state: bool,
        data: Option<&(String, f64)>,
    ) -> Pre {
        // (code, coefficient, constant)
        let mut terms: Vec<(String, f64, f64)> = Vec::new();
        if with_state {
            let (code, k) = self.state_term(p, wh, hd);
            terms.push((code, k, 0.0));
        }
        if let Some((code, bound)) = data {
            terms.push((code.clone(), 0.0, *bound));
        }
        if let Some(b) = p.vars.iter().position(|v| v.name == "b")
            && (terms.len() < 2 || self.rng.chance(0.5))
        {
            self.cov("bias in a loop body");
            terms.push((p.borrow(b), 0.0, 1.5));
        }
        let locals = p.of(|v| {
            v.ty.is_array()
                && v.bound <= 6.0
                && v.name.chars().last().is_some_and(|c| c.is_ascii_digit())
                && (v.ty == state || v.ty == Ty::V(hd))
        });
        if !locals.is_empty() && (terms.is_empty() || self.rng.chance(0.35)) {
            let l = self.rng.pick(&locals);
            self.cov("local of the program in a loop body");
            let bound = p.vars[l].bound;
            terms.push((p.borrow(l), 0.0, bound));
        }
        if terms.is_empty() {
            let (code, k) = self.state_term(p, wh, hd);
            terms.push((code, k, 0.0));
        }
        // A random order: a borrowed operand first (`b + h.dot(wh)`) as often as an owned one.
        for i in (1..terms.len()).rev() {
            let j = self.rng.below(i + 1);
            terms.swap(i, j);
        }
        let mut code = String::new();
        for (i, (t, _, _)) in terms.iter().enumerate() {
            if i == 0 {
                code.push_str(t);
            } else if self.rng.chance(0.2) {
                let _ = write!(code, " - {t}");
            } else {
                let _ = write!(code, " + {t}");
            }
        }
        // A lone borrowed term (`b`, `&z1`, the data column `&xs.column(t).insert_axis(..)`) is
        // a reference, and `&b` a `&&Array` (`&x.tanh()` a reference too): scaled, it is an
        // array of its own.
        let lone_reference = terms.len() == 1
            && (terms[0].0.starts_with('&')
                || terms[0]
                    .0
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_'));
        let code = if lone_reference {
            format!("{code} * 1.0")
        } else {
            code
        };
        Pre {
            single: !code.contains(' '),
            coefficient: terms.iter().map(|t| t.1).sum(),
            constant: terms.iter().map(|t| t.2).sum(),
            code,
        }
    }

    /// The loop, its carried variables declared before it; `false` if a value could exceed the
    /// bound (the caller draws again).
    fn carried_loop(&mut self, p: &mut Program, state: Ty, data: Data, steps: usize) -> bool {
        let find = |p: &Program, name: &str| p.vars.iter().position(|v| v.name == name);
        let wh = find(p, "wh").unwrap();
        let hd = match state {
            Ty::V(n) | Ty::M(_, n) => n,
            Ty::S => unreachable!(),
        };
        let mut lines: Vec<String> = Vec::new();
        // The state's first value.
        let start = find(p, "state");
        let same_shape = p.of(|v| {
            v.ty == state && v.name != "state" && v.name != "xs" && v.name != "wh" && v.bound <= 6.0
        });
        // A vector state is sometimes computed even where there is an array to copy.
        let computed = matches!(state, Ty::V(_)) && self.rng.chance(0.15);
        let source = match start {
            _ if computed => None,
            Some(i) if same_shape.is_empty() || self.rng.chance(0.7) => Some(i),
            _ if !same_shape.is_empty() => Some(self.rng.pick(&same_shape)),
            _ => None,
        };
        let (init, init_bound) = match source {
            Some(i) if !p.vars[i].view || CARRIED_COPY_OF_VIEW => {
                let view = p.vars[i].view;
                let method = if view || self.rng.chance(0.3) {
                    "to_owned"
                } else {
                    "clone"
                };
                self.cov(if view {
                    "carried array starts as a copy of a view"
                } else {
                    "carried array starts as a copy of an array"
                });
                let bound = p.vars[i].bound;
                (format!("{}.{method}()", p.recv(i)), bound)
            }
            Some(i) => {
                self.cov("carried array starts as a computed array");
                (format!("{}.mapv(f64::tanh)", p.recv(i)), 1.0)
            }
            None => {
                let b = find(p, "b").filter(|_| self.rng.chance(0.6));
                self.cov("carried array starts as a computed array");
                match b {
                    Some(b) => (format!("{}.mapv(f64::tanh)", p.recv(b)), 1.0),
                    None => (
                        format!("{}.sum_axis(Axis(0)).mapv(f64::tanh)", p.recv(wh)),
                        1.0,
                    ),
                }
            }
        };
        lines.push(format!("    let mut h = {init};"));

        // The header.
        let form = self.rng.below(10);
        let while_loop = form >= 7;
        let reversed = form == 6;
        let index = if while_loop {
            "k"
        } else if data == Data::None {
            "_step"
        } else {
            "t"
        };
        let trips = if data == Data::None {
            1 + self.rng.below(4)
        } else {
            steps
        };
        let count = if data != Data::None && self.rng.chance(0.5) {
            self.cov("trip count from the data's shape");
            match data {
                Data::Rows => "xs.nrows()".to_string(),
                _ => "xs.ncols()".to_string(),
            }
        } else {
            trips.to_string()
        };
        let header = if while_loop {
            self.cov("while loop with a counter carrying an array");
            format!("    while k < {count} {{")
        } else if reversed {
            self.cov("reversed for loop carrying an array");
            format!("    for {index} in (0..{count}).rev() {{")
        } else {
            self.cov("for loop carrying an array");
            format!("    for {index} in 0..{count} {{")
        };

        // The data term, and its `let` line.
        let mut body: Vec<String> = Vec::new();
        let wx = find(p, "wx");
        let data_term: Option<(String, f64)> = match data {
            Data::None => None,
            Data::Rows | Data::Columns => {
                let view = if data == Data::Rows {
                    self.cov("row of a constant matrix in a loop body");
                    format!("xs.row({index})")
                } else {
                    self.cov("column of a constant matrix in a loop body");
                    format!("xs.column({index})")
                };
                let wx = wx.unwrap();
                let d = match p.vars[wx].ty {
                    Ty::M(d, _) => d,
                    _ => unreachable!(),
                };
                let w = p.borrow(wx);
                let x = if self.rng.chance(0.5) {
                    body.push(format!("        let x_t = {view};"));
                    "x_t".to_string()
                } else {
                    self.cov("data view inline");
                    view
                };
                Some((format!("{x}.dot({w})"), 2.25 * d as f64))
            }
            Data::ColumnMatrix => {
                self.cov("column of a constant matrix, insert_axis(1), in a loop body");
                let view = format!("xs.column({index}).insert_axis(Axis(1))");
                let inline = self.rng.chance(0.4);
                let x = if inline {
                    self.cov("data view inline");
                    view
                } else {
                    body.push(format!("        let x_t = {view};"));
                    "x_t".to_string()
                };
                match wx {
                    Some(wx) if self.rng.chance(0.6) => {
                        let w = p.borrow(wx);
                        Some((format!("{x}.dot({w})"), 2.25))
                    }
                    _ => {
                        self.cov("data column broadcast against the state");
                        Some((format!("&{x}"), 1.5))
                    }
                }
            }
        };
        let shapes = (state, wh, hd);

        // The carried scalar.
        let scalar = self.rng.chance(0.5);
        let mut acc_line = String::new();
        // Its growth in a step, for a state within `B`: `(per B, per B²)`, and whether it
        // halves first.
        let mut acc_growth = (0.0, 0.0, false);
        if scalar {
            let s = find(p, "s").filter(|_| self.rng.chance(0.4));
            let init = match s {
                Some(s) => p.recv(s),
                None => "0.0".to_string(),
            };
            lines.push(format!("    let mut acc = {init};"));
            let len = state.len() as f64;
            let form = self
                .rng
                .below(if matches!(state, Ty::V(_)) { 5 } else { 4 });
            self.cov("carried scalar accumulating a sum of the array");
            (acc_line, acc_growth) = match form {
                0 => ("acc += h.sum();".into(), (len, 0.0, false)),
                1 => (
                    "acc += (&h * &h).sum() * 0.5;".into(),
                    (0.0, 0.5 * len, false),
                ),
                2 => (
                    "acc = acc * 0.5 + h.mean().unwrap();".into(),
                    (1.0, 0.0, true),
                ),
                3 => ("acc -= h.sum() * 0.25;".into(), (0.25 * len, 0.0, false)),
                _ => ("acc += h.dot(&h);".into(), (0.0, len, false)),
            };
        }
        let acc_first = scalar && self.rng.chance(0.3);

        // The update.
        let kind = self.kind_turn % 10;
        self.kind_turn += 1;
        let mut update_lines: Vec<String> = Vec::new();
        let (update, coefficient, constant) = if kind < 6 {
            let pre = self.pre(p, shapes, true, data_term.as_ref());
            let pre = if self.rng.chance(0.3) {
                self.cov("pre-activation as a line of the loop body");
                update_lines.push(format!("        let pre = {};", pre.code));
                Pre {
                    code: "pre".into(),
                    single: true,
                    ..pre
                }
            } else {
                pre
            };
            let form = self.update_turn % 10;
            self.update_turn += 1;
            let (code, update) = match form {
                0 => {
                    self.cov("carried array: tanh");
                    (format!("{}.tanh()", pre.receiver()), Update::Bounded(1.0))
                }
                1 => {
                    self.cov("carried array: mapv(f64::tanh)");
                    (
                        format!("{}.mapv(f64::tanh)", pre.receiver()),
                        Update::Bounded(1.0),
                    )
                }
                2 => {
                    self.cov("carried array: sigmoid");
                    (
                        format!("backprop::sigmoid({})", pre.borrowed()),
                        Update::Bounded(1.0),
                    )
                }
                3 => {
                    self.cov("carried array: softmax");
                    let axis = if matches!(state, Ty::M(..)) {
                        self.rng.below(2)
                    } else {
                        0
                    };
                    (
                        format!("backprop::softmax({}, Axis({axis}))", pre.borrowed()),
                        Update::Bounded(1.0),
                    )
                }
                4 => {
                    self.cov("carried array: sin");
                    (format!("{}.sin()", pre.receiver()), Update::Bounded(1.0))
                }
                5 => {
                    self.cov("carried array: mapv closure");
                    (
                        format!("{}.mapv(|v| v / (1.0 + v * v))", pre.receiver()),
                        Update::Bounded(0.5),
                    )
                }
                6 | 7 => {
                    self.cov("carried array: relu");
                    (format!("backprop::relu({})", pre.borrowed()), Update::Relu)
                }
                8 => {
                    // ReLU as the course writes it, `np.maximum(0, z)`.
                    self.cov("carried array: mapv max(0.0) (ReLU)");
                    (
                        format!("{}.mapv(|v| v.max(0.0))", pre.receiver()),
                        Update::Relu,
                    )
                }
                _ => {
                    self.cov("carried array: elementwise (times a literal)");
                    let l = self.lit();
                    (
                        format!("{} * {l}", pre.receiver()),
                        Update::Linear(l.parse().unwrap()),
                    )
                }
            };
            update_lines.push(format!("        h = {code};"));
            (update, pre.coefficient, pre.constant)
        } else if kind < 9 {
            // A gate and a candidate; the data (if any) in the candidate.
            let gate = self.pre(p, shapes, true, None);
            let cand = self.pre(p, shapes, data_term.is_none(), data_term.as_ref());
            update_lines.push(format!(
                "        let z = backprop::sigmoid({});",
                gate.borrowed()
            ));
            update_lines.push(format!("        let cand = {}.tanh();", cand.receiver()));
            if self.rng.chance(0.6) {
                self.cov("carried array: gated update (convex blend)");
                update_lines.push("        h = &z * &h + (1.0 - &z) * &cand;".into());
                (Update::Convex, 0.0, 0.0)
            } else {
                self.cov("carried array: gated update (leaky)");
                let l = self.lit();
                update_lines.push(format!("        h = &h * &z + &cand * {l};"));
                (Update::Leaky(l.parse().unwrap()), 0.0, 0.0)
            }
        } else {
            // Two carried arrays: a cell and the state.
            self.cov("two carried arrays (a cell and its state)");
            lines.push("    let mut c = h.clone();".into());
            let gate = self.pre(p, shapes, true, None);
            let cand = self.pre(p, shapes, data_term.is_none(), data_term.as_ref());
            update_lines.push(format!(
                "        let gate = backprop::sigmoid({});",
                gate.borrowed()
            ));
            update_lines.push(format!(
                "        c = &c * &gate + {}.tanh() * 0.5;",
                cand.receiver()
            ));
            update_lines.push("        h = c.tanh() * &gate;".into());
            (Update::Cell, 0.0, 0.0)
        };

        // The break guard, on a scalar: the carried one or a reduction of the state.
        let guard = self.rng.chance(0.35);
        let mut guard_lines: Vec<String> = Vec::new();
        let guard_first = guard && (!BREAK_AFTER_ARRAY_UPDATE || self.rng.chance(0.5));
        if guard {
            let th = self.rng.pick(&["0.5", "1.0", "2.0", "3.0"]);
            let cond = if scalar && self.rng.chance(0.6) {
                self.cov("break guard on the carried scalar");
                format!("acc > {th}")
            } else {
                self.cov("break guard on a reduction of the carried array");
                match self.rng.below(3) {
                    0 => format!("h.sum() > {th}"),
                    1 => format!("(&h * &h).sum() > {th}"),
                    _ => format!("h.mean().unwrap() < -{th}"),
                }
            };
            self.cov(if guard_first {
                "break guard before the array's update"
            } else {
                "break guard after the array's update"
            });
            guard_lines.push(format!("        if {cond} {{"));
            if scalar && self.rng.chance(0.3) {
                self.cov("break guard with a line");
                guard_lines.push("            acc += 1.0;".into());
            }
            guard_lines.push("            break;".into());
            guard_lines.push("        }".into());
        }

        // The body, in order.
        if guard_first {
            body.splice(0..0, guard_lines.drain(..));
        }
        if acc_first {
            body.push(format!("        {acc_line}"));
        }
        body.extend(update_lines);
        if scalar && !acc_first {
            body.push(format!("        {acc_line}"));
        }
        body.extend(guard_lines);
        if while_loop {
            body.push("        k += 1;".into());
            lines.push("    let mut k = 0;".into());
        }

        // The bounds, iteration by iteration.
        let mut h_bound: f64 = init_bound;
        let mut c_bound: f64 = init_bound;
        let mut acc_bound: f64 = if scalar { 1.5 } else { 0.0 };
        let mut worst: f64 = h_bound;
        for _ in 0..trips {
            let grow = |acc: f64, h: f64| {
                let (per, per_sq, halves) = acc_growth;
                let acc = if halves { acc * 0.5 } else { acc };
                acc + per * h + per_sq * h * h + 1.0
            };
            if acc_first {
                acc_bound = grow(acc_bound, h_bound);
            }
            let pre = coefficient * h_bound + constant;
            worst = worst.max(pre);
            h_bound = match update {
                Update::Bounded(b) => b,
                Update::Relu => pre,
                Update::Linear(l) => pre * l,
                Update::Convex => h_bound.max(1.0),
                Update::Leaky(l) => h_bound + l,
                Update::Cell => {
                    c_bound += 0.5;
                    1.0
                }
            };
            if scalar && !acc_first {
                acc_bound = grow(acc_bound, h_bound);
            }
            worst = worst.max(h_bound).max(c_bound).max(acc_bound);
        }
        // (The gates' pre-activations only enter `sigmoid` and `tanh`.)
        if worst > LIMIT {
            return false;
        }

        p.lines.extend(lines);
        p.lines.push(header);
        p.lines.extend(body);
        p.lines.push("    }".into());
        let mut carried = vec![("h", state, h_bound)];
        if matches!(update, Update::Cell) {
            carried.push(("c", state, c_bound));
        }
        if scalar {
            carried.push(("acc", Ty::S, acc_bound));
        }
        for (name, ty, bound) in carried {
            p.vars.push(Var {
                name: name.into(),
                ty,
                bound,
                held: if ty == Ty::S {
                    Held::Scalar
                } else {
                    Held::Place
                },
                uses: 0,
                active: true,
                view: false,
                spread: false,
                hidden: false,
                mapped: false,
            });
        }
        true
    }

    /// A local array bound with `let mut` and written by element (constants, at literal
    /// indices and at computed indices in a loop) before it is read.
    fn element_writes(&mut self, p: &mut Program) {
        // With labels, often an array of their shape, written at them.
        let labeled = p
            .labels
            .filter(|_| self.rng.chance(0.8))
            .and_then(|(n, c)| self.array(p, |v| v.bound <= 10.0 && v.ty == Ty::M(n, c)));
        let Some(a) = labeled.or_else(|| self.array(p, |v| v.bound <= 10.0)) else {
            return;
        };
        let (ty, b, active) = (p.vars[a].ty, p.vars[a].bound, p.vars[a].active);
        let (init, bound) = match self.rng.below(4) {
            0 => {
                self.cov("element writes into a copy");
                let method = if p.vars[a].view || self.rng.chance(0.4) {
                    "to_owned"
                } else {
                    "clone"
                };
                (format!("{}.{method}()", p.recv(a)), b)
            }
            1 => {
                self.cov("element writes into a gate's result");
                (format!("backprop::relu(&({} + 1.0))", p.borrow(a)), b + 1.0)
            }
            2 => {
                self.cov("element writes into an elementwise method's result");
                let name = p.recv(a);
                match self.rng.below(3) {
                    0 => (format!("{name}.tanh()"), 1.0),
                    1 => (format!("{name}.mapv(f64::tanh)"), 1.0),
                    _ => (format!("backprop::sigmoid({})", borrow_name(p, a)), 1.0),
                }
            }
            _ => {
                self.cov("element writes into an arithmetic result");
                let l = self.lit();
                let f: f64 = l.parse().unwrap();
                (format!("{} * {l}", p.borrow(a)), b * f)
            }
        };
        let name = format!("masked{}", p.locals);
        p.locals += 1;
        p.lines.push(format!("    let mut {name} = {init};"));
        let mut written = 0.0f64;
        let literal = labeled.is_none() && self.rng.chance(0.6);
        if literal {
            self.cov("element write at a literal index");
            for _ in 0..1 + self.rng.below(2) {
                let l = self.lit();
                written = written.max(l.parse().unwrap());
                let at = match ty {
                    Ty::M(r, c) => format!("[{}, {}]", self.rng.below(r), self.rng.below(c)),
                    Ty::V(n) => format!("{}", self.rng.below(n)),
                    Ty::S => unreachable!(),
                };
                p.lines.push(format!("    {name}[{at}] = {l};"));
            }
        }
        if !literal || self.rng.chance(0.5) {
            let l = self.rng.pick(&["0.0", "0.5", "1.5"]);
            written = written.max(l.parse().unwrap());
            match ty {
                Ty::M(n, c)
                    if p.labels == Some((n, c)) && (labeled.is_some() || self.rng.chance(0.6)) =>
                {
                    self.cov("element writes at the labels in a loop");
                    p.lines.push("    for i in 0..y.len() {".into());
                    p.lines.push(format!("        {name}[[i, y[i]]] = {l};"));
                }
                Ty::M(r, c) => {
                    self.cov("element writes at computed indices in a loop");
                    if self.rng.chance(0.5) {
                        let column = if c == 1 {
                            "0".to_string()
                        } else {
                            match self.rng.below(c) {
                                0 => format!("i % {c}"),
                                o => format!("(i + {o}) % {c}"),
                            }
                        };
                        p.lines.push(format!("    for i in 0..{r} {{"));
                        p.lines
                            .push(format!("        {name}[[i, {column}]] = {l};"));
                    } else {
                        let row = self.rng.below(r);
                        p.lines.push(format!("    for j in 0..{name}.ncols() {{"));
                        p.lines.push(format!("        {name}[[{row}, j]] = {l};"));
                    }
                }
                Ty::V(n) => {
                    if self.rng.chance(0.5) {
                        self.cov("element writes at computed indices in a loop");
                        let start = self.rng.below(n);
                        p.lines.push(format!("    for i in {start}..{n} {{"));
                        p.lines.push(format!("        {name}[i] = {l};"));
                    } else {
                        self.cov("element writes under a condition in a loop");
                        let parity = self.rng.below(2);
                        p.lines.push(format!("    for i in 0..{name}.len() {{"));
                        p.lines.push(format!("        if i % 2 == {parity} {{"));
                        p.lines.push(format!("            {name}[i] = {l};"));
                        p.lines.push("        }".into());
                    }
                }
                Ty::S => unreachable!(),
            }
            p.lines.push("    }".into());
        }
        p.vars.push(Var {
            name,
            ty,
            bound: bound.max(written),
            held: Held::Place,
            uses: 0,
            active,
            view: false,
            spread: false,
            hidden: false,
            mapped: false,
        });
    }
}

// ---------------------------------------------------------------------------------------------
// Programs that return an array, and programs that call them.

impl Gen {
    /// A program after the loop programs: it returns an array (`output`), or a scalar; it
    /// perhaps calls an earlier program that returns an array, `let h: Array2<f64> = g(..);`
    /// (a scalar program always does when there is one), in split mode at times, and goes on
    /// with tensor operations on `h`. Returns the source, the case-table entry and whether the
    /// program returns an array.
    fn composed(&mut self, name: &str, output: bool) -> (String, String) {
        self.composing = true;
        // A callee takes one gradient per float argument: no `wrt`. (See also
        // `ARRAY_ARGUMENTS_BY_VALUE`.)
        let callees: Vec<usize> = (0..self.outputs.len())
            .filter(|&i| {
                let sig = &self.outputs[i];
                !sig.wrt
                    && (ARRAY_ARGUMENTS_BY_VALUE
                        || sig.params.iter().all(|(_, _, k)| {
                            matches!(k, Param::MatRef | Param::VecRef | Param::Scalar)
                        }))
            })
            .collect();
        let callee = if !callees.is_empty() && (!output || self.rng.chance(0.4)) {
            Some(self.rng.pick(&callees))
        } else {
            None
        };
        let mat_kind = |g: &mut Gen| match g.rng.below(4) {
            0 => Param::MatOwned,
            1 => Param::MatView,
            _ => Param::MatRef,
        };
        let mut params: Vec<(String, Ty, Param)> = Vec::new();
        match callee {
            // The callee's parameters (each perhaps of another kind), a scalar at times.
            Some(c) => {
                let shapes: Vec<(String, Ty)> = self.outputs[c]
                    .params
                    .iter()
                    .map(|(n, t, _)| (n.clone(), *t))
                    .collect();
                for (n, ty) in shapes {
                    let kind = match ty {
                        Ty::S => Param::Scalar,
                        Ty::V(_) => Param::VecRef,
                        Ty::M(..) if ARRAY_ARGUMENTS_BY_VALUE => mat_kind(self),
                        // Not a view: it can be passed on by reference.
                        Ty::M(..) if self.rng.chance(0.3) => Param::MatOwned,
                        Ty::M(..) => Param::MatRef,
                    };
                    params.push((n, ty, kind));
                }
                if !params.iter().any(|(n, _, _)| n == "s") && self.rng.chance(0.4) {
                    params.push(("s".into(), Ty::S, Param::Scalar));
                }
            }
            None => {
                let dim = |g: &mut Gen| {
                    if g.rng.chance(0.2) {
                        1
                    } else {
                        1 + g.rng.below(4)
                    }
                };
                let (n, d, c) = (dim(self), dim(self), dim(self));
                if n == 1 || d == 1 || c == 1 {
                    self.cov("size-1 dimension");
                }
                // Fewer than `function` draws: an array output adds every value it does not
                // read to its array.
                let shapes = [Ty::M(n, d), Ty::M(d, c), Ty::M(n, c), Ty::M(c, d)];
                for name in ["a", "m", "k"].iter().take(1 + self.rng.below(2)) {
                    let shape = self.rng.pick(&shapes);
                    params.push((name.to_string(), shape, mat_kind(self)));
                }
                let lens = [n, d, c];
                for name in ["u", "v"].iter().take(self.rng.below(2)) {
                    let len = self.rng.pick(&lens);
                    params.push((name.to_string(), Ty::V(len), Param::VecRef));
                }
                for name in ["s", "reg"].iter().take(self.rng.below(2)) {
                    params.push((name.to_string(), Ty::S, Param::Scalar));
                }
            }
        }
        let mut p = Program {
            vars: Vec::new(),
            lines: Vec::new(),
            labels: None,
            locals: 0,
        };
        for (n, ty, kind) in &params {
            self.cov(match kind {
                Param::MatRef => "parameter &Array2<f64>",
                Param::MatOwned => "parameter Array2<f64>",
                Param::MatView => "parameter ArrayView2<f64>",
                Param::VecRef => "parameter &Array1<f64>",
                Param::Scalar => "parameter f64",
                Param::Tensor3Ref(..) => "parameter &Array3<f64>",
            });
            p.vars.push(Var {
                name: n.clone(),
                ty: *ty,
                bound: 1.5,
                held: match kind {
                    Param::MatRef | Param::VecRef => Held::Ref,
                    Param::Scalar => Held::Scalar,
                    _ => Held::Place,
                },
                uses: 0,
                active: true,
                view: *kind == Param::MatView,
                spread: true,
                hidden: false,
                mapped: false,
            });
        }
        // wrt: at times, a nonempty subset of the floats, in signature order.
        let wrt: Option<Vec<usize>> = if params.len() > 1 && self.rng.chance(0.2) {
            let mut subset: Vec<usize> =
                (0..params.len()).filter(|_| self.rng.chance(0.5)).collect();
            if subset.is_empty() {
                subset.push(self.rng.below(params.len()));
            }
            self.cov("wrt");
            for (i, v) in p.vars.iter_mut().enumerate() {
                v.active = subset.contains(&i);
            }
            Some(subset)
        } else {
            None
        };
        // Few lines in a program that returns an array: the values not read are added to it.
        let before = self.rng.below(if output { 2 } else { 3 });
        self.straight_lines(&mut p, before);
        let mut split = None;
        if let Some(c) = callee {
            let owned_reference = self.call_line(&mut p, c);
            // Split mode, more often where it applies (no array of the caller's borrowed).
            if self.rng.chance(if owned_reference { 0.3 } else { 0.9 }) {
                self.cov("call in split mode");
                if owned_reference {
                    // The call stays in joint mode (its closure would borrow the array).
                    self.cov("call in split mode passing an array the caller owns by reference");
                }
                if output {
                    self.cov("call in split mode in a program returning an array");
                }
                split = Some(self.outputs[c].name.clone());
            }
            if output {
                self.cov("call of a program returning an array in a program returning one");
            }
        }
        let after = if output {
            self.rng.below(2)
        } else {
            1 + self.rng.below(3)
        };
        self.straight_lines(&mut p, after);
        if !output {
            return self.finish_with(
                name,
                p,
                &params,
                wrt.as_deref(),
                split.as_deref(),
                Ending::Scalar,
            );
        }
        // The value: an array line that reads a differentiated value (a vector at times:
        // most lines are matrices).
        let vector = self.rng.chance(0.4);
        let mut attempts = 0;
        let out = loop {
            attempts += 1;
            assert!(attempts < 500, "no array value for {name}");
            let uses: Vec<usize> = p.vars.iter().map(|v| v.uses).collect();
            let drawn = self.line(&mut p);
            let active = p
                .vars
                .iter()
                .zip(&uses)
                .any(|(v, &u)| v.uses > u && v.active);
            // See `INSERT_AXIS_OUTPUT` and `COPY_AS_THE_OUTPUT`.
            let insert_axis = |r: &Rhs| {
                r.code.ends_with(".insert_axis(Axis(0))")
                    || r.code.ends_with(".insert_axis(Axis(1))")
            };
            let copy = |r: &Rhs| {
                [".t()", ".view()", ".clone()"]
                    .iter()
                    .any(|end| r.code.ends_with(end))
            };
            match drawn {
                Some(r)
                    if r.ty.is_array()
                        && active
                        && (INSERT_AXIS_OUTPUT || !insert_axis(&r))
                        && (COPY_AS_THE_OUTPUT || !copy(&r))
                        && (!vector || matches!(r.ty, Ty::V(_)) || attempts > 100) =>
                {
                    self.add_local(&mut p, r, true);
                    let out = p.vars.len() - 1;
                    p.vars[out].uses += 1;
                    break out;
                }
                _ => {
                    for (v, u) in p.vars.iter_mut().zip(uses) {
                        v.uses = u;
                    }
                }
            }
        };
        let inline = self.rng.chance(0.5);
        self.finish_with(
            name,
            p,
            &params,
            wrt.as_deref(),
            split.as_deref(),
            Ending::Array { out, inline },
        )
    }

    /// `let h: Array2<f64> = g(..);` of the earlier program `callee`: each argument a value
    /// of the parameter's shape (a local or a parameter; a scalar or a literal), passed as
    /// the parameter's kind wants it (`&h`, `h.view()`, `h.to_owned()`). Whether an argument
    /// is a reference to a local array (split mode keeps such a call joint).
    fn call_line(&mut self, p: &mut Program, callee: usize) -> bool {
        let sig_params = self.outputs[callee].params.clone();
        let mut args = Vec::new();
        let mut active = false;
        let mut owned_reference = false;
        for (_, ty, kind) in &sig_params {
            let candidates = p.of(|v| {
                v.ty == *ty
                    && (*ty != Ty::S || v.bound <= 3.0)
                    && (ARRAY_ARGUMENTS_BY_VALUE || !v.view)
            });
            let Some(v) = self.choose(p, &candidates) else {
                // A scalar without a variable in bounds: a literal.
                args.push(self.lit().to_string());
                self.cov("argument: a literal");
                continue;
            };
            if *ty == Ty::S && self.rng.chance(0.2) {
                args.push(self.lit().to_string());
                self.cov("argument: a literal");
                continue;
            }
            active |= p.vars[v].active;
            // Locals are numbered (`z3`), parameters are not.
            let local = p.vars[v].name.ends_with(|c: char| c.is_ascii_digit());
            self.cov(if local {
                "argument: a local"
            } else {
                "argument: a parameter"
            });
            let arg = match kind {
                Param::Scalar => p.recv(v),
                Param::MatRef | Param::VecRef if p.vars[v].view => {
                    // `&view` is no `&Array2<f64>`.
                    self.cov("argument: &v.to_owned() of a view");
                    owned_reference = true;
                    format!("&{}.to_owned()", p.recv(v))
                }
                Param::MatRef | Param::VecRef => {
                    if p.vars[v].held == Held::Place {
                        self.cov("argument: a borrowed array");
                        owned_reference = true;
                    }
                    p.borrow(v)
                }
                Param::MatView => {
                    self.cov("argument: .view()");
                    // A view of an array the caller owns borrows it as `&h` does.
                    owned_reference |= p.vars[v].held == Held::Place;
                    format!("{}.view()", p.recv(v))
                }
                Param::MatOwned => {
                    if !p.vars[v].view && self.turn("owned argument", 2) == 0 {
                        self.cov("argument: .clone()");
                        format!("{}.clone()", p.recv(v))
                    } else {
                        self.cov("argument: .to_owned()");
                        format!("{}.to_owned()", p.recv(v))
                    }
                }
                Param::Tensor3Ref(..) => unreachable!("only the layer programs have an Array3"),
            };
            args.push(arg);
        }
        let sig = &self.outputs[callee];
        let (ty, bound, callee_name) = (sig.output, sig.bound, sig.name.clone());
        let base = LOCAL_NAMES[self.rng.below(LOCAL_NAMES.len())];
        let name = format!("{base}{}", p.locals);
        p.locals += 1;
        let annotation = match ty {
            Ty::M(..) => {
                self.cov("let h: Array2<f64> = g(..)");
                "Array2<f64>"
            }
            _ => {
                self.cov("let h: Array1<f64> = g(..)");
                "Array1<f64>"
            }
        };
        p.lines.push(format!(
            "    let {name}: {annotation} = {callee_name}({});",
            args.join(", ")
        ));
        p.vars.push(Var {
            name,
            ty,
            bound: bound.min(LIMIT),
            held: Held::Place,
            uses: 0,
            active,
            view: false,
            spread: false,
            hidden: false,
            mapped: false,
        });
        owned_reference
    }
}

// ---------------------------------------------------------------------------------------------
// The layer programs: `mapv` closures with branches, parts of arrays, `select`, `concatenate`
// and `stack`, `var_axis` and `std_axis`, reshapes, and an `Array3` parameter made rank 2.

/// A line of the layer programs: its right-hand side, and what `add_local` cannot tell from
/// its code.
struct Drawn {
    rhs: Rhs,
    /// Lines before it (`let idx = [..];`, `let (steps, rows, cols) = x3.dim();`).
    pre: Vec<String>,
    /// Whether it is a view (a part, a `to_shape`); `None`: as `add_local` tells.
    view: Option<bool>,
    spread: bool,
    /// The variable it moves (`into_shape_with_order` of an owned array).
    moves: Option<usize>,
    /// The array it is a part of (`a.row(0)`, `a.slice(..)`), bound as a view.
    part_of: Option<usize>,
}

fn drawn(rhs: Option<Rhs>) -> Option<Drawn> {
    rhs.map(|rhs| Drawn {
        rhs,
        pre: Vec::new(),
        view: None,
        spread: false,
        moves: None,
        part_of: None,
    })
}

/// A view of `rhs` (a part, a `to_shape`), spread if what it is a view of is.
fn view_of(rhs: Option<Rhs>, spread: bool) -> Option<Drawn> {
    drawn(rhs).map(|d| Drawn {
        view: Some(true),
        spread,
        ..d
    })
}

/// Whether a view local (a part, a `to_shape`) borrows the variable `name`: its line reads it.
fn borrowed_by_a_view(p: &Program, name: &str) -> bool {
    p.vars.iter().filter(|w| w.view).any(|w| {
        p.lines
            .iter()
            .any(|l| l.starts_with(&format!("    let {} = ", w.name)) && mentions(l, name))
    })
}

/// Whether `code` reads the variable `name` (as a whole identifier).
/// Whether a loop among `lines` has a `break` guard after an update of its carried array
/// (`h = ..` or `c = ..`) in the same iteration.
fn break_after_update(lines: &[String]) -> bool {
    let mut updated = false;
    for line in lines {
        let l = line.trim_start();
        if l.starts_with("for ") || l.starts_with("while ") {
            updated = false;
        }
        updated |= l.starts_with("h = ") || l.starts_with("c = ");
        if updated && l == "break;" {
            return true;
        }
    }
    false
}

fn mentions(code: &str, name: &str) -> bool {
    code.match_indices(name).any(|(at, _)| {
        let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
        let before = code[..at].chars().next_back().is_none_or(|c| !ident(c));
        let after = code[at + name.len()..]
            .chars()
            .next()
            .is_none_or(|c| !ident(c));
        before && after
    })
}

impl Gen {
    /// A layer program: parameters as `function` draws them (an embedding matrix `emb` with
    /// the labels; at times an `&Array3<f64>` `x3`, read first by lines that make it rank 2),
    /// lines drawn mostly among the layer constructs, and a scalar value, or (`output`) an
    /// array value drawn among them.
    fn layer_function(&mut self, name: &str, output: bool) -> (String, String) {
        // Parts and lanes want room: dimensions of 2 to 4, at times 1.
        let dim = |g: &mut Gen| {
            if g.rng.chance(0.15) {
                1
            } else {
                2 + g.rng.below(3)
            }
        };
        let (n, d, c) = (dim(self), dim(self), dim(self));
        if n == 1 || d == 1 || c == 1 {
            self.cov("size-1 dimension");
        }
        let mut p = Program {
            vars: Vec::new(),
            lines: Vec::new(),
            labels: None,
            locals: 0,
        };
        let mat_kind = |g: &mut Gen| match g.rng.below(4) {
            0 => Param::MatOwned,
            1 => Param::MatView,
            _ => Param::MatRef,
        };
        let mut params: Vec<(String, Ty, Param)> = Vec::new();
        let has_labels = !output && self.rng.chance(0.3);
        if has_labels {
            p.labels = Some((n, c));
            params.push(("x".into(), Ty::M(n, d), mat_kind(self)));
            params.push(("w".into(), Ty::M(d, c), mat_kind(self)));
            // An embedding: its rows picked at the labels.
            params.push(("emb".into(), Ty::M(c, d), mat_kind(self)));
        } else {
            let shapes = [Ty::M(n, d), Ty::M(d, c), Ty::M(n, c), Ty::M(c, d)];
            for name in ["a", "m", "k"].iter().take(1 + self.rng.below(3)) {
                let shape = self.rng.pick(&shapes);
                params.push((name.to_string(), shape, mat_kind(self)));
            }
            let lens = [n, d, c];
            for name in ["u", "v"].iter().take(self.rng.below(3)) {
                let len = self.rng.pick(&lens);
                params.push((name.to_string(), Ty::V(len), Param::VecRef));
            }
        }
        let tensor3 = (!has_labels && self.rng.chance(0.3)).then(|| (1 + self.rng.below(3), n, d));
        if let Some((t, n, d)) = tensor3 {
            params.push(("x3".into(), Ty::V(t * n * d), Param::Tensor3Ref(t, n, d)));
        }
        // Scalars more often than elsewhere: the closures capture them.
        let scalars = if self.rng.chance(0.8) {
            1 + self.rng.below(2)
        } else {
            0
        };
        for name in ["s", "reg"].iter().take(scalars) {
            params.push((name.to_string(), Ty::S, Param::Scalar));
        }
        if params.len() > 1 && self.rng.chance(0.5) {
            let i = self.rng.below(params.len());
            let j = self.rng.below(params.len());
            params.swap(i, j);
        }
        for (name, ty, kind) in &params {
            self.cov(match kind {
                Param::MatRef => "parameter &Array2<f64>",
                Param::MatOwned => "parameter Array2<f64>",
                Param::MatView => "parameter ArrayView2<f64>",
                Param::VecRef => "parameter &Array1<f64>",
                Param::Scalar => "parameter f64",
                Param::Tensor3Ref(..) => "parameter &Array3<f64>",
            });
            let tensor = matches!(kind, Param::Tensor3Ref(..));
            p.vars.push(Var {
                name: name.clone(),
                ty: *ty,
                bound: 1.5,
                held: match kind {
                    Param::MatRef | Param::VecRef | Param::Tensor3Ref(..) => Held::Ref,
                    Param::Scalar => Held::Scalar,
                    _ => Held::Place,
                },
                uses: 0,
                active: true,
                view: *kind == Param::MatView,
                spread: true,
                hidden: tensor,
                mapped: false,
            });
        }
        let wrt: Option<Vec<usize>> = if self.rng.chance(0.3) && params.len() > 1 {
            let mut subset: Vec<usize> =
                (0..params.len()).filter(|_| self.rng.chance(0.5)).collect();
            if subset.is_empty() {
                subset.push(self.rng.below(params.len()));
            }
            if has_labels {
                let w = params.iter().position(|p| p.0 == "w").unwrap();
                if !subset.contains(&w) {
                    subset.push(w);
                    subset.sort();
                }
            }
            self.cov("wrt");
            for (i, v) in p.vars.iter_mut().enumerate() {
                v.active = subset.contains(&i);
            }
            Some(subset)
        } else {
            None
        };
        if has_labels {
            self.cov("parameter labels &[usize]");
            let xi = p.vars.iter().position(|v| v.name == "x").unwrap();
            let wi = p.vars.iter().position(|v| v.name == "w").unwrap();
            let code = format!("{}.dot({})", p.recv(xi), p.borrow(wi));
            self.cov("dot matrix · matrix");
            let bound = 1.5 * 1.5 * d as f64;
            self.add_local(
                &mut p,
                Rhs {
                    code,
                    ty: Ty::M(n, c),
                    bound,
                },
                true,
            );
        }
        if let Some(shape) = tensor3 {
            let x3 = p.vars.iter().position(|v| v.name == "x3").unwrap();
            for _ in 0..1 + self.rng.below(2) {
                let d = self.tensor3_line(&mut p, x3, shape);
                let active = p.vars[x3].active;
                self.add_drawn(&mut p, d, active);
            }
        }
        let target = p.lines.len() + 4 + self.rng.below(6);
        self.layer_lines(&mut p, target);
        if !output {
            return self.finish(name, p, &params, wrt.as_deref());
        }
        // The value: an array line of the layer constructs that reads a differentiated value.
        let mut attempts = 0;
        // A part of an owned array, in turn, is looked for first (rarely drawn otherwise).
        let want_part =
            PART_OF_AN_OWNED_ARRAY_AS_THE_OUTPUT && self.turn("part of an owned output", 4) == 0;
        let out = loop {
            attempts += 1;
            assert!(attempts < 500, "no array value for {name}");
            let uses: Vec<usize> = p.vars.iter().map(|v| v.uses).collect();
            let drawn = if attempts < 100 {
                self.layer_construct(&mut p)
            } else {
                self.layer_line(&mut p)
            };
            let active = p
                .vars
                .iter()
                .zip(&uses)
                .any(|(v, &u)| v.uses > u && v.active);
            // See `PART_OF_AN_OWNED_ARRAY_AS_THE_OUTPUT`: a part of a reference or a view
            // parameter.
            let part_of_owned = |d: &Drawn| {
                d.part_of.is_some_and(|a| {
                    let v = &p.vars[a];
                    v.name.ends_with(|c: char| c.is_ascii_digit())
                        || !(v.view || v.held == Held::Ref)
                })
            };
            match drawn {
                Some(d)
                    if d.rhs.ty.is_array()
                        && active
                        && (PART_OF_AN_OWNED_ARRAY_AS_THE_OUTPUT || !part_of_owned(&d))
                        && (!want_part || attempts > 60 || part_of_owned(&d)) =>
                {
                    if part_of_owned(&d) {
                        self.cov("output: a part of an owned array");
                    }
                    self.add_drawn(&mut p, d, true);
                    let out = p.vars.len() - 1;
                    p.vars[out].uses += 1;
                    break out;
                }
                _ => {
                    for (v, u) in p.vars.iter_mut().zip(uses) {
                        v.uses = u;
                    }
                }
            }
        };
        let inline = self.rng.chance(0.5);
        self.finish_with(
            name,
            p,
            &params,
            wrt.as_deref(),
            None,
            Ending::Array { out, inline },
        )
    }

    /// A drawn line as a local: its lines before, the variable it moves hidden.
    fn add_drawn(&mut self, p: &mut Program, d: Drawn, active: bool) {
        p.lines.extend(d.pre);
        if let Some(m) = d.moves {
            p.vars[m].hidden = true;
        }
        let code = &d.rhs.code;
        let mapped = (code.contains(".mapv(|")
            && [".max(", ".min(", ".clamp(", " if "]
                .iter()
                .any(|m| code.contains(m)))
            || [".view()", ".clone()"].iter().any(|end| {
                code.strip_suffix(end)
                    .is_some_and(|x| p.vars.iter().any(|v| v.name == x && v.mapped))
            });
        self.add_local(p, d.rhs, active);
        let v = p.vars.last_mut().unwrap();
        if let Some(view) = d.view {
            v.view = view;
        }
        v.spread = d.spread;
        v.mapped = mapped;
    }

    /// Lines of the layer programs up to `target` (fewer if the draws keep failing).
    fn layer_lines(&mut self, p: &mut Program, target: usize) {
        let mut attempts = 0;
        while p.lines.len() < target && attempts < 300 {
            attempts += 1;
            let uses: Vec<usize> = p.vars.iter().map(|v| v.uses).collect();
            match self.layer_line(p) {
                Some(d) => {
                    let active = p
                        .vars
                        .iter()
                        .zip(&uses)
                        .any(|(v, &u)| v.uses > u && v.active);
                    if active || constant_line_allowed(&d.rhs) {
                        self.add_drawn(p, d, active);
                    } else {
                        for (v, &u) in p.vars.iter_mut().zip(&uses) {
                            v.uses = u;
                        }
                    }
                }
                None => {
                    for (v, u) in p.vars.iter_mut().zip(uses) {
                        v.uses = u;
                    }
                }
            }
        }
    }

    /// A line of a layer program: mostly a layer construct, at times any tensor line.
    fn layer_line(&mut self, p: &mut Program) -> Option<Drawn> {
        if self.rng.chance(0.3) {
            drawn(self.line(p))
        } else {
            self.layer_construct(p)
        }
    }

    fn layer_construct(&mut self, p: &mut Program) -> Option<Drawn> {
        match self.rng.below(13) {
            0..=2 => self.branch_closure(p),
            3..=5 => self.part(p),
            6 | 7 => self.select(p),
            8 | 9 => self.concat(p),
            10 | 11 => self.lane_statistics(p),
            _ => self.reshape_to(p),
        }
    }

    /// Counts a layer construct's operand that is a constant (see `CONSTANT_LAYER_OPERANDS`).
    fn constant_operand(&mut self, p: &Program, a: usize) {
        if !p.vars[a].active {
            self.cov("layer construct of a constant operand");
        }
    }

    /// A float a closure captures: a scalar variable (a parameter, differentiated or not, or
    /// a local) or a literal; `(code, bound)`.
    fn captured(&mut self, p: &mut Program) -> (String, f64) {
        let scalars = p.of(|v| v.ty == Ty::S && v.bound <= 3.0);
        if !scalars.is_empty() && self.rng.chance(0.75) {
            let locals: Vec<usize> = scalars
                .iter()
                .copied()
                .filter(|&v| !matches!(p.vars[v].name.as_str(), "s" | "reg"))
                .collect();
            // A local in turn, where there is one (parameters are more often in scope).
            let s = if !locals.is_empty() && self.turn("captured local", 3) == 0 {
                self.rng.pick(&locals)
            } else {
                self.rng.pick(&scalars)
            };
            let parameter = matches!(p.vars[s].name.as_str(), "s" | "reg");
            self.cov(match (parameter, p.vars[s].active) {
                (true, true) => "branch closure capturing a differentiated scalar parameter",
                (true, false) => "branch closure capturing a scalar parameter outside wrt",
                (false, _) => "branch closure capturing a scalar local",
            });
            (p.recv(s), p.vars[s].bound)
        } else {
            let l = self.rng.pick(&["0.1", "0.25", "0.5", "1.5"]);
            (l.to_string(), parse(l))
        }
    }

    /// `mapv` with a closure that is no elementwise expression: an `if`/`else` on a
    /// comparison (leaky ReLU, ELU, Huber, a threshold, `else if`), a block with a `let`,
    /// capturing floats; every function continuous, so that only its kinks are skipped.
    fn branch_closure(&mut self, p: &mut Program) -> Option<Drawn> {
        let a = self.array(p, |v| v.bound <= 6.0)?;
        let (ty, mut b) = (p.vars[a].ty, p.vars[a].bound);
        let receiver = if self.rng.chance(0.2) {
            // Of an expression: `(&a - &b).mapv(..)`.
            let same = p.of(|v| v.ty == ty && v.bound <= 6.0);
            let other = self.choose(p, &same)?;
            self.cov("branch closure of an expression");
            b += p.vars[other].bound;
            let op = self.rng.pick(&["+", "-"]);
            format!("({} {op} {})", p.borrow(a), p.borrow(other))
        } else {
            p.recv(a)
        };
        let e = closure_param(p, true);
        let (body, bound) = match self.turn("branch closure", 10) {
            0 => {
                self.cov("branch closure: leaky ReLU");
                let (alpha, ba) = self.captured(p);
                (
                    format!("if {e} > 0.0 {{ {e} }} else {{ {alpha} * {e} }}"),
                    b * ba.max(1.0),
                )
            }
            1 => {
                self.cov("branch closure: ELU");
                let (alpha, ba) = self.captured(p);
                (
                    format!("if {e} > 0.0 {{ {e} }} else {{ {alpha} * ({e}.exp() - 1.0) }}"),
                    b.max(ba),
                )
            }
            2 if b <= EXP_LIMIT => {
                // The exponential of every element, the branch taken or not.
                self.cov("branch closure: ELU with a block and a let");
                let (alpha, ba) = self.captured(p);
                (
                    format!(
                        "{{\n        let negative = {alpha} * ({e}.exp() - 1.0);\n        \
                         if {e} > 0.0 {{ {e} }} else {{ negative }}\n    }}"
                    ),
                    b.max(ba),
                )
            }
            3 => {
                self.cov("branch closure: Huber (abs)");
                let (delta, bd) = self.captured(p);
                (
                    format!(
                        "if {e}.abs() <= {delta} {{ 0.5 * {e} * {e} }} \
                         else {{ {delta} * ({e}.abs() - 0.5 * {delta}) }}"
                    ),
                    (0.5 * b * b).max(bd * (b + 0.5 * bd)),
                )
            }
            4 => {
                self.cov("branch closure: else if");
                (
                    format!(
                        "if {e} > 1.0 {{ 1.0 + ({e} - 1.0) * 0.1 }} \
                         else if {e} < -1.0 {{ -1.0 + ({e} + 1.0) * 0.1 }} else {{ {e} }}"
                    ),
                    b.max(1.0),
                )
            }
            5 => {
                self.cov("branch closure: threshold");
                let (t, bt) = self.captured(p);
                (
                    format!("if {e} > {t} {{ {e} - {t} }} else {{ 0.0 }}"),
                    b + bt,
                )
            }
            6 => {
                self.cov("branch closure: block with a let and a comparison");
                let (s, bs) = self.captured(p);
                (
                    format!(
                        "{{\n        let scaled = {e} * {s};\n        \
                         if scaled > {e} {{ scaled }} else {{ {e} }}\n    }}"
                    ),
                    b * bs.max(1.0),
                )
            }
            8 => {
                // A threshold and a slope below it.
                self.cov("branch closure capturing two floats");
                let (t, bt) = self.captured(p);
                let (alpha, ba) = self.captured(p);
                (
                    format!("if {e} > {t} {{ {e} - {t} }} else {{ {alpha} * ({e} - {t}) }}"),
                    (b + bt) * ba.max(1.0),
                )
            }
            9 => {
                self.cov("branch closure: a method of a captured float");
                let (s, _) = self.captured(p);
                // A literal's method wants its type.
                let s = if s.parse::<f64>().is_ok() {
                    format!("{s}_f64")
                } else {
                    s
                };
                (
                    format!("if {e} > 0.0 {{ {e} }} else {{ {e} * {s}.tanh() }}"),
                    b,
                )
            }
            _ => {
                self.cov("branch closure: <");
                let (alpha, ba) = self.captured(p);
                (
                    format!("if {e} < 0.0 {{ -{e} * {alpha} }} else {{ {e} * {e} * 0.5 }}"),
                    (b * ba).max(0.5 * b * b),
                )
            }
        };
        let code = format!("{receiver}.mapv(|{e}| {body})");
        if self.rng.chance(0.2) {
            self.cov("branch closure reduced inline");
            return drawn(rhs(format!("{code}.sum()"), Ty::S, bound * ty.len() as f64));
        }
        drawn(rhs(code, ty, bound))
    }

    /// A part of an array, as a view: `slice(s![..])` (ranges, an index, a negative index, a
    /// step), `row`, `column`, `index_axis`, `slice_axis`, with indices literal or from the
    /// shape (`a.ncols() - 1`); bound as a local, or used inline (`a.slice(..).tanh()`,
    /// `backprop::sigmoid(&a.row(0))`, `a.column(1).dot(&u)`).
    fn part(&mut self, p: &mut Program) -> Option<Drawn> {
        let a = self.array(p, |v| CONSTANT_LAYER_OPERANDS || v.active)?;
        self.constant_operand(p, a);
        let (ty, b, spread) = (p.vars[a].ty, p.vars[a].bound, p.vars[a].spread);
        let name = p.recv(a);
        // A range `lo..hi` within `0..len`, written in one of its forms; its length.
        let range = |g: &mut Gen, len: usize| -> (String, usize) {
            let lo = g.rng.below(len);
            let hi = lo + 1 + g.rng.below(len - lo);
            let code = match (lo, hi == len, g.rng.below(3)) {
                (0, _, 0) => format!("..{hi}"),
                (_, true, 0) => format!("{lo}.."),
                _ => format!("{lo}..{hi}"),
            };
            (code, hi - lo)
        };
        let (code, part_ty) = match ty {
            Ty::M(r, c) => match self.turn("part of a matrix", 8) {
                0 => {
                    self.cov("slice s![.., a..b]");
                    let (cols, k) = if c >= 2 && self.rng.chance(0.3) {
                        self.cov("index from the shape (nrows(), ncols())");
                        (format!("1..{name}.ncols()"), c - 1)
                    } else {
                        range(self, c)
                    };
                    (format!("{name}.slice(s![.., {cols}])"), Ty::M(r, k))
                }
                1 => {
                    self.cov("slice s![a..b, ..]");
                    let (rows, k) = range(self, r);
                    (format!("{name}.slice(s![{rows}, ..])"), Ty::M(k, c))
                }
                2 => {
                    self.cov("slice s![a..b, c..d]");
                    let (rows, k) = range(self, r);
                    let (cols, l) = range(self, c);
                    (format!("{name}.slice(s![{rows}, {cols}])"), Ty::M(k, l))
                }
                3 => {
                    self.cov("slice with an index (rank 1)");
                    let negative = self.rng.chance(0.3);
                    if negative {
                        self.cov("slice with a negative index");
                    }
                    // Typed: the rank of `s![1, ..]` waits for the literal's type, and a method of
                    // the part (`dot`) finds rustc's "multiple applicable items".
                    if self.rng.chance(0.5) {
                        let i = if negative {
                            format!("-{}isize", 1 + self.rng.below(r))
                        } else {
                            format!("{}usize", self.rng.below(r))
                        };
                        (format!("{name}.slice(s![{i}, ..])"), Ty::V(c))
                    } else {
                        let j = if negative {
                            format!("-{}isize", 1 + self.rng.below(c))
                        } else {
                            format!("{}usize", self.rng.below(c))
                        };
                        (format!("{name}.slice(s![.., {j}])"), Ty::V(r))
                    }
                }
                4 => {
                    self.cov("row(i)");
                    let i = if r >= 2 && self.rng.chance(0.3) {
                        self.cov("index from the shape (nrows(), ncols())");
                        format!("{name}.nrows() - 1")
                    } else {
                        self.rng.below(r).to_string()
                    };
                    (format!("{name}.row({i})"), Ty::V(c))
                }
                5 => {
                    self.cov("column(j)");
                    let j = if c >= 2 && self.rng.chance(0.3) {
                        self.cov("index from the shape (nrows(), ncols())");
                        format!("{name}.ncols() - 1")
                    } else {
                        self.rng.below(c).to_string()
                    };
                    (format!("{name}.column({j})"), Ty::V(r))
                }
                6 => {
                    let k = self.turn("index_axis", 2);
                    self.cov(&format!("index_axis(Axis({k}), i)"));
                    if k == 0 {
                        let i = self.rng.below(r);
                        (format!("{name}.index_axis(Axis(0), {i})"), Ty::V(c))
                    } else {
                        let j = self.rng.below(c);
                        (format!("{name}.index_axis(Axis(1), {j})"), Ty::V(r))
                    }
                }
                _ => {
                    let k = self.turn("slice_axis", 2);
                    self.cov(&format!("slice_axis(Axis({k}), Slice::from(..))"));
                    let len = if k == 0 { r } else { c };
                    let lo = self.rng.below(len);
                    let hi = lo + 1 + self.rng.below(len - lo);
                    let ty = if k == 0 {
                        Ty::M(hi - lo, c)
                    } else {
                        Ty::M(r, hi - lo)
                    };
                    (
                        format!("{name}.slice_axis(Axis({k}), Slice::from({lo}..{hi}))"),
                        ty,
                    )
                }
            },
            Ty::V(n) => match self.turn("part of a vector", 3) {
                0 => {
                    self.cov("slice of a vector");
                    let (at, k) = range(self, n);
                    (format!("{name}.slice(s![{at}])"), Ty::V(k))
                }
                1 => {
                    self.cov("slice with a step");
                    if self.rng.chance(0.5) {
                        (format!("{name}.slice(s![..;2])"), Ty::V(n.div_ceil(2)))
                    } else {
                        (format!("{name}.slice(s![..;-1])"), Ty::V(n))
                    }
                }
                _ => {
                    self.cov("slice_axis of a vector");
                    let lo = self.rng.below(n);
                    let hi = lo + 1 + self.rng.below(n - lo);
                    (
                        format!("{name}.slice_axis(Axis(0), Slice::from({lo}..{hi}))"),
                        Ty::V(hi - lo),
                    )
                }
            },
            Ty::S => unreachable!(),
        };
        if self.rng.chance(0.6) {
            self.cov("part bound as a view");
            return view_of(rhs(code, part_ty, b), spread).map(|d| Drawn {
                part_of: Some(a),
                ..d
            });
        }
        self.cov("part used inline");
        match self.rng.below(5) {
            0 => drawn(rhs(format!("{code}.tanh()"), part_ty, 1.0)),
            1 => drawn(rhs(format!("backprop::sigmoid(&{code})"), part_ty, 1.0)),
            2 => {
                let l = self.lit();
                drawn(rhs(format!("&{code} * {l}"), part_ty, b * parse(l)))
            }
            3 if b <= 6.0 => {
                // A matrix product with an operand of the right length.
                let k = match part_ty {
                    Ty::M(_, k) | Ty::V(k) => k,
                    Ty::S => unreachable!(),
                };
                let other = self.array(p, |v| {
                    v.bound <= 6.0 && matches!(v.ty, Ty::M(r, _) | Ty::V(r) if r == k)
                })?;
                let ty = match (part_ty, p.vars[other].ty) {
                    (Ty::M(r, _), Ty::M(_, c)) => Ty::M(r, c),
                    (Ty::M(r, _), Ty::V(_)) => Ty::V(r),
                    (Ty::V(_), Ty::M(_, c)) => Ty::V(c),
                    _ => Ty::S,
                };
                let bound = b * p.vars[other].bound * k as f64;
                drawn(rhs(format!("{code}.dot({})", p.borrow(other)), ty, bound))
            }
            _ => drawn(rhs(
                format!("{code}.sum()"),
                Ty::S,
                b * part_ty.len() as f64,
            )),
        }
    }

    /// `a.select(Axis(k), &[..])` with a constant index list (a repeated index at times, whose
    /// gradients add), inline or a local `let idx = [..];`, or the rows of an embedding at the
    /// labels, `emb.select(Axis(0), y)`.
    fn select(&mut self, p: &mut Program) -> Option<Drawn> {
        if let Some((n, c)) = p.labels
            && self.rng.chance(0.6)
        {
            let a = self.array(p, |v| {
                (CONSTANT_LAYER_OPERANDS || v.active) && matches!(v.ty, Ty::M(r, _) if r == c)
            })?;
            let Ty::M(_, k) = p.vars[a].ty else {
                unreachable!()
            };
            self.constant_operand(p, a);
            self.cov("select(Axis(0), y) at the labels");
            let b = p.vars[a].bound;
            return drawn(rhs(
                format!("{}.select(Axis(0), y)", p.recv(a)),
                Ty::M(n, k),
                b,
            ));
        }
        let a = self.array(p, |v| CONSTANT_LAYER_OPERANDS || v.active)?;
        self.constant_operand(p, a);
        let (ty, b) = (p.vars[a].ty, p.vars[a].bound);
        let axis = match ty {
            Ty::M(..) => self.rng.below(2),
            _ => 0,
        };
        let len = match (ty, axis) {
            (Ty::M(r, _), 0) => r,
            (Ty::M(_, c), _) => c,
            (Ty::V(n), _) => n,
            (Ty::S, _) => unreachable!(),
        };
        let count = 1 + self.rng.below(4);
        let mut indices: Vec<usize> = (0..count).map(|_| self.rng.below(len)).collect();
        if count >= 2 && self.rng.chance(0.6) {
            indices[count - 1] = indices[0];
        }
        if (1..count).any(|i| indices[..i].contains(&indices[i])) {
            self.cov("select with a repeated index");
        }
        self.cov(&format!("select(Axis({axis}), ..)"));
        let list = format!(
            "[{}]",
            indices
                .iter()
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        // See `SELECT_OF_AN_INDEX_ARRAY`.
        let list = if SELECT_OF_AN_INDEX_ARRAY {
            self.cov("select of an index array");
            list
        } else {
            format!("vec!{list}")
        };
        let mut pre = Vec::new();
        let at = if self.rng.chance(0.5) {
            self.cov("select(.., &[..]) of a list written in the call");
            format!("&{list}")
        } else {
            self.cov("select(.., &idx) of a local index list");
            let idx = format!("idx{}", p.locals);
            p.locals += 1;
            pre.push(format!("    let {idx} = {list};"));
            format!("&{idx}")
        };
        let ty = match (ty, axis) {
            (Ty::M(_, c), 0) => Ty::M(count, c),
            (Ty::M(r, _), _) => Ty::M(r, count),
            _ => Ty::V(count),
        };
        let code = format!("{}.select(Axis({axis}), {at})", p.recv(a));
        drawn(rhs(code, ty, b)).map(|d| Drawn { pre, ..d })
    }

    /// `concatenate(Axis(k), &[a.view(), b.view()]).unwrap()` of matrices or vectors (an
    /// array with itself at times), and `stack(Axis(k), &[..])` of vectors or of rows of a
    /// matrix.
    fn concat(&mut self, p: &mut Program) -> Option<Drawn> {
        let a = self.array(p, |v| {
            (CONSTANT_LAYER_OPERANDS || v.active) && v.bound <= 10.0
        })?;
        self.constant_operand(p, a);
        let ty = p.vars[a].ty;
        let path = |g: &mut Gen, function: &str| {
            if g.rng.chance(0.2) {
                g.cov("concatenate or stack by its path");
                format!("backprop::ndarray::{function}")
            } else {
                function.to_string()
            }
        };
        let unwrap = |g: &mut Gen| {
            if g.rng.chance(0.2) {
                ".expect(\"shapes that fit\")"
            } else {
                ".unwrap()"
            }
        };
        // Rows of a matrix, stacked.
        if let Ty::M(r, c) = ty
            && r >= 2
            && self.rng.chance(0.25)
        {
            self.cov("stack(..) of rows of a matrix");
            let b = p.vars[a].bound;
            let name = p.recv(a);
            let (i, j) = (self.rng.below(r), self.rng.below(r));
            let k = self.rng.below(2);
            let f = path(self, "stack");
            let code = format!(
                "{f}(Axis({k}), &[{name}.row({i}), {name}.row({j})]){}",
                unwrap(self)
            );
            let ty = if k == 0 { Ty::M(2, c) } else { Ty::M(c, 2) };
            return drawn(rhs(code, ty, b));
        }
        let (function, axis, fits): (&str, usize, Box<dyn Fn(Ty) -> bool>) = match ty {
            Ty::M(r, c) => {
                let k = self.rng.below(2);
                self.cov(&format!("concatenate(Axis({k})) of matrices"));
                let fits: Box<dyn Fn(Ty) -> bool> = if k == 0 {
                    Box::new(move |t| matches!(t, Ty::M(_, cc) if cc == c))
                } else {
                    Box::new(move |t| matches!(t, Ty::M(rr, _) if rr == r))
                };
                ("concatenate", k, fits)
            }
            Ty::V(n) if self.rng.chance(0.6) => {
                let k = self.rng.below(2);
                self.cov(&format!("stack(Axis({k})) of vectors"));
                ("stack", k, Box::new(move |t| t == Ty::V(n)))
            }
            Ty::V(_) => {
                self.cov("concatenate(Axis(0)) of vectors");
                ("concatenate", 0, Box::new(|t| matches!(t, Ty::V(_))))
            }
            Ty::S => unreachable!(),
        };
        let candidates = p.of(|v| fits(v.ty) && v.bound <= 10.0);
        let mut parts = vec![a];
        for _ in 0..1 + usize::from(self.rng.chance(0.3)) {
            parts.push(self.choose(p, &candidates)?);
        }
        if parts[1..].contains(&a) {
            self.cov("concatenate or stack of an array with itself");
        }
        let bound = parts.iter().map(|&i| p.vars[i].bound).fold(0.0, f64::max);
        let mut views: Vec<String> = parts
            .iter()
            .map(|&i| format!("{}.view()", p.recv(i)))
            .collect();
        let mut sizes: Vec<Ty> = parts.iter().map(|&i| p.vars[i].ty).collect();
        // The last matrix, at times, a part written in the call (along the axis).
        let last = parts.len() - 1;
        if let Ty::M(r, c) = sizes[last]
            && function == "concatenate"
            && (CONSTANT_LAYER_OPERANDS || p.vars[parts[last]].active)
            && self.rng.chance(0.3)
        {
            self.cov("concatenate of a part written in the call");
            let name = &p.vars[parts[last]].name;
            let len = if axis == 0 { r } else { c };
            let lo = self.rng.below(len);
            let hi = lo + 1 + self.rng.below(len - lo);
            if axis == 0 {
                views[last] = format!("{name}.slice(s![{lo}..{hi}, ..])");
                sizes[last] = Ty::M(hi - lo, c);
            } else {
                views[last] = format!("{name}.slice(s![.., {lo}..{hi}])");
                sizes[last] = Ty::M(r, hi - lo);
            }
        }
        let shape = |t: &Ty| match t {
            Ty::M(r, c) => (*r, *c),
            _ => (0, 0),
        };
        let ty = match (function, ty) {
            ("stack", Ty::V(n)) if axis == 0 => Ty::M(parts.len(), n),
            ("stack", Ty::V(n)) => Ty::M(n, parts.len()),
            (_, Ty::M(_, c)) if axis == 0 => Ty::M(sizes.iter().map(|t| shape(t).0).sum(), c),
            (_, Ty::M(r, _)) => Ty::M(r, sizes.iter().map(|t| shape(t).1).sum()),
            _ => Ty::V(sizes.iter().map(|t| t.len()).sum()),
        };
        let f = path(self, function);
        let code = format!("{f}(Axis({axis}), &[{}]){}", views.join(", "), unwrap(self));
        drawn(rhs(code, ty, bound))
    }

    /// `var_axis(Axis(k), ddof)` (`ddof` 1.0 only along more than one element), `std_axis`
    /// of an array whose lanes are spread (a parameter, a part or a reshape of one) along
    /// more than one element, and the course's normalisation by the variance plus a
    /// constant, `(&a - &mean) / &(a.var_axis(..) + 0.5).mapv(f64::sqrt)`.
    fn lane_statistics(&mut self, p: &mut Program) -> Option<Drawn> {
        let draw = self.rng.below(5);
        let a = if draw == 2 || draw == 3 {
            self.array(p, |v| {
                (CONSTANT_LAYER_OPERANDS || v.active)
                    && v.spread
                    && matches!(v.ty, Ty::M(r, c) if r >= 2 || c >= 2)
                    && v.bound <= 10.0
            })?
        } else {
            self.array(p, |v| {
                (CONSTANT_LAYER_OPERANDS || v.active) && matches!(v.ty, Ty::M(..)) && v.bound <= 6.0
            })?
        };
        self.constant_operand(p, a);
        let (Ty::M(r, c), b) = (p.vars[a].ty, p.vars[a].bound) else {
            unreachable!()
        };
        let lane = |k: usize| if k == 0 { r } else { c };
        // The axis and `ddof` in turn.
        let combination = match draw {
            0 | 1 => self.turn("var_axis", 4),
            2 | 3 => self.turn("std_axis", 4),
            _ => self.turn("normalisation", 2),
        };
        let k = match draw {
            // Along more than one element.
            2 | 3 if r < 2 => 1,
            2 | 3 if c < 2 => 0,
            _ => combination % 2,
        };
        let n = lane(k);
        let kept = lane(1 - k);
        let ddof = if n > 1 && combination >= 2 { 1.0 } else { 0.0 };
        let ddof_code = if ddof == 1.0 { "1.0" } else { "0.0" };
        let widen = n as f64 / (n as f64 - ddof);
        let (code, ty, bound) = match draw {
            0 | 1 => {
                self.cov(&format!("var_axis(Axis({k}), {ddof_code})"));
                (
                    format!("{}.var_axis(Axis({k}), {ddof_code})", p.recv(a)),
                    Ty::V(kept),
                    b * b * widen,
                )
            }
            2 | 3 => {
                self.cov(&format!("std_axis(Axis({k}), {ddof_code})"));
                (
                    format!("{}.std_axis(Axis({k}), {ddof_code})", p.recv(a)),
                    Ty::V(kept),
                    b * widen.sqrt(),
                )
            }
            _ => {
                self.cov("normalisation by var_axis plus a constant");
                let eps = self.rng.pick(&["0.5", "1.0"]);
                let x = p.borrow(a);
                let name = p.recv(a);
                let code = if k == 0 {
                    format!(
                        "({x} - &{name}.mean_axis(Axis(0)).unwrap()) \
                         / &({name}.var_axis(Axis(0), 0.0) + {eps}).mapv(f64::sqrt)"
                    )
                } else {
                    format!(
                        "({x} - &{name}.mean_axis(Axis(1)).unwrap().insert_axis(Axis(1))) \
                         / &({name}.var_axis(Axis(1), 0.0) + {eps}).mapv(f64::sqrt).insert_axis(Axis(1))"
                    )
                };
                return drawn(rhs(code, Ty::M(r, c), 2.0 * b / parse(eps).sqrt()));
            }
        };
        if self.rng.chance(0.3) {
            self.cov("var_axis or std_axis, insert_axis");
            let ty = if k == 0 {
                Ty::M(1, kept)
            } else {
                Ty::M(kept, 1)
            };
            return drawn(rhs(format!("{code}.insert_axis(Axis({k}))"), ty, bound));
        }
        drawn(rhs(code, ty, bound))
    }

    /// `a.to_shape((r, c)).unwrap()` (a view of the same elements, in row-major order, or a
    /// copy) of any array, to another matrix shape or to a vector; `into_shape_with_order` of
    /// an owned parameter, which it moves (when no view of it is read later), or of an
    /// elementwise expression of a parameter (`a.tanh()`, `(a * 0.5)`). (`into_shape_with_order`
    /// wants the row-major layout, which the parameters have and a concatenation along
    /// `Axis(1)` or a copy of a transpose do not.)
    fn reshape_to(&mut self, p: &mut Program) -> Option<Drawn> {
        let form = self.turn("reshape", 3);
        // Parameters are not numbered.
        let parameter = |v: &Var| !v.name.ends_with(|c: char| c.is_ascii_digit());
        let movable: Vec<usize> = p
            .of(|v| {
                (CONSTANT_LAYER_OPERANDS || v.active)
                    && v.ty.is_array()
                    && parameter(v)
                    && !v.view
                    && v.held == Held::Place
                    // The loss of a program with labels reads `w` and an `N × C` array last.
                    && !p
                        .labels
                        .is_some_and(|(n, c)| v.name == "w" || v.ty == Ty::M(n, c))
            })
            .into_iter()
            .filter(|&i| !borrowed_by_a_view(p, &p.vars[i].name))
            .collect();
        let parameters =
            p.of(|v| (CONSTANT_LAYER_OPERANDS || v.active) && v.ty.is_array() && parameter(v));
        let any = p.of(|v| (CONSTANT_LAYER_OPERANDS || v.active) && v.ty.is_array());
        let (form, a) = match form {
            0 if !movable.is_empty() => (0, self.choose(p, &movable)?),
            1 if !parameters.is_empty() => (1, self.choose(p, &parameters)?),
            _ => (2, self.choose(p, &any)?),
        };
        self.constant_operand(p, a);
        let (ty, b, spread) = (p.vars[a].ty, p.vars[a].bound, p.vars[a].spread);
        let len = ty.len();
        let mut targets: Vec<Ty> = (1..=len)
            .filter(|r| len % r == 0)
            .map(|r| Ty::M(r, len / r))
            .filter(|t| *t != ty)
            .collect();
        if ty != Ty::V(len) {
            targets.push(Ty::V(len));
        }
        let target = self.rng.pick(&targets);
        let shape = match target {
            Ty::M(r, c) => format!("({r}, {c})"),
            Ty::V(n) if self.rng.chance(0.5) => format!("({n},)"),
            _ => len.to_string(),
        };
        self.cov(match (ty, target) {
            (_, Ty::V(_)) => "reshape to a vector",
            (Ty::V(_), _) => "reshape of a vector to a matrix",
            _ => "reshape of a matrix to another shape",
        });
        match form {
            0 => {
                self.cov("into_shape_with_order of an owned parameter (moved)");
                let code = format!("{}.into_shape_with_order({shape}).unwrap()", p.recv(a));
                drawn(rhs(code, target, b)).map(|d| Drawn {
                    moves: Some(a),
                    spread,
                    ..d
                })
            }
            1 => {
                self.cov("into_shape_with_order of an expression");
                let (expression, bound) = if self.rng.chance(0.5) {
                    (format!("{}.tanh()", p.recv(a)), 1.0)
                } else {
                    let l = self.lit();
                    (format!("({} * {l})", p.borrow(a)), b * parse(l))
                };
                drawn(rhs(
                    format!("{expression}.into_shape_with_order({shape}).unwrap()"),
                    target,
                    bound,
                ))
            }
            _ => {
                self.cov("to_shape(..)");
                let code = format!("{}.to_shape({shape}).unwrap()", p.recv(a));
                view_of(rhs(code, target, b), spread)
            }
        }
    }

    /// A line that makes the `Array3` parameter `x3` (of shape `(t, n, d)`) rank 2: a part
    /// (`index_axis`, `slice(s![.., i, ..])`), a reshape (`to_shape((t * n, d))`, the shape
    /// from its `dim()` at times), or a reduction along an axis.
    fn tensor3_line(
        &mut self,
        p: &mut Program,
        x3: usize,
        (t, n, d): (usize, usize, usize),
    ) -> Drawn {
        let name = p.recv(x3);
        let dims = [t, n, d];
        let without = |k: usize| {
            let rest: Vec<usize> = (0..3).filter(|&j| j != k).map(|j| dims[j]).collect();
            Ty::M(rest[0], rest[1])
        };
        let mut pre = Vec::new();
        // See `CONSTANT_LAYER_OPERANDS`: a constant is only reduced.
        let draw = if CONSTANT_LAYER_OPERANDS || p.vars[x3].active {
            self.turn("Array3", 6)
        } else {
            3 + self.rng.below(2)
        };
        if !matches!(draw, 3 | 4) {
            self.constant_operand(p, x3);
        }
        let (code, ty, bound, view) = match draw {
            0 => {
                let k = self.rng.below(3);
                let i = self.rng.below(dims[k]);
                self.cov("Array3: index_axis");
                (
                    format!("{name}.index_axis(Axis({k}), {i})"),
                    without(k),
                    1.5,
                    true,
                )
            }
            1 => {
                self.cov("Array3: slice s![.., i, ..]");
                let i = self.rng.below(n);
                (
                    format!("{name}.slice(s![.., {i}usize, ..])"),
                    without(1),
                    1.5,
                    true,
                )
            }
            2 => {
                self.cov("Array3: to_shape((t * n, d))");
                let shape = if self.turn("to_shape from its dim()", 2) == 0 {
                    self.cov("Array3: to_shape from its dim()");
                    let k = p.locals;
                    p.locals += 1;
                    pre.push(format!(
                        "    let (steps{k}, rows{k}, cols{k}) = {name}.dim();"
                    ));
                    format!("(steps{k} * rows{k}, cols{k})")
                } else {
                    format!("({t} * {n}, {d})")
                };
                (
                    format!("{name}.to_shape({shape}).unwrap()"),
                    Ty::M(t * n, d),
                    1.5,
                    true,
                )
            }
            3 => {
                let k = self.rng.below(3);
                self.cov("Array3: sum_axis");
                (
                    format!("{name}.sum_axis(Axis({k}))"),
                    without(k),
                    1.5 * dims[k] as f64,
                    false,
                )
            }
            4 => {
                let k = self.rng.below(3);
                self.cov("Array3: mean_axis");
                (
                    format!("{name}.mean_axis(Axis({k})).unwrap()"),
                    without(k),
                    1.5,
                    false,
                )
            }
            _ => {
                self.cov("Array3: var_axis");
                (
                    format!("{name}.var_axis(Axis(0), 0.0)"),
                    without(0),
                    2.25,
                    false,
                )
            }
        };
        Drawn {
            rhs: Rhs { code, ty, bound },
            pre,
            view: Some(view),
            spread: view,
            moves: None,
            part_of: None,
        }
    }
}

fn rank(ty: Ty) -> &'static str {
    match ty {
        Ty::M(..) => "matrix",
        _ => "vector",
    }
}

/// The parameter of a `mapv` closure on an array, `v`; `e` where `v` would shadow a
/// differentiated parameter `v` of the function on a constant array and
/// `CLOSURE_SHADOWING_ON_CONSTANT` is off.
fn closure_param(p: &Program, receiver_active: bool) -> &'static str {
    let shadows = p.vars.iter().any(|v| v.name == "v" && v.active);
    if shadows && !receiver_active && !CLOSURE_SHADOWING_ON_CONSTANT {
        "e"
    } else {
        "v"
    }
}

/// Whether a line's right-hand side is arithmetic: a binary operator outside parentheses and
/// brackets, or a negation.
fn arithmetic(code: &str) -> bool {
    let mut depth = 0i32;
    let bytes = code.as_bytes();
    for (i, &c) in bytes.iter().enumerate() {
        match c {
            b'(' | b'[' => depth += 1,
            b')' | b']' => depth -= 1,
            b'+' | b'-' | b'*' | b'/'
                if depth == 0
                    && i > 0
                    && bytes[i - 1] == b' '
                    && bytes.get(i + 1) == Some(&b' ') =>
            {
                return true;
            }
            _ => {}
        }
    }
    code.starts_with('-')
}

/// Whether a line that does not depend on a differentiated parameter may be generated: not
/// an array computed by arithmetic while `CONSTANT_ARITHMETIC_LINES` is off.
fn constant_line_allowed(r: &Rhs) -> bool {
    CONSTANT_ARITHMETIC_LINES || !r.ty.is_array() || !arithmetic(&r.code)
}

/// A literal's value.
fn parse(literal: &str) -> f64 {
    literal.parse().unwrap()
}

fn borrow_name(p: &mut Program, i: usize) -> String {
    p.borrow(i)
}

/// The whole generated file.
fn generated_source() -> String {
    let mut generator = Gen::new(SEED);
    let (mut items, mut cases) = (String::new(), String::new());
    for i in 0..PROGRAMS {
        let (source, case) = generator.function(&format!("t{i:03}"));
        items.push_str(&source);
        items.push('\n');
        cases.push_str(&case);
    }
    for i in PROGRAMS..PROGRAMS + LOOP_PROGRAMS {
        let (source, case) = generator.loop_function(&format!("t{i:03}"));
        items.push_str(&source);
        items.push('\n');
        cases.push_str(&case);
    }
    let mut out_cases = String::new();
    for i in PROGRAMS + LOOP_PROGRAMS..PROGRAMS + LOOP_PROGRAMS + OUTPUT_PROGRAMS {
        // The first ones return arrays, for the later ones to call.
        let output = i < PROGRAMS + LOOP_PROGRAMS + 4 || generator.rng.chance(0.6);
        let (source, case) = generator.composed(&format!("t{i:03}"), output);
        items.push_str(&source);
        items.push('\n');
        if output {
            out_cases.push_str(&case);
        } else {
            cases.push_str(&case);
        }
    }
    // The layer programs, after all the others (which are unchanged).
    let first = PROGRAMS + LOOP_PROGRAMS + OUTPUT_PROGRAMS;
    for i in first..first + LAYER_PROGRAMS {
        let output = generator.rng.chance(0.3);
        let (source, case) = generator.layer_function(&format!("t{i:03}"), output);
        items.push_str(&source);
        items.push('\n');
        if output {
            out_cases.push_str(&case);
        } else {
            cases.push_str(&case);
        }
    }
    let coverage: String = generator
        .coverage
        .iter()
        .map(|(k, n)| format!("    ({k:?}, {n}),\n"))
        .collect();
    format!(
        "// Generated by `generated_source` in tests/tensor_differential.rs (seed {SEED:#x}); re-create\n\
         // with `BLESS=1 cargo test --test tensor_differential`. {PROGRAMS} random ndarray\n\
         // programs, {LOOP_PROGRAMS} with loops and {OUTPUT_PROGRAMS} that return arrays or call\n\
         // programs that do; the tables at the end list them with their sources. The last\n\
         // {LAYER_PROGRAMS} are layer programs (closures with branches, parts, select, concatenate\n\
         // and stack, var_axis and std_axis, reshapes, an Array3).\n\n\
         {items}\
         static CASES: &[Case] = &[\n{cases}];\n\n\
         /// The programs that return an array.\n\
         static OUT_CASES: &[OutCase] = &[\n{out_cases}];\n\n\
         /// How often the generator produced each construct.\n\
         static COVERAGE: &[(&str, usize)] = &[\n{coverage}];\n"
    )
}

// ---------------------------------------------------------------------------------------------
// The tests.

#[test]
fn generated_file_is_up_to_date() {
    common::check_generated(
        "tensor_programs.rs",
        &generated_source(),
        "tensor_differential",
    );
}

/// Constructs the generator must keep producing.
const CONSTRUCTS: &[&str] = &[
    "parameter &Array2<f64>",
    "parameter Array2<f64>",
    "parameter ArrayView2<f64>",
    "parameter &Array1<f64>",
    "parameter f64",
    "parameter labels &[usize]",
    "size-1 dimension",
    "wrt",
    "fan-out",
    "nested expression",
    "elementwise +",
    "elementwise -",
    "elementwise *",
    "row broadcast",
    "broadcast operand on the left",
    "column broadcast (a variable)",
    "column broadcast (sum_axis inline)",
    "column broadcast (mean_axis inline)",
    "literal * array",
    "array * literal",
    "array +- literal",
    "scalar variable * array",
    "array op scalar variable",
    "unary -",
    "tanh",
    "sin",
    "powi",
    "exp",
    "mapv(f64::tanh)",
    "mapv(backprop::sigmoid)",
    "mapv closure",
    "mapv closure with a method",
    "mapv closure capturing a scalar",
    "mapv max (literal bound)",
    "mapv min (literal bound)",
    "mapv clamp (literal bounds)",
    "mapv max(0.0) (ReLU)",
    "mapv max (scalar variable bound)",
    "mapv min (scalar variable bound)",
    "mapv clamp (scalar variable bounds)",
    "mapv max/min/clamp bound: a differentiated scalar parameter",
    "mapv max/min/clamp bound: a scalar local",
    "mapv max/min/clamp bound: a negated scalar",
    "mapv max/min/clamp bound: a scalar plus or minus a literal",
    "mapv max/min/clamp inside arithmetic in the closure",
    "mapv max/min/clamp of an expression",
    "mapv max/min/clamp reduced inline",
    "relu",
    "sigmoid",
    "softplus",
    "softmax Axis(0) of a matrix",
    "softmax Axis(1) of a matrix",
    "softmax Axis(0) of a vector",
    "log_softmax Axis(0) of a matrix",
    "log_softmax Axis(1) of a matrix",
    "log_softmax Axis(0) of a vector",
    "max_axis Axis(0)",
    "max_axis Axis(1)",
    "pick",
    "pick(..).mean()",
    "-pick(..).mean() + regularizer",
    "dot matrix · matrix",
    "dot matrix · vector",
    "dot vector · matrix",
    "dot vector · vector",
    "t()",
    "sum_axis(0)",
    "sum_axis(1)",
    "mean_axis(0)",
    "mean_axis(1)",
    "insert_axis(0)",
    "insert_axis(1)",
    "insert_axis of a reduction",
    "sum()",
    "mean()",
    "sum of squares",
    // The loop programs.
    "for loop carrying an array",
    "reversed for loop carrying an array",
    "while loop with a counter carrying an array",
    "trip count from the data's shape",
    "carried array starts as a copy of an array",
    "carried array starts as a computed array",
    "carried array times a parameter matrix (h.dot(wh))",
    "carried array times a scalar parameter",
    "carried array times a literal",
    "bias in a loop body",
    "local of the program in a loop body",
    "pre-activation as a line of the loop body",
    "carried array: tanh",
    "carried array: mapv(f64::tanh)",
    "carried array: sigmoid",
    "carried array: softmax",
    "carried array: sin",
    "carried array: mapv closure",
    "carried array: relu",
    "carried array: mapv max(0.0) (ReLU)",
    "carried array: elementwise (times a literal)",
    "carried array: gated update (convex blend)",
    "carried array: gated update (leaky)",
    "two carried arrays (a cell and its state)",
    "carried scalar accumulating a sum of the array",
    "break guard before the array's update",
    "break guard on the carried scalar",
    "break guard on a reduction of the carried array",
    "break guard with a line",
    "row of a constant matrix in a loop body",
    "column of a constant matrix in a loop body",
    "column of a constant matrix, insert_axis(1), in a loop body",
    "data column broadcast against the state",
    "data view inline",
    "element writes into a copy",
    "element writes into a gate's result",
    "element writes into an elementwise method's result",
    "element writes into an arithmetic result",
    "element write at a literal index",
    "element writes at computed indices in a loop",
    "element writes at the labels in a loop",
    "element writes under a condition in a loop",
    // The programs that return an array, and their callers.
    "program returning Array2<f64>",
    "program returning Array1<f64>",
    "output: an array expression",
    "output: a local",
    "output: a local plus the values not read yet",
    "output: an array expression plus the values not read yet",
    "let h: Array2<f64> = g(..)",
    "let h: Array1<f64> = g(..)",
    "call in split mode",
    "call in split mode passing an array the caller owns by reference",
    "call in split mode in a program returning an array",
    "call of a program returning an array in a program returning one",
    "argument: a local",
    "argument: a parameter",
    "argument: a borrowed array",
    "argument: a literal",
    // The layer programs.
    "parameter &Array3<f64>",
    "branch closure: leaky ReLU",
    "branch closure: ELU",
    "branch closure: ELU with a block and a let",
    "branch closure: Huber (abs)",
    "branch closure: else if",
    "branch closure: threshold",
    "branch closure: block with a let and a comparison",
    "branch closure: <",
    "branch closure capturing two floats",
    "branch closure: a method of a captured float",
    "concatenate of a part written in the call",
    "branch closure capturing a differentiated scalar parameter",
    "branch closure capturing a scalar parameter outside wrt",
    "branch closure capturing a scalar local",
    "branch closure of an expression",
    "branch closure reduced inline",
    "slice s![.., a..b]",
    "slice s![a..b, ..]",
    "slice s![a..b, c..d]",
    "slice with an index (rank 1)",
    "slice with a negative index",
    "slice of a vector",
    "slice with a step",
    "row(i)",
    "column(j)",
    "index from the shape (nrows(), ncols())",
    "index_axis(Axis(0), i)",
    "index_axis(Axis(1), i)",
    "slice_axis(Axis(0), Slice::from(..))",
    "slice_axis(Axis(1), Slice::from(..))",
    "slice_axis of a vector",
    "part bound as a view",
    "part used inline",
    "select(Axis(0), ..)",
    "select(Axis(1), ..)",
    "select with a repeated index",
    "select(.., &[..]) of a list written in the call",
    "select(.., &idx) of a local index list",
    "select(Axis(0), y) at the labels",
    "concatenate(Axis(0)) of matrices",
    "concatenate(Axis(1)) of matrices",
    "concatenate(Axis(0)) of vectors",
    "stack(Axis(0)) of vectors",
    "stack(Axis(1)) of vectors",
    "stack(..) of rows of a matrix",
    "concatenate or stack of an array with itself",
    "concatenate or stack by its path",
    "var_axis(Axis(0), 0.0)",
    "var_axis(Axis(0), 1.0)",
    "var_axis(Axis(1), 0.0)",
    "var_axis(Axis(1), 1.0)",
    "std_axis(Axis(0), 0.0)",
    "std_axis(Axis(0), 1.0)",
    "std_axis(Axis(1), 0.0)",
    "std_axis(Axis(1), 1.0)",
    "var_axis or std_axis, insert_axis",
    "normalisation by var_axis plus a constant",
    "to_shape(..)",
    "into_shape_with_order of an owned parameter (moved)",
    "into_shape_with_order of an expression",
    "reshape to a vector",
    "reshape of a vector to a matrix",
    "reshape of a matrix to another shape",
    "Array3: index_axis",
    "Array3: slice s![.., i, ..]",
    "Array3: to_shape((t * n, d))",
    "Array3: to_shape from its dim()",
    "Array3: sum_axis",
    "Array3: mean_axis",
    "Array3: var_axis",
    "jvp",
    "jvp with split(..)",
    "jvp with wrt(..)",
    "jvp of a program returning an array",
    "hvp",
    "hvp with split(..)",
    "hvp with wrt(..)",
    "hvp calling a program",
    "hvp of a program returning an array",
    "hvp with a loop",
    "hvp with a mapv closure with a branch",
    "hvp with max_axis",
    "hvp with pick",
];

/// Constructs behind a flag: listed in `CONSTRUCTS` only while the flag is on.
fn flagged_constructs() -> Vec<&'static str> {
    let mut v = Vec::new();
    if INLINE_TRANSPOSE {
        v.extend(["inline transpose (receiver)", "inline transpose (argument)"]);
    }
    if VIEW_AND_CLONE_LINES {
        v.extend(["view()", "clone()"]);
    }
    if VIEW_INSERT_AXIS {
        v.push("view().insert_axis of a vector");
    }
    if BREAK_AFTER_ARRAY_UPDATE {
        v.push("break guard after the array's update");
    }
    if CARRIED_COPY_OF_VIEW {
        v.push("carried array starts as a copy of a view");
    }
    if COPY_AS_THE_OUTPUT {
        v.push("output: a view made owned");
    }
    if SELECT_OF_AN_INDEX_ARRAY {
        v.push("select of an index array");
    }
    if CONSTANT_LAYER_OPERANDS {
        v.push("layer construct of a constant operand");
    }
    if PART_OF_AN_OWNED_ARRAY_AS_THE_OUTPUT {
        v.push("output: a part of an owned array");
    }
    if HVP_LANE_STATISTICS_OF_OWNED && HVP_LANE_STATISTICS_OF_VIEW {
        v.push("hvp with var_axis or std_axis");
    }
    if ARRAY_ARGUMENTS_BY_VALUE {
        v.extend([
            "argument: .view()",
            "argument: .clone()",
            "argument: .to_owned()",
            "argument: &v.to_owned() of a view",
        ]);
    }
    v
}

#[test]
fn every_construct_is_generated() {
    let count = |key: &str| {
        COVERAGE
            .iter()
            .find(|(k, _)| *k == key)
            .map_or(0, |(_, n)| *n)
    };
    let missing: Vec<&str> = CONSTRUCTS
        .iter()
        .copied()
        .chain(flagged_constructs())
        .filter(|k| count(k) == 0)
        .collect();
    assert!(
        missing.is_empty(),
        "the generator of tests/tensor_differential.rs does not produce: {missing:?}"
    );
}

/// A program with `split(g)` differentiates its call of `g` with `g_forward` and its closure,
/// never `g_backward`, unless the call passes an array the program owns by reference (`&h` of
/// a local, `&a` of an owned parameter, `&m.to_owned()` of a view, `h.view()` of a local):
/// such a call stays in joint mode, never `g_forward`.
#[test]
fn split_calls_go_through_the_callees_forward() {
    let sources = CASES
        .iter()
        .map(|c| (c.name, c.source, c.backward_source))
        .chain(
            OUT_CASES
                .iter()
                .map(|c| (c.name, c.source, c.backward_source)),
        );
    let mut split = 0;
    for (name, source, backward_source) in sources {
        let attribute = source.lines().next().unwrap_or_default();
        let Some((_, rest)) = attribute.split_once("split(") else {
            continue;
        };
        let callee = rest.split(')').next().unwrap_or_default();
        let call = source
            .lines()
            .find(|l| l.contains(&format!("= {callee}(")))
            .unwrap_or_else(|| panic!("{name}: no call of {callee}"));
        // (A call whose arguments are all outside `wrt` is not differentiated at all.)
        let backward = backward_source();
        let forward = backward.contains(&format!("{callee}_forward("));
        if call.contains(".view()") {
            // A view of a local array borrows it (joint mode), a view of a borrowed parameter
            // does not (split mode): either.
        } else if call.contains('&') {
            assert!(
                !forward,
                "{name} passes {callee} a reference to its own array, but its backward calls \
                 {callee}_forward:\n{backward}"
            );
        } else {
            assert!(
                !backward.contains(&format!("{callee}_backward(")),
                "{name} lists {callee} in split(..), but its backward calls {callee}_backward:\n{backward}"
            );
        }
        split += usize::from(forward);
    }
    assert!(split >= 3, "only {split} calls in split mode");
}

/// Points per program.
const POINTS: usize = 2;

/// Central differences with the step `h = scale · ε^(1/3) · max(1, |x|)`.
fn central(f: impl Fn(&[f64]) -> f64, at: &[f64], scale: f64) -> Vec<f64> {
    let mut q = at.to_vec();
    (0..at.len())
        .map(|i| {
            let h = scale * f64::EPSILON.cbrt() * at[i].abs().max(1.0);
            q[i] = at[i] + h;
            let up = f(&q);
            q[i] = at[i] - h;
            let down = f(&q);
            q[i] = at[i];
            (up - down) / (h + h)
        })
        .collect()
}

#[derive(Default)]
struct Report {
    programs: usize,
    points: usize,
    components: usize,
    checked: usize,
    skipped_kink: usize,
    backward_checked: usize,
    /// Programs that return an array.
    output_programs: usize,
    /// Points at which a program with `jvp` ran through its `f_jvp` in a random direction,
    /// and of the tangent components, those also checked against a central difference in
    /// that direction or skipped near a kink.
    jvp: Directional,
    /// The same for `f_hvp_tangent` of a program with `hvp` that returns an array.
    hvp_tangent: Directional,
    /// Points at which a program with `hvp` ran through its `f_hvp` in a random direction
    /// `v`, and of the components of `H·v`, those checked against central differences of
    /// `f_grad`'s gradient in the direction `v` or skipped near a kink; and the points at
    /// which `<u, H·v> = <v, H·u>` was checked for a second random direction `u`.
    hvp_runs: usize,
    hvp_components: usize,
    hvp_checked: usize,
    hvp_skipped_kink: usize,
    hvp_symmetry_checked: usize,
    failures: Vec<String>,
}

/// Counts of a directional check (`against_jvp`): the points, and the tangent components
/// checked against a central difference or skipped near a kink.
#[derive(Default)]
struct Directional {
    runs: usize,
    checked: usize,
    skipped_kink: usize,
}

/// Mixed into the points' seed for the tangents (a stream of its own: the other checks'
/// points are unchanged).
const TANGENT_SEED: u64 = 0x7A46_E000;

/// Mixed into the points' seed for the directions `v` and `u` of `f_hvp` (and the tangent of
/// `f_hvp_tangent`): a stream of its own, so the other checks' draws are unchanged.
const HVP_SEED: u64 = 0x4E55_1B00;

/// A random direction: a component in [-1, 1] for each differentiable float, zero for the
/// others.
fn tangent(rng: &mut Rng, floats: usize, active: &[usize]) -> Vec<f64> {
    let mut t = vec![0.0; floats];
    for &i in active {
        t[i] = rng.range(-1.0, 1.0);
    }
    t
}

/// The central differences of every output of `f` at `p` in the direction `t`, with the step
/// `ε^(1/3) · scale`.
fn central_directional(
    f: &dyn Fn(&[f64]) -> Vec<f64>,
    p: &[f64],
    t: &[f64],
    scale: f64,
) -> Vec<f64> {
    let h = scale * f64::EPSILON.cbrt();
    let moved = |s: f64| -> Vec<f64> { p.iter().zip(t).map(|(x, t)| x + s * t).collect() };
    let (up, down) = (f(&moved(h)), f(&moved(-h)));
    up.iter()
        .zip(&down)
        .map(|(u, d)| (u - d) / (h + h))
        .collect()
}

/// Checks `f_jvp`'s value and tangent (every output's) at `p` in the direction `t`: the value
/// is the function's, the tangent agrees with `<∇, t>` (`dot`, from the reverse pass, for one
/// output: the scalar's gradient, or `Jᵀ d_out` against `<d_out, J·t>`), and with central
/// differences in the direction `t` where those do not change when the step is divided by ten
/// (not near a kink), as the gradient's components.
#[allow(clippy::too_many_arguments)]
fn against_jvp(
    what: &str,
    f: &dyn Fn(&[f64]) -> Vec<f64>,
    p: &[f64],
    t: &[f64],
    (value, tangent): (Vec<f64>, Vec<f64>),
    (projection, dot): (&[f64], f64),
    report: &mut Directional,
    fail: &mut dyn FnMut(String),
) {
    report.runs += 1;
    let expected = f(p);
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    if bits(&value) != bits(&expected) {
        fail(format!(
            "{what}'s value {value:?} is not the function's {expected:?}"
        ));
    }
    if tangent.len() != expected.len() {
        fail(format!(
            "{what}'s tangent has {} components for {} outputs",
            tangent.len(),
            expected.len()
        ));
        return;
    }
    let projected: f64 = tangent.iter().zip(projection).map(|(a, b)| a * b).sum();
    if (projected - dot).abs() > 1e-9 * projected.abs().max(dot.abs()).max(1.0) {
        fail(format!(
            "{what}'s tangent {tangent:?} projects to {projected:?}, but the reverse pass says \
             <gradient, t> = {dot:?} (t = {t:?})"
        ));
    }
    let numeric = central_directional(f, p, t, 1.0);
    let fine = central_directional(f, p, t, 0.1);
    for (k, ((&a, &n), &n_fine)) in tangent.iter().zip(&numeric).zip(&fine).enumerate() {
        if backprop::relative_error(n, n_fine) > 1e-4 && (n - n_fine).abs() > 1e-9 {
            report.skipped_kink += 1;
            continue;
        }
        report.checked += 1;
        let error = backprop::relative_error(a, n);
        if error > 1e-6 && (a - n).abs() > 1e-8 {
            fail(format!(
                "{what}'s tangent component {k} is {a:?} but the central difference in the \
                 direction t = {t:?} says {n:?} (relative error {error:e})"
            ));
        }
    }
}

/// Checks `f_hvp` at `p` in the direction `v` (`hvp` runs it from a direction, at `p`): its
/// value is the function's `value`, bit for bit; its gradient is `f_grad`'s `grad` (to
/// `HVP_GRADIENT`); each component of `H·v` agrees with the central difference of `f_grad`'s
/// gradient (`gradient_at`, of all the floats) in the direction `v`, where that does not change
/// when the step is divided by ten (not near a kink), as the gradient's components; and
/// `<u, H·v> = <v, H·u>` for the second direction `u` (the Hessian is symmetric), to 1e-9 of
/// the sum of the products' magnitudes plus 1e-12.
#[allow(clippy::too_many_arguments)]
fn against_hvp(
    gradient_at: &dyn Fn(&[f64]) -> Vec<f64>,
    hvp: &dyn Fn(&[f64]) -> HvpRun,
    p: &[f64],
    (value, grad): (f64, &[f64]),
    active: &[usize],
    (v, u): (&[f64], &[f64]),
    report: &mut Report,
    fail: &mut dyn FnMut(String),
) {
    report.hvp_runs += 1;
    let (hvp_value, hvp_grad, hv) = hvp(v);
    if hvp_value.to_bits() != value.to_bits() {
        fail(format!(
            "f_hvp's value {hvp_value:?} is not the function's {value:?}"
        ));
    }
    if hvp_grad.len() != grad.len()
        || hvp_grad
            .iter()
            .zip(grad)
            .any(|(a, b)| (a - b).abs() > HVP_GRADIENT * a.abs().max(b.abs()).max(1.0))
    {
        fail(format!(
            "f_hvp's gradient {hvp_grad:?} is not f_grad's {grad:?}"
        ));
    }
    if hv.len() != active.len() {
        fail(format!(
            "f_hvp's H·v has {} components for {} differentiable floats",
            hv.len(),
            active.len()
        ));
        return;
    }
    let numeric = central_directional(gradient_at, p, v, 1.0);
    let fine = central_directional(gradient_at, p, v, 0.1);
    for (k, ((&a, &n), &n_fine)) in hv.iter().zip(&numeric).zip(&fine).enumerate() {
        report.hvp_components += 1;
        if backprop::relative_error(n, n_fine) > 1e-4 && (n - n_fine).abs() > 1e-9 {
            report.hvp_skipped_kink += 1;
            continue;
        }
        report.hvp_checked += 1;
        let error = backprop::relative_error(a, n);
        if error > 1e-6 && (a - n).abs() > 1e-8 {
            fail(format!(
                "f_hvp's H·v component {k} (flat index {}) is {a:?} but the central difference \
                 of f_grad's gradient in the direction v = {v:?} says {n:?} (relative error \
                 {error:e})",
                active[k]
            ));
        }
    }
    let (_, _, hu) = hvp(u);
    if hu.len() != active.len() {
        fail(format!(
            "f_hvp's H·u has {} components for {} differentiable floats",
            hu.len(),
            active.len()
        ));
        return;
    }
    report.hvp_symmetry_checked += 1;
    let inner = |a: &[f64], hb: &[f64]| -> (f64, f64) {
        active
            .iter()
            .zip(hb)
            .fold((0.0, 0.0), |(sum, size), (&i, h)| {
                (sum + a[i] * h, size + (a[i] * h).abs())
            })
    };
    let ((u_hv, u_size), (v_hu, v_size)) = (inner(u, &hv), inner(v, &hu));
    if (u_hv - v_hu).abs() > 1e-9 * u_size.max(v_size) + 1e-12 {
        fail(format!(
            "f_hvp is not symmetric: <u, H·v> = {u_hv:?} but <v, H·u> = {v_hu:?} (u = {u:?}, \
             v = {v:?})"
        ));
    }
}

/// What `f_hvp` gives at a point in a direction: the value, the gradient and `H·v`.
type HvpRun = (f64, Vec<f64>, Vec<f64>);

/// How far `f_hvp`'s gradient may be from `f_grad`'s, relative to the larger magnitude or 1.
/// Not 0: `f_hvp` computes the gradient in a pass of its own (the reverse pass of the tangent
/// function), whose rounding differs from `f_grad`'s in the last bits.
const HVP_GRADIENT: f64 = 1e-10;

fn check(case: &Case, index: usize, report: &mut Report) {
    let mut rng = Rng(0x7E45_0000 + index as u64 * 7919);
    let mut tangents = Rng(TANGENT_SEED + index as u64 * 7919);
    let mut directions = Rng(HVP_SEED + index as u64 * 7919);
    report.programs += 1;
    let active: Vec<usize> = case
        .active
        .iter()
        .flat_map(|&(start, len)| start..start + len)
        .collect();
    for point in 0..POINTS {
        let p: Vec<f64> = (0..case.floats).map(|_| rng.range(-1.5, 1.5)).collect();
        let (rows, classes) = case.labels;
        let y: Vec<usize> = (0..rows).map(|_| rng.below(classes)).collect();
        report.points += 1;
        let mut failures = Vec::new();
        let mut fail = |what: String| failures.push(what);
        let value = (case.value)(&p, &y);
        let (grad_value, grad) = (case.grad)(&p, &y);
        if grad_value.to_bits() != value.to_bits() {
            fail(format!(
                "f_grad's value {grad_value:?} is not the function's {value:?}"
            ));
        }
        if grad.len() != active.len() {
            fail(format!(
                "{} gradient components for {} differentiable floats",
                grad.len(),
                active.len()
            ));
        } else {
            if point == 0 {
                let sign = if rng.chance(0.5) { -1.0 } else { 1.0 };
                let d_out = sign * rng.range(0.5, 2.0);
                let (backward_value, backward) = (case.backward)(&p, &y, d_out);
                report.backward_checked += 1;
                if backward_value.to_bits() != value.to_bits() {
                    fail(format!(
                        "f_backward's value {backward_value:?} is not the function's {value:?}"
                    ));
                }
                for (j, (b, g)) in backward.iter().zip(&grad).enumerate() {
                    let expected = d_out * g;
                    if (b - expected).abs() > 1e-12 * expected.abs().max(1.0) {
                        fail(format!(
                            "f_backward component {j} with d_out = {d_out} is {b:?}, not d_out × {g:?}"
                        ));
                    }
                }
            }
            let f = |full: &[f64]| (case.value)(full, &y);
            against_central(&f, &p, &active, &grad, report, &mut fail);
            if let Some(jvp) = case.jvp {
                let t = tangent(&mut tangents, case.floats, &active);
                let (jvp_value, jvp_tangent) = jvp(&p, &y, &t);
                let dot: f64 = active.iter().zip(&grad).map(|(&i, g)| g * t[i]).sum();
                let f = |full: &[f64]| vec![(case.value)(full, &y)];
                against_jvp(
                    "f_jvp",
                    &f,
                    &p,
                    &t,
                    (vec![jvp_value], vec![jvp_tangent]),
                    (&[1.0], dot),
                    &mut report.jvp,
                    &mut fail,
                );
            }
            if let Some(hvp) = case.hvp {
                let v = tangent(&mut directions, case.floats, &active);
                let u = tangent(&mut directions, case.floats, &active);
                against_hvp(
                    &|full: &[f64]| (case.grad)(full, &y).1,
                    &|direction: &[f64]| hvp(&p, &y, direction),
                    &p,
                    (value, &grad),
                    &active,
                    (&v, &u),
                    report,
                    &mut fail,
                );
            }
        }
        for what in failures {
            report
                .failures
                .push(format!("{} at p = {p:?}, y = {y:?}: {what}", case.name));
        }
    }
}

/// Compares `grad`, the gradient of `f` (of all the floats, at `p`) with respect to the
/// floats `active`, with central differences, component by component; a component whose
/// central difference changes when the step is divided by ten is near a kink, and skipped.
fn against_central(
    f: &dyn Fn(&[f64]) -> f64,
    p: &[f64],
    active: &[usize],
    grad: &[f64],
    report: &mut Report,
    fail: &mut dyn FnMut(String),
) {
    let at: Vec<f64> = active.iter().map(|&i| p[i]).collect();
    let f = |q: &[f64]| {
        let mut full = p.to_vec();
        for (j, &i) in active.iter().enumerate() {
            full[i] = q[j];
        }
        f(&full)
    };
    let numeric = backprop::numeric_gradient(f, &at);
    let fine = central(f, &at, 0.1);
    for (j, ((&a, &n), &n_fine)) in grad.iter().zip(&numeric).zip(&fine).enumerate() {
        report.components += 1;
        if backprop::relative_error(n, n_fine) > 1e-4 && (n - n_fine).abs() > 1e-9 {
            report.skipped_kink += 1;
            continue;
        }
        report.checked += 1;
        let error = backprop::relative_error(a, n);
        if error > 1e-6 && (a - n).abs() > 1e-8 {
            fail(format!(
                "component {j} (flat index {}) is {a:?} but central differences say {n:?} \
                 (relative error {error:e})",
                active[j]
            ));
        }
    }
}

/// Checks a program that returns an array at `POINTS` random points, each with a random
/// upstream gradient `d_out` of the output's shape: `f_backward`'s and `f_forward`'s values
/// are the function's, their gradients agree, and agree with central differences of
/// `<d_out, f(p)>`.
fn check_output(case: &OutCase, index: usize, report: &mut Report) {
    let mut rng = Rng(0x7E45_0000 + index as u64 * 7919);
    let mut tangents = Rng(TANGENT_SEED + index as u64 * 7919);
    let mut directions = Rng(HVP_SEED + index as u64 * 7919);
    report.programs += 1;
    report.output_programs += 1;
    let active: Vec<usize> = case
        .active
        .iter()
        .flat_map(|&(start, len)| start..start + len)
        .collect();
    for _ in 0..POINTS {
        let p: Vec<f64> = (0..case.floats).map(|_| rng.range(-1.5, 1.5)).collect();
        report.points += 1;
        let value = (case.value)(&p);
        let d_out: Vec<f64> = value
            .iter()
            .map(|_| {
                let sign = if rng.chance(0.5) { -1.0 } else { 1.0 };
                sign * rng.range(0.5, 2.0)
            })
            .collect();
        let mut failures = Vec::new();
        let mut fail = |what: String| failures.push(what);
        let (backward_value, backward) = (case.backward)(&p, &d_out);
        let (forward_value, forward) = (case.forward)(&p, &d_out);
        report.backward_checked += 1;
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        for (what, got) in [
            ("f_backward's value", &backward_value),
            ("f_forward's value", &forward_value),
        ] {
            if bits(got) != bits(&value) {
                fail(format!("{what} {got:?} is not the function's {value:?}"));
            }
        }
        if backward.len() != active.len() || forward.len() != active.len() {
            fail(format!(
                "{} / {} gradient components for {} differentiable floats",
                backward.len(),
                forward.len(),
                active.len()
            ));
        } else {
            for (j, (f, b)) in forward.iter().zip(&backward).enumerate() {
                if (f - b).abs() > 1e-12 * b.abs().max(1.0) {
                    fail(format!(
                        "f_forward's closure gives {f:?} for component {j}, f_backward {b:?}"
                    ));
                }
            }
            let inner = |full: &[f64]| {
                (case.value)(full)
                    .iter()
                    .zip(&d_out)
                    .map(|(v, d)| v * d)
                    .sum::<f64>()
            };
            against_central(&inner, &p, &active, &backward, report, &mut fail);
            if let Some(jvp) = case.jvp {
                let t = tangent(&mut tangents, case.floats, &active);
                let dot: f64 = active.iter().zip(&backward).map(|(&i, g)| g * t[i]).sum();
                against_jvp(
                    "f_jvp",
                    &|full: &[f64]| (case.value)(full),
                    &p,
                    &t,
                    jvp(&p, &t),
                    (&d_out, dot),
                    &mut report.jvp,
                    &mut fail,
                );
            }
            if let Some(hvp_tangent) = case.hvp_tangent {
                let t = tangent(&mut directions, case.floats, &active);
                let dot: f64 = active.iter().zip(&backward).map(|(&i, g)| g * t[i]).sum();
                against_jvp(
                    "f_hvp_tangent",
                    &|full: &[f64]| (case.value)(full),
                    &p,
                    &t,
                    hvp_tangent(&p, &t),
                    (&d_out, dot),
                    &mut report.hvp_tangent,
                    &mut fail,
                );
            }
        }
        for what in failures {
            report.failures.push(format!(
                "{} at p = {p:?}, d_out = {d_out:?}: {what}",
                case.name
            ));
        }
    }
}

#[test]
fn random_tensor_programs_match_central_differences() {
    let mut report = Report::default();
    for (i, case) in CASES.iter().enumerate() {
        let before = report.failures.len();
        check(case, i, &mut report);
        if report.failures.len() > before {
            println!("--- {}, as generated:\n{}", case.name, case.source);
            println!(
                "--- its generated backward:\n{}\n",
                (case.backward_source)()
            );
        }
    }
    for (i, case) in OUT_CASES.iter().enumerate() {
        let before = report.failures.len();
        check_output(case, CASES.len() + i, &mut report);
        if report.failures.len() > before {
            println!("--- {}, as generated:\n{}", case.name, case.source);
            println!(
                "--- its generated backward:\n{}\n",
                (case.backward_source)()
            );
        }
    }
    println!(
        "tensor differential: {} programs ({} of them return an array), {} points, {} gradient \
         components: {} checked against central differences, {} skipped near a kink; f_backward \
         checked at {} points",
        report.programs,
        report.output_programs,
        report.points,
        report.components,
        report.checked,
        report.skipped_kink,
        report.backward_checked,
    );
    let jvp_programs = CASES.iter().filter(|c| c.jvp.is_some()).count()
        + OUT_CASES.iter().filter(|c| c.jvp.is_some()).count();
    println!(
        "forward mode: {jvp_programs} programs with jvp, {} points through f_jvp in a random \
         direction, {} tangent components checked against central differences in that \
         direction ({} skipped near a kink), each against <gradient, t> of the reverse pass",
        report.jvp.runs, report.jvp.checked, report.jvp.skipped_kink,
    );
    let hvp_programs = CASES.iter().filter(|c| c.hvp.is_some()).count();
    let hvp_tangent_programs = OUT_CASES.iter().filter(|c| c.hvp_tangent.is_some()).count();
    println!(
        "second order: {hvp_programs} programs with hvp and a scalar output, {} points through \
         f_hvp in a random direction v, {} components of H·v: {} checked against central \
         differences of f_grad's gradient in that direction, {} skipped near a kink; symmetry \
         <u, H·v> = <v, H·u> checked at {} points; {hvp_tangent_programs} programs with hvp \
         that return an array, {} points through f_hvp_tangent, {} tangent components checked \
         against central differences ({} skipped near a kink)",
        report.hvp_runs,
        report.hvp_components,
        report.hvp_checked,
        report.hvp_skipped_kink,
        report.hvp_symmetry_checked,
        report.hvp_tangent.runs,
        report.hvp_tangent.checked,
        report.hvp_tangent.skipped_kink,
    );
    for failure in &report.failures {
        println!("MISMATCH {failure}");
    }
    assert!(
        report.failures.is_empty(),
        "{} mismatches (listed above with their programs)",
        report.failures.len()
    );
    assert!(report.programs >= 200, "only {} programs", report.programs);
    assert!(hvp_programs >= 30, "only {hvp_programs} programs with hvp");
    assert!(
        report.hvp_checked * 10 >= report.hvp_components * 9,
        "{} of {} components of H·v skipped",
        report.hvp_skipped_kink,
        report.hvp_components
    );
    // Kinks are rare: most components must be checked.
    assert!(
        report.checked * 10 >= report.components * 9,
        "{} of {} components skipped",
        report.skipped_kink,
        report.components
    );
}
