"""The held-out code the demo and `code-infill` score on: files the DLM never trained on, minus near-duplicates of
training files, split into validation and test by near-duplicate groups, and spans whose target text never
appears verbatim in the training data.

Files are compared by their long lines (stripped, >= 24 characters, codila.data.corpus.long_lines): a file shares
`overlap` of its long lines with another set of lines. `scripts/make_heldout_spans.py` applies these rules to the
stdlib and writes the spans the package ships (`codila/assets/data/code-infill/spans.json`); `heldout_spans` reads
them back.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

from transformers import PreTrainedTokenizerFast

from codila.assets import data_file
from codila.data.corpus import SourceFile, load_files, long_lines, stdlib_dir
from codila.data.spans import InfillSpan, sample_spans
from codila.errors import CodilaError

NEAR_DUPLICATE = 0.2  # a file sharing at least this share of its long lines with another file is its near-duplicate
SPAN_SHARE_CAP = 0.05  # no file gives more than this share of a split's spans
SPANS_FILE = ("code-infill", "spans.json")
SHIPPED_SPAN_LENGTH = 32  # masked tokens per shipped span


def overlap(lines: set[str], reference: set[str]) -> float:
    """The share of `lines` found in `reference` (0 for a file without long lines)."""
    return len(lines & reference) / len(lines) if lines else 0.0


def leaking_files(files: list[SourceFile], training: list[SourceFile], threshold: float = NEAR_DUPLICATE) -> dict[str, float]:
    """{path: overlap} of the `files` that share at least `threshold` of their long lines with the training files."""
    seen = set().union(*(long_lines(f.text) for f in training)) if training else set()
    shares = {f.relative_path: overlap(long_lines(f.text), seen) for f in files}
    return {path: share for path, share in shares.items() if share >= threshold}


def near_duplicate_groups(files: list[SourceFile], threshold: float = NEAR_DUPLICATE) -> list[list[str]]:
    """Paths of `files` in groups: two files are in one group when either shares at least `threshold` of its long
    lines with the other (transitively). Groups sorted, each group's paths sorted."""
    lines = [long_lines(f.text) for f in files]
    parent = list(range(len(files)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(files)):
        for j in range(i + 1, len(files)):
            if overlap(lines[i], lines[j]) >= threshold or overlap(lines[j], lines[i]) >= threshold:
                parent[root(i)] = root(j)
    groups: dict[int, list[str]] = {}
    for i, f in enumerate(files):
        groups.setdefault(root(i), []).append(f.relative_path)
    return sorted(sorted(group) for group in groups.values())


class VerbatimIndex:
    """Answers whether a text appears verbatim (as a substring) anywhere in the training files."""

    def __init__(self, training: list[SourceFile]):
        self.blob = "\0".join(f.text for f in training)

    def __contains__(self, text: str) -> bool:
        return text in self.blob


def split_heldout(
    validation_pool: list[SourceFile], test_pool: list[SourceFile], training: list[SourceFile], threshold: float = NEAR_DUPLICATE
) -> tuple[list[SourceFile], list[SourceFile], dict]:
    """(validation files, test files, what was left out and why). Files near-duplicating training files are left
    out; the rest fall into near-duplicate groups; a group with any file of the validation pool is validation
    (files whose windows chose checkpoints never reach the test split), the others are test."""
    leaks = leaking_files(validation_pool + test_pool, training, threshold)
    kept = [f for f in validation_pool + test_pool if f.relative_path not in leaks]
    validation_paths = {f.relative_path for f in validation_pool}
    groups = near_duplicate_groups(kept, threshold)
    to_validation = {path for group in groups if validation_paths & set(group) for path in group}
    validation = [f for f in kept if f.relative_path in to_validation]
    test = [f for f in kept if f.relative_path not in to_validation]
    report = {
        "near_duplicates_of_training": {path: round(share, 3) for path, share in sorted(leaks.items())},
        "groups": [group for group in groups if len(group) > 1],
        "threshold": threshold,
    }
    return validation, test, report


def span_record(span: InfillSpan, text: str) -> dict:
    return {"file": span.file, "sha256": hashlib.sha256(text.encode()).hexdigest(), "start": span.start}


def vocabulary_hash(tokenizer: PreTrainedTokenizerFast) -> str:
    return hashlib.sha256(json.dumps(sorted(tokenizer.get_vocab().items())).encode()).hexdigest()[:16]


def heldout_spans(
    split: str, tokenizer: PreTrainedTokenizerFast, n: int, root: str | Path | None = None, path: str | Path | None = None
) -> list[InfillSpan]:
    """The first `n` shipped spans of `split` ("validation" or "test") over the stdlib files in `root` (default:
    this interpreter's). Refuses when a file changed (another Python version) or the tokenizer differs."""
    spec = json.loads(Path(path or data_file(*SPANS_FILE)).read_text())
    if split not in spec["splits"]:
        raise CodilaError(f"no shipped {split!r} spans; choose one of {', '.join(spec['splits'])}")
    if vocabulary_hash(tokenizer) != spec["tokenizer"]:
        raise CodilaError("the shipped held-out spans were cut with another tokenizer: use --files DIR with this model")
    records = spec["splits"][split]
    if n > len(records):
        raise CodilaError(f"{len(records)} {split} spans are shipped, {n} asked for")
    root = Path(root) if root is not None else stdlib_dir()
    encoded: dict[str, tuple[int, ...]] = {}
    spans = []
    for record in records[:n]:
        if record["file"] not in encoded:
            text = (
                (root / record["file"]).read_text(encoding="utf-8", errors="replace") if (root / record["file"]).is_file() else ""
            )
            if hashlib.sha256(text.encode()).hexdigest() != record["sha256"]:
                raise CodilaError(
                    f"{root / record['file']} is not the file the shipped spans were cut from "
                    f"(Python {spec['python']}): use --files DIR"
                )
            encoded[record["file"]] = tuple(tokenizer(text, add_special_tokens=False)["input_ids"])
        spans.append(InfillSpan(record["file"], encoded[record["file"]], record["start"], spec["length"], spec["context"]))
    return spans


def evaluation_spans(
    tokenizer: PreTrainedTokenizerFast,
    n: int,
    length: int,
    context: int,
    files: str | Path | None = None,
    split: str | None = None,
    seed: int = 0,
) -> list[InfillSpan]:
    """What the demo and `code-infill` score: the shipped held-out spans of `split` (default test), or `n` spans cut
    from every file of `files` (`split` of them if given), at most SPAN_SHARE_CAP of them from one file."""
    if files is None:
        if length != SHIPPED_SPAN_LENGTH:
            raise CodilaError(
                f"the shipped held-out spans are {SHIPPED_SPAN_LENGTH} tokens long: use --files DIR for length {length}"
            )
        return heldout_spans(split or "test", tokenizer, n)
    cap = max(1, math.floor(SPAN_SHARE_CAP * n))
    return sample_spans(load_files(files, split or "all"), tokenizer, n, length, context, seed, max_per_file=cap)
