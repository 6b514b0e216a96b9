"""Time the local AR's block decoding (`LocalAR.decode`) alone, the fast path against transformers.

    python scripts/time_ar_block.py                                 # the fast path (where it builds), -march=native
    CODILA_FAST_AR_MARCH=haswell python scripts/time_ar_block.py    # the fast path built for AVX2 without AVX-512
    CODILA_FAST_AR=0 python scripts/time_ar_block.py                # transformers

For each shipped AR (B=4, B=8) and N blocks at once (1, 8): the fastest of `rounds` rounds of `calls` decodes of
the same peaked random marginals (temperature 0.1, top-p 0.8, no entropies: the bench's static scope-1 rows). A
shared machine's speed drifts: the minimum is the least disturbed measurement. `--clock cpu` measures the process's
CPU time on one thread instead of wall time: on a machine whose cores other jobs share, it does not count the time
the process waited for a core.
"""

from __future__ import annotations

import argparse
import time
from functools import partial

import torch

from codila.eval.settings import ModelSet
from codila.models import fast_ar
from codila.models.io import SHIPPED


def fastest_microseconds(decode, rounds: int, calls: int, clock=time.perf_counter) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = clock()
        for _ in range(calls):
            decode()
        best = min(best, (clock() - started) / calls)
    return best * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoints", default=str(SHIPPED))
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=30)
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    args = parser.parse_args()
    clock = time.perf_counter
    if args.clock == "cpu":
        torch.set_num_threads(1)
        clock = time.process_time
    models = ModelSet(args.checkpoints)
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    print(f"CPU: {cpu}; AVX-512: {'avx512f' in open('/proc/cpuinfo').read()}; torch threads: {torch.get_num_threads()}")
    for name in ("ar-b4", "ar-b8"):
        ar = models.ar(name)
        vocab = ar.embedding_matrix.shape[0]
        peaked = torch.softmax(3 * torch.randn(1, ar.block_size, vocab, generator=torch.Generator().manual_seed(0)), dim=-1)
        for n in (1, 8):
            marginals, generator = peaked.expand(n, -1, -1).contiguous(), torch.Generator().manual_seed(0)
            seconds = fastest_microseconds(
                partial(ar.decode, marginals, generator, with_entropy=False), args.rounds, args.calls, clock
            )
            path = f"fast path, -march={fast_ar._build_flags()[1][7:]}" if ar.fast.available else "transformers"
            print(f"{name} N={n}: {seconds:.0f} us per block ({path}, {args.clock} time)")


if __name__ == "__main__":
    main()
