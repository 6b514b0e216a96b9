"""codila: coherent parallel decoding for diffusion LMs with a soft-conditioned local AR.

`from codila import CoDiLA` (see codila.api). Importing the package loads nothing else: torch and transformers are
imported on first use of a name."""

from __future__ import annotations

__all__ = ["CoDiLA", "Completion", "CodilaError"]


def __getattr__(name: str):
    if name in ("CoDiLA", "Completion"):
        from codila import api

        return getattr(api, name)
    if name == "CodilaError":
        from codila.errors import CodilaError

        return CodilaError
    raise AttributeError(f"module 'codila' has no attribute {name!r}")
