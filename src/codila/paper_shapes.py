"""`codila bench --shapes paper`: decoding speed at the paper's shapes without any weights. Random-init models are built
from the shipped config.json of Dream-Coder-v0-Instruct-7B (the DLM, Qwen2 layout, bidirectional, shifted logits) and
Qwen3-0.6B (the block AR) (`codila/assets/configs/`), on a device and dtype; the DLM alone at K=1 and CoDiLA static
B = 2 / 4 / 8 (scope 10, the paper's) decode completions of a fixed length at each batch size with EOS banned, so every
row decodes the whole length. Timing needs no trained weights: a forward costs the same whatever the weights hold.

`scale` < 1 shrinks every width (hidden, heads, MLP) and the number of layers by that factor (the vocabularies stay the
real ones), so a CPU runs the same code paths in seconds; scale 1 is the paper's models exactly. `parameter_counts`
counts the parameters of the shipped configs on the meta device (no memory), for docs/real-models.md's memory table.
"""

from __future__ import annotations

import json
import time
from importlib.resources import files
from pathlib import Path

from codila.errors import CodilaError
from codila.lazy import lazy_module

torch = lazy_module("torch")  # loaded on first use: `codila --help` reads the configs without it

CONFIGS = Path(str(files("codila.assets") / "configs"))
DLM_CONFIG, AR_CONFIG, LLADA_CONFIG = "dream-coder-7b.json", "qwen3-0.6b.json", "llada-8b.json"
DREAM_TOKENS = 151667  # Dream's tokenizer: 151,665 Qwen tokens + <|beginoftext|> + <|mask|>; rows beyond are padding
QWEN_SHARED = 151665  # ids both tokenizers spell the same (above: Dream's BOS/mask vs Qwen3's tool/think tokens)
QWEN3_THINK, QWEN3_END_THINK = 151667, 151668
PAPER_BLOCKS = (2, 4, 8)
PAPER_SCOPE = 10
PAPER_LENGTH = 512


def shipped_config(name: str) -> dict:
    path = CONFIGS / name
    if not path.is_file():
        raise CodilaError(f"{path} is missing from the installed package: reinstall codila")
    return json.loads(path.read_text())


def scaled(config: dict, scale: float, heads_key="num_attention_heads", kv_key="num_key_value_heads") -> dict:
    """`config` with widths and layers multiplied by `scale` (at least 1 layer and head, an even head dimension)."""
    if not 0 < scale <= 1:
        raise CodilaError(f"--scale must be in (0, 1], got {scale}")
    if scale == 1:
        return dict(config)
    out = dict(config)
    heads = max(1, round(config[heads_key] * scale))
    kv = max(1, round(config[kv_key] * scale))
    kv = kv if heads % kv == 0 else 1
    head_dim = config.get("head_dim") or config["hidden_size"] // config[heads_key]
    head_dim = max(8, 2 * round(head_dim * scale**0.5 / 2))  # widths shrink by `scale` overall: heads and head size
    out.update(
        {
            heads_key: heads,
            kv_key: kv,
            "hidden_size": max(16, 2 * round(config["hidden_size"] * scale / 2)),
            "intermediate_size": max(16, round(config["intermediate_size"] * scale)),
            "num_hidden_layers": max(1, round(config["num_hidden_layers"] * scale)),
            "head_dim": head_dim,
        }
    )
    return out


class _Vocabulary:
    """The only thing DiffusionLM and LocalAR read of a tokenizer when their special ids are given: its size."""

    def __init__(self, size: int):
        self.size = size

    def __len__(self) -> int:
        return self.size


def build_models(scale: float, device, dtype, seed: int = 0):
    """(DiffusionLM, {B: LocalAR}) with random weights at the paper's configs scaled by `scale`; EOS banned for both."""
    from transformers import Qwen2Config, Qwen2ForCausalLM, Qwen3Config, Qwen3ForCausalLM

    from codila.models.alignment import VocabAlignment
    from codila.models.dlm import DiffusionLM
    from codila.models.families.dream import QWEN2_FIELDS
    from codila.models.local_ar import LocalAR
    from codila.tokenizer import SpecialIds

    torch.manual_seed(seed)
    dream = scaled(shipped_config(DLM_CONFIG), scale)
    qwen2 = Qwen2Config(
        **{key: dream[key] for key in QWEN2_FIELDS if dream.get(key) is not None},
        head_dim=dream.get("head_dim"),
        rope_parameters={"rope_type": "default", "rope_theta": dream["rope_theta"]},
    )
    qwen2.is_causal = False
    with torch.device(device):
        dlm_model = Qwen2ForCausalLM(qwen2).to(dtype).eval()
    special = SpecialIds(dream["mask_token_id"], dream["eos_token_id"], dream["pad_token_id"], -1, -1)
    dlm = DiffusionLM(dlm_model, _Vocabulary(DREAM_TOKENS), shifted_logits=True, special=special, family="dream")
    dlm.banned_ids = torch.cat([dlm.banned_ids, torch.tensor([special.eos_id], device=dlm.device)])  # full length
    qwen3 = scaled(shipped_config(AR_CONFIG), scale)
    ar_config = Qwen3Config(
        **{key: value for key, value in qwen3.items() if key not in ("architectures", "torch_dtype", "rope_theta")},
        rope_parameters={"rope_type": "default", "rope_theta": qwen3["rope_theta"]},
    )
    with torch.device(device):
        ar_model = Qwen3ForCausalLM(ar_config).to(dtype).eval()
    alignment = VocabAlignment(torch.arange(ar_config.vocab_size) < QWEN_SHARED, dlm.vocab_rows)
    ar_special = SpecialIds(special.mask_id, special.eos_id, special.pad_id, QWEN3_THINK, QWEN3_END_THINK)
    ars = {}
    for block in PAPER_BLOCKS:
        ar = LocalAR(ar_model, _Vocabulary(ar_config.vocab_size), block, special=ar_special, alignment=alignment)
        ar.banned_bias[special.eos_id] = float("-inf")
        ars[block] = ar
    return dlm, ars


def settings() -> list[tuple[str, str, object, int | None]]:
    """(label, decoder, config, B): the DLM alone at K = 1 (the paper's Dream-Coder row's speed) and CoDiLA B = 2/4/8."""
    from codila.decoding.codila import CodilaDecodeConfig
    from codila.decoding.dlm import DlmDecodeConfig

    rows = [("DLM K=1", "dlm", DlmDecodeConfig(), None)]
    return rows + [
        (f"CoDiLA B={b} static scope {PAPER_SCOPE}", "codila", CodilaDecodeConfig(scope=PAPER_SCOPE), b) for b in PAPER_BLOCKS
    ]


def _peak_start(device) -> None:
    from codila.bench import reset_peak_memory

    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    else:
        reset_peak_memory()


def _peak_mb(device) -> tuple[float, str]:
    from codila.bench import peak_memory_mb

    if device.type == "cuda":
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) / 2**20, "cuda max_memory_allocated"
    return peak_memory_mb(), "process peak RSS"


def run_paper_shapes(
    device: str = "cpu",
    dtype: str | None = None,
    scale: float = 1.0,
    length: int = PAPER_LENGTH,
    batch_sizes: tuple[int, ...] = (1, 8),
    prompt_length: int = 64,
    seed: int = 0,
    only: tuple[str, ...] = (),
) -> list[dict]:
    """One row per setting and batch size: tokens/s, DLM forwards, the AR's share of the time, peak memory."""
    from codila.decoding.canvas import Canvas
    from codila.decoding.registry import decode
    from codila.models.devices import resolve_device, resolve_dtype

    if length < 8 or length % 8:
        raise CodilaError(f"--length must be a positive multiple of 8 (the largest B), got {length}")
    resolved_device = resolve_device(device)
    resolved_dtype = resolve_dtype(dtype, resolved_device)
    dlm, ars = build_models(scale, resolved_device, resolved_dtype, seed)
    generator = torch.Generator().manual_seed(seed)
    prompts = [torch.randint(0, QWEN_SHARED, (prompt_length,), generator=generator).tolist() for _ in range(max(batch_sizes))]
    chosen = [row for row in settings() if not only or any(part in row[0] for part in only)]
    for _label, decoder, config, block in chosen:  # untimed warm-up: first calls load kernels and allocate
        canvas = Canvas.completion(prompts[0], 8, dlm.mask_id, dlm.max_length)
        decode(decoder, dlm, ars.get(block), [canvas], config, seed)
    rows = []
    for batch_size in batch_sizes:
        for label, decoder, config, block in chosen:
            canvases = [Canvas.completion(p, length, dlm.mask_id, dlm.max_length) for p in prompts[:batch_size]]
            _peak_start(resolved_device)
            started = time.perf_counter()
            results = decode(decoder, dlm, ars.get(block), canvases, config, seed)
            if resolved_device.type == "cuda":
                torch.cuda.synchronize(resolved_device)
            seconds = time.perf_counter() - started
            peak, how = _peak_mb(resolved_device)
            decoded = sum(int((r.generated != dlm.mask_id).sum()) for r in results)
            rows.append(
                {
                    "label": label,
                    "batch_size": batch_size,
                    "length": length,
                    "tokens": decoded,
                    "seconds": seconds,
                    "tokens_per_s": decoded / seconds,
                    "dlm_forwards": sum(r.dlm_forwards for r in results) / batch_size,
                    "ar_time_share": sum(r.ar_seconds for r in results) / max(1e-9, sum(r.seconds for r in results)),
                    "eos_decoded": sum(int((r.generated == dlm.special.eos_id).sum()) for r in results),
                    "peak_mem_mb": peak,
                    "peak_mem_how": how,
                    "device": str(resolved_device),
                    "dtype": str(resolved_dtype).removeprefix("torch."),
                    "scale": scale,
                }
            )
    return rows


def parameter_counts() -> dict[str, int]:
    """Parameters of the paper's models from their shipped configs, counted on the meta device (exact, no memory)."""
    from transformers import Qwen3Config, Qwen3ForCausalLM

    from codila.models.families import dream, llada
    from codila.models.families.base import empty_model

    counts = {}
    for name, config in (("Dream-Coder-v0-Instruct-7B", DLM_CONFIG), ("LLaDA-8B", LLADA_CONFIG)):
        values = shipped_config(config)
        if name.startswith("LLaDA"):
            model = empty_model(llada_model_class(), llada.llama_config(values))
        else:
            from transformers import Qwen2Config, Qwen2ForCausalLM

            qwen2 = Qwen2Config(**{key: values[key] for key in dream.QWEN2_FIELDS if values.get(key) is not None})
            model = empty_model(Qwen2ForCausalLM, qwen2)
        counts[name] = sum(p.numel() for p in model.parameters())
    qwen3 = shipped_config(AR_CONFIG)
    ar = empty_model(
        Qwen3ForCausalLM, Qwen3Config(**{k: v for k, v in qwen3.items() if k not in ("architectures", "torch_dtype")})
    )
    counts["Qwen3-0.6B"] = sum(p.numel() for p in ar.parameters())  # tied embeddings counted once
    return counts


def llada_model_class():
    from transformers import LlamaForCausalLM

    return LlamaForCausalLM
