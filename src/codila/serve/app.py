"""The FastAPI app: OpenAI's /v1/completions (suffix = infilling), /v1/chat/completions, /v1/models, plus /health and
/v1/traces/{id}. Routes are thin: validate (schemas), prepare and queue (service), answer or stream."""

import asyncio

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse

from codila.decoding.registry import DECODERS
from codila.serve.errors import ApiError, install_handlers, timed_out
from codila.serve.schemas import MAX_BODY_BYTES, request_models
from codila.serve.service import Prepared, Service, now
from codila.serve.streaming import DONE, Observers, TextStream, event
from codila.serve.timeouts import CLIENT_GONE, SlowClientTimeouts
from codila.trace.page import trace_html


def _choice(
    chat: bool, text: str | None, finish_reason: str | None, first: bool = False, stream: bool = False, logprobs=None
) -> dict:
    if not chat:
        return {"index": 0, "text": text or "", "logprobs": logprobs, "finish_reason": finish_reason}
    if not stream:
        message = {"role": "assistant", "content": text}
        return {"index": 0, "message": message, "logprobs": logprobs, "finish_reason": finish_reason}
    delta = ({"role": "assistant"} if first else {}) | ({"content": text} if text else {})
    return {"index": 0, "delta": delta, "finish_reason": finish_reason}


def _body(prepared: Prepared, service: Service, chat: bool, choice: dict, usage: dict | None, stream: bool = False) -> dict:
    kind = ("chat.completion.chunk" if stream else "chat.completion") if chat else "text_completion"
    body = {"id": prepared.id, "object": kind, "created": now(), "model": service.model_id, "choices": [choice]}
    if usage is not None:
        body["usage"] = usage
    if prepared.recorder is not None and usage is not None:
        body["trace_id"] = prepared.id
    return body


async def _answer(service: Service, prepared: Prepared, chat: bool, http: Request):
    gone = http.scope.get(CLIENT_GONE)

    async def disconnected() -> bool:
        return gone.is_set() if gone is not None else await http.is_disconnected()

    result = await service.decode(prepared, disconnected)
    if result is None:  # the client left: nobody to answer (its request was dropped)
        return Response(status_code=499)
    text, finish_reason, usage, logprobs = service.answer(prepared, result)
    return _body(prepared, service, chat, _choice(chat, text, finish_reason, logprobs=logprobs), usage)


def _stream(service: Service, prepared: Prepared, chat: bool) -> StreamingResponse:
    """Server-sent events: text in order as it becomes final, then a last chunk with finish_reason and usage."""
    loop = asyncio.get_running_loop()
    pieces: asyncio.Queue = asyncio.Queue()
    finished = object()
    canvas = prepared.job.canvas
    text_stream = TextStream(
        canvas.start,
        canvas.end,
        service.dlm.special.eos_id,
        canvas.stop_at_eos,
        prepared.max_tokens,
        service.decode_text,
        lambda text: loop.call_soon_threadsafe(pieces.put_nowait, text),
        prepared.stops,
        None if prepared.recorder is not None else prepared.job.cancel.set,  # a stop sequence ends an untraced decoding
    )
    canvas.observer = Observers(text_stream, canvas.observer).single()
    future = service.submit(prepared)  # a full queue answers 429 before the stream starts
    future.add_done_callback(lambda _: loop.call_soon_threadsafe(pieces.put_nowait, finished))

    async def events():
        first = True
        try:
            deadline = loop.time() + service.limits.timeout
            while (piece := await asyncio.wait_for(pieces.get(), max(0.0, deadline - loop.time()))) is not finished:
                yield event(_body(prepared, service, chat, _choice(chat, piece, None, first, True), None, True))
                first = False
            result = await service.wait(asyncio.wrap_future(future))
            text, finish_reason, usage, _ = service.answer(prepared, result)
            rest = text[len(text_stream.sent) :] if text.startswith(text_stream.sent) else ""
            yield event(_body(prepared, service, chat, _choice(chat, rest, finish_reason, first, True), usage, True))
        except ApiError as error:
            yield event(error.body())
        except asyncio.TimeoutError:
            yield event(timed_out(service.limits.timeout).body())
        finally:
            service.drop(prepared, text_stream.steps)  # the client left or time ran out: stop at the next step
        yield DONE

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


def create_app(service: Service) -> FastAPI:
    app = FastAPI(title="codila", description="CoDiLA decoding behind OpenAI's API", docs_url=None, redoc_url=None)
    install_handlers(app)
    app.state.service = service
    completion_request, chat_request = request_models()  # every registered decoder's options

    @app.middleware("http")
    async def refuse_large_bodies(request: Request, call_next):
        length = request.headers.get("content-length", "0" if request.method == "GET" else "")
        if request.method == "POST" and not length.isdigit():
            return JSONResponse(
                ApiError(411, "send the body with a Content-Length", code="length_required").body(), status_code=411
            )
        if length.isdigit() and int(length) > MAX_BODY_BYTES:
            error = ApiError(413, f"the request body is larger than {MAX_BODY_BYTES} bytes", code="body_too_large")
            return JSONResponse(error.body(), status_code=413)
        return await call_next(request)

    limits = service.limits
    app.add_middleware(SlowClientTimeouts, read_timeout=limits.read_timeout, write_timeout=limits.write_timeout)

    @app.get("/health")
    async def health() -> dict:
        queue = service.queue
        return {
            "status": "ok",
            "running": service.queue.decoding(),
            "queued": service.queue.queued(),
            "dropped": len(service.steps_after_drop),  # streams whose client left mid-decoding
            "max_steps_after_drop": max(service.steps_after_drop, default=None),
            "batches": len(queue.batch_sizes),
            "joined": service.queue.joined,  # requests that joined a running batch at a step boundary
            "steps": queue.steps,  # decoding steps run (a static batch counts one)
            "request_steps": queue.request_steps,  # their sum of requests decoding
            "mean_batch_size": round(queue.request_steps / queue.steps, 3) if queue.steps else None,
        }

    @app.get("/v1/models")
    async def models() -> dict:
        return {
            "object": "list",
            "data": [
                {
                    "id": service.model_id,
                    "object": "model",
                    "created": 0,
                    "owned_by": "codila",
                    "decoders": list(DECODERS),
                    "ars": list(service.ars),
                }
            ],
        }

    @app.post("/v1/completions")
    async def completions(request: completion_request, http: Request):
        prepared = service.prepare(request, request.prompt_text(), request.suffix)
        return _stream(service, prepared, False) if request.stream else await _answer(service, prepared, False, http)

    @app.post("/v1/chat/completions")
    async def chat_completions(request: chat_request, http: Request):
        prepared = service.prepare(request, service.chat_prompt(request), None)
        return _stream(service, prepared, True) if request.stream else await _answer(service, prepared, True, http)

    @app.get("/v1/traces/{trace_id}")
    async def trace(trace_id: str) -> dict:
        return service.trace(trace_id)

    @app.get("/v1/traces/{trace_id}/html", response_class=HTMLResponse)
    async def trace_page(trace_id: str) -> str:
        return trace_html(service.trace(trace_id))

    return app
