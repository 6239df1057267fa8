//! GradBench's protocol: the eval sends one JSON message per line (`start`, `define`,
//! `evaluate`, `analysis`), and the tool answers each with one JSON line carrying the same
//! `id`. Only `define` and `evaluate` get a substantive answer.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Instant;

/// The name this tool gives in its answer to `start`.
pub const TOOL: &str = "backprop";

/// A message from the eval. Fields a kind does not use are absent.
#[derive(Debug, Deserialize)]
pub struct Message {
    pub id: i64,
    pub kind: String,
    #[serde(default)]
    pub module: Option<String>,
    #[serde(default)]
    pub function: Option<String>,
    #[serde(default)]
    pub input: Option<Value>,
}

/// One timing of the answer to `evaluate`: by convention, `"evaluate"` for each run of the
/// function, not counting JSON decoding and encoding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    pub name: String,
    pub nanoseconds: u128,
}

/// The answer to any message: the `id`, and for `start` the tool's name, for `define` and
/// `evaluate` whether they succeeded and what they give.
#[derive(Debug, Serialize)]
pub struct Response {
    pub id: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub success: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timings: Option<Vec<Timing>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Response {
    fn ack(id: i64) -> Self {
        Response {
            id,
            tool: None,
            success: None,
            output: None,
            timings: None,
            error: None,
        }
    }

    fn failure(id: i64, error: String) -> Self {
        Response {
            success: Some(false),
            error: Some(error),
            ..Response::ack(id)
        }
    }
}

/// What evaluating a function gives: its output, and one timing per run.
pub struct Evaluation {
    pub output: Value,
    pub timings: Vec<Timing>,
}

/// An eval's module: evaluates one of its functions on an input.
pub type Module = fn(function: &str, input: &Value) -> Result<Evaluation, String>;

/// The modules this tool implements, by the name the eval defines.
pub fn module(name: &str) -> Option<Module> {
    match name {
        "hello" => Some(crate::hello::evaluate),
        "lse" => Some(crate::lse::evaluate),
        "llsq" => Some(crate::llsq::evaluate),
        "gmm" => Some(crate::gmm::evaluate),
        "det" => Some(crate::det::evaluate),
        "ode" => Some(crate::ode::evaluate),
        "kmeans" => Some(crate::kmeans::evaluate),
        "ba" => Some(crate::ba::evaluate),
        "ht" => Some(crate::ht::evaluate),
        "lstm" => Some(crate::lstm::evaluate),
        "particle" => Some(crate::particle::evaluate),
        "saddle" => Some(crate::saddle::evaluate),
        _ => None,
    }
}

/// Answers one line from the eval with one line of JSON.
pub fn handle(line: &str) -> String {
    let response = match serde_json::from_str::<Message>(line) {
        Ok(message) => respond(&message),
        // Without an id there is no one to answer; say what went wrong in the id of nothing.
        Err(e) => Response::failure(-1, format!("cannot read the message: {e}")),
    };
    serde_json::to_string(&response).expect("a response is always JSON")
}

fn respond(message: &Message) -> Response {
    let id = message.id;
    match message.kind.as_str() {
        "start" => Response {
            tool: Some(TOOL.to_string()),
            ..Response::ack(id)
        },
        "define" => {
            let name = message.module.as_deref().unwrap_or_default();
            match module(name) {
                Some(_) => Response {
                    success: Some(true),
                    ..Response::ack(id)
                },
                None => Response::failure(id, format!("unknown module {name:?}")),
            }
        }
        "evaluate" => {
            let name = message.module.as_deref().unwrap_or_default();
            let Some(evaluate) = module(name) else {
                return Response::failure(id, format!("unknown module {name:?}"));
            };
            let function = message.function.as_deref().unwrap_or_default();
            let input = message.input.as_ref().unwrap_or(&Value::Null);
            match evaluate(function, input) {
                Ok(evaluation) => Response {
                    success: Some(true),
                    output: Some(evaluation.output),
                    timings: Some(evaluation.timings),
                    ..Response::ack(id)
                },
                Err(error) => Response::failure(id, error),
            }
        }
        _ => Response::ack(id),
    }
}

/// The `min_runs` and `min_seconds` of an input that asks for repeated runs: run at least
/// `min_runs` times, and until the runs add up to `min_seconds`.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct Runs {
    #[serde(default = "one")]
    pub min_runs: usize,
    #[serde(default)]
    pub min_seconds: f64,
}

fn one() -> usize {
    1
}

impl Runs {
    /// A single run, for inputs without `min_runs` (hello's).
    pub const ONCE: Runs = Runs {
        min_runs: 1,
        min_seconds: 0.0,
    };

    /// Reads `min_runs` and `min_seconds` from an input object (both optional).
    pub fn of(input: &Value) -> Result<Runs, String> {
        Runs::deserialize(input).map_err(|e| format!("bad min_runs/min_seconds: {e}"))
    }

    /// Runs `f` as often as asked, timing each run; the last run's result is the output.
    pub fn repeat<T>(self, mut f: impl FnMut() -> T) -> (T, Vec<Timing>) {
        let mut timings = Vec::new();
        let mut total = 0.0;
        loop {
            let start = Instant::now();
            let out = std::hint::black_box(f());
            let elapsed = start.elapsed();
            total += elapsed.as_secs_f64();
            timings.push(Timing {
                name: "evaluate".to_string(),
                nanoseconds: elapsed.as_nanos(),
            });
            if timings.len() >= self.min_runs.max(1) && total >= self.min_seconds {
                return (out, timings);
            }
        }
    }
}

/// Reads an eval's input into its Rust type, with the error message GradBench shows.
pub fn parse<T: for<'de> Deserialize<'de>>(input: &Value) -> Result<T, String> {
    T::deserialize(input).map_err(|e| format!("bad input: {e}"))
}

/// The answer to a function an eval's module does not have.
pub fn unknown_function(module: &str, function: &str) -> String {
    format!("unknown function {function:?} in module {module:?}")
}

/// An evaluation of `f` repeated as the input's `min_runs`/`min_seconds` ask, its last
/// result turned into the output.
pub fn timed<T, O: Serialize>(
    runs: Runs,
    f: impl FnMut() -> T,
    output: impl FnOnce(T) -> O,
) -> Result<Evaluation, String> {
    let (out, timings) = runs.repeat(f);
    let output = serde_json::to_value(output(out)).map_err(|e| e.to_string())?;
    Ok(Evaluation { output, timings })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(line: &str) -> Value {
        serde_json::from_str(&handle(line)).unwrap()
    }

    #[test]
    fn start_gives_the_id_and_the_tool() {
        assert_eq!(
            handle(r#"{"id": 0, "kind": "start", "eval": "hello"}"#),
            r#"{"id":0,"tool":"backprop"}"#
        );
    }

    #[test]
    fn define_of_a_known_module_succeeds() {
        for module in [
            "hello", "lse", "llsq", "gmm", "det", "ode", "kmeans", "ba", "ht", "lstm", "particle",
            "saddle",
        ] {
            let line = format!(r#"{{"id": 1, "kind": "define", "module": "{module}"}}"#);
            assert_eq!(handle(&line), r#"{"id":1,"success":true}"#);
        }
    }

    #[test]
    fn define_of_an_unknown_module_fails_with_an_error() {
        let r = json(r#"{"id": 1, "kind": "define", "module": "nosuch"}"#);
        assert_eq!(r["id"], 1);
        assert_eq!(r["success"], false);
        assert!(r["error"].as_str().unwrap().contains("nosuch"));
        assert_eq!(r.as_object().unwrap().len(), 3);
    }

    #[test]
    fn evaluate_of_an_unknown_function_fails_with_an_error() {
        let r = json(
            r#"{"id": 2, "kind": "evaluate", "module": "hello", "function": "cube", "input": 2.0}"#,
        );
        assert_eq!(r["id"], 2);
        assert_eq!(r["success"], false);
        assert!(r["error"].as_str().unwrap().contains("cube"));
        assert!(r.get("output").is_none());
    }

    #[test]
    fn evaluate_of_an_unknown_module_fails_with_an_error() {
        let r = json(
            r#"{"id": 2, "kind": "evaluate", "module": "nosuch", "function": "f", "input": 2.0}"#,
        );
        assert_eq!(r["success"], false);
        assert!(r["error"].as_str().unwrap().contains("nosuch"));
    }

    #[test]
    fn evaluate_of_a_bad_input_fails_with_an_error() {
        let r = json(
            r#"{"id": 3, "kind": "evaluate", "module": "lse", "function": "primal", "input": {"y": [1.0]}}"#,
        );
        assert_eq!(r["success"], false);
        assert!(r["error"].as_str().unwrap().contains("bad input"));
    }

    #[test]
    fn evaluate_answers_the_output_and_one_timing_per_run() {
        let r = json(
            r#"{"id": 4, "kind": "evaluate", "module": "hello", "function": "square", "input": 3.0}"#,
        );
        let keys: Vec<&str> = r.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        assert_eq!(keys, ["id", "output", "success", "timings"]);
        assert_eq!(r["id"], 4);
        assert_eq!(r["success"], true);
        assert_eq!(r["output"], 9.0);
        let timings = r["timings"].as_array().unwrap();
        assert_eq!(timings.len(), 1);
        assert_eq!(timings[0]["name"], "evaluate");
        assert!(timings[0]["nanoseconds"].is_u64());
        // The exact line, timing aside.
        let line = handle(
            r#"{"id": 4, "kind": "evaluate", "module": "hello", "function": "double", "input": 3.0}"#,
        );
        assert!(line.starts_with(
            r#"{"id":4,"success":true,"output":6.0,"timings":[{"name":"evaluate","nanoseconds":"#
        ));
    }

    #[test]
    fn evaluate_runs_min_runs_times() {
        let r = json(
            r#"{"id": 5, "kind": "evaluate", "module": "lse", "function": "primal", "input": {"x": [1.0, 2.0], "min_runs": 7, "min_seconds": 0}}"#,
        );
        assert_eq!(r["success"], true);
        assert_eq!(r["timings"].as_array().unwrap().len(), 7);
    }

    #[test]
    fn analysis_and_unknown_kinds_get_the_id_only() {
        assert_eq!(
            handle(r#"{"id": 6, "kind": "analysis", "of": 4, "valid": true}"#),
            r#"{"id":6}"#
        );
        assert_eq!(
            handle(r#"{"id": 7, "kind": "analysis", "of": 4, "valid": false, "error": "no"}"#),
            r#"{"id":7}"#
        );
        assert_eq!(handle(r#"{"id": 8, "kind": "other"}"#), r#"{"id":8}"#);
    }
}
