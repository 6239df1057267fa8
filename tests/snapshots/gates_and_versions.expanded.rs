fn gates_and_versions_backward(
    x: f64,
    y: f64,
    z: f64,
    d_out: f64,
) -> (f64, (f64, f64, f64)) {
    let m = x.max(y);
    let s = m * z;
    let s_1 = s + x;
    let s_2 = s_1 * s_1;
    let r = if s_2 > 1.0 {
        let r_ln = s_2.ln();
        r_ln * y
    } else {
        0.0
    };
    let out = r + s_2;
    let d_r = d_out;
    let mut d_s_2 = d_out;
    let mut d_y = 0.0;
    if s_2 > 1.0 {
        let r_ln = s_2.ln();
        let d_r_mul = d_r;
        let d_r_ln = y * d_r_mul;
        d_y += r_ln * d_r_mul;
        d_s_2 += d_r_ln / s_2;
    }
    let d_s_1 = 2.0 * s_1 * d_s_2;
    let d_s = d_s_1;
    let mut d_x = d_s_1;
    let d_m = z * d_s;
    let d_z = m * d_s;
    d_x += if x >= y { d_m } else { 0.0 };
    d_y += if x >= y { 0.0 } else { d_m };
    (out, (d_x, d_y, d_z))
}
