"""Tiny real models for the whole suite: trained here in seconds by the project's own trainers."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from codila.data.corpus import stdlib_dir
from codila.decoding.block_scorer import FEATURES, SCORER_FILE, BlockScorer
from codila.models.loading import load_ar, load_dlm
from codila.train.ar import train_ar
from codila.train.dlm import train_dlm
from codila.train.loop import TrainConfig

CORPUS_FILES = (
    "bisect.py",
    "colorsys.py",
    "keyword.py",
    "heapq.py",
    "fnmatch.py",
    "glob.py",
    "shlex.py",
    "textwrap.py",
    "string.py",
    "copy.py",
    "queue.py",
    "sched.py",
    "this.py",
    "abc.py",
    "numbers.py",
    "operator.py",
    "reprlib.py",
    "stat.py",
    "token.py",
    "types.py",
    "weakref.py",
    "bdb.py",
    "cmd.py",
    "code.py",
)
WINDOW = 64


def tiny_config(steps: int, batch_size: int = 8) -> TrainConfig:
    return TrainConfig(steps=steps, batch_size=batch_size, lr=3e-3, eval_every=steps, eval_batches=1, save_every_seconds=1e9)


@pytest.fixture(scope="session", autouse=True)
def single_thread():
    torch.set_num_threads(1)  # results must not depend on how many cores the machine has


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory) -> Path:
    """Two dozen stdlib modules copied into a folder (the `--files DIR` path of every command)."""
    root = tmp_path_factory.mktemp("corpus")
    for name in CORPUS_FILES:
        shutil.copy(stdlib_dir() / name, root / name)
    return root


@pytest.fixture(scope="session")
def tiny_checkpoints(tmp_path_factory, corpus_dir) -> Path:
    """A checkpoints folder laid out like the shipped one: dlm, ar-b1, ar-b2, ar-b4, ar-b8, ar-b4-top1."""
    root = tmp_path_factory.mktemp("checkpoints")
    runs = tmp_path_factory.mktemp("runs")
    train_dlm(runs / "dlm", tiny_config(30), preset="test", window=WINDOW, vocab_size=400, files=corpus_dir, progress=False)
    shutil.copytree(runs / "dlm" / "checkpoint", root / "dlm")
    for block_size, conditioning, name in (
        (1, "soft", "ar-b1"),
        (2, "soft", "ar-b2"),
        (4, "soft", "ar-b4"),
        (8, "soft", "ar-b8"),
        (4, "top1", "ar-b4-top1"),
    ):
        train_ar(
            root / "dlm",
            runs / name,
            block_size,
            tiny_config(10, 4),
            conditioning,
            preset="test",
            files=corpus_dir,
            progress=False,
        )
        shutil.copytree(runs / name / "checkpoint", root / name)
        torch.manual_seed(block_size)  # an untrained block scorer beside each AR: what --choice learned loads
        BlockScorer(len(FEATURES), 4).save(root / name / SCORER_FILE)
    return root


@pytest.fixture(scope="session")
def dlm(tiny_checkpoints):
    return load_dlm(tiny_checkpoints / "dlm")


@pytest.fixture(scope="session")
def ars(tiny_checkpoints, dlm):
    return {b: load_ar(tiny_checkpoints / f"ar-b{b}", dlm) for b in (1, 2, 4, 8)}


@pytest.fixture(scope="session")
def real_models(tmp_path_factory) -> Path:
    """Tiny random models laid out like the published ones, on the real Qwen vocabulary (tests/real_models.py):
    dream/ (Dream-v0), dreamon/ (DreamOn, with <|expand|>), llada/ (LLaDA's OLMo-style keys), qwen3/ (a Qwen3-0.6B-like AR)."""
    import real_models as layouts

    root = tmp_path_factory.mktemp("real-models")
    bpe = layouts.qwen_bpe()
    layouts.write_dream(root / "dream", bpe, seed=1)
    layouts.write_dream(root / "dreamon", bpe, seed=2, expand=True)
    layouts.write_llada(root / "llada", bpe, seed=3)
    layouts.write_qwen3(root / "qwen3", bpe, seed=4)
    return root


@pytest.fixture(scope="session")
def chat_dlm_dir(tiny_checkpoints, tmp_path_factory) -> Path:
    """The tiny DLM with a chat template in its tokenizer (the tiny and the shipped tokenizers have none)."""
    import shutil

    from codila.tokenizer import load_tokenizer

    path = tmp_path_factory.mktemp("chat") / "dlm"
    shutil.copytree(tiny_checkpoints / "dlm", path)
    tokenizer = load_tokenizer(path)
    tokenizer.chat_template = (
        "{% for m in messages %}# {{ m.role }}: {{ m.content }}\n{% endfor %}"
        "{% if add_generation_prompt %}# assistant:\n{% endif %}"
    )
    tokenizer.save_pretrained(path)
    return path
