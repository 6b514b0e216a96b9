import pytest
import torch

from codila.data.corpus import (
    SPLITS,
    SourceFile,
    extra_training_files,
    load_files,
    package_dir,
    split_hash,
    split_of,
    training_corpus,
)
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


def test_extra_packages_join_training_without_files_copied_from_held_out_code(corpus_dir):
    json_files = load_files(package_dir("json"), "all")  # an installed package on every machine: the stdlib's json
    extra = extra_training_files(["json"], held_out=[])
    assert sorted(f.relative_path for f in extra) == sorted(f"json/{f.relative_path}" for f in json_files)
    decoder = next(f for f in json_files if f.relative_path == "decoder.py")
    edited = SourceFile("elsewhere/decoder.py", decoder.text + "\n# one more line of an edited copy, long enough\n")
    kept = extra_training_files(["json"], held_out=[edited])
    assert "json/decoder.py" not in {f.relative_path for f in kept} and len(kept) == len(extra) - 1
    with pytest.raises(CodilaError, match="not an installed package"):
        extra_training_files(["no_such_package_here"], held_out=[])
    train, extra_files, validation, data = training_corpus(corpus_dir, ["json"])
    assert len(train) == data["files"] and len(extra_files) == data["extra_packages"]["files"] == len(extra)
    assert validation == load_files(corpus_dir, "validation") and "json" in data["extra_packages"]["versions"]


def test_window_sampler_draws_extra_files_with_the_share_asked(dlm):
    from codila.data.windows import WindowSampler

    main, extra = load_files(package_dir("json"), "all"), load_files(package_dir("email"), "all")
    sampler = WindowSampler(main, dlm.tokenizer, 16, dlm.special.eos_id, extra, extra_share=0.25)
    from_extra = torch.arange(len(sampler.files)) >= len(main)  # every file of these packages encodes to tokens
    assert abs(float(sampler.weights[from_extra].sum() / sampler.weights.sum()) - 0.25) < 1e-6
    draws = torch.multinomial(sampler.weights, 4000, replacement=True, generator=torch.Generator().manual_seed(0))
    assert 0.22 < float(from_extra[draws].float().mean()) < 0.28
    proportional = WindowSampler(main, dlm.tokenizer, 16, dlm.special.eos_id, extra)
    assert torch.equal(proportional.weights, torch.tensor([len(ids) for ids in proportional.files], dtype=torch.float))
    for bad_share, bad_extra in ((1.0, extra), (0.5, [])):
        with pytest.raises(CodilaError, match="--extra-share"):
            WindowSampler(main, dlm.tokenizer, 16, dlm.special.eos_id, bad_extra, extra_share=bad_share)
