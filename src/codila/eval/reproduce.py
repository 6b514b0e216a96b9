"""`codila reproduce paper`: the paper's reported rows (arXiv 2603.20216; Dream-Coder-Instruct-7B + Qwen3-0.6B ARs,
DreamOn for infilling) run with the paper's settings on the models you give, written as one table beside the
paper's numbers, each row with the `codila eval` command that makes it alone.

The rows: Table 1 (HumanEval and MBPP pass@1 and tokens/s, CoDiLA static scope 10 at B = 2/4/8, soft and top-1
conditioning, and the DLM alone), the syntax-error rows (HumanEval, DLM at K = 2/4/8 against CoDiLA at B = 2/4/8),
the scope ablation (B=4, scopes 10/20/30/50) and the infilling rows (HumanEval-Infilling single-line on the infilling
DLM: the DLM at 1 and 2 tokens per step, CoDiLA B=4 dynamic at tau 0.2 and 0.5). The paper's sampling: AR
temperature 0.1, top-p 0.8 (the codila decoder's defaults); the DLM alone on completions: its authors' sampler
(`--steps L/K --reference`: Dream's schedule and numerics for a Dream model) with Dream-Coder's published sampling
(entropy order, temperature 0.1, top-p 0.95); on infilling (a length per problem) K tokens per step, greedy.

Each task is one `codila eval` run folder under `out` (resumable: run the command again to continue)."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

from codila.decoding.codila import CodilaDecodeConfig
from codila.decoding.defaults import PAPER_SCOPE
from codila.decoding.dlm import DlmDecodeConfig
from codila.decoding.options import cli_flags
from codila.errors import CodilaError
from codila.eval.runner import EvalOptions, run_eval
from codila.eval.settings import DecodeSetting, ModelSet

INFILL_TASK = "humaneval-infilling-single-line"


@dataclass(frozen=True)
class PaperRow:
    section: str
    task: str
    setting: DecodeSetting
    paper: dict  # the paper's numbers for this row: pass_at_1, tokens_per_s, syntax_error_rate, tokens_per_step
    infill: bool = False  # decoded with the infilling DLM (DreamOn in the paper)


def _codila(block: int, top1: bool, top1_ars: set[str], **options) -> DecodeSetting:
    """CoDiLA at B with the paper's static scope; top-1 conditioning from a top-1 AR when the folder has one, else the
    soft AR read with top-1 marginals (as `codila eval --sweep paper`)."""
    config = CodilaDecodeConfig(**{"scope": PAPER_SCOPE, **options})
    if top1 and f"ar-b{block}-top1" in top1_ars:
        return DecodeSetting("codila", config, f"ar-b{block}-top1")
    return DecodeSetting("codila", config, f"ar-b{block}", "top1" if top1 else None)


# Dream-Coder's published generation settings (alg entropy, temperature 0.1, top-p 0.95, steps = the length)
DREAM_CODER_SAMPLING = {"selection": "entropy", "temperature": 0.1, "top_p": 0.95}


def _dlm_alone(length: int, k: int) -> DecodeSetting:
    """The DLM alone at K tokens per step on average, as its authors' sampler decodes: L/K steps of its family's
    schedule, reference numerics, Dream-Coder's published sampling."""
    return DecodeSetting("dlm", DlmDecodeConfig(steps=max(1, length // k), reference=True, **DREAM_CODER_SAMPLING))


def paper_rows(top1_ars: set[str] = frozenset(), length: int = 512) -> list[PaperRow]:
    """Every row the paper reports, with its numbers (pass@1 as a fraction); `length`: tokens per completion."""
    table = {
        "humaneval": {"soft": [(0.689, 18), (0.518, 33), (0.299, 60)], "top1": [(0.555, 22), (0.366, 33), (0.183, 66)]},
        "mbpp": {"soft": [(0.690, 27), (0.556, 47), (0.400, 80)], "top1": [(0.494, 26), (0.335, 46), (0.217, 73)]},
    }
    rows = [PaperRow("Table 1", "humaneval", _dlm_alone(length, 1), {"pass_at_1": 0.744, "tokens_per_s": 9})]
    for task, kinds in table.items():
        for kind, numbers in kinds.items():
            for block, (pass_at_1, speed) in zip((2, 4, 8), numbers):
                paper = {"pass_at_1": pass_at_1, "tokens_per_s": speed}
                if task == "humaneval" and kind == "soft":
                    paper["syntax_error_rate"] = {2: 0.04, 4: 0.13, 8: 0.16}[block]
                rows.append(PaperRow("Table 1", task, _codila(block, kind == "top1", top1_ars), paper))
    rows += [
        PaperRow("syntax errors", "humaneval", _dlm_alone(length, k), {"syntax_error_rate": rate})
        for k, rate in ((2, 0.18), (4, 0.38), (8, 0.70))
    ]
    rows += [
        PaperRow("scope ablation", "humaneval", _codila(4, False, top1_ars, scope=scope), {"pass_at_1": rate})
        for scope, rate in ((20, 0.493), (30, 0.451), (50, 0.421))  # scope 10 is Table 1's B=4 soft row (51.8)
    ]
    rows += [
        PaperRow("infilling", INFILL_TASK, DecodeSetting("dlm", DlmDecodeConfig(tokens_per_step=k)), {"pass_at_1": rate}, True)
        for k, rate in ((1, 0.625), (2, 0.531))
    ]
    rows += [
        PaperRow("infilling", INFILL_TASK, _codila(4, False, top1_ars, mode="dynamic", tau=tau), paper, True)
        for tau, paper in (
            (0.2, {"pass_at_1": 0.625, "tokens_per_step": 1.3}),
            (0.5, {"pass_at_1": 0.615, "tokens_per_step": 1.5}),
        )
    ]
    return rows


def eval_command(row: PaperRow, dlm: str, ar_dir: str, options: EvalOptions, model_flags: str) -> str:
    """The `codila eval` command that runs this row alone."""
    setting = row.setting
    parts = ["codila eval", row.task, "--dlm", dlm, "--decoder", setting.method]
    parts += cli_flags(setting.config)
    if setting.ar is not None:
        parts += ["--checkpoints", ar_dir, "--ar", setting.ar]
    if setting.conditioning:
        parts += ["--conditioning", setting.conditioning]
    if options.plan.chat and not row.infill:
        parts.append("--chat")
    parts += [f"--completion-length {options.plan.completion_length}"] if not row.infill else []
    parts += [f"--limit {options.limit}"] if options.limit else []
    return " ".join(parts + ([model_flags] if model_flags else []))


def reproduce_paper(
    dlm_models: ModelSet,
    out: str | Path,
    options: EvalOptions,
    infill_models: ModelSet | None = None,
    progress: bool = True,
    sources: dict | None = None,
) -> list[dict]:
    """Run every paper row on `dlm_models` (its folder holds ar-b2, ar-b4, ar-b8 and optionally ar-bB-top1) and, for
    the infilling rows, `infill_models` (None: those rows are skipped). One dict per row: the paper's numbers beside
    ours (`ours`: the eval row) and the command. Writes `paper.md` and `paper.jsonl` in `out`. `sources`: how the
    commands name the models: dlm, ar_dir, infill_dlm, infill_ar_dir, flags (device, dtype, family)."""
    sources = {"dlm": "DLM", "ar_dir": "AR_DIR", "infill_dlm": "INFILL_DLM", "infill_ar_dir": "AR_DIR", "flags": ""} | (
        sources or {}
    )
    out = Path(out)
    top1 = {name for name in dlm_models.ar_names() if name.endswith("-top1")}
    rows = [row for row in paper_rows(top1, options.plan.completion_length) if infill_models is not None or not row.infill]
    missing = sorted({row.setting.ar for row in rows if row.setting.ar} - set(dlm_models.ar_names()))
    if missing:
        raise CodilaError(f"{dlm_models.root} has no {', '.join(missing)}: the paper's rows need an AR for B = 2, 4 and 8")
    skipped = [row for row in rows if _needs_top1_ar(row, infill_models if row.infill else dlm_models)]
    rows = [row for row in rows if row not in skipped]
    results = []
    for task, infill in dict.fromkeys((row.task, row.infill) for row in rows):
        models = infill_models if infill else dlm_models
        group = [row for row in rows if (row.task, row.infill) == (task, infill)]
        settings = list(dict.fromkeys(row.setting for row in group))
        task_options = replace(options, plan=replace(options.plan, chat=options.plan.chat and not infill))
        folder = out / (f"{task}-infill-dlm" if infill else task)
        evaluated = run_eval(task, settings, folder, task_options, models.root, resume=True, progress=progress, models=models)
        by_label = {row["label"]: row for row in evaluated}
        for row in group:
            ours = by_label[row.setting.label(models.for_setting(row.setting))]
            dlm, ar_dir = (sources["infill_dlm"], sources["infill_ar_dir"]) if infill else (sources["dlm"], sources["ar_dir"])
            command = eval_command(row, dlm, ar_dir, options, sources["flags"])
            results.append(
                {
                    "section": row.section,
                    "task": task,
                    "label": ours["label"],
                    "paper": row.paper,
                    "ours": ours,
                    "command": command,
                }
            )
    results += [
        {"section": row.section, "task": row.task, "label": row.setting.label(_Named(row)), "paper": row.paper, "ours": None,
         "command": None, "skipped": f"needs {row.setting.ar}-top1: the soft AR {row.setting.ar} has the residual path"}
        for row in skipped
    ]  # fmt: skip
    (out / "paper.jsonl").write_text("".join(json.dumps(result) + "\n" for result in results))
    (out / "paper.md").write_text(paper_markdown(results))
    return results


def _needs_top1_ar(row: PaperRow, models: ModelSet) -> bool:
    """A top-1 row read from a soft AR whose residual marginal path cannot take top-1 marginals: it needs its own AR."""
    return row.setting.conditioning == "top1" and bool(getattr(models.ar(row.setting.ar), "residual", False))


@dataclass(frozen=True)
class _Named:
    """What a label needs of an AR that was not loaded (a skipped row)."""

    row: PaperRow

    @property
    def block_size(self) -> int:
        return int(self.row.setting.ar.removeprefix("ar-b"))

    conditioning = "top1"


def _percent(value) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def paper_markdown(results: list[dict]) -> str:
    """One table: each row's paper numbers beside ours (pass@1 with its problem-clustered SE), then the commands."""
    lines = [
        "| section | task | setting | pass@1 % paper | pass@1 % ours | syntax err % paper | ours | tokens/s paper | ours "
        "| tokens/step paper | ours |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for result in results:
        paper, ours = result["paper"], result["ours"]
        if ours is None:
            lines.append(f"| {result['section']} | {result['task']} | {result['label']} | {_percent(paper.get('pass_at_1'))} | "
                         f"skipped: {result['skipped']} | | | | | | |")  # fmt: skip
            continue
        se = ours.get("pass_at_1_se")
        mine = _percent(ours.get("pass_at_1")) + ("" if se is None else f" ± {100 * se:.1f}")
        lines.append(
            f"| {result['section']} | {result['task']} | {result['label']} | {_percent(paper.get('pass_at_1'))} | {mine} | "
            f"{_percent(paper.get('syntax_error_rate'))} | {_percent(ours.get('syntax_error_rate'))} | "
            f"{paper.get('tokens_per_s', '-')} | {ours['tokens_per_s']:.1f} | {paper.get('tokens_per_step', '-')} | "
            f"{ours['tokens_per_step']:.2f} |"
        )
    lines += ["", "Each row alone:", ""]
    lines += [f"- {result['label']} ({result['task']}): `{result['command']}`" for result in results if result["command"]]
    return "\n".join(lines) + "\n"
