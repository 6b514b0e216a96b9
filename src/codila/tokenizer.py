"""Byte-level BPE tokenizer shared by the DLM and the local AR; special tokens live here only.

Our tiny models use a tokenizer trained on the training split. Paper-scale models (Dream-Coder, Qwen3)
bring their own Hugging Face tokenizer: `load_tokenizer` reads either from a local directory.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from codila.errors import CodilaError

MASK_TOKEN = "<|mask|>"
EOS_TOKEN = "<|endoftext|>"
PAD_TOKEN = "<|pad|>"
THINK_TOKEN = "<think>"
END_THINK_TOKEN = "</think>"
SPECIAL_TOKENS = (PAD_TOKEN, EOS_TOKEN, MASK_TOKEN, THINK_TOKEN, END_THINK_TOKEN)


@dataclass(frozen=True)
class SpecialIds:
    """Ids of the special tokens the decoders need, resolved by token string (never hard-coded)."""

    mask_id: int
    eos_id: int
    pad_id: int
    think_id: int
    end_think_id: int

    @classmethod
    def from_tokenizer(cls, tokenizer: PreTrainedTokenizerFast) -> "SpecialIds":
        vocab = tokenizer.get_vocab()
        missing = [t for t in SPECIAL_TOKENS if t not in vocab]
        if missing:
            raise CodilaError(f"tokenizer lacks special tokens {missing}; `codila train dlm` builds a tokenizer that has them")
        return cls(vocab[MASK_TOKEN], vocab[EOS_TOKEN], vocab[PAD_TOKEN], vocab[THINK_TOKEN], vocab[END_THINK_TOKEN])

    def never_generated(self, extra: Iterable[int] = ()) -> torch.Tensor:
        """Ids no decoded position may take: the mask itself, padding and the AR's frame tokens (EOS may, also where it
        doubles as padding), plus `extra`; -1 (a token this tokenizer lacks) is skipped."""
        ids = [self.mask_id, self.pad_id, self.think_id, self.end_think_id, *extra]
        return torch.tensor(sorted({i for i in ids if i >= 0 and i != self.eos_id}), dtype=torch.long)


def train_tokenizer(texts: Iterable[str], vocab_size: int) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE (no normalisation, so decode(encode(code)) == code byte for byte)."""
    if vocab_size < 256 + len(SPECIAL_TOKENS):
        raise CodilaError(f"vocab size {vocab_size} is too small: byte-level BPE needs at least {256 + len(SPECIAL_TOKENS)}")
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        mask_token=MASK_TOKEN,
        eos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        additional_special_tokens=[THINK_TOKEN, END_THINK_TOKEN],
    )


def load_tokenizer(path: str | Path) -> PreTrainedTokenizerFast:
    """Load the tokenizer saved beside a model (local files only, never a hub, never remote code). A directory whose
    tokenizer_config names a class only its remote code defines (Dream's DreamTokenizer) is read as the Qwen2 BPE its
    tokenizer.json or vocab.json + merges.txt hold (with the added tokens its tokenizer_config names)."""
    path = Path(path)
    has_json, has_bpe = (path / "tokenizer.json").is_file(), (path / "vocab.json").is_file() and (path / "merges.txt").is_file()
    if not (has_json or has_bpe):
        raise CodilaError(f"no tokenizer.json (or vocab.json + merges.txt) in {path}: copy the model's tokenizer files there")
    try:
        return AutoTokenizer.from_pretrained(str(path), local_files_only=True, trust_remote_code=False)
    except Exception as error:  # noqa: BLE001 - a class only remote code defines, or a damaged tokenizer
        try:
            from transformers import Qwen2Tokenizer

            return Qwen2Tokenizer.from_pretrained(str(path), local_files_only=True)
        except Exception:  # noqa: BLE001 - corrupt JSON, wrong format, ...: all mean a damaged tokenizer
            first = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
            raise CodilaError(
                f"the tokenizer in {path} cannot be read ({first}): restore tokenizer.json and "
                "tokenizer_config.json from the checkpoint it came from"
            ) from None


def token_named(tokenizer: PreTrainedTokenizerFast, token: str | None) -> int | None:
    """The id of the token spelled `token` in `tokenizer`, or None."""
    return tokenizer.get_vocab().get(token) if token else None


def same_tokenizer(a: PreTrainedTokenizerFast, b: PreTrainedTokenizerFast) -> bool:
    """True when both tokenizers map every token to the same id (required to pair a DLM with an AR)."""
    return a.get_vocab() == b.get_vocab()


def chat_text(tokenizer: PreTrainedTokenizerFast, messages: list[dict]) -> str:
    """`messages` ({"role", "content"}) as the tokenizer's chat template writes them, ready for the assistant's turn."""
    if not getattr(tokenizer, "chat_template", None):
        raise CodilaError(
            "the DLM's tokenizer has no chat template: drop --chat (or use /v1/completions), or add chat_template to "
            "its tokenizer_config.json"
        )
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
