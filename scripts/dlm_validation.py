"""Held-out loss of DLM checkpoints on the same validation windows, with plain and with infilling-gap masking.

    python scripts/dlm_validation.py checkpoints/dlm runs/dlm3/checkpoint

For each checkpoint: the masked-diffusion loss (1/t-weighted, nats per window token) on 16 batches of 32
stdlib validation windows, masked anywhere (gap fraction 0), inside one gap only (1) and half and half (0.5),
every checkpoint scored on the same windows and masks. A training run's own `validation_loss` uses 4 batches
and its recipe's gap fraction, so it cannot compare runs with different recipes; this can.
"""

from __future__ import annotations

import argparse

import torch

from codila.data.corpus import load_files
from codila.data.windows import WindowSampler
from codila.models.io import load_model
from codila.tokenizer import SpecialIds
from codila.train.dlm_recipe import DlmRecipe
from codila.train.loop import evaluate_loss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+")
    parser.add_argument("--batches", type=int, default=16)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    print("| checkpoint | gap fraction 0 | 0.5 | 1 |\n|---|---|---|---|")
    for path in args.checkpoints:
        model, tokenizer, _ = load_model(path, "dlm")
        special = SpecialIds.from_tokenizer(tokenizer)
        windows = WindowSampler(load_files(None, "validation"), tokenizer, model.config.max_position_embeddings, special.eos_id)
        batches = [windows.sample(32, torch.Generator().manual_seed(args.seed + i)) for i in range(args.batches)]
        losses = [
            evaluate_loss(DlmRecipe(model, special.mask_id, gap_fraction), batches, args.seed) for gap_fraction in (0.0, 0.5, 1.0)
        ]
        print(f"| {path} | " + " | ".join(f"{loss:.4f}" for loss in losses) + " |")


if __name__ == "__main__":
    main()
