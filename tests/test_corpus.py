import pytest

from codila.data.corpus import SPLITS, load_files, split_hash, split_of
from codila.errors import CodilaError


def test_stdlib_splits_are_disjoint_deterministic_and_cover_everything():
    every = load_files(split="all")
    parts = {name: load_files(split=name) for name in SPLITS}
    paths = [f.relative_path for name in SPLITS for f in parts[name]]
    assert sorted(paths) == sorted(f.relative_path for f in every)
    assert len(set(paths)) == len(paths)
    assert len(parts["train"]) > 10 * len(parts["test"]) > 0
    assert not any(part.startswith("test") or part == "site-packages" for p in paths for part in p.split("/")[:-1])
    assert split_hash(parts["test"]) == split_hash(load_files(split="test"))
    assert all(split_of(f.relative_path) == "test" for f in parts["test"])


def test_files_dir_replaces_the_stdlib(corpus_dir, tmp_path):
    (corpus_dir.parent / "broken").mkdir(exist_ok=True)
    files = load_files(corpus_dir, "all")
    assert {f.relative_path for f in files} == {p.name for p in corpus_dir.glob("*.py")}
    (tmp_path / "bad.py").write_text("def (:\n")
    with pytest.raises(CodilaError, match="no parseable"):
        load_files(tmp_path, "all")
    with pytest.raises(CodilaError, match="not a directory"):
        load_files(tmp_path / "missing", "all")
    with pytest.raises(CodilaError, match="unknown split"):
        load_files(corpus_dir, "dev")
