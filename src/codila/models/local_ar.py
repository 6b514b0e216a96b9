"""LocalAR: a small causal LM that decodes one block of B tokens from the DLM's marginals.

Its input is exactly [E(<think>), e_1, ..., e_B, E(</think>)] with e_j = sum_v pi_j[v] E[v] over the AR's own
input embeddings E (the soft conditioning of the paper, arXiv 2603.20216); then it decodes the block's B tokens causally.

`residual` (codila's option, not the paper's): the logits of the block's j-th token also get log pi_j added, so the
marginal is the AR's starting point and the network learns a correction (a B=1 AR that outputs zeros reproduces the
marginal exactly; the soft input alone, H numbers for a V-token distribution, cannot pass it through).
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F
from transformers import DynamicCache, PreTrainedModel, PreTrainedTokenizerFast

from codila.errors import CodilaError
from codila.models.alignment import VocabAlignment
from codila.models.fast_ar import FastAR
from codila.sampling import entropy, sample_top_p
from codila.tokenizer import SpecialIds

CONDITIONINGS = ("soft", "top1", "topk:K")
# the smallest marginal probability the residual path takes a log of: log(0) would ban a token outright
RESIDUAL_FLOOR = 1e-12


def parse_conditioning(conditioning: str) -> int | None:
    """None for soft conditioning, else the k of top-k (top1 = topk:1). Raises on an unknown name."""
    if conditioning == "soft":
        return None
    if conditioning == "top1":
        return 1
    if conditioning.startswith("topk:") and conditioning[5:].isdigit() and int(conditioning[5:]) >= 1:
        return int(conditioning[5:])
    raise CodilaError(f"unknown conditioning {conditioning!r}; use soft, top1 or topk:K (K >= 1)")


def truncate_marginals(marginals: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the k most likely tokens of each marginal (..., V), renormalised (the paper's top-k ablation)."""
    values, indices = marginals.topk(k, dim=-1)
    return torch.zeros_like(marginals).scatter(-1, indices, values / values.sum(-1, keepdim=True))


def _generator_groups(generator, rows: int) -> list[tuple[torch.Generator, int]]:
    """`decode`'s generator argument as (generator, rows) groups in row order (one generator: one group)."""
    return [(generator, rows)] if isinstance(generator, torch.Generator) else generator


def _sample(logits: torch.Tensor, temperature: float, top_p: float, generator) -> torch.Tensor:
    groups = _generator_groups(generator, len(logits))
    if len(groups) == 1:
        return sample_top_p(logits, temperature, top_p, groups[0][0])
    parts = logits.split([rows for _, rows in groups])
    return torch.cat([sample_top_p(part, temperature, top_p, g) for part, (g, _) in zip(parts, groups)])


def _uniforms(rows: int, block: int, temperature: float, generator) -> torch.Tensor:
    """The uniform numbers (rows, block) `_sample` would draw over a block, drawn up front in the same order (one per
    row and token; none at temperature 0): a generator's numbers come out the same in one call as in several."""
    if temperature <= 0:
        return torch.zeros(rows, block)
    return torch.cat([torch.rand((block, count), generator=g) for g, count in _generator_groups(generator, rows)], dim=1).T


class LocalAR:
    """Wraps a transformers causal LM; `block_size` and `conditioning` are the ones it was trained with.

    `special`: the DLM's mask / EOS / padding ids with this AR's frame tokens (default: codila's own token strings).
    `alignment`: how the DLM's marginals map onto this AR's rows when their vocabularies differ (None: identical)."""

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerFast,
        block_size: int,
        conditioning: str = "soft",
        framed: bool = True,
        special: SpecialIds | None = None,
        alignment: VocabAlignment | None = None,
        residual: bool = False,
    ):
        if block_size < 1:
            raise CodilaError(f"block size must be >= 1, got {block_size}")
        parse_conditioning(conditioning)  # a malformed value is named as such, before what it is used for
        if residual and conditioning != "soft":
            raise CodilaError(f"the residual marginal path needs soft conditioning, not {conditioning!r}")
        self.model = model
        self.tokenizer = tokenizer
        self.special = special or SpecialIds.from_tokenizer(tokenizer)
        self.alignment = alignment
        self.block_size = block_size
        self.top_k = parse_conditioning(conditioning)
        self.conditioning = conditioning
        self.framed = framed  # False: no <think>/</think> around the conditioning (the frame ablation)
        self.residual = residual  # True: log pi_j is added to the j-th token's logits (module docstring)
        self.directory = None  # the checkpoint directory (load_ar sets it): --choice learned's scorer is beside it
        self.forwards = 0  # AR forward calls (a batch of blocks decoding one token counts once)
        self.seconds = 0.0  # wall time spent in `decode` (the AR's share of a decoding step)
        device = self.embedding_matrix.device
        self.fast = FastAR(model)  # one call per block where its extension serves the model (`fast.available`)
        # added to the logits: -inf where a block may never hold the token (mask, padding, frame tokens); one add
        # per token instead of an indexed write
        dropped = alignment.dropped().tolist() if alignment is not None else []  # ids the DLM cannot mean
        banned = self.special.never_generated(dropped)
        self.banned_bias = torch.zeros(model.config.vocab_size, device=device).index_fill_(0, banned.to(device), float("-inf"))

    @property
    def embedding_matrix(self) -> torch.Tensor:
        return self.model.get_input_embeddings().weight  # (V, H)

    def condition(self, marginals: torch.Tensor, forced: torch.Tensor | None = None) -> torch.Tensor:
        """Conditioning embeddings (N, B, H) from DLM marginals (N, B, V).

        Soft: the expected embedding. Where EOS is the DLM's most likely token (ties included), or a token is
        already committed (`forced` >= 0, (N, B)), the hard embedding of that token replaces the mixture.
        """
        return self._condition(self._to_ar(marginals), forced)

    def _to_ar(self, marginals: torch.Tensor) -> torch.Tensor:
        """The DLM's marginals (N, B, V) over this AR's vocabulary rows (N, B, V_ar)."""
        return marginals if self.alignment is None else self.alignment.to_ar(marginals)

    def _condition(self, marginals: torch.Tensor, forced: torch.Tensor | None = None) -> torch.Tensor:
        """`condition` of marginals already over this AR's vocabulary."""
        weights = marginals if self.top_k is None else truncate_marginals(marginals, self.top_k)
        soft = weights.to(self.embedding_matrix.dtype) @ self.embedding_matrix  # (N, B, H)
        eos = self.special.eos_id
        use_hard = marginals[..., eos] >= marginals.amax(-1)  # (N, B); amax: argmax is ~20x slower on a CPU
        hard_ids = torch.full_like(use_hard, eos, dtype=torch.long)
        if forced is not None:
            use_hard = use_hard | (forced >= 0)
            hard_ids = torch.where(forced >= 0, forced, hard_ids)
        return torch.where(use_hard[..., None], self.embedding_matrix[hard_ids], soft)

    def _prepared(self, marginals: torch.Tensor, forced: torch.Tensor | None = None):
        """The framed inputs (N, B + 2, H) and the residual path's log pi (N, B, V_ar; None without it) of DLM
        marginals (N, B, V), aligned to this AR's vocabulary once."""
        marginals = self._to_ar(marginals)
        residual = marginals.float().clamp_min(RESIDUAL_FLOOR).log() if self.residual else None
        return self.frame(self._condition(marginals, forced)), residual

    def frame(self, conditioning: torch.Tensor) -> torch.Tensor:
        """[E(<think>), e_1..e_B, E(</think>)]: (N, B, H) -> (N, B + 2, H); unchanged when not framed."""
        if not self.framed:
            return conditioning
        n = conditioning.shape[0]
        think = self.embedding_matrix[self.special.think_id].expand(n, 1, -1)
        end_think = self.embedding_matrix[self.special.end_think_id].expand(n, 1, -1)
        return torch.cat([think, conditioning, end_think], dim=1)

    def loss(self, marginals: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Teacher-forced cross-entropy of the true block `targets` (N, B) given marginals (N, B, V)."""
        return self.token_losses(marginals, targets).mean()

    def token_losses(self, marginals: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Teacher-forced cross-entropy (N, B) of each token of the true blocks `targets` (N, B)."""
        prefix, residual = self._prepared(marginals)  # (N, B + 2, H), log pi (N, B, V) or None
        inputs = torch.cat([prefix, self.embedding_matrix[targets[:, :-1]]], dim=1)  # (N, 2B + 1, H)
        logits = self.model(inputs_embeds=inputs).logits[:, -targets.shape[1] :]  # (N, B, V)
        if residual is not None:
            logits = logits.float() + residual
        return F.cross_entropy(logits.transpose(1, 2), targets, reduction="none")

    def _last_logits(self, inputs: torch.Tensor, cache: DynamicCache) -> torch.Tensor:
        """Logits (N, V) of the last of `inputs` (N, T, H), at the positions after the cache's, extending `cache`.

        The model's own transformers layers, skipping the wrapper's per-call mask building (no mask is needed: a
        prefill is causal and a one-token step attends to the whole cache). Tests check it against `model(...)`."""
        self.forwards += 1
        offset = cache.get_seq_length()
        core = self.model.model
        positions = torch.arange(offset, offset + inputs.shape[1], device=inputs.device)[None]  # (1, T)
        rotary = core.rotary_emb(inputs, positions)
        hidden = inputs
        for layer in core.layers:
            hidden = layer(
                hidden,
                attention_mask=None,
                position_ids=positions,
                past_key_values=cache,
                use_cache=True,
                position_embeddings=rotary,
            )
        return self.model.lm_head(core.norm(hidden[:, -1]))

    @torch.no_grad()
    def decode(
        self,
        marginals: torch.Tensor,
        generator: torch.Generator | list[tuple[torch.Generator, int]],
        temperature: float,
        top_p: float,
        forced: torch.Tensor | None = None,
        with_entropy: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Decode N blocks as one batch with the KV cache: B forward calls in all.

        marginals (N, B, V); forced (N, B) token ids (-1 = free) are fed and kept instead of sampled.
        `generator`: one for all rows, or (generator, rows) groups in row order, so that blocks of several
        canvases decoded as one batch sample exactly as they would alone.
        Returns tokens (N, B) and the entropy (N, B) of the AR's untempered next-token distribution (NaN when
        `with_entropy` is False: a caller with nothing to choose skips its cost).
        """
        started = time.perf_counter()
        n, block = marginals.shape[:2]
        if block != self.block_size:
            raise CodilaError(f"this AR was trained for blocks of {self.block_size} tokens, got {block}")
        inputs, residual = self._prepared(marginals, forced)  # (N, B + 2, H), log pi (N, B, V) or None
        bias = self.banned_bias if residual is None else residual + self.banned_bias  # (V) or (N, B, V)
        if self.fast.available:
            uniforms = _uniforms(n, block, temperature, generator)
            tokens, entropies = self.fast.decode_block(
                inputs, self.embedding_matrix, bias, forced, uniforms, temperature, top_p, with_entropy
            )
            self.forwards += block  # the prefill and block - 1 one-token steps
        else:
            tokens, entropies = self._decode_stepwise(inputs, block, generator, temperature, top_p, forced, with_entropy, bias)
        self.seconds += time.perf_counter() - started
        return tokens, entropies

    def _decode_stepwise(
        self,
        inputs: torch.Tensor,
        block: int,
        generator,
        temperature: float,
        top_p: float,
        forced: torch.Tensor | None,
        with_entropy: bool,
        bias: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """`decode`'s loop with transformers, one forward call per token (models the fast path does not serve).
        `bias`: added to the logits, (V) or per block position (N, B, V)."""
        n = inputs.shape[0]
        cache = DynamicCache(config=self.model.config)
        tokens = torch.empty(n, block, dtype=torch.long, device=inputs.device)
        entropies = (
            torch.empty(n, block, device=inputs.device)
            if with_entropy
            else torch.full((n, block), float("nan"), device=inputs.device)
        )
        forced_columns = [False] * block if forced is None else (forced >= 0).any(0).tolist()
        for j in range(block):
            logits = self._last_logits(inputs, cache).float() + (bias if bias.dim() == 1 else bias[:, j])  # (N, V)
            if with_entropy:
                entropies[:, j] = entropy(logits)
            token = _sample(logits, temperature, top_p, generator)
            if forced_columns[j]:
                token = torch.where(forced[:, j] >= 0, forced[:, j], token)
            tokens[:, j] = token
            inputs = self.embedding_matrix[token][:, None]  # (N, 1, H)
        return tokens, entropies
