import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from codila.diffusion.losses import masked_diffusion_loss
from codila.diffusion.masking import mask_blocks, mask_tokens

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
