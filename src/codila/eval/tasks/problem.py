"""A problem of an executed code task, and the usual cut of a completion at its stop sequences."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    task_id: str
    prefix: str  # the prompt (completion) or the code before the gap (infilling)
    suffix: str  # the code after the gap; "" for completion
    reference: str  # a known-good completion or middle (the canonical solution)
    test: str  # test code appended to the program
    entry_point: str | None = None  # HumanEval-style: `check(entry_point)` is called after `test`


def cut_at_stop(text: str, stop: tuple[str, ...]) -> str:
    """`text` up to the first stop sequence (the usual post-processing of code completions)."""
    cuts = [text.index(s) for s in stop if s in text]
    return text[: min(cuts)] if cuts else text


CHAT_INSTRUCTION = "Complete the following Python code. Answer with the complete code in one ```python block.\n\n"


def extract_code(text: str) -> str:
    """A chat answer's code: the content of its first fenced block (```python or ```; an unclosed one runs to the end),
    else the whole text. It starts on a new line, so it follows a prompt ending with a docstring as a redefinition
    or as the body it continues."""
    start = text.find("```")
    if start < 0:
        return "\n" + text
    body = text[text.find("\n", start) + 1 :] if "\n" in text[start:] else ""
    end = body.find("```")
    return "\n" + (body if end < 0 else body[:end])
