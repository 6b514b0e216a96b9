"""Every decoder setting gives, on the shipped models, exactly what was recorded (tests/record_decodes.py): the same
tokens, steps and forward counts for the same seeds, alone and as one batch. The recording was made before the
decoders were refactored into one batched loop each (re-recorded after main's id-order nucleus sampler, when the
refactored decoders and main's pre-refactor ones gave identical outputs on every setting); it is the reference, not the
code under test."""

import json

import pytest

from record_decodes import RECORDING, SETTINGS, decode_all, load_models


@pytest.fixture(scope="module")
def decoded():
    dlm, ars = load_models()
    return decode_all(dlm, ars)


def test_the_recording_covers_every_setting():
    recorded = json.loads(RECORDING.read_text())
    assert [(r["decoder"], r["config"], r["ar"]) for r in recorded] == [tuple(s) for s in SETTINGS]


@pytest.mark.parametrize("index", range(len(SETTINGS)), ids=lambda i: f"{SETTINGS[i][0]}-{SETTINGS[i][1]}-{SETTINGS[i][2]}")
def test_outputs_are_the_recorded_ones(decoded, index):
    recorded = json.loads(RECORDING.read_text())[index]
    now = decoded[index]
    assert now["alone"] == recorded["alone"]
    assert now["batch"] == recorded["alone"]  # a batch decodes exactly like its canvases alone
