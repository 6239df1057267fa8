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
