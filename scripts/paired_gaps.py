"""Paired gaps between two demo rows, with standard errors clustered by file, from `codila demo --records FILE`.

    python scripts/paired_gaps.py runs/demo-records.jsonl "CoDiLA B=4 static soft" "DLM K=4 T=0.1 top-p=0.8"

For each metric: mean(A - B) over the same spans (syntax_valid: the floor-free spans only), its clustered SE, and
gap / SE. Pairing removes the spans' shared difficulty, so this SE is smaller than the rows' SEs combined.
"""

from __future__ import annotations

import argparse
import json

from codila.stats import clustered_mean_se

METRICS = ("syntax_valid", "syntax_valid_all", "edit_similarity", "token_accuracy")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("records")
    parser.add_argument("a", help="label of row A")
    parser.add_argument("b", help="label of row B (the gap is A - B)")
    args = parser.parse_args()
    records = [json.loads(line) for line in open(args.records)]
    by_label = {label: {(r["file"], r["start"]): r for r in records if r["label"] == label} for label in (args.a, args.b)}
    keys = [key for key in by_label[args.a] if key in by_label[args.b]]
    for metric in METRICS:
        source = "syntax_valid_all" if metric == "syntax_valid" else metric
        kept = [k for k in keys if metric != "syntax_valid" or not by_label[args.a][k]["empty_parses"]]
        diffs = [by_label[args.a][k][source] - by_label[args.b][k][source] for k in kept]
        gap, se = clustered_mean_se(diffs, [k[0] for k in kept])
        print(
            f"{metric:18} gap {gap * 100:+6.1f} points  SE {se * 100:4.1f}  gap/SE {gap / se if se else float('nan'):5.2f}  (n={len(kept)})"
        )


if __name__ == "__main__":
    main()
