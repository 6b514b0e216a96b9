"""Named lists of decoder settings: what `codila eval --sweep NAME` runs."""

from __future__ import annotations

from dataclasses import replace

from codila.decoding.codila import CodilaDecodeConfig
from codila.decoding.dlm import DlmDecodeConfig
from codila.demo import DEFAULT_TAU, DEMO_SCOPE, demo_settings
from codila.errors import CodilaError
from codila.eval.settings import DecodeSetting

PAPER_SCOPES = (1, 10, 20, 30, 50)  # the paper's four, and the nearest block only (the demo's)
PAPER_TAUS = (0.5, 1.0, 2.0, 4.0, 6.0, 8.0)  # the shipped AR's entropies are flat: useful taus are large


def paper_sweep() -> list[DecodeSetting]:
    """The paper's experiments: DLM K in {1,2,4,8}; CoDiLA static B in {2,4,8} with soft and top-1
    conditioning (the top-1 AR trained for B=4; for B=2 and 8 the soft AR read top-1 at decoding time);
    scope in {1,10,20,30,50} at B=4; a tau grid for dynamic B=4."""
    static = CodilaDecodeConfig()
    settings = [DecodeSetting("dlm", DlmDecodeConfig(tokens_per_step=k)) for k in (1, 2, 4, 8)]
    settings += [DecodeSetting("codila", static, f"ar-b{b}") for b in (2, 4, 8)]
    settings += [DecodeSetting("codila", static, "ar-b2", "top1"), DecodeSetting("codila", static, "ar-b4-top1"),
                 DecodeSetting("codila", static, "ar-b8", "top1")]
    settings += [DecodeSetting("codila", replace(static, scope=scope), "ar-b4") for scope in PAPER_SCOPES if scope != static.scope]
    settings += [DecodeSetting("codila", CodilaDecodeConfig(mode="dynamic", tau=tau), "ar-b4") for tau in PAPER_TAUS]
    return settings


def quick_sweep() -> list[DecodeSetting]:
    """The headline comparison only: DLM K=1 and K=4, CoDiLA B=4 static and dynamic (the demo's scope and tau)."""
    return [DecodeSetting("dlm", DlmDecodeConfig(tokens_per_step=1)), DecodeSetting("dlm", DlmDecodeConfig(tokens_per_step=4)),
            DecodeSetting("codila", CodilaDecodeConfig(scope=DEMO_SCOPE), "ar-b4"),
            DecodeSetting("codila", CodilaDecodeConfig(mode="dynamic", tau=DEFAULT_TAU, scope=DEMO_SCOPE), "ar-b4")]


PLANNING_KS = (1, 2, 4, 8)
PLANNING_VERIFY_PENALTY = 1.0  # the default, not yet chosen on validation: every DLM row scored 0 there (docs/planning.md)
PLANNING_TAU = 0.5


def planning_sweep() -> list:
    """The planning tasks' table: the DLM at K in {1,2,4,8} (confidence order, as verify), CoDiLA B=4 static and
    dynamic, verify at the same K (B=4 AR as the judge), and the AR-only baseline."""
    from codila.eval.planning_run import BaselineSetting

    settings = [DecodeSetting("dlm", DlmDecodeConfig(tokens_per_step=k, selection="confidence")) for k in PLANNING_KS]
    settings += [DecodeSetting("codila", CodilaDecodeConfig(), "ar-b4"),
                 DecodeSetting("codila", CodilaDecodeConfig(mode="dynamic", tau=PLANNING_TAU), "ar-b4")]
    settings += [DecodeSetting("codila", CodilaDecodeConfig(mode="verify", tokens_per_step=k, verify_penalty=PLANNING_VERIFY_PENALTY), "ar-b4")
                 for k in PLANNING_KS]
    return [*settings, BaselineSetting()]


SWEEPS = {"paper": paper_sweep, "quick": quick_sweep, "demo": demo_settings, "planning": planning_sweep}


def get_sweep(name: str) -> list[DecodeSetting]:
    if name not in SWEEPS:
        raise CodilaError(f"unknown sweep {name!r}; choose one of {', '.join(SWEEPS)}")
    return SWEEPS[name]()
