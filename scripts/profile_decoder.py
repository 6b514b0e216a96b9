"""Profile one decoder setting of `codila bench` with pyinstrument: where a decoding step's time goes.

    pip install -e ".[profile]"
    OMP_NUM_THREADS=1 python scripts/profile_decoder.py "CoDiLA B=4 static soft scope=1" --n 10

Decodes `n` held-out test spans (after 2 untimed warm-up spans) and prints the call tree.
"""

from __future__ import annotations

import argparse

from pyinstrument import Profiler

from codila.bench import WARMUP_SPANS, bench_settings
from codila.data.corpus import load_files
from codila.data.spans import sample_spans
from codila.eval.infill_run import run_infill_setting
from codila.eval.settings import ModelSet
from codila.models.io import SHIPPED


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("setting", help='a label of `codila bench`, e.g. "DLM K=1" or "CoDiLA B=4 static soft scope=1"')
    parser.add_argument("--checkpoints", default=str(SHIPPED))
    parser.add_argument("--n", type=int, default=10)
    parser.add_argument("--length", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=1)
    args = parser.parse_args()
    models = ModelSet(args.checkpoints)
    by_label = {setting.label(models.for_setting(setting)): setting for setting in bench_settings()}
    if args.setting not in by_label:
        parser.error(f"unknown setting {args.setting!r}; choose one of: {', '.join(by_label)}")
    setting = by_label[args.setting]
    context = (models.dlm.max_length - args.length) // 2
    spans = sample_spans(load_files(None, "test"), models.dlm.tokenizer, args.n + WARMUP_SPANS, args.length, context, 0)
    run_infill_setting(models, setting, spans[:WARMUP_SPANS], 0, batch_size=WARMUP_SPANS)
    profiler = Profiler(interval=0.001)
    with profiler:
        row = run_infill_setting(models, setting, spans[WARMUP_SPANS:], 0, batch_size=args.batch_size)
    print(f"{args.setting}: {row['tokens_per_s']:.1f} tokens/s, AR share {row['ar_time_share']:.1%}")
    print(profiler.output_text(unicode=True, color=False))


if __name__ == "__main__":
    main()
