//! Generated (`#[backprop]`'s `_grad`) vs hand-written flat backprop vs central differences vs
//! forward-mode dual numbers, on the lecture's staged function, its sigmoid neuron and a
//! 200-line chain. All variants are checked for agreement before anything is measured.
//!
//! Run with `cargo bench -p backprop-bench`; see benches/README.md.

use std::hint::black_box;
use std::time::Duration;

use backprop_bench::{chain, check, neuron, staged};
use criterion::{Criterion, criterion_group, criterion_main};

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
    targets = bench_staged, bench_neuron, bench_chain200
}
criterion_main!(benches);
