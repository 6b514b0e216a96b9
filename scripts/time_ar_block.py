"""Time the local AR's block decoding (`LocalAR.decode`) alone, compiled kernel against tensor ops.

    python scripts/time_ar_block.py                      # the compiled kernel (where it builds)
    CODILA_KERNEL=0 python scripts/time_ar_block.py      # qwen3_step's tensor ops

For each shipped AR (B=4, B=8) and N blocks at once (1, 8): the fastest of `rounds` rounds of `calls` decodes of
the same peaked random marginals (temperature 0.1, top-p 0.8, no entropies: the bench's static scope-1 rows). A
shared machine's speed drifts: the minimum is the least disturbed measurement.
"""

from __future__ import annotations

import argparse
import time
from functools import partial

import torch

from codila.eval.settings import ModelSet
from codila.models.io import SHIPPED


def fastest_microseconds(decode, rounds: int, calls: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(calls):
            decode()
        best = min(best, (time.perf_counter() - started) / calls)
    return best * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoints", default=str(SHIPPED))
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=30)
    args = parser.parse_args()
    models = ModelSet(args.checkpoints)
    for name in ("ar-b4", "ar-b8"):
        ar = models.ar(name)
        vocab = ar.embedding_matrix.shape[0]
        peaked = torch.softmax(3 * torch.randn(1, ar.block_size, vocab, generator=torch.Generator().manual_seed(0)), dim=-1)
        for n in (1, 8):
            marginals, generator = peaked.expand(n, -1, -1).contiguous(), torch.Generator().manual_seed(0)
            seconds = fastest_microseconds(partial(ar.decode, marginals, generator, with_entropy=False), args.rounds, args.calls)
            path = "compiled kernel" if ar.fast_step is not None and ar.fast_step.compiled else "tensor ops"
            print(f"{name} N={n}: {seconds:.0f} us per block ({path})")


if __name__ == "__main__":
    main()
