"""`--device auto|cpu|cuda|mps` and `--dtype float32|bfloat16|float16`: resolved once, checked before any weight loads."""

from __future__ import annotations

import torch

from codila.errors import CodilaError

DEVICES = ("auto", "cpu", "cuda", "mps")
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def _available(kind: str) -> bool:
    if kind == "cuda":
        return torch.cuda.is_available()
    if kind == "mps":
        return hasattr(torch.backends, "mps") and torch.backends.mps.is_available()
    return kind == "cpu"


def resolve_device(name: str | torch.device | None) -> torch.device:
    """auto = cuda, else mps, else cpu; an explicit device must be present (`cuda:1` names one GPU)."""
    name = "auto" if name is None else str(name)
    kind = name.split(":")[0]
    if kind not in DEVICES:
        raise CodilaError(f"unknown device {name!r}; choose one of {', '.join(DEVICES)}")
    if kind == "auto":
        return torch.device(next(k for k in ("cuda", "mps", "cpu") if _available(k)))
    if not _available(kind):
        raise CodilaError(f"device {name!r} is not available on this machine: pass --device cpu (or auto)")
    return torch.device(name)


def runs_dtype(dtype: torch.dtype, device: torch.device) -> bool:
    """Whether `device` can run a matrix product in `dtype` (bfloat16 needs Ampere on CUDA and a recent macOS on MPS)."""
    if device.type == "cuda" and dtype == torch.bfloat16:
        return torch.cuda.is_bf16_supported()
    try:
        a = torch.ones(2, 2, dtype=dtype, device=device)
        return bool(torch.isfinite((a @ a).float()).all())
    except (RuntimeError, TypeError):
        return False


def resolve_dtype(name: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    """float32 by default; a dtype the device cannot run is refused."""
    if isinstance(name, torch.dtype):
        dtype = name
    else:
        name = name or "float32"
        if name not in DTYPES:
            raise CodilaError(f"unknown dtype {name!r}; choose one of {', '.join(DTYPES)}")
        dtype = DTYPES[name]
    if not runs_dtype(dtype, device):
        raise CodilaError(f"{device} cannot run {str(dtype).removeprefix('torch.')}: pass --dtype float32 (or float16 on a GPU)")
    return dtype


def model_device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device
