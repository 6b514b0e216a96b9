"""`codila train planning`: a planning DLM, its CoDiLA local AR, or an AR-only baseline on one generated setting.

Examples are generated fresh every step (codila.data.planning.splits.TrainingStream): the test and validation
splits, and for Countdown the shipped cd3/cd4 files, are never trained on."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import Qwen3ForCausalLM

from codila.data.planning.base import planning_tokenizer
from codila.data.planning.registry import get_setting
from codila.data.planning.splits import TEST_SEED, VALIDATION_SEED, FixedExamples, TrainingStream, heldout_prompts, split_examples
from codila.errors import CodilaError
from codila.models.io import load_model, read_meta
from codila.models.loading import load_dlm
from codila.models.local_ar import LocalAR
from codila.models.presets import qwen3_config
from codila.tokenizer import SpecialIds, load_tokenizer
from codila.train.loop import TrainConfig, check_run_dir, train
from codila.train.manifest import base_manifest, init_record
from codila.train.planning_recipes import DLM_WEIGHTINGS, BaselineArRecipe, PlanningArRecipe, PlanningDlmRecipe

KINDS = ("dlm", "ar", "ar-baseline")


def external_heldout(task: str) -> set[str]:
    """Prompts of shipped evaluation files of a task (never trained on)."""
    if task != "countdown":
        return set()
    from codila.data.planning.countdown import shipped_prompts

    return shipped_prompts()


def train_planning(
    kind: str,
    setting: str,
    out: str | Path,
    config: TrainConfig,
    preset: str,
    dlm_path: str | Path | None = None,
    block_size: int = 4,
    resume: bool = False,
    progress: bool = True,
    init: str | Path | None = None,
    dlm_loss: str = "elbo",
    shifted_logits: bool = False,
) -> dict:
    """Train one model of `kind` (dlm, ar or ar-baseline) on the generated `setting` into `out`. `init`: warm start
    from a checkpoint of the same kind (e.g. a model trained on an easier setting: the task grows as it learns), or,
    for a DLM, from an AR baseline of the same setting (its weights, attention made bidirectional: how Dream starts
    from Qwen2.5; `shifted_logits` then keeps the AR's next-token head meaning: row i-1 predicts token i)."""
    if dlm_loss not in DLM_WEIGHTINGS:
        raise CodilaError(f"unknown DLM loss {dlm_loss!r}; choose one of {', '.join(DLM_WEIGHTINGS)}")
    if shifted_logits and kind != "dlm":
        raise CodilaError("--shifted-logits is for --kind dlm only")
    if kind not in KINDS:
        raise CodilaError(f"unknown planning model kind {kind!r}; choose one of {', '.join(KINDS)}")
    if (kind == "ar") != (dlm_path is not None):
        raise CodilaError("--dlm is needed for (and only for) the CoDiLA AR: --kind ar")
    spec = get_setting(setting)
    out = Path(out)
    check_run_dir(out, resume)
    tokenizer = load_tokenizer(out / "checkpoint") if resume else planning_tokenizer(spec.tokenization)
    special = SpecialIds.from_tokenizer(tokenizer)
    length = spec.prompt_length + spec.answer_length
    meta = {
        "planning": spec.name,
        "tokenization": spec.tokenization,
        "prompt_length": spec.prompt_length,
        "answer_length": spec.answer_length,
    }
    torch.manual_seed(config.seed)  # weight initialisation inside transformers draws from the global generator
    if kind == "ar":
        dlm = load_dlm(dlm_path)
        if dlm.model.config.max_position_embeddings < length:
            raise CodilaError(f"the DLM in {dlm_path} sees {dlm.max_length} tokens; {setting} needs {length}")
        for parameter in dlm.model.parameters():
            parameter.requires_grad_(False)
        tokenizer = dlm.tokenizer
        model = _model(init, "ar", qwen3_config(preset, len(tokenizer), 2 * block_size + 2, bidirectional=False))
        recipe = PlanningArRecipe(LocalAR(model, tokenizer, block_size), dlm, spec.prompt_length, {**meta, "dlm": str(dlm_path)})
    else:
        bidirectional = kind == "dlm"
        model = _model(init, kind, qwen3_config(preset, len(tokenizer), length, bidirectional=bidirectional))
        recipe = (
            PlanningDlmRecipe(model, special.mask_id, spec.prompt_length, meta, dlm_loss, shifted_logits)
            if bidirectional
            else BaselineArRecipe(model, spec.prompt_length, meta)
        )
    heldout = heldout_prompts(spec, external_heldout(spec.task))
    manifest = base_manifest(
        kind=kind,
        preset=preset,
        **({"dlm_loss": dlm_loss, "shifted_logits": shifted_logits} if kind == "dlm" else {}),
        parameters=sum(p.numel() for p in model.parameters()),
        init_from=init_record(init) if init is not None else None,
        data={
            "setting": spec.name,
            "settings": spec.settings,
            "generator": "fresh examples each step, one seed per example from the training generator (train_config.seed)",
            "excluded_prompts": len(heldout),
            "test_seed": TEST_SEED,
            "validation_seed": VALIDATION_SEED,
        },
        **({"block_size": block_size, "dlm": str(dlm_path)} if kind == "ar" else {}),
    )
    stream = TrainingStream(spec, tokenizer, heldout)
    validation = FixedExamples(spec, tokenizer, split_examples(spec, "validation"))
    summary = train(recipe, tokenizer, stream, validation, config, out, resume, manifest, progress)
    return {**summary, "skipped_heldout": stream.skipped}


def _model(init: str | Path | None, kind: str, config) -> Qwen3ForCausalLM:
    if init is None:
        return Qwen3ForCausalLM(config)
    source = "ar-baseline" if kind == "dlm" and read_meta(init, None).get("kind") == "ar-baseline" else kind
    model, _, _ = load_model(init, source)
    model.config.is_causal = config.is_causal  # an AR baseline's weights start a DLM: its attention sees both ways
    if kind != "ar":  # rotary positions extend to a longer layout (a grown setting)
        model.config.max_position_embeddings = max(model.config.max_position_embeddings, config.max_position_embeddings)
    model.train()
    return model
