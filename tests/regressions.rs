//! Regressions found by the differential test (tests/differential.rs), each minimized to a
//! small function with its expected gradient (closed form or central differences).
#![allow(
    clippy::needless_range_loop,
    clippy::assign_op_pattern,
    clippy::unnecessary_cast
)]

mod b10_loop_carried_inactive_call {
    use backprop::backprop;
    #[backprop(wrt(x))]
    fn loop_carried_from_constant_call(x: f64, y: f64) -> f64 {
        let mut t = f64::sin(y);
        for _i in 0..2 {
            t += x;
        }
        t
    }
    #[test]
    fn t() {
        assert_eq!(loop_carried_from_constant_call_grad(0.3, 0.5).1, 2.0);
    }
}

mod b11_untyped_literal_path_call {
    use backprop::backprop;
    #[backprop]
    fn untyped_literal(x: f64) -> f64 {
        let mut t = 0.5;
        for _i in 0..2 {
            t += f64::atan2(t, x);
        }
        t
    }
    #[test]
    fn t() {
        let (_, dx) = untyped_literal_grad(0.3);
        backprop::assert_gradient!(|p: &[f64]| untyped_literal(p[0]), &[0.3], &dx);
    }
}

mod b3_call_arg {
    use backprop::backprop;
    #[backprop]
    fn inner(a: f64, b: f64) -> f64 {
        a * b
    }
    #[backprop(wrt(x))]
    fn constant_call_argument(x: f64, y: f64) -> f64 {
        inner(x, f64::sin(y))
    }
    #[test]
    fn t() {
        assert_eq!(constant_call_argument_grad(3.0, 0.5).1, 0.5f64.sin());
    }
}

mod b3_const_item_arg {
    use backprop::backprop;
    #[backprop]
    fn inner(a: f64, b: f64) -> f64 {
        a * b
    }
    #[backprop]
    fn const_item_argument(x: f64) -> f64 {
        const K: f64 = 0.5;
        inner(x, K)
    }
    #[test]
    fn t() {
        assert_eq!(const_item_argument_grad(3.0), (1.5, 0.5));
    }
}

mod b4_nested_if {
    use backprop::backprop;
    #[backprop]
    fn nested_branch(x: f64, y: f64) -> f64 {
        if x > 0.0 {
            let a = x * 2.0;
            let b = if y > 1.0 { a.exp() } else { x };
            b * 0.5
        } else {
            y
        }
    }
    #[test]
    fn t() {
        assert_eq!(nested_branch_grad(0.5, 2.0).1, (1.0f64.exp(), 0.0));
    }
}

mod b5_dynamic_index {
    use backprop::backprop;
    #[backprop]
    fn same_element(w: [f64; 2], n: usize) -> f64 {
        w[0] * 3.0 + w[n] * w[n]
    }
    #[test]
    fn t() {
        assert_eq!(same_element_grad([0.5, 2.0], 0).1, [4.0, 0.0]);
    }
}

#[allow(dead_code)] // the gate's backward is unused when its argument is a constant
mod b7_f32_typed_f64 {
    use backprop::backprop;
    fn softsign(x: f32) -> f32 {
        x / (1.0 + x.abs())
    }
    fn softsign_backward(x: f32, d: f32) -> (f32, f32) {
        let den = 1.0 + x.abs();
        (x / den, d / (den * den))
    }
    #[backprop(wrt(y))]
    fn f32_line_typed_f64(x: f32, y: f32) -> f32 {
        let mut g = softsign(x);
        g *= 2.0;
        let h = g * y;
        h as f32 * y
    }
    #[test]
    fn t() {
        let _ = f32_line_typed_f64_grad(0.5, 2.0);
    }
}

mod b7b_literal_mut_f32 {
    use backprop::backprop;
    #[backprop(wrt(x))]
    fn literal_accumulator(x: f32, z: f32) -> f32 {
        let mut s = 1.0;
        s += backprop::softplus(z);
        s * x
    }
    #[test]
    fn t() {
        assert!(
            (literal_accumulator_grad(2.0, 0.5).1 - (1.0 + backprop::softplus(0.5f32))).abs()
                < 1e-6
        );
    }
}

mod b8_loop_if_reassign {
    use backprop::backprop;
    #[backprop]
    fn loop_with_branch(x: f64) -> f64 {
        let mut s = x;
        for _i in 0..3 {
            s = (s * 0.6).sin();
            if x > 0.2 {
                s = (s * 0.6).sin();
            }
        }
        s
    }
    #[test]
    fn t() {
        let f = |x: f64| {
            let mut s = x;
            for _ in 0..3 {
                s = (s * 0.6).sin();
                if x > 0.2 {
                    s = (s * 0.6).sin();
                }
            }
            s
        };
        let h = 1e-6;
        let numeric = (f(0.7 + h) - f(0.7 - h)) / (2.0 * h);
        assert!((loop_with_branch_grad(0.7).1 - numeric).abs() < 1e-6);
    }
}

mod b9_element_before_and_in_loop {
    use backprop::backprop;
    #[backprop]
    fn element_in_and_before_loop(w: [f64; 2], x: f64) -> f64 {
        let mut s = w[1] * x;
        for _i in 0..2 {
            s += w[1];
        }
        s
    }
    #[test]
    fn t() {
        assert_eq!(
            element_in_and_before_loop_grad([1.0, 2.0], 0.5).1,
            ([0.0, 2.5], 2.0)
        );
    }
}

/// Programs the differential test found that `#[backprop]` does not compile (or compiles
/// with a warning in the generated code); the constants `BREAK_AFTER_CONTINUE` ..
/// `ANNOTATED_LEN_BUFFERS` (and `JVP_RETURN_IN_LOOPS` .. `JVP_CONSTANT_ARRAY_OUTPUT`, for
/// `#[backprop(jvp)]`) of tests/differential.rs keep them out of its generator. Each
/// test writes its program to a file and builds it with trybuild (`pass`: it must compile and
/// its `main`, which checks the gradient against central differences, must run). The fixed
/// ones run; the others are `#[ignore]`d until the macro is fixed (`cargo test --test
/// regressions -- --ignored`), and their generator constants stay off.
mod does_not_compile {
    /// Builds and runs `program` (the items of a file that has `use backprop::backprop;` and a
    /// `main` that calls `check()`), denying warnings.
    fn passes(name: &str, program: &str) {
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("regressions");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.rs"));
        let source = format!(
            "#![deny(warnings)]\n#![allow(clippy::all)]\nuse backprop::backprop;\n\n\
             /// Central differences of `f` at `x`.\n\
             #[allow(dead_code)]\n\
             fn numeric(f: impl Fn(f64) -> f64, x: f64) -> f64 {{\n    \
                 let h = 1e-6;\n    (f(x + h) - f(x - h)) / (2.0 * h)\n}}\n\n\
             #[allow(dead_code)]\n\
             fn close(a: f64, b: f64) -> bool {{\n    (a - b).abs() <= 1e-6 * a.abs().max(1.0)\n}}\n\n\
             {program}\nfn main() {{\n    check();\n}}\n"
        );
        std::fs::write(&path, source).unwrap();
        trybuild::TestCases::new().pass(&path);
    }

    /// `let mut h: Vec<f64> = vec![0.0; x.len()];` of a differentiated slice `x`: "a
    /// differentiated value must be `f32` or `f64`; remove the annotation" (the annotation is
    /// checked against the initializer, which mentions `x`, before the buffer is recognised).
    /// Without the annotation it compiles. Generator: `ANNOTATED_LEN_BUFFERS`.
    #[test]
    fn annotated_buffer_of_a_slice_length() {
        passes(
            "annotated_buffer_of_a_slice_length",
            r#"
#[backprop]
fn f(x: &[f64]) -> f64 {
    let mut h: Vec<f64> = vec![0.0; x.len()];
    for i in 0..x.len() {
        h[i] = x[i] * x[i];
    }
    h[0] + h[1]
}

fn check() {
    assert_eq!(f_grad(&[1.0, 2.0]).1, vec![2.0, 4.0]);
}
"#,
        );
    }

    /// Split mode: `split(g)` of a `g` that the function calls, but only where the macro
    /// differentiates nothing: in a condition, with constant arguments, or with arguments
    /// outside `wrt(..)`. The macro lowers those calls as constants and says "`split(g)`: this
    /// function calls no `#[backprop]` function `g`", although it does (and the same attribute
    /// is accepted or not depending on `wrt(..)`). Generator: `SPLIT_UNDIFFERENTIATED_CALLEES`.
    /// Fixed: the check looks for the name among the body's calls, differentiated or not.
    #[test]
    fn split_callee_called_only_where_nothing_is_differentiated() {
        passes(
            "split_callee_called_only_where_nothing_is_differentiated",
            r#"
#[backprop]
fn g(x: f64) -> f64 {
    x.tanh()
}

#[backprop(split(g))]
fn in_condition(x: f64) -> f64 {
    if g(x) > 0.0 { x * x } else { 2.0 * x }
}

#[backprop(split(g))]
fn constant_argument(x: f64) -> f64 {
    x * g(0.5)
}

#[backprop(wrt(x), split(g))]
fn outside_wrt(x: f64, y: f64) -> f64 {
    x * g(y)
}

fn check() {
    assert!(close(in_condition_grad(0.3).1, numeric(in_condition, 0.3)));
    assert!(close(in_condition_grad(-0.3).1, 2.0));
    assert!(close(constant_argument_grad(0.3).1, 0.5f64.tanh()));
    assert!(close(outside_wrt_grad(0.3, 0.7).1, 0.7f64.tanh()));
}
"#,
        );
    }

    /// Split mode: a split callee given a reference to an array the caller owns (`g(&b, x)` of
    /// a local buffer, `g(&w, x)` of a `Vec` parameter taken by value). The closure that
    /// `g_forward` returns borrows it: the caller's own `f_forward`, whose closure holds `g`'s,
    /// is "`b` does not live long enough ... borrowed for `'static`", and a write of the buffer
    /// after the call is "cannot borrow `b` as mutable because it is also borrowed as
    /// immutable" and "cannot move out of `b` because it is borrowed". In joint mode all three
    /// compile. Generator: `SPLIT_OWNED_ARRAY_ARGUMENTS`. Fixed: such a call stays in joint
    /// mode.
    #[test]
    fn split_callee_given_a_reference_to_an_owned_array() {
        passes(
            "split_callee_given_a_reference_to_an_owned_array",
            r#"
#[backprop]
fn g(w: &[f64], x: f64) -> f64 {
    w[0] * x + w[1]
}

#[backprop(split(g))]
fn local_buffer(x: f64) -> f64 {
    let mut b = vec![0.0; 2];
    b[0] = x * x;
    b[1] = x;
    g(&b, x)
}

#[backprop(split(g))]
fn vec_parameter(w: Vec<f64>, x: f64) -> f64 {
    g(&w, x)
}

#[backprop(split(g))]
fn written_after(x: f64) -> f64 {
    let mut b = vec![0.0; 2];
    b[0] = x * x;
    b[1] = x;
    let y = g(&b, x);
    b[1] = y * x;
    b[1] + y
}

fn check() {
    assert!(close(local_buffer_grad(0.3).1, 3.0 * 0.09 + 1.0));
    let (_, (dw, dx)) = vec_parameter_grad(vec![0.5, 0.2], 0.3);
    assert!(close(dw[0], 0.3) && close(dw[1], 1.0) && close(dx, 0.5));
    assert!(close(written_after_grad(0.3).1, numeric(written_after, 0.3)));
}
"#,
        );
    }

    /// A loop with a `break` guard whose body holds another loop: the reverse pass reads the
    /// inner loop's tape (`h_2_tape`) outside the forward loop that declares it. Generator:
    /// `BREAK_IN_LOOP_WITH_INNER_LOOPS`.
    #[test]
    fn inner_loop_in_a_loop_with_a_break_guard() {
        passes(
            "inner_loop_in_a_loop_with_a_break_guard",
            r#"
#[backprop]
fn f(x: f64) -> f64 {
    let mut h = x;
    for _k in 0..2 {
        for _i in 0..2 {
            h = (h * x).sin();
        }
        if h > 2.0 {
            break;
        }
    }
    h
}

fn check() {
    assert!(close(f_grad(0.3).1, numeric(f, 0.3)));
}
"#,
        );
    }

    /// The same with a `break` guard in the inner loop too: its `broke` and `trips` are read
    /// outside the forward loop. Generator: `BREAK_IN_LOOP_WITH_INNER_LOOPS`.
    #[test]
    fn breaking_loop_in_a_loop_with_a_break_guard() {
        passes(
            "breaking_loop_in_a_loop_with_a_break_guard",
            r#"
#[backprop]
fn f(x: f64) -> f64 {
    let mut h = x;
    for _k in 0..2 {
        for _i in 0..2 {
            h += x;
            if h > 0.5 {
                break;
            }
        }
        if h > 2.0 {
            break;
        }
    }
    h
}

fn check() {
    assert!(close(f_grad(0.3).1, numeric(f, 0.3)));
}
"#,
        );
    }

    /// A loop with a `break` guard in the arm of an `if` statement, at the top of the
    /// function: `broke` and `trips` are declared inside the forward `if` and read by the
    /// reverse of the arm after it. Generator: `NESTED_RECORDING_LOOPS`.
    #[test]
    fn recording_loop_in_an_if_arm() {
        passes(
            "recording_loop_in_an_if_arm",
            r#"
#[backprop]
fn f(x: f64, y: f64) -> f64 {
    let mut sum = x;
    if x > 0.0 {
        for _i in 0..3 {
            if sum > 1.0 {
                break;
            }
            sum += x;
        }
    }
    y + sum
}

fn check() {
    assert!(close(f_grad(0.3, 1.0).1.0, numeric(|x| f(x, 1.0), 0.3)));
}
"#,
        );
    }

    /// A loop with a `break` guard inside a loop whose reverse recomputes an iteration only as
    /// far as it needs values: the inner loop (no value of it needed) is not recomputed, but
    /// the reverse reads its `broke` and `trips`. Generator: `NESTED_RECORDING_LOOPS`.
    #[test]
    fn recording_loop_not_recomputed_in_a_loop() {
        passes(
            "recording_loop_not_recomputed_in_a_loop",
            r#"
#[backprop]
fn f(x: f64) -> f64 {
    let mut z = x;
    for i in 0..2 {
        z = (z * 0.9).atan();
        for _j in 0..2 {
            if i >= 1 {
                break;
            }
            z += x;
        }
    }
    z
}

fn check() {
    assert!(close(f_grad(0.5).1, numeric(f, 0.5)));
}
"#,
        );
    }

    /// A `while` loop in an `if` arm inside a loop: the reverse recomputes the arm as an `if`
    /// expression, which declares `trips` inside it, and reads `trips` outside. Generator:
    /// `NESTED_RECORDING_LOOPS`.
    #[test]
    fn recording_loop_in_an_if_arm_in_a_loop() {
        passes(
            "recording_loop_in_an_if_arm_in_a_loop",
            r#"
#[backprop]
fn f(x: f64, y: f64) -> f64 {
    let mut h = y;
    for _i in 0..2 {
        if y > 0.0 {
            let mut k = 0;
            while k < 2 && h < 3.0 {
                h += x;
                k += 1;
            }
        }
        h = (h * x).sin();
    }
    h
}

fn check() {
    assert!(close(f_grad(0.5, 1.0).1.0, numeric(|x| f(x, 1.0), 0.5)));
}
"#,
        );
    }

    /// In a loop fused with its reverse (its iterations only accumulate), a loop with a `break`
    /// guard after another loop: the breaking loop's reverse is emitted before the loop, and
    /// reads `broke` and `trips` before they exist. Generator: `NESTED_RECORDING_LOOPS`.
    #[test]
    fn recording_loop_after_a_loop_in_a_fused_loop() {
        passes(
            "recording_loop_after_a_loop_in_a_fused_loop",
            r#"
#[backprop]
fn f(x: f64) -> f64 {
    let mut h = x;
    let mut s = x;
    for _k in 0..2 {
        for _j in 0..2 {
            s += x;
        }
        for _j in 0..2 {
            if h > 1.0 {
                break;
            }
            h += x;
        }
    }
    h * s
}

fn check() {
    assert!(close(f_grad(0.3).1, numeric(f, 0.3)));
}
"#,
        );
    }

    /// A loop that only accumulates into `h`, then a loop that tapes `h`: the first loop's
    /// reverse is fused into its forward pass, which needs `d_h` after the second loop, so the
    /// second loop's reverse is emitted before the second loop and reads its tape before it
    /// exists. Old constructs only (two `for` loops on one variable). Generator:
    /// `LOOP_AFTER_LOOP_ON_A_VARIABLE`.
    #[test]
    fn loop_after_a_fused_accumulation_loop() {
        passes(
            "loop_after_a_fused_accumulation_loop",
            r#"
#[backprop]
fn f(x: f64) -> f64 {
    let mut h = x;
    for _i in 0..3 {
        h += x;
    }
    for _i in 0..2 {
        h = (h * 0.5).tanh();
    }
    h
}

fn check() {
    assert!(close(f_grad(0.5).1, numeric(f, 0.5)));
}
"#,
        );
    }

    /// The same with a `while` loop after the accumulation loop: its `trips` is read before the
    /// loop counts it. Generator: `LOOP_AFTER_LOOP_ON_A_VARIABLE`.
    #[test]
    fn while_loop_after_a_fused_accumulation_loop() {
        passes(
            "while_loop_after_a_fused_accumulation_loop",
            r#"
#[backprop]
fn f(x: f64) -> f64 {
    let mut h = x;
    for _i in 0..3 {
        h += x;
    }
    let mut steps = 0;
    while steps < 2 {
        h += x.sin();
        steps += 1;
    }
    h
}

fn check() {
    assert!(close(f_grad(0.5).1, numeric(f, 0.5)));
}
"#,
        );
    }

    /// A `Vec` buffer declared in a loop body, in a loop whose reverse is not fused: the
    /// reverse pass does not recompute the buffer (no value of it is needed) but sizes its
    /// gradient with `hs.len()`, out of scope. An array (`[0.0; 2]`) compiles. Generator:
    /// `VEC_SCRATCH_BUFFERS`.
    #[test]
    fn vec_scratch_buffer_in_a_loop() {
        passes(
            "vec_scratch_buffer_in_a_loop",
            r#"
#[backprop]
fn f(x: f64, y: f64) -> f64 {
    let mut b = y;
    for _i in 0..2 {
        b *= x;
        let mut hs = vec![0.0; 2];
        hs[0] = x * 0.9;
        b += hs[0] * 2.0;
    }
    b
}

fn check() {
    assert!(close(f_grad(0.5, 1.0).1.0, numeric(|x| f(x, 1.0), 0.5)));
}
"#,
        );
    }

    /// A call whose float arguments are all unsuffixed literals (`k(1.2)`) passed to another
    /// differentiated call: the macro takes `k(1.2)` for a constant of unknown type, not a
    /// float argument, and uses `g_backward(..).1` (the whole gradient tuple) as `x`'s
    /// gradient: "expected `f64`, found `(f64, f64)`". `k(1.2f64)` compiles. Generator:
    /// `CONSTANT_CALL_ARGUMENTS`.
    #[test]
    fn constant_call_as_a_call_argument() {
        passes(
            "constant_call_as_a_call_argument",
            r#"
#[backprop]
fn g(a: f64, b: f64) -> f64 {
    a * b
}

#[backprop]
fn k(a: f64) -> f64 {
    a.sin()
}

#[backprop]
fn f(x: f64) -> f64 {
    g(x, k(1.2))
}

fn check() {
    assert!(close(f_grad(0.5).1, 1.2f64.sin()));
}
"#,
        );
    }

    /// A value read only by a `break` guard's condition: the backward function drops the line
    /// that computes it, but its copy of the loop still tests it ("cannot find value `c`").
    /// Generator: `BREAK_CONDITION_ONLY_READER`.
    #[test]
    fn value_read_only_by_a_break_guard() {
        passes(
            "value_read_only_by_a_break_guard",
            r#"
#[backprop]
fn f(x: f64, y: f64) -> f64 {
    let mut b = x;
    let c = y.sin();
    for _i in 0..3 {
        b -= x * 0.1;
        if c < 0.2 {
            break;
        }
    }
    b
}

fn check() {
    assert!(close(f_grad(0.5, 1.0).1.0, 0.7));
}
"#,
        );
    }

    /// A per-iteration buffer in a loop in an `if` statement in the arm of an `if` value: the
    /// backward function recomputes a loop-carried value it never reads, and rustc warns
    /// "value assigned to `act_5` is never read" in the generated code (denied here).
    /// Generator: `SCRATCH_BUFFERS_IN_ARMS`.
    #[test]
    fn scratch_buffer_in_a_loop_in_an_arm() {
        passes(
            "scratch_buffer_in_a_loop_in_an_arm",
            r#"
#[backprop]
fn f(x: f64, y: f64, flag: bool) -> f64 {
    let mut act = x;
    let r = if flag {
        x
    } else {
        if y > 0.0 {
            for _i in 0..2 {
                act = (act * 0.25).sin();
                let mut buf = [0.0; 2];
                buf[0] = y * x;
                act += buf[0];
            }
        }
        y
    };
    r + act
}

fn check() {
    assert!(close(f_grad(0.5, 1.0, false).1.0, numeric(|x| f(x, 1.0, false), 0.5)));
}
"#,
        );
    }

    /// A `break` guard after a `continue` guard, both directly in the loop body (the
    /// `continue` guard lowers the rest of the body as a branch arm, where the `break` guard
    /// was no longer directly in the body; now it records `stopped` and the next iteration
    /// breaks first). Generator: `BREAK_AFTER_CONTINUE`.
    #[test]
    fn break_guard_after_a_continue_guard() {
        passes(
            "break_guard_after_a_continue_guard",
            r#"
#[backprop]
fn f(w: &[f64], x: f64) -> f64 {
    let mut s = x;
    for i in 0..w.len() {
        if w[i] < 0.0 {
            continue;
        }
        if s > 2.0 {
            break;
        }
        s += w[i] * s.sin();
    }
    s
}

fn check() {
    let w = [1.0, -1.0, 0.5];
    assert!(close(f_grad(&w, 0.5).1.1, numeric(|x| f(&w, x), 0.5)));
}
"#,
        );
    }

    /// Found by `tests/tensor_differential.rs`: a `mapv` closure on a constant array (`m`
    /// outside `wrt`) whose parameter `v` shadows the differentiated parameter `v`. The closure's
    /// `v` was read as the parameter, so the line was lowered as array operations on `m`:
    /// "no method named `min` found for `&ArrayBase`" (`m.min(-0.25)`), and "cannot multiply
    /// `ArrayView` by `ArrayView`" for `a.mapv(|v| v * v)` of a view. Fixed in 5b2232e (a
    /// closure's parameter shadows the function's names). Generator:
    /// `CLOSURE_SHADOWING_ON_CONSTANT` of tests/tensor_differential.rs.
    #[test]
    fn closure_parameter_shadowing_a_differentiated_parameter() {
        passes(
            "closure_parameter_shadowing_a_differentiated_parameter",
            r#"
use backprop::ndarray::{Array1, Array2, ArrayView2, array};

#[backprop(wrt(v))]
fn f(m: &Array2<f64>, v: &Array1<f64>) -> f64 {
    let p = m.mapv(|v| v.min(-0.25));
    p.sum() * v.sum()
}

#[backprop(wrt(v))]
fn g(a: ArrayView2<f64>, v: &Array1<f64>) -> f64 {
    let p = a.mapv(|v| v * v);
    p.sum() * v.sum()
}

fn check() {
    let m = array![[0.5, -1.0], [0.1, -0.3]];
    let v = array![0.2, 0.7];
    let (_, dv) = f_grad(&m, &v);
    let expected = m.mapv(|e| e.min(-0.25)).sum();
    assert!(dv.iter().all(|&d| close(d, expected)));
    let (_, dv) = g_grad(m.view(), &v);
    let expected = m.mapv(|e| e * e).sum();
    assert!(dv.iter().all(|&d| close(d, expected)));
}
"#,
        );
    }

    /// Found by `tests/differential.rs` (the programs that return an array): a returned
    /// buffer whose element is read and then updated in place (`r[0] += r[0].sin();`, or `let
    /// z = r[0].sin(); r[0] -= z;`). The reverse pass assigns the read's gradient to the
    /// upstream gradient's element (`d_out[0] = r[0].cos() * d_r_sin;`) where it must add to
    /// it: the upstream gradient that the update passes through is lost, and `f_backward(x,
    /// [1.0])` gives `cos x` for `1 + cos x` (`f_forward`'s closure too). The same lines with
    /// the scalar output `r[0]` are right. Fixed: no element of a returned buffer's gradient
    /// is taken to be zero. Generator: `OUTPUT_REWRITTEN` of tests/differential.rs.
    #[test]
    fn returned_buffer_updated_after_a_read() {
        passes(
            "returned_buffer_updated_after_a_read",
            r#"
#[backprop]
fn f(x: f64) -> [f64; 1] {
    let mut r = [0.0; 1];
    r[0] = x;
    r[0] += r[0].sin();
    r
}

#[backprop]
fn g(x: f64) -> [f64; 2] {
    let mut r = [0.0; 2];
    r[0] = x * x;
    r[1] = x;
    let z = r[0].sin();
    r[0] -= z;
    r
}

fn check() {
    let x = 0.7;
    assert!(close(f_backward(x, [1.0]).1, 1.0 + x.cos()));
    let (_, reverse) = f_forward(x);
    assert!(close(reverse([1.0]), 1.0 + x.cos()));
    let inner = |x: f64| {
        let r = g(x);
        0.5 * r[0] + 2.0 * r[1]
    };
    assert!(close(g_backward(x, [0.5, 2.0]).1, numeric(inner, x)));
}
"#,
        );
    }

    /// Found by `tests/differential.rs` (the programs that return an array): a returned `Vec`
    /// that the reverse pass restores (an element overwritten after it was read, `r[0] =
    /// r[0].sin();`). `f_forward`'s closure restores the old values into a copy of the buffer
    /// that is not `mut` (`let r = r.clone(); move |mut d_out| { .. r[0] = r_tape.pop(); ..
    /// }`): "cannot borrow `r` as mutable, as it is not declared as mutable". An `[f64; 1]`
    /// output compiles (the closure moves the `mut` array). Fixed: the copy is `mut`.
    /// Generator: `VEC_OUTPUT_REWRITTEN` of tests/differential.rs.
    #[test]
    fn returned_vec_restored_by_the_reverse_pass() {
        passes(
            "returned_vec_restored_by_the_reverse_pass",
            r#"
#[backprop]
fn f(x: f64) -> Vec<f64> {
    let mut r = vec![0.0; 1];
    r[0] = x;
    r[0] = r[0].sin();
    r
}

fn check() {
    let x = 0.7;
    let (value, dx) = f_backward(x, vec![1.0]);
    assert!(close(value[0], x.sin()) && close(dx, x.cos()));
    let (value, reverse) = f_forward(x);
    assert!(close(value[0], x.sin()) && close(reverse(vec![1.0]), x.cos()));
}
"#,
        );
    }

    /// Found by `tests/differential.rs` (the programs that bind arrays that calls return):
    /// split mode keeps a call in joint mode (`g_backward`) when it passes, by value, an array
    /// the function owns that has no gradient (`g(x, h)` of `let h: [f64; 2] = arr(0.5,
    /// 0.25);`, of a buffer written with constants, of an `[f64; 2]` parameter outside
    /// `wrt(..)`). By the README only a reference to an owned array keeps a call joint (an
    /// array by value is the callee's own copy, and such a call is split when the array has a
    /// gradient): the gradient is right, but `g`'s forward pass runs twice. Generator:
    /// `SPLIT_CONSTANT_ARRAY_ARGUMENTS` of tests/differential.rs. Fixed: a constant array keeps
    /// a call joint only when it is passed by reference (`&h`, a temporary `&[1.0, 2.0]`).
    #[test]
    fn split_call_given_a_constant_array_by_value() {
        passes(
            "split_call_given_a_constant_array_by_value",
            r#"
#[backprop]
fn g(x: f64, w: [f64; 2]) -> f64 {
    x * w[0] + w[1]
}

#[backprop]
fn arr(a: f64, b: f64) -> [f64; 2] {
    [a * b, a]
}

#[backprop(split(g))]
fn call_result(x: f64) -> f64 {
    let h: [f64; 2] = arr(0.5, 0.25);
    g(x, h)
}

#[backprop(split(g))]
fn constant_buffer(x: f64) -> f64 {
    let mut b = [0.0; 2];
    b[0] = 0.5;
    b[1] = 0.25;
    g(x, b)
}

#[backprop(wrt(x), split(g))]
fn parameter_outside_wrt(x: f64, w: [f64; 2]) -> f64 {
    g(x, w)
}

fn check() {
    assert!(close(call_result_grad(0.3).1, 0.125));
    assert!(close(constant_buffer_grad(0.3).1, 0.5));
    assert!(close(parameter_outside_wrt_grad(0.3, [0.5, 0.25]).1, 0.5));
    for source in [
        call_result_backward_source(),
        constant_buffer_backward_source(),
        parameter_outside_wrt_backward_source(),
    ] {
        assert!(source.contains("g_forward(") && !source.contains("g_backward("), "{source}");
    }
}
"#,
        );
    }

    /// Found by `tests/tensor_differential.rs` (the programs that call programs returning
    /// arrays): an array passed by value to a callee's `Array2<f64>` or `ArrayView2<f64>`
    /// parameter (`go(z)` of a local, `go(a)` of an owned parameter, `gv(m)` of a view
    /// parameter, `go(a.to_owned())`, `gv(a.view())`), or a copy made in the argument by
    /// reference (`gr(&m.to_owned())` of a view). The generated code passes a reference to the
    /// variable instead (`go(&z)`, `go_backward(a, d_h)`, `gr(&m)`): "expected
    /// `ArrayBase<OwnedRepr<f64>, ..>`, found `&ArrayBase<OwnedRepr<f64>, ..>`". A reference
    /// parameter given `&z` or a reference compiles. Generator: `ARRAY_ARGUMENTS_BY_VALUE` of
    /// tests/tensor_differential.rs. Fixed: a call keeps how the user passed each array
    /// (`rules::Pass`): by value as a copy (`go(z.to_owned())`, moved at its last reader in the
    /// reverse pass), a view as itself, `a.view()` as written, `&m.to_owned()` of a view.
    #[test]
    fn array_argument_by_value() {
        passes(
            "array_argument_by_value",
            r#"
use backprop::ndarray::{Array2, ArrayView2, array};

#[backprop]
fn go(a: Array2<f64>) -> Array2<f64> {
    a.tanh()
}

#[backprop]
fn gv(a: ArrayView2<f64>) -> Array2<f64> {
    a.tanh()
}

#[backprop]
fn gr(a: &Array2<f64>) -> Array2<f64> {
    a.tanh()
}

#[backprop]
fn moved(a: &Array2<f64>) -> f64 {
    let z = a * 2.0;
    let h: Array2<f64> = go(z);
    h.sum()
}

#[backprop]
fn owned_parameter(a: Array2<f64>) -> f64 {
    let h: Array2<f64> = go(a);
    h.sum()
}

#[backprop]
fn view_parameter(m: ArrayView2<f64>) -> f64 {
    let h: Array2<f64> = gv(m);
    h.sum()
}

#[backprop]
fn copied(a: &Array2<f64>) -> f64 {
    let h: Array2<f64> = go(a.to_owned());
    let k: Array2<f64> = gv(a.view());
    h.sum() + k.sum()
}

#[backprop]
fn copy_of_a_view(m: ArrayView2<f64>) -> f64 {
    let h: Array2<f64> = gr(&m.to_owned());
    h.sum()
}

fn check() {
    let a = array![[0.1, 0.2], [0.3, -0.4]];
    let dtanh = |x: f64| 1.0 - x.tanh() * x.tanh();
    let (_, d) = moved_grad(&a);
    assert!(d.iter().zip(&a).all(|(&d, &x)| close(d, 2.0 * dtanh(2.0 * x))));
    for d in [
        owned_parameter_grad(a.clone()).1,
        view_parameter_grad(a.view()).1,
        copy_of_a_view_grad(a.view()).1,
    ] {
        assert!(d.iter().zip(&a).all(|(&d, &x)| close(d, dtanh(x))));
    }
    let (_, d) = copied_grad(&a);
    assert!(d.iter().zip(&a).all(|(&d, &x)| close(d, 2.0 * dtanh(x))));
}
"#,
        );
    }

    /// Found by `tests/tensor_differential.rs` (the programs that return arrays): an
    /// `insert_axis` of an owned array as the value (`x.sum_axis(Axis(0)).insert_axis(Axis(0))`,
    /// or a local bound to it). The generated code computes it as a view
    /// (`z_sum_axis.view().insert_axis(Axis(0))`) and returns it where the signature says
    /// `Array2<f64>`: "expected `ArrayBase<OwnedRepr<f64>, ..>`, found
    /// `ArrayBase<ViewRepr<&f64>, ..>`". (`&z * 2.0` of the same local compiles.) Generator:
    /// `INSERT_AXIS_OUTPUT` of tests/tensor_differential.rs. Fixed: a view output is copied
    /// out (`out.to_owned()`).
    #[test]
    fn insert_axis_as_the_output() {
        passes(
            "insert_axis_as_the_output",
            r#"
use backprop::ndarray::{Array2, Axis, array};

#[backprop]
fn inline(x: &Array2<f64>) -> Array2<f64> {
    x.sum_axis(Axis(0)).insert_axis(Axis(0))
}

#[backprop]
fn local(x: &Array2<f64>) -> Array2<f64> {
    let z = x.sum_axis(Axis(0)).insert_axis(Axis(0));
    z
}

fn check() {
    let x = array![[0.1, 0.2], [0.3, -0.4]];
    let d_out = array![[1.0, -2.0]];
    // Each column's sum: the upstream of its column, in every row.
    let expected = array![[1.0, -2.0], [1.0, -2.0]];
    for (value, d) in [inline_backward(&x, d_out.clone()), local_backward(&x, d_out.clone())] {
        assert_eq!(value, x.sum_axis(Axis(0)).insert_axis(Axis(0)));
        assert_eq!(d, expected);
    }
}
"#,
        );
    }

    /// Found by `tests/tensor_differential.rs` (the programs that return arrays): a copy of an
    /// array as the value (`a.t().to_owned()`, `m.to_owned()` of a view parameter, `a.clone()`
    /// of a reference parameter). The generated code drops the copy and returns the view or
    /// the reference (`let out_t = z.t(); .. (out_t, d_a)`): "expected
    /// `ArrayBase<OwnedRepr<f64>, ..>`, found `ArrayBase<ViewRepr<&f64>, ..>`". Generator:
    /// `COPY_AS_THE_OUTPUT` of tests/tensor_differential.rs. Fixed: a view or a parameter as
    /// the output is copied out.
    #[test]
    fn copy_as_the_output() {
        passes(
            "copy_as_the_output",
            r#"
use backprop::ndarray::{Array2, ArrayView2, array};

#[backprop]
fn transposed(a: &Array2<f64>) -> Array2<f64> {
    a.t().to_owned()
}

#[backprop]
fn of_a_view(m: ArrayView2<f64>) -> Array2<f64> {
    m.to_owned()
}

#[backprop]
fn cloned(a: &Array2<f64>) -> Array2<f64> {
    a.clone()
}

fn check() {
    let a = array![[0.1, 0.2], [0.3, -0.4]];
    let d_out = array![[1.0, 2.0], [3.0, 4.0]];
    let (value, d) = transposed_backward(&a, d_out.clone());
    assert_eq!(value, a.t());
    assert_eq!(d, d_out.t());
    let (value, d) = of_a_view_backward(a.view(), d_out.clone());
    assert_eq!((value, d), (a.clone(), d_out.clone()));
    let (value, d) = cloned_backward(&a, d_out.clone());
    assert_eq!((value, d), (a.clone(), d_out));
}
"#,
        );
    }

    /// Found by `tests/tensor_differential.rs` (the programs that call programs returning
    /// arrays, where a call's result outside `wrt` is a constant): `max`, `min` or `clamp` in a
    /// `mapv` closure with a differentiated bound, of a constant array read again later. The
    /// generated code moves the array into the line to keep it for the bound's gradient (`let
    /// m_array = h;`): "borrow of moved value: `h`" at the later read. Generator:
    /// `DIFFERENTIATED_BOUND_OF_CONSTANT_ARRAY` of tests/tensor_differential.rs. Fixed: the
    /// line borrows it (`let m_array = &h;`).
    #[test]
    fn differentiated_bound_of_a_constant_array() {
        passes(
            "differentiated_bound_of_a_constant_array",
            r#"
use backprop::ndarray::{Array2, array};

#[backprop(wrt(s))]
fn f(a: &Array2<f64>, s: f64) -> f64 {
    let h = a.tanh();
    let m = h.mapv(|v| v.max(s));
    m.sum() + h.sum()
}

fn check() {
    let a: Array2<f64> = array![[0.1, 0.2], [0.3, -0.4]];
    let s = 0.15;
    // d/ds of the sum of max(h, s): the number of elements below s.
    let below = a.iter().filter(|&&x| x.tanh() < s).count() as f64;
    assert!(close(f_grad(&a, s).1, below));
}
"#,
        );
    }

    /// Found by `tests/tensor_differential.rs`: a constant array computed by arithmetic
    /// (`let c = b * 2.0;`, `b` outside `wrt`) and read by borrow is moved by the generated
    /// code: `w.dot(&c)` is "mismatched types: expected `&_`, found `ArrayBase`", a second read
    /// (`w - &c` after `w + &c`) and a read in a loop body are "use of moved value: `c`". (A
    /// constant `b.tanh()` compiled.) The type of a constant's arithmetic was its borrowed
    /// operand's (`&Array1`), not a new array's; fixed. Generator: `CONSTANT_ARITHMETIC_LINES`
    /// of tests/tensor_differential.rs.
    #[test]
    fn constant_arithmetic_array_read_by_borrow() {
        passes(
            "constant_arithmetic_array_read_by_borrow",
            r#"
use backprop::ndarray::{Array1, Array2, Axis, array};

#[backprop(wrt(w))]
fn dot_argument(w: &Array2<f64>, b: &Array1<f64>) -> f64 {
    let c = b * 2.0;
    w.dot(&c).sum()
}

#[backprop(wrt(w))]
fn read_twice(w: &Array2<f64>, b: &Array1<f64>) -> f64 {
    let c = b * 2.0;
    let g = w + &c;
    let k = w - &c;
    (g * k).sum()
}

#[backprop(wrt(wh))]
fn read_in_a_loop(wh: &Array2<f64>, state: &Array1<f64>) -> f64 {
    let c = state * 2.0;
    let mut h = wh.sum_axis(Axis(0));
    for _ in 0..2 {
        h = h.dot(wh) + &c;
    }
    h.sum()
}

fn check() {
    let w = array![[0.5, -1.0], [0.1, -0.3]];
    let b = array![0.2, 0.7];
    let (_, dw) = dot_argument_grad(&w, &b);
    let expected = array![[0.4, 1.4], [0.4, 1.4]];
    assert!(dw.iter().zip(&expected).all(|(&d, &e)| close(d, e)));
    let (_, dw) = read_twice_grad(&w, &b);
    assert!(dw.iter().zip(&w).all(|(&d, &x)| close(d, 2.0 * x)));
    let (_, dwh) = read_in_a_loop_grad(&w, &b);
    let at = |e: f64| {
        let mut wh = w.clone();
        wh[[1, 0]] = e;
        read_in_a_loop(&wh, &b)
    };
    assert!(close(dwh[[1, 0]], numeric(at, w[[1, 0]])));
}
"#,
        );
    }

    /// Found by `tests/tensor_differential.rs` (the layer programs): `select` with its indices
    /// in an array, written in the call (`a.select(Axis(0), &[1, 0, 1])`) or bound first (`let
    /// idx = [1, 1];` then `&idx`). The generated backward borrows the indices again,
    /// `select_grad(.., &&[1, 0, 1], ..)`, which is no `&[usize]`: "expected `&[usize]`, found
    /// `&&[{integer}; 3]`". (A `Vec`, `&vec![1, 0, 1]`, and a slice such as the labels compile:
    /// `&&Vec<usize>` and `&&[usize]` coerce.) Generator: `SELECT_OF_AN_INDEX_ARRAY` of
    /// tests/tensor_differential.rs. Fixed: `select_grad` takes its indices as `impl
    /// AsRef<[usize]>`, so one borrow more does no harm.
    #[test]
    fn select_with_an_index_array() {
        passes(
            "select_with_an_index_array",
            r#"
use backprop::ndarray::{Array2, Axis, array};

#[backprop]
fn literal(a: &Array2<f64>) -> f64 {
    a.select(Axis(0), &[1, 0, 1]).sum()
}

#[backprop]
fn local(a: &Array2<f64>) -> f64 {
    let idx = [1, 1];
    (a.select(Axis(1), &idx) * 2.0).sum()
}

fn check() {
    let a = array![[0.1, 0.2], [0.3, -0.4]];
    // Row 1 is picked twice: its gradient adds up.
    let (_, d) = literal_grad(&a);
    assert_eq!(d, array![[1.0, 1.0], [2.0, 2.0]]);
    let (_, d) = local_grad(&a);
    assert_eq!(d, array![[0.0, 4.0], [0.0, 4.0]]);
}
"#,
        );
    }

    /// Found by `tests/tensor_differential.rs` (the layer programs): the macro does not know
    /// the type of a constant's part, `select`, `var_axis`, `std_axis`, reshape, `concatenate`
    /// or `stack` (outside `wrt`, or of constants only; `row` and `column` it knows), and takes
    /// it to be a float: `h.dot(k)` of `let h = x.index_axis(Axis(0), 1);` is "`dot` is an
    /// array method, but its receiver is taken to be a float", and `(&z * s).sum()` of a
    /// constant `concatenate` the same for `sum`; a part of a constant local read later, `let
    /// p = c.slice(s![.., 0..1]);` of `let c = k.tanh();`, is "cannot move out of `c` because
    /// it is borrowed" (and "cannot return value referencing local variable `c`"). Generator:
    /// `CONSTANT_LAYER_OPERANDS` of tests/tensor_differential.rs. Fixed: `constant_ty` knows
    /// them (a slice's rank from its `s![..]`, a reshape's from its shape).
    #[test]
    fn constant_operands_of_layer_operations() {
        passes(
            "constant_operands_of_layer_operations",
            r#"
use backprop::ndarray::{Array1, Array2, Axis, array, concatenate, s};

#[backprop(wrt(k))]
fn part_of_a_constant(x: &Array2<f64>, k: &Array1<f64>) -> f64 {
    let h = x.index_axis(Axis(0), 1);
    h.dot(k)
}

#[backprop(wrt(s))]
fn constant_concatenation(a: &Array2<f64>, s: f64) -> f64 {
    let z = concatenate(Axis(1), &[a.view(), a.view()]).unwrap();
    (&z * s).sum()
}

#[backprop(wrt(a))]
fn part_of_a_constant_local(a: &Array2<f64>, k: &Array2<f64>) -> f64 {
    let c = k.tanh();
    let p = c.slice(s![.., 0..1]);
    (a * &p).sum()
}

fn check() {
    let x = array![[0.1, 0.2], [0.3, -0.4]];
    let k = array![0.5, 2.0];
    // d/dk of x[1] · k is x[1].
    let (_, d) = part_of_a_constant_grad(&x, &k);
    assert!(close(d[0], 0.3) && close(d[1], -0.4));
    // d/ds of the sum of s · [a, a]: twice the sum of a.
    assert!(close(constant_concatenation_grad(&x, 1.5).1, 2.0 * x.sum()));
    // d/da of the sum of a ∘ tanh(k[:, 0..1]) (broadcast along the rows): tanh(k[i, 0]).
    let (_, d) = part_of_a_constant_local_grad(&x, &x);
    for i in 0..2 {
        for j in 0..2 {
            assert!(close(d[[i, j]], x[[i, 0]].tanh()));
        }
    }
}
"#,
        );
    }

    /// Found by `tests/differential.rs` (forward mode, the programs from `RETURN_FROM` on): a
    /// `return` guard in a loop body. `f_jvp` reads the flag that says whether the loop
    /// returned (`broke`; `broke_1`, .. of more loops) and never declares it: "cannot find
    /// value `broke` in this scope". `f_grad` compiles. Generator: `JVP_RETURN_IN_LOOPS` of
    /// tests/differential.rs. Fixed: `f_jvp`'s loops record their break as the forward pass's do.
    #[test]
    fn jvp_return_in_a_loop() {
        passes(
            "jvp_return_in_a_loop",
            r#"
#[backprop(jvp)]
fn f(x: f64) -> f64 {
    for _i in 0..3 {
        if x > 1.0 {
            return x * x;
        }
    }
    x * 2.0
}

fn check() {
    // Returned from the loop (2x), and not (2).
    for (x, slope) in [(1.5, 3.0), (0.5, 2.0)] {
        let (value, tangent) = f_jvp(x, 0.5);
        assert_eq!(value, f(x));
        assert!(close(tangent, 0.5 * slope) && close(tangent, 0.5 * numeric(f, x)));
    }
}
"#,
        );
    }

    /// Found by `tests/differential.rs` (forward mode): a reference parameter without a
    /// gradient (outside `wrt(..)`) passed as it is to a differentiated call, `g(w, x)` of `w:
    /// &[f64; 2]` or `w: &[f64]`. The zero tangent that `f_jvp` passes for it is an array,
    /// not a reference (`g_jvp(w, x, [0.0; 2], t_x)`, `vec![0.0; w.len()]`): "expected
    /// `&[f64; 2]`, found `[{float}; 2]`" and "expected `&[f64]`, found `Vec<{float}>`". A
    /// constant array passed by value or as `&w` compiles. Generator:
    /// `JVP_CONSTANT_REFERENCE_ARGUMENTS` of tests/differential.rs. Fixed: the zero tangent of a
    /// reference parameter is a reference.
    #[test]
    fn jvp_constant_reference_argument() {
        passes(
            "jvp_constant_reference_argument",
            r#"
#[backprop(jvp)]
fn g(w: &[f64; 2], x: f64) -> f64 {
    w[0] * x + w[1]
}

#[backprop(jvp)]
fn gs(w: &[f64], x: f64) -> f64 {
    w[0] * x + w[1]
}

#[backprop(wrt(x), jvp)]
fn array_reference(w: &[f64; 2], x: f64) -> f64 {
    g(w, x)
}

#[backprop(wrt(x), jvp)]
fn slice(w: &[f64], x: f64) -> f64 {
    gs(w, x)
}

fn check() {
    let w = [0.5, 0.25];
    let (value, tangent) = array_reference_jvp(&w, 0.3, 2.0);
    assert!(close(value, 0.4) && close(tangent, 1.0));
    let (value, tangent) = slice_jvp(&w, 0.3, 2.0);
    assert!(close(value, 0.4) && close(tangent, 1.0));
}
"#,
        );
    }

    /// Found by `tests/differential.rs` (forward mode, the programs that return arrays): an
    /// array literal without a gradient as the value (`[a, 2.0 * a]` or `vec![a, 2.0 * a]` of
    /// `let a = x.round();`). `f_jvp` returns the zero tangent `0.0` where the signature says
    /// `[f64; 2]` or `Vec<f64>`: "expected `[f64; 2]`, found floating-point number". A
    /// returned buffer without a gradient compiles. Generator: `JVP_CONSTANT_ARRAY_OUTPUT` of
    /// tests/differential.rs. Fixed: the zero tangent of a value without a gradient is of the
    /// output's type.
    #[test]
    fn jvp_constant_array_output() {
        passes(
            "jvp_constant_array_output",
            r#"
#[backprop(jvp)]
fn array(x: f64) -> [f64; 2] {
    let a = x.round();
    [a, 2.0 * a]
}

#[backprop(jvp)]
fn vector(x: f64) -> Vec<f64> {
    let a = x.round();
    vec![a, 2.0 * a]
}

fn check() {
    assert_eq!(array_jvp(0.7, 1.0), ([1.0, 2.0], [0.0, 0.0]));
    assert_eq!(vector_jvp(0.7, 1.0), (vec![1.0, 2.0], vec![0.0, 0.0]));
}
"#,
        );
    }

    /// Found by `tests/tensor_differential.rs` (the layer programs): `pick` of a `mapv` whose
    /// backward maps the upstream in place, `z.mapv(|v| v.max(0.0))` (`min`, `clamp`) or a
    /// closure with a branch (`if v > 0.0 { v } else { 0.1 * v }`), or of a view of one. The
    /// generated code leaves `pick`'s gradient unwritten (`OneHot`), as for `log_softmax`, and
    /// hands it to `backprop::map_upstream`, which takes an array: "expected
    /// `ArrayBase<OwnedRepr<f64>, ..>`, found `OneHot<'_, f64>`". (`pick` of `z.tanh()`, of
    /// `z.mapv(|v| v * v + 1.0)`, of `z.mapv(|v| v.max(0.0) * 2.0)` compile.) Generator:
    /// `PICK_OF_A_MAPPED_ARRAY` of tests/tensor_differential.rs.
    #[test]
    fn pick_of_a_mapv_with_max_or_a_branch() {
        passes(
            "pick_of_a_mapv_with_max_or_a_branch",
            r#"
use backprop::ndarray::{Array2, array};

#[backprop]
fn relu_picked(z: &Array2<f64>, y: &[usize]) -> f64 {
    let h = z.mapv(|v| v.max(0.0));
    backprop::pick(&h, y).sum()
}

#[backprop]
fn leaky_picked(z: &Array2<f64>, y: &[usize]) -> f64 {
    let h = z.mapv(|v| if v > 0.0 { v } else { 0.1 * v });
    backprop::pick(&h, y).sum()
}

fn check() {
    let z = array![[0.5, -1.0], [-0.25, 2.0]];
    // The labels pick z[0, 0] = 0.5 and z[1, 0] = -0.25.
    let y = [0, 0];
    assert_eq!(relu_picked_grad(&z, &y).1, array![[1.0, 0.0], [0.0, 0.0]]);
    assert_eq!(leaky_picked_grad(&z, &y).1, array![[1.0, 0.0], [0.1, 0.0]]);
}
"#,
        );
    }

    /// Found by `tests/tensor_differential.rs` (the layer programs that return arrays): a part
    /// of an owned array (a local, or an `Array2<f64>` parameter) as the value, made owned:
    /// `z.row(0).to_owned()`, `h.to_owned()` of `let h = a.index_axis(Axis(1), 0);`.
    /// `f_forward`'s closure moves the array, which the part still borrows: "cannot move out
    /// of `z` because it is borrowed". (A part of a reference or a view parameter compiles, and
    /// so does `&h + 1.0` of a part of a local.) Generator:
    /// `PART_OF_AN_OWNED_ARRAY_AS_THE_OUTPUT` of tests/tensor_differential.rs.
    #[test]
    fn part_of_an_owned_array_as_the_output() {
        passes(
            "part_of_an_owned_array_as_the_output",
            r#"
use backprop::ndarray::{Array1, Array2, Axis, array};

#[backprop]
fn row_of_a_local(a: &Array2<f64>) -> Array1<f64> {
    let z = a * 2.0;
    z.row(0).to_owned()
}

#[backprop]
fn column_of_an_owned_parameter(a: Array2<f64>) -> Array1<f64> {
    let h = a.index_axis(Axis(1), 0);
    h.to_owned()
}

fn check() {
    let a = array![[0.1, 0.2], [0.3, -0.4]];
    let d = array![1.0, -2.0];
    let (value, g) = row_of_a_local_backward(&a, d.clone());
    assert_eq!(value, array![0.2, 0.4]);
    assert_eq!(g, array![[2.0, -4.0], [0.0, 0.0]]);
    let (value, reverse) = row_of_a_local_forward(&a);
    assert_eq!(value, array![0.2, 0.4]);
    assert_eq!(reverse(d.clone()), array![[2.0, -4.0], [0.0, 0.0]]);
    let (value, g) = column_of_an_owned_parameter_backward(a.clone(), d.clone());
    assert_eq!(value, array![0.1, 0.3]);
    assert_eq!(g, array![[1.0, 0.0], [-2.0, 0.0]]);
    let (value, reverse) = column_of_an_owned_parameter_forward(a.clone());
    assert_eq!(value, array![0.1, 0.3]);
    assert_eq!(reverse(d), array![[1.0, 0.0], [-2.0, 0.0]]);
}
"#,
        );
    }

    /// Found by `tests/tensor_differential.rs` with `ARRAY_ARGUMENTS_BY_VALUE` on: in split mode,
    /// a call passed a copy of a view by reference (`g(&a.to_owned(), s)`) or a view of a view
    /// parameter (`g(a.view())`, which borrows the parameter, a local), and `g_forward`'s
    /// closure outlived them: "cannot return reference to temporary value". Such calls stay in
    /// joint mode, as a reference to a local array does.
    #[test]
    fn split_call_of_a_temporary_copy_or_a_reborrowed_view() {
        passes(
            "split_call_of_a_temporary_copy_or_a_reborrowed_view",
            r#"
use backprop::ndarray::{Array1, Array2, ArrayView2, Axis, array};

#[backprop]
fn g(a: &Array2<f64>, s: f64) -> Array1<f64> {
    a.sum_axis(Axis(0)) * s
}

#[backprop]
fn gv(a: ArrayView2<f64>) -> Array1<f64> {
    a.mapv(f64::sin).sum_axis(Axis(1))
}

#[backprop(split(g))]
fn copy_by_reference(a: ArrayView2<f64>, s: f64) -> Array1<f64> {
    let h: Array1<f64> = g(&a.to_owned(), s);
    &h * &h
}

#[backprop(split(gv))]
fn view_of_a_view(a: ArrayView2<f64>) -> f64 {
    let h: Array1<f64> = gv(a.view());
    h.sum()
}

fn check() {
    let a = array![[0.5, -1.0], [0.25, 2.0]];
    let d = array![1.0, -2.0];
    // h = s·(0.75, 1), out = h², d_a[i][j] = 2 h_j s d_j.
    let (value, (d_a, d_s)) = copy_by_reference_backward(a.view(), 2.0, d.clone());
    assert_eq!(value, array![2.25, 4.0]);
    assert_eq!(d_a, array![[6.0, -16.0], [6.0, -16.0]]);
    assert!(close(d_s, 2.0 * 1.5 * 0.75 - 2.0 * 2.0 * 2.0));
    let (_, g) = view_of_a_view_grad(a.view());
    assert_eq!(g, a.mapv(f64::cos));
}
"#,
        );
    }

    /// Found by `tests/tensor_differential.rs` with `CONSTANT_LAYER_OPERANDS` on: a reshape
    /// that moves a constant owned array (`x.into_shape_with_order(..)` of `x` outside `wrt`)
    /// was kept as written, and the reverse pass read `x` after the move (`d_w = xᵀ·d_z`):
    /// "use of moved value: `x`". It is copied, as a differentiated reshape is.
    #[test]
    fn constant_reshape_that_moves_its_array() {
        passes(
            "constant_reshape_that_moves_its_array",
            r#"
use backprop::ndarray::{Array2, array};

#[backprop(wrt(w))]
fn f(x: Array2<f64>, w: &Array2<f64>) -> f64 {
    let z = x.dot(w);
    let flat = x.into_shape_with_order((4,)).unwrap();
    z.sum() + flat[0] * w[[0, 0]]
}

fn check() {
    let x = array![[1.0, 2.0], [3.0, 4.0]];
    let w = array![[0.5, -1.0], [0.25, 2.0]];
    let (_, d_w) = f_grad(x.clone(), &w);
    // d_w[k][j] = Σ_i x[i][k], plus x[0][0] at [0, 0].
    assert_eq!(d_w, array![[5.0, 4.0], [6.0, 6.0]]);
}
"#,
        );
    }

    /// Found by `tests/differential.rs` (`RANGE_REV_FOLDS`): a reduction over a reversed range,
    /// `(0..3).rev().fold(..)`, is "this iterator chain is not differentiated: a `#[backprop]`
    /// function reduces an iterator over the elements of arrays (..) or over a range
    /// (`(0..n)`) ..", although `for i in (0..3).rev()` and `r.iter().rev().fold(..)` compile.
    #[test]
    fn reduction_over_a_reversed_range() {
        passes(
            "reduction_over_a_reversed_range",
            r#"
#[backprop]
fn f(x: f64) -> f64 {
    (0..3).rev().fold(0.0, |total, i| total * 0.5 + x * (i as f64 + 1.0))
}

fn check() {
    assert!(close(f_grad(0.7).1, numeric(f, 0.7)));
}
"#,
        );
    }

    /// Found by `tests/differential.rs` (`ENUMERATE_REV_LOOPS`): an element loop that reads
    /// its index and runs backwards, `for (i, &v) in w.iter().enumerate().rev()`, is "a
    /// `#[backprop]` loop runs over a range (..) or over the elements of arrays (..); write
    /// other iterators as a loop over the indices", although `w.iter().enumerate()` and
    /// `w.iter().rev()` compile.
    #[test]
    fn enumerate_rev_loop() {
        passes(
            "enumerate_rev_loop",
            r#"
#[backprop]
fn f(w: &[f64]) -> f64 {
    let mut s = 0.0;
    for (i, &v) in w.iter().enumerate().rev() {
        s = s * 0.5 + v * (i as f64 + 1.0);
    }
    s
}

fn check() {
    let w = [0.5, -1.0, 2.0];
    let g = f_grad(&w).1;
    for k in 0..3 {
        let along = |v: f64| {
            let mut q = w;
            q[k] = v;
            f(&q)
        };
        assert!(close(g[k], numeric(along, w[k])));
    }
}
"#,
        );
    }

    /// Found by `tests/differential.rs` (`HVP_VEC_BUFFERS`): `#[backprop(hvp)]` of a function
    /// with a local `vec!` buffer. The tangent function that `hvp` differentiates again keeps
    /// the `vec!`: "macro calls are not supported in a `#[backprop]` function: the macro cannot
    /// see what they expand to; write the expression out" (at the attribute), and "a
    /// `#[backprop]` function does not write into its parameters; write into a local buffer
    /// (`let mut h = vec![0.0; n];`)" at the buffer. `f_grad` and `f_jvp` compile.
    #[test]
    fn hvp_vec_buffer() {
        passes(
            "hvp_vec_buffer",
            r#"
#[backprop(hvp)]
fn f(x: f64) -> f64 {
    let mut h = vec![0.0; 2];
    h[0] = x * x;
    h[1] = h[0] * x;
    h[1]
}

fn check() {
    // f = x³: f' = 3x², f'' = 6x.
    let (value, gradient, hv) = f_hvp(0.5, 1.0);
    assert!(close(value, 0.125));
    assert!(close(gradient, 0.75));
    assert!(close(hv, 3.0));
}
"#,
        );
    }

    /// Found by `tests/differential.rs` (`HVP_IMPORTED_GATES`): `#[backprop(hvp)]` of a
    /// function that calls a runtime gate imported by the prelude, `sigmoid(x)`. `f_hvp` goes
    /// through `sigmoid_hvp_tangent` and `sigmoid_hvp_tangent_backward` by the name the call
    /// is written with, and `backprop::prelude` exports `sigmoid_backward` and `sigmoid_jvp`
    /// but not those: "cannot find function `sigmoid_hvp_tangent_backward` in this scope" (the
    /// same for `relu` and `softplus`). `backprop::sigmoid(x)` compiles.
    #[test]
    fn hvp_imported_runtime_gate() {
        passes(
            "hvp_imported_runtime_gate",
            r#"
use backprop::prelude::*;

#[backprop(hvp)]
fn f(x: f64) -> f64 {
    sigmoid(x) * x + relu(x) * softplus(x)
}

fn check() {
    let (value, gradient, hv) = f_hvp(0.5, 1.0);
    assert!(close(value, f(0.5)));
    assert!(close(gradient, f_grad(0.5).1));
    assert!(close(hv, numeric(|x| f_grad(x).1, 0.5)));
}
"#,
        );
    }

    /// Found by `tests/differential.rs` (`ZIP_REV_LOOPS`): a loop over two arrays in step that
    /// runs backwards, `for (&a, &b) in w.iter().zip(x.iter()).rev()`, is "a `#[backprop]`
    /// loop runs over a range (..) or over the elements of arrays (..); write other iterators
    /// as a loop over the indices", although `w.iter().zip(x.iter())` and `w.iter().rev()`
    /// compile.
    #[test]
    fn zip_rev_loop() {
        passes(
            "zip_rev_loop",
            r#"
#[backprop]
fn f(w: &[f64], x: &[f64]) -> f64 {
    let mut s = 0.0;
    for (&a, &b) in w.iter().zip(x.iter()).rev() {
        s = s * 0.5 + a * b;
    }
    s
}

fn check() {
    let (w, x) = ([0.5, -1.0, 2.0], [1.5, 0.25, -0.5]);
    let (_, (d_w, d_x)) = f_grad(&w, &x);
    // s = w0 x0 + 0.5 w1 x1 + 0.25 w2 x2.
    assert_eq!(d_w, vec![1.5, 0.125, -0.125]);
    assert_eq!(d_x, vec![0.5, -0.5, 0.5]);
}
"#,
        );
    }

    /// Found by `tests/tensor_differential.rs` (`JVP_SOFTPLUS`): `#[backprop(jvp)]` of a
    /// function that applies `backprop::softplus` to an array. `f_jvp` passes the tangent by
    /// reference where `softplus_jvp` takes it by value (`X::Upstream`): "mismatched types:
    /// expected `ArrayBase<OwnedRepr<f64>, ..>`, found `&ArrayBase<OwnedRepr<f64>, ..>`"
    /// (`backprop-runtime/src/gates.rs`, `softplus_jvp`). `sigmoid` and `relu` compile.
    #[test]
    fn jvp_softplus_of_an_array() {
        passes(
            "jvp_softplus_of_an_array",
            r#"
use backprop::ndarray::{Array1, array};

#[backprop(jvp)]
fn f(a: &Array1<f64>) -> f64 {
    let h = a * 2.0;
    backprop::softplus(&h).sum()
}

fn check() {
    let a = array![0.5, -1.0];
    let t = array![1.0, 0.0];
    let (value, tangent) = f_jvp(&a, &t);
    assert!(close(value, f(&a)));
    // d softplus(2a) = 2 σ(2a).
    assert!(close(tangent, 2.0 / (1.0 + (-1.0f64).exp())));
}
"#,
        );
    }

    /// Found by `tests/tensor_differential.rs` (`JVP_MAX_AXIS`): `#[backprop(jvp)]` of a
    /// function that calls `backprop::max_axis`: "cannot find function `max_axis_jvp` in
    /// crate `::backprop`" (and, in longer programs, type errors that follow from it).
    #[test]
    fn jvp_max_axis() {
        passes(
            "jvp_max_axis",
            r#"
use backprop::ndarray::{Array2, Axis, array};

#[backprop(jvp)]
fn f(x: &Array2<f64>) -> f64 {
    backprop::max_axis(x, Axis(1)).sum()
}

fn check() {
    let x = array![[0.5, -1.0], [2.0, 3.0]];
    let t = array![[1.0, 0.0], [0.0, 1.0]];
    let (value, tangent) = f_jvp(&x, &t);
    assert!(close(value, 3.5));
    assert!(close(tangent, 2.0));
}
"#,
        );
    }

    /// Found by `tests/tensor_differential.rs` (`JVP_CARRIED_COPY_OF_VIEW`):
    /// `#[backprop(jvp)]` of a loop that carries a copy of a view parameter (`let mut h =
    /// state.to_owned();` of `state: ArrayView2<f64>`, replaced in every iteration). `f_jvp`
    /// types the carried tangent as the view's tangent and assigns it an owned array:
    /// "mismatched types: expected `ArrayBase<ViewRepr<&f64>, ..>`, found
    /// `ArrayBase<OwnedRepr<f64>, ..>`". `f_grad` compiles (`tests/carried.rs`,
    /// `copy_of_view_carried`).
    #[test]
    fn jvp_carried_copy_of_a_view() {
        passes(
            "jvp_carried_copy_of_a_view",
            r#"
use backprop::ndarray::{Array2, ArrayView2, array};

#[backprop(jvp)]
fn f(state: ArrayView2<f64>, w: &Array2<f64>) -> f64 {
    let mut h = state.to_owned();
    for _ in 0..2 {
        h = backprop::sigmoid(&h.dot(w));
    }
    h.sum()
}

fn check() {
    let state = array![[0.5, -1.0], [0.25, 2.0]];
    let w = array![[1.0, 0.5], [-0.5, 0.75]];
    let (t_s, t_w) = (array![[1.0, 0.0], [0.5, -1.0]], array![[0.0, 1.0], [0.25, 0.0]]);
    let (value, tangent) = f_jvp(state.view(), &w, t_s.view(), &t_w);
    let (_, (g_s, g_w)) = f_grad(state.view(), &w);
    assert!(close(value, f(state.view(), &w)));
    assert!(close(tangent, (&g_s * &t_s).sum() + (&g_w * &t_w).sum()));
}
"#,
        );
    }

    /// Found by `tests/tensor_differential.rs` (`JVP_COPY_AS_THE_OUTPUT`): `#[backprop(jvp)]`
    /// of a function that returns a copy of a view, `z.t().to_owned()`. `f_jvp` returns the
    /// tangent's view without the copy: "mismatched types: expected `ArrayBase<OwnedRepr<f64>,
    /// ..>`, found `ArrayBase<ViewRepr<&f64>, ..>`". `f_backward` compiles (`copy_as_the_output`).
    #[test]
    fn jvp_copy_of_a_view_as_the_output() {
        passes(
            "jvp_copy_of_a_view_as_the_output",
            r#"
use backprop::ndarray::{Array2, array};

#[backprop(jvp)]
fn f(a: &Array2<f64>) -> Array2<f64> {
    let z = a * 2.0;
    z.t().to_owned()
}

fn check() {
    let a = array![[0.5, -1.0], [0.25, 2.0]];
    let t = array![[1.0, 0.0], [0.0, 1.0]];
    let (value, tangent) = f_jvp(&a, &t);
    assert_eq!(value, f(&a));
    assert_eq!(tangent, array![[2.0, 0.0], [0.0, 2.0]]);
}
"#,
        );
    }

    /// Found by `tests/tensor_differential.rs` (`JVP_COPY_ARGUMENTS`): `#[backprop(jvp)]` of
    /// a call that passes a copy made in the argument, `g(&m.t().to_owned(), s)`, of an array
    /// without a gradient. `f_jvp` passes its zero tangent to `g_jvp` as an array where `g`
    /// takes a reference: "mismatched types: expected `&ArrayBase<OwnedRepr<f64>, ..>`, found
    /// `ArrayBase<OwnedRepr<_>, ..>`".
    #[test]
    fn jvp_copy_made_in_a_call_argument() {
        passes(
            "jvp_copy_made_in_a_call_argument",
            r#"
use backprop::ndarray::{Array2, array};

#[backprop(jvp)]
fn g(a: &Array2<f64>, s: f64) -> Array2<f64> {
    a * s
}

#[backprop(wrt(s), jvp)]
fn f(m: &Array2<f64>, s: f64) -> f64 {
    let h: Array2<f64> = g(&m.t().to_owned(), s);
    h.sum()
}

fn check() {
    let m = array![[0.5, -1.0], [0.25, 2.0]];
    let (value, tangent) = f_jvp(&m, 0.5, 1.0);
    assert!(close(value, f(&m, 0.5)));
    assert!(close(tangent, m.sum()));
}
"#,
        );
    }

    /// Found by `tests/tensor_differential.rs` (`JVP_CARRIED_CONSTANT_START`):
    /// `#[backprop(jvp)]` of a loop that carries an array starting as a copy of a parameter
    /// outside `wrt(..)` (`let mut h = b.clone();`), which becomes differentiated in the loop
    /// (a gated blend `&z * &h + (1.0 - &z) * ..`): "overflow evaluating the requirement
    /// `&ArrayBase<_, _, _>: Neg`" (rustc cannot type the constant start's tangent). With `b`
    /// differentiated (`#[backprop(jvp)]`) it compiles and agrees with `f_grad`.
    #[test]
    fn jvp_carried_array_from_a_constant() {
        passes(
            "jvp_carried_array_from_a_constant",
            r#"
use backprop::ndarray::{Array1, Array2, array};

#[backprop(wrt(w), jvp)]
fn f(b: &Array1<f64>, w: &Array2<f64>) -> f64 {
    let mut h = b.clone();
    for _ in 0..2 {
        let z = backprop::sigmoid(&(b - &h * 1.5));
        h = &z * &h + (1.0 - &z) * &w.row(0);
    }
    h.sum()
}

fn check() {
    let b = array![0.5, -1.0];
    let w = array![[1.0, 0.5], [-0.5, 0.75]];
    let t = array![[1.0, 0.0], [0.5, -1.0]];
    let (value, tangent) = f_jvp(&b, &w, &t);
    let (_, d_w) = f_grad(&b, &w);
    assert!(close(value, f(&b, &w)));
    assert!(close(tangent, (&d_w * &t).sum()));
}
"#,
        );
    }

    /// Found by `tests/tensor_differential.rs` (after its switches changed the draw): a copy
    /// of a constant view passed to a call, `t(&hidden.to_owned(), m, s)` of `let hidden =
    /// m.t();` with `m` outside `wrt(..)`. `f_backward` repeats the call in its reverse pass and
    /// took `hidden.to_owned()` at its last use for a copy of an owned array, handing `hidden`
    /// over instead: "expected `&ArrayBase<OwnedRepr<f64>, ..>`, found
    /// `&ArrayBase<ViewRepr<&f64>, ..>`".
    #[test]
    fn copy_of_a_constant_view_as_a_call_argument() {
        passes(
            "copy_of_a_constant_view_as_a_call_argument",
            r#"
use backprop::ndarray::{Array2, array};

#[backprop(jvp)]
fn g(a: &Array2<f64>, m: &Array2<f64>, s: f64) -> Array2<f64> {
    a * s + m
}

#[backprop(wrt(a, s), jvp)]
fn f(a: &Array2<f64>, m: &Array2<f64>, s: f64) -> f64 {
    let hidden = m.t();
    let scores: Array2<f64> = g(&hidden.to_owned(), m, s);
    a.sum() - scores.mean().unwrap() * s
}

fn check() {
    let (a, m) = (array![[0.5, -1.0], [0.25, 2.0]], array![[1.0, 0.5], [-0.5, 0.75]]);
    let (value, (_, d_s)) = f_grad(&a, &m, 0.5);
    assert!(close(value, f(&a, &m, 0.5)));
    assert!(close(d_s, numeric(|s| f(&a, &m, s), 0.5)));
    let (_, t) = f_jvp(&a, &m, 0.5, &Array2::zeros((2, 2)), 1.0);
    assert!(close(t, d_s));
}
"#,
        );
    }

    /// Found by `tests/differential.rs` (struct parameters, `STRUCT_PARAMS`): an `[F; N]`
    /// field of a struct taken by reference, passed by value to a differentiated call, `g(p.w)`
    /// of `p: &S` and `fn g(w: [f64; 2])` (plain Rust copies the array out of the reference).
    /// The generated code passes a reference where `g` takes the array: "expected `[f64; 2]`,
    /// found `&[f64; 2]`", reported at `#[derive(backprop::Differentiable)]`. By value (`p:
    /// S`) it compiles. Generator: `STRUCT_REF_ARRAY_FIELD_ARGUMENTS`.
    #[test]
    fn array_field_of_a_struct_reference_passed_by_value() {
        passes(
            "array_field_of_a_struct_reference_passed_by_value",
            r#"
#[derive(backprop::Differentiable)]
struct S {
    w: [f64; 2],
}

#[backprop]
fn g(w: [f64; 2]) -> f64 {
    w[0] * w[1]
}

#[backprop]
fn f(p: &S) -> f64 {
    g(p.w)
}

fn check() {
    let p = S { w: [0.5, 2.0] };
    let (value, d_p) = f_grad(&p);
    assert!(close(value, f(&p)));
    assert!(close(d_p.w[0], 2.0) && close(d_p.w[1], 0.5));
}
"#,
        );
    }

    /// Found by `tests/differential.rs` (struct parameters, `STRUCT_PARAMS`): a function that
    /// returns a `Vec<F>` and takes a struct. Its `f_backward` (and `f_forward`'s closure)
    /// leaves the struct out of the gradient: `f_backward(&p, x, d_out)` gives `d_x` alone,
    /// "expected `(S, f64)`, found `f64`" (two generated programs got gradients short of the
    /// struct's components, or a zero one for a field); and with the struct as its only float
    /// parameter, the macro says "this function has no float parameter to differentiate". A
    /// scalar or `[F; M]` output takes the struct (`fixed_size_output` below is right).
    /// Generator: `STRUCT_VEC_OUTPUTS`.
    #[test]
    fn struct_parameter_of_a_function_returning_a_vec() {
        passes(
            "struct_parameter_of_a_function_returning_a_vec",
            r#"
#[derive(backprop::Differentiable)]
struct S {
    q: Vec<f64>,
    a: f64,
}

#[backprop]
fn fixed_size_output(p: &S, x: f64) -> [f64; 2] {
    [p.a * x, x * p.q[1]]
}

#[backprop]
fn by_value(p: S, x: f64) -> Vec<f64> {
    vec![p.a * x, x * p.q[1]]
}

#[backprop]
fn by_reference(p: &S, x: f64) -> Vec<f64> {
    vec![p.a * x, x * p.q[1]]
}

#[backprop]
fn only_the_struct(p: &S) -> Vec<f64> {
    vec![p.a * p.q[0], p.q[1]]
}

fn check() {
    let s = || S { q: vec![1.0, 2.0], a: 0.5 };
    let (_, (d_p, d_x)) = fixed_size_output_backward(&s(), 2.0, [1.0, 1.0]);
    assert!(close(d_x, 2.5) && close(d_p.a, 2.0) && d_p.q == vec![0.0, 2.0]);
    let (_, (d_p, d_x)): (_, (S, f64)) = by_value_backward(s(), 2.0, vec![1.0, 1.0]);
    assert!(close(d_x, 2.5) && close(d_p.a, 2.0) && d_p.q == vec![0.0, 2.0]);
    let (_, (d_p, d_x)): (_, (S, f64)) = by_reference_backward(&s(), 2.0, vec![1.0, 1.0]);
    assert!(close(d_x, 2.5) && close(d_p.a, 2.0) && d_p.q == vec![0.0, 2.0]);
    let (_, d_p): (_, S) = only_the_struct_backward(&s(), vec![1.0, 1.0]);
    assert!(close(d_p.a, 1.0) && d_p.q == vec![0.5, 1.0]);
}
"#,
        );
    }

    /// Found by `tests/differential.rs` (`INSIDE_CONSTANT_ARGUMENTS`): a call with constant
    /// arguments taken apart by a tuple pattern was bound as a float (`let tuple: f64 =
    /// g_jvp(..); let d = tuple.1;`): "expected `f64`, found `(f64, f64)`".
    #[test]
    fn a_constant_call_taken_apart() {
        passes(
            "a_constant_call_taken_apart",
            r#"
#[backprop(jvp, hvp)]
fn g(x: f64, y: f64) -> f64 {
    x * x * y + y.sin()
}

#[backprop(jvp)]
fn f(x: f64) -> f64 {
    let (_, d) = g_jvp(0.75, 0.5, 1.0, 0.0);
    let (v, (_, e)) = g_grad(0.25, 2.0);
    x * d + v * e * x
}

fn check() {
    let (value, d_x) = f_grad(1.5);
    assert!(close(value, f(1.5)));
    assert!(close(d_x, numeric(f, 1.5)));
    assert!(close(f_jvp(1.5, 1.0).1, d_x));
}
"#,
        );
    }

    /// Found by `tests/differential.rs` (`JVP_CONSTANT_REDUCTION_ARGUMENTS`): a reduction of an
    /// iterator over a constant `Vec` was typed as the `Vec`, so its zero tangent in a call was
    /// `vec![0.0; r.len()]`: "no method named `len` found for type `f64`".
    #[test]
    fn a_constant_reduction_as_a_call_argument() {
        passes(
            "a_constant_reduction_as_a_call_argument",
            r#"
#[backprop(jvp, hvp)]
fn g(x: f64, y: f64) -> f64 {
    x * x * y + y.sin()
}

#[backprop(wrt(q), jvp)]
fn f(w: Vec<f64>, q: Vec<f64>) -> f64 {
    let r = w.iter().fold(0.0, |total, &w_i| total + w_i);
    g(r, q[1])
}

fn check() {
    let (w, q) = (vec![1.0, 2.0], vec![0.5, 0.25]);
    let (value, d_q) = f_grad(w.clone(), q.clone());
    assert!(close(value, f(w.clone(), q.clone())));
    assert!(close(d_q[1], numeric(|v| f(w.clone(), vec![0.5, v]), 0.25)));
    assert!(close(f_jvp(w.clone(), q.clone(), vec![0.0, 1.0]).1, d_q[1]));
}
"#,
        );
    }

    /// A slice's length (`w.len()`) and a constant `vec![1.0; n]` as arguments of a call: the
    /// length was typed as the slice (a gradient position of the call) and the `Vec` as
    /// nothing (none), so the gradients read from the callee's tuple were shifted.
    #[test]
    fn a_length_and_a_constant_vec_as_call_arguments() {
        passes(
            "a_length_and_a_constant_vec_as_call_arguments",
            r#"
#[backprop(jvp)]
fn g(x: f64, n: usize, w: &[f64], v: &[f64]) -> f64 {
    let mut s = 0.0;
    for i in 0..n {
        s += (w[i] * x).sin() * v[i];
    }
    s
}

#[backprop(jvp)]
fn f(x: f64, w: &[f64]) -> f64 {
    let ones = vec![1.0; w.len()];
    g(x, w.len(), w, &ones) * x
}

fn check() {
    let w = [0.5, -1.25];
    let (_, (d_x, d_w)) = f_grad(0.7, &w);
    assert!(close(d_x, numeric(|x| f(x, &w), 0.7)));
    assert!(close(d_w[1], numeric(|v| f(0.7, &[0.5, v]), -1.25)));
    assert!(close(f_jvp(0.7, &w, 1.0, &[0.0, 0.0]).1, d_x));
}
"#,
        );
    }

    /// `passes` for a program with `hvp`: the file also has `hv_agrees(hv, grad, x, v)`, whether
    /// `hv` is the central difference of the gradient `grad` at `x` in the direction `v`,
    /// element by element (`close`).
    fn passes_hvp(name: &str, program: &str) {
        passes(
            name,
            &format!(
                "{program}\n\
                 #[allow(dead_code)]\n\
                 fn hv_agrees<D: backprop::ndarray::Dimension>(\n    \
                     hv: &backprop::ndarray::Array<f64, D>,\n    \
                     grad: impl Fn(&backprop::ndarray::Array<f64, D>) -> backprop::ndarray::Array<f64, D>,\n    \
                     x: &backprop::ndarray::Array<f64, D>,\n    \
                     v: &backprop::ndarray::Array<f64, D>,\n\
                 ) -> bool {{\n    \
                     let h = 1e-6;\n    \
                     let (up, down) = (grad(&(x + &(v * h))), grad(&(x - &(v * h))));\n    \
                     hv.iter()\n        \
                         .zip(up.iter().zip(down.iter()))\n        \
                         .all(|(&a, (&u, &d))| close(a, (u - d) / (2.0 * h)))\n\
                 }}\n"
            ),
        );
    }

    /// Found by `tests/tensor_differential.rs` (`HVP_MAPV_MAX_MIN_CLAMP`): `#[backprop(hvp)]` of
    /// a `mapv` closure with `max`, `min` or `clamp` (`|v| v.max(0.0) * 2.0`, `|v| v.min(-s)`,
    /// `|v| v.clamp(-0.3, 1.5) * 0.1`): "closures are supported only as `mapv`'s argument" and
    /// "`map_collect` is not a differentiable float method". `f_grad` and `f_jvp` compile, and
    /// so does `hvp` of a path (`mapv(f64::tanh)`) or of a closure with a branch. Fixed: under
    /// `hvp` the tangent is each tangent times its slope, an array of the rule's tangent in
    /// the forward language (`&a.mapv(|e| if e >= 0.0 { 1.0 } else { 0.0 }) * t_a`).
    #[test]
    fn hvp_mapv_with_max() {
        passes_hvp(
            "hvp_mapv_with_max",
            r#"
use backprop::ndarray::{Array2, array};

#[backprop(hvp)]
fn f(a: &Array2<f64>) -> f64 {
    let z = a.mapv(|v| v.max(0.0) * 2.0);
    (&z * &z).sum()
}

fn check() {
    let a = array![[0.5, -1.0], [2.0, 0.3]];
    let v = array![[1.0, 0.5], [-0.5, 0.25]];
    let (value, gradient, hv) = f_hvp(&a, &v);
    assert!(close(value, f(&a)));
    assert!(gradient.iter().zip(&f_grad(&a).1).all(|(x, y)| close(*x, *y)));
    // H = diag(8) on the positive entries, 0 on the others.
    assert!(hv_agrees(&hv, |x| f_grad(x).1, &a, &v));
}
"#,
        );
    }

    /// Found by `tests/tensor_differential.rs` (`HVP_BREAK_AFTER_ARRAY_UPDATE`):
    /// `#[backprop(hvp)]` of a loop whose `break` guard comes after the carried array's update
    /// in the same iteration: "mismatched types: expected `ArrayBase<OwnedRepr<f64>, ..>`,
    /// found `&ArrayBase<OwnedRepr<f64>, ..>`" at the update `h = ..`. `f_grad` and `f_jvp`
    /// compile (`tests/carried.rs`, `break_after_update`), and so does `hvp` with the guard
    /// before the update.
    /// Fixed: an arm's array value is an array (`h_2.clone()`), not a reference.
    #[test]
    fn hvp_break_after_array_update() {
        passes_hvp(
            "hvp_break_after_array_update",
            r#"
use backprop::ndarray::{Array1, Array2, array};

#[backprop(hvp)]
fn f(wh: &Array2<f64>, b: &Array1<f64>) -> f64 {
    let mut h = b.clone();
    for _step in 0..2 {
        h = (h.dot(wh) + b).tanh();
        if (&h * &h).sum() > 3.0 {
            break;
        }
    }
    (&h * &h).sum()
}

fn check() {
    let (wh, b) = (array![[0.5, -1.0], [2.0, 0.3]], array![0.25, -0.5]);
    let v = array![[1.0, 0.5], [-0.5, 0.25]];
    let (value, gradient, hv) = f_hvp(&wh, &b, &v, &Array1::zeros(2));
    assert!(close(value, f(&wh, &b)));
    assert!(gradient.0.iter().zip(&f_grad(&wh, &b).1.0).all(|(x, y)| close(*x, *y)));
    assert!(hv_agrees(&hv.0, |x| f_grad(x, &b).1.0, &wh, &v));
}
"#,
        );
    }

    /// Found by `tests/tensor_differential.rs` (`HVP_RESHAPES`): `#[backprop(hvp)]` of a
    /// reshape, `(a * 0.3).into_shape_with_order((1, 4))` or `a.to_shape((4, 1))`: "`into_owned`
    /// is not differentiated on arrays" (the tangent function's reshape is lowered to a method
    /// the macro's second pass does not know). `f_grad` and `f_jvp` compile. Fixed: it reads
    /// `into_owned()` as a copy, as it reads `to_owned()`.
    #[test]
    fn hvp_reshape() {
        passes_hvp(
            "hvp_reshape",
            r#"
use backprop::ndarray::{Array2, array};

#[backprop(hvp)]
fn f(a: &Array2<f64>) -> f64 {
    let c = (a * 0.3).into_shape_with_order((1, 4)).unwrap();
    let d = a.to_shape((4, 1)).unwrap();
    (&c * &c).sum() + d.sum().powi(2)
}

fn check() {
    let a = array![[0.5, -1.0], [2.0, 0.3]];
    let v = array![[1.0, 0.5], [-0.5, 0.25]];
    let (value, gradient, hv) = f_hvp(&a, &v);
    assert!(close(value, f(&a)));
    assert!(gradient.iter().zip(&f_grad(&a).1).all(|(x, y)| close(*x, *y)));
    assert!(hv_agrees(&hv, |x| f_grad(x).1, &a, &v));
}
"#,
        );
    }

    /// Found by `tests/tensor_differential.rs` (`HVP_LANE_STATISTICS_OF_OWNED`):
    /// `#[backprop(hvp)]` of `var_axis` (or `std_axis`) of an owned array, a local (`z.var_axis(..)`
    /// of `let z = a.tanh();`) or an `Array2<f64>` parameter: "borrow of moved value: `z`".
    /// Of a reference parameter (`a.var_axis(..)` of `a: &Array2<f64>`) it compiles.
    /// Fixed: the tangent borrows the array (`&z - &z.mean_axis(..)`).
    #[test]
    fn hvp_var_axis_of_an_owned_array() {
        passes_hvp(
            "hvp_var_axis_of_an_owned_array",
            r#"
use backprop::ndarray::{Array2, Axis, array};

#[backprop(hvp)]
fn f(a: &Array2<f64>) -> f64 {
    let z = a.tanh();
    let v = z.var_axis(Axis(1), 0.0);
    (&v * &v).sum()
}

fn check() {
    let a = array![[0.5, -1.0], [2.0, 0.3]];
    let v = array![[1.0, 0.5], [-0.5, 0.25]];
    let (value, gradient, hv) = f_hvp(&a, &v);
    assert!(close(value, f(&a)));
    assert!(gradient.iter().zip(&f_grad(&a).1).all(|(x, y)| close(*x, *y)));
    assert!(hv_agrees(&hv, |x| f_grad(x).1, &a, &v));
}
"#,
        );
    }

    /// Found by `tests/tensor_differential.rs` (`HVP_LANE_STATISTICS_OF_VIEW`):
    /// `#[backprop(hvp)]` of `var_axis` (or `std_axis`) of a view (`x3.index_axis(..)`, an
    /// `ArrayView2<f64>` parameter): "cannot subtract `&ArrayBase<OwnedRepr<f64>, ..>` from
    /// `ArrayBase<ViewRepr<&f64>, ..>`". Of the `&Array3<f64>` itself it compiles.
    /// Fixed: the tangent borrows the array (`&z - &z.mean_axis(..)`).
    #[test]
    fn hvp_var_axis_of_a_view() {
        passes_hvp(
            "hvp_var_axis_of_a_view",
            r#"
use backprop::ndarray::{Array3, Axis};

#[backprop(hvp)]
fn f(x3: &Array3<f64>) -> f64 {
    let p = x3.index_axis(Axis(0), 0);
    let v = p.var_axis(Axis(0), 0.0);
    (&v * &v).sum()
}

fn check() {
    let x3 = Array3::from_shape_fn((2, 2, 2), |(i, j, k)| {
        (i as f64 - 0.5) * (j as f64 + 1.0) + 0.3 * k as f64
    });
    let v = Array3::from_shape_fn((2, 2, 2), |(i, j, k)| {
        0.5 - 0.25 * (i + j) as f64 + 0.1 * k as f64
    });
    let (value, gradient, hv) = f_hvp(&x3, &v);
    assert!(close(value, f(&x3)));
    assert!(gradient.iter().zip(&f_grad(&x3).1).all(|(x, y)| close(*x, *y)));
    assert!(hv_agrees(&hv, |x| f_grad(x).1, &x3, &v));
}
"#,
        );
    }

    /// Found by `tests/tensor_differential.rs` (`HVP_JVP_MAPV_DIVISION`): `#[backprop(jvp,
    /// hvp)]` of a `mapv` closure that divides by an expression of its argument (`|v| 1.0 /
    /// (1.0 + v * v)`): "cannot find function `tangent_like_jvp` in crate `::backprop`" (the
    /// `g_hvp_tangent_jvp` that `jvp` with `hvp` writes). With `hvp` alone, or `|v| v / 2.0`,
    /// it compiles. Fixed: the runtime has `tangent_like_jvp`.
    #[test]
    fn jvp_hvp_mapv_dividing_by_its_argument() {
        passes_hvp(
            "jvp_hvp_mapv_dividing_by_its_argument",
            r#"
use backprop::ndarray::{Array2, array};

#[backprop(jvp, hvp)]
fn f(a: &Array2<f64>) -> f64 {
    let z = a.mapv(|v| 1.0 / (1.0 + v * v));
    z.sum()
}

fn check() {
    let a = array![[0.5, -1.0], [2.0, 0.3]];
    let v = array![[1.0, 0.5], [-0.5, 0.25]];
    let (value, gradient, hv) = f_hvp(&a, &v);
    assert!(close(value, f(&a)));
    assert!(gradient.iter().zip(&f_grad(&a).1).all(|(x, y)| close(*x, *y)));
    assert!(hv_agrees(&hv, |x| f_grad(x).1, &a, &v));
    assert!(close(f_jvp(&a, &v).1, (&gradient * &v).sum()));
}
"#,
        );
    }

    /// Found by `tests/tensor_differential.rs` (`HVP_JVP_COPY_AS_THE_OUTPUT`, `t303`):
    /// `#[backprop(jvp, hvp)]` of a function that returns a copy of a view (`l.t().to_owned()`
    /// of `let l = m.dot(a);`): "mismatched types: expected `(ArrayBase<OwnedRepr<f64>, ..>,
    /// ..)`, found `(ArrayBase<ViewRepr<&f64>, ..>, ..)`" in `f_hvp_tangent_jvp` (which
    /// `f_jvp_jvp` calls), whose tangent tuple held the views. With `hvp` alone it compiles.
    /// Fixed: a part that borrows is copied out in the tangent tuple as in the value.
    #[test]
    fn jvp_hvp_copy_of_a_view_as_the_output() {
        passes_hvp(
            "jvp_hvp_copy_of_a_view_as_the_output",
            r#"
use backprop::ndarray::{Array2, array};

#[backprop(jvp, hvp)]
fn f(a: &Array2<f64>, m: &Array2<f64>) -> Array2<f64> {
    let l = m.dot(a);
    l.t().to_owned()
}

fn check() {
    let a = array![[0.5, -1.0], [2.0, 0.3]];
    let m = array![[1.5, 0.2], [-0.4, 0.9]];
    let (t_a, t_m) = (array![[1.0, 0.5], [-0.5, 0.25]], array![[0.3, -0.2], [0.1, 0.6]]);
    let (s_a, s_m) = (array![[-0.7, 0.4], [0.2, 1.1]], array![[0.5, 0.5], [-0.3, 0.8]]);
    let (s_t_a, s_t_m) = (array![[0.9, -0.1], [0.4, 0.2]], array![[-0.6, 0.3], [0.7, -0.2]]);
    // f is bilinear: J·t = (t_m a + m t_a)ᵀ, and its derivative in the direction
    // (s, s_t) is (s_t_m a + t_m s_a + s_m t_a + m s_t_a)ᵀ.
    let ((value, jt), (js, djt)) = f_jvp_jvp(&a, &m, &t_a, &t_m, &s_a, &s_m, &s_t_a, &s_t_m);
    let exact_djt = s_t_m.dot(&a) + t_m.dot(&s_a) + s_m.dot(&t_a) + m.dot(&s_t_a);
    for (got, want) in [
        (value, m.dot(&a)),
        (jt, t_m.dot(&a) + m.dot(&t_a)),
        (js, s_m.dot(&a) + m.dot(&s_a)),
        (djt, exact_djt),
    ] {
        assert!(got.iter().zip(want.t().iter()).all(|(x, y)| close(*x, *y)));
    }
}
"#,
        );
    }

    /// Found by `tests/tensor_differential.rs` (`HVP_JVP_CONSTANT_BROADCAST`): `#[backprop(wrt(u),
    /// jvp, hvp)]` of a constant array plus a differentiated one broadcast to its shape (`a +
    /// u`, `a` outside `wrt`): "cannot find function `tangent_like_jvp` in crate `::backprop`".
    /// With `hvp` alone, or with `a` differentiated too, it compiles.
    #[test]
    fn jvp_hvp_broadcast_onto_a_constant_array() {
        passes_hvp(
            "jvp_hvp_broadcast_onto_a_constant_array",
            r#"
use backprop::ndarray::{Array1, Array2, array};

#[backprop(wrt(u), jvp, hvp)]
fn f(a: &Array2<f64>, u: &Array1<f64>) -> f64 {
    let z = a + u;
    (&z * &z * &z).sum()
}

fn check() {
    let (a, u): (Array2<f64>, Array1<f64>) = (array![[0.5, -1.0], [2.0, 0.3]], array![0.25, -0.5]);
    let v = array![1.0, 0.5];
    let (value, gradient, hv) = f_hvp(&a, &u, &v);
    assert!(close(value, f(&a, &u)));
    assert!(gradient.iter().zip(&f_grad(&a, &u).1).all(|(x, y)| close(*x, *y)));
    assert!(hv_agrees(&hv, |x| f_grad(&a, x).1, &u, &v));
    assert!(close(f_jvp(&a, &u, &v).1, (&gradient * &v).sum()));
}
"#,
        );
    }

    /// Found by `tests/differential.rs` (`STRUCT_HVP_SKIPPED_FIELDS`): `#[backprop(hvp)]` of a
    /// function whose struct parameter has a `#[backprop(skip)]` field that the body reads
    /// (`p.w[p.n % 2]`): "cannot find value `p` in this scope" (the tangent function that `hvp`
    /// differentiates again takes the struct's fields, and still reads `p.n`). With `jvp`
    /// alone it compiles and is right. Fixed (ca1de95): the tangent function takes the struct
    /// too, by reference.
    #[test]
    fn hvp_struct_with_a_skipped_field() {
        passes(
            "hvp_struct_with_a_skipped_field",
            r#"
#[derive(backprop::Differentiable)]
struct S {
    w: [f64; 2],
    #[backprop(skip)]
    n: usize,
}

#[backprop(jvp, hvp)]
fn f(p: &S, x: f64) -> f64 {
    p.w[p.n % 2] * p.w[0] * x
}

fn check() {
    let p = S { w: [0.5, -1.5], n: 1 };
    let v = S { w: [1.0, 0.25], n: 1 };
    let (value, (g, g_x), (hv, hv_x)) = f_hvp(&p, 2.0, &v, -0.5);
    assert!(close(value, f(&p, 2.0)));
    assert!(close(g.w[0], -3.0) && close(g.w[1], 1.0) && close(g_x, -0.75));
    // H·v against central differences of `f_grad` in the direction (v, -0.5).
    let grad = |h: f64| {
        let moved = S { w: [0.5 + h * v.w[0], -1.5 + h * v.w[1]], n: 1 };
        let (_, (g, g_x)) = f_grad(&moved, 2.0 - 0.5 * h);
        [g.w[0], g.w[1], g_x]
    };
    let (up, down) = (grad(1e-6), grad(-1e-6));
    let numeric: Vec<f64> = (0..3).map(|i| (up[i] - down[i]) / 2e-6).collect();
    assert!(close(hv.w[0], numeric[0]) && close(hv.w[1], numeric[1]));
    assert!(close(hv_x, numeric[2]));
    assert!(close(f_jvp(&p, 2.0, &v, -0.5).1, g.w[0] + 0.25 * g.w[1] - 0.5 * g_x));
}
"#,
        );
    }
}
