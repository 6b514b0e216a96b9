"""OpenAI's `logprobs`: the committed tokens' log-probabilities, recorded while a canvas decodes.

A diffusion decoder commits a token at a position from the DLM's marginal there at that step; the log-probability
reported is that marginal's (the log-softmax of the DLM's logits, before temperature and top-p), as vLLM reports the
model's own distribution. Only decoders whose committed tokens are drawn from that marginal can answer honestly
(`LOGPROB_DECODERS`); CoDiLA's tokens are drawn by the local AR, whose probabilities its fast decode does not report,
so a request for them is refused (400, param "logprobs").
"""

from __future__ import annotations

import math
from typing import Callable

import torch

LOGPROB_DECODERS = ("dlm", "fast-dllm")  # their committed tokens are drawn from the DLM marginal the observer sees
FLOOR = -9999.0  # a probability that underflowed to 0 (OpenAI's own floor for "never")


def _log(probability: float) -> float:
    return max(FLOOR, math.log(probability)) if probability > 0 else FLOOR


class LogprobRecorder:
    """A StepObserver keeping, for each committed position, the log-probability of its token under the marginal the
    decoder saw at that step, and the `top` most likely tokens there."""

    def __init__(self, top: int):
        self.top = top
        self._considered: dict[int, torch.Tensor] = {}  # position -> its marginal (V) at the current step
        self.at: dict[int, tuple[float, list[tuple[int, float]]]] = {}  # position -> (logprob, [(token, logprob)])

    def considered(self, step, positions, marginals, ar_tokens, ar_entropies) -> None:
        flat = marginals.reshape(-1, marginals.shape[-1])
        self._considered = dict(zip(positions.flatten().tolist(), flat))

    def committed(self, step: int, positions: torch.Tensor, tokens: torch.Tensor) -> None:
        for position, token in zip(positions.tolist(), tokens.tolist()):
            marginal = self._considered.get(position)
            if marginal is None:  # EOS fill after a committed EOS: never part of an answer
                continue
            best = []
            if self.top:
                values, ids = marginal.topk(self.top)
                best = [(int(i), _log(float(v))) for i, v in zip(ids, values)]
            self.at[position] = (_log(float(marginal[token])), best)
        self._considered = {}


def completion_logprobs(
    recorder: LogprobRecorder, start: int, tokens: list[int], text_offsets: list[int], piece: Callable[[int], str]
) -> dict:
    """/v1/completions' `choices[0].logprobs` for the answer's tokens (region positions start, start + 1, ...)."""
    entries = [recorder.at.get(start + index, (None, [])) for index in range(len(tokens))]
    return {
        "tokens": [piece(token) for token in tokens],
        "token_logprobs": [logprob for logprob, _ in entries],
        "top_logprobs": [{piece(t): lp for t, lp in best} for _, best in entries] if recorder.top else None,
        "text_offset": text_offsets,
    }


def chat_logprobs(recorder: LogprobRecorder, start: int, tokens: list[int], piece: Callable[[int], str]) -> dict:
    """/v1/chat/completions' `choices[0].logprobs`: {"content": [{token, logprob, bytes, top_logprobs}]}."""

    def item(token: int, logprob: float | None) -> dict:
        text = piece(token)
        return {"token": text, "logprob": logprob, "bytes": list(text.encode("utf-8"))}

    content = []
    for index, token in enumerate(tokens):
        logprob, best = recorder.at.get(start + index, (None, []))
        content.append(item(token, logprob) | {"top_logprobs": [item(t, lp) for t, lp in best]})
    return {"content": content}
