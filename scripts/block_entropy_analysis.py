"""Why the paper's block rule wins or loses here: at every static CoDiLA step, each candidate block's mean AR
entropy against how many of its tokens are right (the truth of held-out spans).

    PYTHONPATH=src python scripts/block_entropy_analysis.py --n 40 --ar ar-b4 --scope 10

Decodes the first n shipped validation spans with the lowest-entropy rule and records, per step, every candidate's
mean entropy and token accuracy. Prints: the accuracy of the block the rule commits, of the leftmost candidate (what
scope 1 would commit at that step), of a candidate at random (the mean) and of the best candidate; and the Spearman
correlation of entropy with accuracy across the candidates of a step (mean over steps with >= 3 candidates).
"""

from __future__ import annotations

import argparse
import json

import torch
from scipy.stats import spearmanr

from codila.assets import SHIPPED
from codila.data.heldout import evaluation_spans
from codila.decoding import codila as codila_decoder
from codila.decoding.canvas import Canvas
from codila.decoding.codila import CodilaDecodeConfig
from codila.eval.settings import ModelSet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoints", default=str(SHIPPED))
    parser.add_argument("--ar", default="ar-b4")
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--scope", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=20)
    args = parser.parse_args()
    models = ModelSet(args.checkpoints)
    dlm, ar = models.dlm, models.ar(args.ar)
    spans = evaluation_spans(dlm.tokenizer, args.n, 32, (dlm.max_length - 32) // 2, None, "validation")
    truths = {tuple(s.prefix_ids): torch.tensor(s.target_ids) for s in spans}
    steps: list[dict] = []
    original = codila_decoder._COMMIT["static"]

    def recording(log, marginals, blocks, tokens, entropies, config, generator, scores=None):
        truth = truths[tuple(log.canvas.ids[: log.canvas.start].tolist())]
        if len(blocks) > 1:
            accuracy = (tokens == truth[blocks - log.canvas.start]).float().mean(1)
            steps.append({"entropy": entropies.mean(1).tolist(), "accuracy": accuracy.tolist()})
        original(log, marginals, blocks, tokens, entropies, config, generator, scores)

    codila_decoder._COMMIT["static"] = recording
    config = CodilaDecodeConfig(scope=args.scope)
    for first in range(0, len(spans), args.batch_size):
        chunk = spans[first : first + args.batch_size]
        canvases = [Canvas.infill(s.prefix_ids, s.length, s.suffix_ids, dlm.mask_id, dlm.max_length) for s in chunk]
        codila_decoder.decode_codila_batch(
            dlm, ar, canvases, config, [torch.Generator().manual_seed(first + i) for i in range(len(chunk))]
        )
    codila_decoder._COMMIT["static"] = original
    mean = lambda values: sum(values) / len(values)
    chosen = mean([s["accuracy"][min(range(len(s["entropy"])), key=s["entropy"].__getitem__)] for s in steps])
    leftmost = mean([s["accuracy"][0] for s in steps])
    random = mean([mean(s["accuracy"]) for s in steps])
    best = mean([max(s["accuracy"]) for s in steps])
    rhos = [
        spearmanr(s["entropy"], s["accuracy"]).statistic for s in steps if len(s["entropy"]) >= 3 and len(set(s["accuracy"])) > 1
    ]
    summary = {
        "ar": args.ar,
        "scope": args.scope,
        "spans": len(spans),
        "steps_with_a_choice": len(steps),
        "accuracy_lowest_entropy_block": chosen,
        "accuracy_leftmost_block": leftmost,
        "accuracy_random_block": random,
        "accuracy_best_block": best,
        "mean_spearman_entropy_vs_accuracy": mean(rhos) if rhos else None,
        "steps_with_rho": len(rhos),
        "mean_entropy_range": mean([max(s["entropy"]) - min(s["entropy"]) for s in steps]),
    }
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
