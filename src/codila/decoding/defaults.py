"""Every decoding default that more than one place reads, once: the decoder configs' field defaults, the CLI, the
API, the server, the demo, the bench, the sweeps and the docs' defaults table (`codila ls --defaults`) all come from
here or from the configs (which take theirs from here).

Why each value: docs/design-choices.md."""

from __future__ import annotations

DEFAULT_DECODER = "codila"
DEFAULT_AR = "ar-b4"  # the shipped local AR used when the DLM is the shipped one and no AR is named

# The paper's sampling of the AR's tokens (and the demo's DLM rows, so rows differ by the decoder only)
PAPER_TEMPERATURE = 0.1
PAPER_TOP_P = 0.8

# Static and dynamic CoDiLA look at the nearest `scope` unfinished blocks. The decoder's default, 1 (the nearest block:
# left to right), beat scopes 2 and 10 on the shipped validation spans (scripts/select_on_validation.py); the paper
# uses 10, which the demo, the sweeps and the bench use as its any-order row.
DEFAULT_SCOPE = 1
PAPER_SCOPE = 10
DEFAULT_TAU = 5.0  # dynamic mode's entropy threshold (nats), chosen on the shipped validation spans
