//! `lstm`: ADBench's LSTM (diagonal weights): `l` layers of `b` cells read a text of `c`
//! characters (each `b` bits) one character at a time, predict the next one, and the
//! objective is the mean negative log-likelihood of the text; its gradient with respect to
//! the main parameters (per layer: the forget, input, output and change weights, then their
//! biases, `b` each) and the extra parameters (input weights, output weights, output bias).

use crate::protocol::{Evaluation, Runs, parse, timed, unknown_function};
use backprop::backprop;
use serde::Deserialize;
use serde_json::Value;

/// The objective. `state` holds each layer's hidden and cell state (`b` each), the start of
/// the sequence; `sequence` the `c` characters, `b` bits each.
#[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
#[backprop(wrt(main_params, extra_params))]
pub fn lstm_objective(
    l: usize,
    c: usize,
    b: usize,
    main_params: &[f64],
    extra_params: &[f64],
    state: &[f64],
    sequence: &[f64],
) -> f64 {
    let mut st = state.to_vec();
    let mut ypred = vec![0.0; b];
    let mut total = 0.0;
    let mut count = 0;
    for t in 0..c - 1 {
        for i in 0..b {
            ypred[i] = sequence[t * b + i] * extra_params[i];
        }
        for layer in 0..l {
            let p = 8 * b * layer;
            let s = 2 * b * layer;
            for i in 0..b {
                // The layer's input: the scaled character, or the layer below's new hidden state.
                let x = if layer == 0 {
                    ypred[i]
                } else {
                    st[s - 2 * b + i]
                };
                let forget = backprop::sigmoid(x * main_params[p + i] + main_params[p + 4 * b + i]);
                let ingate = backprop::sigmoid(
                    st[s + i] * main_params[p + b + i] + main_params[p + 5 * b + i],
                );
                let outgate =
                    backprop::sigmoid(x * main_params[p + 2 * b + i] + main_params[p + 6 * b + i]);
                let change =
                    (st[s + i] * main_params[p + 3 * b + i] + main_params[p + 7 * b + i]).tanh();
                st[s + b + i] = st[s + b + i] * forget + ingate * change;
                st[s + i] = outgate * st[s + b + i].tanh();
            }
        }
        let top = 2 * b * (l - 1);
        for i in 0..b {
            ypred[i] = st[top + i] * extra_params[b + i] + extra_params[2 * b + i];
        }
        // ADBench's log-sum-exp, with its + 2.
        let mut sum = 0.0;
        for i in 0..b {
            sum += ypred[i].exp();
        }
        let lse = (sum + 2.0).ln();
        for i in 0..b {
            total += sequence[(t + 1) * b + i] * (ypred[i] - lse);
        }
        count += b;
    }
    -total / count as f64
}

#[derive(Deserialize)]
struct Input {
    main_params: Vec<Vec<f64>>,
    extra_params: Vec<Vec<f64>>,
    state: Vec<Vec<f64>>,
    sequence: Vec<Vec<f64>>,
}

pub fn evaluate(function: &str, input: &Value) -> Result<Evaluation, String> {
    let runs = Runs::of(input)?;
    let i: Input = parse(input)?;
    let l = i.main_params.len() / 2;
    let b = i.main_params.first().map_or(0, |r| r.len() / 4);
    let c = i.sequence.len();
    let (main_params, extra_params) = (i.main_params.concat(), i.extra_params.concat());
    let (state, sequence) = (i.state.concat(), i.sequence.concat());
    if l == 0
        || b == 0
        || c < 2
        || main_params.len() != 8 * b * l
        || extra_params.len() != 3 * b
        || state.len() != 2 * b * l
        || sequence.len() != c * b
    {
        return Err(
            "lstm: the sizes of main_params, extra_params, state, sequence do not match"
                .to_string(),
        );
    }
    let run = || lstm_objective(l, c, b, &main_params, &extra_params, &state, &sequence);
    match function {
        "objective" => timed(runs, run, |y| y),
        "jacobian" => timed(
            runs,
            || lstm_objective_grad(l, c, b, &main_params, &extra_params, &state, &sequence),
            |(_, (d_main, d_extra))| [d_main, d_extra].concat(),
        ),
        _ => Err(unknown_function("lstm", function)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{assert_close, draws};

    #[test]
    fn gradient_matches_central_differences() {
        for (l, c, b) in [(1, 3, 2), (2, 4, 3)] {
            let main_params = draws(8 * b * l, 21);
            let extra_params = draws(3 * b, 22);
            let state = draws(2 * b * l, 23);
            let sequence: Vec<f64> = draws(c * b, 24).iter().map(|v| v.round()).collect();
            let (y, (d_main, d_extra)) =
                lstm_objective_grad(l, c, b, &main_params, &extra_params, &state, &sequence);
            assert_eq!(
                y,
                lstm_objective(l, c, b, &main_params, &extra_params, &state, &sequence)
            );
            let all = [main_params.clone(), extra_params.clone()].concat();
            let numeric = backprop::numeric_gradient(
                |p: &[f64]| {
                    let (m, e) = p.split_at(8 * b * l);
                    lstm_objective(l, c, b, m, e, &state, &sequence)
                },
                &all,
            );
            assert_close(&[d_main, d_extra].concat(), &numeric, 1e-6);
        }
    }
}
