"""OpenAI-style errors: every failure is `{"error": {"message", "type", "param", "code"}}` with a 4xx status (an
unexpected failure is a 500 whose body says nothing about the server's insides). The server stays up either way."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from codila.errors import CodilaError

log = logging.getLogger("codila.serve")


class ApiError(Exception):
    """An error the client caused or can act on (status 4xx)."""

    def __init__(
        self, status: int, message: str, type: str = "invalid_request_error", param: str | None = None, code: str | None = None
    ):
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type, param, code

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


def queue_full() -> ApiError:
    return ApiError(429, "the server is busy: too many requests are waiting; retry later", "rate_limit_error", code="queue_full")


def timed_out(seconds: float) -> ApiError:
    return ApiError(408, f"the request took longer than the server's {seconds:g} s limit", "timeout_error", code="timeout")


def from_codila(error: CodilaError) -> ApiError:
    """A decoder's or canvas's one-line error (bad settings, a canvas too long...): the client's to fix."""
    return ApiError(400, str(error), code="invalid_decoding_request")


def _validation(error: RequestValidationError) -> ApiError:
    first = error.errors()[0] if error.errors() else {"msg": "invalid request", "loc": ()}
    location = [str(part) for part in first.get("loc", ()) if part != "body"]
    if first.get("type") == "json_invalid":
        return ApiError(400, "the request body is not valid JSON", code="invalid_json")
    param = location[0] if location else None  # the request field (deeper parts name union branches)
    if param is None:
        return ApiError(400, "the request body must be a JSON object", code="invalid_json")
    return ApiError(400, f"{param or 'body'}: {first.get('msg', 'invalid value')}", param=param, code="invalid_value")


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, error: ApiError) -> JSONResponse:
        return JSONResponse(error.body(), status_code=error.status)

    @app.exception_handler(CodilaError)
    async def codila_error(request: Request, error: CodilaError) -> JSONResponse:
        return await api_error(request, from_codila(error))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
        return await api_error(request, _validation(error))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        kind = "not_found_error" if error.status_code == 404 else "invalid_request_error"
        return await api_error(request, ApiError(error.status_code, str(error.detail), kind))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("unexpected error serving %s", request.url.path)
        return JSONResponse(ApiError(500, "internal server error", "server_error").body(), status_code=500)
