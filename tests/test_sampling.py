import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from codila.sampling import entropy, sample_top_p


@given(seed=st.integers(0, 1000), top_p=st.floats(0.05, 1.0), vocab=st.sampled_from([5, 300, 1000]))
@settings(max_examples=40, deadline=None)
def test_samples_stay_inside_the_nucleus(seed, top_p, vocab):
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(4, vocab, generator=generator) * 3
    tokens = sample_top_p(logits, 1.0, top_p, generator)
    probs = torch.softmax(logits, -1)
    for row, token in enumerate(tokens.tolist()):
        mass_before = probs[row][probs[row] > probs[row, token]].sum()
        assert mass_before < top_p + 1e-6  # the token is among the smallest set holding top_p


def test_zero_temperature_is_argmax_and_entropy_is_exact():
    logits = torch.tensor([[0.0, 2.0, 1.0]])
    assert sample_top_p(logits, 0.0, 0.8, torch.Generator()).tolist() == [1]
    assert torch.allclose(entropy(torch.zeros(1, 4)), torch.log(torch.tensor([4.0])))
    assert float(entropy(torch.tensor([[0.0, -1e9]]))) < 1e-6
    assert torch.allclose(entropy(torch.tensor([[0.0, 0.0, float("-inf")]])), torch.log(torch.tensor([2.0])))  # banned tokens


def test_sampling_follows_the_renormalised_nucleus():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]])).expand(20000, 4)
    tokens = sample_top_p(logits, 1.0, 0.9, torch.Generator().manual_seed(0))  # nucleus {0, 1, 2}: 0.95 of the mass
    frequencies = torch.bincount(tokens, minlength=4).float() / len(tokens)
    assert torch.allclose(frequencies, torch.tensor([0.5, 0.3, 0.15, 0.0]) / 0.95, atol=0.01)
    peaked = torch.zeros(3, 1000)
    peaked[:, 7] = 10.0  # the shortcut path: every nucleus is the most likely token alone
    assert sample_top_p(peaked, 0.1, 0.8, torch.Generator().manual_seed(0)).tolist() == [7, 7, 7]


def test_every_path_draws_one_uniform_per_row():
    """Whether a batch takes the most-likely-token shortcut or the sorted nucleus, the generator advances by one
    number per row, so that a canvas samples the same whatever it is batched with."""
    peaked = torch.zeros(2, 1000)
    peaked[:, 3] = 10.0
    spread = torch.zeros(2, 1000)  # uniform rows: the nucleus holds 800 tokens, past the top-256 head
    for logits in (peaked, spread):
        generator = torch.Generator().manual_seed(5)
        sample_top_p(logits, 0.1, 0.8, generator)
        reference = torch.Generator().manual_seed(5)
        torch.rand(2, 1, generator=reference)
        assert torch.equal(torch.rand(3, generator=generator), torch.rand(3, generator=reference))
    mixed = torch.cat([peaked[:1], spread[:1]])  # one row each: the general path, the peaked row still its top token
    assert sample_top_p(mixed, 0.1, 0.8, torch.Generator().manual_seed(5))[0] == 3


def test_logits_that_differ_in_the_last_bits_draw_the_same_tokens():
    """Tokens are drawn in token-id order within the nucleus, so float noise in the logits (another implementation
    of the forward, another batch) does not reorder near-equal tokens: flat rows, a nucleus of thousands of tokens."""
    generator = torch.Generator().manual_seed(0)
    logits = 0.3 * torch.randn(256, 4096, generator=generator)
    noisy = logits + 1e-6 * torch.randn(256, 4096, generator=generator)  # drawing in order of probability changes 3 tokens
    assert not torch.equal(noisy, logits)
    for temperature, top_p in ((0.7, 0.95), (1.0, 0.9), (1.0, 1.0)):
        tokens = sample_top_p(logits, temperature, top_p, torch.Generator().manual_seed(1))
        changed = int((sample_top_p(noisy, temperature, top_p, torch.Generator().manual_seed(1)) != tokens).sum())
        # at most one row of 256 may sit within float noise of a boundary (of the nucleus's edge at top-p < 1, or of
        # the uniform number's token): seen once at top-p 0.9 on an AVX2-only CPU, never on an AVX-512 one
        assert changed <= 1, (temperature, top_p, changed)
        assert len(set(tokens.tolist())) > 200  # the rows really are flat: their tokens spread over the vocabulary
