"""The training-loss analysis (the paper's Fig. 3): held-out AR loss against block size B, and the `<think>` frame
ablation. Every AR is scored on exactly the same masked tokens: validation windows whose aligned 8-token segments
are masked with probability t ~ U(0.2, 0.8); one DLM forward gives the marginals; an AR with block B reads each
masked segment as 8 / B independent blocks. Loss = mean cross-entropy per masked token (nats). The DLM's marginals
read alone (each token scored by its own marginal, as K-tokens-per-step decoding samples them) are the baseline
row `MARGINALS`: what the ARs add over them; each AR's paired difference to it (same tokens) carries a standard
error clustered by window."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from codila.analysis.plots import grouped_bars
from codila.data.corpus import load_files
from codila.data.windows import WindowSampler
from codila.diffusion.masking import mask_blocks
from codila.errors import CodilaError
from codila.models.dlm import DiffusionLM
from codila.models.local_ar import LocalAR
from codila.stats import clustered_mean_se

SEGMENT = 8
MARGINALS = "dlm-marginals"  # the baseline row: cross-entropy of the DLM's own marginals on the same tokens


@torch.no_grad()
def heldout_losses(
    dlm: DiffusionLM, ars: dict[str, LocalAR], windows: list[torch.Tensor], generator: torch.Generator
) -> dict[str, dict[str, float]]:
    """Held-out loss of every AR, and of the marginals alone (`MARGINALS`), on the same masked segments of `windows`
    (batches (N, L)): per name `loss` (mean per masked token) and, for the ARs, `minus_marginals` (the paired
    difference to the marginals on the same tokens) with `minus_marginals_se`, clustered by window."""
    for name, ar in ars.items():
        if SEGMENT % ar.block_size:
            raise CodilaError(f"{name}: block size {ar.block_size} does not divide the {SEGMENT}-token segments")
    token_losses: dict[str, list[torch.Tensor]] = {name: [] for name in [MARGINALS, *ars]}
    window_ids = []
    for index, batch in enumerate(windows):
        batch_size, length = batch.shape
        noisy, masked_segments = mask_blocks(batch, dlm.mask_id, SEGMENT, generator)  # (N, L), (N, L / 8)
        if not masked_segments.any():
            continue
        marginals = dlm.marginals(noisy)  # (N, L, V)
        masked_positions = masked_segments.repeat_interleave(SEGMENT, dim=1)  # (N, L)
        window_ids.append(index * batch_size + masked_positions.nonzero()[:, 0])  # (M,) row-major, as every loss below
        target_probs = marginals.gather(-1, batch[..., None])[..., 0][masked_positions]  # (M,)
        token_losses[MARGINALS].append(-target_probs.clamp(min=1e-12).log())
        for name, ar in ars.items():
            block = ar.block_size
            masked = masked_segments.repeat_interleave(SEGMENT // block, dim=1)  # (N, L / B)
            block_marginals = marginals.view(batch_size, length // block, block, -1)[masked]
            targets = batch.view(batch_size, length // block, block)[masked]
            token_losses[name].append(ar.token_losses(block_marginals, targets).reshape(-1))  # blocks in order: (M,)
    clusters = torch.cat(window_ids).tolist()
    if not clusters:
        raise CodilaError("no masked segment in the held-out windows: use more or longer windows")
    losses = {name: torch.cat(parts).double() for name, parts in token_losses.items()}
    summary = {MARGINALS: {"loss": float(losses[MARGINALS].mean())}}
    for name in ars:
        difference, se = clustered_mean_se((losses[name] - losses[MARGINALS]).tolist(), clusters)
        summary[name] = {"loss": float(losses[name].mean()), "minus_marginals": difference, "minus_marginals_se": se}
    return summary


def run_ar_loss_analysis(
    dlm: DiffusionLM,
    ars: dict[str, LocalAR],
    out: str | Path,
    batches: int = 8,
    batch_size: int = 16,
    files: str | Path | None = None,
    seed: int = 0,
) -> list[dict]:
    """Score the ARs on validation windows (or every file of `files`); writes ar_loss.jsonl, notes.md, ar_loss.png."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    window = dlm.max_length - dlm.max_length % SEGMENT
    sampler = WindowSampler(load_files(files, "all" if files else "validation"), dlm.tokenizer, window, dlm.special.eos_id)
    generator = torch.Generator().manual_seed(seed)
    windows = [sampler.sample(batch_size, generator) for _ in range(batches)]
    losses = heldout_losses(dlm, ars, windows, generator)
    rows = [
        {
            "ar": name,
            "block_size": ar.block_size,
            "conditioning": ar.conditioning,
            "framed": ar.framed,
            "heldout_loss": losses[name]["loss"],
            "minus_marginals": losses[name]["minus_marginals"],
            "minus_marginals_se": losses[name]["minus_marginals_se"],
            "tokens": batches * batch_size * window,
        }
        for name, ar in ars.items()
    ]
    baseline = {
        "ar": MARGINALS,
        "block_size": None,
        "conditioning": None,
        "framed": None,
        "heldout_loss": losses[MARGINALS]["loss"],
        "tokens": batches * batch_size * window,
    }
    (out / "ar_loss.jsonl").write_text("".join(json.dumps(row) + "\n" for row in [baseline, *rows]))
    lines = [
        f"Held-out AR loss (nats per masked token) on {batches * batch_size} validation windows of {window} tokens,",
        f"aligned {SEGMENT}-token segments masked with t ~ U(0.2, 0.8); every AR scored on the same tokens.",
        "",
        "| AR | B | conditioning | <think> frame | held-out loss | minus marginals (SE by window) |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['ar']} | {r['block_size']} | {r['conditioning']} | {'yes' if r['framed'] else 'no'} | {r['heldout_loss']:.4f} "
        f"| {r['minus_marginals']:+.4f} ({r['minus_marginals_se']:.4f}) |"
        for r in rows
    ]
    lines += [f"| {MARGINALS} (no AR: each token scored by its own marginal) | - | - | - | {baseline['heldout_loss']:.4f} | - |"]
    (out / "notes.md").write_text("\n".join(lines) + "\n")
    grouped_bars(
        {"held-out loss": [r["heldout_loss"] for r in [*rows, baseline]]},
        [r["ar"] for r in [*rows, baseline]],
        "nats per masked token",
        f"AR loss on {SEGMENT}-token masked segments",
        out / "ar_loss.png",
    )
    return [*rows, baseline]
