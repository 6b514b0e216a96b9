"""Run the app with uvicorn: in the foreground (`codila serve`) or in a background thread (tests, `codila bench-serve`)."""

from __future__ import annotations

import socket
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import torch
import uvicorn

from codila.errors import CodilaError
from codila.serve.app import create_app
from codila.serve.schemas import ServeLimits
from codila.serve.service import Service

MODEL_ID = "codila"
LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


def _server(service: Service, host: str, port: int, log_level: str) -> uvicorn.Server:
    config = uvicorn.Config(
        create_app(service),
        host=host,
        port=port,
        log_level=log_level,
        access_log=log_level == "info",
        timeout_graceful_shutdown=5,
        timeout_keep_alive=service.limits.idle_timeout,  # idle keep-alive connections are closed
    )
    return uvicorn.Server(config)


def serve(
    checkpoints: str | Path,
    host: str = LOOPBACK,
    port: int = 8000,
    limits: ServeLimits | None = None,
    model_id: str = MODEL_ID,
    dlm: str | Path | None = None,
    threads: int = 1,
    ar: str | Path | None = None,
    models: dict | None = None,
) -> None:
    """Serve until interrupted (Ctrl-C). `threads`: torch's intra-op threads (1 keeps a shared CPU responsive; batching
    is what turns concurrent requests into throughput). `dlm`, `ar`, `models`: the models to serve instead of the
    folder's (`Service`)."""
    if not 0 < port < 65536:
        raise CodilaError(f"port must be in 1..65535, got {port}")
    if threads < 1:
        raise CodilaError(f"threads must be >= 1, got {threads}")
    listener = listen(host, port)  # a port in use or a bad host: one line, before anything says it serves
    torch.set_num_threads(threads)
    try:
        service = Service(checkpoints, limits or ServeLimits(), model_id, dlm, ar, models)
    except BaseException:
        listener.close()
        raise
    print(f"codila: serving {model_id!r} (ARs: {', '.join(service.ars) or 'none'}) on http://{host}:{port}/v1", file=sys.stderr)
    try:
        _server(service, host, port, "info").run(sockets=[listener])
    finally:
        listener.close()
        service.close()


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to (host, port), or a one-line CodilaError (address in use, no such host, not allowed)."""
    try:
        family, kind, protocol, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        listener = socket.socket(family, kind, protocol)
    except (OSError, UnicodeError) as error:
        raise CodilaError(f"cannot listen on {host}:{port} ({getattr(error, 'strerror', None) or error}): check --host") from None
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        listener.bind(address)
    except OSError as error:
        listener.close()
        raise CodilaError(
            f"cannot listen on {host}:{port} ({error.strerror or error}): choose another --port or --host, or stop what uses it"
        ) from None
    return listener


@contextmanager
def running_server(
    checkpoints: str | Path,
    limits: ServeLimits | None = None,
    model_id: str = MODEL_ID,
    dlm: str | Path | None = None,
    threads: int | None = None,
    ar: str | Path | None = None,
    models: dict | None = None,
) -> Iterator[str]:
    """A server on a free loopback port in a background thread; yields its base URL (".../v1"); stops on exit.
    `threads`: set torch's intra-op threads first (None: leave them)."""
    if threads is not None:
        torch.set_num_threads(threads)
    service = Service(checkpoints, limits or ServeLimits(), model_id, dlm, ar, models)
    server = _server(service, LOOPBACK, free_port(), "warning")
    thread = threading.Thread(target=server.run, name="codila-server", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise CodilaError("the server did not start")
            time.sleep(0.02)
        yield f"http://{LOOPBACK}:{server.config.port}/v1"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        service.close()
