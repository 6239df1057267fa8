//! Runs one variant of one benchmark program `N` times, for counting its instructions under
//! `valgrind --tool=callgrind` (see `benches/callgrind.sh`): instruction counts repeat exactly
//! where wall-clock times on a shared machine do not.
//!
//! Usage: `count PROGRAM VARIANT [N]`, with PROGRAM one of `staged`, `neuron`, `chain200`,
//! VARIANT one of `generated`, `hand`, `numeric`, `dual`, and N defaulting to 1000; or PROGRAM
//! one of the loop programs `svm_naive`, `recurrence`, `call`, `call_joint`, `dot`, `llsq`,
//! `rnn` or the tensor programs `softmax`, `two_layer`, `affine_relu`, `conv`, VARIANT
//! `generated` or `hand`; or PROGRAM
//! `struct_params` (the two-layer net, its parameters a struct or four arrays), VARIANT
//! `struct` or `arrays`; or PROGRAM `gmm`, VARIANT
//! `generated`, `hand` or `objective` (the objective alone); or PROGRAM `staged` or `chain200`,
//! VARIANT `forward` (the function), `jvp`, `grad`, `hvp`; or PROGRAM `rosenbrock8` or
//! `rosenbrock64`, VARIANT `hvp_hessian` (n `f_hvp` calls) or `dual_hessian` (num-dual); or
//! PROGRAM `softmax_hvp` (the softmax loss of a linear classifier on ndarray), VARIANT `grad`,
//! `hvp` or `hvp_hand` (the closed-form HVP written by hand). The layers `affine_relu` and `conv`
//! are given a clone of the upstream gradient on every call, in both variants.
//!
//! Each (program, variant) runs inside its own `#[inline(never)]` function named
//! `measure_PROGRAM_VARIANT`, so callgrind's `--toggle-collect` can count exactly the work of
//! the `N` calls (and everything they call: `exp`, `sin`, allocation), nothing of the start-up.
//! The loop, tensor and GMM programs' inputs are built, and the variants checked, before the
//! measuring function is called.

use std::hint::black_box;
use std::process::ExitCode;

use backprop_bench::loops::{call, dot, llsq, recurrence};
use backprop_bench::tensor::{REG, affine_relu, conv, softmax, two_layer};
use backprop_bench::{
    chain, gmm, hessian, loops, modes, neuron, rnn, softmax_hvp, staged, struct_params,
};

macro_rules! measures {
    ($($name:ident => $program:ident :: $variant:ident ($($arg:expr),*);)*) => {
        $(
            #[inline(never)]
            fn $name(n: usize) -> f64 {
                let mut sink = 0.0;
                for _ in 0..n {
                    let (value, grad) = $program::$variant($(black_box($arg)),*);
                    black_box(grad);
                    sink += value;
                }
                sink
            }
        )*

        fn select(program: &str, variant: &str) -> Option<fn(usize) -> f64> {
            match (program, variant) {
                $((stringify!($program), stringify!($variant)) => Some($name),)*
                _ => None,
            }
        }
    };
}

const S: (f64, f64) = staged::POINT;
const N: ([f64; 3], [f64; 2]) = neuron::POINT;
const C: [f64; 4] = chain::POINT;
const T: (f64, f64) = modes::STAGED_DIRECTION;
const V: [f64; 4] = modes::CHAIN_DIRECTION;

// `chain` is the module of the `chain200` program.
use chain as chain200;

measures! {
    measure_staged_generated => staged::generated(S.0, S.1);
    measure_staged_hand => staged::hand(S.0, S.1);
    measure_staged_numeric => staged::numeric(S.0, S.1);
    measure_staged_dual => staged::dual(S.0, S.1);
    measure_neuron_generated => neuron::generated(N.0, N.1);
    measure_neuron_hand => neuron::hand(N.0, N.1);
    measure_neuron_numeric => neuron::numeric(N.0, N.1);
    measure_neuron_dual => neuron::dual(N.0, N.1);
    measure_chain200_generated => chain200::generated(C[0], C[1], C[2], C[3]);
    measure_chain200_hand => chain200::hand(C[0], C[1], C[2], C[3]);
    measure_chain200_numeric => chain200::numeric(C[0], C[1], C[2], C[3]);
    measure_chain200_dual => chain200::dual(C[0], C[1], C[2], C[3]);
    measure_staged_forward => staged::forward(S.0, S.1);
    measure_staged_jvp => staged::jvp(S.0, S.1, T.0, T.1);
    measure_staged_grad => staged::grad(S.0, S.1);
    measure_staged_hvp => staged::hvp(S.0, S.1, T.0, T.1);
    measure_chain200_forward => chain200::forward(C[0], C[1], C[2], C[3]);
    measure_chain200_jvp => chain200::jvp(C[0], C[1], C[2], C[3], V[0], V[1], V[2], V[3]);
    measure_chain200_grad => chain200::grad(C[0], C[1], C[2], C[3]);
    measure_chain200_hvp => chain200::hvp(C[0], C[1], C[2], C[3], V[0], V[1], V[2], V[3]);
}

// Each asserts its size first: two identical bodies would be merged into one symbol, which
// callgrind's --toggle-collect could not tell apart.
#[inline(never)]
fn measure_rosenbrock8_hvp_hessian(x: &[f64], n: usize) -> f64 {
    assert_eq!(x.len(), 8);
    hessian_calls(hessian::hvp_hessian, x, n)
}

#[inline(never)]
fn measure_rosenbrock8_dual_hessian(x: &[f64], n: usize) -> f64 {
    assert_eq!(x.len(), 8);
    hessian_calls(hessian::dual_hessian, x, n)
}

#[inline(never)]
fn measure_rosenbrock64_hvp_hessian(x: &[f64], n: usize) -> f64 {
    assert_eq!(x.len(), 64);
    hessian_calls(hessian::hvp_hessian, x, n)
}

#[inline(never)]
fn measure_rosenbrock64_dual_hessian(x: &[f64], n: usize) -> f64 {
    assert_eq!(x.len(), 64);
    hessian_calls(hessian::dual_hessian, x, n)
}

#[inline(always)]
fn hessian_calls<H>(variant: fn(&[f64]) -> (f64, H), x: &[f64], n: usize) -> f64 {
    let mut sink = 0.0;
    for _ in 0..n {
        let (value, h) = variant(black_box(x));
        black_box(h);
        sink += value;
    }
    sink
}

#[inline(never)]
fn measure_softmax_hvp_grad(at: &softmax_hvp::Inputs, n: usize) -> f64 {
    let mut sink = 0.0;
    for _ in 0..n {
        let (value, grad) = softmax_hvp::grad(black_box(&at.w), &at.x, &at.y);
        black_box(grad);
        sink += value;
    }
    sink
}

#[inline(never)]
fn measure_softmax_hvp_hvp(at: &softmax_hvp::Inputs, n: usize) -> f64 {
    let mut sink = 0.0;
    for _ in 0..n {
        let (value, grad) = softmax_hvp::hvp(black_box(&at.w), &at.x, &at.y, black_box(&at.v));
        black_box(grad);
        sink += value;
    }
    sink
}

#[inline(never)]
fn measure_softmax_hvp_hvp_hand(at: &softmax_hvp::Inputs, n: usize) -> f64 {
    let mut sink = 0.0;
    for _ in 0..n {
        let (value, grad) = softmax_hvp::hvp_hand(black_box(&at.w), &at.x, &at.y, black_box(&at.v));
        black_box(grad);
        sink += value;
    }
    sink
}

#[inline(never)]
fn measure_svm_naive_generated(at: &loops::Inputs, n: usize) -> f64 {
    let mut sink = 0.0;
    for _ in 0..n {
        let (value, grad) = loops::generated(
            black_box(&at.w),
            &at.x,
            &at.y,
            black_box(at.n),
            black_box(at.d),
            black_box(at.c),
            black_box(loops::REG),
        );
        black_box(grad);
        sink += value;
    }
    sink
}

#[inline(never)]
fn measure_svm_naive_hand(at: &loops::Inputs, n: usize) -> f64 {
    let mut sink = 0.0;
    for _ in 0..n {
        let (value, grad) = loops::hand(
            black_box(&at.w),
            &at.x,
            &at.y,
            black_box(at.n),
            black_box(at.d),
            black_box(at.c),
            black_box(loops::REG),
        );
        black_box(grad);
        sink += value;
    }
    sink
}

#[inline(never)]
fn measure_softmax_generated(at: &softmax::Inputs, n: usize) -> f64 {
    let mut sink = 0.0;
    for _ in 0..n {
        let (value, grad) = softmax::generated(black_box(&at.w), &at.x, &at.y, black_box(REG));
        black_box(grad);
        sink += value;
    }
    sink
}

#[inline(never)]
fn measure_softmax_hand(at: &softmax::Inputs, n: usize) -> f64 {
    let mut sink = 0.0;
    for _ in 0..n {
        let (value, grad) = softmax::hand(black_box(&at.w), &at.x, &at.y, black_box(REG));
        black_box(grad);
        sink += value;
    }
    sink
}

#[inline(never)]
fn measure_two_layer_generated(at: &two_layer::Inputs, n: usize) -> f64 {
    let mut sink = 0.0;
    for _ in 0..n {
        let (value, grad) = two_layer::generated(
            black_box(&at.w1),
            &at.b1,
            &at.w2,
            &at.b2,
            &at.x,
            &at.y,
            black_box(REG),
        );
        black_box(grad);
        sink += value;
    }
    sink
}

#[inline(never)]
fn measure_two_layer_hand(at: &two_layer::Inputs, n: usize) -> f64 {
    let mut sink = 0.0;
    for _ in 0..n {
        let (value, grad) = two_layer::hand(
            black_box(&at.w1),
            &at.b1,
            &at.w2,
            &at.b2,
            &at.x,
            &at.y,
            black_box(REG),
        );
        black_box(grad);
        sink += value;
    }
    sink
}

#[inline(never)]
fn measure_struct_params_struct(at: &struct_params::Inputs, n: usize) -> f64 {
    let mut sink = 0.0;
    for _ in 0..n {
        let (value, grad) = struct_params::with_struct(
            black_box(&at.net),
            &at.arrays.x,
            &at.arrays.y,
            black_box(REG),
        );
        black_box(grad);
        sink += value;
    }
    sink
}

#[inline(never)]
fn measure_struct_params_arrays(at: &struct_params::Inputs, n: usize) -> f64 {
    let mut sink = 0.0;
    for _ in 0..n {
        let (value, grad) = struct_params::with_arrays(
            black_box(&at.net),
            &at.arrays.x,
            &at.arrays.y,
            black_box(REG),
        );
        black_box(grad);
        sink += value;
    }
    sink
}

#[inline(never)]
fn measure_affine_relu_generated(at: &affine_relu::Inputs, n: usize) -> f64 {
    let mut sink = 0.0;
    for _ in 0..n {
        let (out, grad) = affine_relu::generated(black_box(&at.x), &at.w, &at.b, at.dout.clone());
        black_box(grad);
        sink += out[[0, 0]];
    }
    sink
}

#[inline(never)]
fn measure_affine_relu_hand(at: &affine_relu::Inputs, n: usize) -> f64 {
    let mut sink = 0.0;
    for _ in 0..n {
        let (out, grad) = affine_relu::hand(black_box(&at.x), &at.w, &at.b, at.dout.clone());
        black_box(grad);
        sink += out[[0, 0]];
    }
    sink
}

#[inline(never)]
fn measure_conv_generated(at: &conv::Inputs, n: usize) -> f64 {
    let mut sink = 0.0;
    for _ in 0..n {
        let (out, grad) = conv::generated(
            black_box(&at.x),
            &at.w,
            &at.b,
            black_box(at.stride),
            at.dout.clone(),
        );
        black_box(grad);
        sink += out[[0, 0, 0, 0]];
    }
    sink
}

#[inline(never)]
fn measure_conv_hand(at: &conv::Inputs, n: usize) -> f64 {
    let mut sink = 0.0;
    for _ in 0..n {
        let (out, grad) = conv::hand(
            black_box(&at.x),
            &at.w,
            &at.b,
            black_box(at.stride),
            at.dout.clone(),
        );
        black_box(grad);
        sink += out[[0, 0, 0, 0]];
    }
    sink
}

#[inline(never)]
fn measure_recurrence_generated(at: &recurrence::Inputs, n: usize) -> f64 {
    let mut sink = 0.0;
    for _ in 0..n {
        let (value, grad) = recurrence::generated(black_box(&at.w), &at.x, black_box(at.h0));
        black_box(grad);
        sink += value;
    }
    sink
}

#[inline(never)]
fn measure_recurrence_hand(at: &recurrence::Inputs, n: usize) -> f64 {
    let mut sink = 0.0;
    for _ in 0..n {
        let (value, grad) = recurrence::hand(black_box(&at.w), &at.x, black_box(at.h0));
        black_box(grad);
        sink += value;
    }
    sink
}

#[inline(never)]
fn measure_call_generated(at: &recurrence::Inputs, n: usize) -> f64 {
    let mut sink = 0.0;
    for _ in 0..n {
        let (value, grad) = call::generated(black_box(&at.w), &at.x, black_box(at.h0));
        black_box(grad);
        sink += value;
    }
    sink
}

// Named per program, for callgrind's `--toggle-collect`: the hand-written recurrence.
#[inline(never)]
fn measure_call_hand(at: &recurrence::Inputs, n: usize) -> f64 {
    measure_recurrence_hand(at, n)
}

#[inline(never)]
fn measure_call_joint_hand(at: &recurrence::Inputs, n: usize) -> f64 {
    // Not folded into `measure_call_hand` by the linker: a different body.
    measure_recurrence_hand(at, black_box(n))
}

#[inline(never)]
fn measure_call_joint_generated(at: &recurrence::Inputs, n: usize) -> f64 {
    let mut sink = 0.0;
    for _ in 0..n {
        let (value, grad) = call::joint(black_box(&at.w), &at.x, black_box(at.h0));
        black_box(grad);
        sink += value;
    }
    sink
}

#[inline(never)]
fn measure_dot_generated(at: &dot::Inputs, n: usize) -> f64 {
    let mut sink = 0.0;
    for _ in 0..n {
        let (value, grad) = dot::generated(black_box(&at.w), black_box(&at.x));
        black_box(grad);
        sink += value;
    }
    sink
}

#[inline(never)]
fn measure_dot_hand(at: &dot::Inputs, n: usize) -> f64 {
    let mut sink = 0.0;
    for _ in 0..n {
        let (value, grad) = dot::hand(black_box(&at.w), black_box(&at.x));
        black_box(grad);
        sink += value;
    }
    sink
}

#[inline(never)]
fn measure_llsq_generated(at: &llsq::Inputs, n: usize) -> f64 {
    let mut sink = 0.0;
    for _ in 0..n {
        let (value, grad) = llsq::generated(black_box(&at.x), black_box(at.n));
        black_box(grad);
        sink += value;
    }
    sink
}

#[inline(never)]
fn measure_llsq_hand(at: &llsq::Inputs, n: usize) -> f64 {
    let mut sink = 0.0;
    for _ in 0..n {
        let (value, grad) = llsq::hand(black_box(&at.x), black_box(at.n));
        black_box(grad);
        sink += value;
    }
    sink
}

#[inline(never)]
fn measure_rnn_generated(at: &rnn::Inputs, n: usize) -> f64 {
    let mut sink = 0.0;
    for _ in 0..n {
        let (value, grad) = rnn::generated(
            black_box(&at.wx),
            &at.wh,
            &at.b,
            &at.v,
            &at.xs,
            &at.h0,
            &at.targets,
        );
        black_box(grad);
        sink += value;
    }
    sink
}

#[inline(never)]
fn measure_rnn_hand(at: &rnn::Inputs, n: usize) -> f64 {
    let mut sink = 0.0;
    for _ in 0..n {
        let (value, grad) = rnn::hand(
            black_box(&at.wx),
            &at.wh,
            &at.b,
            &at.v,
            &at.xs,
            &at.h0,
            &at.targets,
        );
        black_box(grad);
        sink += value;
    }
    sink
}

#[inline(never)]
fn measure_gmm_generated(at: &gmm::GmmInput, n: usize) -> f64 {
    let mut sink = 0.0;
    for _ in 0..n {
        let (value, grad) = gmm::generated(black_box(at));
        black_box(grad);
        sink += value;
    }
    sink
}

#[inline(never)]
fn measure_gmm_hand(at: &gmm::GmmInput, n: usize) -> f64 {
    let mut sink = 0.0;
    for _ in 0..n {
        let (value, grad) = gmm::hand(black_box(at));
        black_box(grad);
        sink += value;
    }
    sink
}

#[inline(never)]
fn measure_gmm_objective(at: &gmm::GmmInput, n: usize) -> f64 {
    let mut sink = 0.0;
    for _ in 0..n {
        sink += gmm::objective(black_box(at));
    }
    sink
}

/// A loop, tensor or GMM program's variant, run `n` times after its inputs are built and checked;
/// `None` for an unknown name.
fn tensor_measure(program: &str, variant: &str, n: usize) -> Option<f64> {
    match program {
        "svm_naive" => {
            let measure = match variant {
                "generated" => measure_svm_naive_generated,
                "hand" => measure_svm_naive_hand,
                _ => return None,
            };
            let at = loops::inputs();
            loops::check(&at, loops::REG);
            Some(measure(&at, n))
        }
        "recurrence" => {
            let measure = match variant {
                "generated" => measure_recurrence_generated,
                "hand" => measure_recurrence_hand,
                _ => return None,
            };
            let at = recurrence::inputs();
            recurrence::check(&at);
            Some(measure(&at, n))
        }
        // The recurrence with its step called as a function: split mode and the default (joint)
        // mode, each against the same hand-written recurrence.
        "call" | "call_joint" => {
            let measure = match (program, variant) {
                ("call", "generated") => measure_call_generated,
                ("call_joint", "generated") => measure_call_joint_generated,
                ("call", "hand") => measure_call_hand,
                ("call_joint", "hand") => measure_call_joint_hand,
                _ => return None,
            };
            let at = recurrence::inputs();
            call::check(&at);
            Some(measure(&at, n))
        }
        "dot" => {
            let measure = match variant {
                "generated" => measure_dot_generated,
                "hand" => measure_dot_hand,
                _ => return None,
            };
            let at = dot::inputs();
            dot::check(&at);
            Some(measure(&at, n))
        }
        "llsq" => {
            let measure = match variant {
                "generated" => measure_llsq_generated,
                "hand" => measure_llsq_hand,
                _ => return None,
            };
            let at = llsq::inputs();
            llsq::check(&at);
            Some(measure(&at, n))
        }
        "rnn" => {
            let measure = match variant {
                "generated" => measure_rnn_generated,
                "hand" => measure_rnn_hand,
                _ => return None,
            };
            let at = rnn::inputs();
            rnn::check(&at);
            Some(measure(&at, n))
        }
        "gmm" => {
            let measure = match variant {
                "generated" => measure_gmm_generated,
                "hand" => measure_gmm_hand,
                "objective" => measure_gmm_objective,
                _ => return None,
            };
            let at = gmm::bench();
            gmm::check(&at);
            Some(measure(&at, n))
        }
        "softmax" => {
            let measure = match variant {
                "generated" => measure_softmax_generated,
                "hand" => measure_softmax_hand,
                _ => return None,
            };
            let at = softmax::inputs();
            softmax::check(&at, REG);
            Some(measure(&at, n))
        }
        "two_layer" => {
            let measure = match variant {
                "generated" => measure_two_layer_generated,
                "hand" => measure_two_layer_hand,
                _ => return None,
            };
            let at = two_layer::inputs();
            two_layer::check(&at, REG);
            Some(measure(&at, n))
        }
        "struct_params" => {
            let measure = match variant {
                "struct" => measure_struct_params_struct,
                "arrays" => measure_struct_params_arrays,
                _ => return None,
            };
            let at = struct_params::inputs();
            struct_params::check(&at, REG);
            Some(measure(&at, n))
        }
        "affine_relu" => {
            let measure = match variant {
                "generated" => measure_affine_relu_generated,
                "hand" => measure_affine_relu_hand,
                _ => return None,
            };
            let at = affine_relu::inputs();
            affine_relu::check(&at);
            Some(measure(&at, n))
        }
        "conv" => {
            let measure = match variant {
                "generated" => measure_conv_generated,
                "hand" => measure_conv_hand,
                _ => return None,
            };
            let at = conv::inputs();
            conv::check(&at);
            Some(measure(&at, n))
        }
        "softmax_hvp" => {
            let measure = match variant {
                "grad" => measure_softmax_hvp_grad,
                "hvp" => measure_softmax_hvp_hvp,
                "hvp_hand" => measure_softmax_hvp_hvp_hand,
                _ => return None,
            };
            let at = softmax_hvp::inputs();
            softmax_hvp::check(&at);
            Some(measure(&at, n))
        }
        "rosenbrock8" | "rosenbrock64" => {
            let (x, measure): (_, fn(&[f64], usize) -> f64) = match (program, variant) {
                ("rosenbrock8", "hvp_hessian") => (8, measure_rosenbrock8_hvp_hessian),
                ("rosenbrock8", "dual_hessian") => (8, measure_rosenbrock8_dual_hessian),
                ("rosenbrock64", "hvp_hessian") => (64, measure_rosenbrock64_hvp_hessian),
                ("rosenbrock64", "dual_hessian") => (64, measure_rosenbrock64_dual_hessian),
                _ => return None,
            };
            let x = hessian::point(x);
            hessian::check(&x);
            Some(measure(&x, n))
        }
        _ => None,
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (program, variant) = match &args[..] {
        [p, v] | [p, v, _] => (p.as_str(), v.as_str()),
        _ => {
            eprintln!("usage: count PROGRAM VARIANT [N]");
            return ExitCode::from(2);
        }
    };
    let n = match args.get(2).map(|n| n.parse::<usize>()) {
        None => 1000,
        Some(Ok(n)) => n,
        Some(Err(e)) => {
            eprintln!("count: bad N: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(measure) = select(program, variant) {
        backprop_bench::check_scalar();
        println!("{}", measure(n));
    } else if let Some(sink) = tensor_measure(program, variant, n) {
        println!("{sink}");
    } else {
        eprintln!("count: unknown program/variant {program}/{variant}");
        return ExitCode::from(2);
    }
    ExitCode::SUCCESS
}
