"""Planning generators are deterministic per seed; verifiers accept generated answers and reject corrupted ones;
the shipped cd3/cd4 files parse and verify; held-out prompts never reach training."""

from __future__ import annotations

import random

import pytest
import torch

from codila.assets import data_file
from codila.data.planning.base import (
    Example,
    PlanningSpec,
    answer_ids,
    decode_answer,
    layout,
    planning_tokenizer,
    prompt_ids,
    read_jsonl,
)
from codila.data.planning.countdown import SHIPPED
from codila.data.planning.registry import SETTINGS, get_setting
from codila.data.planning.splits import TrainingStream, heldout_prompts, split_examples
from codila.errors import CodilaError
from codila.tokenizer import SpecialIds

SEEDS = range(40)
UNIQUE_ANSWER = [name for name, spec in SETTINGS.items() if not name.startswith("shortest")]  # one right answer per problem


@pytest.mark.parametrize("name", SETTINGS)
def test_generators_are_deterministic_per_seed(name):
    spec = SETTINGS[name]
    first = [spec.generate(random.Random(seed)) for seed in SEEDS]
    assert first == [spec.generate(random.Random(seed)) for seed in SEEDS]
    assert len({e.prompt for e in first}) > len(first) // 2  # seeds give different problems


@pytest.mark.parametrize("name", SETTINGS)
def test_verifiers_accept_generated_answers_that_fit_the_layout(name):
    spec = SETTINGS[name]
    tokenizer = planning_tokenizer(spec.tokenization)
    for seed in SEEDS:
        example = spec.generate(random.Random(seed))
        assert spec.verify(example.prompt, example.answer), example
        assert len(prompt_ids(spec, tokenizer, example.prompt)) == spec.prompt_length
        assert decode_answer(tokenizer, answer_ids(spec, tokenizer, example.answer)) == example.answer  # it fits


@pytest.mark.parametrize("name", SETTINGS)
def test_verifiers_reject_cut_and_extended_answers(name):
    spec = SETTINGS[name]
    for seed in SEEDS:
        example = spec.generate(random.Random(seed))
        for wrong in (example.answer[:-1], example.answer[1:], example.answer + ",1", ""):
            assert not spec.verify(example.prompt, wrong), (example, wrong)


@pytest.mark.parametrize("name", UNIQUE_ANSWER)
def test_verifiers_reject_every_single_character_change(name):
    """Path-star paths are unique, a changed digit breaks an equation, a changed cell breaks a row."""
    spec, rng = SETTINGS[name], random.Random(0)
    for seed in range(10):
        example = spec.generate(random.Random(seed))
        for position, char in enumerate(example.answer):
            other = rng.choice([c for c in "0123456789+-*/=," if c != char])
            wrong = example.answer[:position] + other + example.answer[position + 1 :]
            assert not spec.verify(example.prompt, wrong), (example, wrong)


def test_shortest_path_verifier_rejects_a_longer_valid_walk():
    prompt = "01>02,02>03,01>03|01:03"
    assert get_setting("shortest-n10-e15-h4").verify(prompt, "01,03")
    assert not get_setting("shortest-n10-e15-h4").verify(prompt, "01,02,03")  # a path, but not a shortest one
    assert not get_setting("shortest-n10-e15-h4").verify(prompt, "01,02")


@pytest.mark.parametrize("count", SHIPPED)
def test_shipped_countdown_files_parse_and_their_outputs_verify(count):
    spec = get_setting(f"cd{count}")
    examples = read_jsonl(data_file("countdown", SHIPPED[count]))
    assert len(examples) == 1000
    assert all(spec.verify(e.prompt, e.answer) for e in examples)
    tokenizer = planning_tokenizer()
    assert all(len(prompt_ids(spec, tokenizer, e.prompt)) == spec.prompt_length for e in examples)  # they fit the canvas
    assert all(decode_answer(tokenizer, answer_ids(spec, tokenizer, e.answer)) == e.answer for e in examples)


def test_countdown_verifier_needs_every_number_once():
    verify = get_setting("cd3").verify
    assert verify("15,44,79,50", "44-15=29,79-29=50")
    assert not verify("15,44,79,50", "44-15=29,79-29=50,50-0=50")  # 0 was never given
    assert not verify("2,3,4,9", "3*3=9")  # a number used twice, others unused
    assert not verify("10,5,3,2", "10/5=2")  # 3 left unused


def test_splits_are_seeded_and_disjoint_and_training_never_sees_them():
    spec = get_setting("pathstar-d2-l4")
    test, validation = split_examples(spec, "test"), split_examples(spec, "validation")
    assert test == split_examples(spec, "test") and len(test) >= 400
    assert not {e.prompt for e in test} & {e.prompt for e in validation}
    stream = TrainingStream(spec, planning_tokenizer(spec.tokenization), heldout_prompts(spec))
    seen = {e.prompt for e in stream.examples(2000, torch.Generator().manual_seed(0))}
    assert not seen & heldout_prompts(spec)


def test_training_stream_skips_heldout_prompts_of_a_small_problem_space():
    tiny = PlanningSpec("tiny", "graph", lambda rng: Example(str(rng.randrange(20)), "1"), lambda p, a: a == "1", 2, 8)
    stream = TrainingStream(tiny, planning_tokenizer(), {str(i) for i in range(10)})
    prompts = {e.prompt for e in stream.examples(200, torch.Generator().manual_seed(0))}
    assert prompts == {str(i) for i in range(10, 20)} and stream.skipped > 0


def test_countdown_training_excludes_the_shipped_test_files():
    from codila.train.planning import external_heldout

    shipped = {e.prompt for count in SHIPPED for e in read_jsonl(data_file("countdown", SHIPPED[count]))}
    assert external_heldout("countdown") == shipped and len(shipped) == 2000


def test_tokenizer_has_the_special_tokens_and_one_token_per_character():
    tokenizer = planning_tokenizer()
    special = SpecialIds.from_tokenizer(tokenizer)
    assert len({special.mask_id, special.eos_id, special.pad_id, special.think_id, special.end_think_id}) == 5
    text = "12>34,56>78|12:78"
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert len(ids) == len(text) and tokenizer.decode(ids) == text


def test_node_tokenizer_gives_each_two_digit_label_one_token():
    tokenizer = planning_tokenizer("nodes")
    tokens = tokenizer.convert_ids_to_tokens(tokenizer("07>34,34>90|07:90", add_special_tokens=False)["input_ids"])
    assert tokens == ["07", ">", "34", ",", "34", ">", "90", "|", "07", ":", "90"]
    assert tokenizer.convert_tokens_to_ids(["07", "7"]) != tokenizer.convert_tokens_to_ids(["7", "07"])
    assert len(tokenizer) == len(planning_tokenizer("chars")) + 100  # one token per label 00..99
    assert SpecialIds.from_tokenizer(tokenizer) == SpecialIds.from_tokenizer(planning_tokenizer("chars"))
    with pytest.raises(CodilaError, match="tokenization"):
        planning_tokenizer("words")


def test_graph_settings_count_node_tokens_and_their_canvas_is_exact():
    spec = get_setting("pathstar-d2-l4")  # 8 edges: 8 * "u>v" + 7 commas + "|s:g"; a path of 5 nodes: 9 tokens
    tokenizer = planning_tokenizer(spec.tokenization)
    assert (spec.tokenization, spec.prompt_length, spec.answer_length) == ("nodes", 35, 16)
    ids = answer_ids(spec, tokenizer, "41,60,51,02,12")
    assert tokenizer.convert_ids_to_tokens(ids[:10]) == ["41", ",", "60", ",", "51", ",", "02", ",", "12", "<|endoftext|>"]


def test_layout_pads_the_prompt_left_and_the_answer_with_eos():
    spec, tokenizer = get_setting("cd3"), planning_tokenizer()
    special = SpecialIds.from_tokenizer(tokenizer)
    ids = layout(spec, tokenizer, Example("1,2,3,9", "1+2=3,3*3=9")).tolist()
    assert len(ids) == spec.prompt_length + spec.answer_length
    assert ids[: spec.prompt_length - 7] == [special.pad_id] * (spec.prompt_length - 7)
    assert ids[spec.prompt_length + 11 :] == [special.eos_id] * (spec.answer_length - 11)
    assert decode_answer(tokenizer, ids[spec.prompt_length :]) == "1+2=3,3*3=9"
    with pytest.raises(CodilaError, match="outside"):
        prompt_ids(spec, tokenizer, "1,2,x")
