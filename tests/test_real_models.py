"""Published model layouts (tests/real_models.py: Dream, DreamOn, LLaDA, Qwen3 on the real Qwen vocabulary, tiny and
random) through the families, the vocabulary alignment and the CLI, as a user with those models on disk runs them."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file

from codila.errors import CodilaError
from codila.models.loading import load_ar, load_dlm
from test_cli import codila

REAL_QWEN_IDS = {"def": 750, " add": 912}  # Qwen2.5 / Qwen3 ids (the shared BPE)


@pytest.fixture(scope="module")
def dream(real_models):
    return load_dlm(real_models / "dream", device="cpu")


@pytest.fixture(scope="module")
def llada(real_models):
    return load_dlm(real_models / "llada", device="cpu")


def test_families_are_read_from_config_with_their_real_ids(dream, llada, real_models):
    assert (dream.family, dream.shifted_logits, dream.mask_id, dream.special.eos_id, dream.vocab_rows) == (
        "dream",
        True,
        151666,
        151643,
        152064,
    )
    assert (llada.family, llada.shifted_logits, llada.mask_id) == ("llada", False, 151665)
    dreamon = load_dlm(real_models / "dreamon", device="cpu")
    assert dreamon.expand_id == 151667 and dream.expand_id is None
    assert {t: dream.tokenizer.convert_tokens_to_ids(dream.tokenizer.tokenize(t))[0] for t in REAL_QWEN_IDS} == REAL_QWEN_IDS
    # the padding rows no token owns and the expand token are never committed by fixed-length decoding
    assert {151667, 152063} <= set(dreamon.banned_ids.tolist()) and 151643 not in dreamon.banned_ids.tolist()


@pytest.mark.parametrize("name", ["dream", "llada"])
def test_attention_is_bidirectional(name, dream, llada):
    dlm = {"dream": dream, "llada": llada}[name]
    ids = torch.tensor([[750, 912, 2877, 11, 293]])
    changed = ids.clone()
    changed[0, -1] = 35093
    first = lambda x: dlm.model(input_ids=x).logits[0, 0]
    assert not torch.allclose(first(ids), first(changed))  # position 0 sees the last token


def test_dream_logits_are_shifted_right_by_one(dream):
    ids = torch.tensor([[750, 912, 2877, 11, 293]])
    raw = dream.model(input_ids=ids).logits[0].float()
    aligned = dream.logits(ids)[0]
    keep = torch.isfinite(aligned[2])
    assert torch.allclose(aligned[2][keep], raw[1][keep], atol=1e-5) and torch.allclose(aligned[0][keep], raw[0][keep], atol=1e-5)


def _rope(x: torch.Tensor, theta: float) -> torch.Tensor:
    """Rotary embedding as LLaDA's RotaryEmbedding applies it (the two halves of each head rotated)."""
    length, dim = x.shape[-2], x.shape[-1]
    inv = 1.0 / theta ** (torch.arange(0, dim, 2).float() / dim)
    freqs = torch.outer(torch.arange(length).float(), inv)
    cos, sin = torch.cat([freqs, freqs], -1).cos(), torch.cat([freqs, freqs], -1).sin()
    x1, x2 = x[..., : dim // 2], x[..., dim // 2 :]
    return x * cos + torch.cat([-x2, x1], -1) * sin


def test_llada_keys_map_to_its_published_block(real_models, llada):
    """A forward written from LLaDA's LLaDALlamaBlock over the raw OLMo-keyed tensors equals the mapped Llama model."""
    config = json.loads((real_models / "llada" / "config.json").read_text())
    weights = {}
    for shard in sorted((real_models / "llada").glob("model-*.safetensors")):
        weights.update({k: v.float() for k, v in load_file(str(shard)).items()})
    heads, eps = config["n_heads"], config["rms_norm_eps"]
    norm = lambda x, w: x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w
    ids = torch.tensor([750, 912, 2877, 11, 293, 982])
    x = weights["model.transformer.wte.weight"][ids]
    for layer in range(config["n_layers"]):
        w = lambda name: weights[f"model.transformer.blocks.{layer}.{name}.weight"]
        h = norm(x, w("attn_norm"))
        split = lambda t: t.view(len(ids), heads, -1).transpose(0, 1)
        q, k, v = split(h @ w("q_proj").T), split(h @ w("k_proj").T), split(h @ w("v_proj").T)
        q, k = _rope(q, config["rope_theta"]), _rope(k, config["rope_theta"])
        attention = torch.softmax(q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5, -1) @ v  # no causal mask
        x = x + attention.transpose(0, 1).reshape(len(ids), -1) @ w("attn_out").T
        h = norm(x, w("ff_norm"))
        x = x + (torch.nn.functional.silu(h @ w("ff_proj").T) * (h @ w("up_proj").T)) @ w("ff_out").T
    expected = norm(x, weights["model.transformer.ln_f.weight"]) @ weights["model.transformer.ff_out.weight"].T
    got = llada.model(input_ids=ids[None]).logits[0].float()
    assert torch.allclose(got, expected, atol=2e-3, rtol=1e-3)


def test_alignment_keeps_the_shared_qwen_range_and_drops_the_collisions(real_models, dream):
    ar = load_ar(real_models / "qwen3", dream, block_size=4)
    keep = ar.alignment.keep
    assert (
        len(keep) == 151936 and bool(keep[:151665].all()) and not bool(keep[151665:].any())
    )  # 151665..: BOS/mask/expand vs tool/think
    assert (ar.special.think_id, ar.special.end_think_id) == (151667, 151668)
    marginals = torch.zeros(1, 1, 152064)
    marginals[..., 151666] = 0.5  # Dream's mask = Qwen3's </tool_response>
    marginals[..., 151000] = 0.25
    marginals[..., 152000] = 0.25  # a padding row beyond the AR's embeddings
    mapped = ar.alignment.to_ar(marginals)
    assert mapped.shape == (1, 1, 151936) and mapped[0, 0, 151000] == 1.0 and mapped.sum() == 1.0
    assert ar.banned_bias[151667] == float("-inf") and ar.banned_bias[151643] == 0  # <think> never decoded, EOS may be


def test_disagreeing_vocabularies_are_refused(real_models, dream, tmp_path):
    other = tmp_path / "other-ar"
    shutil.copytree(real_models / "qwen3", other)
    tokenizer = json.loads((other / "tokenizer.json").read_text())
    vocab = tokenizer["model"]["vocab"]
    a, b = next(t for t, i in vocab.items() if i == 750), next(t for t, i in vocab.items() if i == 912)
    vocab[a], vocab[b] = 912, 750  # two regular tokens swapped: same size, different vocabulary
    (other / "tokenizer.json").write_text(json.dumps(tokenizer))
    with pytest.raises(CodilaError, match="disagree on 2 ids"):
        load_ar(other, dream, block_size=4)


def test_bfloat16_is_refused_where_the_device_cannot_run_it(monkeypatch):
    from codila.models import devices

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    with pytest.raises(CodilaError, match="cannot run bfloat16"):
        devices.resolve_dtype("bfloat16", torch.device("cuda"))
    assert devices.resolve_dtype("bfloat16", torch.device("cpu")) == torch.bfloat16


@pytest.mark.parametrize("dlm", ["dream", "llada", "dreamon"])
def test_cli_generates_infills_evaluates_and_trains_on_each_family_with_a_qwen3_ar(dlm, real_models, tmp_path):
    """Every command on each published layout with the Qwen3-like AR (its block size given, its vocabulary aligned)."""
    rm, pair = real_models, ["--dlm", real_models / dlm, "--ar", real_models / "qwen3", "--block-size", 4, "--device", "cpu"]
    out = codila(
        "generate", "def add(a, b):", *pair, "--length", 8, "--chat", *(["--dlm-family", "dream"] if dlm == "dream" else [])
    )
    assert out.returncode == 0, out.stderr
    assert "in 2 steps: " in out.stderr and "2 DLM forwards, 8 AR steps" in out.stderr  # static: one block of 4 per step
    out = codila(
        "infill",
        "--prefix",
        "def f(x):\n",
        "--suffix",
        "\n    return y\n",
        "--length",
        8,
        *pair,
        "--mode",
        "dynamic",
        "--dtype",
        "bfloat16",
    )
    assert out.returncode == 0, out.stderr
    assert "-- 8 tokens in" in out.stderr
    out = codila("eval", "mbpp", "--limit", 1, *pair, "--completion-length", 8, "--out", tmp_path / "eval")
    assert out.returncode == 0, out.stderr
    row = json.loads((tmp_path / "eval" / "rows.jsonl").read_text())
    assert (row["block_size"], row["ar"]) == (4, str(rm / "qwen3"))
    out = codila(
        "train",
        "ar",
        "--dlm",
        rm / dlm,
        "--ar-init",
        rm / "qwen3",
        "--data",
        _examples(tmp_path / "data.jsonl"),
        "--block-size",
        4,
        "--out",
        tmp_path / "run",
        "--batch-size",
        2,
        "--window",
        32,
        "--steps",
        1,
        "--device",
        "cpu",
    )
    assert out.returncode == 0, out.stderr
    assert json.loads((tmp_path / "run" / "checkpoint" / "manifest.json").read_text())["dlm_family"] == (
        "llada" if dlm == "llada" else "dream"
    )


def test_cli_infills_with_dreamon_at_fixed_and_variable_length(real_models):
    rm = real_models
    fixed = codila(
        "infill",
        "--prefix",
        "def f(x):\n",
        "--suffix",
        "\n    return y\n",
        "--length",
        8,
        "--dlm",
        rm / "dreamon",
        "--decoder",
        "dlm",
        "--k",
        2,
        "--device",
        "cpu",
    )
    assert fixed.returncode == 0, fixed.stderr
    assert "8 tokens in 4 steps" in fixed.stderr
    variable = codila(
        "infill",
        "--prefix",
        "def f(x):\n",
        "--suffix",
        "\n    return y\n",
        "--length",
        4,
        "--dlm",
        rm / "dreamon",
        "--decoder",
        "dlm-variable",
        "--max-span",
        12,
        "--device",
        "cpu",
    )
    assert variable.returncode == 0, variable.stderr
    assert "DLM forwards, 0 AR steps" in variable.stderr


def test_eval_runs_dreamon_s_variable_length_infilling(real_models, tmp_path):
    """DreamOn's decoder is a registry entry: `codila eval` runs it on HumanEval-Infilling with no special path."""
    run = tmp_path / "run"
    out = codila(
        "eval", "humaneval-infilling-single-line", "--decoder", "dlm-variable", "--max-span", 24, "--limit", 2,
        "--dlm", real_models / "dreamon", "--device", "cpu", "--out", run, "--json", tmp_path / "rows.jsonl",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    row = json.loads((tmp_path / "rows.jsonl").read_text().splitlines()[-1])
    assert row["method"] == "dlm-variable" and row["n"] == 2 and row["label"] == "DLM variable-length K=1 max span 24"
    assert len((run / "problems.jsonl").read_text().splitlines()) == 2


def test_variable_length_span_grows_on_expand_and_shrinks_on_eos(real_models):
    """DreamOn's rule on a model whose output is rigged: <|expand|> twice (2 masks -> 3 -> 4, the cap), then EOS (deletes
    one: 3), then a token at each of the 3 masks. The expand token is not offered while the span is at the cap."""
    from codila.decoding.canvas import Canvas
    from codila.decoding.registry import decode
    from codila.decoding.variable import VariableInfillConfig

    dlm = load_dlm(real_models / "dreamon", device="cpu")
    plan = iter([dlm.expand_id, dlm.expand_id, dlm.special.eos_id, 912, 912, 912])
    offered = []

    def rigged(ids, positions=None, attention_mask=None, position_ids=None, banned=None):
        offered.append(banned is not None)  # a banned list of its own: the one without the expand token
        logits = torch.full((1, len(positions), dlm.vocab_rows), -1e9) + torch.arange(len(positions)).view(1, -1, 1).float()
        logits[..., next(plan)] = 0.0  # the last masked position is the most certain
        return logits

    dlm.logits = rigged
    canvas = Canvas.infill([750], 2, [11], dlm.mask_id, dlm.max_length)
    (result,) = decode("dlm-variable", dlm, None, [canvas], VariableInfillConfig(max_span=4))
    assert offered == [True, True, False, True, True, True]
    assert result.ids.tolist() == [750, 912, 912, 912, 11] and result.generated.tolist() == [912, 912, 912]
    assert result.tokens_per_step == [0, 0, 0, 1, 1, 1]


def _examples(path, count: int = 6, chat: int = 2):
    lines = [
        json.dumps({"prompt": f"# task {i}\ndef add{i}(a, b):\n", "response": f"    return a + b + {i}\n"})
        for i in range(count - chat)
    ]
    messages = [{"role": "user", "content": "Write mul."}, {"role": "assistant", "content": "def mul(a, b):\n    return a * b\n"}]
    lines += [json.dumps({"messages": messages})] * chat
    path.write_text("\n".join(lines) + "\n")
    return path


def test_cli_trains_a_qwen3_ar_on_dream_resumably_with_a_best_checkpoint(real_models, tmp_path):
    rm = real_models
    data, run = _examples(tmp_path / "data.jsonl"), tmp_path / "run"
    train = [
        "train",
        "ar",
        "--dlm",
        rm / "dream",
        "--ar-init",
        rm / "qwen3",
        "--data",
        data,
        "--dlm-family",
        "dream",
        "--block-size",
        4,
        "--out",
        run,
        "--batch-size",
        2,
        "--window",
        32,
        "--eval-every",
        1,
        "--device",
        "cpu",
    ]
    out = codila(*train, "--steps", 2, "--gradient-checkpointing")
    assert out.returncode == 0, out.stderr
    assert (run / "best" / "codila.json").is_file() and (run / "checkpoint" / "tokenizer.json").is_file()
    out = codila(*train, "--steps", 3, "--resume")
    assert out.returncode == 0, out.stderr
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3] and log[0]["lr"] != log[2]["lr"]
    meta = json.loads((run / "checkpoint" / "codila.json").read_text())
    assert (meta["kind"], meta["block_size"], meta["think_token"]) == ("ar", 4, "<think>")
    trained = load_ar(run / "checkpoint", load_dlm(rm / "dream", device="cpu"))  # its block size from codila.json
    assert trained.block_size == 4 and trained.alignment is not None


@pytest.mark.parametrize(
    "case,message",
    [
        ("no-weights", "holds no weights"),
        ("missing-shard", "shard model-00002-of-00002.safetensors"),
        ("unknown-family", "unknown DLM family 'mamba'"),
        ("contradicting-family", "contradicts"),
        ("no-frame-tokens", "has no '<frame>' / '</think>' frame tokens"),
        ("no-block-size", "pass --block-size B"),
    ],
)
def test_bad_real_model_input_is_one_line_and_exit_2(case, message, real_models, tmp_path):
    rm = real_models
    dlm, ar, extra = rm / "dream", rm / "qwen3", []
    if case in ("no-weights", "missing-shard"):
        dlm = tmp_path / "dream"
        shutil.copytree(rm / "dream", dlm)
        for shard in dlm.glob("model-*.safetensors") if case == "no-weights" else [dlm / "model-00002-of-00002.safetensors"]:
            shard.unlink()
        if case == "no-weights":
            (dlm / "model.safetensors.index.json").unlink()
    if case == "unknown-family":
        extra = ["--dlm-family", "mamba"]
    if case == "contradicting-family":
        dlm, extra = rm / "llada", ["--dlm-family", "dream"]
    if case == "no-frame-tokens":
        extra = ["--think-token", "<frame>"]
    out = codila(
        "generate",
        "x",
        "--dlm",
        dlm,
        "--ar",
        ar,
        *(["--block-size", 4] if case != "no-block-size" else []),
        *extra,
        "--device",
        "cpu",
    )
    assert out.returncode == 2 and message in out.stderr and out.stderr.count("\n") == 1, out.stderr
