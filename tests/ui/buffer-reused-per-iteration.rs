use backprop::backprop;

#[backprop(wrt(w))]
fn softmax_loss_naive(w: &[f64], x: &[f64], y: &[usize], d: usize, c: usize) -> f64 {
    let n = y.len();
    let mut scores = vec![0.0; c];
    let mut loss = 0.0;
    for i in 0..n {
        for j in 0..c {
            let mut s = 0.0;
            for k in 0..d {
                s += x[i * d + k] * w[k * c + j];
            }
            scores[j] = s;
        }
        let mut sum_exp = 0.0;
        for j in 0..c {
            sum_exp += scores[j].exp();
        }
        loss += sum_exp.ln() - scores[y[i]];
    }
    loss / n as f64
}

fn main() {
    let _ = softmax_loss_naive_grad(&[0.1; 6], &[1.0; 6], &[0, 1], 3, 2);
}
