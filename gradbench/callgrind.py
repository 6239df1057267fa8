"""Instructions of one evaluation, this tool against GradBench's C++ `manual`, by callgrind.

    python3 gradbench/callgrind.py GRADBENCH_CLONE EVAL FUNCTION OURS_SYMBOL MANUAL_SYMBOL \
        [NAME=VALUE ...] [--workloads 'd=2,k=5' 'd=64,k=10' ...]

Generates each workload's input with the eval's own `generate` (its default arguments, then
NAME=VALUE and the workload's), runs `target/release/backprop-gradbench` on one `evaluate`
message and `tools/manual/bin/EVAL FILE FUNCTION` on the same input, each once
(`min_runs` 1) under `valgrind --tool=callgrind --toggle-collect=SYMBOL`, so that only the
derivative's instructions are counted (not parsing JSON), and prints both counts and their
ratio. Instruction counts are exact whatever else the machine runs; the time ratio
GradBench reports (`run.sh`) is not. Example, gmm's jacobian:

    python3 gradbench/callgrind.py /tmp/gradbench gmm jacobian '*gmm_objective_backward*' \
        'gmm_objective_d*' --workloads 'd=2,k=5' 'd=10,k=25' 'd=64,k=10'
    python3 gradbench/callgrind.py /tmp/gradbench llsq gradient '*llsq_backward*' \
        'Gradient::compute*' --workloads n=16 n=1024 n=16392

PYTHON (default: this interpreter) must import numpy, as the eval's generator does.
"""

import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path


def count(command, symbol, stdin=None):
    with tempfile.NamedTemporaryFile(suffix=".out") as out:
        subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out.name}",
             f"--toggle-collect={symbol}", *command],
            input=stdin, capture_output=True, text=True, check=True,
        )
        text = subprocess.run(["callgrind_annotate", out.name], capture_output=True,
                              text=True, check=True).stdout
    match = re.search(r"([\d,]+) \(100\.0%\)\s+PROGRAM TOTALS", text)
    return int(match.group(1).replace(",", "")) if match else 0


def value(text):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def generate(run, ev, kwargs):
    """The eval's input: its own `generate`, or for lse and llsq (whose `run.py` draws
    inputs inline) the same draws, `x = rand(n)` (lse) or `x = rand(m)` with `n` points (llsq,
    m = 128 by default)."""
    if hasattr(run, "generate"):
        return run.generate(**kwargs)
    import numpy as np

    np.random.seed(kwargs["seed"])
    if ev == "lse":
        return {"x": np.random.rand(kwargs["n"]).tolist()}
    if ev == "llsq":
        return {"x": np.random.rand(kwargs.get("m", 128)).tolist(), "n": kwargs["n"]}
    raise SystemExit(f"{ev}: no generate in its run.py and no inputs known here")


def main():
    args = sys.argv[1:]
    workloads = []
    if "--workloads" in args:
        at = args.index("--workloads")
        workloads = args[at + 1:]
        args = args[:at]
    clone, ev, function, ours_symbol, manual_symbol, *settings = args
    clone = Path(clone).resolve()
    here = Path(__file__).resolve().parent
    tool = here.parent / "target" / "release" / "backprop-gradbench"
    spec = importlib.util.spec_from_file_location(
        "run", clone / "python" / "gradbench" / "gradbench" / "evals" / ev / "run.py")
    sys.path.insert(0, str(clone / "python" / "gradbench"))
    run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run)
    fixed = dict(s.split("=", 1) for s in settings)
    totals = [0, 0]
    for workload in workloads or [""]:
        kwargs = {"seed": 31337}
        kwargs.update({k: value(v) for k, v in fixed.items()})
        kwargs.update({k: value(v) for k, v in
                       (p.split("=", 1) for p in workload.split(",") if p)})
        if ev == "gmm":
            kwargs.setdefault("n", 1000)
            kwargs.setdefault("m", 0)
            kwargs.setdefault("gamma", 1.0)
        data = generate(run, ev, kwargs)
        data = json.loads(json.dumps(data, default=float))
        data.update({"min_runs": 1, "min_seconds": 0})
        message = json.dumps({"id": 0, "kind": "evaluate", "module": ev,
                              "function": function, "input": data})
        ours = count([str(tool)], ours_symbol, stdin=message + "\n")
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(data, f)
        try:
            manual = count([str(clone / "tools" / "manual" / "bin" / ev), f.name, function],
                           manual_symbol)
        finally:
            os.unlink(f.name)
        totals[0] += ours
        totals[1] += manual
        ratio = ours / manual if manual else float("nan")
        print(f"{workload or 'default'}: backprop {ours:,} manual {manual:,} ratio {ratio:.2f}")
    if len(workloads) > 1 and totals[1]:
        print(f"sum: backprop {totals[0]:,} manual {totals[1]:,} ratio {totals[0] / totals[1]:.2f}")


if __name__ == "__main__":
    main()
