"""One table of the valid range of every numeric option, by name, shared by the CLI and the library's config objects
(TrainConfig, the decoder configs), so both refuse a bad value with the same one-line `CodilaError`.

`check_options(values)` checks each name of `values` that has a rule (None means "not given" and is skipped);
names without a rule are left alone. Every float must be finite unless its rule says otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

MAX_INT = 2**31 - 1  # larger counts are typos (and overflow tensor sizes); seeds go up to 2**63 - 1


@dataclass(frozen=True)
class Rule:
    what: str  # "at least 1", "in (0, 1]": completes "--name must be ..."
    ok: Callable[[Any], bool]
    integer: bool = False
    infinite_ok: bool = False


def count(minimum: int = 1) -> Rule:
    return Rule(f"an integer from {minimum} to {MAX_INT}", lambda v: minimum <= v <= MAX_INT, integer=True)


def at_least(minimum: float, strict: bool = False, infinite_ok: bool = False) -> Rule:
    return Rule(
        f"a finite number {'>' if strict else '>='} {minimum}" if not infinite_ok else f"a number >= {minimum}",
        (lambda v: v > minimum) if strict else (lambda v: v >= minimum),
        infinite_ok=infinite_ok,
    )


def share(low_open: bool = False) -> Rule:
    return Rule("in (0, 1]" if low_open else "in [0, 1]", (lambda v: 0 < v <= 1) if low_open else (lambda v: 0 <= v <= 1))


RULES: dict[str, Rule] = {
    # decoding
    "temperature": Rule("a finite number from 0 to 100", lambda v: 0 <= v <= 100),  # past it: uniform noise
    "top_p": share(low_open=True),
    "tau": at_least(0),
    "threshold": share(),
    "verify_penalty": at_least(0),
    "tokens_per_step": count(),
    "scope": count(),
    "semi_ar_block": count(0),
    "length": count(),
    "seed": Rule(f"an integer from 0 to {2**63 - 1}", lambda v: 0 <= v < 2**63, integer=True),
    # training
    "steps": count(),
    "batch_size": count(),
    "lr": at_least(0, strict=True),
    "window": count(2),
    "block_size": count(),
    "mask_unit": count(),
    "vocab_size": count(),
    "eval_every": count(),
    "eval_batches": count(),
    "save_every": at_least(0, infinite_ok=True),
    "save_every_seconds": at_least(0, infinite_ok=True),
    "warmup_fraction": share(),
    "min_lr_fraction": share(),
    "weight_decay": at_least(0),
    "clip_norm": at_least(0, strict=True),
    "gap_fraction": share(),
    "extra_share": share(),
    "accumulate": count(),
    # real models
    "max_span": count(),
    # evaluation, demo, bench, analyses
    "limit": count(),
    "samples": count(),
    "completion_length": count(),
    "workers": Rule(
        "an integer from 1 to 64 (each program runs as its own uid, 64 per evaluation)", lambda v: 1 <= v <= 64, integer=True
    ),
    "n": count(),
    "repeats": count(),
    "harder": count(0),
    "batches": count(),
    # serving (codila serve, bench-serve)
    "port": Rule("an integer from 1 to 65535", lambda v: 1 <= v <= 65535, integer=True),
    "max_prompt_tokens": count(),
    "max_tokens": count(),
    "max_batch": count(),
    "max_wait": at_least(0),
    "max_queued": count(0),
    "timeout": at_least(0),
    "threads": count(),
    "requests": count(),
}


def option_name(name: str) -> str:
    return "--" + name.replace("_", "-")


def check_option(name: str, value: Any) -> None:
    from codila.errors import CodilaError

    rule = RULES.get(name)
    if rule is None or value is None or isinstance(value, bool):
        return
    if rule.integer and not isinstance(value, int):
        raise CodilaError(f"{option_name(name)} must be {rule.what}, got {value!r}")
    if isinstance(value, float) and (math.isnan(value) or (math.isinf(value) and not rule.infinite_ok)):
        raise CodilaError(f"{option_name(name)} must be {rule.what}, got {value!r}")
    if not rule.ok(value):
        raise CodilaError(f"{option_name(name)} must be {rule.what}, got {value!r}")


def check_options(values: dict[str, Any]) -> None:
    """Refuse the first value of `values` outside its rule's range (`CodilaError` naming the option)."""
    for name, value in values.items():
        check_option(name, value)
