"""The one-call Python API: `CoDiLA.from_pretrained(dlm, ar)` then `.generate(prompts)` / `.infill(prefix, suffix)`.

from codila import CoDiLA
model = CoDiLA.from_pretrained()                      # the shipped tiny models
model = CoDiLA.from_pretrained("Dream-Coder-7B", "Qwen3-0.6B", block_size=4, device="cuda", dtype="bfloat16")
out = model.generate("def add(a, b):\n", length=32)    # one prompt -> one Completion; a list -> a list
print(out.text, out.steps, out.commit_order)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from codila.assets import SHIPPED
from codila.decoding.canvas import Canvas
from codila.decoding.defaults import DEFAULT_AR, DEFAULT_DECODER
from codila.decoding.registry import DecoderSpec, decode, decoder_config, get_decoder
from codila.decoding.result import DecodeResult
from codila.errors import CodilaError
from codila.models.causal_ar import CausalAR
from codila.models.dlm import DiffusionLM
from codila.models.local_ar import LocalAR
from codila.tokenizer import END_THINK_TOKEN, THINK_TOKEN, chat_text


@dataclass
class Completion:
    """text: the decoded text (a completion stops at EOS). tokens: its token count. steps, dlm_forwards, ar_steps,
    tokens_per_step: the cost. commit_steps: for each decoded position (before EOS), the step that committed it;
    commit_order: those positions (0 = the first decoded token) in the order they were committed."""

    text: str
    tokens: int
    steps: int
    dlm_forwards: int
    ar_steps: int
    tokens_per_step: list[int]
    commit_steps: list[int]
    seconds: float

    @property
    def commit_order(self) -> list[int]:
        return sorted(range(len(self.commit_steps)), key=lambda position: (self.commit_steps[position], position))


class CoDiLA:
    """A DLM (any family) and, for the codila decoder, a local AR; decoding options go to each call."""

    def __init__(self, dlm: DiffusionLM, ar: LocalAR | CausalAR | None = None):
        self.dlm = dlm
        self.ar = ar

    @classmethod
    def from_pretrained(
        cls,
        dlm: str | Path | None = None,
        ar: str | Path | None = None,
        device: str | None = "auto",
        dtype: str | None = None,
        dlm_family: str | None = None,
        block_size: int | None = None,
        conditioning: str | None = None,
        think_token: str = THINK_TOKEN,
        end_think_token: str = END_THINK_TOKEN,
        framed: bool | None = None,
    ) -> "CoDiLA":
        """Local directories only (never a hub). `dlm` None: the shipped tiny DLM (and, with `ar` None, the shipped
        ar-b4). `block_size`: for an AR directory codila did not write. `think_token`/`end_think_token`: the AR's
        frame tokens by name. `framed` False: no frame (the ablation)."""
        from codila.models.loading import load_ar, load_dlm

        if dlm is None and dlm_family not in (None, "codila"):
            raise CodilaError(f"--dlm-family {dlm_family} needs --dlm DIR (the shipped DLM is codila's)")
        loaded = load_dlm(dlm or SHIPPED / "dlm", dlm_family, device, dtype)
        ar_path = ar if ar is not None else (SHIPPED / DEFAULT_AR if dlm is None else None)
        local_ar = load_ar(ar_path, loaded, conditioning, block_size, think_token, end_think_token, framed) if ar_path else None
        return cls(loaded, local_ar)

    # -- encoding ---------------------------------------------------------------------------------------------------
    def encode(self, text: str, chat: bool = False) -> list[int]:
        """Token ids of `text`; `chat`: wrapped as a user message by the DLM tokenizer's chat template first."""
        if chat:
            text = chat_text(self.dlm.tokenizer, [{"role": "user", "content": text}])
        return self.dlm.tokenizer(text, add_special_tokens=False)["input_ids"]

    def _run(self, canvases: list[Canvas], decoder: str | DecoderSpec, seed: int, config, options: dict) -> list[DecodeResult]:
        """`config` (a decoder config object) or `options` (its fields by name; the rest keep their defaults)."""
        if config is not None and options:
            raise CodilaError(f"give a config or options ({', '.join(options)}), not both")
        spec = decoder if isinstance(decoder, DecoderSpec) else get_decoder(decoder)
        if config is None:
            spec, config = decoder_config(spec.name, options)
        return decode(spec, self.dlm, self.ar, canvases, config, seed)

    def _completion(self, result: DecodeResult, stop_at_eos: bool) -> Completion:
        generated = result.generated.tolist()
        steps = result.commit_step[result.start : result.end].tolist()
        if stop_at_eos and self.dlm.special.eos_id in generated:  # an infill keeps its EOS padding, as decoded
            cut = generated.index(self.dlm.special.eos_id)
            generated, steps = generated[:cut], steps[:cut]
        return Completion(
            self.dlm.tokenizer.decode(generated),
            len(generated),
            result.steps,
            result.dlm_forwards,
            result.ar_steps,
            list(result.tokens_per_step),
            steps,
            result.seconds,
        )

    # -- the two tasks ----------------------------------------------------------------------------------------------
    def generate(
        self,
        prompts: str | list[str],
        length: int = 64,
        decoder: str | DecoderSpec = DEFAULT_DECODER,
        seed: int = 0,
        chat: bool = False,
        config=None,
        **options,
    ) -> Completion | list[Completion]:
        """Complete one prompt (-> a Completion) or many (-> a list, decoded as one batch; prompt i samples with seed + i).
        `options`: the decoder's config fields (mode, scope, tau, tokens_per_step, temperature, ...), or `config`: a
        decoder config object."""
        many = isinstance(prompts, (list, tuple))
        canvases = [
            Canvas.completion(self.encode(p, chat), length, self.dlm.mask_id, self.dlm.max_length)
            for p in (prompts if many else [prompts])
        ]
        results = [self._completion(r, True) for r in self._run(canvases, decoder, seed, config, options)]
        return results if many else results[0]

    def infill(
        self,
        prefix: str | list[str],
        suffix: str | list[str],
        length: int = 32,
        decoder: str | DecoderSpec = DEFAULT_DECODER,
        seed: int = 0,
        config=None,
        **options,
    ) -> Completion | list[Completion]:
        """Fill `length` tokens between each prefix and suffix (decoder "dlm-variable" on a DreamOn DLM: the span may
        grow and shrink)."""
        many = isinstance(prefix, (list, tuple))
        prefixes, suffixes = (list(prefix), list(suffix)) if many else ([prefix], [suffix])
        if len(prefixes) != len(suffixes):
            raise CodilaError(f"{len(prefixes)} prefixes but {len(suffixes)} suffixes: give one suffix per prefix")
        canvases = [
            Canvas.infill(self.encode(p), length, self.encode(s), self.dlm.mask_id, self.dlm.max_length)
            for p, s in zip(prefixes, suffixes)
        ]
        results = self._run(canvases, decoder, seed, config, options)
        completions = [self._completion(r, False) for r in results]
        return completions if many else completions[0]
