import copy

import pytest
import torch

from codila.errors import CodilaError
from codila.models import fast_ar
from codila.models.dlm import DiffusionLM
from codila.models.loading import load_ar, load_dlm
from codila.models.local_ar import RESIDUAL_FLOOR, LocalAR, parse_conditioning, truncate_marginals
from codila.sampling import entropy


def test_dlm_attends_both_ways(dlm):
    ids = torch.randint(0, 300, (1, 16), generator=torch.Generator().manual_seed(0))
    changed = ids.clone()
    changed[0, -1] = (changed[0, -1] + 1) % 300
    assert not torch.allclose(dlm.logits(ids)[0, 0], dlm.logits(changed)[0, 0])


def test_dlm_counts_every_forward_and_bans_special_tokens(dlm):
    calls = []
    handle = dlm.model.register_forward_hook(lambda *args: calls.append(1))
    before = dlm.forwards
    logits = dlm.logits(torch.full((1, 8), dlm.mask_id))
    handle.remove()
    assert dlm.forwards - before == len(calls) == 1
    assert torch.isinf(logits[..., dlm.banned_ids]).all()
    assert torch.isfinite(logits[..., dlm.special.eos_id]).all()


def test_shifted_logits_are_realigned(dlm):
    shifted = DiffusionLM(dlm.model, dlm.tokenizer, shifted_logits=True)
    ids = torch.randint(0, 300, (1, 12), generator=torch.Generator().manual_seed(1))
    plain, moved = dlm.logits(ids), shifted.logits(ids)
    assert torch.equal(moved[:, 1:], plain[:, :-1]) and torch.equal(moved[:, 0], plain[:, 0])
    positions = torch.tensor([0, 3, 4, 11])
    assert torch.allclose(shifted.logits(ids, positions), moved[:, positions], atol=1e-5)
    assert torch.allclose(dlm.logits(ids, positions), plain[:, positions], atol=1e-5)


@pytest.mark.parametrize("shifted", [False, True])
def test_selected_marginals_are_the_full_marginals_at_those_positions(dlm, shifted):
    model = DiffusionLM(dlm.model, dlm.tokenizer, shifted_logits=shifted)
    generator = torch.Generator().manual_seed(3)
    ids = torch.randint(0, 300, (3, 16), generator=generator)
    selected = torch.rand(3, 16, generator=generator) < 0.4
    forwards = model.forwards
    assert torch.allclose(model.selected_marginals(ids, selected), model.marginals(ids)[selected], atol=1e-6)
    assert model.forwards == forwards + 2


def test_soft_embedding_of_one_hot_is_the_hard_embedding(ars):
    ar = ars[4]
    tokens = torch.tensor([[5, 17, 42, 99]])
    one_hot = torch.nn.functional.one_hot(tokens, ar.embedding_matrix.shape[0]).float()
    assert torch.allclose(ar.condition(one_hot), ar.embedding_matrix[tokens], atol=1e-6)


def test_eos_argmax_uses_the_hard_eos_embedding_and_frame_wraps_the_block(ars):
    ar = ars[2]
    vocab = ar.embedding_matrix.shape[0]
    marginals = torch.full((1, 2, vocab), 0.1 / (vocab - 1))
    marginals[0, 0, ar.special.eos_id] = 0.9
    marginals[0, 1, 7] = 0.9
    cond = ar.condition(marginals)
    assert torch.equal(cond[0, 0], ar.embedding_matrix[ar.special.eos_id])
    assert not torch.allclose(cond[0, 1], ar.embedding_matrix[7])
    framed = ar.frame(cond)
    assert framed.shape == (1, 4, ar.embedding_matrix.shape[1])
    assert torch.equal(framed[0, 0], ar.embedding_matrix[ar.special.think_id])
    assert torch.equal(framed[0, -1], ar.embedding_matrix[ar.special.end_think_id])


def test_top_k_conditioning_renormalises():
    marginals = torch.tensor([[0.5, 0.3, 0.2]])
    assert torch.allclose(truncate_marginals(marginals, 2), torch.tensor([[0.625, 0.375, 0.0]]))
    assert parse_conditioning("soft") is None and parse_conditioning("top1") == 1 and parse_conditioning("topk:3") == 3
    for bad in ("top", "topk:0", "topk:x"):
        with pytest.raises(CodilaError):
            parse_conditioning(bad)


@pytest.fixture
def fast_path():
    """Skips the test where the fast path's extension cannot be built (no compiler: a warning said so)."""
    if not fast_ar.load():
        pytest.skip("the fast AR path's extension could not be built here")


def transformers_only(ar: LocalAR, monkeypatch) -> LocalAR:
    """A LocalAR of the same model that decodes with transformers (as where the extension cannot be built)."""
    monkeypatch.setattr(fast_ar, "load", lambda: False)
    plain = LocalAR(ar.model, ar.tokenizer, ar.block_size, residual=ar.residual)
    assert not plain.fast.available
    monkeypatch.undo()
    return plain


@pytest.mark.parametrize("path", ["fast", "transformers"])
def test_cached_decoding_equals_recomputing_the_whole_sequence(ars, path, monkeypatch, request):
    ar = LocalAR(ars[4].model, ars[4].tokenizer, 4)
    if path == "transformers":
        ar = transformers_only(ar, monkeypatch)
    else:
        request.getfixturevalue("fast_path")
        assert ar.fast.available
    marginals = torch.softmax(torch.randn(3, 4, ar.embedding_matrix.shape[0], generator=torch.Generator().manual_seed(2)), -1)
    tokens, entropies = ar.decode(marginals, torch.Generator(), temperature=0.0, top_p=1.0)
    inputs = torch.cat([ar.frame(ar.condition(marginals)), ar.embedding_matrix[tokens[:, :-1]]], dim=1)
    with torch.no_grad():
        logits = ar.model(inputs_embeds=inputs).logits[:, -4:]
    logits[..., ar.special.never_generated()] = float("-inf")
    assert torch.equal(logits.argmax(-1), tokens)
    assert torch.allclose(entropies, entropy(logits), atol=1e-4)
    assert ar.forwards == 4  # the prefill and 3 one-token steps
    sampled, _ = ar.decode(marginals, torch.Generator().manual_seed(4), temperature=1.0, top_p=0.9)
    unscored, nothing = ar.decode(marginals, torch.Generator().manual_seed(4), temperature=1.0, top_p=0.9, with_entropy=False)
    assert torch.equal(unscored, sampled) and nothing.isnan().all()  # skipping the entropies changes no token


def test_forced_tokens_are_kept(ars):
    ar = ars[4]
    marginals = torch.softmax(torch.randn(2, 4, ar.embedding_matrix.shape[0]), -1)
    forced = torch.tensor([[11, -1, 12, -1], [-1, -1, -1, 13]])
    tokens, _ = ar.decode(marginals, torch.Generator().manual_seed(0), 0.1, 0.8, forced=forced)
    assert torch.equal(tokens[forced >= 0], forced[forced >= 0])


def test_loading_checks_kinds_and_tokenizers(tiny_checkpoints, tmp_path, dlm):
    with pytest.raises(CodilaError, match="'ar' checkpoint"):
        load_ar(tiny_checkpoints / "dlm")
    with pytest.raises(CodilaError, match="'dlm' checkpoint"):
        load_dlm(tiny_checkpoints / "ar-b4")
    with pytest.raises(CodilaError, match="does not exist"):
        load_dlm(tmp_path / "nothing")
    other = LocalAR(load_ar(tiny_checkpoints / "ar-b4").model, dlm.tokenizer, 4)
    assert other.block_size == 4


def test_exported_checkpoints_are_half_size_and_load_as_float32(tiny_checkpoints, tmp_path, dlm):
    from codila.models.io import export_checkpoint

    export_checkpoint(tiny_checkpoints / "dlm", tmp_path / "dlm")
    export_checkpoint(tiny_checkpoints / "ar-b4-top1", tmp_path / "ar")
    small = load_dlm(tmp_path / "dlm")
    weights = lambda path: (path / "model.safetensors").stat().st_size
    assert weights(tmp_path / "dlm") < 0.6 * weights(tiny_checkpoints / "dlm")
    assert next(small.model.parameters()).dtype == torch.float32
    ids = torch.randint(0, 300, (1, 16), generator=torch.Generator().manual_seed(0))
    assert torch.allclose(small.logits(ids), dlm.logits(ids), atol=1e-2, rtol=1e-2)  # still bidirectional, same model
    assert load_ar(tmp_path / "ar", small).conditioning == "top1"


def _random_qwen3(kv_heads: int):
    """A randomly initialised 2-layer Qwen3 causal LM (4 query heads of 8 dimensions) in eval mode, its norm
    weights random too (they start at 1, which would hide a wrongly folded norm)."""
    from transformers import Qwen3Config, Qwen3ForCausalLM

    torch.manual_seed(0)
    config = Qwen3Config(
        vocab_size=50,
        hidden_size=32,
        num_hidden_layers=2,
        intermediate_size=48,
        num_attention_heads=4,
        num_key_value_heads=kv_heads,
        head_dim=8,
        max_position_embeddings=16,
    )
    model = Qwen3ForCausalLM(config).eval()
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "norm" in name:
                parameter.uniform_(0.5, 1.5, generator=torch.Generator().manual_seed(len(name)))
    return model


@pytest.mark.parametrize("kv_heads", [2, 4])
def test_the_fast_block_matches_the_model(kv_heads, fast_path):
    model = _random_qwen3(kv_heads)
    fast = fast_ar.FastAR(model)
    assert fast.available
    embedding, bias = model.get_input_embeddings().weight.detach(), torch.zeros(model.config.vocab_size)
    inputs = torch.randn(3, 4, 32, generator=torch.Generator().manual_seed(1))
    decode = lambda rows: fast.decode_block(
        inputs[rows], embedding, bias, None, torch.zeros(len(inputs[rows]), 3), 0.0, 1.0, True
    )

    def check_against_the_model():
        tokens, entropies = decode(slice(None))  # greedy
        with torch.no_grad():
            logits = model(inputs_embeds=torch.cat([inputs, embedding[tokens[:, :-1]]], dim=1)).logits[:, -3:]  # (3, 3, V)
        assert torch.equal(logits.argmax(-1), tokens)
        assert torch.allclose(entropies, entropy(logits), atol=1e-5)
        return tokens, entropies

    before, _ = check_against_the_model()
    with torch.no_grad():
        model.model.layers[1].mlp.down_proj.weight.mul_(3.0)  # what an optimizer step does between two decodings
    assert fast.available  # prepares the weights anew
    tokens, entropies = check_against_the_model()
    alone, alone_entropies = decode(slice(1, 2))  # a row's results do not depend on the rows decoded with it
    assert torch.equal(alone, tokens[1:2]) and torch.equal(alone_entropies, entropies[1:2])


def test_the_fast_path_raises_clear_errors_on_shapes_it_cannot_take(fast_path):
    model = _random_qwen3(kv_heads=2)
    fast = fast_ar.FastAR(model)
    assert fast.available
    embedding, bias, uniforms = model.get_input_embeddings().weight.detach(), torch.zeros(50), torch.zeros(1, 3)
    good = torch.randn(1, 4, 32)
    with pytest.raises(CodilaError, match="positions end at 16"):
        fast.decode_block(torch.randn(1, 15, 32), embedding, bias, None, uniforms, 0.0, 1.0, True)
    with pytest.raises(CodilaError, match="inputs must be"):
        fast.decode_block(torch.randn(1, 4, 31), embedding, bias, None, uniforms, 0.0, 1.0, True)
    with pytest.raises(CodilaError, match="embedding must be"):
        fast.decode_block(good, embedding[:, :16], bias, None, uniforms, 0.0, 1.0, True)
    with pytest.raises(CodilaError, match="uniforms must be"):
        fast.decode_block(good, embedding, bias, None, torch.zeros(2, 3), 0.0, 1.0, True)
    with pytest.raises(CodilaError, match="forced must be"):
        fast.decode_block(good, embedding, bias, torch.full((1, 3), -1, dtype=torch.int32), uniforms, 0.0, 1.0, True)
    with pytest.raises(CodilaError, match="outside the vocabulary"):
        fast.decode_block(good, embedding, bias, torch.tensor([[-1, 50, -1]]), uniforms, 0.0, 1.0, True)
    with pytest.raises(CodilaError, match="top_p"):
        fast.decode_block(good, embedding, bias, None, uniforms, 1.0, 0.0, True)
    with pytest.raises(RuntimeError, match=r"qk_norm must be \(6, 8\)"):  # weights of another shape never reach the kernel
        weights, lm_head, cos, sin = fast_ar.prepared_weights(model)
        torch.classes.codila_ar.Qwen3Block(weights[:1] + [torch.zeros(5, 5)] + weights[2:], lm_head, cos, sin, 4, 2, 1e-6)
    tokens, entropies = fast.decode_block(good[:0], embedding, bias, None, uniforms[:0], 0.0, 1.0, True)  # no block left
    assert tokens.shape == entropies.shape == (0, 3)


@pytest.mark.parametrize(("block", "residual"), [(4, False), (8, False), (4, True)])
def test_the_fast_path_samples_token_for_token_like_transformers(ars, block, residual, fast_path, monkeypatch):
    """Under sampling (temperature > 0, top-p < 1), forced tokens and two canvases' generators in one batch, on many
    seeds and on peaked and flat conditioning: the same tokens, entropies to float noise (also with the residual
    path's per-token bias)."""
    fast = LocalAR(ars[block].model, ars[block].tokenizer, block, residual=residual)
    assert fast.fast.available
    plain = transformers_only(fast, monkeypatch)
    vocab = fast.embedding_matrix.shape[0]
    forced = torch.full((5, block), -1)
    forced[1, 2], forced[4, 0] = 11, 12
    settings = ((0.0, 1.0), (0.1, 0.8), (0.7, 0.95), (1.0, 0.9), (3.0, 1.0))  # argmax, the paper's, nucleus, (nearly) all
    for seed in range(12):
        sharpness = 3.0 if seed % 2 else 0.3  # peaked or flat marginals
        marginals = torch.softmax(sharpness * torch.randn(5, block, vocab, generator=torch.Generator().manual_seed(seed)), -1)
        for temperature, top_p in settings:
            generators = lambda: [(torch.Generator().manual_seed(seed), 3), (torch.Generator().manual_seed(seed + 100), 2)]
            tokens, entropies = fast.decode(marginals, generators(), temperature, top_p, forced)
            expected_tokens, expected_entropies = plain.decode(marginals, generators(), temperature, top_p, forced)
            assert torch.equal(tokens, expected_tokens), (seed, temperature, top_p)
            assert torch.allclose(entropies, expected_entropies, atol=1e-4)
    assert fast.forwards == plain.forwards == 12 * len(settings) * block  # the prefill and block - 1 one-token steps


def test_a_failed_build_falls_back_to_transformers_with_one_warning(ars, monkeypatch, tmp_path):
    fast_ar.load.cache_clear()
    monkeypatch.setattr(fast_ar, "_registered", lambda: False)  # as in a new process
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("CXX", "false")  # a compiler that always fails
    try:
        with pytest.warns(UserWarning, match="building the local AR's fast path failed") as warned:
            assert not fast_ar.load() and not fast_ar.load()
            ar = LocalAR(ars[4].model, ars[4].tokenizer, 4)
            assert not ar.fast.available
            tokens, _ = ar.decode(torch.softmax(torch.randn(2, 4, ar.embedding_matrix.shape[0]), -1), torch.Generator(), 0.1, 0.8)
        assert len(warned) == 1 and tokens.shape == (2, 4)
        monkeypatch.setenv("CODILA_FAST_AR", "0")
        fast_ar.load.cache_clear()
        assert not fast_ar.load()
    finally:
        fast_ar.load.cache_clear()


def test_the_ar_never_emits_mask_padding_or_frame_tokens(ars):
    ar = ars[4]
    vocab = ar.embedding_matrix.shape[0]
    marginals = torch.zeros(64, 4, vocab)
    marginals[..., ar.special.mask_id] = 1.0  # conditioning that points straight at the mask token
    tokens, _ = ar.decode(marginals, torch.Generator().manual_seed(0), temperature=5.0, top_p=1.0)
    assert not bool(torch.isin(tokens, ar.special.never_generated()).any())


def test_a_residual_ar_started_at_the_marginals_reproduces_them(ars):
    """logits = log pi + network: with the network silenced (its final norm's weight at zero, so its logits are 0) the
    loss is the marginals' own cross-entropy and greedy decoding picks each marginal's most likely token (what a B=1
    AR without the path cannot do)."""
    model = copy.deepcopy(ars[4].model)
    with torch.no_grad():
        model.model.norm.weight.zero_()
    ar = LocalAR(model, ars[4].tokenizer, 4, residual=True)
    vocab = ar.embedding_matrix.shape[0]
    marginals = torch.softmax(3 * torch.randn(3, 4, vocab, generator=torch.Generator().manual_seed(5)), -1)
    marginals[..., ar.special.never_generated()] = 0.0
    marginals = marginals / marginals.sum(-1, keepdim=True)
    targets = torch.randint(0, vocab, (3, 4), generator=torch.Generator().manual_seed(6))
    expected = -marginals.gather(-1, targets[..., None]).clamp_min(RESIDUAL_FLOOR).log().mean()
    with torch.no_grad():
        assert torch.allclose(ar.loss(marginals, targets), expected, atol=1e-5)
    tokens, _ = ar.decode(marginals, torch.Generator(), temperature=0.0, top_p=1.0)
    assert torch.equal(tokens, marginals.argmax(-1))


def test_the_residual_path_needs_soft_conditioning(ars):
    with pytest.raises(CodilaError, match="soft conditioning"):
        LocalAR(ars[4].model, ars[4].tokenizer, 4, conditioning="top1", residual=True)
