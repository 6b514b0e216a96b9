"""Verify mode: the AR judges the DLM's top-1 tokens; a disagreeing position is penalised in the confidence schedule."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from codila.decoding.canvas import Canvas
from codila.decoding.codila import CodilaDecodeConfig, _commit_verify
from codila.decoding.dlm import DlmDecodeConfig
from codila.decoding.registry import decode, get_decoder
from codila.decoding.result import CommitLog

MASK, VOCAB, BLOCK = 0, 7, 4


def _one_step(seed: int, blocks: int, k: int, penalty: float, agree_share: float, selection: str = "confidence"):
    """One verify step on a random canvas: (committed positions, committed tokens, DLM top-1, AR agrees) per position."""
    generator = torch.Generator().manual_seed(seed)
    canvas = Canvas.completion([5, 6], blocks * BLOCK, MASK, 64)
    committed_before = torch.rand(blocks * BLOCK, generator=generator) < 0.3
    canvas.ids[canvas.start :][committed_before] = 3
    marginals = torch.softmax(3 * torch.randn(blocks, BLOCK, VOCAB, generator=generator), -1)
    top1 = marginals.argmax(-1)
    agrees = torch.rand(blocks, BLOCK, generator=generator) < agree_share
    ar_tokens = torch.where(agrees, top1, (top1 + 1) % VOCAB)
    log = CommitLog(canvas, eos_id=VOCAB + 1)
    config = CodilaDecodeConfig(mode="verify", tokens_per_step=k, verify_penalty=penalty, verify_selection=selection)
    positions = canvas.blocks(BLOCK)
    _commit_verify(log, marginals, positions, ar_tokens, None, config, generator)
    chosen = set((log.commit_step == 0).nonzero().flatten().tolist())
    flat = dict(zip(positions.flatten().tolist(), zip(top1.flatten().tolist(), agrees.flatten().tolist())))
    return chosen, log.canvas.ids, flat


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    blocks=st.integers(1, 4),
    k=st.integers(1, 8),
    agree_share=st.floats(0, 1),
    selection=st.sampled_from(["confidence", "entropy", "margin"]),
)
def test_a_huge_penalty_changes_the_schedule_only_where_ar_and_dlm_disagree(seed, blocks, k, agree_share, selection):
    plain, plain_ids, flat = _one_step(seed, blocks, k, 0.0, agree_share, selection)
    judged, judged_ids, _ = _one_step(seed, blocks, k, 1e3, agree_share, selection)
    assert len(plain) == len(judged)
    for position in judged:  # the DLM's own top-1 is committed, whatever the AR said
        assert int(judged_ids[position]) == flat[position][0]
    dropped, added = plain - judged, judged - plain
    assert all(not flat[p][1] for p in dropped)  # only disagreeing positions lose their turn...
    assert all(flat[p][1] for p in added)  # ...to agreeing ones
    if all(agree for _, agree in flat.values()):
        assert plain == judged


def test_verify_without_penalty_is_the_dlm_confidence_schedule(dlm, ars):
    """Penalty 0 leaves DLM confidence decoding of K tokens per step: the same tokens, committed at the same steps."""
    prompt = dlm.tokenizer("def add(a, b):\n", add_special_tokens=False)["input_ids"]
    for k in (1, 3, 8):
        canvas = Canvas.completion(prompt, 16, dlm.mask_id, dlm.max_length)
        plain = decode(get_decoder("dlm"), dlm, None, [canvas], DlmDecodeConfig(tokens_per_step=k, selection="confidence"), 0)[0]
        verify = CodilaDecodeConfig(mode="verify", scope=10, tokens_per_step=k, verify_penalty=0.0)
        judged = decode(get_decoder("codila"), dlm, ars[4], [canvas], verify, 0)[0]
        assert torch.equal(plain.ids, judged.ids) and torch.equal(plain.commit_step, judged.commit_step)
