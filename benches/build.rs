//! Writes the `chain200` program into `OUT_DIR/chain200.rs`, three times over:
//!
//! * `chain200`: the staged forward function, one `let` line per stage, for `#[backprop]`;
//! * `chain200_hand`: the same forward split into the named gates a person would cache, then
//!   the backward pass transcribed in the lecture notes' flat style: one local-gradient line
//!   per operand of every forward line, in reverse order, `+=` at forks;
//! * `chain200_dual`: the same forward over `Dual64`, for forward-mode reference gradients.
//!
//! The program is fixed (a seeded generator, no dependency), so every build benchmarks the
//! same 200 lines. Each line reads the previous line, an earlier line (fan-out) and usually
//! one of the four inputs, through `sin`, `tanh`, `exp`, products and sums; the constants keep
//! every value of order one, so that the gradient neither explodes nor vanishes.

use std::fmt::Write as _;
use std::path::Path;
use std::{env, fs};

const LINES: usize = 200;
const INPUTS: [&str; 4] = ["p", "q", "r", "s"];

/// xorshift64*: deterministic, good enough to pick templates and constants.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A constant in `[lo, hi]` with two decimals, written as a float literal.
    fn constant(&mut self, lo: f64, hi: f64) -> String {
        let steps = ((hi - lo) * 100.0).round() as u64;
        let value = lo + self.below(steps + 1) as f64 / 100.0;
        format!("{value:.2}")
    }
}

/// One backward contribution `d_target += expr` (or `-=` when `negative`).
struct Contribution {
    target: String,
    expr: String,
    negative: bool,
}

fn add(target: &str, expr: String) -> Contribution {
    Contribution {
        target: target.to_owned(),
        expr,
        negative: false,
    }
}

fn sub(target: &str, expr: String) -> Contribution {
    Contribution {
        target: target.to_owned(),
        expr,
        negative: true,
    }
}

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);

    let params = INPUTS
        .iter()
        .map(|i| format!("{i}: f64"))
        .collect::<Vec<_>>()
        .join(", ");
    let dual_params = INPUTS
        .iter()
        .map(|i| format!("{i}: Dual64"))
        .collect::<Vec<_>>()
        .join(", ");

    // Staged forward (for #[backprop] and, with the same text, for Dual64).
    let mut staged = String::new();
    // Forward of the hand-written backward, split into cached gates.
    let mut hand_forward = String::new();
    // Hand-written local gradients, grouped per forward line (reversed below).
    let mut hand_backward: Vec<Vec<Contribution>> = Vec::new();

    for k in 1..=LINES {
        let a = format!("a{k}");
        let prev = if k == 1 {
            "p".to_owned()
        } else {
            format!("a{}", k - 1)
        };
        let far = if k <= 2 {
            INPUTS[k + 1].to_owned()
        } else {
            let lo = k.saturating_sub(9).max(1) as u64;
            let j = lo + rng.below((k - 1) as u64 - lo);
            format!("a{j}")
        };
        let inp = INPUTS[k % INPUTS.len()];
        let d = format!("d_{a}");
        let mut back = Vec::new();
        match rng.below(5) {
            // a = (prev * c1 + inp).sin() * far
            0 => {
                let c1 = rng.constant(0.5, 1.2);
                let (u, sn) = (format!("u{k}"), format!("s{k}"));
                writeln!(
                    staged,
                    "    let {a} = ({prev} * {c1} + {inp}).sin() * {far};"
                )
                .unwrap();
                writeln!(hand_forward, "    let {u} = {prev} * {c1} + {inp};").unwrap();
                writeln!(hand_forward, "    let {sn} = {u}.sin();").unwrap();
                writeln!(hand_forward, "    let {a} = {sn} * {far};").unwrap();
                back.push(add(&sn, format!("{far} * {d}")));
                back.push(add(&far, format!("{sn} * {d}")));
                back.push(add(&u, format!("{u}.cos() * d_{sn}")));
                back.push(add(&prev, format!("{c1} * d_{u}")));
                back.push(add(inp, format!("d_{u}")));
            }
            // a = (prev * c1 - far * c2).tanh() + inp * c3
            1 => {
                let (c1, c2, c3) = (
                    rng.constant(0.5, 1.5),
                    rng.constant(0.2, 0.9),
                    rng.constant(0.2, 0.6),
                );
                let (u, t) = (format!("u{k}"), format!("t{k}"));
                writeln!(
                    staged,
                    "    let {a} = ({prev} * {c1} - {far} * {c2}).tanh() + {inp} * {c3};"
                )
                .unwrap();
                writeln!(hand_forward, "    let {u} = {prev} * {c1} - {far} * {c2};").unwrap();
                writeln!(hand_forward, "    let {t} = {u}.tanh();").unwrap();
                writeln!(hand_forward, "    let {a} = {t} + {inp} * {c3};").unwrap();
                back.push(add(&t, d.clone()));
                back.push(add(inp, format!("{c3} * {d}")));
                back.push(add(&u, format!("(1.0 - {t} * {t}) * d_{t}")));
                back.push(add(&prev, format!("{c1} * d_{u}")));
                back.push(sub(&far, format!("{c2} * d_{u}")));
            }
            // a = (prev * c1).exp() * c2 - far * c3
            2 => {
                let (c1, c2, c3) = (
                    rng.constant(0.1, 0.3),
                    rng.constant(0.3, 0.8),
                    rng.constant(0.2, 0.5),
                );
                let e = format!("e{k}");
                writeln!(
                    staged,
                    "    let {a} = ({prev} * {c1}).exp() * {c2} - {far} * {c3};"
                )
                .unwrap();
                writeln!(hand_forward, "    let {e} = ({prev} * {c1}).exp();").unwrap();
                writeln!(hand_forward, "    let {a} = {e} * {c2} - {far} * {c3};").unwrap();
                back.push(add(&e, format!("{c2} * {d}")));
                back.push(sub(&far, format!("{c3} * {d}")));
                back.push(add(&prev, format!("{c1} * {e} * d_{e}")));
            }
            // a = prev * far * c1 + inp
            3 => {
                let c1 = rng.constant(0.3, 0.6);
                writeln!(staged, "    let {a} = {prev} * {far} * {c1} + {inp};").unwrap();
                let m = format!("m{k}");
                writeln!(hand_forward, "    let {m} = {prev} * {far};").unwrap();
                writeln!(hand_forward, "    let {a} = {m} * {c1} + {inp};").unwrap();
                back.push(add(&m, format!("{c1} * {d}")));
                back.push(add(inp, d.clone()));
                back.push(add(&prev, format!("{far} * d_{m}")));
                back.push(add(&far, format!("{prev} * d_{m}")));
            }
            // a = (prev + far) * c1 + inp * c2
            _ => {
                let (c1, c2) = (rng.constant(0.2, 0.45), rng.constant(0.2, 0.6));
                writeln!(
                    staged,
                    "    let {a} = ({prev} + {far}) * {c1} + {inp} * {c2};"
                )
                .unwrap();
                writeln!(
                    hand_forward,
                    "    let {a} = ({prev} + {far}) * {c1} + {inp} * {c2};"
                )
                .unwrap();
                back.push(add(&prev, format!("{c1} * {d}")));
                back.push(add(&far, format!("{c1} * {d}")));
                back.push(add(inp, format!("{c2} * {d}")));
            }
        }
        hand_backward.push(back);
    }

    // Reverse sweep: the first contribution to a gradient declares it (`mut` only if more
    // follow), later ones accumulate.
    let contributions: Vec<&Contribution> = hand_backward.iter().rev().flatten().collect();
    let mut remaining = std::collections::HashMap::<&str, usize>::new();
    for c in &contributions {
        *remaining.entry(c.target.as_str()).or_default() += 1;
    }
    let mut declared = std::collections::HashSet::<&str>::new();
    let mut backward = String::new();
    let last = format!("a{LINES}");
    writeln!(backward, "    let d_{last} = 1.0;").unwrap();
    for c in &contributions {
        let target = c.target.as_str();
        let more = remaining[target] > 1;
        *remaining.get_mut(target).unwrap() -= 1;
        if declared.insert(target) {
            let mutable = if more { "mut " } else { "" };
            let sign = if c.negative { "-" } else { "" };
            writeln!(backward, "    let {mutable}d_{target} = {sign}{};", c.expr).unwrap();
        } else {
            let op = if c.negative { "-=" } else { "+=" };
            writeln!(backward, "    d_{target} {op} {};", c.expr).unwrap();
        }
    }
    let grads = INPUTS
        .iter()
        .map(|i| format!("d_{i}"))
        .collect::<Vec<_>>()
        .join(", ");

    // The last line is the function's tail expression, as in the notes' `f = num * invden`.
    let last_line = staged.lines().last().unwrap().to_owned();
    let tail = last_line
        .trim_start()
        .strip_prefix(&format!("let {last} = "))
        .and_then(|e| e.strip_suffix(';'))
        .unwrap();
    let staged = format!(
        "{}    {tail}\n",
        &staged[..staged.len() - last_line.len() - 1]
    );

    let mut out = String::new();
    writeln!(
        out,
        "// @generated by benches/build.rs: {LINES} staged lines over the inputs {}.\n",
        INPUTS.join(", ")
    )
    .unwrap();
    writeln!(
        out,
        "/// The {LINES}-line staged chain, differentiated by `#[backprop]` (with `f_jvp` and `f_hvp`).\n\
         #[backprop(jvp, hvp)]\npub fn chain200({params}) -> f64 {{\n{staged}}}\n"
    )
    .unwrap();
    writeln!(
        out,
        "/// Value and gradient of [`chain200`], backward written in the notes' flat style.\n\
         pub fn chain200_hand({params}) -> (f64, (f64, f64, f64, f64)) {{\n\
         {hand_forward}{backward}    ({last}, ({grads}))\n}}\n"
    )
    .unwrap();
    writeln!(
        out,
        "/// [`chain200`] over dual numbers (forward mode).\n\
         pub fn chain200_dual({dual_params}) -> Dual64 {{\n{staged}}}"
    )
    .unwrap();

    let dest = Path::new(&env::var("OUT_DIR").unwrap()).join("chain200.rs");
    fs::write(dest, out).unwrap();
}
