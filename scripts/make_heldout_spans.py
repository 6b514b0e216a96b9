"""Write the held-out spans the package ships (codila/assets/data/code-infill/spans.json).

    PYTHONPATH=src python scripts/make_heldout_spans.py

Rules (codila.data.heldout): the pool is the stdlib files the shipped DLM never trained on (the path-hash validation
and test splits); files sharing >= 20 % of their long lines with its training data (the stdlib train split and every
.py file of its --extra-packages, a superset of what it saw) are left out; the rest are split by near-duplicate
groups (a group touching the old validation split is validation); spans of 32 tokens with 48 tokens of context
each side, at most 5 % of a split's spans per file, none whose target text appears verbatim in the training data.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from pathlib import Path

from codila.assets import DATA, SHIPPED
from codila.data.corpus import SourceFile, load_files, package_dir
from codila.data.heldout import SPAN_SHARE_CAP, SPANS_FILE, VerbatimIndex, span_record, split_heldout, vocabulary_hash
from codila.data.spans import sample_spans
from codila.models.loading import load_dlm


def every_python_file(package: str) -> list[SourceFile]:
    root = package_dir(package)
    return [
        SourceFile(f"{package}/{p.relative_to(root).as_posix()}", p.read_text(encoding="utf-8", errors="replace"))
        for p in sorted(root.rglob("*.py"))
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="spans per split")
    parser.add_argument("--length", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(DATA.joinpath(*SPANS_FILE)))
    args = parser.parse_args()
    dlm = load_dlm(SHIPPED / "dlm")
    manifest = json.loads((SHIPPED / "dlm" / "manifest.json").read_text())
    packages = list(manifest["data"]["extra_packages"]["versions"])
    training = load_files(None, "train") + [f for name in packages for f in every_python_file(name)]
    validation, test, report = split_heldout(load_files(None, "validation"), load_files(None, "test"), training)
    index = VerbatimIndex(training)
    context = (dlm.max_length - args.length) // 2
    cap = max(1, math.floor(SPAN_SHARE_CAP * args.n))
    unseen = lambda span: dlm.tokenizer.decode(span.target_ids) not in index
    texts = {f.relative_path: f.text for f in validation + test}
    splits = {}
    for name, files in (("validation", validation), ("test", test)):
        spans = sample_spans(files, dlm.tokenizer, args.n, args.length, context, args.seed, max_per_file=cap, accept=unseen)
        splits[name] = [span_record(span, texts[span.file]) for span in spans]
        print(f"{name}: {len(files)} files, {len(spans)} spans from {len({s.file for s in spans})} files", file=sys.stderr)
    spec = {
        "python": sys.version.split()[0],
        "tokenizer": vocabulary_hash(dlm.tokenizer),
        "length": args.length,
        "context": context,
        "seed": args.seed,
        "max_per_file": cap,
        "training": {
            "stdlib_train_hash": manifest["data"]["split_hash"],
            "packages": packages,
            "files": len(training),
            "sha256": hashlib.sha256("\0".join(f.text for f in training).encode()).hexdigest()[:16],
        },
        "files": {"validation": sorted(f.relative_path for f in validation), "test": sorted(f.relative_path for f in test)},
        **report,
        "splits": splits,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(spec, indent=1) + "\n")
    print(json.dumps({k: v for k, v in spec.items() if k not in ("splits",)}, indent=1))


if __name__ == "__main__":
    main()
