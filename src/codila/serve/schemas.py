"""The request bodies the server accepts (pydantic, with safe limits) and the server's own limits.

OpenAI's fields keep their names and meaning (`suffix` = infilling); the decoder and its settings are extra fields
with the names of the decoders' config dataclasses, generated from the decoder registry when the app is built
(`request_models`): every registered decoder's options, with their choices and the limits of `codila.validate.RULES`.
Fields a client may send but that the server does not support are refused rather than silently ignored
(extra="forbid").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, create_model

from codila.decoding.defaults import DEFAULT_DECODER
from codila.decoding.registry import decode_options
from codila.errors import CodilaError
from codila.validate import RULES

MAX_TEXT_CHARS = 20_000  # characters of a prompt / suffix / message read at all (tokenizing is bounded too)
Text = Annotated[str, Field(max_length=MAX_TEXT_CHARS)]
MAX_BODY_BYTES = 1_000_000  # a request body longer than this is refused (413) before it is read
StopText = Annotated[str, Field(min_length=1, max_length=256)]


@dataclass(frozen=True)
class ServeLimits:
    """What one request may ask for, and how the server queues them."""

    max_prompt_tokens: int = 96  # context tokens (prompt, plus suffix when infilling)
    max_tokens: int = 64  # tokens to decode
    max_batch: int = 8  # requests decoded together
    max_wait: float = 0.005  # seconds the worker waits for more requests to fill a batch
    max_queued: int = 64  # requests waiting; more get 429
    timeout: float = 60.0  # seconds a request may take (queue + decoding); then 408
    max_traces: int = 32  # decode traces kept for /v1/traces/{id} (oldest dropped)
    read_timeout: float = 10.0  # seconds a request body may take to arrive; then 408
    write_timeout: float = 30.0  # seconds a client may take to take one piece of a response; then it is dropped
    idle_timeout: float = 5.0  # seconds a keep-alive connection may stay idle; then it is closed

    def __post_init__(self) -> None:
        counts = {
            "max_prompt_tokens": self.max_prompt_tokens,
            "max_tokens": self.max_tokens,
            "max_batch": self.max_batch,
            "max_traces": self.max_traces,
        }
        for name, value in counts.items():
            if value < 1:
                raise CodilaError(f"{name.replace('_', '-')} must be >= 1, got {value}")
        if self.max_queued < 0 or self.max_wait < 0 or self.timeout < 0:
            raise CodilaError("max-queued, max-wait and timeout must be >= 0")
        if min(self.read_timeout, self.write_timeout, self.idle_timeout) <= 0:
            raise CodilaError("read-timeout, write-timeout and idle-timeout must be > 0")


class DecodeFields(BaseModel):
    """The decoder and its settings; None keeps the decoder's default (its config dataclass)."""

    model_config = ConfigDict(extra="forbid")

    model: str
    max_tokens: int = Field(
        16, ge=1, le=4096, description="Tokens to decode (rounded up to a multiple of the AR's B; OpenAI's default, 16)."
    )
    stream: bool = False
    seed: int = Field(0, **RULES["seed"].schema())
    decoder: str = Field(DEFAULT_DECODER, max_length=32, description="A name in the decoder registry (`codila ls`).")
    ar: Optional[str] = Field(None, max_length=64, description="The AR: a checkpoint name in the served folder.")
    trace: bool = Field(False, description="Record the decoding step by step; the response names it (trace_id).")
    # OpenAI fields accepted with their one supported value
    n: Literal[1] = 1
    user: Optional[str] = Field(None, max_length=256)
    stream_options: Optional[dict] = None
    stop: Union[StopText, Annotated[list[StopText], Field(max_length=4)], None] = Field(
        None, description="Up to 4 stop sequences: the answer ends before the first one (finish_reason stop)."
    )

    def stops(self) -> list[str]:
        return [] if self.stop is None else [self.stop] if isinstance(self.stop, str) else list(self.stop)

    def top_logprobs_wanted(self) -> int | None:
        """None: no logprobs asked for; else how many of the most likely tokens to list at each position."""
        return None

    def decoder_settings(self) -> dict:
        """The decoder options the client gave (the rest keep their defaults)."""
        names = [option.name for option in decode_options() if option.name in type(self).model_fields]  # registry order
        return {name: getattr(self, name) for name in names if getattr(self, name) is not None}


class CompletionRequest(DecodeFields):
    prompt: Union[Text, Annotated[list[Text], Field(min_length=1, max_length=1)]] = Field(
        ..., description="One prompt (a list of one is accepted)."
    )
    suffix: Optional[str] = Field(None, max_length=MAX_TEXT_CHARS, description="Text after the gap: infilling.")
    echo: Literal[False] = False
    logprobs: Optional[int] = Field(
        None, ge=0, le=5, description="Log-probabilities of the answer's tokens and of the N most likely at each."
    )

    def top_logprobs_wanted(self) -> int | None:
        return self.logprobs

    def prompt_text(self) -> str:
        return self.prompt if isinstance(self.prompt, str) else self.prompt[0]


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "user", "assistant"]
    content: str = Field(..., max_length=MAX_TEXT_CHARS)


class ChatRequest(DecodeFields):
    messages: list[ChatMessage] = Field(..., min_length=1, max_length=64)
    logprobs: Optional[bool] = Field(None, description="Return the answer's tokens' log-probabilities.")
    top_logprobs: Optional[int] = Field(None, ge=0, le=20, description="With logprobs: the N most likely tokens at each.")

    def top_logprobs_wanted(self) -> int | None:
        return (self.top_logprobs or 0) if self.logprobs else None


def decoder_fields() -> dict[str, tuple]:
    """One optional request field per option of the registered decoders (None keeps the decoder's default): a choice of
    names as a Literal, a number with its rule's limits (codila.validate.RULES); its CLI help as the description."""
    found = {}
    for option in decode_options():
        if option.choices:
            found[option.name] = (Optional[Literal[option.choices]], Field(None, description=option.help))
        else:
            limits = RULES[option.name].schema() if option.name in RULES else {}
            found[option.name] = (Optional[option.type], Field(None, description=option.help, **limits))
    return found


def request_models() -> tuple[type[CompletionRequest], type[ChatRequest]]:
    """The completion and chat request bodies with every decoder registered by now (the app builds them once)."""
    fields = decoder_fields()
    return (
        create_model("CompletionRequest", __base__=CompletionRequest, **fields),
        create_model("ChatRequest", __base__=ChatRequest, **fields),
    )
