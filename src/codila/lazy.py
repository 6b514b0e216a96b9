"""`lazy_module`: a heavy module (torch) imported on its first attribute use, with the standard library's LazyLoader.

The decoders' modules use it so that the CLI can read their configs (its options and `--help`) without paying torch's
import time; any attribute access (`torch.zeros`, ...) loads the real module, after which it is the real module."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def lazy_module(name: str) -> ModuleType:
    """`import name`, deferred until an attribute is used (the module itself when already imported)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module
