//! `ht`: ADBench's hand tracking. A hand model of bones (4×4 transforms, row-major here) is
//! posed by 26 parameters `theta` (global rotation, translation, and the fingers' joint
//! angles), its vertices skinned by the bones' weights; each data point's error is its
//! distance to a point of its triangle on the posed mesh, at barycentric coordinates `us`.
//! The Jacobian of the 3N errors with respect to `theta` (26 columns) and `us` (2 columns,
//! each row's own `u`): one `_jvp` per column.

use crate::protocol::{Evaluation, Runs, parse, timed, unknown_function};
use backprop::backprop;
use serde::Deserialize;
use serde_json::Value;

/// The hand model: `parents[b]` (negative for the root; a parent comes before its
/// children), `base_relatives` and `inverse_base_absolutes` (16 per bone, row-major),
/// `base_positions` (4 per vertex, homogeneous), `weights` (`weights[b * nv + v]`) and the
/// mesh's `triangles` (3 vertex indices each).
pub struct Model {
    pub parents: Vec<i64>,
    pub base_relatives: Vec<f64>,
    pub inverse_base_absolutes: Vec<f64>,
    pub base_positions: Vec<f64>,
    pub weights: Vec<f64>,
    pub triangles: Vec<usize>,
    pub is_mirrored: bool,
}

/// The posed and skinned vertex positions (3 per vertex) of `model` at `theta`.
#[allow(clippy::needless_range_loop)]
#[backprop(wrt(theta), jvp)]
pub fn skinned_positions(theta: &[f64], model: &Model) -> Vec<f64> {
    let bones = model.parents.len();
    let nv = model.base_positions.len() / 4;
    // The pose parameters, 3 per column: global rotation, scale, translation, then three
    // Euler angles per bone (the fingers' joints from theta, the rest zero).
    let mut pose = vec![0.0; 3 * (bones + 3)];
    for r in 0..3 {
        pose[r] = theta[r];
        pose[3 + r] = 1.0;
        pose[6 + r] = theta[3 + r];
    }
    let mut i_theta = 6;
    let mut i_pose = 5;
    for _finger in 0..5 {
        for joint in 2..5 {
            pose[3 * i_pose] = theta[i_theta];
            i_theta += 1;
            if joint == 2 {
                pose[3 * i_pose + 1] = theta[i_theta];
                i_theta += 1;
            }
            i_pose += 1;
        }
        i_pose += 1;
    }

    // Each bone's transform relative to its parent: its base transform, rotated by the
    // Euler angles (x, z, y) of its pose column, R = Rz Ry Rx.
    let mut relatives = vec![0.0; 16 * bones];
    for b in 0..bones {
        let tx = pose[3 * (b + 3)];
        let tz = pose[3 * (b + 3) + 1];
        let ty = pose[3 * (b + 3) + 2];
        let (cx, sx) = (tx.cos(), tx.sin());
        let (cy, sy) = (ty.cos(), ty.sin());
        let (cz, sz) = (tz.cos(), tz.sin());
        let rx = [1.0, 0.0, 0.0, 0.0, cx, -sx, 0.0, sx, cx];
        let ry = [cy, 0.0, sy, 0.0, 1.0, 0.0, -sy, 0.0, cy];
        let rz = [cz, -sz, 0.0, sz, cz, 0.0, 0.0, 0.0, 1.0];
        let mut rzy = [0.0; 9];
        for r in 0..3 {
            for c in 0..3 {
                for k in 0..3 {
                    rzy[3 * r + c] += rz[3 * r + k] * ry[3 * k + c];
                }
            }
        }
        let mut rot = [0.0; 9];
        for r in 0..3 {
            for c in 0..3 {
                for k in 0..3 {
                    rot[3 * r + c] += rzy[3 * r + k] * rx[3 * k + c];
                }
            }
        }
        for r in 0..4 {
            for c in 0..3 {
                for k in 0..3 {
                    relatives[16 * b + 4 * r + c] +=
                        model.base_relatives[16 * b + 4 * r + k] * rot[3 * k + c];
                }
            }
            relatives[16 * b + 4 * r + 3] = model.base_relatives[16 * b + 4 * r + 3];
        }
    }

    // Absolute transforms down the tree (a parent comes before its children), then the
    // skinning transforms.
    let mut absolutes = vec![0.0; 16 * bones];
    for b in 0..bones {
        if model.parents[b] < 0 {
            for e in 0..16 {
                absolutes[16 * b + e] = relatives[16 * b + e];
            }
        } else {
            let p = model.parents[b] as usize;
            for r in 0..4 {
                for c in 0..4 {
                    for k in 0..4 {
                        absolutes[16 * b + 4 * r + c] +=
                            absolutes[16 * p + 4 * r + k] * relatives[16 * b + 4 * k + c];
                    }
                }
            }
        }
    }
    let mut transforms = vec![0.0; 16 * bones];
    for b in 0..bones {
        for r in 0..4 {
            for c in 0..4 {
                for k in 0..4 {
                    transforms[16 * b + 4 * r + c] += absolutes[16 * b + 4 * r + k]
                        * model.inverse_base_absolutes[16 * b + 4 * k + c];
                }
            }
        }
    }

    // Linear blend skinning.
    let mut skinned = vec![0.0; 3 * nv];
    for b in 0..bones {
        for v in 0..nv {
            for r in 0..3 {
                let mut moved = 0.0;
                for k in 0..4 {
                    moved += transforms[16 * b + 4 * r + k] * model.base_positions[4 * v + k];
                }
                skinned[3 * v + r] += moved * model.weights[b * nv + v];
            }
        }
    }
    if model.is_mirrored {
        for v in 0..nv {
            skinned[3 * v] = -skinned[3 * v];
        }
    }

    // The global rotation (angle-axis; identity below 1e-4), scale and translation.
    let norm = (theta[0] * theta[0] + theta[1] * theta[1] + theta[2] * theta[2]).sqrt();
    let mut global = [0.0; 9];
    global[0] = 1.0;
    global[4] = 1.0;
    global[8] = 1.0;
    if norm >= 1e-4 {
        let x = theta[0] / norm;
        let y = theta[1] / norm;
        let z = theta[2] / norm;
        let s = norm.sin();
        let c = norm.cos();
        global[0] = x * x + (1.0 - x * x) * c;
        global[1] = x * y * (1.0 - c) - z * s;
        global[2] = x * z * (1.0 - c) + y * s;
        global[3] = x * y * (1.0 - c) + z * s;
        global[4] = y * y + (1.0 - y * y) * c;
        global[5] = y * z * (1.0 - c) - x * s;
        global[6] = x * z * (1.0 - c) - y * s;
        global[7] = z * y * (1.0 - c) + x * s;
        global[8] = z * z + (1.0 - z * z) * c;
    }
    let mut positions = vec![0.0; 3 * nv];
    for v in 0..nv {
        for r in 0..3 {
            let mut p = pose[6 + r];
            for k in 0..3 {
                p += global[3 * r + k] * pose[3 + k] * skinned[3 * v + k];
            }
            positions[3 * v + r] = p;
        }
    }
    positions
}

/// The errors of the data `points` (3 per point) against the posed mesh: point i against
/// the point of triangle `correspondences[i]` at barycentric coordinates `us[2i], us[2i + 1]`.
#[backprop(wrt(theta, us), jvp)]
pub fn ht_objective(
    theta: &[f64],
    us: &[f64],
    model: &Model,
    correspondences: &[usize],
    points: &[f64],
) -> Vec<f64> {
    let positions: Vec<f64> = skinned_positions(theta, model);
    let n = correspondences.len();
    let mut err = vec![0.0; 3 * n];
    for i in 0..n {
        let t = correspondences[i];
        let a = model.triangles[3 * t];
        let b = model.triangles[3 * t + 1];
        let c = model.triangles[3 * t + 2];
        for j in 0..3 {
            let hand = us[2 * i] * positions[3 * a + j]
                + us[2 * i + 1] * positions[3 * b + j]
                + (1.0 - us[2 * i] - us[2 * i + 1]) * positions[3 * c + j];
            err[3 * i + j] = points[3 * i + j] - hand;
        }
    }
    err
}

/// The errors against the vertices themselves (the "simple" variant, no `us`): point i
/// against vertex `correspondences[i]`.
#[backprop(wrt(theta), jvp)]
pub fn ht_objective_simple(
    theta: &[f64],
    model: &Model,
    correspondences: &[usize],
    points: &[f64],
) -> Vec<f64> {
    let positions: Vec<f64> = skinned_positions(theta, model);
    let n = correspondences.len();
    let mut err = vec![0.0; 3 * n];
    for i in 0..n {
        let v = correspondences[i];
        for j in 0..3 {
            err[3 * i + j] = points[3 * i + j] - positions[3 * v + j];
        }
    }
    err
}

#[derive(Deserialize)]
struct ModelInput {
    parents: Vec<i64>,
    base_relatives: Vec<Vec<Vec<f64>>>,
    inverse_base_absolutes: Vec<Vec<Vec<f64>>>,
    base_positions: Vec<Vec<f64>>,
    weights: Vec<Vec<f64>>,
    triangles: Vec<Vec<usize>>,
    is_mirrored: bool,
}

#[derive(Deserialize)]
struct Data {
    model: ModelInput,
    correspondences: Vec<usize>,
    points: Vec<Vec<f64>>,
}

#[derive(Deserialize)]
struct Input {
    theta: Vec<f64>,
    data: Data,
    us: Vec<Vec<f64>>,
}

struct Problem {
    theta: Vec<f64>,
    us: Vec<f64>,
    model: Model,
    correspondences: Vec<usize>,
    points: Vec<f64>,
}

impl Problem {
    fn of(i: Input) -> Result<Problem, String> {
        let m = i.data.model;
        let bones = m.parents.len();
        let nv = m.base_positions.len();
        // The weights arrive per vertex (one per bone); the skinning loops read them per bone.
        let mut weights = vec![0.0; bones * nv];
        for (v, w) in m.weights.iter().enumerate() {
            for (b, &wb) in w.iter().enumerate().take(bones) {
                weights[b * nv + v] = wb;
            }
        }
        let flat =
            |ms: &[Vec<Vec<f64>>]| ms.iter().map(|m| m.concat()).collect::<Vec<_>>().concat();
        let problem = Problem {
            theta: i.theta,
            us: i.us.concat(),
            model: Model {
                base_relatives: flat(&m.base_relatives),
                inverse_base_absolutes: flat(&m.inverse_base_absolutes),
                base_positions: m.base_positions.concat(),
                weights,
                triangles: m.triangles.concat(),
                is_mirrored: m.is_mirrored,
                parents: m.parents,
            },
            correspondences: i.data.correspondences,
            points: i.data.points.concat(),
        };
        let n = problem.correspondences.len();
        if problem.theta.len() != 26
            || problem.model.base_relatives.len() != 16 * bones
            || problem.model.inverse_base_absolutes.len() != 16 * bones
            || problem.model.base_positions.len() != 4 * nv
            || problem.points.len() != 3 * n
            || !(problem.us.is_empty() || problem.us.len() == 2 * n)
        {
            return Err(
                "ht: the sizes of theta, the model, points and us do not match".to_string(),
            );
        }
        Ok(problem)
    }

    fn objective(&self) -> Vec<f64> {
        if self.us.is_empty() {
            ht_objective_simple(
                &self.theta,
                &self.model,
                &self.correspondences,
                &self.points,
            )
        } else {
            ht_objective(
                &self.theta,
                &self.us,
                &self.model,
                &self.correspondences,
                &self.points,
            )
        }
    }

    /// The Jacobian, one row per error: with `us`, first the two columns of each row's own
    /// u (one JVP with every u₀ moved, one with every u₁), then the 26 of `theta`.
    fn jacobian(&self) -> Vec<Vec<f64>> {
        let mut columns = Vec::new();
        let zeros_theta = vec![0.0; self.theta.len()];
        if !self.us.is_empty() {
            for which in 0..2 {
                let t_us: Vec<f64> = (0..self.us.len())
                    .map(|k| if k % 2 == which { 1.0 } else { 0.0 })
                    .collect();
                let (_, column) = ht_objective_jvp(
                    &self.theta,
                    &self.us,
                    &self.model,
                    &self.correspondences,
                    &self.points,
                    &zeros_theta,
                    &t_us,
                );
                columns.push(column);
            }
        }
        let zeros_us = vec![0.0; self.us.len()];
        for k in 0..self.theta.len() {
            let mut t_theta = zeros_theta.clone();
            t_theta[k] = 1.0;
            let (_, column) = if self.us.is_empty() {
                ht_objective_simple_jvp(
                    &self.theta,
                    &self.model,
                    &self.correspondences,
                    &self.points,
                    &t_theta,
                )
            } else {
                ht_objective_jvp(
                    &self.theta,
                    &self.us,
                    &self.model,
                    &self.correspondences,
                    &self.points,
                    &t_theta,
                    &zeros_us,
                )
            };
            columns.push(column);
        }
        let rows = columns.first().map_or(0, Vec::len);
        (0..rows)
            .map(|r| columns.iter().map(|c| c[r]).collect())
            .collect()
    }
}

pub fn evaluate(function: &str, input: &Value) -> Result<Evaluation, String> {
    let runs = Runs::of(input)?;
    let problem = Problem::of(parse(input)?)?;
    match function {
        "objective" => timed(runs, || problem.objective(), |err| err),
        "jacobian" => timed(runs, || problem.jacobian(), |j| j),
        _ => Err(unknown_function("ht", function)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{assert_close, draws};

    /// A random hand of the real shape (22 bones, parents before children), 6 vertices.
    fn problem(with_us: bool) -> Problem {
        let bones = 22;
        let nv = 6;
        let parents: Vec<i64> = (0..bones as i64)
            .map(|b| if b == 0 { -1 } else { (b - 1) / 4 })
            .collect();
        let transform = |seed: u64| {
            let r = draws(12, seed);
            let mut m: Vec<f64> = r.iter().map(|v| v - 0.5).collect();
            m.extend([0.0, 0.0, 0.0, 1.0]);
            m
        };
        let n = 4;
        let points: Vec<f64> = draws(3 * n, 5).iter().map(|v| 2.0 * v - 1.0).collect();
        let us = if with_us {
            draws(2 * n, 6).iter().map(|v| 0.5 * v).collect()
        } else {
            Vec::new()
        };
        Problem {
            theta: draws(26, 1).iter().map(|v| v - 0.5).collect(),
            us,
            model: Model {
                base_relatives: (0..bones as u64).flat_map(|b| transform(100 + b)).collect(),
                inverse_base_absolutes: (0..bones as u64)
                    .flat_map(|b| transform(200 + b))
                    .collect(),
                base_positions: (0..nv as u64)
                    .flat_map(|v| {
                        let p = draws(3, 300 + v);
                        [p[0], p[1], p[2], 1.0]
                    })
                    .collect(),
                weights: draws(bones * nv, 7)
                    .iter()
                    .map(|w| w / bones as f64)
                    .collect(),
                triangles: vec![0, 1, 2, 3, 4, 5, 1, 3, 5],
                is_mirrored: true,
                parents,
            },
            correspondences: if with_us {
                vec![0, 2, 1, 2]
            } else {
                vec![0, 5, 3, 1]
            },
            points,
        }
    }

    #[test]
    fn jacobian_matches_central_differences() {
        for with_us in [true, false] {
            let p = problem(with_us);
            let jacobian = p.jacobian();
            let n_err = 3 * p.correspondences.len();
            assert_eq!(jacobian.len(), n_err);
            let all = [p.us.clone(), p.theta.clone()].concat();
            let nu = p.us.len();
            for (row, analytic) in jacobian.iter().enumerate() {
                let numeric = backprop::numeric_gradient(
                    |q: &[f64]| {
                        let (us, theta) = q.split_at(nu);
                        if nu == 0 {
                            ht_objective_simple(theta, &p.model, &p.correspondences, &p.points)[row]
                        } else {
                            ht_objective(theta, us, &p.model, &p.correspondences, &p.points)[row]
                        }
                    },
                    &all,
                );
                // The us columns: each row depends on its own point's (u₀, u₁) only.
                let mut expected = Vec::new();
                if nu > 0 {
                    let i = row / 3;
                    expected.push(numeric[2 * i]);
                    expected.push(numeric[2 * i + 1]);
                    for (k, v) in numeric[..nu].iter().enumerate() {
                        if k / 2 != i {
                            assert_eq!(*v, 0.0);
                        }
                    }
                }
                expected.extend_from_slice(&numeric[nu..]);
                assert_close(analytic, &expected, 1e-6);
            }
            assert_eq!(
                p.objective(),
                if with_us {
                    ht_objective(&p.theta, &p.us, &p.model, &p.correspondences, &p.points)
                } else {
                    ht_objective_simple(&p.theta, &p.model, &p.correspondences, &p.points)
                }
            );
        }
    }
}
