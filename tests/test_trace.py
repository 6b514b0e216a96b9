"""Decode traces: the recording hook changes nothing, records what happened, and the page renders in Chromium."""

from __future__ import annotations

import shutil
import subprocess

import matplotlib.image
import numpy as np
import pytest
import torch

from codila.decoding.canvas import Canvas
from codila.decoding.codila import CodilaDecodeConfig
from codila.decoding.dlm import DlmDecodeConfig
from codila.decoding.registry import decode, get_decoder
from codila.trace.page import AGREE, DISAGREE, NOW, trace_html
from codila.trace.record import TraceRecorder, trace_document
from test_cli import codila

SETTINGS = [
    ("codila", CodilaDecodeConfig()),
    ("codila", CodilaDecodeConfig(mode="dynamic", tau=2.0)),
    ("dlm", DlmDecodeConfig(tokens_per_step=3)),
]


def infill_canvas(dlm, length=8):
    encode = lambda text: dlm.tokenizer(text, add_special_tokens=False)["input_ids"]
    return Canvas.infill(encode("def f(x):\n"), length, encode("\n    return y\n"), dlm.mask_id, dlm.max_length)


def traced(dlm, ars, name, config, length=8, seed=0):
    spec = get_decoder(name)
    canvas, recorder = infill_canvas(dlm, length), TraceRecorder()
    canvas.observer = recorder
    result = decode(spec, dlm, ars[4] if spec.needs_ar else None, [canvas], config, seed)[0]
    return result, trace_document(recorder, result, dlm.tokenizer, name, vars(config))


@pytest.mark.parametrize("name,config", SETTINGS)
def test_recording_changes_nothing_and_records_every_commit(dlm, ars, name, config):
    spec = get_decoder(name)
    plain = decode(spec, dlm, ars[4] if spec.needs_ar else None, [infill_canvas(dlm)], config, 0)[0]
    result, trace = traced(dlm, ars, name, config)
    assert torch.equal(plain.ids, result.ids) and plain.tokens_per_step == result.tokens_per_step
    assert [step["step"] for step in trace["steps"]] == list(range(result.steps))
    for step in trace["steps"]:
        assert all(
            trace["commit_step"][position] == step["step"] and trace["ids"][position] == token
            for position, token in step["committed"]
        )
    committed = sorted(position for step in trace["steps"] for position, _ in step["committed"])
    assert committed == list(range(trace["start"], trace["end"]))


def test_codila_commits_the_ar_choice_among_the_dlm_guesses(dlm, ars):
    _, trace = traced(dlm, ars, "codila", CodilaDecodeConfig(), length=16)
    for step in trace["steps"]:
        ar_choice = {candidate["position"]: candidate["ar_token"] for candidate in step["candidates"]}
        assert all(ar_choice[position] == token for position, token in step["committed"])  # static: the AR's block
        for candidate in step["candidates"]:
            probabilities = [probability for _, probability in candidate["dlm_top"]]
            assert probabilities == sorted(probabilities, reverse=True) and candidate["dlm_entropy"] >= 0


def test_the_dlm_alone_commits_its_top_guess(dlm, ars):
    _, trace = traced(dlm, ars, "dlm", DlmDecodeConfig(tokens_per_step=2))
    for step in trace["steps"]:
        top = {candidate["position"]: candidate["dlm_top"][0][0] for candidate in step["candidates"]}
        assert all(top[position] == token for position, token in step["committed"])  # temperature 0: the argmax
        assert all(candidate["ar_token"] is None for candidate in step["candidates"])


def test_trace_command_writes_the_page_and_the_png(tiny_checkpoints, tmp_path):
    out = codila(
        "trace",
        "import os\n",
        "--suffix",
        "x = 1\n",
        "--length",
        8,
        "--dlm",
        tiny_checkpoints / "dlm",
        "--ar",
        tiny_checkpoints / "ar-b4",
        "--out",
        tmp_path / "t.html",
    )
    assert out.returncode == 0, out.stderr
    assert "Commit grid" in (tmp_path / "t.html").read_text()
    image = matplotlib.image.imread(tmp_path / "t.png")
    assert image.shape[0] > 100 and image.std() > 0.05


def colour_share(image: np.ndarray, hex_colour: str, tolerance: float = 0.04) -> float:
    """Share of the screenshot's pixels within `tolerance` of a CSS colour."""
    target = np.array([int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)])
    return float((np.abs(image[..., :3] - target).max(-1) < tolerance).mean())


def screenshot(page, shot, profile) -> None:
    """Headless Chromium's 1200x900 screenshot of a local page (no network, a throw-away profile)."""
    subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            f"--user-data-dir={profile}",
            f"--screenshot={shot}",
            "--window-size=1200,900",
            page.as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )


@pytest.mark.skipif(
    shutil.which("chromium") is None,
    reason="Debian's chromium is not installed (apt-get install -y chromium): the page cannot be rendered",
)
def test_the_page_renders_in_headless_chromium(dlm, ars, tmp_path):
    _, trace = traced(dlm, ars, "codila", CodilaDecodeConfig(), length=16)
    page, shot = tmp_path / "trace.html", tmp_path / "shot.png"
    page.write_text(trace_html(trace))
    screenshot(page, shot, tmp_path / "profile")
    image = matplotlib.image.imread(shot)
    assert image.shape[:2] == (900, 1200)
    assert image[..., :3].std() > 0.1  # not blank
    assert colour_share(image, NOW) > 0.005  # the commit grid's blue cells (16 tokens in 4 steps: a staircase)
    assert colour_share(image, AGREE) + colour_share(image, DISAGREE) > 0.0005  # the AR's choices against the DLM's guesses
    blank = trace_html({**trace, "steps": []})  # the same page without steps has no blue grid cells
    page.write_text(blank)
    screenshot(page, shot, tmp_path / "profile")
    assert colour_share(matplotlib.image.imread(shot), NOW) < 0.001
