"""Time the DLM forward of a decoding step over a batch of canvases: one forward per canvas (what `CanvasBatch` does
on a CPU: exact batching) against one forward for the whole group (what it does on an accelerator).

    python scripts/time_batch_forward.py --rounds 5

Canvases like the demo's: a 32-token masked span between a prefix and a suffix of Python source (argparse's), 96 or 128 tokens in all (the
shipped DLM's window is 128), the 32 span positions through the output layer. The two ways take turns within each round (a shared machine's speed
drifts); each figure is the fastest round's, as CPU time of this process (one thread, other jobs' time not counted).
"""

from __future__ import annotations

import argparse
import time
from functools import partial
from pathlib import Path

import torch

from codila.decoding.batch import CanvasBatch
from codila.decoding.canvas import Canvas
from codila.models.io import SHIPPED
from codila.models.loading import load_dlm


def fastest(call, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        call()
        best = min(best, time.process_time() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    dlm = load_dlm(SHIPPED / "dlm")
    source = dlm.tokenizer(Path(argparse.__file__).read_text())["input_ids"]
    print(f"{'tokens':>6} {'canvases':>8} {'grouped ms':>10} {'per canvas ms':>13} {'ratio':>5}")
    for length in (96, 128):
        prefix = (length - 32) // 2
        for count in (8, 32):
            context = [source[i * length : i * length + length - 32] for i in range(count)]
            canvases = [Canvas.infill(ids[:prefix], 32, ids[prefix:], dlm.mask_id, dlm.max_length) for ids in context]
            batch, rows = CanvasBatch(canvases), list(range(count))
            positions = [torch.arange(prefix, prefix + 32)] * count
            with torch.no_grad():
                grouped = fastest(partial(batch._grouped, dlm, rows, positions), args.rounds)
                alone = fastest(partial(batch.logits, dlm, rows, positions), args.rounds)
            print(f"{length:>6} {count:>8} {grouped * 1e3:>10.0f} {alone * 1e3:>13.0f} {alone / grouped:>5.2f}")


if __name__ == "__main__":
    main()
