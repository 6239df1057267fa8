//! Generated (`#[backprop]`'s `_grad`) vs hand-written flat backprop vs central differences vs
//! forward-mode dual numbers, on the lecture's staged function, its sigmoid neuron and a
//! 200-line chain; and generated vs hand-written on two tensor programs (softmax cross-entropy,
//! a two-layer net) on ndarray and on two layers that return arrays (affine + ReLU, the naive
//! convolution on `Array4`), through their backwards given an upstream gradient; and generated vs hand-written on a loop program (the naive SVM
//! loss over flat slices, a taped scalar recurrence, a dot product); and generated vs
//! hand-written on an Elman RNN on ndarray whose state a loop carries; and generated vs
//! hand-written vs the objective alone on ADBench's GMM objective; and, on `staged` and
//! `chain200`, the function itself vs `f_jvp` vs `f_grad` vs `f_hvp`, on the softmax loss of a
//! linear classifier on ndarray `f_grad` vs `f_hvp` vs a hand-written closed-form HVP, and a
//! full Hessian from n `f_hvp` calls vs num-dual's `hessian` at n = 8 and 64. All variants are checked for
//! agreement before anything is measured.
//!
//! Run with `cargo bench -p backprop-bench`; see benches/README.md.

use std::hint::black_box;
use std::time::Duration;

use backprop_bench::loops::{call, dot, llsq, recurrence};
use backprop_bench::tensor::{REG, affine_relu, conv, softmax, two_layer};
use backprop_bench::{
    chain, check, gmm, hessian, loops, modes, neuron, rnn, softmax_hvp, staged, struct_params,
};
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, criterion_group, criterion_main};

fn bench_staged(c: &mut Criterion) {
    let (x, y) = staged::POINT;
    let mut group = c.benchmark_group("staged");
    group.bench_function("generated", |b| {
        b.iter(|| staged::generated(black_box(x), black_box(y)))
    });
    group.bench_function("hand", |b| {
        b.iter(|| staged::hand(black_box(x), black_box(y)))
    });
    group.bench_function("numeric", |b| {
        b.iter(|| staged::numeric(black_box(x), black_box(y)))
    });
    group.bench_function("dual", |b| {
        b.iter(|| staged::dual(black_box(x), black_box(y)))
    });
    group.finish();
}

fn bench_neuron(c: &mut Criterion) {
    let (w, x) = neuron::POINT;
    let mut group = c.benchmark_group("neuron");
    group.bench_function("generated", |b| {
        b.iter(|| neuron::generated(black_box(w), black_box(x)))
    });
    group.bench_function("hand", |b| {
        b.iter(|| neuron::hand(black_box(w), black_box(x)))
    });
    group.bench_function("numeric", |b| {
        b.iter(|| neuron::numeric(black_box(w), black_box(x)))
    });
    group.bench_function("dual", |b| {
        b.iter(|| neuron::dual(black_box(w), black_box(x)))
    });
    group.finish();
}

fn bench_chain200(c: &mut Criterion) {
    let [p, q, r, s] = chain::POINT;
    let args = || (black_box(p), black_box(q), black_box(r), black_box(s));
    let mut group = c.benchmark_group("chain200");
    group.bench_function("generated", |b| {
        b.iter(|| {
            let (p, q, r, s) = args();
            chain::generated(p, q, r, s)
        })
    });
    group.bench_function("hand", |b| {
        b.iter(|| {
            let (p, q, r, s) = args();
            chain::hand(p, q, r, s)
        })
    });
    group.bench_function("numeric", |b| {
        b.iter(|| {
            let (p, q, r, s) = args();
            chain::numeric(p, q, r, s)
        })
    });
    group.bench_function("dual", |b| {
        b.iter(|| {
            let (p, q, r, s) = args();
            chain::dual(p, q, r, s)
        })
    });
    group.finish();
}

/// Forward mode and second order on `staged` and `chain200`: the function itself, `f_jvp`,
/// `f_grad` and `f_hvp`, in one group per program (`cargo bench -p backprop-bench -- second_order`).
fn bench_second_order(c: &mut Criterion) {
    let (x, y) = staged::POINT;
    let (tx, ty) = modes::STAGED_DIRECTION;
    let mut group = c.benchmark_group("staged_second_order");
    group.bench_function("forward", |b| {
        b.iter(|| staged::forward(black_box(x), black_box(y)))
    });
    group.bench_function("jvp", |b| {
        b.iter(|| staged::jvp(black_box(x), black_box(y), black_box(tx), black_box(ty)))
    });
    group.bench_function("grad", |b| {
        b.iter(|| staged::grad(black_box(x), black_box(y)))
    });
    group.bench_function("hvp", |b| {
        b.iter(|| staged::hvp(black_box(x), black_box(y), black_box(tx), black_box(ty)))
    });
    group.finish();

    let [p, q, r, s] = chain::POINT;
    let [tp, tq, tr, ts] = modes::CHAIN_DIRECTION;
    let args = || (black_box(p), black_box(q), black_box(r), black_box(s));
    let tangent = || (black_box(tp), black_box(tq), black_box(tr), black_box(ts));
    let mut group = c.benchmark_group("chain200_second_order");
    group.bench_function("forward", |b| {
        b.iter(|| {
            let (p, q, r, s) = args();
            chain::forward(p, q, r, s)
        })
    });
    group.bench_function("jvp", |b| {
        b.iter(|| {
            let ((p, q, r, s), (tp, tq, tr, ts)) = (args(), tangent());
            chain::jvp(p, q, r, s, tp, tq, tr, ts)
        })
    });
    group.bench_function("grad", |b| {
        b.iter(|| {
            let (p, q, r, s) = args();
            chain::grad(p, q, r, s)
        })
    });
    group.bench_function("hvp", |b| {
        b.iter(|| {
            let ((p, q, r, s), (tp, tq, tr, ts)) = (args(), tangent());
            chain::hvp(p, q, r, s, tp, tq, tr, ts)
        })
    });
    group.finish();
}

/// Second order on ndarray: the softmax loss of a linear classifier at N = 256, D = 64, C = 10,
/// `f_grad` vs `f_hvp` vs the hand-written closed-form HVP (`cargo bench -p backprop-bench --
/// softmax_second_order`).
fn bench_softmax_second_order(c: &mut Criterion) {
    let at = softmax_hvp::inputs();
    let mut group = c.benchmark_group("softmax_second_order");
    group.bench_function("grad", |b| {
        b.iter(|| softmax_hvp::grad(black_box(&at.w), &at.x, &at.y))
    });
    group.bench_function("hvp", |b| {
        b.iter(|| softmax_hvp::hvp(black_box(&at.w), &at.x, &at.y, black_box(&at.v)))
    });
    group.bench_function("hvp_hand", |b| {
        b.iter(|| softmax_hvp::hvp_hand(black_box(&at.w), &at.x, &at.y, black_box(&at.v)))
    });
    group.finish();
}

/// The full Hessian of the extended Rosenbrock function at n = 8 and 64: n `f_hvp` calls
/// with the unit vectors against num-dual's `hessian` (`cargo bench -p backprop-bench --
/// hessian`).
fn bench_hessian(c: &mut Criterion) {
    let mut group = c.benchmark_group("hessian");
    for n in [8, 64] {
        let x = hessian::point(n);
        group.bench_function(format!("hvp_hessian_{n}"), |b| {
            b.iter(|| hessian::hvp_hessian(black_box(&x)))
        });
        group.bench_function(format!("dual_hessian_{n}"), |b| {
            b.iter(|| hessian::dual_hessian(black_box(&x)))
        });
    }
    group.finish();
}

fn bench_svm_naive(c: &mut Criterion) {
    let at = loops::inputs();
    let args = || {
        (
            black_box(at.w.as_slice()),
            at.x.as_slice(),
            at.y.as_slice(),
            black_box(at.n),
            black_box(at.d),
            black_box(at.c),
            black_box(loops::REG),
        )
    };
    let mut group = c.benchmark_group("svm_naive");
    group.bench_function("generated", |b| {
        b.iter(|| {
            let (w, x, y, n, d, c, reg) = args();
            loops::generated(w, x, y, n, d, c, reg)
        })
    });
    group.bench_function("hand", |b| {
        b.iter(|| {
            let (w, x, y, n, d, c, reg) = args();
            loops::hand(w, x, y, n, d, c, reg)
        })
    });
    group.finish();
}

fn bench_recurrence(c: &mut Criterion) {
    let at = recurrence::inputs();
    let mut group = c.benchmark_group("recurrence");
    group.bench_function("generated", |b| {
        b.iter(|| recurrence::generated(black_box(&at.w), &at.x, black_box(at.h0)))
    });
    group.bench_function("hand", |b| {
        b.iter(|| recurrence::hand(black_box(&at.w), &at.x, black_box(at.h0)))
    });
    group.finish();
}

fn bench_call(c: &mut Criterion) {
    let at = recurrence::inputs();
    let mut group = c.benchmark_group("call");
    group.bench_function("generated", |b| {
        b.iter(|| call::generated(black_box(&at.w), &at.x, black_box(at.h0)))
    });
    group.bench_function("joint", |b| {
        b.iter(|| call::joint(black_box(&at.w), &at.x, black_box(at.h0)))
    });
    group.bench_function("hand", |b| {
        b.iter(|| recurrence::hand(black_box(&at.w), &at.x, black_box(at.h0)))
    });
    group.finish();
}

fn bench_dot(c: &mut Criterion) {
    let at = dot::inputs();
    let mut group = c.benchmark_group("dot");
    group.bench_function("generated", |b| {
        b.iter(|| dot::generated(black_box(&at.w), black_box(&at.x)))
    });
    group.bench_function("hand", |b| {
        b.iter(|| dot::hand(black_box(&at.w), black_box(&at.x)))
    });
    group.finish();
}

fn bench_llsq(c: &mut Criterion) {
    let at = llsq::inputs();
    let mut group = c.benchmark_group("llsq");
    group.bench_function("generated", |b| {
        b.iter(|| llsq::generated(black_box(&at.x), black_box(at.n)))
    });
    group.bench_function("hand", |b| {
        b.iter(|| llsq::hand(black_box(&at.x), black_box(at.n)))
    });
    group.finish();
}

/// The Elman RNN at N = 64, T = 16, H = 64: about a millisecond per call, so the tensor
/// programs' settings.
fn bench_rnn(c: &mut Criterion) {
    let at = rnn::inputs();
    let args = || {
        (
            black_box(&at.wx),
            &at.wh,
            &at.b,
            &at.v,
            &at.xs,
            &at.h0,
            &at.targets,
        )
    };
    let mut group = tensor_group(c, "rnn");
    group.bench_function("generated", |b| {
        b.iter(|| {
            let (wx, wh, bias, v, xs, h0, targets) = args();
            rnn::generated(wx, wh, bias, v, xs, h0, targets)
        })
    });
    group.bench_function("hand", |b| {
        b.iter(|| {
            let (wx, wh, bias, v, xs, h0, targets) = args();
            rnn::hand(wx, wh, bias, v, xs, h0, targets)
        })
    });
    group.finish();
}

/// ADBench's GMM at d = 10, K = 25, n = 1000: milliseconds per call, so the tensor programs'
/// settings.
fn bench_gmm(c: &mut Criterion) {
    let at = gmm::bench();
    let mut group = tensor_group(c, "gmm");
    group.bench_function("generated", |b| b.iter(|| gmm::generated(black_box(&at))));
    group.bench_function("hand", |b| b.iter(|| gmm::hand(black_box(&at))));
    group.bench_function("objective", |b| b.iter(|| gmm::objective(black_box(&at))));
    group.finish();
}

/// A tensor program's group: its calls take milliseconds, so fewer samples (criterion's
/// minimum, 10) over a short measurement keep the tensor part of `cargo bench` near a minute.
fn tensor_group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(8));
    group
}

fn bench_softmax(c: &mut Criterion) {
    let at = softmax::inputs();
    let mut group = tensor_group(c, "softmax");
    group.bench_function("generated", |b| {
        b.iter(|| softmax::generated(black_box(&at.w), &at.x, &at.y, black_box(REG)))
    });
    group.bench_function("hand", |b| {
        b.iter(|| softmax::hand(black_box(&at.w), &at.x, &at.y, black_box(REG)))
    });
    group.finish();
}

fn bench_two_layer(c: &mut Criterion) {
    let at = two_layer::inputs();
    let args = || {
        (
            black_box(&at.w1),
            &at.b1,
            &at.w2,
            &at.b2,
            &at.x,
            &at.y,
            black_box(REG),
        )
    };
    let mut group = tensor_group(c, "two_layer");
    group.bench_function("generated", |b| {
        b.iter(|| {
            let (w1, b1, w2, b2, x, y, reg) = args();
            two_layer::generated(w1, b1, w2, b2, x, y, reg)
        })
    });
    group.bench_function("hand", |b| {
        b.iter(|| {
            let (w1, b1, w2, b2, x, y, reg) = args();
            two_layer::hand(w1, b1, w2, b2, x, y, reg)
        })
    });
    group.finish();
}

/// The two-layer net's gradient with its parameters in a struct (`net: &TwoLayerNet`) vs. the
/// same loss with four array parameters, at the sizes of `two_layer`.
fn bench_struct_params(c: &mut Criterion) {
    let at = struct_params::inputs();
    let (x, y) = (&at.arrays.x, &at.arrays.y);
    let mut group = tensor_group(c, "struct_params");
    group.bench_function("struct", |b| {
        b.iter(|| struct_params::with_struct(black_box(&at.net), x, y, black_box(REG)))
    });
    group.bench_function("arrays", |b| {
        b.iter(|| struct_params::with_arrays(black_box(&at.net), x, y, black_box(REG)))
    });
    group.finish();
}

/// The affine + ReLU layer at N = 256, D = 512, H = 256: its backward given `dout`, which
/// each call gets a clone of (in both variants; a 512 KiB copy, about 0.5 % of a call).
fn bench_affine_relu(c: &mut Criterion) {
    let at = affine_relu::inputs();
    let mut group = tensor_group(c, "affine_relu");
    group.bench_function("generated", |b| {
        b.iter(|| affine_relu::generated(black_box(&at.x), &at.w, &at.b, at.dout.clone()))
    });
    group.bench_function("hand", |b| {
        b.iter(|| affine_relu::hand(black_box(&at.x), &at.w, &at.b, at.dout.clone()))
    });
    group.finish();
}

/// The naive convolution (8 images of 3×16×16, 8 filters of 3×3, stride 1): its backward given
/// `dout`, cloned for each call in both variants.
fn bench_conv(c: &mut Criterion) {
    let at = conv::inputs();
    let args = || (black_box(&at.x), &at.w, &at.b, black_box(at.stride));
    let mut group = tensor_group(c, "conv");
    group.bench_function("generated", |b| {
        b.iter(|| {
            let (x, w, bias, stride) = args();
            conv::generated(x, w, bias, stride, at.dout.clone())
        })
    });
    group.bench_function("hand", |b| {
        b.iter(|| {
            let (x, w, bias, stride) = args();
            conv::hand(x, w, bias, stride, at.dout.clone())
        })
    });
    group.finish();
}

fn config() -> Criterion {
    // Never compare wrong code: every variant must agree before it is timed.
    check();
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_staged, bench_neuron, bench_chain200, bench_second_order,
        bench_softmax_second_order, bench_hessian,
        bench_svm_naive, bench_recurrence, bench_call, bench_dot, bench_llsq, bench_rnn, bench_softmax, bench_two_layer, bench_struct_params, bench_affine_relu, bench_conv, bench_gmm
}
criterion_main!(benches);
