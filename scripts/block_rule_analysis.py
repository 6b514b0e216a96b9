"""Which candidate block each rule would commit, on decodes recorded by `codila train block-scorer` (the entropy
rule's trajectories, static B=4 scope 10): the share of right tokens in the block chosen by the learned scorer, the
entropy rule, the DLM-confidence rule, the leftmost candidate (scope 1's pick), a random candidate (the step's mean)
and the best candidate (the oracle), means over steps with >= 2 candidates with file-clustered SEs, and the paired
gaps of the learned rule.

    codila train block-scorer --split test --n 200 --out runs/bs-test      # decode and record (collect only)
    PYTHONPATH=src python scripts/block_rule_analysis.py runs/bs-test/data src/codila/assets/checkpoints/ar-b4
"""

from __future__ import annotations

import argparse
import json

from codila.decoding.block_scorer import BlockScorer
from codila.train.block_scorer import evaluate, load_collected


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", help="a data/ directory written by codila train block-scorer")
    parser.add_argument("scorer", help="the scorer file, or the AR directory holding block-scorer.pt")
    args = parser.parse_args()
    print(json.dumps(evaluate(BlockScorer.load(args.scorer), load_collected(args.data)), indent=1))


if __name__ == "__main__":
    main()
