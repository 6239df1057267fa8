fn polynomial_fit_backward(
    coef: &[f64],
    ts: &[f64],
    ys: &[f64],
    d_out: f64,
) -> (f64, ::std::vec::Vec<f64>) {
    let sum: f64 = 0.0;
    let d_sum_3 = d_out / 2.0;
    let mut d_sum_1 = d_sum_3;
    let mut d_coef = ::std::vec![0.0; coef.len()];
    let mut sum_1 = sum;
    for i in 0..ts.len() {
        let t = ts[i];
        let r = ys[i];
        let power: f64 = 1.0;
        let mut r_1 = r;
        let mut power_1 = power;
        for k in 0..coef.len() {
            let r_mul = coef[k] * power_1;
            let r_2 = r_1 - r_mul;
            let power_2 = power_1 * t;
            r_1 = r_2;
            power_1 = power_2;
        }
        let r_3 = r_1;
        let sum_mul = r_3 * r_3;
        let sum_2 = sum_1 + sum_mul;
        let d_r_3 = 2.0 * r_3 * d_sum_1;
        let mut d_r_1 = d_r_3;
        let mut power_1 = power;
        for k in 0..coef.len() {
            let power_2 = power_1 * t;
            let d_r_mul = -d_r_1;
            d_coef[k] += power_1 * d_r_mul;
            power_1 = power_2;
        }
        sum_1 = sum_2;
    }
    let sum_3 = sum_1;
    let out = sum_3 / 2.0;
    (out, d_coef)
}
