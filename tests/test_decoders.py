"""The invariants every decoder keeps, over every entry of the registry and every example setting of each."""

import pytest
import torch

from codila.decoding.canvas import Canvas
from codila.decoding.codila import CodilaDecodeConfig
from codila.decoding.dlm import DlmDecodeConfig
from codila.decoding.fast_dllm import FastDllmConfig
from codila.decoding.registry import DECODERS, decode, get_decoder
from codila.errors import CodilaError


def _block(index: int, config) -> int:
    """The AR block size an example runs with: 2, 4, 8 in turn, one that divides its semi-AR window."""
    return next(b for b in ((2, 4, 8) * 2)[index % 3 :] if not getattr(config, "semi_ar_block", 0) % b)


# every registered decoder's examples (its config class's `examples()`), with an AR when it needs one, that runs on the
# tiny code models (dlm-variable needs a DreamOn DLM: test_real_models.py; ar-baseline a planning folder's causal AR:
# test_planning_train_eval.py)
SETTINGS = [
    (name, config, _block(index, config) if spec.needs_ar else None)
    for name, spec in DECODERS.items()
    if spec.ar_kind == "local" and not spec.needs_expand_token
    for index, config in enumerate(spec.config_class.examples())
]


def test_every_config_documents_its_options_and_labels_its_settings():
    from dataclasses import fields

    for spec in DECODERS.values():
        assert spec.config_class.examples(), spec.name
        for field in fields(spec.config_class):
            assert len(field.metadata.get("help", "")) > 10, f"{spec.name}.{field.name} has no help"
        labels = {config.label(_FakeAr()) for config in spec.config_class.examples()}
        assert len(labels) == len(spec.config_class.examples()), f"{spec.name}: two examples share a label"


class _FakeAr:
    block_size, conditioning = 4, "soft"


def canvases(dlm):
    encode = lambda text: dlm.tokenizer(text)["input_ids"]
    return [
        Canvas.infill(encode("def area(r):\n    "), 16, encode("\n    return a\n"), dlm.mask_id, dlm.max_length),
        Canvas.completion(encode("import os\n\ndef main():\n"), 24, dlm.mask_id, dlm.max_length),
    ]


def assert_decoder_contract(spec, dlm, ar, config, canvas):
    """What every decoder guarantees on a canvas: fixed positions kept, no mask left, seeded, one real DLM forward
    per step, every region position committed once, the AR's calls as counted by the AR."""
    calls = []
    hook = dlm.model.register_forward_hook(lambda *args: calls.append(1))
    ar_before = ar.forwards if ar else 0
    result = decode(spec, dlm, ar, [canvas], config, 0)[0]
    hook.remove()
    again = decode(spec, dlm, ar, [canvas], config, 0)[0]
    fixed = canvas.fixed()
    assert torch.equal(result.ids[fixed], canvas.ids[fixed])  # fixed positions never change
    assert not bool((result.ids == dlm.mask_id).any())  # no mask remains
    assert torch.equal(result.ids, again.ids)  # same seed, same output
    assert result.dlm_forwards == len(calls) == result.steps  # one real DLM forward per step
    assert sum(result.tokens_per_step) == canvas.length
    region = result.commit_step[canvas.start : canvas.end]
    assert bool((region >= 0).all()) and bool((result.commit_step[fixed] == -1).all())
    assert sorted(set(region.tolist())) == list(range(result.steps))  # every step commits something
    assert result.ar_steps == ((ar.forwards - ar_before) // 2 if ar else 0)  # the AR counted them (two runs)
    return result


@pytest.mark.parametrize("name,config,block", SETTINGS, ids=lambda v: str(v))
def test_decoder_invariants(dlm, ars, name, config, block):
    for canvas in canvases(dlm):
        assert_decoder_contract(get_decoder(name), dlm, ars[block] if block else None, config, canvas)


def test_committed_positions_never_change(dlm, ars):
    """Replay the commit order: each position's final token is the one committed at its step, so a decoder
    that rewrote a position would have needed a second commit, which CommitLog refuses."""
    canvas = canvases(dlm)[0]
    for name, config, block in SETTINGS:
        result = decode(get_decoder(name), dlm, ars.get(block), [canvas], config, 1)[0]
        counts = torch.bincount(result.commit_step[canvas.start : canvas.end], minlength=result.steps)
        assert counts.tolist() == result.tokens_per_step


def test_static_codila_commits_whole_blocks_and_b1_is_one_token_per_step(dlm, ars):
    canvas = canvases(dlm)[0]
    result = decode(get_decoder("codila"), dlm, ars[4], [canvas], CodilaDecodeConfig(), 0)[0]
    steps = result.commit_step[canvas.start : canvas.end].view(-1, 4)
    assert bool((steps == steps[:, :1]).all()) and result.tokens_per_step == [4] * 4
    one = decode(get_decoder("codila"), dlm, ars[1], [canvas], CodilaDecodeConfig(), 0)[0]
    assert one.tokens_per_step == [1] * canvas.length and one.dlm_forwards == canvas.length


def test_scope_one_decodes_left_to_right(dlm, ars):
    canvas = canvases(dlm)[0]
    result = decode(get_decoder("codila"), dlm, ars[2], [canvas], CodilaDecodeConfig(scope=1), 0)[0]
    assert result.commit_step[canvas.start : canvas.end].tolist() == [i // 2 for i in range(16)]


def test_dlm_confidence_commits_the_block_the_dlm_is_surest_of_first():
    """On the shipped models (the tiny test DLM is too close to uniform: its block confidences tie)."""
    from codila.models.io import SHIPPED
    from codila.models.loading import load_ar, load_dlm
    from codila.sampling import rank_first

    dlm = load_dlm(SHIPPED / "dlm")
    ar = load_ar(SHIPPED / "ar-b2", dlm)
    encode = lambda text: dlm.tokenizer(text)["input_ids"]
    canvas = Canvas.infill(encode("for i in range(10):\n    "), 16, encode("\n        print(i)\n"), dlm.mask_id, dlm.max_length)
    logits = dlm.logits(canvas.ids[None], torch.arange(canvas.start, canvas.end))[0]
    block_confidence = torch.softmax(logits, -1).amax(-1).view(-1, 2).mean(1)  # (8,) blocks of B=2
    expected = int(rank_first(block_confidence, 1, descending=True))
    assert (
        expected != 0 and float(block_confidence[expected]) > float(block_confidence.median()) + 0.01
    )  # not the nearest, not a tie
    result = decode(get_decoder("codila"), dlm, ar, [canvas], CodilaDecodeConfig(choice="dlm-confidence", scope=10), 0)[0]
    first = result.commit_step[canvas.start : canvas.end].view(-1, 2)[:, 0] == 0
    assert torch.nonzero(first).flatten().tolist() == [expected]


def test_codila_semi_ar_windows_go_left_to_right_and_a_cache_refreshed_every_step_is_exact(dlm, ars):
    canvas = canvases(dlm)[1]  # 24 masked positions: windows of 8
    codila = lambda ar, config: decode("codila", dlm, ar, [canvas], config)[0]
    windowed = codila(ars[2], CodilaDecodeConfig(semi_ar_block=8))
    steps = windowed.commit_step[canvas.start : canvas.end].view(3, 8)
    assert all(int(steps[w].max()) < int(steps[w + 1].min()) for w in range(2))  # window by window
    plain = codila(ars[4], CodilaDecodeConfig(semi_ar_block=4))
    for cache in ("prefix", "dual"):  # windows of one block: every step starts a window, so every forward is a full one
        cached = codila(ars[4], CodilaDecodeConfig(semi_ar_block=4, cache=cache))
        assert torch.equal(cached.ids, plain.ids) and cached.dlm_forwards == plain.dlm_forwards
        assert cached.tokens_per_step == plain.tokens_per_step


def test_completion_fills_after_eos(dlm):
    canvas = Canvas.completion([5, 6], 8, dlm.mask_id, dlm.max_length)
    from codila.decoding.result import CommitLog

    log = CommitLog(canvas.copy(), dlm.special.eos_id)
    log.commit(torch.tensor([4]), torch.tensor([dlm.special.eos_id]))
    assert log.canvas.ids[5:].tolist() == [dlm.special.eos_id] * 5 and log.tokens_per_step == [6]
    assert log.canvas.ids[2:4].tolist() == [dlm.mask_id] * 2


def test_bad_settings_are_clear_errors(dlm, ars):
    canvas = Canvas.infill([5, 6], 6, [7], dlm.mask_id, dlm.max_length)
    codila = lambda ar, config: decode("codila", dlm, ar, [canvas], config)
    with pytest.raises(CodilaError, match="multiple of the block size"):
        codila(ars[4], CodilaDecodeConfig())
    with pytest.raises(CodilaError, match="needs an AR"):
        codila(None, CodilaDecodeConfig())
    with pytest.raises(CodilaError, match="multiple of the block size 2, got 3"):
        codila(ars[2], CodilaDecodeConfig(semi_ar_block=3))
    with pytest.raises(CodilaError, match="needs semi-autoregressive windows"):
        codila(ars[2], CodilaDecodeConfig(cache="dual"))
    with pytest.raises(CodilaError, match="takes a CodilaDecodeConfig, got a DlmDecodeConfig"):
        codila(ars[2], DlmDecodeConfig())
    with pytest.raises(CodilaError, match="3 seeds for 1 canvases"):
        decode("dlm", dlm, None, [canvas], None, [1, 2, 3])
    with pytest.raises(CodilaError, match="unknown decoder"):
        get_decoder("beam")
    with pytest.raises(CodilaError, match="exceeds"):
        Canvas.completion([5] * 60, 8, dlm.mask_id, dlm.max_length)
    with pytest.raises(CodilaError, match="empty"):
        Canvas.completion([], 8, dlm.mask_id, dlm.max_length)


@pytest.mark.parametrize(
    "build,message",
    [
        (lambda: CodilaDecodeConfig(mode="fast"), "--mode must be one of static, dynamic, verify, got 'fast'"),
        (
            lambda: CodilaDecodeConfig(choice="best"),
            "--choice must be one of ar-entropy, dlm-confidence, learned, learned-frontier, got 'best'",
        ),
        (lambda: CodilaDecodeConfig(semi_ar_block=2, cache="full"), "--cache must be one of none, prefix, dual, got 'full'"),
        (lambda: CodilaDecodeConfig(verify_selection="max"), "--verify-selection must be one of"),
        (lambda: DlmDecodeConfig(selection="best"), "--selection must be one of entropy, confidence, margin"),
        (lambda: DlmDecodeConfig(tokens_per_step=0), "--tokens-per-step must be an integer from 1"),
        (lambda: FastDllmConfig(threshold=1.5), r"--threshold must be in \[0, 1\]"),
        (lambda: CodilaDecodeConfig(tau=float("nan")), "--tau must be a finite number >= 0"),
    ],
)
def test_a_config_refuses_a_bad_value_when_built(build, message):
    """One validation layer: the config constructor, before any model or canvas is involved."""
    with pytest.raises(CodilaError, match=message):
        build()


def test_dynamic_tau_extremes(dlm, ars):
    """tau 0 (below every entropy of the tiny AR): always the DLM's single-token fallback; tau above every entropy: whole blocks per step."""
    canvas = canvases(dlm)[0]
    codila = lambda config: decode("codila", dlm, ars[4], [canvas], config)[0]
    careful = codila(CodilaDecodeConfig(mode="dynamic", tau=0.0))
    assert careful.tokens_per_step == [1] * canvas.length and careful.dlm_forwards == canvas.length
    bold = codila(CodilaDecodeConfig(mode="dynamic", tau=1e9))
    assert bold.tokens_per_step == [4] * (canvas.length // 4)


def many_canvases(dlm, n: int) -> list[Canvas]:
    """`n` canvases of four shapes (lengths, region starts, infilling and completion), in turn."""
    encode = lambda text: dlm.tokenizer(text)["input_ids"]
    shapes = [
        *canvases(dlm),
        Canvas.infill(encode("x = 1\n"), 8, encode("print(x)\n"), dlm.mask_id, dlm.max_length),
        Canvas.completion(encode("class A:\n"), 16, dlm.mask_id, dlm.max_length),
    ]
    return [shapes[i % len(shapes)].copy() for i in range(n)]


@pytest.mark.parametrize("name,config,block", SETTINGS, ids=lambda v: str(v))
def test_a_canvas_decodes_the_same_alone_and_in_batches_of_8_and_32_under_sampling(dlm, ars, name, config, block):
    """32 canvases sampled (temperature 1: near-ties everywhere on the tiny models) one at a time, 8 at a time and all
    together, each with its own generator: the same tokens, steps and counts."""
    from dataclasses import fields, replace

    spec = get_decoder(name)
    ar = ars[block] if block else None
    sampled = replace(config, temperature=1.0) if "temperature" in {f.name for f in fields(config)} else config
    batch = many_canvases(dlm, 32)
    by_size = {
        size: [
            result
            for first in range(0, 32, size)
            for result in decode(spec, dlm, ar, batch[first : first + size], sampled, 100 + first)
        ]
        for size in (1, 8, 32)
    }
    summary = lambda r: (r.ids.tolist(), r.commit_step.tolist(), r.tokens_per_step, r.dlm_forwards, r.ar_steps)
    assert [summary(r) for r in by_size[8]] == [summary(r) for r in by_size[1]]
    assert [summary(r) for r in by_size[32]] == [summary(r) for r in by_size[1]]
    if getattr(config, "mode", None) != "verify":  # verify mode is greedy: the AR judges, the DLM's argmax is committed
        assert len({tuple(r.ids.tolist()) for r in by_size[1]}) > 8  # the seeds differ, so do the samples


def test_threshold_decoding_commits_every_confident_position(dlm):
    canvas = canvases(dlm)[1]
    spec = get_decoder("fast-dllm")
    everything = decode(spec, dlm, None, [canvas], FastDllmConfig(threshold=1e-9), 0)[0]
    assert everything.tokens_per_step[0] == canvas.length  # every position clears a tiny threshold: one step
    one_by_one = decode(spec, dlm, None, [canvas], FastDllmConfig(threshold=1.0), 0)[0]
    assert set(one_by_one.tokens_per_step) == {1}  # nothing is certain: the single most confident each step
    with pytest.raises(CodilaError, match="threshold"):
        decode(spec, dlm, None, [canvas], FastDllmConfig(threshold=1.5), 0)[0]


@pytest.mark.parametrize("mode", ["prefix", "dual"])
def test_the_dlm_cache_is_exact_until_the_block_changes(dlm, mode):
    from codila.models.dlm_cache import DlmKvCache

    canvas = canvases(dlm)[0]
    start, end = canvas.start + 4, canvas.start + 8
    cache = DlmKvCache(dlm, mode)
    fresh = cache.refresh(canvas.ids, start, end)
    reused = cache.block_logits(canvas.ids, start, end)
    plain = dlm.logits(canvas.ids[None], torch.arange(start, end))[0]
    assert torch.allclose(fresh, plain, atol=1e-5) and torch.allclose(reused, plain, atol=1e-4)
    with pytest.raises(CodilaError, match="semi-autoregressive"):
        decode(get_decoder("dlm"), dlm, None, [canvas], DlmDecodeConfig(cache=mode), 0)[0]


def test_a_canvas_gets_the_same_logits_bit_for_bit_alone_and_in_any_batch(dlm):
    from codila.decoding.batch import CanvasBatch

    batch = many_canvases(dlm, 10)
    positions = [torch.arange(c.start, c.end, 2) for c in batch]
    together = CanvasBatch(batch).logits(dlm, list(range(10)), positions)
    for canvas, logits in zip(batch, together):
        alone = dlm.logits(canvas.ids[None], torch.arange(canvas.start, canvas.end))[0][::2]
        assert torch.equal(logits, alone)
