"""A decoder setting (decoder name + its config + which AR) and the models it runs on."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from codila.decoding.codila import CodilaDecodeConfig
from codila.decoding.dlm import DlmDecodeConfig
from codila.decoding.registry import get_decoder
from codila.errors import CodilaError
from codila.models.dlm import DiffusionLM
from codila.models.loading import load_ar, load_dlm
from codila.models.local_ar import LocalAR


@dataclass(frozen=True)
class DecodeSetting:
    method: str  # a name in the decoder registry
    config: DlmDecodeConfig | CodilaDecodeConfig
    ar: str | None = None  # name of the AR checkpoint (a directory under the checkpoints folder)
    conditioning: str | None = None  # override of the AR's own conditioning

    def describe(self, ar: LocalAR | None) -> dict:
        """The row keys that identify this setting in tables and JSON."""
        codila = isinstance(self.config, CodilaDecodeConfig)
        return {
            "method": self.method,
            "k": self.config.tokens_per_step if not codila or self.config.mode == "verify" else None,
            "block_size": ar.block_size if ar else None,
            "mode": self.config.mode if codila else None,
            "conditioning": ar.conditioning if ar else None,
            "tau": self.config.tau if codila and self.config.mode == "dynamic" else None,
            "scope": self.config.scope if codila else None,
            "ar": self.ar,
        }

    def label(self, ar: LocalAR | None) -> str:
        d = self.describe(ar)
        if d["mode"] is None:
            return self._dlm_label()
        extra = f" tau={d['tau']}" if d["tau"] is not None else f" K={d['k']}" if d["mode"] == "verify" else ""
        if d["mode"] == "verify":
            extra += f" penalty={self.config.verify_penalty}"
            extra += f" {self.config.verify_selection}" if self.config.verify_selection != CodilaDecodeConfig.verify_selection else ""
        extra += f" scope={d['scope']}" if d["scope"] != CodilaDecodeConfig.scope else ""
        extra += f" {self.config.choice}" if self.config.choice != CodilaDecodeConfig.choice else ""
        return f"CoDiLA B={d['block_size']} {d['mode']} {d['conditioning']}{extra}{self._window_label()}"

    def _window_label(self) -> str:
        """" semi-AR n" and " prefix cache" / " dual cache" where the setting uses them (both decoders)."""
        label = f" semi-AR {self.config.semi_ar_block}" if self.config.semi_ar_block else ""
        return label + (f" {self.config.cache} cache" if self.config.cache != "none" else "")

    def _dlm_label(self) -> str:
        """"DLM K=1", plus what differs from the paper's baseline: selection, semi-AR blocks, threshold, cache."""
        config = self.config
        label = f"DLM threshold={config.threshold}" if config.threshold > 0 else f"DLM K={config.tokens_per_step}"
        if config.selection != DlmDecodeConfig.selection:
            label += f" {config.selection}"
        if config.temperature > 0:
            label += f" T={config.temperature} top-p={config.top_p}"
        return label + self._window_label()


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
        """The folders of the checkpoints folder that hold a local AR, sorted."""
        return sorted(path.name for path in self.root.iterdir() if (path / "codila.json").is_file()
                      and json.loads((path / "codila.json").read_text()).get("kind") == "ar")

    def for_setting(self, setting: DecodeSetting) -> LocalAR | None:
        spec = get_decoder(setting.method)
        if spec.needs_ar and setting.ar is None:
            raise CodilaError(f"decoder {setting.method!r} needs an AR")
        return self.ar(setting.ar, setting.conditioning)
