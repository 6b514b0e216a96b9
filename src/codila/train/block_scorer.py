"""`codila train block-scorer`: decode training-split spans with CoDiLA, record every candidate block's features
(codila.decoding.block_scorer.FEATURES) with the truth, and fit the block scorer on them. Resumable: the decodes are
written in chunks (a chunk on disk is never decoded again) and the fit saves its state every epoch.

The label: per position, whether the AR's token equals the true token, so a block's label is the share of its tokens
that are right -- exactly what the block rule is judged on (the committed block's correctness), defined for every
candidate of every step (not only the committed one), dense (B labels per block instead of one), and free of the
rest of the canvas (whether the file parses after a commit depends mostly on the still-masked positions around it).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from codila.data.corpus import load_files, split_hash
from codila.data.heldout import SPAN_SHARE_CAP, evaluation_spans
from codila.data.spans import InfillSpan, sample_spans
from codila.decoding.block_scorer import FEATURES, SCORER_FILE, SCORER_MANIFEST, BlockScorer, block_features
from codila.decoding.canvas import Canvas
from codila.decoding.codila import CodilaDecodeConfig
from codila.decoding.registry import decode
from codila.errors import CodilaError
from codila.stats import clustered_mean_se
from codila.train.manifest import base_manifest

SPAN_LENGTH = 32


@dataclass
class Recorder:
    """A StepObserver (codila.decoding.result) of one canvas: each step's candidates with their features and labels."""

    ids: torch.Tensor
    start: int
    end: int
    mask_id: int
    truth: torch.Tensor  # (end - start,) the true tokens
    scope: int
    rows: list = field(default_factory=list)  # (step, features (C, B, F), correct (C, B))

    def considered(self, step, positions, marginals, ar_tokens, ar_entropies) -> None:
        if ar_tokens is None or positions.dim() != 2 or bool(torch.isnan(ar_entropies).any()):
            return  # one candidate: the decoder computed no entropies (nothing was chosen)
        features = block_features(
            self.ids, self.mask_id, self.start, self.end, positions, marginals, ar_tokens, ar_entropies, self.scope
        )
        correct = (ar_tokens == self.truth[positions - self.start]).float()
        self.rows.append((step, features, correct))

    def committed(self, step, positions, tokens) -> None:
        self.ids[positions] = tokens


def training_spans(tokenizer, n: int, context: int, seed: int) -> list[InfillSpan]:
    """`n` spans of the stdlib's TRAINING split (the files the shipped models trained on)."""
    cap = max(1, math.floor(SPAN_SHARE_CAP * n))
    return sample_spans(load_files(None, "train"), tokenizer, n, SPAN_LENGTH, context, seed, max_per_file=cap)


def spans_of(split: str, tokenizer, n: int, context: int, seed: int, files: str | None = None) -> list[InfillSpan]:
    if split == "train":
        return training_spans(tokenizer, n, context, seed)
    return evaluation_spans(tokenizer, n, SPAN_LENGTH, context, files, None if files is None else split, seed)


def collect(dlm, ar, spans: list[InfillSpan], config: CodilaDecodeConfig, out: Path, chunk: int = 32, log=print) -> None:
    """Decode `spans` in chunks of `chunk` with `config`, writing out/chunk-NNNN.pt (skipped when present)."""
    out.mkdir(parents=True, exist_ok=True)
    for first in range(0, len(spans), chunk):
        path = out / f"chunk-{first // chunk:04d}.pt"
        if path.is_file():
            continue
        started = time.time()
        part = spans[first : first + chunk]
        canvases, recorders = [], []
        for span in part:
            canvas = Canvas.infill(span.prefix_ids, span.length, span.suffix_ids, dlm.mask_id, dlm.max_length)
            recorder = Recorder(
                canvas.ids.clone(), canvas.start, canvas.end, dlm.mask_id, torch.tensor(span.target_ids), config.scope
            )
            canvas.observer = recorder
            canvases.append(canvas)
            recorders.append(recorder)
        decode("codila", dlm, ar, canvases, config, seed=list(range(first, first + len(part))))
        features, correct, steps, span_index = [], [], [], []
        for offset, recorder in enumerate(recorders):
            for step, f, c in recorder.rows:
                features.append(f)
                correct.append(c)
                steps += [step] * len(f)
                span_index += [first + offset] * len(f)
        torch.save(
            {
                "features": torch.cat(features).half() if features else torch.zeros(0, ar.block_size, len(FEATURES)),
                "correct": torch.cat(correct).bool() if correct else torch.zeros(0, ar.block_size, dtype=torch.bool),
                "step": torch.tensor(steps),
                "span": torch.tensor(span_index),
                "files": [s.file for s in part],
                "first": first,
            },
            path.with_suffix(".tmp"),
        )
        path.with_suffix(".tmp").rename(path)
        log(f"{path.name}: {len(part)} spans, {len(features)} steps with a choice, {time.time() - started:.0f}s")


def load_collected(directory: Path, n: int | None = None) -> dict:
    """The chunks of `collect` as one dataset: features (N, B, F), correct (N, B), group (N,) one id per (span, step),
    span (N,), files {span: file}."""
    chunks = [torch.load(p, weights_only=True) for p in sorted(Path(directory).glob("chunk-*.pt"))]
    chunks = [c for c in chunks if n is None or c["first"] < n]  # the first n spans' chunks
    if not chunks:
        raise CodilaError(f"no collected decodes in {directory}")
    span = torch.cat([c["span"] for c in chunks])
    step = torch.cat([c["step"] for c in chunks])
    files = {c["first"] + i: f for c in chunks for i, f in enumerate(c["files"])}
    return {
        "features": torch.cat([c["features"] for c in chunks]).float(),
        "correct": torch.cat([c["correct"] for c in chunks]).float(),
        "group": span * 1000 + step,
        "span": span,
        "files": files,
    }


def rule_choices(data: dict, scores: dict[str, torch.Tensor]) -> dict[str, list[float]]:
    """Per step with a choice: the correctness of the block each rule commits. `scores` (N,) per rule, higher =
    chosen (ties: the leftmost); plus leftmost, random (the step's mean) and oracle (the best candidate)."""
    accuracy = data["correct"].mean(1)
    out: dict[str, list[float]] = {name: [] for name in [*scores, "leftmost", "random", "oracle"]}
    groups = data["group"]
    boundaries = torch.nonzero(groups[1:] != groups[:-1]).flatten() + 1
    for block in torch.tensor_split(torch.arange(len(groups)), boundaries):
        values = accuracy[block]
        for name, score in scores.items():
            out[name].append(float(values[int(score[block].argmax())]))
        out["leftmost"].append(float(values[0]))
        out["random"].append(float(values.mean()))
        out["oracle"].append(float(values.max()))
    return out


def step_files(data: dict) -> list[str]:
    groups = data["group"]
    boundaries = torch.nonzero(groups[1:] != groups[:-1]).flatten() + 1
    return [data["files"][int(data["span"][block[0]])] for block in torch.tensor_split(torch.arange(len(groups)), boundaries)]


def block_scores(scorer: BlockScorer, features: torch.Tensor) -> torch.Tensor:
    """(N,) predicted block correctness: the mean of its free positions' predicted probabilities."""
    p = scorer.probabilities(features)
    free = features[..., FEATURES.index("free")]
    return (p * free).sum(1) / free.sum(1).clamp_min(1)


def evaluate(scorer: BlockScorer, data: dict) -> dict:
    """The scorer's log loss and the committed-block correctness of each rule (mean over steps, file-clustered SE)."""
    with torch.no_grad():
        logits = scorer(data["features"])
        loss = float(torch.nn.functional.binary_cross_entropy_with_logits(logits, data["correct"]))
    scores = {
        "learned": block_scores(scorer, data["features"]),
        "ar-entropy": -data["features"][:, 0, FEATURES.index("block_ar_entropy")],
        "dlm-confidence": data["features"][:, 0, FEATURES.index("block_dlm_top1")],
    }
    choices = rule_choices(data, scores)
    clusters = step_files(data)
    result = {"log_loss": round(loss, 4), "steps": len(clusters), "files": len(set(clusters))}
    for name, values in choices.items():
        mean, se = clustered_mean_se(values, clusters)
        result[name] = {"mean": round(mean, 4), "se": round(se, 4)}
    gaps = {}
    for other in ("ar-entropy", "leftmost", "random"):
        mean, se = clustered_mean_se([a - b for a, b in zip(choices["learned"], choices[other])], clusters)
        gaps[f"learned - {other}"] = {"gap": round(mean, 4), "se": round(se, 4)}
    result["paired_gaps"] = gaps
    return result


def fit(
    train: dict,
    out: Path,
    hidden: int,
    epochs: int,
    lr: float,
    weight_decay: float,
    batch_size: int,
    seed: int,
    resume: bool,
    log=print,
) -> BlockScorer:
    """Fit the scorer on `train` with per-token binary cross-entropy (Adam, minibatches of blocks); out/state.pt
    holds the state after every epoch (`resume` continues from it)."""
    torch.manual_seed(seed)
    features, correct = train["features"], train["correct"]
    scorer = BlockScorer(len(FEATURES), hidden)
    flat = features.reshape(-1, len(FEATURES))
    scorer.mean.copy_(flat.mean(0))
    scorer.std.copy_(flat.std(0).clamp_min(1e-4))
    optimizer = torch.optim.AdamW(scorer.parameters(), lr=lr, weight_decay=weight_decay)
    out.mkdir(parents=True, exist_ok=True)
    state_path, done = out / "state.pt", 0
    if resume and state_path.is_file():
        state = torch.load(state_path, weights_only=False)
        scorer.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        done = state["epoch"]
        torch.set_rng_state(state["rng"])
        log(f"resumed at epoch {done}")
    elif state_path.is_file() and not resume:
        raise CodilaError(f"{out} holds a run already: pass --resume to continue it or choose another --out")
    for epoch in range(done, epochs):
        order = torch.randperm(len(features))
        total = 0.0
        for first in range(0, len(order), batch_size):
            index = order[first : first + batch_size]
            loss = torch.nn.functional.binary_cross_entropy_with_logits(scorer(features[index]), correct[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(index)
        torch.save(
            {"model": scorer.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch + 1, "rng": torch.get_rng_state()},
            state_path,
        )
        log(f"epoch {epoch + 1}/{epochs}: train log loss {total / len(order):.4f}")
    return scorer.eval()


def train_block_scorer(
    dlm_path: Path,
    ar_path: Path,
    out: Path,
    n: int,
    scope: int,
    hidden: int,
    epochs: int,
    lr: float,
    weight_decay: float,
    seed: int,
    resume: bool,
    validation: Path | None = None,
    split: str = "train",
    collect_only: bool = False,
    chunk: int = 32,
    log=print,
) -> dict:
    """Collect decodes of `n` training-split spans into out/data (resumable), fit the scorer, write
    out/block-scorer.pt and its manifest (copy both into the AR's directory to ship them); `validation`: a directory collected from validation spans
    (`codila train block-scorer --split validation`: the shipped held-out spans, collected only) to report on."""
    from codila.models.loading import load_ar, load_dlm

    out.mkdir(parents=True, exist_ok=True)
    dlm = load_dlm(dlm_path)
    ar = load_ar(ar_path, dlm)
    config = CodilaDecodeConfig(scope=scope)
    context = (dlm.max_length - SPAN_LENGTH) // 2
    spans = spans_of(split, dlm.tokenizer, n, context, seed)
    collect(dlm, ar, spans, config, out / "data", chunk, log)
    if collect_only or split != "train":  # held-out decodes choose and report, never train
        return {"collected": str(out / "data")}
    train = load_collected(out / "data", n)
    scorer = fit(train, out, hidden, epochs, lr, weight_decay, 256, seed, resume, log)
    metrics = {"train": evaluate(scorer, train)}
    if validation is not None:
        metrics["validation"] = evaluate(scorer, load_collected(validation))
    scorer.save(out / SCORER_FILE)
    manifest = base_manifest(
        kind="block-scorer",
        ar=str(ar_path),
        dlm=str(dlm_path),
        features=list(FEATURES),
        label="per position: the AR's token equals the true token (a block: the share of its tokens right)",
        hidden=hidden,
        parameters=sum(p.numel() for p in scorer.parameters()),
        data={
            "source": "python stdlib",
            "split": "train",
            "split_hash": split_hash(load_files(None, "train")),
            "spans": len(spans),
            "span_length": SPAN_LENGTH,
            "decoder": f"codila static scope={scope} choice=ar-entropy T={config.temperature} top-p={config.top_p}",
            "blocks": len(train["features"]),
            "seed": seed,
        },
        train={"epochs": epochs, "lr": lr, "weight_decay": weight_decay, "batch_size": 256, "loss": "binary cross-entropy"},
        metrics=metrics,
    )
    (out / SCORER_MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return metrics
