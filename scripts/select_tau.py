"""Choose dynamic mode's tau on validation-split spans (never on the test split the demo reports).

    python scripts/select_tau.py --n 60 --taus 0.25 0.5 1.0 1.5

Prints, for DLM K=1 and for CoDiLA B=4 dynamic at each tau, the demo's metrics on validation spans.
"""

from __future__ import annotations

import argparse

from rich.console import Console

from codila.data.corpus import load_files
from codila.data.spans import sample_spans
from codila.demo import DEMO_BATCH_SIZE
from codila.decoding.codila import CodilaDecodeConfig
from codila.decoding.dlm import DlmDecodeConfig
from codila.models.io import SHIPPED
from codila.eval.infill_run import run_infill_setting
from codila.eval.settings import DecodeSetting, ModelSet
from codila.eval.table import rows_markdown, rows_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoints", default=str(SHIPPED))
    parser.add_argument("--n", type=int, default=60)
    parser.add_argument("--length", type=int, default=32)
    parser.add_argument("--taus", type=float, nargs="+", default=[0.25, 0.5, 1.0, 1.5])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=DEMO_BATCH_SIZE, help="spans decoded together (outputs do not change)")
    args = parser.parse_args()
    models = ModelSet(args.checkpoints)
    context = (models.dlm.max_length - args.length) // 2
    spans = sample_spans(load_files(None, "validation"), models.dlm.tokenizer, args.n, args.length, context, args.seed)
    settings = [DecodeSetting("dlm", DlmDecodeConfig(tokens_per_step=1))]
    settings += [DecodeSetting("codila", CodilaDecodeConfig(mode="dynamic", tau=tau), "ar-b4") for tau in args.taus]
    rows = [run_infill_setting(models, setting, spans, args.seed, batch_size=args.batch_size) for setting in settings]
    Console(width=140).print(rows_table(rows, f"validation split, {args.n} spans of {args.length} tokens"))
    print(rows_markdown(rows))


if __name__ == "__main__":
    main()
