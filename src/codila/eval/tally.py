"""What decoders report, summed over many decodes, and the speed columns every evaluation row shares."""

from __future__ import annotations

from dataclasses import dataclass, field

from codila.decoding.result import DecodeResult
from codila.eval.order import commit_order_correlation


@dataclass
class DecodeTally:
    decodes: int = 0
    tokens: int = 0  # decoded positions (generated tokens only)
    steps: int = 0
    dlm_forwards: int = 0
    ar_steps: int = 0
    seconds: float = 0.0
    ar_seconds: float = 0.0
    orders: list[float] = field(default_factory=list)

    def add(self, result: DecodeResult) -> None:
        self.decodes += 1
        self.tokens += result.end - result.start
        self.steps += result.steps
        self.dlm_forwards += result.dlm_forwards
        self.ar_steps += result.ar_steps
        self.seconds += result.seconds
        self.ar_seconds += result.ar_seconds
        if (rho := commit_order_correlation(result)) is not None:
            self.orders.append(rho)

    def row(self) -> dict:
        """tokens_per_step; dlm_forwards and ar_steps per decode; tokens_per_s (over decoding time); ar_time_share
        (of decoding time); order_spearman (commit step vs position, mean over decodes where it is defined)."""
        return {
            "tokens_per_step": self.tokens / self.steps,
            "dlm_forwards": self.dlm_forwards / self.decodes,
            "ar_steps": self.ar_steps / self.decodes,
            "tokens_per_s": self.tokens / self.seconds,
            "ar_time_share": self.ar_seconds / self.seconds,
            "order_spearman": sum(self.orders) / len(self.orders) if self.orders else None,
        }
