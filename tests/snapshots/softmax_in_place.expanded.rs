fn softmax_row_loss_backward(
    w: &[f64],
    x: &[f64],
    y: usize,
    classes: usize,
    d_out: f64,
) -> (f64, ::std::vec::Vec<f64>) {
    let d = x.len();
    let mut scores: ::std::vec::Vec<f64> = ::std::vec![0.0; classes];
    for j in 0..classes {
        for i in 0..d {
            let scores_mul = w[j * d + i] * x[i];
            scores[j] += scores_mul;
        }
    }
    let max = scores[0];
    let mut max_1_tape = ::backprop::ScalarTape::new();
    let mut max_1 = max;
    for j in 1..classes {
        max_1_tape.push(max_1);
        let max_2 = max_1.max(scores[j]);
        max_1 = max_2;
    }
    let max_3 = max_1;
    let mut scores_tape = ::backprop::ScalarTape::new();
    for j in 0..classes {
        scores_tape.push(scores[j]);
        scores[j] -= max_3;
    }
    let sum: f64 = 0.0;
    let mut sum_exp_tape = ::backprop::ScalarTape::new();
    let mut sum_1 = sum;
    for j in 0..classes {
        let sum_exp = scores[j].exp();
        let sum_2 = sum_1 + sum_exp;
        sum_exp_tape.push(sum_exp);
        sum_1 = sum_2;
    }
    let sum_3 = sum_1;
    let out_ln = sum_3.ln();
    let out = out_ln - scores[y];
    let d_out_ln = d_out;
    let mut d_scores = ::std::vec![0.0; scores.len()];
    d_scores[y] += -d_out;
    let d_sum_3 = d_out_ln / sum_3;
    let mut d_sum_1 = d_sum_3;
    for j in (0..classes).rev() {
        let sum_exp = sum_exp_tape.pop();
        d_scores[j] += sum_exp * d_sum_1;
    }
    let mut d_max_3 = 0.0;
    for j in (0..classes).rev() {
        d_max_3 += -d_scores[j];
        scores[j] = scores_tape.pop();
    }
    let mut d_max_1 = d_max_3;
    for j in (1..classes).rev() {
        let max_1 = max_1_tape.pop();
        let d_max_2 = d_max_1;
        d_max_1 = if max_1 >= scores[j] { d_max_2 } else { 0.0 };
        d_scores[j] += if max_1 >= scores[j] { 0.0 } else { d_max_2 };
    }
    let d_max = d_max_1;
    d_scores[0] += d_max;
    let mut d_w = ::std::vec![0.0; w.len()];
    for j in (0..classes).rev() {
        for i in (0..d).rev() {
            let d_scores_mul = d_scores[j];
            d_w[j * d + i] += x[i] * d_scores_mul;
        }
    }
    (out, d_w)
}
