"""Named lists of decoder settings: what `codila eval --sweep NAME` runs."""

from __future__ import annotations

from dataclasses import replace

from codila.decoding.codila import CodilaDecodeConfig
from codila.decoding.defaults import DEFAULT_AR, PAPER_SCOPE, PAPER_TEMPERATURE, PAPER_TOP_P
from codila.decoding.dlm import DlmDecodeConfig
from codila.decoding.left_to_right import ArBaselineConfig
from codila.decoding.registry import DECODERS
from codila.errors import CodilaError
from codila.eval.settings import DecodeSetting
from codila.models.causal_ar import BASELINE_KIND

PAPER_SCOPES = (1, 10, 20, 30, 50)  # the paper's four, and the nearest block only (the validated default)
PAPER_TAUS = (0.5, 1.0, 2.0, 4.0, 6.0, 8.0)  # the shipped AR's entropies are flat: useful taus are large

# The CoDiLA rows use the paper's rule: the lowest-entropy block among the nearest 10 (scope 10); scope 1 (left to
# right, the entropy rule never runs; the decoder's validated default) is an ablation row. Tau: the decoder's default,
# chosen on the shipped validation spans only (scripts/select_on_validation.py, docs/demo.md), never on the test spans.
# DLM rows sample like CoDiLA does (the paper's T 0.1, top-p 0.8), so the rows differ by the decoder only.
DEMO_SCOPE = PAPER_SCOPE
ABLATION_SCOPE = CodilaDecodeConfig.scope
DEMO_TEMPERATURE, DEMO_TOP_P = PAPER_TEMPERATURE, PAPER_TOP_P
# The learned block rule's rows (issue 31): static B=4 at the demo's scope, and dynamic mode committing the longest
# prefix whose predicted correctness exceeds DEMO_Q (chosen on validation spans: docs/block-scorer.md)
DEMO_Q = 0.02  # validation: q 0.02 21.7 % floor-free syntax at 3.3 tokens/step, q 0.05 21.0 % at 2.1


def paper_sweep() -> list[DecodeSetting]:
    """The paper's experiments: DLM K in {1,2,4,8}; CoDiLA static B in {2,4,8} with soft and top-1
    conditioning (the top-1 AR trained for B=4; for B=2 and 8 the soft AR read top-1 at decoding time);
    scope in {1,10,20,30,50} at B=4; a tau grid for dynamic B=4."""
    static = CodilaDecodeConfig(scope=PAPER_SCOPE)
    settings = [DecodeSetting("dlm", DlmDecodeConfig(tokens_per_step=k)) for k in (1, 2, 4, 8)]
    settings += [DecodeSetting("codila", static, f"ar-b{b}") for b in (2, 4, 8)]
    settings += [
        DecodeSetting("codila", static, "ar-b2", "top1"),
        DecodeSetting("codila", static, "ar-b4-top1"),
        DecodeSetting("codila", static, "ar-b8", "top1"),
    ]
    settings += [
        DecodeSetting("codila", replace(static, scope=scope), DEFAULT_AR) for scope in PAPER_SCOPES if scope != static.scope
    ]
    settings += [
        DecodeSetting("codila", CodilaDecodeConfig(mode="dynamic", tau=tau, scope=PAPER_SCOPE), DEFAULT_AR) for tau in PAPER_TAUS
    ]
    return settings


def quick_sweep() -> list[DecodeSetting]:
    """The headline comparison only: DLM K=1 and K=4, CoDiLA B=4 static and dynamic (the demo's scope, the validated tau)."""
    return [
        DecodeSetting("dlm", DlmDecodeConfig(tokens_per_step=1)),
        DecodeSetting("dlm", DlmDecodeConfig(tokens_per_step=4)),
        DecodeSetting("codila", CodilaDecodeConfig(scope=DEMO_SCOPE), DEFAULT_AR),
        DecodeSetting("codila", CodilaDecodeConfig(mode="dynamic", scope=DEMO_SCOPE), DEFAULT_AR),
    ]


def decoders_sweep() -> list[DecodeSetting]:
    """Every registered decoder at its defaults (the shipped B=4 AR for those that need one)."""
    return [
        DecodeSetting(name, spec.config_class(), DEFAULT_AR if spec.needs_ar else None)
        for name, spec in DECODERS.items()
        if spec.ar_kind == "local" and not spec.needs_expand_token  # those the shipped code models run
    ]


def demo_settings(tau: float = CodilaDecodeConfig.tau, scope: int = DEMO_SCOPE) -> list[DecodeSetting]:
    """DLM K in {1,2,4,8}; CoDiLA static at B in {2,4,8}, top-1 conditioning at B=4, a scope-1 ablation and dynamic
    at B=4 (scope 10 and the decoder's validated tau unless given; no ablation row when `scope` is the ablation's);
    the learned block rule at B=4, static and dynamic (q: DEMO_Q); every row samples at T 0.1, top-p 0.8."""
    sampling = {"temperature": DEMO_TEMPERATURE, "top_p": DEMO_TOP_P}
    static = CodilaDecodeConfig(scope=scope, **sampling)
    return [
        *(DecodeSetting("dlm", DlmDecodeConfig(tokens_per_step=k, **sampling)) for k in (1, 2, 4, 8)),
        *(DecodeSetting("codila", static, f"ar-b{b}") for b in (2, 4, 8)),
        DecodeSetting("codila", static, "ar-b4-top1"),
        *(
            [DecodeSetting("codila", CodilaDecodeConfig(scope=ABLATION_SCOPE, **sampling), DEFAULT_AR)]
            if scope != ABLATION_SCOPE
            else []
        ),
        DecodeSetting("codila", CodilaDecodeConfig(mode="dynamic", tau=tau, scope=scope, **sampling), DEFAULT_AR),
        DecodeSetting("codila", CodilaDecodeConfig(scope=scope, choice="learned", **sampling), DEFAULT_AR),
        DecodeSetting(
            "codila", CodilaDecodeConfig(mode="dynamic", choice="learned", q=DEMO_Q, scope=scope, **sampling), DEFAULT_AR
        ),
    ]


PLANNING_KS = (1, 2, 4, 8)
# the default, kept: penalties 0, 0.3, 1 and 3 tied on validation (every DLM row <= 0.5 %; docs/planning.md)
PLANNING_VERIFY_PENALTY = 1.0
PLANNING_TAU = 0.5


def planning_sweep() -> list:
    """The planning tasks' table: the DLM at K in {1,2,4,8} (confidence order, as verify), CoDiLA B=4 static and
    dynamic, verify at the same K (B=4 AR as the judge), and the AR-only baseline."""
    settings = [DecodeSetting("dlm", DlmDecodeConfig(tokens_per_step=k, selection="confidence")) for k in PLANNING_KS]
    settings += [
        DecodeSetting("codila", CodilaDecodeConfig(scope=PAPER_SCOPE), DEFAULT_AR),
        DecodeSetting("codila", CodilaDecodeConfig(mode="dynamic", tau=PLANNING_TAU, scope=PAPER_SCOPE), DEFAULT_AR),
    ]
    settings += [
        DecodeSetting(
            "codila",
            CodilaDecodeConfig(mode="verify", tokens_per_step=k, verify_penalty=PLANNING_VERIFY_PENALTY, scope=PAPER_SCOPE),
            DEFAULT_AR,
        )
        for k in PLANNING_KS
    ]
    return [*settings, baseline_setting()]


def baseline_setting() -> DecodeSetting:
    """The AR-only baseline (greedy, one token per step, left to right) on a planning folder's `ar-baseline/`."""
    return DecodeSetting(BASELINE_KIND, ArBaselineConfig(), BASELINE_KIND)


SWEEPS = {
    "paper": paper_sweep,
    "quick": quick_sweep,
    "decoders": decoders_sweep,
    "demo": demo_settings,
    "planning": planning_sweep,
}


def get_sweep(name: str) -> list[DecodeSetting]:
    if name not in SWEEPS:
        raise CodilaError(f"unknown sweep {name!r}; choose one of {', '.join(SWEEPS)}")
    return SWEEPS[name]()
