"""Fast-dLLM's parallel decoding (arXiv 2505.22618): each step commits every masked position of the current window
whose top-1 probability is at least `threshold` (at least the most confident one), with the DLM alone."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from codila.decoding.canvas import Canvas
from codila.decoding.dlm import decode_most_certain
from codila.decoding.feed import Feed
from codila.decoding.forward import CACHES
from codila.decoding.options import CACHE_HELP, WINDOW_HELP, check_config, option, window_label
from codila.decoding.result import DecodeResult
from codila.lazy import lazy_module

if TYPE_CHECKING:
    from codila.models.dlm import DiffusionLM

torch = lazy_module("torch")  # loaded on first use: `codila --help` reads the configs without it


@dataclass(frozen=True)
class FastDllmConfig:
    """Fast-dLLM's options (each field's help is its CLI `--help`)."""

    threshold: float = option(0.9, "commit every position at least this confident (Fast-dLLM's default 0.9)")
    temperature: float = option(0.0, "sampling temperature of the committed tokens (0 = the argmax)")
    top_p: float = option(1.0, "nucleus sampling mass")
    semi_ar_block: int = option(0, WINDOW_HELP)
    cache: str = option("none", CACHE_HELP, choices=CACHES)

    def label(self, ar=None) -> str:
        return f"Fast-dLLM threshold={self.threshold}{window_label(self)}"

    def columns(self) -> dict:
        return {}

    @classmethod
    def examples(cls) -> list[FastDllmConfig]:
        return [cls(threshold=0.05), cls(threshold=0.5, semi_ar_block=8, cache="dual", temperature=1.0)]

    def __post_init__(self) -> None:
        check_config(self)  # numbers in range, names among their choices


def decode_fast_dllm_batch(
    dlm: DiffusionLM,
    ar,
    canvases: list[Canvas],
    config: FastDllmConfig,
    generators: list[torch.Generator],
    feed: Feed | None = None,
) -> list[DecodeResult]:
    return decode_most_certain(
        dlm,
        canvases,
        generators,
        selection="confidence",
        count=lambda scores: max(1, int((scores >= config.threshold).sum())),
        temperature=config.temperature,
        top_p=config.top_p,
        semi_ar_block=config.semi_ar_block,
        cache=config.cache,
        feed=feed,
    )
