import pytest

from codila.errors import CodilaError
from codila.tokenizer import SPECIAL_TOKENS, SpecialIds, load_tokenizer, same_tokenizer, train_tokenizer

CODE = ["def add(a, b):\n    return a + b\n", "class A:\n\tpass  # tab\n", "x = 'héllo ✓'\n"] * 20


def test_roundtrip_is_exact_and_special_ids_are_distinct(tmp_path):
    tokenizer = train_tokenizer(CODE, 300)
    for text in CODE + ["    if x:\n        y = {1: [2]}\r\n"]:
        assert tokenizer.decode(tokenizer(text)["input_ids"]) == text
    ids = SpecialIds.from_tokenizer(tokenizer)
    assert len({ids.mask_id, ids.eos_id, ids.pad_id, ids.think_id, ids.end_think_id}) == len(SPECIAL_TOKENS)
    tokenizer.save_pretrained(tmp_path)
    assert same_tokenizer(load_tokenizer(tmp_path), tokenizer)
    assert SpecialIds.from_tokenizer(load_tokenizer(tmp_path)) == ids


def test_special_tokens_are_never_split_out_of_code():
    tokenizer = train_tokenizer(CODE, 300)
    assert tokenizer.convert_ids_to_tokens(tokenizer("<think>x</think>")["input_ids"])[0] == "<think>"


def test_bad_inputs(tmp_path):
    with pytest.raises(CodilaError, match="too small"):
        train_tokenizer(CODE, 100)
    with pytest.raises(CodilaError, match="no tokenizer.json .or vocab.json . merges.txt. in"):
        load_tokenizer(tmp_path)
