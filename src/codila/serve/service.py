"""From a request to a decoding job and back: the canvas, the queue, the answer text and its usage counts."""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections import OrderedDict
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from codila.decoding.canvas import Canvas
from codila.decoding.defaults import DEFAULT_AR
from codila.decoding.registry import DECODERS, decode, get_decoder
from codila.decoding.result import DecodeResult
from codila.errors import CodilaError
from codila.eval.settings import ModelSet
from codila.models.loading import load_ar, load_dlm
from codila.serve.batching import BatchQueue, DecodeJob, QueueFull
from codila.serve.errors import ApiError, from_codila, queue_full, timed_out
from codila.serve.logprobs import LOGPROB_DECODERS, LogprobRecorder, chat_logprobs, completion_logprobs
from codila.serve.schemas import ChatRequest, DecodeFields, ServeLimits
from codila.serve.streaming import Observers, TextStream, answer_tokens, cut_at_stop
from codila.tokenizer import chat_text
from codila.trace.record import TraceRecorder, trace_document


@dataclass
class Prepared:
    """One request, ready to queue."""

    id: str
    request: DecodeFields
    job: DecodeJob
    prompt_tokens: int
    max_tokens: int  # tokens the answer may hold (the region, for infilling)
    recorder: TraceRecorder | None
    stops: list[str]  # stop sequences (OpenAI's `stop`)
    logprobs: LogprobRecorder | None  # when the request asked for logprobs
    watcher: TextStream | None = None  # a whole answer's in-order text, watched for its stop sequences


class Service:
    """The served models (one DLM and the ARs of a checkpoints folder, all loaded at start), the batch queue, the
    limits and the last traces."""

    def __init__(
        self,
        checkpoints: str | Path,
        limits: ServeLimits,
        model_id: str,
        dlm: str | Path | None = None,
        ar: str | Path | None = None,
        models: dict | None = None,
    ):
        """`dlm`: a DLM directory instead of the folder's dlm/ (a codila checkpoint or a Hugging Face Dream / LLaDA
        directory); `ar`: serve this one AR directory (a codila checkpoint or a causal LM) instead of the folder's.
        `models`: how to load them, as `codila generate` does (dlm_family, device, dtype, block_size, think_token,
        end_think_token, conditioning)."""
        models = dict(models or {})
        conditioning = models.pop("conditioning", None)
        dlm_options = {key: models.pop(key) for key in ("dlm_family", "device", "dtype") if key in models}
        if "dlm_family" in dlm_options:
            dlm_options["family"] = dlm_options.pop("dlm_family")
        self.models = ModelSet(
            checkpoints, load_dlm(dlm if dlm is not None else Path(checkpoints) / "dlm", **dlm_options), models
        )
        self.dlm = self.models.dlm
        if ar is not None:  # a request names it by its folder's name, never by a path
            self.ars = {Path(ar).name: load_ar(ar, self.dlm, conditioning, **models)}
        else:
            self.ars = {name: self.models.ar(name, conditioning) for name in self.models.ar_names()}
        self.limits, self.model_id = limits, model_id
        self.queue = BatchQueue(self.dlm, limits.max_batch, limits.max_wait, limits.max_queued)
        self.traces: OrderedDict[str, dict] = OrderedDict()
        self.steps_after_drop: list[int] = []  # for each request dropped while decoding: the steps it decoded after
        self._warm_up()

    def _warm_up(self) -> None:
        """Decode one short canvas with each decoder once, so the first client does not pay for lazy set-up."""
        for spec in DECODERS.values():
            ar = self._default_ar(spec)
            runs = ar is not None if spec.needs_ar else not spec.needs_expand_token or self.dlm.expand_id is not None
            if runs:
                canvas = Canvas.completion(self.encode("x"), _block(ar), self.dlm.mask_id, self.dlm.max_length)
                decode(spec, self.dlm, ar, [canvas])

    def _default_ar(self, spec):
        """The AR a request to `spec` gets when it names none: the shipped default's name, else the folder's only AR
        of the decoder's kind."""
        if not spec.needs_ar:
            return None
        kind = [ar for ar in self.ars.values() if (ar.block_size is None) == (spec.ar_kind == "causal")]
        named = self.ars.get(DEFAULT_AR)
        return named if named in kind else kind[0] if len(kind) == 1 else None

    def close(self) -> None:
        self.queue.stop()

    def encode(self, text: str) -> list[int]:
        return self.dlm.tokenizer(text, add_special_tokens=False)["input_ids"]

    def decode_text(self, tokens: list[int]) -> str:
        return self.dlm.tokenizer.decode(tokens)

    def chat_prompt(self, request: ChatRequest) -> str:
        try:
            return chat_text(self.dlm.tokenizer, [message.model_dump() for message in request.messages])
        except CodilaError:
            raise ApiError(
                400,
                f"model {self.model_id!r} has no chat template (its tokenizer defines none): use /v1/completions",
                param="messages",
                code="chat_template_missing",
            ) from None

    def prepare(self, request: DecodeFields, before: str, after: str | None) -> Prepared:
        """Check the request against the models and the limits; build its canvas and job (not queued yet)."""
        if request.model != self.model_id:
            raise ApiError(
                404,
                f"model {request.model!r} does not exist; this server serves {self.model_id!r}",
                "not_found_error",
                "model",
                "model_not_found",
            )
        if request.decoder not in DECODERS:
            raise ApiError(
                400,
                f"unknown decoder {request.decoder!r}; choose one of {', '.join(DECODERS)}",
                param="decoder",
                code="unknown_decoder",
            )
        spec = get_decoder(request.decoder)
        if request.ar is not None and request.ar not in self.ars:
            raise ApiError(
                400, f"unknown AR {request.ar!r}; this server has {', '.join(self.ars) or 'none'}", param="ar", code="unknown_ar"
            )
        ar = (self.ars[request.ar] if request.ar else self._default_ar(spec)) if spec.needs_ar else None
        if spec.needs_ar and ar is None:
            raise ApiError(
                400, f"decoder {spec.name!r} needs an AR: name one of {', '.join(self.ars)}", param="ar", code="unknown_ar"
            )
        ar_name = next(name for name, loaded in self.ars.items() if loaded is ar) if ar is not None else None
        if request.max_tokens > self.limits.max_tokens:
            raise ApiError(
                400,
                f"max_tokens is {request.max_tokens}; this server decodes at most {self.limits.max_tokens}",
                param="max_tokens",
                code="max_tokens_exceeded",
            )
        before_ids, after_ids = self.encode(before), self.encode(after) if after is not None else []
        if len(before_ids) + len(after_ids) > self.limits.max_prompt_tokens:
            raise ApiError(
                400,
                f"the prompt has {len(before_ids) + len(after_ids)} tokens; this server reads at most "
                f"{self.limits.max_prompt_tokens}",
                param="prompt",
                code="context_length_exceeded",
            )
        block = _block(ar)
        length = math.ceil(request.max_tokens / block) * block  # canvases decode whole blocks
        settings = request.decoder_settings()
        unused = sorted(set(settings) - {f.name for f in fields(spec.config_class)})
        if unused:
            raise ApiError(
                400, f"decoder {spec.name!r} takes no setting {', '.join(unused)}", param=unused[0], code="unsupported_setting"
            )
        try:
            config = spec.config_class(**settings)
            if after is None:
                canvas = Canvas.completion(before_ids, length, self.dlm.mask_id, self.dlm.max_length)
            else:
                canvas = Canvas.infill(before_ids, length, after_ids, self.dlm.mask_id, self.dlm.max_length)
        except CodilaError as error:
            raise from_codila(error) from None
        recorder = TraceRecorder() if request.trace else None
        if isinstance(request, ChatRequest) and request.top_logprobs is not None and not request.logprobs:
            raise ApiError(400, "top_logprobs needs logprobs: true", param="top_logprobs", code="invalid_value")
        top = request.top_logprobs_wanted()
        logprobs = None if top is None else self._logprob_recorder(request, spec, top)
        key = (spec.name, ar_name, tuple(sorted(asdict(config).items())))
        job = DecodeJob(key, spec, config, ar, canvas, request.seed)
        canvas.cancel = job.cancel
        max_tokens = request.max_tokens if after is None else length
        stops = request.stops()
        watcher = None
        if stops and not request.stream and recorder is None:  # a stop sequence ends the decoding early (untraced)
            decode_text, eos_id = self.decode_text, self.dlm.special.eos_id
            watcher = TextStream(
                canvas.start,
                canvas.end,
                eos_id,
                canvas.stop_at_eos,
                max_tokens,
                decode_text,
                lambda _: None,
                stops,
                job.cancel.set,
            )
        canvas.observer = Observers(recorder, logprobs, watcher).single()
        prefix = "chatcmpl" if isinstance(request, ChatRequest) else "cmpl"
        return Prepared(
            f"{prefix}-{uuid.uuid4().hex[:24]}",
            request,
            job,
            len(before_ids) + len(after_ids),
            max_tokens,
            recorder,
            stops,
            logprobs,
            watcher,
        )

    def _logprob_recorder(self, request: DecodeFields, spec, top: int) -> LogprobRecorder:
        if spec.name not in LOGPROB_DECODERS:
            raise ApiError(
                400,
                f"logprobs are not available with decoder {spec.name!r}: only {', '.join(LOGPROB_DECODERS)} draw their tokens "
                "from the DLM marginal whose probabilities are reported (CoDiLA's tokens come from the local AR)",
                param="logprobs",
                code="unsupported_setting",
            )
        if request.stream:
            raise ApiError(
                400,
                "logprobs are returned with whole answers only: send stream false",
                param="logprobs",
                code="unsupported_setting",
            )
        return LogprobRecorder(top)

    def submit(self, prepared: Prepared):
        try:
            return self.queue.submit(prepared.job)
        except QueueFull:
            raise queue_full() from None

    async def decode(self, prepared: Prepared, disconnected=None) -> DecodeResult | None:
        """Queue the request and wait for its result (408 after the time limit; the request is then dropped).
        `disconnected`: an async check, polled while waiting; the client gone, the request is dropped (None)."""
        future = asyncio.wrap_future(self.submit(prepared))
        waiting = asyncio.ensure_future(self.wait(future))
        try:
            while disconnected is not None and not waiting.done():
                await asyncio.wait({waiting}, timeout=DISCONNECT_POLL)
                if not waiting.done() and await disconnected():
                    waiting.cancel()
                    return None
            return await waiting
        finally:
            watched = prepared.watcher.steps if prepared.watcher is not None else None
            self.drop(prepared, watched)  # nothing if it finished; else (timed out, client gone) it stops at the next step

    def drop(self, prepared: Prepared, steps_seen: int | None = None) -> None:
        """Stop a request nobody waits for any more: dropped from the queue, or from its batch at the next step.
        `steps_seen`: the steps it had decoded when dropped (a stream counts them); the steps decoded after are kept
        for /health."""
        job = prepared.job
        if job.future.done():
            return
        job.cancel.set()
        job.future.cancel()  # still queued: never decoded
        if steps_seen is not None:
            job.future.add_done_callback(
                lambda done: (
                    done.cancelled() or done.exception() or self.steps_after_drop.append(done.result().steps - steps_seen)
                )
            )

    async def wait(self, future) -> DecodeResult:
        try:
            return await asyncio.wait_for(future, self.limits.timeout)
        except asyncio.TimeoutError:
            raise timed_out(self.limits.timeout) from None
        except CodilaError as error:
            raise from_codila(error) from None

    def answer(self, prepared: Prepared, result: DecodeResult) -> tuple[str, str, dict, dict | None]:
        """(text, finish_reason, usage, logprobs) of a finished decoding: the text ends at EOS, `max_tokens` or before the
        first stop sequence; stores its trace when one was asked for."""
        canvas = prepared.job.canvas
        region = result.generated.tolist()
        if canvas.mask_id in region:  # decoding ended early (a stop sequence): the in-order committed prefix
            region = region[: region.index(canvas.mask_id)]
        tokens, stopped = answer_tokens(region, self.dlm.special.eos_id, canvas.stop_at_eos, prepared.max_tokens)
        text = self.decode_text(tokens)
        text, hit = cut_at_stop(text, prepared.stops)
        offsets = [len(self.decode_text(tokens[:index])) for index in range(len(tokens))] if hit or prepared.logprobs else []
        if hit:  # the tokens the client gets: those that begin before the cut
            tokens = tokens[: sum(offset < len(text) for offset in offsets)]
            offsets = offsets[: len(tokens)]
        logprobs = None
        if prepared.logprobs is not None:
            piece = lambda token: self.decode_text([token])
            if isinstance(prepared.request, ChatRequest):
                logprobs = chat_logprobs(prepared.logprobs, canvas.start, tokens, piece)
            else:
                logprobs = completion_logprobs(prepared.logprobs, canvas.start, tokens, offsets, piece)
        usage = {
            "prompt_tokens": prepared.prompt_tokens,
            "completion_tokens": len(tokens),
            "total_tokens": prepared.prompt_tokens + len(tokens),
            "steps": result.steps,
            "tokens_per_step": round(result.mean_tokens_per_step, 4),
            "dlm_forwards": result.dlm_forwards,
            "ar_steps": result.ar_steps,
        }
        if prepared.recorder is not None:
            self.traces[prepared.id] = trace_document(
                prepared.recorder, result, self.dlm.tokenizer, prepared.request.decoder, asdict(prepared.job.config)
            )
            while len(self.traces) > self.limits.max_traces:
                self.traces.popitem(last=False)
        return text, "stop" if stopped or hit else "length", usage, logprobs

    def trace(self, trace_id: str) -> dict:
        if trace_id not in self.traces:
            raise ApiError(
                404,
                f'no trace {trace_id!r} (ask with "trace": true; the last {self.limits.max_traces} are kept)',
                "not_found_error",
                code="trace_not_found",
            )
        return self.traces[trace_id]


DISCONNECT_POLL = 0.25  # seconds between checks that a client waiting for a whole answer is still there


def _block(ar) -> int:
    """The unit a canvas's length is a multiple of: a local AR's block size, else 1."""
    return ar.block_size if ar is not None and ar.block_size else 1


def now() -> int:
    return int(time.time())
