//! Heap allocations per call of the loop programs' (`svm_naive`, `recurrence`, `dot`, `rnn`), the
//! tensor programs' (`softmax`, `two_layer`, and the layers `affine_relu`, `conv`), the GMM
//! program's variants and the softmax loss's `f_grad`, `f_hvp` and HVP by hand (`softmax_hvp`:
//! `grad`, `hvp`, `hvp_hand`), counted by a global allocator that wraps the system allocator.
//!
//! Usage: `allocs [N]` (N calls per variant, default 10) prints a markdown table: allocations
//! per call (`alloc` and `alloc_zeroed`; `realloc` counted apart), bytes allocated per call,
//! the peak of live heap bytes during a call above what was live before it, and the minor page
//! faults per call (Linux: from `/proc/self/stat`). Page faults depend on the allocator's
//! state, so on what ran before: glibc gives freed memory at the top of its heap back to the
//! system once more than its trim threshold (2 × the largest freed mmapped block, here ~2 MiB)
//! is free, and a call that then grows the heap again faults every page back in.
//! `allocs --list PROGRAM VARIANT` prints the size of every allocation of one call, in order.
//!
//! Each variant is called once before counting, so nothing lazily initialised on a first call
//! is counted. The gradients a call returns are counted (they are allocated by the call) and
//! dropped before the next call.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use backprop_bench::loops::{dot, recurrence};
use backprop_bench::tensor::{REG, affine_relu, conv, softmax, two_layer};
use backprop_bench::{gmm, loops, rnn, softmax_hvp};

/// The system allocator, counting.
struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);
static REALLOCS: AtomicUsize = AtomicUsize::new(0);
static BYTES: AtomicUsize = AtomicUsize::new(0);
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
/// For `--list`: the number of the first allocation whose size is recorded in `SIZES` (a
/// fixed buffer: recording must not allocate); `usize::MAX` when not listing.
static LIST_FROM: AtomicUsize = AtomicUsize::new(usize::MAX);
static SIZES: [AtomicUsize; 256] = [const { AtomicUsize::new(0) }; 256];

fn record(size: usize) {
    let k = ALLOCS.fetch_add(1, Relaxed);
    BYTES.fetch_add(size, Relaxed);
    let live = LIVE.fetch_add(size, Relaxed) + size;
    PEAK.fetch_max(live, Relaxed);
    if let Some(i) = k.checked_sub(LIST_FROM.load(Relaxed))
        && i < SIZES.len()
    {
        SIZES[i].store(size, Relaxed);
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        REALLOCS.fetch_add(1, Relaxed);
        if new_size > layout.size() {
            BYTES.fetch_add(new_size - layout.size(), Relaxed);
            let live = LIVE.fetch_add(new_size - layout.size(), Relaxed) + new_size - layout.size();
            PEAK.fetch_max(live, Relaxed);
        } else {
            LIVE.fetch_sub(layout.size() - new_size, Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// What `n` calls allocated, per call.
struct Counts {
    allocs: f64,
    reallocs: f64,
    bytes: f64,
    peak: usize,
    faults: Option<f64>,
}

/// Minor page faults of this process so far (field 10 of `/proc/self/stat`), where available.
fn minor_faults() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) is in parentheses and may contain spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split(' ').nth(7)?.parse().ok()
}

/// Calls `call` once uncounted, then `n` times counted.
fn count(n: usize, mut call: impl FnMut() -> f64) -> Counts {
    black_box(call());
    // Reading the fault count allocates: outside the counted window.
    let faults = minor_faults();
    let (allocs, reallocs, bytes) = (
        ALLOCS.load(Relaxed),
        REALLOCS.load(Relaxed),
        BYTES.load(Relaxed),
    );
    let mut peak = 0;
    for _ in 0..n {
        let before = LIVE.load(Relaxed);
        PEAK.store(before, Relaxed);
        black_box(call());
        peak = peak.max(PEAK.load(Relaxed) - before);
    }
    let per_call = |total: usize, start: usize| (total - start) as f64 / n as f64;
    let (allocs, reallocs, bytes) = (
        per_call(ALLOCS.load(Relaxed), allocs),
        per_call(REALLOCS.load(Relaxed), reallocs),
        per_call(BYTES.load(Relaxed), bytes),
    );
    Counts {
        allocs,
        reallocs,
        bytes,
        peak,
        faults: minor_faults()
            .zip(faults)
            .map(|(end, start)| (end - start) as f64 / n as f64),
    }
}

/// One call of a variant, its gradient dropped inside; returns the loss.
fn call(program: &str, variant: &str) -> Option<Box<dyn FnMut() -> f64>> {
    match (program, variant) {
        ("svm_naive", "generated" | "hand") => {
            let at = loops::inputs();
            loops::check(&at, loops::REG);
            let f = if variant == "generated" {
                loops::generated
            } else {
                loops::hand
            };
            Some(Box::new(move || {
                let (w, x, y) = (black_box(&at.w), &at.x, &at.y);
                f(w, x, y, at.n, at.d, at.c, loops::REG).0
            }))
        }
        ("recurrence", "generated" | "hand") => {
            let at = recurrence::inputs();
            recurrence::check(&at);
            let f = if variant == "generated" {
                recurrence::generated
            } else {
                recurrence::hand
            };
            Some(Box::new(move || f(black_box(&at.w), &at.x, at.h0).0))
        }
        ("dot", "generated" | "hand") => {
            let at = dot::inputs();
            dot::check(&at);
            let f = if variant == "generated" {
                dot::generated
            } else {
                dot::hand
            };
            Some(Box::new(move || f(black_box(&at.w), &at.x).0))
        }
        ("rnn", "generated" | "hand") => {
            let at = rnn::inputs();
            rnn::check(&at);
            let f = if variant == "generated" {
                rnn::generated
            } else {
                rnn::hand
            };
            Some(Box::new(move || {
                f(
                    black_box(&at.wx),
                    &at.wh,
                    &at.b,
                    &at.v,
                    &at.xs,
                    &at.h0,
                    &at.targets,
                )
                .0
            }))
        }
        ("gmm", "generated" | "hand" | "objective") => {
            let at = gmm::bench();
            gmm::check(&at);
            Some(match variant {
                "generated" => Box::new(move || gmm::generated(black_box(&at)).0),
                "hand" => Box::new(move || gmm::hand(black_box(&at)).0),
                _ => Box::new(move || gmm::objective(black_box(&at))),
            })
        }
        ("softmax", "generated" | "hand") => {
            let at = softmax::inputs();
            softmax::check(&at, REG);
            let f = if variant == "generated" {
                softmax::generated
            } else {
                softmax::hand
            };
            Some(Box::new(move || f(black_box(&at.w), &at.x, &at.y, REG).0))
        }
        ("two_layer", "generated" | "hand") => {
            let at = two_layer::inputs();
            two_layer::check(&at, REG);
            let f = if variant == "generated" {
                two_layer::generated
            } else {
                two_layer::hand
            };
            Some(Box::new(move || {
                f(black_box(&at.w1), &at.b1, &at.w2, &at.b2, &at.x, &at.y, REG).0
            }))
        }
        ("softmax_hvp", "grad" | "hvp" | "hvp_hand") => {
            let at = softmax_hvp::inputs();
            softmax_hvp::check(&at);
            Some(match variant {
                "grad" => Box::new(move || softmax_hvp::grad(black_box(&at.w), &at.x, &at.y).0),
                "hvp" => {
                    Box::new(move || softmax_hvp::hvp(black_box(&at.w), &at.x, &at.y, &at.v).0)
                }
                _ => {
                    Box::new(move || softmax_hvp::hvp_hand(black_box(&at.w), &at.x, &at.y, &at.v).0)
                }
            })
        }
        // The layers: the clone of the upstream gradient each call is given is counted too (one
        // allocation, in both variants); returns an output entry.
        ("affine_relu", "generated" | "hand") => {
            let at = affine_relu::inputs();
            affine_relu::check(&at);
            let f = if variant == "generated" {
                affine_relu::generated
            } else {
                affine_relu::hand
            };
            Some(Box::new(move || {
                f(black_box(&at.x), &at.w, &at.b, at.dout.clone()).0[[0, 0]]
            }))
        }
        ("conv", "generated" | "hand") => {
            let at = conv::inputs();
            conv::check(&at);
            let f = if variant == "generated" {
                conv::generated
            } else {
                conv::hand
            };
            Some(Box::new(move || {
                f(black_box(&at.x), &at.w, &at.b, at.stride, at.dout.clone()).0[[0, 0, 0, 0]]
            }))
        }
        _ => None,
    }
}

fn kib(bytes: f64) -> String {
    format!("{:.1} KiB", bytes / 1024.0)
}

fn table(n: usize) {
    println!("heap allocations per call (counting global allocator, {n} calls per variant)");
    println!();
    println!(
        "| program | variant | allocations | reallocations | bytes allocated | peak live | page faults |"
    );
    println!("| --- | --- | ---: | ---: | ---: | ---: | ---: |");
    let programs: [(&str, &[&str]); 10] = [
        ("svm_naive", &["generated", "hand"]),
        ("recurrence", &["generated", "hand"]),
        ("dot", &["generated", "hand"]),
        ("rnn", &["generated", "hand"]),
        ("softmax", &["generated", "hand"]),
        ("two_layer", &["generated", "hand"]),
        ("softmax_hvp", &["grad", "hvp", "hvp_hand"]),
        ("affine_relu", &["generated", "hand"]),
        ("conv", &["generated", "hand"]),
        ("gmm", &["generated", "hand", "objective"]),
    ];
    for (program, variants) in programs {
        for &variant in variants {
            let call = call(program, variant).expect("known program");
            let c = count(n, call);
            let faults = c.faults.map_or("n/a".to_string(), |f| format!("{f:.1}"));
            println!(
                "| {program} | {variant} | {} | {} | {} | {} | {faults} |",
                c.allocs,
                c.reallocs,
                kib(c.bytes),
                kib(c.peak as f64)
            );
        }
    }
}

fn list(program: &str, variant: &str) -> bool {
    let Some(mut call) = call(program, variant) else {
        return false;
    };
    black_box(call());
    let start = ALLOCS.load(Relaxed);
    LIST_FROM.store(start, Relaxed);
    black_box(call());
    LIST_FROM.store(usize::MAX, Relaxed);
    let made = ALLOCS.load(Relaxed) - start;
    println!("{program} {variant}: {made} allocations");
    for (k, size) in SIZES.iter().take(made).enumerate() {
        println!("{k:3} {:>9} bytes", size.load(Relaxed));
    }
    true
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match &args[..] {
        [] => table(10),
        [n] if n != "--list" => match n.parse() {
            Ok(n) if n > 0 => table(n),
            _ => {
                eprintln!("allocs: bad N: {n}");
                return ExitCode::from(2);
            }
        },
        [flag, program, variant] if flag == "--list" => {
            if !list(program, variant) {
                eprintln!("allocs: unknown program/variant {program}/{variant}");
                return ExitCode::from(2);
            }
        }
        _ => {
            eprintln!("usage: allocs [N] | allocs --list PROGRAM VARIANT");
            return ExitCode::from(2);
        }
    }
    ExitCode::SUCCESS
}
