"""A decoder setting (decoder name + its config + which AR) and the models it runs on."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from codila.decoding.registry import get_decoder
from codila.errors import CodilaError
from codila.models.causal_ar import BASELINE_KIND
from codila.models.dlm import DiffusionLM
from codila.models.loading import load_ar, load_dlm
from codila.models.local_ar import LocalAR


@dataclass(frozen=True)
class DecodeSetting:
    method: str  # a name in the decoder registry
    config: object  # that decoder's config (a dataclass with `label(ar)` and `columns()`: k, mode, tau, scope)
    ar: str | None = None  # name of the AR checkpoint (a directory under the checkpoints folder)
    conditioning: str | None = None  # override of the AR's own conditioning

    def describe(self, ar: LocalAR | None) -> dict:
        """The row keys that identify this setting in tables and JSON."""
        columns = self.config.columns()
        return {
            "method": self.method,
            "k": columns.get("k"),
            "block_size": ar.block_size if ar else None,
            "mode": columns.get("mode"),
            "conditioning": ar.conditioning if ar else None,
            "tau": columns.get("tau"),
            "scope": columns.get("scope"),
            "ar": self.ar,
        }

    def label(self, ar: LocalAR | None) -> str:
        return self.config.label(ar)


class ModelSet:
    """The DLM and the ARs of a checkpoints folder (`dlm/`, `ar-b4/`, ...), each AR loaded once, on demand. An AR name
    may be a path of its own (an absolute path replaces the folder); `ar_options` go to load_ar (block_size, frame tokens)
    for ARs codila did not write."""

    def __init__(self, checkpoints: str | Path, dlm: DiffusionLM | None = None, ar_options: dict | None = None):
        self.root = Path(checkpoints)
        self.dlm = dlm or load_dlm(self.root / "dlm")
        self.ar_options = ar_options or {}
        self._ars: dict[tuple[str, str | None], LocalAR] = {}

    def ar(self, name: str | None, conditioning: str | None = None) -> LocalAR | None:
        if name is None:
            return None
        if (name, conditioning) not in self._ars:
            path = self.root / name if (self.root / name).is_dir() else Path(name)  # a name here, else a path of its own
            self._ars[name, conditioning] = load_ar(path, self.dlm, conditioning, **self.ar_options)
        return self._ars[name, conditioning]

    def ar_names(self) -> list[str]:
        """The folders of the checkpoints folder that hold an AR (a local AR or an AR-only baseline), sorted."""
        return sorted(
            path.name
            for path in self.root.iterdir()
            if (path / "codila.json").is_file()
            and json.loads((path / "codila.json").read_text()).get("kind") in ("ar", BASELINE_KIND)
        )

    def for_setting(self, setting: DecodeSetting) -> LocalAR | None:
        spec = get_decoder(setting.method)
        if spec.needs_ar and setting.ar is None:
            raise CodilaError(f"decoder {setting.method!r} needs an AR")
        return self.ar(setting.ar, setting.conditioning)
