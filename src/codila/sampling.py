"""Token sampling and uncertainty scores from logits (pure functions, explicit generator)."""

from __future__ import annotations

from codila.lazy import lazy_module

torch = lazy_module("torch")  # loaded on first use: `codila --help` reads the configs without it


def entropy(logits: torch.Tensor) -> torch.Tensor:
    """Shannon entropy (nats) of softmax(logits) over the last dimension; banned tokens (-inf) count zero.

    Vectorised ops only (xlogy over a 4k vocabulary is about 3x slower on a CPU); the clamp turns the banned
    tokens' 0 * -inf into 0."""
    log_probs = torch.log_softmax(logits, dim=-1)
    return -(torch.softmax(logits, dim=-1) * log_probs.clamp_min(torch.finfo(log_probs.dtype).min)).sum(-1)


def _sorted_head(probs: torch.Tensor, top_p: float, heads: tuple[int, ...] = (16, 256)) -> tuple[torch.Tensor, torch.Tensor]:
    """The most likely tokens in descending order: only the first `head` (the smallest of `heads` that works)
    when they already hold `top_p` of the mass in every row (the nucleus is then inside them), else all of
    them. A partial top-k is far cheaper than sorting the whole vocabulary, and peaked AR rows need few."""
    for head in heads:
        if probs.shape[-1] > head:
            values, order = probs.topk(head, dim=-1)
            if bool((values.sum(-1) >= top_p).all()):
                return values, order
    return probs.sort(dim=-1, descending=True)


def sample_top_p(logits: torch.Tensor, temperature: float, top_p: float, generator: torch.Generator) -> torch.Tensor:
    """Nucleus sampling from (..., V) logits; temperature 0 is argmax. Returns (...) token ids.

    The smallest set of most likely tokens holding `top_p` of the mass is kept, and one token is drawn from it
    (renormalised) by inverting its cumulative distribution in token-id order with one uniform number per row. The
    id order (not the order of probability) makes the token a continuous function of the logits: two forwards that
    differ in the last bits (batched or not, another implementation) draw the same token unless the uniform number
    falls within float noise of a boundary, or a token sits within float noise of the nucleus's edge (it enters or
    leaves the nucleus and shifts the cumulative distribution after it). When every row's most likely token holds `top_p` alone, that token is
    the answer (no sort); the generator advances the same either way."""
    if temperature <= 0:
        return logits.argmax(-1)
    probs = torch.softmax(logits / temperature, dim=-1)
    uniform = torch.rand((*probs.shape[:-1], 1), generator=generator).to(probs.device)  # one per row, either path; CPU generator
    top_prob, top_token = probs.max(-1)
    if bool((top_prob >= top_p).all()):  # every nucleus is its most likely token alone (usual at low temperature)
        return top_token
    sorted_probs, order = _sorted_head(probs, top_p)
    kept = sorted_probs.cumsum(-1) - sorted_probs < top_p  # the nucleus, in order of probability; always its first token
    nucleus = torch.zeros_like(probs).scatter(-1, order, sorted_probs * kept)  # its probabilities in id order, 0 elsewhere
    cumulative = nucleus.cumsum(-1)
    total = cumulative[..., -1:]
    # the first token whose cumulative passes u * total (it has a positive probability); rounding may put the target
    # at the total: then the last token of the nucleus
    choice = torch.minimum((cumulative <= uniform * total).sum(-1, keepdim=True), (cumulative < total).sum(-1, keepdim=True))
    return choice.squeeze(-1)


def rank_first(scores: torch.Tensor, count: int, descending: bool) -> torch.Tensor:
    """Indices of the `count` best of the 1D `scores`, exact ties broken by index (the nearest position or block
    first). No rounding: a decoder computes each canvas's scores from logits that do not depend on the batch
    (`codila.decoding.batch`), so the same canvas ranks the same way alone or in any batch."""
    return torch.sort(scores, descending=descending, stable=True).indices[:count]
