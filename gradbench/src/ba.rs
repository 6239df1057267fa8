//! `ba`: bundle adjustment (ADBench's): for each observation, the reprojection error of a
//! 3-D point seen by a camera (11 parameters: a Rodrigues rotation, the centre, the focal
//! length, the principal point, two radial distortion coefficients), weighted, and the
//! weight's error `1 − w²`; and their sparse Jacobian, each observation's 2×15 block from two
//! `_backward` calls (its two rows).

use crate::protocol::{Evaluation, Runs, parse, timed, unknown_function};
use backprop::backprop;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Parameters per camera.
pub const CAM: usize = 11;

/// `pt` rotated by the angle-axis vector `rot` (Rodrigues' formula; near zero, its first
/// order `pt + rot × pt`).
#[backprop]
pub fn rodrigues_rotate_point(rot: &[f64], pt: [f64; 3]) -> [f64; 3] {
    let sqtheta = rot[0] * rot[0] + rot[1] * rot[1] + rot[2] * rot[2];
    let mut rotated = [0.0; 3];
    if sqtheta != 0.0 {
        let theta = sqtheta.sqrt();
        let cos = theta.cos();
        let sin = theta.sin();
        let w = [rot[0] / theta, rot[1] / theta, rot[2] / theta];
        let w_cross_pt = [
            w[1] * pt[2] - w[2] * pt[1],
            w[2] * pt[0] - w[0] * pt[2],
            w[0] * pt[1] - w[1] * pt[0],
        ];
        let tmp = (w[0] * pt[0] + w[1] * pt[1] + w[2] * pt[2]) * (1.0 - cos);
        for i in 0..3 {
            rotated[i] = pt[i] * cos + w_cross_pt[i] * sin + w[i] * tmp;
        }
    } else {
        rotated[0] = pt[0] + rot[1] * pt[2] - rot[2] * pt[1];
        rotated[1] = pt[1] + rot[2] * pt[0] - rot[0] * pt[2];
        rotated[2] = pt[2] + rot[0] * pt[1] - rot[1] * pt[0];
    }
    rotated
}

/// The image of the point `x` in the camera `cam`: rotated into the camera's frame,
/// divided by its depth, radially distorted, scaled by the focal length and moved to the
/// principal point.
#[backprop]
pub fn project(cam: &[f64], x: &[f64]) -> [f64; 2] {
    let centred = [x[0] - cam[3], x[1] - cam[4], x[2] - cam[5]];
    let xcam: [f64; 3] = rodrigues_rotate_point(&cam[0..3], centred);
    let p0 = xcam[0] / xcam[2];
    let p1 = xcam[1] / xcam[2];
    let rsq = p0 * p0 + p1 * p1;
    let distortion = 1.0 + cam[9] * rsq + cam[10] * rsq * rsq;
    [
        p0 * distortion * cam[6] + cam[7],
        p1 * distortion * cam[6] + cam[8],
    ]
}

/// The weighted reprojection error of one observation `feat` of `x` by `cam`.
#[backprop(wrt(cam, x, w))]
pub fn reproj_error(cam: &[f64], x: &[f64], w: f64, feat: &[f64]) -> [f64; 2] {
    let proj: [f64; 2] = project(cam, x);
    [w * (proj[0] - feat[0]), w * (proj[1] - feat[1])]
}

/// The weight's error.
#[backprop]
pub fn weight_error(w: f64) -> f64 {
    1.0 - w * w
}

/// The problem, its one camera, point, weight and feature repeated as the eval asks
/// (n cameras, m points, p observations, observation i of camera i mod n and point i mod m).
struct Problem {
    n: usize,
    m: usize,
    p: usize,
    cams: Vec<f64>,
    xs: Vec<f64>,
    ws: Vec<f64>,
    feats: Vec<f64>,
    obs: Vec<(usize, usize)>,
}

#[derive(Deserialize)]
struct Input {
    n: usize,
    m: usize,
    p: usize,
    cam: Vec<f64>,
    x: Vec<f64>,
    w: f64,
    feat: Vec<f64>,
}

impl Problem {
    fn of(i: Input) -> Result<Problem, String> {
        if i.cam.len() != CAM || i.x.len() != 3 || i.feat.len() != 2 || i.n == 0 || i.m == 0 {
            return Err("ba: cam needs 11 values, x 3, feat 2, and n, m ≥ 1".to_string());
        }
        Ok(Problem {
            n: i.n,
            m: i.m,
            p: i.p,
            cams: i.cam.repeat(i.n),
            xs: i.x.repeat(i.m),
            ws: vec![i.w; i.p],
            feats: i.feat.repeat(i.p),
            obs: (0..i.p).map(|k| (k % i.n, k % i.m)).collect(),
        })
    }

    fn objective(&self) -> (Vec<f64>, Vec<f64>) {
        let mut reproj = Vec::with_capacity(2 * self.p);
        for (k, &(c, x)) in self.obs.iter().enumerate() {
            let e = reproj_error(
                &self.cams[c * CAM..(c + 1) * CAM],
                &self.xs[3 * x..3 * x + 3],
                self.ws[k],
                &self.feats[2 * k..2 * k + 2],
            );
            reproj.extend_from_slice(&e);
        }
        let w_err = self.ws.iter().map(|&w| weight_error(w)).collect();
        (reproj, w_err)
    }

    /// The Jacobian of all the errors (2p reprojection rows, then p weight rows) with
    /// respect to all the parameters (cameras, points, weights), in compressed rows.
    fn jacobian(&self) -> Sparse {
        let (n, m, p) = (self.n, self.m, self.p);
        let mut rows = Vec::with_capacity(3 * p + 1);
        let mut cols = Vec::with_capacity(31 * p);
        let mut vals = Vec::with_capacity(31 * p);
        rows.push(0);
        for (k, &(c, x)) in self.obs.iter().enumerate() {
            let (cam, pt) = (
                &self.cams[c * CAM..(c + 1) * CAM],
                &self.xs[3 * x..3 * x + 3],
            );
            let feat = &self.feats[2 * k..2 * k + 2];
            for seed in [[1.0, 0.0], [0.0, 1.0]] {
                let (_, (d_cam, d_x, d_w)) = reproj_error_backward(cam, pt, self.ws[k], feat, seed);
                for (i, v) in d_cam.into_iter().enumerate() {
                    cols.push(CAM * c + i);
                    vals.push(v);
                }
                for (i, v) in d_x.into_iter().enumerate() {
                    cols.push(CAM * n + 3 * x + i);
                    vals.push(v);
                }
                cols.push(CAM * n + 3 * m + k);
                vals.push(d_w);
                rows.push(cols.len());
            }
        }
        for (k, &w) in self.ws.iter().enumerate() {
            let (_, d_w) = weight_error_grad(w);
            cols.push(CAM * n + 3 * m + k);
            vals.push(d_w);
            rows.push(cols.len());
        }
        Sparse { rows, cols, vals }
    }
}

struct Sparse {
    rows: Vec<usize>,
    cols: Vec<usize>,
    vals: Vec<f64>,
}

/// The eval's answer for the objective: the first observation's errors and how often the
/// (identical) errors repeat.
#[derive(Serialize)]
struct Objective {
    reproj_error: Repeated,
    w_err: RepeatedOne,
}

#[derive(Serialize)]
struct Repeated {
    elements: Vec<f64>,
    repeated: usize,
}

#[derive(Serialize)]
struct RepeatedOne {
    element: f64,
    repeated: usize,
}

/// The eval's answer for the Jacobian: the first 30 entries of each list (two observations'
/// worth of rows less one) and the last.
#[derive(Serialize)]
struct Jacobian {
    rows: Vec<usize>,
    cols: Vec<usize>,
    vals: Vec<f64>,
}

fn first_30_and_last<T: Copy>(v: &[T]) -> Vec<T> {
    let mut out: Vec<T> = v.iter().take(30).copied().collect();
    out.extend(v.last());
    out
}

pub fn evaluate(function: &str, input: &Value) -> Result<Evaluation, String> {
    let runs = Runs::of(input)?;
    let problem = Problem::of(parse(input)?)?;
    if problem.p == 0 {
        return Err("ba: p = 0".to_string());
    }
    match function {
        "objective" => timed(
            runs,
            || problem.objective(),
            |(reproj, w_err)| Objective {
                reproj_error: Repeated {
                    elements: reproj[..2].to_vec(),
                    repeated: reproj.len() / 2,
                },
                w_err: RepeatedOne {
                    element: w_err[0],
                    repeated: w_err.len(),
                },
            },
        ),
        "jacobian" => timed(
            runs,
            || problem.jacobian(),
            |j| Jacobian {
                rows: first_30_and_last(&j.rows),
                cols: first_30_and_last(&j.cols),
                vals: first_30_and_last(&j.vals),
            },
        ),
        _ => Err(unknown_function("ba", function)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{assert_close, draws};

    fn camera(seed: u64, rotation_scale: f64) -> Vec<f64> {
        let r = draws(CAM, seed);
        vec![
            rotation_scale * (r[0] - 0.5),
            rotation_scale * (r[1] - 0.5),
            rotation_scale * (r[2] - 0.5),
            r[3],
            r[4],
            r[5] - 5.0,
            400.0 + 50.0 * r[6],
            r[7],
            r[8],
            0.1 * r[9],
            0.01 * r[10],
        ]
    }

    #[test]
    fn rows_of_the_jacobian_match_central_differences() {
        // A rotation, and none (the first-order branch).
        for (seed, scale) in [(1, 1.0), (2, 0.0)] {
            let cam = camera(seed, scale);
            let x: Vec<f64> = draws(3, seed + 10).iter().map(|v| 2.0 * v - 1.0).collect();
            let (w, feat) = (0.7, [3.0, -2.0]);
            let all = [cam.clone(), x.clone(), vec![w]].concat();
            for (row, seed) in [[1.0, 0.0], [0.0, 1.0]].into_iter().enumerate() {
                let (err, (d_cam, d_x, d_w)) = reproj_error_backward(&cam, &x, w, &feat, seed);
                assert_eq!(err, reproj_error(&cam, &x, w, &feat));
                let numeric = backprop::numeric_gradient(
                    |p: &[f64]| reproj_error(&p[..CAM], &p[CAM..CAM + 3], p[CAM + 3], &feat)[row],
                    &all,
                );
                let analytic = [d_cam, d_x, vec![d_w]].concat();
                // The rotation has no finite-difference neighbourhood where sqtheta = 0 is
                // exact: there the first-order branch's derivative is the reference.
                assert_close(&analytic, &numeric, 1e-5);
            }
        }
    }

    #[test]
    fn jacobian_has_the_evals_sparse_layout() {
        let input = serde_json::json!({
            "n": 2, "m": 3, "p": 4, "cam": camera(3, 1.0), "x": [0.1, 0.2, 0.3],
            "w": 0.5, "feat": [1.0, 2.0], "min_runs": 1, "min_seconds": 0,
        });
        let out = evaluate("jacobian", &input).unwrap().output;
        let rows = out["rows"].as_array().unwrap();
        let cols = out["cols"].as_array().unwrap();
        // 2p reprojection rows of 15 entries, then p weight rows of one: 3p + 1 row starts.
        assert_eq!(rows.len(), 13 + 1);
        assert_eq!(rows[..4], [0, 15, 30, 45]);
        assert_eq!(rows[13], 2 * 4 * 15 + 4);
        assert_eq!(cols.len(), 31);
        // Row 0: camera 0's 11 parameters, point 0's 3, weight 0.
        let first: Vec<u64> = cols[..15].iter().map(|c| c.as_u64().unwrap()).collect();
        assert_eq!(first, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 22, 23, 24, 31]);
        // The last entry: the last weight's derivative, −2w.
        assert_eq!(cols[30], 22 + 9 + 3);
        assert_eq!(out["vals"][30], -1.0);
        let objective = evaluate("objective", &input).unwrap().output;
        assert_eq!(objective["w_err"]["element"], 0.75);
        assert_eq!(objective["reproj_error"]["repeated"], 4);
    }
}
