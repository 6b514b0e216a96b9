"""The learned block rule (`--choice learned`, issue 31): a small model that predicts, for each token of a candidate
block, whether the local AR's token there is the true one, from what the decoder already has at that step.

Features (`FEATURES`, one row per block position): the AR's entropy there; the DLM marginal's entropy, top-1
probability and margin there; the DLM's probability of the AR's token and whether it is the DLM's top-1; whether the
position is still masked and its offset in the block; the block's means of these and their gaps to the step's best
candidate (the rule compares candidates of one step); whether the block touches committed tokens on the left and
right, its distance to the nearest committed token on each side and to the region's edges; the share of the region
still masked (the step); the candidate's rank among the offered blocks and how many were offered.

A block's predicted correctness is the mean of its positions' predictions (the expected share of its tokens that
are right); a prefix's is the mean over its still-masked positions. The scorer is `block-scorer.pt` in the AR's
directory (its manifest: `block-scorer-manifest.json`) or a file given with `--scorer`; `codila train block-scorer`
writes both.
"""

from __future__ import annotations

from pathlib import Path

from codila.errors import CodilaError
from codila.lazy import lazy_module

torch = lazy_module("torch")

SCORER_FILE = "block-scorer.pt"
SCORER_MANIFEST = "block-scorer-manifest.json"

FEATURES = (
    "ar_entropy",
    "dlm_entropy",
    "dlm_top1",
    "dlm_margin",
    "dlm_logp_ar_token",
    "ar_is_dlm_top1",
    "free",
    "offset_in_block",
    "block_ar_entropy",
    "block_dlm_entropy",
    "block_dlm_top1",
    "block_logp_ar_token",
    "block_agree",
    "gap_ar_entropy_to_best",
    "gap_dlm_top1_to_best",
    "gap_logp_ar_token_to_best",
    "gap_agree_to_best",
    "left_committed",
    "right_committed",
    "log_distance_left",
    "log_distance_right",
    "share_to_start",
    "share_to_end",
    "masked_share",
    "rank",
    "offered",
)


def block_features(ids, mask_id: int, start: int, end: int, blocks, marginals, tokens, entropies, scope: int):
    """(C, B, F) features (`FEATURES`) of the offered blocks (C, B) of one canvas `ids` (L,) whose region is
    [start, end): the DLM's marginals there (C, B, V), the AR's tokens and entropies (C, B)."""
    c, b = blocks.shape
    masked = ids == mask_id  # (L,)
    free = masked[blocks].float()  # (C, B)
    p = marginals.float()
    logp = p.clamp_min(1e-12).log()
    dlm_entropy = -(p * logp).sum(-1)
    top2 = p.topk(2, dim=-1).values
    top1, margin = top2[..., 0], top2[..., 0] - top2[..., 1]
    logp_ar = logp.gather(-1, tokens[..., None]).squeeze(-1)
    agree = (p.argmax(-1) == tokens).float()
    ar_entropy = torch.nan_to_num(entropies.float(), nan=0.0)
    offset = torch.arange(b, dtype=torch.float, device=blocks.device).expand(c, b) / max(1, b - 1)

    def block_mean(values):
        return ((values * free).sum(1) / free.sum(1).clamp_min(1))[:, None].expand(c, b)

    block_ar, block_dlm_entropy, block_top1 = block_mean(ar_entropy), block_mean(dlm_entropy), block_mean(top1)
    block_logp, block_agree = block_mean(logp_ar), block_mean(agree)
    positions = torch.arange(len(ids), device=ids.device)
    known = torch.where(~masked, positions, -1).cummax(0).values  # last committed position <= p
    known_right = torch.where(~masked, positions, len(ids)).flip(0).cummin(0).values.flip(0)  # first committed >= p
    first, last = blocks[:, 0], blocks[:, -1]
    left = known[(first - 1).clamp_min(0)]
    left = torch.where(first > 0, left, -1)
    right = known_right[(last + 1).clamp_max(len(ids) - 1)]
    right = torch.where(last + 1 < len(ids), right, len(ids))
    distance_left = (first - left).float()
    distance_right = (right - last).float()
    length = max(1, end - start)
    per_block = torch.stack(
        [
            (distance_left == 1).float(),
            (distance_right == 1).float(),
            distance_left.log(),
            distance_right.log(),
            (first - start).float() / length,
            (end - 1 - last).float() / length,
            torch.full((c,), float(masked[start:end].float().mean()), device=blocks.device),
            torch.arange(c, dtype=torch.float, device=blocks.device) / max(1, scope - 1),
            torch.full((c,), c / max(1, scope), device=blocks.device),
        ],
        -1,
    )[:, None].expand(c, b, -1)
    columns = [
        ar_entropy,
        dlm_entropy,
        top1,
        margin,
        logp_ar,
        agree,
        free,
        offset,
        block_ar,
        block_dlm_entropy,
        block_top1,
        block_logp,
        block_agree,
        block_ar - block_ar.min(),
        block_top1.max() - block_top1,
        block_logp.max() - block_logp,
        block_agree.max() - block_agree,
    ]
    return torch.cat([torch.stack(columns, -1), per_block], -1)


class BlockScorer(torch.nn.Module):
    """Standardized features -> logit that the AR's token is right; `hidden` 0 is logistic regression, else one
    hidden layer of that width."""

    def __init__(self, n_features: int, hidden: int = 0):
        super().__init__()
        self.hidden = hidden
        self.register_buffer("mean", torch.zeros(n_features))
        self.register_buffer("std", torch.ones(n_features))
        if hidden:
            self.net = torch.nn.Sequential(torch.nn.Linear(n_features, hidden), torch.nn.GELU(), torch.nn.Linear(hidden, 1))
        else:
            self.net = torch.nn.Linear(n_features, 1)

    def forward(self, features):
        return self.net((features - self.mean) / self.std).squeeze(-1)

    def probabilities(self, features):
        """(..., F) features -> (...) predicted probability that each AR token is right."""
        with torch.no_grad():
            return torch.sigmoid(self(features.to(self.mean.dtype)))

    def save(self, path: str | Path, extra: dict | None = None) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        torch.save({"features": list(FEATURES), "hidden": self.hidden, "state": self.state_dict(), **(extra or {})}, path)

    @classmethod
    def load(cls, path: str | Path) -> BlockScorer:
        path = Path(path)
        if path.is_dir():
            path = path / SCORER_FILE
        if not path.is_file():
            raise CodilaError(f"no block scorer at {path}: train one with `codila train block-scorer` or pass --scorer FILE")
        saved = torch.load(path, map_location="cpu", weights_only=True)
        if tuple(saved["features"]) != FEATURES:
            raise CodilaError(f"the block scorer {path} was trained on other features than this codila computes: retrain it")
        scorer = cls(len(FEATURES), int(saved["hidden"]))
        scorer.load_state_dict(saved["state"])
        return scorer.eval()


_LOADED: dict[str, BlockScorer] = {}


def scorer_for(ar, path: str = "") -> BlockScorer:
    """The block scorer at `path`, else the one in the AR's directory (loaded once per file)."""
    if not path:
        directory = getattr(ar, "directory", None)
        if directory is None:
            raise CodilaError("--choice learned: this AR has no block scorer beside it; pass --scorer FILE")
        path = str(Path(directory) / SCORER_FILE)
    if path not in _LOADED:
        _LOADED[path] = BlockScorer.load(path)
    return _LOADED[path]
