"""Countdown: reach the target from the given numbers with + - * /, each number used once (all of them).

    prompt  "15,44,79,50"          the numbers, then the target (the format of the shipped cd3/cd4 test files)
    answer  "44-15=29,79-29=50"    one equation per step; each operand is a given number or an earlier result

Generated like the cd3/cd4 files (numbers 1..99, targets 10..99): combine two numbers of the pool at random with a
valid operation (subtraction larger minus smaller, exact division) until one is left, which becomes the target.
The cd3/cd4 files are evaluation only: their prompts are excluded from training (`shipped_prompts`)."""

from __future__ import annotations

import random
import re
from collections import Counter
from functools import partial

from codila.assets import data_file
from codila.data.planning.base import Example, PlanningSpec, read_jsonl

EQUATION = re.compile(r"^(\d+)([-+*/])(\d+)=(\d+)$")
SHIPPED = {3: "cd3_test.jsonl", 4: "cd4_test.jsonl"}
MAX_NUMBER, TARGETS = 99, range(10, 100)


def _apply(a: int, op: str, b: int) -> int | None:
    if op == "+":
        return a + b
    if op == "*":
        return a * b
    if op == "-":
        return a - b if a >= b else None
    return a // b if b and a % b == 0 else None


def verify(prompt: str, answer: str) -> bool:
    """True when every equation is exact and uses available numbers (each given number and each result once), all
    given numbers are used, and the last result is the target."""
    try:
        *numbers, target = map(int, prompt.split(","))
    except ValueError:
        return False
    pool, unused_given = Counter(numbers), Counter(numbers)
    result = None
    for equation in answer.split(","):
        match = EQUATION.match(equation)
        if match is None:
            return False
        a, op, b, result = int(match[1]), match[2], int(match[3]), int(match[4])
        if _apply(a, op, b) != result:
            return False
        for operand in (a, b):
            if pool[operand] < 1:
                return False
            pool[operand] -= 1
            unused_given[operand] -= unused_given[operand] > 0
        pool[result] += 1
    return result == target and sum(pool.values()) == 1 and not +unused_given


def countdown(count: int, answer_length: int, rng: random.Random) -> Example:
    while True:
        numbers = [rng.randint(1, MAX_NUMBER) for _ in range(count)]
        pool, equations = list(numbers), []
        while len(pool) > 1:
            a, b = rng.sample(pool, 2)
            op = rng.choice("+-*/")
            if op in "-/" and a < b:
                a, b = b, a
            result = _apply(a, op, b)
            if result is None:
                break
            pool.remove(a)
            pool.remove(b)
            pool.append(result)
            equations.append(f"{a}{op}{b}={result}")
        if len(pool) == 1 and pool[0] in TARGETS and len(",".join(equations)) <= answer_length:
            return Example(",".join(map(str, [*numbers, pool[0]])), ",".join(equations))


def shipped_prompts() -> set[str]:
    return {e.prompt for count in SHIPPED for e in read_jsonl(data_file("countdown", SHIPPED[count]))}


ANSWER_LENGTHS = {3: 24, 4: 40}  # the longest answers of the shipped files: 21 and 34 characters


def countdown_spec(count: int) -> PlanningSpec:
    answer_length = ANSWER_LENGTHS[count]
    return PlanningSpec(
        f"cd{count}",
        "countdown",
        partial(countdown, count, answer_length),
        verify,
        prompt_length=3 * (count + 1) - 1,
        answer_length=answer_length,
        description=f"Countdown with {count} numbers",
        settings={"numbers": count},
    )
