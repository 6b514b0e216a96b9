"""codila's DLM decoder against the authors' samplers, on the tiny checkpoints written in their formats
(tests/real_models.py: config.json fields, key names and shards as the published LLaDA-8B and Dream-v0).

The authors' greedy samplers are written again below from their published code, independently of codila's decoding
loop: LLaDA's `generate()` (ML-GSAI/LLaDA generate.py: get_num_transfer_tokens, low_confidence remasking, float64
confidence, topk over the whole canvas) and Dream's `diffusion_generate` (Dream's generation_utils.py `_sample`:
timesteps linspace(1, eps, steps + 1), `int(masked * (1 - s / t))` per step, maskgit_plus / topk_margin / entropy scores
in the model's dtype). They run full-canvas forwards of the same weights; codila runs its own loop (only the candidate
rows through the output layer, its schedules, `--reference` numerics). Greedy decodes must be equal token for token, in
float32 and in bfloat16. LLaDA's bf16 forward itself is checked against a forward written from LLaDA's block with
float32 RoPE (its `rope_full_precision`)."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from codila.decoding.canvas import Canvas
from codila.decoding.dlm import DlmDecodeConfig, decode_dlm_batch
from codila.decoding.schedules import dream_count, llada_counts
from codila.models.loading import load_dlm

LENGTH = 12
PROMPTS = [[750, 912, 2877, 11, 293], [8, 1000, 42, 1350], [3, 17, 999, 5000, 271, 88]]


@pytest.fixture(scope="module")
def dlms(real_models):
    return {
        (family, dtype): load_dlm(real_models / family, device="cpu", dtype=dtype)
        for family in ("llada", "dream")
        for dtype in ("float32", "bfloat16")
    }


def _full_logits(model, x: torch.Tensor) -> torch.Tensor:
    """The authors' `model(x).logits[0]` (a bidirectional forward over the whole canvas), in the model's dtype."""
    return model(input_ids=x[None], use_cache=False).logits[0]


def llada_generate(model, prompt, steps, gen_length, block_length, mask_id):
    """LLaDA's generate() at temperature 0, low_confidence remasking, no CFG (batch 1)."""
    x = torch.full((len(prompt) + gen_length,), mask_id, dtype=torch.long, device=model.device)
    x[: len(prompt)] = torch.tensor(prompt)
    blocks = gen_length // block_length
    assert gen_length % block_length == 0 and steps % blocks == 0
    per_block = steps // blocks
    for block in range(blocks):
        end = len(prompt) + (block + 1) * block_length
        masked = int((x[end - block_length : end] == mask_id).sum())
        transfer = [masked // per_block + (1 if i < masked % per_block else 0) for i in range(per_block)]
        for i in range(per_block):
            mask_index = x == mask_id
            logits = _full_logits(model, x)
            x0 = logits.argmax(-1)
            p = F.softmax(logits.to(torch.float64), dim=-1)
            x0_p = p.gather(-1, x0[:, None])[:, 0]
            x0_p[end:] = float("-inf")
            confidence = torch.where(mask_index, x0_p, torch.tensor(float("-inf"), dtype=torch.float64, device=x.device))
            chosen = confidence.topk(transfer[i]).indices
            x[chosen] = torch.where(mask_index, x0, x)[chosen]
    return x[len(prompt) :].tolist()


def dream_generate(model, prompt, steps, gen_length, alg, mask_id, eps=1e-3):
    """Dream's diffusion_generate at temperature 0 (alg maskgit_plus, topk_margin or entropy; alg_temp 0; batch 1)."""
    x = torch.full((1, len(prompt) + gen_length), mask_id, dtype=torch.long, device=model.device)
    x[0, : len(prompt)] = torch.tensor(prompt)
    timesteps = torch.linspace(1, eps, steps + 1)
    for i in range(steps):
        mask_index = x == mask_id
        logits = _full_logits(model, x[0])[None]
        logits = torch.cat([logits[:, :1], logits[:, :-1]], dim=1)  # row i-1 predicts token i
        mask_logits = logits[mask_index]
        t, s = timesteps[i], timesteps[i + 1]
        probs = torch.softmax(mask_logits, dim=-1)
        confidence, x0 = probs.max(dim=-1)
        if alg == "topk_margin":  # Dream sorts the whole row; its first two values are topk(2)'s (and far cheaper)
            ranked = torch.topk(probs, 2, dim=-1).values
            confidence = ranked[:, 0] - ranked[:, 1]
        elif alg == "entropy":
            confidence = torch.sum(probs * torch.log(probs + 1e-10), dim=-1)
        masked = mask_index.sum() / mask_index.shape[0]
        number = int(masked * (1 - s / t)) if i < steps - 1 else int(masked)
        full = torch.full_like(x, float("-inf"), dtype=logits.dtype)
        full[mask_index] = confidence
        if number > 0:
            transfer = torch.topk(full, number).indices
            proposal = torch.full_like(x, mask_id)
            proposal[mask_index] = x0
            x[0, transfer[0]] = proposal[0, transfer[0]]
    return x[0, len(prompt) :].tolist()  # (timesteps on the CPU: Dream makes them on the model's device)


def _codila(dlm, prompt, config) -> list[int]:
    canvas = Canvas.completion(prompt, LENGTH, dlm.mask_id, dlm.max_length)
    result = decode_dlm_batch(dlm, None, [canvas], config, [torch.Generator().manual_seed(0)])[0]
    return result.generated.tolist()


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("steps,block_length", [(LENGTH, LENGTH), (LENGTH // 2, LENGTH // 3), (LENGTH // 3, LENGTH // 2)])
def test_llada_greedy_decodes_equal_llada_generate(dlms, dtype, steps, block_length):
    dlm = dlms["llada", dtype]
    window = 0 if block_length == LENGTH else block_length
    config = DlmDecodeConfig(steps=steps, semi_ar_block=window, selection="confidence", reference=True)
    assert config.schedule == "auto"  # LLaDA's schedule is the llada family's default
    for prompt in PROMPTS:
        expected = llada_generate(dlm.model, prompt, steps, LENGTH, block_length, dlm.mask_id)
        assert _codila(dlm, prompt, config) == expected, (prompt, steps, block_length)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("alg,selection", [("entropy", "entropy"), ("maskgit_plus", "confidence"), ("topk_margin", "margin")])
def test_dream_greedy_decodes_equal_diffusion_generate(dlms, dtype, alg, selection):
    dlm = dlms["dream", dtype]
    for steps in (LENGTH, LENGTH // 2):
        config = DlmDecodeConfig(steps=steps, selection=selection, reference=True)  # schedule auto: Dream's
        for prompt in PROMPTS:
            expected = dream_generate(dlm.model, prompt, steps, LENGTH, alg, dlm.mask_id)
            assert _codila(dlm, prompt, config) == expected, (prompt, steps, alg)


def test_a_fixed_k_is_not_dreams_schedule(dlms):
    """Dream's counts at steps = L are 0, 1, ..., 1, 2, not K = 1 every step: the decodes differ (the schedule matters)."""
    dlm = dlms["dream", "float32"]
    differ = 0
    for prompt in PROMPTS:
        expected = dream_generate(dlm.model, prompt, LENGTH // 2, LENGTH, "entropy", dlm.mask_id)
        differ += _codila(dlm, prompt, DlmDecodeConfig(tokens_per_step=2, reference=True)) != expected
    assert differ >= 1


def test_schedules_count_like_the_authors():
    counts, masked = [], LENGTH
    for step in range(LENGTH):
        counts.append(dream_count(step, LENGTH, masked))
        masked -= counts[-1]
    assert counts == [0] + [1] * (LENGTH - 2) + [2]
    assert llada_counts(7, 3) == [3, 2, 2] and llada_counts(2, 4) == [1, 1, 0, 0]


def _llada_reference_logits(directory, ids: torch.Tensor, dtype: torch.dtype, rope_float32: bool) -> torch.Tensor:
    """A forward written from LLaDA's LLaDALlamaBlock in `dtype`: RMS norm in float32 cast back then scaled, RoPE in
    float32 (rope_full_precision) or in `dtype`, sdpa attention without a causal mask, SiLU-gated MLP."""
    config = json.loads((directory / "config.json").read_text())
    weights = {}
    for shard in sorted(directory.glob("model-*.safetensors")):
        weights.update({k: v.to(dtype) for k, v in load_file(str(shard)).items()})
    heads, eps, theta = config["n_heads"], config["rms_norm_eps"], config["rope_theta"]

    def norm(x, w):
        y = x.float()
        return w * (y * torch.rsqrt(y.pow(2).mean(-1, keepdim=True) + eps)).to(dtype)

    def rope(t):
        length, dim = t.shape[-2], t.shape[-1]
        inv = 1.0 / theta ** (torch.arange(0, dim, 2, dtype=torch.float) / dim)
        freqs = torch.outer(torch.arange(length, dtype=torch.float), inv)
        cos, sin = torch.cat([freqs, freqs], -1).cos(), torch.cat([freqs, freqs], -1).sin()
        u = t.float() if rope_float32 else t
        cos, sin = cos.to(u.dtype), sin.to(u.dtype)
        rotated = torch.cat([-u[..., dim // 2 :], u[..., : dim // 2]], -1)
        return (u * cos + rotated * sin).to(dtype)

    x = weights["model.transformer.wte.weight"][ids]
    split = lambda t: t.view(len(ids), heads, -1).transpose(0, 1)
    for layer in range(config["n_layers"]):
        w = lambda name: weights[f"model.transformer.blocks.{layer}.{name}.weight"]
        h = norm(x, w("attn_norm"))
        q, k, v = split(F.linear(h, w("q_proj"))), split(F.linear(h, w("k_proj"))), split(F.linear(h, w("v_proj")))
        attention = F.scaled_dot_product_attention(rope(q)[None], rope(k)[None], v[None])[0]
        x = x + F.linear(attention.transpose(0, 1).reshape(len(ids), -1), w("attn_out"))
        h = norm(x, w("ff_norm"))
        x = x + F.linear(F.silu(F.linear(h, w("ff_proj"))) * F.linear(h, w("up_proj")), w("ff_out"))
    return F.linear(norm(x, weights["model.transformer.ln_f.weight"]), weights["model.transformer.ff_out.weight"]).float()


def test_llada_bfloat16_applies_rope_in_float32(dlms, real_models):
    """rope_full_precision: true (the published config): codila's bf16 logits equal LLaDA's block with float32 RoPE
    within bf16 rounding, and are measurably away from the same block with RoPE in bf16 (what Llama does alone)."""
    ids = torch.tensor([750, 912, 2877, 11, 293, 982, 8, 1000, 42, 1350, 3, 17] * 4)
    got = dlms["llada", "bfloat16"].model(input_ids=ids[None], use_cache=False).logits[0].float()
    full = _llada_reference_logits(real_models / "llada", ids, torch.bfloat16, rope_float32=True)
    half = _llada_reference_logits(real_models / "llada", ids, torch.bfloat16, rope_float32=False)
    # measured here: 0.0 from the float32-RoPE block, 0.45 from the bf16-RoPE one (logits up to 10)
    assert (got - full).abs().max() <= 0.02, (got - full).abs().max()
    assert (got - half).abs().max() > 0.1, (got - half).abs().max()


def test_sampled_reference_decodes_finish_and_repeat_under_a_seed(dlms):
    """At temperature > 0 the draws are codila's generator's (no test can match the authors' RNG), with Dream's tempered,
    top-p-cut scores and LLaDA's untempered confidence of the drawn token; a seed repeats the decode."""
    for family, selection in (("dream", "entropy"), ("dream", "confidence"), ("llada", "confidence")):
        dlm = dlms[family, "bfloat16"]
        config = DlmDecodeConfig(steps=LENGTH // 2, selection=selection, temperature=0.1, top_p=0.95, reference=True)
        first, again = _codila(dlm, PROMPTS[0], config), _codila(dlm, PROMPTS[0], config)
        assert first == again and dlm.mask_id not in first and len(first) == LENGTH


def test_every_published_config_field_is_mapped(real_models):
    """docs/real-models.md's tables: every field of the published configs (the tiny layouts and the shipped 7B/8B
    configs carry them all) says what codila does with it; a value codila cannot honour is refused."""
    from codila.errors import CodilaError
    from codila.models.families import dream, llada
    from codila.paper_shapes import shipped_config

    for family, fields, shipped in (
        (llada, llada.CONFIG_FIELDS, "llada-8b.json"),
        (dream, dream.CONFIG_FIELDS, "dream-coder-7b.json"),
    ):
        name = family.FAMILY.name
        published = set(json.loads((real_models / name / "config.json").read_text())) | set(shipped_config(shipped))
        assert published <= set(fields), sorted(published - set(fields))
    with pytest.raises(CodilaError, match="alibi"):
        llada.check_config({**shipped_config("llada-8b.json"), "alibi": True})


def test_eval_ends_a_completion_at_its_first_eos_when_decoding_went_on_after_it(dlms):
    from types import SimpleNamespace

    from codila.eval.task_run import generated_text

    dlm = dlms["dream", "float32"]
    eos, a, b = dlm.special.eos_id, 750, 912  # "def", " add"
    completion = SimpleNamespace(infilling=False, stop=[])
    assert generated_text(completion, [a, eos, b, eos], dlm) == "def"  # --no-eos-fill / --reference: tokens after EOS
    assert generated_text(completion, [a, eos, eos], dlm) == "def"  # EOS fill: the same text
    assert generated_text(SimpleNamespace(infilling=True, stop=[]), [a, eos, b], dlm) == "def add"  # infills: as before
