"""The floor-free metric, file-clustered standard errors, the held-out split and the verbatim leak check."""

import json
import math
import statistics

import pytest

from codila.assets import SHIPPED
from codila.data.corpus import SourceFile
from codila.data.heldout import VerbatimIndex, heldout_spans, near_duplicate_groups, span_record, split_heldout, vocabulary_hash
from codila.data.spans import InfillSpan, sample_spans
from codila.errors import CodilaError
from codila.eval.metrics import aggregate_scores, floor_rows, score_infill
from codila.stats import clustered_mean_se
from codila.tokenizer import load_tokenizer


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(SHIPPED / "dlm")


def _span(tokenizer, file: str, prefix: str, middle: str, suffix: str) -> InfillSpan:
    encode = lambda text: tokenizer(text, add_special_tokens=False)["input_ids"]
    ids = encode(prefix) + encode(middle) + encode(suffix)
    return InfillSpan(file, tuple(ids), len(encode(prefix)), len(encode(middle)), context=8)


def test_floor_free_syntax_validity_and_edit_similarity_on_hand_made_spans(tokenizer):
    encode = lambda text: tokenizer(text, add_special_tokens=False)["input_ids"]
    cases = [  # (span, the decoder's infill); comments: does the empty infill parse? does this infill?
        (_span(tokenizer, "a.py", "x = ", "(1 + 2)", "\ny = 3\n"), "(1 + 2)"),  # no; yes (the truth)
        (_span(tokenizer, "a.py", "def f():\n    return ", "1", "\n"), "2"),  # yes (bare return); yes
        (_span(tokenizer, "b.py", "print(", "'hi'", ")\nz = [1, 2]\n"), "'ho'"),  # yes; yes
        (_span(tokenizer, "b.py", "if x:\n", "    pass", "\n"), "pass"),  # no; no (not indented)
        (_span(tokenizer, "c.py", "a = [", "1, 2", "]\n"), "1, 2)"),  # yes; no
    ]
    scores = [score_infill(span, encode(infill), tokenizer) for span, infill in cases]
    assert [s["empty_parses"] for s in scores] == [0, 1, 1, 0, 1]
    assert [s["syntax_valid_all"] for s in scores] == [1, 1, 1, 0, 0]
    assert [s["edit_similarity"] for s in scores] == pytest.approx([1.0, 0.0, 0.75, 0.5, 0.8])
    row = aggregate_scores(scores, [span.file for span, _ in cases])
    assert row["n"] == 5 and row["n_floor_free"] == 2
    assert row["syntax_valid"] == 0.5 and row["syntax_valid_se"] == pytest.approx(0.5)  # a.py 1, b.py 0: by hand
    assert row["syntax_valid_all"] == pytest.approx(0.6) and row["syntax_valid_all_se"] == pytest.approx(
        math.sqrt(1.5 * 1.04 / 25)
    )
    assert row["edit_similarity"] == pytest.approx(0.61) and row["exact_match"] == pytest.approx(0.2)
    empty, newlines = floor_rows([span for span, _ in cases], tokenizer)
    assert (empty["method"], newlines["method"]) == ("empty", "newlines")
    assert empty["syntax_valid"] == 0 and empty["syntax_valid_all"] == pytest.approx(0.6) and empty["edit_similarity"] == 0


def test_clustered_standard_error_matches_a_hand_computation():
    # mean 0.75; residual sums a: -0.5, b: 0.25, c: 0.25; se^2 = 3/2 * 0.375 / 16
    mean, se = clustered_mean_se([1, 0, 1, 1], ["a", "a", "b", "c"])
    assert mean == 0.75 and se == pytest.approx(0.1875)
    values = [0.2, 0.9, 0.4, 0.4, 1.0]  # one value per cluster: the textbook standard error of a mean
    assert clustered_mean_se(values, range(5))[1] == pytest.approx(statistics.stdev(values) / math.sqrt(5))
    assert math.isnan(clustered_mean_se([1, 0], ["a", "a"])[1]) and math.isnan(clustered_mean_se([], [])[0])


def _lines(tag: str, count: int) -> list[str]:
    return [f"value_{tag}_{i} = compute_something_long({i}, '{tag}')" for i in range(count)]


def _file(path: str, lines: list[str]) -> SourceFile:
    return SourceFile(path, "\n".join(lines) + "\n")


def test_split_leaves_out_training_near_duplicates_and_keeps_groups_on_one_side():
    training = [_file("t1.py", _lines("t", 10))]
    validation_pool = [
        _file("v1.py", _lines("t", 8) + _lines("v1", 2)),  # 80 % of its lines are training lines
        _file("v2.py", _lines("v2", 10)),
    ]
    test_pool = [
        _file("s1.py", _lines("s1", 10)),
        _file("s2.py", _lines("s1", 5) + _lines("s2", 5)),  # s2 half of s1
        _file("s3.py", _lines("v2", 3) + _lines("s3", 7)),
    ]  # 30 % of v2's lines
    validation, test, report = split_heldout(validation_pool, test_pool, training)
    assert report["near_duplicates_of_training"] == {"v1.py": 0.8}
    assert near_duplicate_groups(validation_pool[1:] + test_pool) == [["s1.py", "s2.py"], ["s3.py", "v2.py"]]
    assert [f.relative_path for f in validation] == ["v2.py", "s3.py"] and [f.relative_path for f in test] == ["s1.py", "s2.py"]


def test_the_verbatim_check_catches_a_planted_leak(tokenizer):
    planted = "def planted_leak(x):\n    return x * 42 + len('a very particular string')\n"
    training = [_file("t.py", _lines("t", 5)), SourceFile("u.py", "import os\n" + planted)]
    index = VerbatimIndex(training)
    assert planted in index and planted.replace("42", "43") not in index
    held_out = [SourceFile("h.py", "\n".join(_lines("h", 6)) + "\n" + planted * 3 + "\n".join(_lines("k", 6)) + "\n")]
    unseen = lambda span: tokenizer.decode(span.target_ids) not in index
    free = sample_spans(held_out, tokenizer, 40, 8, 4, seed=0)
    assert any(tokenizer.decode(s.target_ids) in index for s in free)  # the leak is there to be caught
    checked = sample_spans(held_out, tokenizer, 40, 8, 4, seed=0, accept=unseen)
    assert len(checked) == 40 and not any(tokenizer.decode(s.target_ids) in index for s in checked)


def test_spans_per_file_are_capped(tokenizer):
    files = [_file("big.py", _lines("b", 200)), _file("small.py", _lines("s", 20))]
    spans = sample_spans(files, tokenizer, 6, 8, 4, seed=1, max_per_file=3)
    assert sorted(s.file for s in spans) == ["big.py"] * 3 + ["small.py"] * 3
    with pytest.raises(CodilaError, match="only 6 of 7 spans"):
        sample_spans(files, tokenizer, 7, 8, 4, seed=1, max_per_file=3)


def test_shipped_style_spans_are_read_back_and_a_changed_file_refused(tokenizer, tmp_path):
    files = [_file("pkg/a.py", _lines("a", 30)), _file("b.py", _lines("b", 30))]
    for f in files:
        (tmp_path / f.relative_path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f.relative_path).write_text(f.text)
    spans = sample_spans(files, tokenizer, 4, 8, 4, seed=2)
    texts = {f.relative_path: f.text for f in files}
    spec = {
        "python": "3.x",
        "tokenizer": vocabulary_hash(tokenizer),
        "length": 8,
        "context": 4,
        "splits": {"test": [span_record(s, texts[s.file]) for s in spans]},
    }
    (tmp_path / "spans.json").write_text(json.dumps(spec))
    assert heldout_spans("test", tokenizer, 4, root=tmp_path, path=tmp_path / "spans.json") == spans
    (tmp_path / "b.py").write_text(files[1].text + "x = 1\n")
    (tmp_path / "pkg" / "a.py").write_text(files[0].text + "x = 1\n")
    with pytest.raises(CodilaError, match="not the file"):
        heldout_spans("test", tokenizer, 4, root=tmp_path, path=tmp_path / "spans.json")


@pytest.mark.slow
def test_no_shipped_test_or_validation_target_appears_verbatim_in_the_dlm_training_data(tokenizer):
    """Reads the DLM's whole training data (its stdlib train split and every .py file of its extra packages)."""
    from codila.data.corpus import load_files, package_dir

    manifest = json.loads((SHIPPED / "dlm" / "manifest.json").read_text())
    training = load_files(None, "train")
    for name in manifest["data"]["extra_packages"]["versions"]:
        root = package_dir(name)
        training += [
            SourceFile(p.as_posix(), p.read_text(encoding="utf-8", errors="replace")) for p in sorted(root.rglob("*.py"))
        ]
    index = VerbatimIndex(training)
    heldout = {f.relative_path for f in load_files(None, "validation") + load_files(None, "test")}
    for split in ("validation", "test"):
        spans = heldout_spans(split, tokenizer, 200)
        assert {span.file for span in spans} <= heldout  # files the DLM never trained on
        assert max(sum(s.file == f for s in spans) for f in {s.file for s in spans}) <= 10  # <= 5 % per file
        assert not [span for span in spans if tokenizer.decode(span.target_ids) in index]
