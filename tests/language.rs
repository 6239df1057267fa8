//! The forward language, construct by construct: each function is checked against the same
//! computation on forward-mode dual numbers and against central differences.

mod common;

use backprop::backprop;
use common::{assert_gradient_exact, c, dual_gradient};
use num_dual::{Dual32, Dual64, DualNum};

const SCALE: f64 = 1.5;

#[backprop]
fn shadowing(x: f64, y: f64) -> f64 {
    let x = x * 2.0;
    let x = x + y;
    let y = x * y;
    x * y
}

#[test]
fn shadowed_names_keep_their_own_values() {
    for at in [[1.5, -0.5], [0.25, 3.0]] {
        assert_gradient_exact(
            "shadowing",
            &at,
            shadowing_grad(at[0], at[1]),
            dual_gradient(
                |v: &[Dual64]| {
                    let x = v[0] * 2.0 + v[1];
                    let y = x * v[1];
                    x * y
                },
                &at,
            ),
            |p| shadowing(p[0], p[1]),
            1e-13,
        );
    }
}

#[backprop]
fn compound_assignment(mut x: f64, y: f64) -> f64 {
    let mut s = 0.0;
    s += x * y;
    s -= y.sin();
    s *= x;
    s /= 1.0 + y * y;
    x += s;
    let mut t = x;
    t = t * t + s;
    t
}

#[test]
fn let_mut_and_compound_assignment_are_versions() {
    let reference = |v: &[Dual64]| {
        let (x, y) = (v[0], v[1]);
        let s = (x * y - y.sin()) * x / (y * y + 1.0);
        let x = x + s;
        x * x + s
    };
    for at in [[1.5, -0.5], [-2.0, 0.75]] {
        assert_gradient_exact(
            "compound_assignment",
            &at,
            compound_assignment_grad(at[0], at[1]),
            dual_gradient(reference, &at),
            |p| compound_assignment(p[0], p[1]),
            1e-13,
        );
    }
}

#[backprop]
#[allow(clippy::needless_return)] // the `return` form is what is tested
fn explicit_return(x: f64) -> f64 {
    let y: f64 = x.exp();
    return y * x;
}

#[backprop]
fn nested_expressions(x: f64, y: f64, z: f64) -> f64 {
    ((x * y + z).tanh() * (x - y / z).exp() + (x * x + y * y).sqrt().ln()) / (1.0 + z * z).powf(0.5)
        - -x
}

#[test]
fn compound_expressions_of_any_depth() {
    let reference = |v: &[Dual64]| {
        let (x, y, z) = (v[0], v[1], v[2]);
        ((x * y + z).tanh() * (x - y / z).exp() + (x * x + y * y).sqrt().ln())
            / (z * z + 1.0).powf(0.5)
            + x
    };
    for at in [[0.5, -1.5, 2.0], [1.25, 0.5, -0.75]] {
        assert_gradient_exact(
            "nested_expressions",
            &at,
            nested_expressions_grad(at[0], at[1], at[2]),
            dual_gradient(reference, &at),
            |p| nested_expressions(p[0], p[1], p[2]),
            1e-13,
        );
    }
    assert_gradient_exact(
        "explicit_return",
        &[0.7],
        explicit_return_grad(0.7),
        dual_gradient(|v: &[Dual64]| v[0].exp() * v[0], &[0.7]),
        |p| explicit_return(p[0]),
        1e-14,
    );
}

#[backprop]
fn path_syntax_and_constants(x: f64, y: f64) -> f64 {
    const LOCAL: f64 = 0.25;
    let a = f64::exp(x) * std::f64::consts::PI;
    let b = f64::powi(y, 3) + f64::atan2(x, y) * SCALE;
    let c = f64::max(a, b) + LOCAL * f64::hypot(x, y);
    c * core::f64::consts::E
}

#[test]
fn path_call_syntax_maps_to_the_same_rules() {
    let reference = |v: &[Dual64]| {
        let (x, y) = (v[0], v[1]);
        let a = x.exp() * std::f64::consts::PI;
        let b = y.powi(3) + x.atan2(y) * SCALE;
        let m = if a.re >= b.re { a } else { b };
        (m + (x * x + y * y).sqrt() * 0.25) * std::f64::consts::E
    };
    for at in [[0.5, 1.5], [2.0, -0.5]] {
        assert_gradient_exact(
            "path_syntax_and_constants",
            &at,
            path_syntax_and_constants_grad(at[0], at[1]),
            dual_gradient(reference, &at),
            |p| path_syntax_and_constants(p[0], p[1]),
            1e-13,
        );
    }
}

#[backprop]
fn integer_parameters(x: f64, n: usize, k: i32, flag: bool) -> f64 {
    let scale = n as f64 * 0.5;
    let p = x.powi(k) * scale;
    let q = if flag { p } else { -p };
    q + (n as f64) * x
}

#[test]
fn integer_and_bool_parameters_are_constants() {
    for (x, n, k, flag) in [(1.5, 3, 2, true), (0.5, 4, 3, false)] {
        let reference = |v: &[Dual64]| {
            let p = v[0].powi(k) * (n as f64 * 0.5);
            let q = if flag { p } else { -p };
            q + v[0] * n as f64
        };
        assert_gradient_exact(
            "integer_parameters",
            &[x],
            integer_parameters_grad(x, n, k, flag),
            dual_gradient(reference, &[x]),
            |p| integer_parameters(p[0], n, k, flag),
            1e-13,
        );
    }
}

#[backprop]
fn casts(x: f64, y: f32) -> f32 {
    let a = (x * x) as f32;
    let b = (y as f64).exp() as f32;
    a * b + y
}

#[test]
fn casts_between_f32_and_f64_carry_gradients_across() {
    let (value, (dx, dy)) = casts_grad(1.25, 0.5);
    let a = (1.25f64 * 1.25) as f32;
    let b = 0.5f64.exp() as f32;
    assert!((value - (a * b + 0.5)).abs() < 1e-6);
    // dx = 2x * b (in f64), dy = a * e^y + 1.
    assert!((dx - 2.0 * 1.25 * 0.5f64.exp()).abs() < 1e-5, "{dx}");
    assert!((dy - (a * b + 1.0)).abs() < 1e-5, "{dy}");
    let _: (f32, (f64, f32)) = casts_grad(1.0, 1.0);
}

#[backprop]
fn relu_branch(x: f64, y: f64) -> f64 {
    let h = x * y;
    let r = if h > 0.0 { h } else { 0.0 };
    r * x
}

#[backprop]
fn branches_with_work_in_each_arm(x: f64, y: f64) -> f64 {
    let s = x + y;
    let v = if s > 1.0 {
        let t = s * x;
        t.sin() * y
    } else if s < -1.0 {
        let u = (x - y).exp();
        u * u
    } else {
        x.tanh()
    };
    v * s
}

#[test]
fn branches_route_the_gradient_to_the_arm_that_ran() {
    let relu = |v: &[Dual64]| {
        let h = v[0] * v[1];
        let r = if h.re > 0.0 { h } else { c(0.0) };
        r * v[0]
    };
    for at in [[1.5, 2.0], [1.5, -2.0], [-0.5, -3.0]] {
        assert_gradient_exact(
            "relu_branch",
            &at,
            relu_branch_grad(at[0], at[1]),
            dual_gradient(relu, &at),
            |p| relu_branch(p[0], p[1]),
            1e-14,
        );
    }
    let arms = |v: &[Dual64]| {
        let (x, y) = (v[0], v[1]);
        let s = x + y;
        let value = if s.re > 1.0 {
            (s * x).sin() * y
        } else if s.re < -1.0 {
            let u = (x - y).exp();
            u * u
        } else {
            x.tanh()
        };
        value * s
    };
    for at in [[1.5, 0.75], [-1.0, -0.5], [0.25, 0.25]] {
        assert_gradient_exact(
            "branches_with_work_in_each_arm",
            &at,
            branches_with_work_in_each_arm_grad(at[0], at[1]),
            dual_gradient(arms, &at),
            |p| branches_with_work_in_each_arm(p[0], p[1]),
            1e-13,
        );
    }
}

#[backprop]
fn fan_out(x: f64) -> f64 {
    let a = x * x;
    let b = a + x;
    let c = a * b + x;
    let d = c * a - b * x + c;
    d + a + b + c + x
}

#[test]
fn gradients_add_up_where_a_value_is_used_many_times() {
    let reference = |v: &[Dual64]| {
        let x = v[0];
        let a = x * x;
        let b = a + x;
        let c = a * b + x;
        let d = c * a - b * x + c;
        d + a + b + c + x
    };
    for at in [[0.5], [-1.25]] {
        assert_gradient_exact(
            "fan_out",
            &at,
            fan_out_grad(at[0]),
            dual_gradient(reference, &at),
            |p| fan_out(p[0]),
            1e-13,
        );
    }
}

#[backprop]
fn arrays(w: [f64; 3], x: &[f64; 2], bias: f64) -> f64 {
    let dot = w[0] * x[0] + w[1] * x[1] + w[2];
    let unused = w[1] * 100.0;
    let _ = unused;
    (dot * bias).tanh()
}

#[test]
fn array_parameters_get_array_gradients() {
    let (value, (dw, dx, dbias)) = arrays_grad([0.5, -1.0, 0.25], &[1.5, 2.0], 0.75);
    let _: ([f64; 3], [f64; 2], f64) = (dw, dx, dbias);
    let reference = |v: &[Dual64]| ((v[0] * v[3] + v[1] * v[4] + v[2]) * v[5]).tanh();
    let at = [0.5, -1.0, 0.25, 1.5, 2.0, 0.75];
    assert_gradient_exact(
        "arrays",
        &at,
        (value, (dw, dx, dbias)),
        dual_gradient(reference, &at),
        |p| arrays([p[0], p[1], p[2]], &[p[3], p[4]], p[5]),
        1e-14,
    );
}

#[backprop]
fn in_f32(x: f32, y: f32) -> f32 {
    let s = 1.0 / (1.0 + (-y).exp());
    let t = (x * s).exp2() + x.log10() * std::f32::consts::LN_2;
    t * y
}

#[test]
fn f32_functions_stay_in_f32() {
    let reference = |v: &[Dual32]| {
        let s = (c(1.0f32) + (-v[1]).exp()).recip();
        ((v[0] * s).exp2() + v[0].log10() * std::f32::consts::LN_2) * v[1]
    };
    let at = [1.5f32, -0.5];
    let result: (f32, (f32, f32)) = in_f32_grad(at[0], at[1]);
    assert_gradient_exact(
        "in_f32",
        &at,
        result,
        dual_gradient(reference, &at),
        |p| in_f32(p[0], p[1]),
        1e-5,
    );
}

#[backprop]
fn dead_code_and_piecewise(x: f64, y: f64) -> f64 {
    let never_used = x.exp() * y;
    let k = x.floor();
    let _ = never_used;
    k * y + x.signum()
}

#[test]
fn values_that_do_not_reach_the_output_get_no_gradient_code() {
    let (value, (dx, dy)) = dead_code_and_piecewise_grad(2.5, 3.0);
    assert_eq!(value, 2.0 * 3.0 + 1.0);
    assert_eq!((dx, dy), (0.0, 2.0));
    let source = dead_code_and_piecewise_backward_source();
    assert!(!source.contains("d_never_used"), "{source}");
    assert!(!source.contains("d_k +="), "{source}");
}

#[backprop]
fn backward_seed(x: f64, y: f64) -> f64 {
    x * y.sin()
}

#[test]
fn backward_is_the_vector_jacobian_product() {
    let (value, (dx, dy)) = backward_seed_backward(0.5, 2.0, -3.0);
    let (value1, (gx, gy)) = backward_seed_grad(0.5, 2.0);
    assert_eq!(value, value1);
    assert_eq!((dx, dy), (-3.0 * gx, -3.0 * gy));
}

#[backprop]
fn non_finite(x: f64) -> f64 {
    let r = if x > 0.0 { x.sqrt() } else { x };
    r.ln() * x
}

#[test]
fn non_finite_inputs_give_non_finite_gradients_without_panicking() {
    let (v, d) = non_finite_grad(f64::NAN);
    assert!(v.is_nan() && d.is_nan());
    let (v, d) = non_finite_grad(f64::INFINITY);
    assert!(v.is_infinite() && !d.is_finite());
    let (_, d) = non_finite_grad(-1.0);
    assert!(d.is_nan());
}

#[backprop]
fn slices(w: &[f64], x: Vec<f64>, n: usize) -> f64 {
    let last = w[n - 1] * x[n - 1];
    let first = (w[0] + x[1]).tanh();
    let count = w.len() as f64;
    last * first + dot2(w, &x) / count
}

/// A gate over slices: the dot product of the first two entries, with its backward.
fn dot2(a: &[f64], b: &[f64]) -> f64 {
    a[0] * b[0] + a[1] * b[1]
}

fn dot2_backward(a: &[f64], b: &[f64], d_out: f64) -> (f64, (Vec<f64>, Vec<f64>)) {
    let mut da = vec![0.0; a.len()];
    let mut db = vec![0.0; b.len()];
    (da[0], da[1], db[0], db[1]) = (b[0] * d_out, b[1] * d_out, a[0] * d_out, a[1] * d_out);
    (dot2(a, b), (da, db))
}

#[test]
fn slice_and_vec_parameters_get_vec_gradients() {
    let (w, x) = (vec![0.5, -1.0, 0.25], vec![1.5, 2.0, -0.5]);
    let (value, (dw, dx)): (f64, (Vec<f64>, Vec<f64>)) = slices_grad(&w, x.clone(), 3);
    assert_eq!((dw.len(), dx.len()), (3, 3));
    let reference = |v: &[Dual64]| {
        let (w, x) = (&v[..3], &v[3..]);
        w[2] * x[2] * (w[0] + x[1]).tanh() + (w[0] * x[0] + w[1] * x[1]) / 3.0
    };
    let at: Vec<f64> = w.iter().chain(&x).copied().collect();
    assert_gradient_exact(
        "slices",
        &at,
        (value, (dw, dx)),
        dual_gradient(reference, &at),
        |p| slices(&p[..3], p[3..].to_vec(), 3),
        1e-14,
    );
}

#[backprop]
fn if_statements(x: f64, y: f64) -> f64 {
    let mut loss = 0.0;
    let mut other = x;
    let margin = x - y + 1.0;
    if margin > 0.0 {
        loss += margin;
        other *= y;
    }
    if x > y {
        loss *= x;
    } else if x < -1.0 {
        other += 1.0;
    } else {
        let s = y.sin();
        loss -= s;
        if s > 0.0 {
            other *= s;
        }
    }
    let value = if y > 0.0 {
        other += y;
        loss * 2.0
    } else {
        loss
    };
    value + other
}

#[test]
fn if_statements_assign_outer_variables_in_either_arm() {
    let reference = |v: &[Dual64]| {
        let (x, y) = (v[0], v[1]);
        let mut loss = c(0.0);
        let mut other = x;
        let margin = x - y + 1.0;
        if margin.re > 0.0 {
            loss += margin;
            other *= y;
        }
        if x.re > y.re {
            loss *= x;
        } else if x.re < -1.0 {
            other += 1.0;
        } else {
            let s = y.sin();
            loss -= s;
            if s.re > 0.0 {
                other *= s;
            }
        }
        let value = if y.re > 0.0 {
            other += y;
            loss * 2.0
        } else {
            loss
        };
        value + other
    };
    for at in [
        [1.5, 0.5],
        [0.2, 0.9],
        [-2.0, -0.5],
        [0.3, 2.5],
        [-0.5, 0.2],
        [0.1, -1.0],
    ] {
        assert_gradient_exact(
            "if_statements",
            &at,
            if_statements_grad(at[0], at[1]),
            dual_gradient(reference, &at),
            |p| if_statements(p[0], p[1]),
            1e-13,
        );
    }
}

/// `let (a, b) = (.., ..);` binds each name in turn.
#[backprop]
fn tuple_let(x: f64, y: f64) -> f64 {
    let (a, mut b) = (x * 2.0, y.sin());
    b += a;
    a * b
}

#[test]
fn tuple_of_values_in_one_let() {
    let (x, y) = (1.5, -0.5);
    let (value, (dx, dy)) = tuple_let_grad(x, y);
    // f = 2x (y.sin() + 2x): df/dx = 2 sin y + 8x, df/dy = 2x cos y.
    assert_eq!(value, 2.0 * x * (y.sin() + 2.0 * x));
    assert!((dx - (2.0 * y.sin() + 8.0 * x)).abs() < 1e-12);
    assert!((dy - 2.0 * x * y.cos()).abs() < 1e-12);
}

/// Early returns: each `if cond { return v; }` among the function's own statements makes the
/// rest of the function its `else` arm.
#[backprop]
fn clipped(x: f64, y: f64) -> f64 {
    if x < -1.0 {
        return -1.0;
    }
    let s = x * y;
    if s > 2.0 {
        let t = s.ln();
        return t + y;
    }
    let u = s.sin() + x;
    u * u
}

#[test]
fn early_return_guards() {
    let reference = |v: &[Dual64]| {
        let (x, y) = (v[0], v[1]);
        if x.re < -1.0 {
            return c(-1.0);
        }
        let s = x * y;
        if s.re > 2.0 {
            return s.ln() + y;
        }
        let u = s.sin() + x;
        u * u
    };
    for at in [[-2.0, 0.5], [1.5, 2.0], [0.5, -0.7], [0.9, 1.2]] {
        assert_gradient_exact(
            "clipped",
            &at,
            clipped_grad(at[0], at[1]),
            dual_gradient(reference, &at),
            |p| clipped(p[0], p[1]),
            1e-13,
        );
    }
}

#[backprop]
fn clipped_f32(x: f32) -> f32 {
    if x > 1.0 {
        return x.sqrt();
    }
    x * x
}

#[test]
fn early_return_f32() {
    assert_eq!(clipped_f32_grad(4.0), (2.0, 0.25));
    assert_eq!(clipped_f32_grad(0.5), (0.25, 1.0));
}

/// `let l;` assigned later, in each arm of an `if` (the Huber loss as often written).
#[backprop(wrt(pred))]
#[allow(clippy::needless_late_init)] // the late form is what is tested
fn huber_deferred(pred: &[f64], target: &[f64], delta: f64) -> f64 {
    let mut total = 0.0;
    for i in 0..pred.len() {
        let r = (pred[i] - target[i]).abs();
        let l;
        if r < delta {
            l = 0.5 * r * r;
        } else {
            l = delta * (r - 0.5 * delta);
        }
        total += l;
    }
    total / pred.len() as f64
}

#[backprop]
#[allow(clippy::needless_late_init)] // the late form is what is tested
fn deferred_f32(x: f32) -> f32 {
    let y: f32;
    if x > 1.0 {
        y = x.ln();
    } else if x > 0.0 {
        y = x - 1.0;
    } else {
        y = -x * x;
    }
    y * 3.0
}

#[test]
fn let_without_a_value_assigned_in_each_arm() {
    let target = [0.5, -1.0, 2.0];
    let reference = |v: &[Dual64]| {
        let mut total = c(0.0);
        for i in 0..3 {
            let d = v[i] - target[i];
            let r = if d.re < 0.0 { -d } else { d };
            total += if r.re < 1.0 {
                r * r * 0.5
            } else {
                (r - 0.5) * 1.0
            };
        }
        total / 3.0
    };
    for at in [[0.3, 1.2, 2.1], [-2.0, -1.1, 0.0]] {
        assert_gradient_exact(
            "huber_deferred",
            &at,
            huber_deferred_grad(&at, &target, 1.0),
            dual_gradient(reference, &at),
            |p| huber_deferred(p, &target, 1.0),
            1e-13,
        );
    }
    let reference = |v: &[Dual32]| {
        let x = v[0];
        let y = if x.re > 1.0 {
            x.ln()
        } else if x.re > 0.0 {
            x - 1.0
        } else {
            -x * x
        };
        y * 3.0
    };
    for x in [2.5f32, 0.5, -0.7] {
        assert_gradient_exact(
            "deferred_f32",
            &[x],
            deferred_f32_grad(x),
            dual_gradient(reference, &[x]),
            |p| deferred_f32(p[0]),
            1e-5,
        );
    }
}
