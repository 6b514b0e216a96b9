"""Slow clients: a request body must arrive within `read_timeout` seconds (else 408), and a response must be taken by
the client within `write_timeout` seconds per message (else the connection is dropped, and with it the request, at its
next decoding step). Idle keep-alive connections are closed by uvicorn after `idle_timeout` (`server.py`)."""

from __future__ import annotations

import asyncio
import json

from codila.serve.errors import ApiError
from codila.serve.schemas import MAX_BODY_BYTES

CLIENT_GONE = "codila.client_gone"  # the scope key of the request's disconnect event


class SlowClientTimeouts:
    """ASGI middleware: reads a POST body whole (when its Content-Length is within the limit; the app refuses the
    others) under `read_timeout`, then hands it to the app and watches for the client's disconnect (`CLIENT_GONE`);
    bounds every send by `write_timeout`."""

    def __init__(self, app, read_timeout: float, write_timeout: float):
        self.app, self.read_timeout, self.write_timeout = app, read_timeout, write_timeout

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def timed_send(message):
            try:
                await asyncio.wait_for(send(message), self.write_timeout)
            except asyncio.TimeoutError:
                raise OSError(f"the client took more than {self.write_timeout:g} s to read the response") from None

        length = dict(scope.get("headers", [])).get(b"content-length", b"")
        if scope.get("method") != "POST" or not length.isdigit() or int(length) > MAX_BODY_BYTES:
            return await self.app(scope, receive, timed_send)
        try:
            body = await asyncio.wait_for(_read_body(receive), self.read_timeout)
        except asyncio.TimeoutError:
            error = ApiError(
                408, f"the request body took longer than {self.read_timeout:g} s to arrive", "timeout_error", code="read_timeout"
            )
            content = json.dumps(error.body()).encode()
            headers = [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(content)).encode()),
                (b"connection", b"close"),
            ]
            await timed_send({"type": "http.response.start", "status": 408, "headers": headers})
            await timed_send({"type": "http.response.body", "body": content})
            return
        if body is None:  # the client left before sending it
            return
        given, gone = False, asyncio.Event()
        scope[CLIENT_GONE] = gone  # set when the client disconnects (a route waiting for a whole answer polls it)

        async def replay():
            nonlocal given
            if given:
                return await receive()  # after the body: wait for the disconnect, as the app expects
            given = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def watch():
            while (await receive())["type"] != "http.disconnect":
                pass
            gone.set()

        watcher = asyncio.ensure_future(watch())
        try:
            await self.app(scope, replay, timed_send)
        finally:
            watcher.cancel()


async def _read_body(receive) -> bytes | None:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)
