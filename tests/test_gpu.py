"""On a CUDA GPU only (marked gpu; skipped elsewhere; scripts/gpu_check.sh runs them): bf16 decoding on the device equals the
authors' samplers, and the grouped DLM forward of a batch (one forward per group of equal-length canvases, `CanvasBatch`)
equals each canvas's own forward within tolerance."""

from __future__ import annotations

import pytest
import torch

from codila.decoding.batch import CanvasBatch
from codila.decoding.canvas import Canvas
from codila.decoding.dlm import DlmDecodeConfig, decode_dlm_batch
from codila.models.loading import load_dlm
from test_authors_samplers import LENGTH, PROMPTS, dream_generate, llada_generate

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


def _decode(dlm, prompt, config):
    canvas = Canvas.completion(prompt, LENGTH, dlm.mask_id, dlm.max_length)
    return decode_dlm_batch(dlm, None, [canvas], config, [torch.Generator().manual_seed(0)])[0].generated.tolist()


@pytest.mark.parametrize("family", ["dream", "llada"])
def test_cuda_bfloat16_greedy_decodes_equal_the_authors(real_models, family):
    dlm = load_dlm(real_models / family, device="cuda", dtype="bfloat16")
    equal = 0
    for prompt in PROMPTS:
        if family == "dream":
            expected = dream_generate(dlm.model, prompt, LENGTH // 2, LENGTH, "entropy", dlm.mask_id)
            got = _decode(dlm, prompt, DlmDecodeConfig(steps=LENGTH // 2, reference=True))
        else:
            expected = llada_generate(dlm.model, prompt, LENGTH // 2, LENGTH, LENGTH // 2, dlm.mask_id)
            got = _decode(
                dlm, prompt, DlmDecodeConfig(steps=LENGTH // 2, semi_ar_block=LENGTH // 2, selection="confidence", reference=True)
            )
        equal += got == expected
    assert equal == len(PROMPTS)


@pytest.mark.parametrize("dtype,atol", [("float32", 1e-3), ("bfloat16", 0.1)])
def test_grouped_forward_equals_each_canvas_alone(real_models, dtype, atol):
    dlm = load_dlm(real_models / "dream", device="cuda", dtype=dtype)
    canvases = [Canvas.completion(p[:3], LENGTH, dlm.mask_id, dlm.max_length).copy(dlm.device) for p in PROMPTS]
    positions = [torch.arange(c.start, c.end, device=dlm.device) for c in canvases]
    grouped = CanvasBatch(canvases).logits(dlm, list(range(len(canvases))), positions)
    for canvas, needed, logits in zip(canvases, positions, grouped):
        alone = dlm.logits(canvas.ids[None], needed)[0]
        finite = torch.isfinite(alone)
        assert torch.equal(finite, torch.isfinite(logits))
        assert torch.allclose(logits[finite], alone[finite], atol=atol, rtol=0), (logits[finite] - alone[finite]).abs().max()
