import shutil

import pytest
import torch

from codila.errors import CodilaError
from codila.models import qwen3_kernel
from codila.models.dlm import DiffusionLM
from codila.models.loading import load_ar, load_dlm
from codila.models.local_ar import LocalAR, parse_conditioning, truncate_marginals
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


@pytest.mark.parametrize("path", ["qwen3_step", "transformers"])
def test_cached_decoding_equals_recomputing_the_whole_sequence(ars, path):
    ar = LocalAR(ars[4].model, ars[4].tokenizer, 4)
    assert ar.fast_step is not None
    if path == "transformers":
        ar.fast_step = None
    marginals = torch.softmax(torch.randn(3, 4, ar.embedding_matrix.shape[0], generator=torch.Generator().manual_seed(2)), -1)
    tokens, entropies = ar.decode(marginals, torch.Generator(), temperature=0.0)
    inputs = torch.cat([ar.frame(ar.condition(marginals)), ar.embedding_matrix[tokens[:, :-1]]], dim=1)
    with torch.no_grad():
        logits = ar.model(inputs_embeds=inputs).logits[:, -4:]
    logits[..., ar.special.never_generated()] = float("-inf")
    assert torch.equal(logits.argmax(-1), tokens)
    assert torch.allclose(entropies, entropy(logits), atol=1e-4)
    sampled, _ = ar.decode(marginals, torch.Generator().manual_seed(4), temperature=1.0, top_p=0.9)
    unscored, nothing = ar.decode(marginals, torch.Generator().manual_seed(4), temperature=1.0, top_p=0.9, with_entropy=False)
    assert torch.equal(unscored, sampled) and nothing.isnan().all()  # skipping the entropies changes no token


def test_forced_tokens_are_kept(ars):
    ar = ars[4]
    marginals = torch.softmax(torch.randn(2, 4, ar.embedding_matrix.shape[0]), -1)
    forced = torch.tensor([[11, -1, 12, -1], [-1, -1, -1, 13]])
    tokens, _ = ar.decode(marginals, torch.Generator().manual_seed(0), forced=forced)
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
    config = Qwen3Config(vocab_size=50, hidden_size=32, num_hidden_layers=2, intermediate_size=48, num_attention_heads=4,
                         num_key_value_heads=kv_heads, head_dim=8, max_position_embeddings=16)
    model = Qwen3ForCausalLM(config).eval()
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "norm" in name:
                parameter.uniform_(0.5, 1.5, generator=torch.Generator().manual_seed(len(name)))
    return model


needs_compiler = pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None, reason="no C compiler")


@pytest.fixture
def fresh_kernel():
    """`qwen3_kernel.load` forgets its library before and after the test (whose environment may break the build)."""
    qwen3_kernel.load.cache_clear()
    yield
    qwen3_kernel.load.cache_clear()


def test_qwen3_step_matches_the_model_with_grouped_query_attention():
    from codila.models.qwen3_step import Qwen3Step

    model = _random_qwen3(kv_heads=2)
    inputs = torch.randn(3, 6, 32)
    step, cache = Qwen3Step(model), []
    with torch.no_grad():
        reference = model(inputs_embeds=inputs).logits  # (3, 6, V)
        assert torch.allclose(step(inputs[:, :4], cache), reference[:, 3], atol=1e-5)
        assert torch.allclose(step(inputs[:, 4:5], cache), reference[:, 4], atol=1e-5)
        assert torch.allclose(step(inputs[:, 5:6], cache), reference[:, 5], atol=1e-5)


@needs_compiler
def test_the_compiled_block_matches_the_model_with_grouped_query_attention():
    from codila.models.qwen3_step import Qwen3Step

    model = _random_qwen3(kv_heads=2)
    step = Qwen3Step(model)
    assert step.compiled
    embedding, bias = model.get_input_embeddings().weight.detach(), torch.zeros(model.config.vocab_size)
    inputs = torch.randn(3, 4, 32, generator=torch.Generator().manual_seed(1))
    decode = lambda rows: step.decode_block(inputs[rows], 3, embedding, bias, None, torch.zeros(len(inputs[rows]), 3), 0.0, 1.0, True)

    def check_against_the_model():
        tokens, entropies = decode(slice(None))  # greedy
        with torch.no_grad():
            logits = model(inputs_embeds=torch.cat([inputs, embedding[tokens[:, :-1]]], dim=1)).logits[:, -3:]  # (3, 3, V)
        assert torch.equal(logits.argmax(-1), tokens)
        assert torch.allclose(entropies, entropy(logits), atol=1e-5)
        return tokens, entropies

    check_against_the_model()
    with torch.no_grad():
        model.model.layers[1].mlp.down_proj.weight.mul_(3.0)  # what an optimizer step does between two decodings
    assert step.compiled  # rebuilds the packed weights
    tokens, entropies = check_against_the_model()
    alone, alone_entropies = decode(slice(1, 2))  # a row's results do not depend on the rows decoded with it
    assert torch.equal(alone, tokens[1:2]) and torch.equal(alone_entropies, entropies[1:2])
    with pytest.raises(CodilaError, match="positions end at 16"):
        step.decode_block(torch.randn(1, 15, 32), 3, embedding, bias, None, torch.zeros(1, 3), 0.0, 1.0, True)


@needs_compiler
def test_the_compiled_block_decodes_like_the_tensor_ops(ars, monkeypatch):
    ar = ars[4]
    marginals = torch.softmax(3 * torch.randn(5, 4, ar.embedding_matrix.shape[0], generator=torch.Generator().manual_seed(3)), -1)
    forced = torch.full((5, 4), -1)
    forced[1, 2], forced[4, 0] = 11, 12
    compiled = LocalAR(ar.model, ar.tokenizer, 4)
    assert compiled.fast_step.compiled
    monkeypatch.setattr(qwen3_kernel, "load", lambda: None)
    stepwise = LocalAR(ar.model, ar.tokenizer, 4)
    assert not stepwise.fast_step.compiled
    for temperature, top_p in ((0.0, 1.0), (0.1, 0.8), (1.0, 0.9), (3.0, 1.0)):  # argmax, the paper's, nucleus, (nearly) all
        # two canvases' rows sampling with their own generators (3 and 2 rows), as CoDiLA batches them
        generators = lambda: [(torch.Generator().manual_seed(5), 3), (torch.Generator().manual_seed(6), 2)]
        tokens, entropies = compiled.decode(marginals, generators(), temperature, top_p, forced)
        expected_tokens, expected_entropies = stepwise.decode(marginals, generators(), temperature, top_p, forced)
        assert torch.equal(tokens, expected_tokens)
        assert torch.allclose(entropies, expected_entropies, atol=1e-4)
    assert compiled.forwards == stepwise.forwards == 4 * 4  # the prefill and 3 one-token steps per block
    tokens, entropies = compiled.decode(marginals[:0], torch.Generator())  # no block left to decode
    assert tokens.shape == entropies.shape == (0, 4)


@needs_compiler
def test_the_kernel_is_built_once_and_a_failed_build_falls_back_with_a_warning(monkeypatch, tmp_path, fresh_kernel):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("CC", "false")  # a compiler that always fails
    with pytest.warns(UserWarning, match="building the local AR's kernel failed"):
        assert qwen3_kernel.load() is None
    assert not list(tmp_path.rglob("*.so"))  # nothing half-built left behind
    monkeypatch.delenv("CC")
    qwen3_kernel.load.cache_clear()
    assert qwen3_kernel.load() is not None
    built = list(tmp_path.rglob("*.so"))
    assert len(built) == 1
    qwen3_kernel.load.cache_clear()
    stamp = built[0].stat().st_mtime_ns
    assert qwen3_kernel.load() is not None and built[0].stat().st_mtime_ns == stamp  # loaded, not rebuilt
    monkeypatch.setenv("CODILA_KERNEL", "0")
    qwen3_kernel.load.cache_clear()
    assert qwen3_kernel.load() is None


def test_qwen3_step_follows_weights_changed_in_place():
    from codila.models.qwen3_step import Qwen3Step

    model = _random_qwen3(kv_heads=4)
    inputs = torch.randn(2, 3, 32)
    step = Qwen3Step(model)
    with torch.no_grad():
        before = step(inputs, [])
        model.model.layers[0].mlp.up_proj.weight.mul_(2.0)  # what an optimizer step does between two decodings
        after = step(inputs, [])
        assert not torch.allclose(before, after)
        assert torch.allclose(after, model(inputs_embeds=inputs).logits[:, -1], atol=1e-5)

def test_the_ar_never_emits_mask_padding_or_frame_tokens(ars):
    ar = ars[4]
    vocab = ar.embedding_matrix.shape[0]
    marginals = torch.zeros(64, 4, vocab)
    marginals[..., ar.special.mask_id] = 1.0  # conditioning that points straight at the mask token
    tokens, _ = ar.decode(marginals, torch.Generator().manual_seed(0), temperature=5.0, top_p=1.0)
    assert not bool(torch.isin(tokens, ar.special.never_generated()).any())
