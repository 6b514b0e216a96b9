"""The copula check: Theorem 3.3 of the paper as numbers.

A tiny DLM and two local ARs (B=2, soft and top-1 conditioning) are trained on samples of exactly known joint
distributions of two-token blocks; then each decoder draws blocks and we measure the total-variation (TV)
distance between the distribution of decoded blocks and the true joint:

- DLM parallel (K=2): both tokens sampled independently from their marginals, so at best the product of marginals;
- CoDiLA top-1: the AR sees only each position's most likely token;
- CoDiLA soft: the AR sees the whole marginals (their expected embeddings).

Training sequences are `[context, =>, x1, x2]`: the context token picks the joint. Joints:
- `paper`: the paper's example, q(Roger,Roger)=0.45, q(Houston,You)=q(Houston,I)=0.25, q(Houston,They)=0.05;
- `shared-top1-i`: a family of harder joints over six other words. Every one puts 0.4 on (w0, w0) and couples
  the rest differently (weights 0.3/0.2/0.1 on random pairs), so every one has the same top-1 marginals
  (w0, w0): a top-1 AR cannot tell them apart, soft marginals can. This is the information soft conditioning
  keeps and top-1 throws away.
The floor row is the TV of the same number of exact samples from the true joint (the sampling noise).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import PreTrainedTokenizerFast, Qwen3ForCausalLM

from codila.decoding.canvas import Canvas
from codila.decoding.codila import CodilaDecodeConfig
from codila.decoding.dlm import DlmDecodeConfig
from codila.decoding.registry import decode
from codila.models.dlm import DiffusionLM
from codila.models.local_ar import LocalAR
from codila.models.presets import qwen3_config
from codila.tokenizer import train_tokenizer
from codila.train.ar_recipe import ArRecipe
from codila.train.dlm_recipe import DlmRecipe
from codila.train.loop import TrainConfig, train

Joint = dict[tuple[str, str], float]
PAPER_JOINT: Joint = {("Roger", "Roger"): 0.45, ("Houston", "You"): 0.25, ("Houston", "I"): 0.25, ("Houston", "They"): 0.05}
SHARED_WORDS = tuple(f"w{i}" for i in range(6))
SEPARATOR = "=>"
WINDOW = 4  # [context, =>, x1, x2]: the block (x1, x2) is the second block of B=2


def shared_top1_joints(count: int, generator: torch.Generator) -> list[Joint]:
    """`count` joints with the same top-1 marginals (w0, w0) and different couplings of the other words."""
    joints = []
    others = list(SHARED_WORDS[1:])
    for _ in range(count):
        firsts = [others[i] for i in torch.randperm(len(others), generator=generator)[:3]]
        seconds = [others[i] for i in torch.randperm(len(others), generator=generator)[:3]]
        joints.append({(SHARED_WORDS[0], SHARED_WORDS[0]): 0.4, **dict(zip(zip(firsts, seconds), (0.3, 0.2, 0.1)))})
    return joints


def total_variation(counts: dict[tuple[str, str], int], joint: Joint) -> float:
    n = sum(counts.values())
    support = set(counts) | set(joint)
    return 0.5 * sum(abs(counts.get(pair, 0) / n - joint.get(pair, 0.0)) for pair in support)


@dataclass
class JointSampler:
    """Training windows `[context, =>, x1, x2]` (the sampler interface of the training loop)."""

    joints: dict[str, Joint]
    tokenizer: PreTrainedTokenizerFast
    length: int = WINDOW

    def sample(self, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        ids = self.tokenizer.convert_tokens_to_ids
        names = list(self.joints)
        rows = []
        for pick in torch.randint(len(names), (batch_size,), generator=generator).tolist():
            joint = self.joints[names[pick]]
            pairs = list(joint)
            a, b = pairs[int(torch.multinomial(torch.tensor(list(joint.values())), 1, generator=generator))]
            rows.append([ids(names[pick]), ids(SEPARATOR), ids(a), ids(b)])
        return torch.tensor(rows, dtype=torch.long)


def copula_tokenizer(joints: dict[str, Joint]) -> PreTrainedTokenizerFast:
    """The byte-level tokenizer with every context and word as one added token."""
    tokenizer = train_tokenizer(["x"], 256 + 8)
    words = sorted({w for joint in joints.values() for pair in joint for w in pair})
    tokenizer.add_tokens([*joints, SEPARATOR, *words])
    return tokenizer


def _train_models(joints: dict[str, Joint], out: Path, steps: int, seed: int) -> tuple[DiffusionLM, dict[str, LocalAR]]:
    tokenizer = copula_tokenizer(joints)
    sampler = JointSampler(joints, tokenizer)
    config = TrainConfig(steps=steps, batch_size=64, lr=3e-3, eval_every=steps, eval_batches=2, save_every_seconds=1e9, seed=seed)
    torch.manual_seed(seed)  # transformers initialises weights from the global generator
    dlm_model = Qwen3ForCausalLM(qwen3_config("test", len(tokenizer), WINDOW, bidirectional=True))
    dlm = DiffusionLM(dlm_model, tokenizer)
    train(DlmRecipe(dlm_model, dlm.mask_id), tokenizer, sampler, sampler, config, out / "dlm", progress=False)
    dlm_model.eval()
    for parameter in dlm_model.parameters():
        parameter.requires_grad_(False)
    ars = {}
    for conditioning in ("soft", "top1"):
        torch.manual_seed(seed)
        ar_model = Qwen3ForCausalLM(qwen3_config("test", len(tokenizer), 2 * 2 + 2, bidirectional=False))
        ar = LocalAR(ar_model, tokenizer, 2, conditioning)
        train(ArRecipe(ar, dlm), tokenizer, sampler, sampler, config, out / f"ar-{conditioning}", progress=False)
        ar_model.eval()
        ars[conditioning] = ar
    return dlm, ars


def run_copula_check(out: str | Path, samples: int = 1000, steps: int = 600, harder: int = 4, seed: int = 0) -> list[dict]:
    """Train, decode `samples` blocks per joint with each decoder, return one row per (joint, decoder)."""
    out = Path(out)
    generator = torch.Generator().manual_seed(seed)
    joints = {"paper": PAPER_JOINT, **{f"shared-top1-{i}": j for i, j in enumerate(shared_top1_joints(harder, generator), 1)}}
    dlm, ars = _train_models(joints, out, steps, seed)
    ids, tokens = dlm.tokenizer.convert_tokens_to_ids, dlm.tokenizer.convert_ids_to_tokens
    decoders = {  # (decoder, AR, config)
        "DLM parallel (K=2)": ("dlm", None, DlmDecodeConfig(tokens_per_step=2, temperature=1.0)),
        "CoDiLA top-1": ("codila", ars["top1"], CodilaDecodeConfig(temperature=1.0, top_p=1.0)),
        "CoDiLA soft": ("codila", ars["soft"], CodilaDecodeConfig(temperature=1.0, top_p=1.0)),
    }
    rows = []
    for name, joint in joints.items():
        canvas = Canvas.completion([ids(name), ids(SEPARATOR)], 2, dlm.mask_id, WINDOW)
        pairs = list(joint)
        exact = torch.multinomial(torch.tensor(list(joint.values())), samples, replacement=True, generator=generator).tolist()
        floor: dict[tuple[str, str], int] = {}
        for index in exact:
            floor[pairs[index]] = floor.get(pairs[index], 0) + 1
        rows.append({"joint": name, "decoder": "exact samples (floor)", "tv": total_variation(floor, joint), "samples": samples})
        for decoder, (method, ar, config) in decoders.items():
            counts: dict[tuple[str, str], int] = {}
            seeds = torch.randint(0, 2**62, (samples,), generator=generator).tolist()  # one sample per seed, as one batch
            for result in decode(method, dlm, ar, [canvas] * samples, config, seeds):
                pair = tuple(tokens(result.generated.tolist()))
                counts[pair] = counts.get(pair, 0) + 1
            rows.append({"joint": name, "decoder": decoder, "tv": total_variation(counts, joint), "samples": samples})
    (out / "copula.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    write_summary(rows, out)
    return rows


def mean_tv(rows: list[dict], decoder: str, family: str = "") -> float:
    """Mean TV of `decoder` over the joints whose name starts with `family` ("" = all)."""
    values = [row["tv"] for row in rows if row["decoder"] == decoder and row["joint"].startswith(family)]
    return sum(values) / len(values)


def write_summary(rows: list[dict], out: Path) -> None:
    """notes.md (a Markdown table: joints x decoders, TV) and copula.png (grouped bars)."""
    from codila.analysis.plots import grouped_bars

    decoders = list(dict.fromkeys(row["decoder"] for row in rows))
    joints = list(dict.fromkeys(row["joint"] for row in rows))
    tv = {(row["joint"], row["decoder"]): row["tv"] for row in rows}
    lines = [
        "Copula check: total-variation distance between decoded blocks and the true joint (lower is better).",
        f"{rows[0]['samples']} decoded blocks per joint and decoder.",
        "",
        "| joint | " + " | ".join(decoders) + " |",
        "|---|" + "---|" * len(decoders),
    ]
    lines += [f"| {joint} | " + " | ".join(f"{tv[joint, d]:.3f}" for d in decoders) + " |" for joint in joints]
    lines.append("| mean | " + " | ".join(f"{mean_tv(rows, d):.3f}" for d in decoders) + " |")
    (out / "notes.md").write_text("\n".join(lines) + "\n")
    grouped_bars(
        {d: [tv[j, d] for j in joints] for d in decoders},
        joints,
        "TV distance to the true joint",
        "copula check (lower is better)",
        out / "copula.png",
    )
