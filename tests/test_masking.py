import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from codila.diffusion.losses import difficulty_weighted_loss, masked_diffusion_loss
from codila.diffusion.masking import gap_regions, mask_blocks, mask_tokens

MASK = 99


@given(seed=st.integers(0, 10_000), block=st.sampled_from([1, 2, 4, 8]), batch=st.integers(1, 6))
@settings(max_examples=40, deadline=None)
def test_block_masking_masks_whole_blocks_and_at_least_one(seed, block, batch):
    tokens = torch.randint(0, 50, (batch, 32), generator=torch.Generator().manual_seed(seed))
    noisy, blocks = mask_blocks(tokens, MASK, block, torch.Generator().manual_seed(seed))
    masked = noisy == MASK
    assert torch.equal(masked.view(batch, -1, block).all(-1), masked.view(batch, -1, block).any(-1))
    assert torch.equal(masked.view(batch, -1, block).all(-1), blocks)
    assert bool(blocks.any(1).all())
    assert torch.equal(noisy[~masked], tokens[~masked])


def test_token_masking_rate_follows_t():
    tokens = torch.zeros(2000, 64, dtype=torch.long)
    noisy, masked, t = mask_tokens(tokens, MASK, torch.Generator().manual_seed(0))
    assert torch.equal(noisy == MASK, masked)
    rate = masked.float().mean(1)
    assert torch.corrcoef(torch.stack([rate, t]))[0, 1] > 0.95
    assert float(t.min()) >= 1e-3 and float(t.max()) <= 1


def test_diffusion_loss_weights_masked_tokens_by_one_over_t():
    logits = torch.zeros(1, 4, 10)  # uniform: every token costs log(10)
    targets = torch.zeros(1, 4, dtype=torch.long)
    masked = torch.tensor([[True, False, True, False]])
    loss = masked_diffusion_loss(logits[masked], targets, masked, torch.tensor([0.5]))
    assert torch.isclose(loss, torch.log(torch.tensor(10.0)) * 2 / 0.5 / 4)


def test_difficulty_weighting_ignores_solved_tokens_and_favours_sequences_with_few_masks():
    """MGDM's loss: a token the model already gets right (p ~ 1) adds ~nothing; a wrong one counts in full, times
    1 - t of its sequence."""
    targets = torch.zeros(2, 2, dtype=torch.long)
    logits = torch.zeros(2, 2, 10)
    logits[:, 0, 0] = 50.0  # the first token of each sequence is solved, the second costs log(10)
    masked = torch.ones(2, 2, dtype=torch.bool)
    t = torch.tensor([0.25, 0.75])
    loss = difficulty_weighted_loss(logits[masked], targets, masked, t)
    hard = torch.log(torch.tensor(10.0)) * 0.9**2  # (1 - p)^2 with p = 1/10
    assert torch.isclose(loss, hard * (0.75 + 0.25) / 4, rtol=1e-5)
    solved_only = difficulty_weighted_loss(logits[:, :1][masked[:, :1]], targets[:, :1], masked[:, :1], t)
    assert float(solved_only) < 1e-12


def _runs(row: torch.Tensor) -> int:
    """Number of maximal runs of True in a 1D bool tensor."""
    padded = torch.cat([torch.zeros(1, dtype=torch.bool), row])
    return int((padded[1:] & ~padded[:-1]).sum())


@given(seed=st.integers(0, 10_000), unit=st.sampled_from([1, 2, 4, 8]))
@settings(max_examples=40, deadline=None)
def test_gap_regions_are_one_contiguous_run_of_at_most_half_or_everything(seed, unit):
    region = gap_regions(64, 64, unit, 0.5, torch.Generator().manual_seed(seed))  # (64, 64 // unit)
    n_units = 64 // unit
    for row in region:
        if not bool(row.all()):
            assert _runs(row) == 1 and 1 <= int(row.sum()) <= max(1, n_units // 2)
    assert not bool(gap_regions(8, 64, unit, 0.0, torch.Generator().manual_seed(seed)).logical_not().any())
    assert not bool(gap_regions(8, 64, unit, 1.0, torch.Generator().manual_seed(seed)).all(1).any())


def test_gap_token_masking_masks_inside_one_gap_and_keeps_the_plain_process_without_it():
    tokens = torch.zeros(400, 64, dtype=torch.long)
    _, masked, t = mask_tokens(tokens, MASK, torch.Generator().manual_seed(0), gap_fraction=1.0)
    assert all(_runs(row) <= 1 or int(row.nonzero().max() - row.nonzero().min()) < 32 for row in masked)
    assert float(masked.float().mean()) < 0.5 * float(t.mean())  # at most half the window may be masked
    plain = mask_tokens(tokens, MASK, torch.Generator().manual_seed(3))
    zero_gap = mask_tokens(tokens, MASK, torch.Generator().manual_seed(3), gap_fraction=0.0)
    assert all(torch.equal(a, b) for a, b in zip(plain, zero_gap))


@given(seed=st.integers(0, 10_000), block=st.sampled_from([1, 2, 4, 8]))
@settings(max_examples=40, deadline=None)
def test_gap_block_masking_masks_whole_blocks_inside_one_run(seed, block):
    tokens = torch.randint(0, 50, (16, 64), generator=torch.Generator().manual_seed(seed))
    noisy, blocks = mask_blocks(tokens, MASK, block, torch.Generator().manual_seed(seed), gap_fraction=1.0)
    assert bool(blocks.any(1).all())  # still at least one masked block per window
    for row in blocks:
        masked_blocks = row.nonzero().flatten()
        assert int(masked_blocks.max() - masked_blocks.min()) < max(1, (64 // block) // 2)
    assert torch.equal(noisy == MASK, blocks.repeat_interleave(block, dim=1))


@given(seed=st.integers(0, 10_000), block=st.sampled_from([1, 2, 4]), unit=st.sampled_from([4, 8]))
@settings(max_examples=40, deadline=None)
def test_a_mask_unit_masks_whole_runs_read_as_blocks(seed, block, unit):
    """With a unit U, whole aligned runs of U tokens are masked (never a part of one), returned as U / B blocks each;
    the same generator masks the same runs as blocks of U would."""
    tokens = torch.randint(0, 50, (6, 64), generator=torch.Generator().manual_seed(seed))
    noisy, blocks = mask_blocks(tokens, MASK, block, torch.Generator().manual_seed(seed), gap_fraction=0.5, unit=unit)
    masked = noisy == MASK
    assert blocks.shape == (6, 64 // block)
    assert torch.equal(masked, blocks.repeat_interleave(block, dim=1))
    runs = masked.view(6, -1, unit)
    assert torch.equal(runs.all(-1), runs.any(-1))
    same_noisy, _ = mask_blocks(tokens, MASK, unit, torch.Generator().manual_seed(seed), gap_fraction=0.5)
    assert torch.equal(noisy, same_noisy)
