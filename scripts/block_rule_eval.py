"""Decode held-out spans with a few decoder settings and write the demo's per-span records (for paired_gaps.py) and
rows; resumable: a setting whose label is already in --records is skipped.

    PYTHONPATH=src python scripts/block_rule_eval.py --split validation --n 100 --records runs/val.jsonl \
        "dlm:tokens_per_step=1" "codila:scope=10,choice=learned" "codila:mode=dynamic,scope=10,choice=learned,q=0.3"

A setting is DECODER[:field=value,...] (fields of its config; the AR: ar=NAME, default ar-b4); every setting samples
like the demo's rows (T 0.1, top-p 0.8) unless it sets temperature / top_p. Spans: the shipped validation or test
spans (--split), or --files DIR (spans cut from every .py file there, like `codila demo --files DIR`).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import fields
from pathlib import Path

from codila.assets import SHIPPED
from codila.data.heldout import SHIPPED_SPAN_LENGTH, evaluation_spans
from codila.decoding.defaults import DEFAULT_AR
from codila.decoding.registry import get_decoder
from codila.eval.infill_run import InfillRun
from codila.eval.settings import DecodeSetting, ModelSet
from codila.eval.sweeps import DEMO_TEMPERATURE, DEMO_TOP_P


def parse_setting(text: str) -> DecodeSetting:
    name, _, rest = text.partition(":")
    spec = get_decoder(name)
    types = {f.name: type(f.default) for f in fields(spec.config_class)}
    given = {"temperature": DEMO_TEMPERATURE, "top_p": DEMO_TOP_P}
    ar = DEFAULT_AR if spec.needs_ar else None
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        if key == "ar":
            ar = value
        else:
            given[key] = types[key](value)
    return DecodeSetting(name, spec.config_class(**{k: v for k, v in given.items() if k in types}), ar)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("settings", nargs="+")
    parser.add_argument("--split", default="validation")
    parser.add_argument("--files", default=None)
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--records", required=True)
    parser.add_argument("--rows", default=None, help="rows JSON lines (default: RECORDS with .rows.jsonl)")
    args = parser.parse_args()
    models = ModelSet(SHIPPED)
    dlm = models.dlm
    context = (dlm.max_length - SHIPPED_SPAN_LENGTH) // 2
    split = args.split if args.files is None else None
    spans = evaluation_spans(dlm.tokenizer, args.n, SHIPPED_SPAN_LENGTH, context, args.files, split, args.seed)
    records_path = Path(args.records)
    rows_path = Path(args.rows or records_path.with_suffix(".rows.jsonl"))
    done = {json.loads(line)["label"] for line in records_path.open()} if records_path.is_file() else set()
    for text in args.settings:
        setting = parse_setting(text)
        label = setting.label(models.for_setting(setting))
        if label in done:
            print(f"skip (done): {label}")
            continue
        run = InfillRun(models, setting, args.seed).decode(spans, 0, args.batch_size)
        row = run.row()
        with records_path.open("a") as out:
            for span, score in zip(spans, run.scores):
                out.write(json.dumps({"label": label, "file": span.file, "start": span.start, **score}) + "\n")
        with rows_path.open("a") as out:
            out.write(json.dumps({**row, "spec": text, "split": split, "files": args.files}) + "\n")
        print(
            f"{label}: syntax_valid {row['syntax_valid']:.3f} (SE {row['syntax_valid_se']:.3f}, n floor-free "
            f"{row['n_floor_free']}), token_accuracy {row['token_accuracy']:.3f}, tokens/step "
            f"{row.get('tokens_per_step', row.get('mean_tokens_per_step'))}",
            flush=True,
        )


if __name__ == "__main__":
    main()
