"""One table of the valid range of every numeric option, by name, shared by the CLI, the server's request schema and
the library's config objects (TrainConfig, the decoder configs), so all refuse a bad value with the same one-line
`CodilaError`.

A rule is data (bounds), not code: the server turns it into its JSON-schema limits (`Rule.schema`).
`check_options(values)` checks each name of `values` that has a rule (None means "not given" and is skipped);
names without a rule are left alone. Every float must be finite unless its rule says otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

MAX_INT = 2**31 - 1  # larger counts are typos (and overflow tensor sizes); seeds go up to 2**63 - 1


@dataclass(frozen=True)
class Rule:
    low: float
    high: float = math.inf
    low_open: bool = False  # low itself is refused
    high_open: bool = False  # high itself is refused
    integer: bool = False
    infinite_ok: bool = False

    @property
    def what(self) -> str:
        """Completes "--name must be ...": "an integer from 1 to 2147483647", "in (0, 1]", "a finite number >= 0"."""
        if self.integer:
            return f"an integer from {self.low} to {self.high}"
        if self.high != math.inf:
            return f"in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"
        number = "a number" if self.infinite_ok else "a finite number"
        return f"{number} {'>' if self.low_open else '>='} {self.low:g}"

    def ok(self, value: Any) -> bool:
        if self.integer and (isinstance(value, bool) or not isinstance(value, int)):
            return False
        if isinstance(value, float) and (math.isnan(value) or (math.isinf(value) and not self.infinite_ok)):
            return False
        above = value > self.low if self.low_open else value >= self.low
        return above and (value < self.high if self.high_open else value <= self.high)

    def schema(self) -> dict:
        """The rule as pydantic Field limits (gt/ge, lt/le, allow_inf_nan)."""
        limits = {"gt" if self.low_open else "ge": self.low}
        high = {("lt" if self.high_open else "le"): self.high} if self.high != math.inf else {}
        finite = {} if self.integer or self.infinite_ok else {"allow_inf_nan": False}
        return limits | high | finite


def count(minimum: int = 1, maximum: int = MAX_INT) -> Rule:
    return Rule(minimum, maximum, integer=True)


def at_least(minimum: float, strict: bool = False, infinite_ok: bool = False) -> Rule:
    return Rule(minimum, low_open=strict, infinite_ok=infinite_ok)


def share(low_open: bool = False) -> Rule:
    return Rule(0, 1, low_open=low_open)


RULES: dict[str, Rule] = {
    # decoding
    "temperature": Rule(0, 100),  # past 100 the draw is uniform noise
    "top_p": share(low_open=True),
    "tau": at_least(0),
    "q": share(),
    "threshold": share(),
    "verify_penalty": at_least(0),
    "tokens_per_step": count(),
    "scope": count(),
    "semi_ar_block": count(0),
    "eps": Rule(0, 1, low_open=True, high_open=True),  # --schedule dream's final timestep
    "scale": share(low_open=True),  # bench --shapes paper
    "length": count(),
    "seed": count(0, 2**63 - 1),
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
    "epochs": count(),  # train block-scorer
    "hidden": count(0),  # train block-scorer: 0 = logistic regression
    # real models
    "max_span": count(0),
    # evaluation, demo, bench, analyses
    "limit": count(),
    "samples": count(),
    "completion_length": count(),
    "workers": count(1, 64),  # each program runs as its own uid, 64 per evaluation
    "n": count(),
    "repeats": count(),
    "harder": count(0),
    "batches": count(),
    # serving (codila serve, bench-serve)
    "port": count(1, 65535),
    "max_prompt_tokens": count(),
    "max_tokens": count(),
    "max_batch": count(),
    "max_wait": at_least(0),
    "max_queued": count(0),
    "timeout": at_least(0),
    "read_timeout": at_least(0, strict=True),
    "write_timeout": at_least(0, strict=True),
    "idle_timeout": at_least(0, strict=True),
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
    if not rule.ok(value):
        raise CodilaError(f"{option_name(name)} must be {rule.what}, got {value!r}")


def check_choice(name: str, value: Any, choices: tuple) -> None:
    from codila.errors import CodilaError

    if value not in choices:
        raise CodilaError(f"{option_name(name)} must be one of {', '.join(map(str, choices))}, got {value!r}")


def check_options(values: dict[str, Any]) -> None:
    """Refuse the first value of `values` outside its rule's range (`CodilaError` naming the option)."""
    for name, value in values.items():
        check_option(name, value)
