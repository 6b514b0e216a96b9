"""Choose CoDiLA's settings on validation-split spans (never on the test split the demo reports).

    python scripts/select_on_validation.py --n 60 --taus 0.5 1 2 3 4 5 6 8
    python scripts/select_on_validation.py --n 60 --mode static --block-sizes 4 8 --scopes 1 2 3 5 10
    python scripts/select_on_validation.py --n 200 --mode static --scopes 2 10 --choices ar-entropy dlm-confidence
    python scripts/select_on_validation.py --n 200 --mode static --scopes 1 --semi-ar-blocks 8 16 32 --caches prefix dual
    python scripts/select_on_validation.py --n 200 --mode static --block-sizes 4 8 --scopes 1 --dlm-ks 1 4 8

Prints the demo's metrics (floors first) on the shipped validation spans for DLM K=1 (the reference, unless --no-reference; --dlm-ks 1 4 8 adds
the DLM at more tokens per step) and for every combination of the given block sizes, scopes, block choices, taus
(dynamic mode only), semi-AR windows and DLM caches (with a window).
"""

from __future__ import annotations

import argparse
import itertools
import json

from rich.console import Console

from codila.data.heldout import evaluation_spans
from codila.decoding.codila import CHOICES, MODES, CodilaDecodeConfig
from codila.decoding.dlm import DlmDecodeConfig
from codila.decoding.forward import CACHES
from codila.demo import DEMO_BATCH_SIZE
from codila.eval.infill_run import run_infill_setting
from codila.eval.metrics import floor_rows
from codila.eval.settings import DecodeSetting, ModelSet
from codila.eval.sweeps import DEMO_TEMPERATURE, DEMO_TOP_P
from codila.eval.table import rows_markdown, rows_table
from codila.models.io import SHIPPED


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoints", default=str(SHIPPED))
    parser.add_argument("--n", type=int, default=60)
    parser.add_argument("--length", type=int, default=32)
    parser.add_argument("--mode", choices=MODES, default="dynamic")
    parser.add_argument("--block-sizes", type=int, nargs="+", default=[4])
    parser.add_argument("--scopes", type=int, nargs="+", default=[CodilaDecodeConfig.scope])
    parser.add_argument("--choices", nargs="+", choices=CHOICES, default=[CodilaDecodeConfig.choice])
    parser.add_argument("--semi-ar-blocks", type=int, nargs="+", default=[0], help="CoDiLA windows (0 = none)")
    parser.add_argument("--caches", nargs="+", choices=CACHES, default=["none"], help="DLM caches (with windows)")
    parser.add_argument("--taus", type=float, nargs="+", default=[CodilaDecodeConfig.tau])
    parser.add_argument("--no-reference", action="store_true", help="skip the DLM rows")
    parser.add_argument("--dlm-ks", type=int, nargs="+", default=[1], help="DLM rows (the reference) at these tokens per step")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ar-suffix", default="", help="AR checkpoint names are ar-b{B}{suffix}, e.g. -top1")
    parser.add_argument("--batch-size", type=int, default=DEMO_BATCH_SIZE, help="spans decoded together (outputs do not change)")
    args = parser.parse_args()
    models = ModelSet(args.checkpoints)
    context = (models.dlm.max_length - args.length) // 2
    spans = evaluation_spans(models.dlm.tokenizer, args.n, args.length, context, None, "validation")
    taus = args.taus if args.mode == "dynamic" else [CodilaDecodeConfig.tau]
    sampling = {"temperature": DEMO_TEMPERATURE, "top_p": DEMO_TOP_P}  # every row samples alike, as in the demo
    settings = (
        [] if args.no_reference else [DecodeSetting("dlm", DlmDecodeConfig(tokens_per_step=k, **sampling)) for k in args.dlm_ks]
    )
    grid = itertools.product(args.block_sizes, args.scopes, args.choices, taus, args.semi_ar_blocks, args.caches)
    settings += [
        DecodeSetting(
            "codila",
            CodilaDecodeConfig(
                mode=args.mode, scope=scope, tau=tau, choice=choice, semi_ar_block=window, cache=cache, **sampling
            ),
            f"ar-b{block}{args.ar_suffix}",
        )
        for block, scope, choice, tau, window, cache in grid
        if window or cache == "none"
    ]
    rows = floor_rows(spans, models.dlm.tokenizer)
    for setting in settings:
        rows.append(run_infill_setting(models, setting, spans, args.seed, batch_size=args.batch_size))
        print(json.dumps(rows[-1]), flush=True)
    Console(width=160).print(rows_table(rows, f"shipped validation spans, {args.n} spans of {args.length} tokens"))
    print(rows_markdown(rows))


if __name__ == "__main__":
    main()
