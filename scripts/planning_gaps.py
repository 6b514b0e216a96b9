"""Paired accuracy gap between two rows of planning evaluations, from their `problems.jsonl` (`codila eval TASK`).

    python scripts/planning_gaps.py runs/planning-cd3/problems.jsonl "DLM K=1 confidence" "AR baseline (left to right)"
    python scripts/planning_gaps.py A/problems.jsonl "DLM K=1 confidence" "AR baseline (left to right)" --b-problems B/problems.jsonl

mean(A - B) of `correct` over the problems both rows answered (one answer each: every problem its own cluster), and
its standard error.
"""

from __future__ import annotations

import argparse
import json

from codila.stats import clustered_mean_se


def _correct(path: str, label: str) -> dict[int, float]:
    rows = [json.loads(line) for line in open(path) if line.strip()]
    found = {row["problem"]: float(row["correct"]) for row in rows if row["label"] == label}
    if not found:
        raise SystemExit(f"no row labelled {label!r} in {path}; labels: {sorted({row['label'] for row in rows})}")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("problems", help="problems.jsonl of row A (and of B unless --b-problems)")
    parser.add_argument("a", help="label of row A")
    parser.add_argument("b", help="label of row B (the gap is A - B)")
    parser.add_argument("--b-problems", help="problems.jsonl of row B when it is another run")
    args = parser.parse_args()
    a, b = _correct(args.problems, args.a), _correct(args.b_problems or args.problems, args.b)
    shared = [problem for problem in a if problem in b]
    gap, se = clustered_mean_se([a[p] - b[p] for p in shared], shared)
    print(f"{args.a} - {args.b}: {gap * 100:+.1f} points, SE {se * 100:.1f} (n={len(shared)})")


if __name__ == "__main__":
    main()
