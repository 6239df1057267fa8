"""Compares the GradBench logs of this tool (backprop.jsonl) and `manual` (manual.jsonl).

    python3 summary.py OUT_DIR [EVAL...]

For each eval: how many evaluations GradBench found valid, and the time against `manual`
scored as GradBench scores it (stats.rs, ScorerClassic): per evaluate message the mean of its
"evaluate" timings, summed over all messages; also the primal and derivative sums alone, and
each workload's ratios.
"""

import json
import sys
from pathlib import Path


def read(path):
    """(id -> message, id -> response) of one log."""
    messages, responses = {}, {}
    for line in path.read_text().splitlines():
        entry = json.loads(line)
        if "message" in entry:
            messages[entry["message"]["id"]] = entry["message"]
        elif "response" in entry:
            responses[entry["response"]["id"]] = entry["response"]
    return messages, responses


def times(path):
    """Per (description, function): mean evaluate seconds; and valid/total/failures."""
    messages, responses = read(path)
    out, valid, total, errors = {}, 0, 0, []
    for i, m in messages.items():
        if m["kind"] == "evaluate":
            r = responses.get(i, {})
            ts = [t["nanoseconds"] for t in r.get("timings", []) if t["name"] == "evaluate"]
            key = (m.get("description") or str(i), m["function"])
            if ts:
                out[key] = sum(ts) / len(ts) / 1e9
            if not r.get("success", False):
                errors.append(f"{key}: {r.get('error', 'no response')[:200]}")
        elif m["kind"] == "analysis":
            total += 1
            valid += m["valid"]
            if not m["valid"]:
                errors.append(f"invalid {m['of']}: {m.get('error', '')[:300]}")
    return out, valid, total, errors


def main():
    root = Path(sys.argv[1])
    evals = sys.argv[2:] or sorted(p.name for p in root.iterdir() if p.is_dir())
    for ev in evals:
        ours_path, manual_path = root / ev / "backprop.jsonl", root / ev / "manual.jsonl"
        if not ours_path.exists():
            continue
        ours, valid, total, errors = times(ours_path)
        print(f"## {ev}: {valid}/{total} valid")
        for e in errors:
            print("   ", e)
        if not manual_path.exists() or ev == "hello":
            continue
        manual, mvalid, mtotal, _ = times(manual_path)
        if not manual:
            print("(manual has no implementation)")
            print()
            continue
        functions = sorted({f for _, f in ours})
        print("| workload | " + " | ".join(f"{f} backprop | {f} manual | ratio" for f in functions) + " |")
        workloads = list(dict.fromkeys(w for w, _ in ours))
        sums = {f: [0.0, 0.0] for f in functions}
        for w in workloads:
            cells = []
            for f in functions:
                a, b = ours.get((w, f)), manual.get((w, f))
                if a is None or b is None:
                    cells.append("- | - | -")
                    continue
                sums[f][0] += a
                sums[f][1] += b
                cells.append(f"{a * 1e3:.3f} ms | {b * 1e3:.3f} ms | {a / b:.2f}")
            print(f"| {w} | " + " | ".join(cells) + " |")
        total_ours = sum(s[0] for s in sums.values())
        total_manual = sum(s[1] for s in sums.values())
        parts = ", ".join(f"{f} {s[0] / s[1]:.2f}" for f, s in sums.items())
        print(f"score ratio (GradBench's: sum of mean times, backprop / manual): "
              f"{total_ours / total_manual:.2f} ({parts}); manual valid {mvalid}/{mtotal}")
        print()


if __name__ == "__main__":
    main()
