"""Record what every decoder setting outputs on the shipped models (tests/data/recorded_decodes.json).

The recording is the reference `test_recorded_decodes.py` compares with: a refactor of the decoders must give the same
tokens, the same steps and the same forward counts for the same seeds. Re-record only when a change is meant to change
outputs (and say so in the commit): `PYTHONPATH=src python tests/record_decodes.py`."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from codila.decoding.canvas import Canvas
from codila.decoding.registry import decode, get_decoder
from codila.models.io import SHIPPED
from codila.models.loading import load_ar, load_dlm

RECORDING = Path(__file__).parent / "data" / "recorded_decodes.json"

# (decoder, config fields, AR name): every mode, selection, window, cache and sampling branch
SETTINGS = [
    ("dlm", {"tokens_per_step": 1}, None),
    ("dlm", {"tokens_per_step": 2, "selection": "confidence", "temperature": 0.8, "top_p": 0.9}, None),
    ("dlm", {"tokens_per_step": 2, "selection": "margin", "semi_ar_block": 8}, None),
    ("fast-dllm", {"threshold": 0.9, "semi_ar_block": 8}, None),
    ("fast-dllm", {"threshold": 0.9, "semi_ar_block": 8, "cache": "dual"}, None),
    ("dlm", {"tokens_per_step": 1, "semi_ar_block": 8, "cache": "prefix", "temperature": 0.5}, None),
    ("codila", {"mode": "static", "scope": 1}, "ar-b4"),
    ("codila", {"mode": "static", "scope": 10}, "ar-b2"),
    ("codila", {"mode": "static", "scope": 10, "choice": "dlm-confidence"}, "ar-b4"),
    ("codila", {"mode": "static", "scope": 1, "temperature": 1.0, "top_p": 0.95}, "ar-b8"),
    ("codila", {"mode": "dynamic", "tau": 5.0, "scope": 1}, "ar-b4"),
    ("codila", {"mode": "dynamic", "tau": 4.0, "scope": 10, "temperature": 0.7}, "ar-b2"),
    ("codila", {"mode": "verify", "tokens_per_step": 2, "scope": 3}, "ar-b4"),
    ("codila", {"mode": "static", "scope": 1, "semi_ar_block": 16, "cache": "dual"}, "ar-b4"),
    ("codila", {"mode": "dynamic", "tau": 5.0, "scope": 2, "semi_ar_block": 8, "cache": "prefix", "temperature": 0.6}, "ar-b4"),
    ("codila", {"mode": "static", "scope": 10, "semi_ar_block": 8}, "ar-b2"),
]


def canvases(dlm) -> list[Canvas]:
    encode = lambda text: dlm.tokenizer(text, add_special_tokens=False)["input_ids"]
    return [
        Canvas.infill(encode("def area(r):\n    "), 16, encode("\n    return a\n"), dlm.mask_id, dlm.max_length),
        Canvas.completion(encode("import os\n\ndef main():\n"), 24, dlm.mask_id, dlm.max_length),
        Canvas.infill(encode("for i in range(10):\n    "), 32, encode("\n        print(i)\n"), dlm.mask_id, dlm.max_length),
        Canvas.infill(encode("x = 1\n"), 8, encode("print(x)\n"), dlm.mask_id, dlm.max_length),
    ]


def summary(result) -> dict:
    return {
        "generated": result.generated.tolist(),
        "tokens_per_step": result.tokens_per_step,
        "dlm_forwards": result.dlm_forwards,
        "ar_steps": result.ar_steps,
    }


def decode_all(dlm, ars: dict, config_class_of=lambda name: get_decoder(name).config_class) -> list[dict]:
    """Each setting: every canvas alone (seed = its index), then all of them as one batch (same seeds)."""
    records = []
    for name, fields, ar_name in SETTINGS:
        spec = get_decoder(name)
        config = config_class_of(name)(**fields)
        ar = ars[ar_name] if ar_name else None
        todo = [c for c in canvases(dlm) if ar is None or c.length % ar.block_size == 0]
        alone = [summary(decode(spec, dlm, ar, [c], config, i)[0]) for i, c in enumerate(todo)]
        together = decode(spec, dlm, ar, todo, config, 0)
        records.append(
            {"decoder": name, "config": fields, "ar": ar_name, "alone": alone, "batch": [summary(r) for r in together]}
        )
    return records


def load_models():
    torch.set_num_threads(1)
    dlm = load_dlm(SHIPPED / "dlm")
    ars = {name: load_ar(SHIPPED / name, dlm) for name in {ar for _, _, ar in SETTINGS if ar}}
    return dlm, ars


if __name__ == "__main__":
    dlm, ars = load_models()
    RECORDING.write_text(json.dumps(decode_all(dlm, ars), indent=None) + "\n")
    print(f"wrote {RECORDING}")
