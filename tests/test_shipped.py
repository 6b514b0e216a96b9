"""The checkpoints the repository ships: complete, consistent, small, and described by their manifests."""

import json

import pytest

from codila.demo import demo_settings
from codila.models.io import SHIPPED
from codila.models.loading import load_ar, load_dlm

# name -> (block size, conditioning, framed, residual); ar-b1 and ar-b4-noframe serve the loss analysis (`codila analyze
# ar-loss`); the soft ARs have the residual marginal path, top-1 cannot
NAMES = {
    "dlm": None,
    "ar-b1": (1, "soft", True, True),
    "ar-b2": (2, "soft", True, True),
    "ar-b4": (4, "soft", True, True),
    "ar-b8": (8, "soft", True, True),
    "ar-b4-top1": (4, "top1", True, False),
    "ar-b4-noframe": (4, "soft", False, True),
}
DEMO_NAMES = {s.ar for s in demo_settings() if s.ar} | {"dlm"}
SHIPPED_NAMES = {
    p.name for p in SHIPPED.iterdir() if p.is_dir() and not p.name.startswith("planning-")
}  # planning: test_planning_shipped


def test_every_demo_checkpoint_is_shipped_and_fits_the_budget():
    assert DEMO_NAMES <= SHIPPED_NAMES == set(NAMES)
    size = sum(f.stat().st_size for f in SHIPPED.rglob("*") if f.is_file())
    assert size <= 40 * 2**20


@pytest.mark.parametrize("name", sorted(SHIPPED_NAMES))
def test_checkpoint_loads_and_has_a_manifest(name):
    dlm = load_dlm(SHIPPED / "dlm")
    if NAMES[name] is not None:
        ar = load_ar(SHIPPED / name, dlm)  # raises if the tokenizers differ
        assert (ar.block_size, ar.conditioning, ar.framed, ar.residual) == NAMES[name]
    manifest = json.loads((SHIPPED / name / "manifest.json").read_text())
    for key in ("command", "git_commit", "train_seconds", "final_train_loss", "final_validation_loss", "stored_dtype"):
        assert manifest.get(key) is not None, key
    assert (manifest.get("demo_metrics") is not None) == (name in DEMO_NAMES)
    assert manifest["data"]["split"] == "train" and len(manifest["data"]["split_hash"]) == 16
    assert manifest["command"].startswith("codila train")
    assert not manifest["git_commit"].endswith("-dirty")  # trained from committed code
