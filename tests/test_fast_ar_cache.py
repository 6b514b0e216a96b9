"""The fast path's build cache: keyed by everything the library depends on, its lock never stale and never waited on
forever (issue 28: a second environment's build left a lock that hung `generate`)."""

import fcntl
import warnings

import pytest
import torch

from codila.models import fast_ar


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("CODILA_FAST_AR", "1")
    monkeypatch.setattr(fast_ar, "_registered", lambda: False)
    built = []
    monkeypatch.setattr("torch.utils.cpp_extension.load", lambda name, *a, build_directory, **k: built.append(build_directory))
    fast_ar.load.cache_clear()
    yield built
    fast_ar.load.cache_clear()


def test_the_cache_key_holds_the_torch_version_and_the_compiler(monkeypatch):
    flags = fast_ar._build_flags()
    name = fast_ar.build_name(flags)
    assert name == fast_ar.build_name(flags)
    monkeypatch.setattr(torch, "__version__", "0.0.1-another-environment")
    assert fast_ar.build_name(flags) != name
    monkeypatch.undo()
    monkeypatch.setenv("CXX", "another-c++")
    assert fast_ar.build_name(flags) != name
    assert fast_ar.build_name([*flags, "-O0"]) != name


def test_a_stale_torch_lock_is_removed_under_our_own_lock(fresh, tmp_path):
    build_dir = fast_ar._cache_dir() / fast_ar.build_name(fast_ar._build_flags())
    build_dir.mkdir(parents=True)
    (build_dir / "lock").write_text("")  # left by a build that was killed: torch would wait on it forever
    assert fast_ar.load() and fresh == [str(build_dir)] and not (build_dir / "lock").exists()


def test_a_held_lock_times_out_with_a_clear_message(fresh, monkeypatch):
    monkeypatch.setenv("CODILA_FAST_AR_LOCK_TIMEOUT", "0")
    build_dir = fast_ar._cache_dir() / fast_ar.build_name(fast_ar._build_flags())
    build_dir.parent.mkdir(parents=True)
    with open(build_dir.with_name(build_dir.name + ".lock"), "a") as holder:  # another process building right now
        fcntl.flock(holder, fcntl.LOCK_EX)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert fast_ar.load() is False
    assert fresh == [] and any("CODILA_FAST_AR_LOCK_TIMEOUT" in str(w.message) for w in caught)
